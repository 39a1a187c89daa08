import Foundation
import LinuxSupport
import Testing
import WarrenCore
import WarrenTestSupport

/// Agent sessions with the `command` provider on the test rootfs: workspaces, branches,
/// follow-ups, events across a daemon crash, and what a refused or hostile session leaves.
@Suite("Agent sessions", .serialized)
struct AgentSessionTests {
    /// A git repository with one commit, owned by `owner` (root when nil).
    static func repository(owner: (uid: uid_t, gid: gid_t)? = nil) async throws -> String {
        try await runBlocking { try makeRepository(owner: owner) }
    }

    static func makeRepository(owner: (uid: uid_t, gid: gid_t)?) throws -> String {
        let dir = "/tmp/warren-agent-repo-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try "hello\n".write(toFile: dir + "/README", atomically: true, encoding: .utf8)
        _ = try TestRootfs.run(blocking: "/usr/bin/git", ["-C", dir, "init", "-q", "-b", "main"])
        _ = try TestRootfs.run(blocking: "/usr/bin/git", ["-C", dir, "add", "README"])
        _ = try TestRootfs.run(blocking: "/usr/bin/git", ["-C", dir, "-c", "user.name=t", "-c", "user.email=t@x", "commit", "-qm", "init"])
        if let owner { try changeOwnerOfTree(dir, uid: owner.uid, gid: owner.gid) }
        return dir
    }

