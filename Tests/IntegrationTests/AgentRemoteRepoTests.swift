import Foundation
import LinuxSupport
import Testing
import WarrenCore
import WarrenTestSupport

/// Agent sessions on a remote repository: git's own smart-HTTP server behind basic auth,
/// whose password only the daemon's git credential helper holds.
@Suite("Agent sessions on remote repositories", .serialized)
struct AgentRemoteRepoTests {
    final class Remote: @unchecked Sendable {
        let dir: String
        let password: String
        let server: Process
        let port: Int
        let daemon: DaemonHarness
        var url: String { "http://127.0.0.1:\(port)/proj.git" }

        init() throws {
            let dir = "/tmp/warren-remote-\(UUID().uuidString.prefix(8))", password = "s3cret-\(UUID().uuidString.prefix(12))"
            self.dir = dir; self.password = password
            let seed = dir + "/seed"
            try FileManager.default.createDirectory(atPath: seed, withIntermediateDirectories: true)
            try "remote\n".write(toFile: seed + "/README", atomically: true, encoding: .utf8)
            for args in [["init", "-q", "--bare", "-b", "main", dir + "/root/proj.git"], ["-C", seed, "init", "-q", "-b", "main"],
                         ["-C", seed, "add", "README"], ["-C", seed, "-c", "user.name=t", "-c", "user.email=t@x", "commit", "-qm", "seed"],
                         ["-C", seed, "push", "-q", dir + "/root/proj.git", "main"],
                         ["--git-dir=\(dir)/root/proj.git", "config", "http.receivepack", "true"]] {
                _ = try TestRootfs.run(blocking: "/usr/bin/git", args)
            }
            let (process, ports) = try Fixture.start(Fixture.path("git-http-server.py"),
                ["--root", dir + "/root", "--user", "warren", "--password", password, "--record", dir + "/requests.jsonl"], ports: 1)
            server = process; port = ports[0]
            let port = ports[0]
            // The daemon's HOME holds the credentials, as a host's git setup would.
            let home = dir + "/home"
            try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
            try "[credential]\n\thelper = store --file=\(home)/.git-credentials\n".write(toFile: home + "/.gitconfig", atomically: true, encoding: .utf8)
            try "http://warren:\(password)@127.0.0.1:\(port)\n".write(toFile: home + "/.git-credentials", atomically: true, encoding: .utf8)
            daemon = try DaemonHarness(daemonEnvironment: ["HOME": home])
        }

        func git(_ args: [String]) async throws -> String {
            try await runBlocking { try TestRootfs.run(blocking: "/usr/bin/git", ["--git-dir=\(self.dir)/root/proj.git"] + args) }
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }

        var requests: [[String: Any]] { Fixture.jsonLines(dir + "/requests.jsonl") }

        func cleanUp() {
            daemon.cleanUp()
            kill(server.processIdentifier, SIGKILL); server.waitForExit()
            try? removeTree(dir)
        }
    }

    @Test("--repo URL: the daemon clones with the host's credentials, the agent never sees them, push sends the branch, rm removes the pushed clone")
    func cloneWorkPush() async throws {
        let r = try await runBlocking { try Remote() }
        defer { r.cleanUp() }
        let d = r.daemon
        let script = #"echo "from the agent" > agent.txt; env; cat .git 2>&1; ls -a; echo finished"#
        let run = try await d.cli(["agent", "run", "--name", "remote", "--provider", "command", "--rootfs", try TestRootfs.path(),
                                   "--repo", r.url + "@main", "add a file", "--", "/bin/sh", "-c", script, "sh"])
        #expect(run.status == 0 && run.stdout.contains("finished"), "\(run.stdout) \(run.stderr)")
        let info = try await AgentSessionTests.inspect(d, "remote")
        let branch = try #require(info.branch)
        #expect(branch.remote == r.url && branch.repository == r.url && branch.pushed == nil)
        #expect(r.requests.contains { $0["authorised"] as? Bool == false } && r.requests.contains { $0["authorised"] as? Bool == true },
                "the clone was asked for credentials and the daemon's helper gave them")

