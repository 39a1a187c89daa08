import Foundation
import Logging
import RuntimeDriver
import WarrenCore

/// A process's output and the way to feed it: what `exec` and `attach` hand to the
/// HTTP layer, which pumps the client's `AttachInput` lines into `send`.
public struct InteractiveSession: Sendable {
    public var output: AsyncThrowingStream<OutputChunk, any Error>
    /// One message from the client.
    public var send: @Sendable (AttachInput) async throws -> Void
    /// The client's input ended (it closed its side or went away).
    public var inputEnded: @Sendable () async -> Void
}

extension SandboxManager {
    /// Runs a further process in a running sandbox; its output ends with an `exit` chunk.
    /// Without `request.stdin` the process's stdin is closed at once.
    public func exec(_ reference: String, request: ExecRequest) async throws -> InteractiveSession {
        try request.validate()
        try Self.validateEnv(request.env)
        let first = request.command[0]
        let info = try await runningSandbox(reference)
        let session = try await driver(for: info).exec(id: info.id, request: request)
        if !request.stdin { try? await session.closeStdin() }
        logger.with(info.id).info("exec", metadata: ["command": "\(first)", "tty": "\(request.tty)", "stdin": "\(request.stdin)"])
        let output = pump { sink in
            for try await chunk in session.output { try await sink.send(chunk) }
        }
        let takesInput = request.stdin
        return InteractiveSession(
            output: output,
            send: { message in
                if let bytes = message.stdinBytes, takesInput { try await session.writeStdin(bytes) }
                if message.eof == true, takesInput { try await session.closeStdin() }
                if let size = message.resize { try await session.resize(size.rows, size.cols) }
                if let signal = message.signal {
                    try SandboxSignals.validate(signal)
                    try await session.signal(signal)
                }
            },
            inputEnded: { if takesInput { try? await session.closeStdin() } })
    }

    /// Attaches to the main process of a sandbox started with `stdin` or `tty`: its whole
    /// output so far and then live until it exits (ending with an `exit` chunk), and its
    /// input. When the client leaves, the sandbox keeps running.
    public func attach(_ reference: String) async throws -> InteractiveSession {
        let info = try await runningSandbox(reference)
        guard info.spec.stdin || info.spec.tty else {
            throw WarrenError(.invalidState, "sandbox \(info.shortID) was not started with -i or -t; use logs -f")
        }
        let driver = try driver(for: info)
        let session = try await driver.attach(id: info.id)
        let output = try await logs(info.id, follow: true)
        let id = info.id
        return InteractiveSession(
            output: output,
            send: { message in
                if let bytes = message.stdinBytes { try await session.writeStdin(bytes) }
                if message.eof == true { try await session.closeStdin() }
                if let size = message.resize { try await session.resize(size.rows, size.cols) }
                if let signal = message.signal {
                    try SandboxSignals.validate(signal)
                    try await driver.kill(id: id, signal: signal)
                }
            },
            inputEnded: { await session.detach() })
    }

    /// Sends a signal to a running sandbox's main process.
    public func kill(_ reference: String, signal: Int32) async throws {
        try SandboxSignals.validate(signal)
        let info = try await runningSandbox(reference)
        try await driver(for: info).kill(id: info.id, signal: signal)
        logger.with(info.id).info("signal sent", metadata: ["signal": "\(signal)"])
    }

    private func runningSandbox(_ reference: String) async throws -> SandboxInfo {
        let info = try await store.sandboxes.resolve(reference)
        guard info.state == .running else {
            throw WarrenError(.invalidState, "sandbox \(info.shortID) is \(info.state.rawValue), not running")
        }
        return info
    }
}
