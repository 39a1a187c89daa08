import Foundation
import LinuxSupport
import Testing
import WarrenCore
import WarrenTestSupport

/// Interactive agent sessions: the CLI on a real terminal through `agent run --interactive`
/// and `agent attach`, each terminal a turn that is committed when the CLI exits.
@Suite("Agent sessions on a terminal", .serialized)
struct AgentAttachTests {
    func environment(_ d: DaemonHarness) -> [String] {
        ["WARREN_HOST=unix://" + d.socket, "TERM=xterm", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"]
    }

    func waitForState(_ d: DaemonHarness, _ name: String, _ state: AgentState) async throws -> AgentInfo? {
        for _ in 0..<600 {
            let info = try await AgentSessionTests.inspect(d, name)
            if info.state == state { return info }
            try await Task.sleep(for: .milliseconds(100))
        }
        return nil
    }

    @Test("run --interactive: the CLI gets the terminal and the prompt; exit commits the turn; attach resumes; a closed terminal hangs up")
    func terminalTurns() async throws {
        let d = try await DaemonHarness.launch()
        defer { d.cleanUp() }
        let repo = try await AgentSessionTests.repository()
        defer { try? removeTree(repo) }
        let t = try TerminalSession(BuiltProducts.cli, ["agent", "run", "--interactive", "--name", "tty", "--provider", "command",
                                                        "--rootfs", try TestRootfs.path(), "--repo", repo, "first words",
                                                        "--", "/bin/sh", "-c", "echo \"prompt: $1\"; exec /bin/sh -i", "sh"],
                                    environment: environment(d), rows: 30, cols: 90)
        defer { t.close() }
        #expect(await t.waitFor("prompt: first words"), "\(t.text)")
        t.type("tty; stty size; echo hi > hello.txt; echo \"turn $WARREN_AGENT_TURN\"\n")
        #expect(await t.waitFor("30 90"), "\(t.text)")
        #expect(await t.waitFor("turn 1"), "\(t.text)")
        #expect(t.text.contains("/dev/pts/"), "\(t.text)")
        t.type("exit 3\n")
        #expect(await t.waitForExit() == 3, "agent run exits with the CLI's code: \(t.text)")

        let info = try #require(try await waitForState(d, "tty", .idle))
        let branch = try #require(info.branch)
        #expect(info.turns == 1)
        #expect(try await AgentSessionTests.git(repo, ["show", "\(branch.name):hello.txt"]) == "hi")
        var events = try await AgentSessionTests.events(d, "tty")
        #expect(events.first { $0.type == .turnStarted }?.text == "first words")
        let done = try #require(events.last { $0.type == .turnCompleted })
        #expect(done.turn == 1 && done.ok == false && done.result?.contains("exited with 3") == true, "\(done)")

        // A follow-up on a terminal: the workspace carries on; an exit of 0 is an ok turn.
        let again = try TerminalSession(BuiltProducts.cli, ["agent", "attach", "tty"], environment: environment(d))
        defer { again.close() }
        again.type("cat hello.txt; echo more >> hello.txt; echo \"now $WARREN_AGENT_TURN\"\n")
        #expect(await again.waitFor("now 2"), "\(again.text)")
        #expect(again.text.contains("hi"))
        again.type("exit\n")
        #expect(await again.waitForExit() == 0, "\(again.text)")
        _ = try #require(try await waitForState(d, "tty", .idle))
        #expect(try await AgentSessionTests.git(repo, ["show", "\(branch.name):hello.txt"]) == "hi\nmore")
        events = try await AgentSessionTests.events(d, "tty")
        #expect(events.last { $0.type == .turnCompleted }.map { $0.turn == 2 && $0.ok == true } == true)

        // Attaching twice at once is refused: the session is running.
        let third = try TerminalSession(BuiltProducts.cli, ["agent", "attach", "tty"], environment: environment(d))
        #expect(await third.waitFor("prompt: "), "\(third.text)")
        let refused = try await d.cli(["agent", "send", "tty", "headless now"])
        #expect(refused.status != 0 && refused.stderr.contains("is running"), "\(refused.stderr)")
        // Closing the terminal hangs the CLI up; the turn ends and the session is idle again.
        third.close()
        let after = try #require(try await waitForState(d, "tty", .idle), "a hung-up terminal ends its turn")
        #expect(after.turns == 3)
        #expect(try await d.cli(["agent", "rm", "tty"]).status == 0)
    }

    @Test("attach is refused without a terminal and for a session that is not idle")
    func refusals() async throws {
        let d = try await DaemonHarness.launch()
        defer { d.cleanUp() }
        let noTTY = try await d.cli(["agent", "attach", "nothing"])
        #expect(noTTY.status != 0 && noTTY.stderr.contains("not a TTY"), "\(noTTY.stderr)")
        let run = try await d.cli(["agent", "run", "-d", "--name", "busy", "--provider", "command", "--rootfs", try TestRootfs.path(),
                                   "go", "--", "/bin/sh", "-c", "sleep 30"])
        #expect(run.status == 0, "\(run.stderr)")
        let t = try TerminalSession(BuiltProducts.cli, ["agent", "attach", "busy"], environment: environment(d))
        defer { t.close() }
        #expect(await t.waitForExit() != 0)
        #expect(t.text.contains("is running: attaching needs it idle"), "\(t.text)")
        #expect(try await d.cli(["agent", "stop", "busy"]).status == 0)
    }
}
