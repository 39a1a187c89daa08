import Testing
import WarrenCore
@testable import WarrenDaemon

/// The cap on a session's raw lines, across batches and across a restart (the count
/// kept so far is part of the read position the daemon stores).
@Suite("Agent raw line cap")
struct AgentRawLineCapTests {
    @Test("lines are kept up to 4 MiB; the first over it becomes the marker; later ones are dropped, also after a restart")
    func cap() {
        let line = String(repeating: "x", count: 999)  // 1000 bytes with its newline
        var pending = AgentManager.Pending(runtime: AgentRuntime(workdir: "/"))
        var n = 0
        while pending.raw.last?.text != AgentRawLine.capped && n < 10_000 {
            n += 1
            pending.keepRaw(AgentRawLine(turn: 1, line: n, text: line))
        }
        let kept = pending.raw.dropLast()
        #expect(kept.count == AgentRawLine.maxBytesPerSession / 1000, "\(kept.count)")
        #expect(kept.reduce(0) { $0 + $1.text.utf8.count + 1 } <= AgentRawLine.maxBytesPerSession)
        #expect(pending.raw.last == AgentRawLine(turn: 1, line: n, text: AgentRawLine.capped))
        pending.keepRaw(AgentRawLine(turn: 1, line: n + 1, text: "later"))
        #expect(pending.raw.count == kept.count + 1, "nothing after the marker")

        // A restarted daemon resumes from the stored count: still capped.
        var runtime = AgentRuntime(workdir: "/")
        runtime.rawBytes = pending.rawBytes
        var resumed = AgentManager.Pending(runtime: runtime)
        resumed.keepRaw(AgentRawLine(turn: 2, line: 1, text: "after a restart"))
        #expect(resumed.raw.isEmpty)
        // Under the cap, a short line is kept as it is.
        var fresh = AgentManager.Pending(runtime: AgentRuntime(workdir: "/"))
        fresh.keepRaw(AgentRawLine(turn: 1, line: 1, text: "a\tb"))
        #expect(fresh.raw == [AgentRawLine(turn: 1, line: 1, text: "a\tb")] && fresh.rawBytes == 4)
    }
}
