import Agents
import Foundation
import Logging
import WarrenCore

/// Reading a session's sandbox output into events.
struct LiveTurn: Sendable {
    var turn = 0
    var line = 0
    var parser: any AgentOutputParser
    /// The end of what the CLI wrote to stderr this turn, for a failure's reason.
    var stderrTail: [UInt8] = []
}

extension AgentManager {
    /// Reads the session's sandbox output from its start until the sandbox ends. Lines
    /// already stored (a restart) are parsed again for context but not stored twice.
    func startReader(_ id: String) {
        guard readers[id] == nil, let sandboxID = rows[id]?.info.sandboxID else { return }
        let log = logger
        readers[id] = Task.detached {
            var splitter = LineSplitter()
            do {
                let records = try await self.sandboxes.outputRecords(sandboxID, follow: true)
                for try await record in records {
                    if record.stream == .stderr {
                        await self.noteStderr(id, record.payload)
                        continue
                    }
                    let lines = splitter.feed(record.payload)
                    if !lines.isEmpty { try await self.handle(id, lines) }
                }
            } catch is CancellationError {
                return
            } catch {
                log.warning("reading an agent's output failed", metadata: ["agent": "\(id.prefix(12))", "error": "\(error)"])
            }
            await self.outputEnded(id)
        }
    }

    func noteStderr(_ id: String, _ bytes: [UInt8]) {
        guard var l = live[id] else { return }
        l.stderrTail = Array((l.stderrTail + bytes).suffix(2_000))
        live[id] = l
    }

