import Foundation
import LinuxSupport
import NativeDriver
import Testing
import WarrenCore
import WarrenTestSupport

/// The real Claude Code and Codex CLIs (from PyPI, in the warren-agent image) as agent
/// sessions, offline: a scripted upstream behind Warren's facade asks them for tool calls.
@Suite("Agent CLIs", .serialized)
struct AgentCLITests {
    final class Setup: @unchecked Sendable {
        let upstream: TestLLMUpstream
        let daemon: DaemonHarness
        init() throws {
            let image = try AgentGuestImage.path()
            upstream = try TestLLMUpstream(script: "agent-upstream.py")
            daemon = try DaemonHarness(daemonEnvironment: upstream.daemonEnvironment)
            let imported = try daemon.cliBlocking(["image", "import", "--tag", "warren-agent:latest", image])
            guard imported.status == 0 else { throw HarnessError("import failed: \(imported.stderr)") }
        }
        func cleanUp() {
            TestDocker.removeLabelled("warren.owner=" + NativeDriver.cgroupParent(dataRoot: daemon.dataRoot))
            daemon.cleanUp(); upstream.stop()
        }
    }

    /// One CLI on a repo: a file-writing turn, a follow-up with the history, and no key
    /// anywhere. On `docker`, the agent runs as the repository's owner (`owner`), or as
    /// nobody on a worktree handed to it when the repository is root's.
    func writeAndFollowUp(provider: String, model: [String], docker: Bool = false,
                          owner: (uid: uid_t, gid: gid_t)? = nil) async throws {
        if docker { _ = try await TestDocker.testImage() }
        let s = try await runBlocking { try Setup() }
        defer { s.cleanUp() }
        let d = s.daemon
        let repo = try await AgentSessionTests.repository(owner: owner)
        defer { try? removeTree(repo) }
        let run = try await d.cli(["agent", "run", "--name", provider, "--provider", provider] + model
                                  + (docker ? ["--driver", "docker"] : [])
                                  + ["--repo", repo, "write notes.txt: hello from \(provider)"])
        #expect(run.status == 0, "\(run.stdout) \(run.stderr)")
        let info = try await AgentSessionTests.inspect(d, provider)
        let branch = try #require(info.branch)
        #expect(try await AgentSessionTests.git(repo, ["show", "\(branch.name):notes.txt"]) == "hello from \(provider)")
        let written = try FileManager.default.attributesOfItem(
            atPath: repo + "/.git/warren/worktrees/\(info.id.prefix(12))/notes.txt")[.ownerAccountID] as? NSNumber
        let uid = try #require(written?.uint32Value)
        if docker {
            #expect(try await DockerDriverTests.info(d, try #require(info.sandboxID)).driver == "docker")
            #expect(uid == owner?.uid ?? 65534, "a Docker agent writes as the repo's owner, or nobody: \(uid)")
        } else {
            #expect(owner.map { uid == $0.uid } ?? (uid != 0), "a native agent writes as the repo's owner, or its own unprivileged id: \(uid)")
        }
        #expect(try await AgentSessionTests.git(repo, ["status", "--porcelain"]).isEmpty)
        #expect(info.conversationID?.isEmpty == false, "the CLI's conversation id is kept")
        var events = try await AgentSessionTests.events(d, provider)
        let call = try #require(events.first { $0.type == .toolCall }, "\(events)")
        #expect(call.input != nil && events.contains { $0.type == .toolResult && $0.ok == true }, "\(events)")
        #expect(events.contains { $0.type == .assistantText && $0.text?.contains("done: wrote notes.txt") == true }, "\(events)")
        #expect(info.usage.contains { $0.requests >= 2 }, "usage from the facade: \(info.usage)")

        // The follow-up resumes the conversation: the upstream sees the first turn's messages.
        let send = try await d.cli(["agent", "send", provider, "how many turns so far?"])
        #expect(send.status == 0 && send.stdout.contains("✓ turn 2 done"), "\(send.stdout) \(send.stderr)")
        events = try await AgentSessionTests.events(d, provider)
        let answer = events.last { $0.type == .assistantText }?.text ?? ""
        #expect(answer.contains("echo: how many turns so far?") && !answer.contains("turns=1"), "\(answer)")
        let lastBody = s.upstream.received().last { $0.method == "POST" }?.body ?? ""
        #expect(lastBody.contains("write notes.txt: hello from \(provider)"), "the follow-up carries the first prompt")

        // The real key is never in the sandbox's environment, its output or the events.
        let sandbox = try #require(try await AgentSessionTests.inspect(d, provider).sandboxID)
        let env = try await d.cli(["exec", sandbox, "--", "/usr/bin/env"]).stdout
        let output = try await d.cli(["logs", sandbox]).stdout + (try await d.cli(["agent", "logs", "--json", provider]).stdout)
        for key in [s.upstream.openAIKey, s.upstream.anthropicKey] {
            #expect(!env.contains(key) && !output.contains(key))
        }
        #expect(env.contains("wrn_llm_"), "the sandbox holds a facade token")
        #expect(!s.upstream.everythingReceived().contains("wrn_llm_"), "the upstream never sees the token")
        _ = try await d.cli(["agent", "stop", provider])
        let ended = try await AgentSessionTests.inspect(d, provider)
        #expect(ended.usage.contains { $0.requests >= 3 }, "usage outlives the sandbox")
        if provider == "codex" {
            // Each turn's usage event is that turn's own (Codex reports its thread's running
            // total): together they are what the facade counted.
            let reported = try await AgentSessionTests.events(d, provider).filter { $0.type == .usage }
            #expect(reported.count == 2)
            #expect(reported.reduce(0) { $0 + ($1.inputTokens ?? 0) } == ended.usage.reduce(0) { $0 + $1.inputTokens },
                    "\(reported.map(\.inputTokens)) vs \(ended.usage)")
        }
        _ = try await d.cli(["agent", "rm", "--delete-branch", provider])
    }

    @Test("Claude Code writes a file on its branch, resumes its conversation, and never holds a key")
    func claude() async throws { try await writeAndFollowUp(provider: "claude", model: []) }

    @Test("Codex writes a file on its branch, resumes its thread, and never holds a key")
    func codex() async throws { try await writeAndFollowUp(provider: "codex", model: []) }

    @Test("on the docker driver, Claude Code works a root-owned repository as nobody, never root")
    func claudeOnDocker() async throws { try await writeAndFollowUp(provider: "claude", model: [], docker: true) }

    @Test("on the docker driver, Codex works a user's repository as that user")
    func codexOnDocker() async throws {
        try await writeAndFollowUp(provider: "codex", model: [], docker: true,
                                   owner: (TestAccount.regular.uid, TestAccount.regular.gid))
    }

    @Test("Claude Code on a terminal: agent run --interactive gives its own interface, which writes the file; its exit commits it")
    func claudeOnTerminal() async throws {
        let s = try await runBlocking { try Setup() }
        defer { s.cleanUp() }
        let d = s.daemon
        let repo = try await AgentSessionTests.repository()
        defer { try? removeTree(repo) }
        let t = try TerminalSession(BuiltProducts.cli, ["agent", "run", "--interactive", "--name", "tty", "--repo", repo,
                                                        "write notes.txt: typed on a terminal"],
                                    environment: ["WARREN_HOST=unix://" + d.socket, "TERM=xterm", "PATH=/usr/bin:/bin"],
                                    rows: 40, cols: 120)
        defer { t.close() }
        // Its interface positions words with cursor moves rather than spaces.
        #expect(await t.waitFor("wrote", seconds: 60), "\(t.text.suffix(3000))")
        // Ctrl-C twice is how Claude Code's interface is left.
        t.type([0x03]); try await Task.sleep(for: .milliseconds(300)); t.type([0x03])
        #expect(await t.waitForExit(seconds: 60) != nil, "\(t.text.suffix(3000))")
        var info = try await AgentSessionTests.inspect(d, "tty")
        for _ in 0..<300 where info.state != .idle {
            try await Task.sleep(for: .milliseconds(100))
            info = try await AgentSessionTests.inspect(d, "tty")
        }
        let branch = try #require(info.branch)
        #expect(info.state == .idle && info.turns == 1, "\(info)")
        #expect(try await AgentSessionTests.git(repo, ["show", "\(branch.name):notes.txt"]) == "typed on a terminal")
        #expect(s.upstream.received().contains { $0.method == "POST" && $0.body.contains("typed on a terminal") })
    }

    @Test("an exhausted budget: the CLI gets the provider's 429 and the session fails with that reason")
    func budget() async throws {
        let s = try await runBlocking { try Setup() }
        defer { s.cleanUp() }
        let workspace = s.daemon.dir + "/ws"
        try FileManager.default.createDirectory(atPath: workspace, withIntermediateDirectories: true)
        try changeOwnerOfTree(workspace, uid: TestAccount.regular.uid, gid: TestAccount.regular.gid)
        for provider in ["claude", "codex"] {
            let r = try await s.daemon.cli(["agent", "run", "--name", "poor-\(provider)", "--provider", provider, "--workspace", workspace,
                                            "--llm-budget-requests", "1", "write budget.txt: more than one call"])
            #expect(r.status == 1 && r.stdout.contains("✗ turn 1 failed"), "\(r.stdout) \(r.stderr)")
            let info = try await AgentSessionTests.inspect(s.daemon, "poor-\(provider)")
            #expect(info.state == .failed && (info.error ?? "").contains("the LLM facade answered 429"), "\(info.error ?? "")")
            let calls = s.upstream.received().filter { $0.method == "POST" }.count
            #expect(calls <= 2, "the budget stopped calls at the facade: the upstream saw \(calls)")
        }
    }
}