    static func git(_ repo: String, _ args: [String]) async throws -> String {
        try await runBlocking { try TestRootfs.run(blocking: "/usr/bin/git", ["-c", "safe.directory=*", "-C", repo] + args) }.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func events(_ d: DaemonHarness, _ session: String) async throws -> [AgentEvent] {
        let out = try await d.cli(["agent", "logs", "--json", session]).stdout
        return try out.split(separator: "\n").map { try WarrenJSON.decoder().decode(AgentEvent.self, from: Data($0.utf8)) }
    }

    static func inspect(_ d: DaemonHarness, _ session: String) async throws -> AgentInfo {
        try WarrenJSON.decoder().decode(AgentInfo.self, from: Data(try await d.cli(["agent", "inspect", session]).stdout.utf8))
    }

    @Test("a turn on a repo: its branch carries the commit, the user's checkout is untouched; a follow-up is turn 2; rm keeps the branch")
    func repoTurns() async throws {
        let d = try await DaemonHarness.launch()
        defer { d.cleanUp() }
        let repo = try await Self.repository()
        defer { try? removeTree(repo) }
        let script = #"echo "asked: $1"; echo "turn $WARREN_AGENT_TURN" >> notes.txt; echo wrote"#
        let run = try await d.cli(["agent", "run", "--name", "first", "--provider", "command", "--rootfs", try TestRootfs.path(),
                                   "--repo", repo, "write some notes", "--", "/bin/sh", "-c", script, "sh"])
        #expect(run.status == 0, "\(run.stdout) \(run.stderr)")
        #expect(run.stdout.contains("asked: write some notes") && run.stdout.contains("✓ turn 1 done"), "\(run.stdout)")
        let info = try await Self.inspect(d, "first")
        let branch = try #require(info.branch)
        #expect(info.state == .idle && info.turns == 1 && branch.name == "warren/\(info.id.prefix(12))")
        #expect(try await Self.git(repo, ["show", "\(branch.name):notes.txt"]) == "turn 1")
        #expect(try await Self.git(repo, ["log", "-1", "--format=%an", branch.name]) == "warren agent (command)")
        #expect(try await Self.git(repo, ["status", "--porcelain"]).isEmpty, "the user's checkout is untouched")
        #expect(try await Self.git(repo, ["rev-parse", "--abbrev-ref", "HEAD"]) == "main")
        #expect(!FileManager.default.fileExists(atPath: repo + "/notes.txt"))

        let send = try await d.cli(["agent", "send", "first", "and more"])
        #expect(send.status == 0 && send.stdout.contains("asked: and more") && send.stdout.contains("✓ turn 2 done"), "\(send.stdout)")
        #expect(try await Self.git(repo, ["show", "\(branch.name):notes.txt"]) == "turn 1\nturn 2")
        #expect(try await Self.git(repo, ["rev-list", "--count", "main..\(branch.name)"]) == "2")
        let diff = try await d.cli(["agent", "diff", "first"]).stdout
        #expect(diff.contains("+++ b/notes.txt") && diff.contains("+turn 2"), "\(diff)")

        let events = try await Self.events(d, "first")
        #expect(events.map(\.seq) == Array(1...Int64(events.count)), "sequence numbers without gaps")
        #expect(events.filter { $0.type == .turnCompleted }.map(\.turn) == [1, 2])
        #expect(events.first { $0.type == .turnStarted && $0.turn == 2 }?.text == "and more")
        let since = try await d.cli(["agent", "logs", "--json", "--since", "3", "first"]).stdout.split(separator: "\n").count
        #expect(since == events.count - 3)

        #expect(try await d.cli(["agent", "stop", "first"]).status == 0)
        let stopped = try await Self.inspect(d, "first")
        #expect(stopped.state == .completed && stopped.sandboxID == nil)
        #expect(try await d.cli(["ps", "-a", "-q"]).stdout.isEmpty, "the session's sandbox is gone")
        #expect(try await d.cli(["agent", "rm", "first"]).status == 0)
        #expect(!FileManager.default.fileExists(atPath: try await Self.git(repo, ["rev-parse", "--path-format=absolute", "--git-common-dir"]) + "/warren/worktrees/\(info.id.prefix(12))"))
        #expect(try await Self.git(repo, ["worktree", "list"]).split(separator: "\n").count == 1)
        #expect(try await Self.git(repo, ["branch", "--list", branch.name]).contains(branch.name), "the branch stays")
        #expect(try await d.cli(["agent", "ls", "-q"]).stdout.isEmpty)
    }

    @Test("a regular user's repository: git runs as that user, and the agent's files and commits are theirs")
    func userOwnedRepo() async throws {
        let d = try await DaemonHarness.launch()
        defer { d.cleanUp() }
        let owner = TestAccount.regular
        let repo = try await Self.repository(owner: owner)
        defer { try? removeTree(repo) }
        let run = try await d.cli(["agent", "run", "--name", "mine", "--provider", "command", "--rootfs", try TestRootfs.path(),
                                   "--repo", repo, "go", "--", "/bin/sh", "-c", "echo made > made.txt; mkdir sub; echo x > sub/y"])
        #expect(run.status == 0 && run.stdout.contains("✓ turn 1 done"), "\(run.stdout) \(run.stderr)")
        _ = try await d.cli(["agent", "stop", "mine"])
        let info = try await Self.inspect(d, "mine")
        let worktree = try await Self.git(repo, ["rev-parse", "--path-format=absolute", "--git-common-dir"]) + "/warren/worktrees/\(info.id.prefix(12))"
        for path in [worktree + "/made.txt", worktree + "/sub/y", repo + "/.git/refs/heads/warren/\(info.id.prefix(12))"] {
            var st = stat()
            #expect(stat(path, &st) == 0 && st.st_uid == owner.uid && st.st_gid == owner.gid, "\(path): \(st.st_uid):\(st.st_gid)")
            if path.hasSuffix("made.txt") { #expect(st.st_mode & 0o777 == 0o644, "the agent's files get the usual modes") }
        }
        #expect(try await Self.git(repo, ["show", "warren/\(info.id.prefix(12)):made.txt"]) == "made")
        _ = try await d.cli(["agent", "rm", "--delete-branch", "mine"])
        #expect(try await Self.git(repo, ["branch", "--list", "warren/*"]).isEmpty)
    }

    @Test("an agent that rewrites the worktree's .git and plants hooks runs nothing on the host; its work is still committed")
    func hostileWorktree() async throws {
        let d = try await DaemonHarness.launch()
        defer { d.cleanUp() }
        let repo = try await Self.repository()
        defer { try? removeTree(repo) }
        let marker = "/tmp/warren-hook-ran-\(UUID().uuidString.prefix(8))"
        let evil = """
            rm -f .git; mkdir -p .git/hooks
            printf '#!/bin/sh\\ntouch \(marker)\\n' > .git/hooks/pre-commit; chmod +x .git/hooks/pre-commit
            printf '[core]\\n\\tfsmonitor = touch \(marker)\\n\\thooksPath = .git/hooks\\n' > .git/config
            printf 'ref: refs/heads/main\\n' > .git/HEAD
            printf '#!/bin/sh\\ntouch \(marker)\\n' > .gitattributes-tool; echo '* filter=evil' > .gitattributes
            echo payload > work.txt
            """
        let run = try await d.cli(["agent", "run", "--name", "evil", "--provider", "command", "--rootfs", try TestRootfs.path(),
                                   "--repo", repo, "go", "--", "/bin/sh", "-c", evil])
        #expect(run.status == 0, "\(run.stdout) \(run.stderr)")
        #expect(!FileManager.default.fileExists(atPath: marker), "something the agent wrote ran on the host")
        let branch = try #require(try await Self.inspect(d, "evil").branch)
        #expect(try await Self.git(repo, ["show", "\(branch.name):work.txt"]) == "payload")
        #expect(try await Self.git(repo, ["rev-parse", "main"]) == branch.base, "main did not move")
        _ = try await d.cli(["agent", "rm", "--delete-branch", "evil"])
    }

    @Test("kill -9 of the daemon mid-turn: the turn goes on, and its events arrive once each, in order")
    func crashMidTurn() async throws {
        let d = try await DaemonHarness.launch()
        defer { d.cleanUp() }
        let workspace = d.dir + "/ws"
        try FileManager.default.createDirectory(atPath: workspace, withIntermediateDirectories: true)
        let script = "for i in 1 2 3; do echo before-$i; done; until [ -e go ]; do sleep 0.05; done; for i in 1 2 3; do echo after-$i; done"
        let run = try await d.cli(["agent", "run", "-d", "--name", "survivor", "--provider", "command", "--rootfs", try TestRootfs.path(),
                                   "--workspace", workspace, "go", "--", "/bin/sh", "-c", script])
        #expect(run.status == 0, "\(run.stderr)")
        var seen: [AgentEvent] = []
        for _ in 0..<200 where !seen.contains(where: { $0.text == "before-3" }) {
            try await Task.sleep(for: .milliseconds(50))
            seen = try await Self.events(d, "survivor")
        }
        #expect(seen.contains { $0.text == "before-3" }, "\(seen)")
        try await runBlocking { d.crash() }
        _ = FileManager.default.createFile(atPath: workspace + "/go", contents: nil)
        try await Task.sleep(for: .milliseconds(300))
        try await runBlocking { try d.start() }
        var info = try await Self.inspect(d, "survivor")
        for _ in 0..<200 where info.state != .idle { try await Task.sleep(for: .milliseconds(50)); info = try await Self.inspect(d, "survivor") }
        #expect(info.state == .idle, "\(info)")
        let events = try await Self.events(d, "survivor")
        let texts = events.filter { $0.type == .assistantText }.compactMap(\.text)
        #expect(texts == ["before-1", "before-2", "before-3", "after-1", "after-2", "after-3"], "\(texts)")
        #expect(events.map(\.seq) == Array(1...Int64(events.count)))
        #expect(events.filter { $0.type == .turnCompleted }.count == 1)
        let raw = try await d.cli(["agent", "logs", "--raw", "survivor"]).stdout
        #expect(raw == "before-1\nbefore-2\nbefore-3\nafter-1\nafter-2\nafter-3\n", "raw lines once each: \(raw)")
    }

    @Test("the CLI's raw lines are kept as printed, numbered per turn, outlive the sandbox, and go with rm")
    func rawLines() async throws {
        let d = try await DaemonHarness.launch()
        defer { d.cleanUp() }
        let script = #"printf '{"type":"x","n":1}\n'; printf 'a\tb "c"\n'; for i in $(seq 1 50); do echo "line $i"; done"#
        let run = try await d.cli(["agent", "run", "--name", "loud", "--provider", "command", "--rootfs", try TestRootfs.path(),
                                   "go", "--", "/bin/sh", "-c", script])
        #expect(run.status == 0, "\(run.stderr.suffix(500))")
        #expect(try await d.cli(["agent", "send", "loud", "again"]).status == 0)
        #expect(try await d.cli(["agent", "stop", "loud"]).status == 0)
        #expect(try await Self.inspect(d, "loud").sandboxID == nil, "the sandbox is gone")
        let out = try await d.cli(["agent", "logs", "--raw", "--json", "loud"]).stdout
        let lines = try out.split(separator: "\n").map { try WarrenJSON.decoder().decode(AgentRawLine.self, from: Data($0.utf8)) }
        #expect(lines.count == 104, "\(lines.count)")
        #expect(lines.first?.text == #"{"type":"x","n":1}"# && lines.dropFirst().first?.text == "a\tb \"c\"")
        #expect(lines.prefix(52).map(\.line) == Array(1...52) && lines.prefix(52).allSatisfy { $0.turn == 1 })
        #expect(lines.suffix(52).map(\.line) == Array(1...52) && lines.suffix(52).allSatisfy { $0.turn == 2 })
        #expect(lines.last?.text == "line 50")
        #expect(try await d.cli(["agent", "rm", "loud"]).status == 0)
        #expect(try await d.cli(["agent", "logs", "--raw", "loud"]).status != 0, "rm takes the raw lines with the session")
    }

    @Test("refused sessions leave nothing: unknown provider, not a repository, a missing ref, an image that is not there")
    func refusedLeaveNothing() async throws {
        let d = try await DaemonHarness.launch()
        defer { d.cleanUp() }
        let repo = try await Self.repository()
        defer { try? removeTree(repo) }
        let rootfs = try TestRootfs.path()
        let cases: [([String], String)] = [
            (["--provider", "gemini", "--rootfs", rootfs, "x"], "unknown agent provider \"gemini\": use one of claude, codex, command"),
            (["--provider", "command", "--rootfs", rootfs, "--repo", d.dir, "x", "--", "/bin/true"], "is not a git repository"),
            (["--provider", "command", "--rootfs", rootfs, "--repo", repo + "@no-such-ref", "x", "--", "/bin/true"], "is not a commit of"),
            (["--provider", "command", "--image", "warren-test/none:latest", "--repo", repo, "x", "--", "/bin/true"], "none"),
            (["--provider", "claude", "--rootfs", rootfs, "x", "--", "/bin/true"], "command is for the command provider"),
            (["--provider", "command", "--rootfs", rootfs, "--workspace", "/", "x", "--", "/bin/true"], "/"),
        ]
        for (args, message) in cases {
            let r = try await d.cli(["agent", "run"] + args)
            #expect(r.status != 0 && r.stderr.contains(message), "\(args): \(r.stderr)")
        }
        #expect(try await d.cli(["agent", "ls", "-q"]).stdout.isEmpty)
        #expect(try await d.cli(["ps", "-a", "-q"]).stdout.isEmpty)
        #expect(try await Self.git(repo, ["branch", "--list", "warren/*"]).isEmpty)
        #expect(try await Self.git(repo, ["worktree", "list"]).split(separator: "\n").count == 1)
    }

    @Test("a failed turn fails the session with the command's reason; send to a finished session is refused")
    func failedTurn() async throws {
        let d = try await DaemonHarness.launch()
        defer { d.cleanUp() }
        let r = try await d.cli(["agent", "run", "--name", "bad", "--provider", "command", "--rootfs", try TestRootfs.path(), "x", "--",
                                 "/bin/sh", "-c", "echo 'no such thing' >&2; exit 3"])
        #expect(r.status == 1 && r.stdout.contains("✗ turn 1 failed"), "\(r.stdout)")
        let info = try await Self.inspect(d, "bad")
        #expect(info.state == .failed && info.error?.hasPrefix("the command exited with 3") == true, "\(info)")
        let again = try await d.cli(["agent", "send", "bad", "more"])
        #expect(again.status != 0 && again.stderr.contains("is failed: a follow-up needs it idle"), "\(again.stderr)")
    }
}