    /// Lines of the sandbox's stdout, in order.
    func handle(_ id: String, _ lines: [String]) async throws {
        guard rows[id] != nil, !(try row(id).info.state.isFinal) else { return }
        let provider = try AgentProviders.named(try row(id).info.provider)
        var l = live[id] ?? LiveTurn(parser: provider.makeParser())
        var pending = Pending(runtime: try row(id).runtime)
        for line in lines {
            if let marker = AgentRunner.Marker(line: line) {
                switch marker {
                case .start(let n):
                    l = LiveTurn(turn: n, parser: provider.makeParser())
                case .end(let n, let code):
                    guard n > pending.ended else { continue }
                    try await flush(id, &pending)
                    let tail = String(decoding: l.stderrTail, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                    let closing = l.parser.finish(exitCode: code, stderrTail: String(tail.suffix(500)))
                    live[id] = l
                    try await endTurn(id, n, exitCode: code, closing: closing)
                    if try row(id).info.state.isFinal { return }
                    pending = Pending(runtime: try row(id).runtime)
                }
                continue
            }
            l.line += 1
            let parsed = l.parser.parse(line: line)
            guard l.turn > pending.ended,
                  l.turn > pending.turnRead || (l.turn == pending.turnRead && l.line > pending.lineRead) else { continue }
            if let conversation = parsed.conversationID { pending.conversation = conversation }
            pending.keepRaw(AgentRawLine(turn: l.turn, line: l.line, text: line))
            for var event in parsed.events {
                event.turn = l.turn
                if event.type == .usage && provider.reportsRunningTotalUsage { pending.turnOwn(&event) }
                if event.type == .turnCompleted { pending.completion = event } else { pending.events.append(event) }
            }
            pending.turnRead = l.turn
            pending.lineRead = l.line
            pending.dirty = true
        }
        live[id] = l
        try await flush(id, &pending)
    }

    /// What a batch of lines read so far changes.
    struct Pending {
        var turnRead: Int
        var lineRead: Int
        let ended: Int
        var events: [AgentEvent] = []
        var conversation: String?
        var completion: AgentEvent?
        var raw: [AgentRawLine] = []
        var rawBytes: Int
        var usageTotals: [Int64]?
        var dirty = false

        init(runtime: AgentRuntime) {
            turnRead = runtime.turnRead; lineRead = runtime.lineRead; ended = runtime.ended
            rawBytes = runtime.rawBytes ?? 0
            usageTotals = runtime.usageTotals
        }

        /// Makes a running-total usage event the turn's own: what grew since the last one
        /// (a total that went down started over, and counts whole).
        mutating func turnOwn(_ event: inout AgentEvent) {
            let totals = [event.inputTokens ?? 0, event.outputTokens ?? 0]
            if let last = usageTotals, last.count == 2, totals[0] >= last[0], totals[1] >= last[1] {
                event.inputTokens = totals[0] - last[0]
                event.outputTokens = totals[1] - last[1]
            }
            usageTotals = totals
        }

        /// Keeps `line` while the session's raw lines are under their cap; the first one
        /// over it is replaced by the cap's marker, and later ones are dropped.
        mutating func keepRaw(_ line: AgentRawLine) {
            guard rawBytes <= AgentRawLine.maxBytesPerSession else { return }
            rawBytes += line.text.utf8.count + 1
            if rawBytes > AgentRawLine.maxBytesPerSession {
                raw.append(AgentRawLine(turn: line.turn, line: line.line, text: AgentRawLine.capped))
            } else {
                raw.append(line)
            }
        }
    }

    func flush(_ id: String, _ p: inout Pending) async throws {
        guard p.dirty else { return }
        let batch = p
        try await write(id, events: batch.events, raw: batch.raw) { info, runtime in
            runtime.turnRead = batch.turnRead
            runtime.lineRead = batch.lineRead
            runtime.rawBytes = batch.rawBytes
            runtime.usageTotals = batch.usageTotals
            if let completion = batch.completion { runtime.completion = completion }
            if let conversation = batch.conversation { info.conversationID = conversation }
        }
        p.events = []
        p.raw = []
        p.completion = nil
        p.conversation = nil
        p.dirty = false
    }

    /// Turn `n` ended with `exitCode`: its changes are committed, its usage taken, and
    /// the session is idle for a follow-up, or failed with the turn's reason.
    func endTurn(_ id: String, _ n: Int, exitCode: Int32, closing: [AgentEvent]) async throws {
        let (info, runtime) = try row(id)
        guard !info.state.isFinal else { return }
        var events = closing.filter { $0.type != .turnCompleted }.map { e -> AgentEvent in var e = e; e.turn = n; return e }
        var completion = runtime.completion ?? closing.first { $0.type == .turnCompleted } ?? AgentEvent(type: .turnCompleted)
        completion.turn = n
        let ok = (completion.ok ?? true) && exitCode == 0
        completion.ok = ok
        var head: String?
        if let ws = runtime.workspace {
            do {
                head = try await ws.commit(message: "warren agent \(id.prefix(12)): turn \(n)", author: "warren agent (\(info.provider))")
            } catch {
                var e = AgentEvent.text(.error, "the turn's changes could not be committed: \(error)")
                e.turn = n
                events.append(e)
            }
        }
        var usage: [LLMUsage]?
        if let sandboxID = info.sandboxID { usage = try? await sandboxes.usage(sandboxID).usage }
        try await write(id, events: events + [completion]) { info, runtime in
            runtime.completion = nil
            runtime.ended = n
            if let head { info.branch?.head = head }
            if let usage { info.usage = usage }
            info.result = completion.result
            if ok && info.state == .running { info.state = .idle }
        }
        if !ok {
            let reasons = try await store.agents.events(id, since: 0, limit: 100_000).filter { $0.turn == n && $0.type == .error }
            var reason = reasons.last?.text ?? "turn \(n) failed (exit code \(exitCode))"
            // The CLI words a refusal its own way; what the facade answered says which it was.
            if let sandboxID = info.sandboxID, let last = try? await store.llm.calls(sandboxID: sandboxID, limit: 100_000).last,
               last.status >= 400 {
                reason += " (the LLM facade answered \(last.status) to \(last.endpoint))"
            }
            try await finish(id, state: .failed, because: reason)
        }
    }

    /// The sandbox's output ended: a session still under way lost its sandbox.
    func outputEnded(_ id: String) async {
        readers[id] = nil
        guard let r = rows[id], !r.info.state.isFinal, !ending.contains(id) else { return }
        try? await finish(id, state: .failed, because: "its sandbox ended")
    }

    // MARK: - Start-up

    /// Re-adopts the sessions a previous daemon left under way: their readers resume after
    /// the last stored event; a session whose sandbox is gone failed.
    public func resume() async {
        guard let stored = try? await store.agents.list() else { return }
        for r in stored where !r.info.state.isFinal {
            let id = r.info.id
            guard let runtime = try? AgentRuntime.decode(r.runtime) else { continue }
            rows[id] = (r.info, runtime)
            var alive = r.info.state != .starting && r.info.sandboxID != nil
            if alive, let sandboxID = r.info.sandboxID { alive = (try? await sandboxes.inspect(sandboxID))?.state == .running }
            if alive, let n = runtime.interactiveTurn {
                // The terminal's CLI went with the daemon's exec; its turn ends here.
                try? await endInteractiveTurn(id, n, exitCode: -1, because: "the daemon restarted during a turn on a terminal")
            }
            if alive {
                startReader(id)
                logger.info("agent session re-adopted", metadata: ["agent": "\(id.prefix(12))", "state": "\(r.info.state.rawValue)"])
            } else {
                try? await finish(id, state: .failed, because: "its sandbox was lost while the daemon was down")
            }
        }
    }

    /// Stops reading; the sandboxes keep running and are re-adopted at the next start.
    public func shutdown() {
        isShuttingDown = true
        for task in readers.values { task.cancel() }
        readers.removeAll()
        for list in subscribers.values { for c in list.values { c.finish() } }
        subscribers.removeAll()
    }
}