        // The password is nowhere the agent or a client can see.
        let sandbox = try #require(info.sandboxID)
        let env = try await d.cli(["exec", sandbox, "--", "/bin/sh", "-c", "set"]).stdout
        let seen = try await d.cli(["agent", "logs", "--json", "remote"]).stdout + (try await d.cli(["logs", sandbox]).stdout)
            + (try await d.cli(["agent", "inspect", "remote"]).stdout) + env
        #expect(!seen.contains(r.password) && env.contains("PATH="), "\(env)")
        let clone = d.dataRoot + "/agents/clones/" + info.id
        let worktree = clone + "/warren/worktrees/\(info.id.prefix(12))"
        let holders = try await runBlocking { () -> [String] in
            let files = FileManager.default.enumerator(atPath: clone)?.allObjects as? [String] ?? []
            return files.filter { (try? String(contentsOfFile: clone + "/" + $0, encoding: .isoLatin1))?.contains(r.password) == true }
        }
        #expect(holders.isEmpty, "no file of the clone or the worktree holds the password: \(holders)")
        #expect(FileManager.default.fileExists(atPath: worktree + "/agent.txt"))

        // Push: the remote gets the branch with the turn's commit; nothing else changes there.
        #expect(try await r.git(["for-each-ref", "refs/heads/warren/"]).isEmpty, "nothing reaches the remote before a push")
        let push = try await d.cli(["agent", "push", "remote"])
        #expect(push.status == 0 && push.stdout.contains("pushed \(branch.name)"), "\(push.stdout) \(push.stderr)")
        #expect(try await r.git(["show", "\(branch.name):agent.txt"]) == "from the agent")
        #expect(try await r.git(["log", "-1", "--format=%an", branch.name]) == "warren agent (command)")
        #expect(try await r.git(["rev-parse", "main"]) == branch.base)
        let pushed = try await AgentSessionTests.inspect(d, "remote").branch
        let remoteHead = try await r.git(["rev-parse", branch.name])
        #expect(pushed?.pushed == pushed?.head && pushed?.head == remoteHead)

        #expect(try await d.cli(["agent", "rm", "remote"]).status == 0)
        #expect(!FileManager.default.fileExists(atPath: clone), "the pushed clone goes with its session")
    }

    @Test("refused or failed remotes leave nothing: a password in the URL, a file:// URL, a missing repository, a bad ref")
    func refusals() async throws {
        let r = try await runBlocking { try Remote() }
        defer { r.cleanUp() }
        let d = r.daemon
        let base = ["agent", "run", "--provider", "command", "--rootfs", try TestRootfs.path(), "--repo"]
        let cases: [(String, String)] = [
            ("http://warren:\(r.password)@127.0.0.1:\(r.port)/proj.git", "carries a password"),
            ("file:///\(r.dir)/root/proj.git", "is not one of https, http, ssh, git"),
            ("http://127.0.0.1:\(r.port)/missing.git", "cannot clone"),
            (r.url + "@no-such-branch", "is not a branch, tag or commit"),
        ]
        for (repo, message) in cases {
            let out = try await d.cli(base + [repo, "go", "--", "/bin/true"])
            #expect(out.status != 0 && out.stderr.contains(message), "\(repo): \(out.stderr)")
            #expect(!out.stderr.contains(r.password), "an error never repeats the password")
        }
        #expect(try await d.cli(["agent", "ls", "-q"]).stdout.isEmpty)
        #expect(try await d.cli(["ps", "-a", "-q"]).stdout.isEmpty)
        let clones = (try? FileManager.default.contentsOfDirectory(atPath: d.dataRoot + "/agents/clones")) ?? []
        #expect(clones.isEmpty, "no clone stays behind: \(clones)")

        // A session on a host repository has nothing to push.
        let repo = try await AgentSessionTests.repository()
        defer { try? removeTree(repo) }
        #expect(try await d.cli(base + [repo, "--name", "local", "go", "--", "/bin/true"]).status == 0)
        let push = try await d.cli(["agent", "push", "local"])
        #expect(push.status != 0 && push.stderr.contains("push needs a --repo URL"), "\(push.stderr)")
    }
}
