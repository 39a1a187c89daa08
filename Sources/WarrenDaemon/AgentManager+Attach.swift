#if canImport(Glibc)
import Glibc
#endif
import Agents
import Foundation
import WarrenCore

/// Interactive turns: the session's CLI on a person's terminal (`agent attach`).
///
/// The CLI runs as an `exec` with a terminal in the session's sandbox, in the workspace,
/// resuming the conversation. The daemon reads its output itself and hands it on, so the
/// turn ends with the process whether or not anyone still watches: a client that goes
/// away hangs the terminal up (SIGHUP), as closing a terminal does. When the CLI exits,
/// the turn's changes are committed and the session is idle again; an exit code other
/// than 0 marks the turn not ok but does not fail the session (a person quit it).
extension AgentManager {
    /// Chunks of terminal output kept for a client that reads slowly; beyond them the
    /// oldest are dropped, never the daemon's memory.
    static let attachBuffer = 256

    public func attach(_ reference: String, _ request: AgentAttachRequest) async throws -> InteractiveSession {
        try request.validate()
        let id = try await resolve(reference)
        let (info, runtime) = try row(id)
        guard info.state == .idle else {
            throw WarrenError(.invalidState, "agent session \(id.prefix(12)) is \(info.state.rawValue): attaching needs it idle")
        }
        guard let sandboxID = info.sandboxID else { throw WarrenError(.invalidState, "agent session \(id.prefix(12)) has no sandbox") }
        let provider = try AgentProviders.named(info.provider)
        // The first attach of an interactive session carries its prompt; later ones resume.
        let prompt = info.spec.interactive && info.turns == 0 ? info.spec.prompt : ""
        var started = AgentEvent(type: .turnStarted)
        started.text = prompt.isEmpty ? "(on a terminal)" : prompt
        started.turn = info.turns + 1
        let number = started.turn
        try await write(id, events: [started]) { info, runtime in
            info.state = try info.state.transition(to: .running)
            info.turns += 1
            runtime.interactiveTurn = number
        }
        let turn = AgentTurn(number: number, prompt: prompt, model: info.spec.model, systemPrompt: info.spec.systemPrompt,
                             maxTurns: info.spec.maxTurns, conversationID: info.conversationID, command: info.spec.command)
        let script = AgentRunner.turnScript(provider.interactiveInvocation(for: turn), workdir: runtime.workdir)
        let session: InteractiveSession
        do {
            session = try await sandboxes.exec(sandboxID, request: ExecRequest(
                command: ["/bin/sh", "-c", script, "warren-agent"], env: ["TERM=\(request.term ?? "xterm-256color")"],
                tty: true, stdin: true, consoleSize: request.consoleSize))
        } catch {
            try? await endInteractiveTurn(id, number, exitCode: -1, because: "the terminal could not be opened: \(error)")
            throw error
        }
        logger.info("agent session attached", metadata: ["agent": "\(id.prefix(12))", "turn": "\(number)"])
        let (output, sink) = AsyncThrowingStream<OutputChunk, any Error>.makeStream(bufferingPolicy: .bufferingNewest(Self.attachBuffer))
        Task {
            var code: Int32 = -1
            do {
                for try await chunk in session.output {
                    if chunk.stream == "exit", let exit = chunk.exitCode { code = exit }
                    sink.yield(chunk)
                }
            } catch {
                logger.warning("agent terminal ended: \(error)", metadata: ["agent": "\(id.prefix(12))"])
            }
            sink.finish()
            try? await self.endInteractiveTurn(id, number, exitCode: code, because: nil)
        }
        return InteractiveSession(
            output: output, send: session.send,
            inputEnded: {
                // The client left (or closed its input): hang the terminal up.
                await session.inputEnded()
                try? await session.send(AttachInput(signal: SIGHUP))
            })
    }

    /// The interactive turn `n` ended with the CLI's `exitCode`: its changes are committed
    /// and the session is idle again.
    func endInteractiveTurn(_ id: String, _ n: Int, exitCode: Int32, because reason: String?) async throws {
        let (info, runtime) = try row(id)
        guard runtime.interactiveTurn == n, !info.state.isFinal else { return }
        var events: [AgentEvent] = []
        if let reason { events.append(.text(.error, reason)) }
        var head: String?
        if let ws = runtime.workspace {
            do {
                head = try await ws.commit(message: "warren agent \(id.prefix(12)): turn \(n) (terminal)", author: "warren agent (\(info.provider))")
            } catch {
                events.append(.text(.error, "the turn's changes could not be committed: \(error)"))
            }
        }
        var completed = AgentEvent(type: .turnCompleted)
        completed.ok = exitCode == 0 && reason == nil
        completed.result = "the terminal's CLI exited with \(exitCode)"
        events.append(completed)
        for i in events.indices { events[i].turn = n }
        var usage: [LLMUsage]?
        if let sandboxID = info.sandboxID { usage = try? await sandboxes.usage(sandboxID).usage }
        try await write(id, events: events) { info, runtime in
            runtime.interactiveTurn = nil
            runtime.ended = n
            if let head { info.branch?.head = head }
            if let usage { info.usage = usage }
            if info.state == .running { info.state = .idle }
        }
        logger.info("agent terminal turn ended", metadata: ["agent": "\(id.prefix(12))", "turn": "\(n)", "exit": "\(exitCode)"])
    }
}
