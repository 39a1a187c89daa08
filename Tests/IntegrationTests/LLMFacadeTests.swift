import Foundation
import LinuxSupport
import NativeDriver
import Testing
import WarrenCore
import WarrenTestSupport

/// The LLM facade end to end: the official `openai` and `anthropic` SDKs as clients, in a
/// sandbox and on the host, a local upstream speaking both protocols behind the facade.
@Suite("LLM facade", .serialized)
struct LLMFacadeTests {
    static func daemon(_ upstream: TestLLMUpstream) async throws -> DaemonHarness {
        try await runBlocking { try DaemonHarness(daemonEnvironment: upstream.daemonEnvironment) }
    }

    /// The sandbox's facade token, which its command printed first.
    static func token(_ d: DaemonHarness, _ name: String) async throws -> String {
        for _ in 0..<100 {
            let logs = try await d.cli(["logs", name]).stdout
            if let line = logs.split(separator: "\n").first(where: { $0.hasPrefix("wrn_llm_") }) { return String(line) }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw HarnessError("sandbox \(name) printed no token")
    }

    /// One SDK call from the host, through the daemon's socket, with `token`.
    static func hostCall(_ d: DaemonHarness, token: String, _ provider: String, _ model: String,
                         promptMiB: Int = 0, command: String = "call") async throws -> [String: Any] {
        let venv = try await runBlocking { try PythonSDKs.path() }
        let output = try await runBlocking {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: venv + "/bin/python")
            p.arguments = [Fixture.path("llm-client.py"), command, provider, model, String(promptMiB)]
            p.environment = ["WARREN_SOCKET": d.socket, "OPENAI_API_KEY": token, "ANTHROPIC_API_KEY": token, "PATH": "/usr/bin:/bin"]
            let out = Pipe()
            p.standardOutput = out
            p.standardError = FileHandle.nullDevice
            try p.run()
            let data = out.fileHandleForReading.readDataToEndOfFile()
            p.waitForExit()
            return data
        }
        guard let object = try JSONSerialization.jsonObject(with: output) as? [String: Any] else {
            throw HarnessError("client printed \(String(decoding: output, as: UTF8.self))")
        }
        return object
    }

    static func errorField(_ result: [String: Any], _ key: String) -> String? {
        ((result["body"] as? [String: Any])?["error"] as? [String: Any])?[key] as? String
            ?? (result["body"] as? [String: Any])?[key] as? String
    }

    static func usage(_ d: DaemonHarness, _ name: String) async throws -> SandboxUsage {
        try WarrenJSON.decoder().decode(SandboxUsage.self, from: Data(try await d.cli(["usage", "--json", name]).stdout.utf8))
    }

    @Test("SDKs in a sandbox: every endpoint, streams arrive chunk by chunk, usage is recorded, the upstream gets the real key and never the token")
    func sdkTourInSandbox() async throws {
        let upstream = try await runBlocking { try TestLLMUpstream() }
        let d = try await Self.daemon(upstream)
        defer { d.cleanUp(); upstream.stop() }
        let (rootfs, mounts) = try await runBlocking { try PythonSDKs.sandboxRootfs() }
        let r = try await d.cli(["run", "--name", "agent", "--rootfs", rootfs] + mounts
            + ["--llm", "openai,anthropic", "--", "/venv/bin/python", "/fixtures/llm-client.py", "sdk-tour"])
        #expect(r.status == 0, "\(r.stderr)")
        let line = r.stdout.split(separator: "\n").last { $0.hasPrefix("{") } ?? ""
        let tour = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(r.stdout) \(r.stderr)")
        func part(_ key: String) -> [String: Any] { tour[key] as? [String: Any] ?? [:] }
        #expect(part("chat")["text"] as? String == "Hello from the test upstream")
        #expect(part("chat")["usage"] as? [Int] == [11, 7])
        #expect(part("chat_stream")["text"] as? String == "Hello from the test upstream")
        #expect(part("chat_stream")["usage"] as? [Int] == [11, 5])
        #expect(part("responses")["usage"] as? [Int] == [17, 3])
        #expect(part("responses_stream")["text"] as? String == "Hi there from responses")
        #expect(part("messages")["usage"] as? [Int] == [13, 9])
        #expect(part("messages_stream")["usage"] as? [Int] == [13, 9])
        #expect(tour["models"] as? [String] == ["test-model"])
        #expect(tour["count_tokens"] as? Int == 5)
        // The upstream pauses 250 ms between events: buffering would bunch them all up. One late
        // piece on a loaded machine shortens one gap, not the spread of the whole stream.
        for key in ["chat_stream", "responses_stream", "messages_stream"] {
            let gaps = part(key)["gaps"] as? [Double] ?? []
            let spread = gaps.reduce(0, +)
            #expect(gaps.count >= 3 && spread >= 0.125 * Double(gaps.count), "\(key) chunks arrived together: \(gaps)")
        }

        let received = upstream.received()
        #expect(received.count == 8)
        for request in received {
            if request.path.hasPrefix("/v1/messages") {
                #expect(request.headers["x-api-key"] == upstream.anthropicKey)
                #expect(request.headers["anthropic-version"]?.isEmpty == false)
                #expect(request.headers["authorization"] == nil)
            } else {
                #expect(request.headers["authorization"] == "Bearer \(upstream.openAIKey)")
            }
            #expect(request.headers["accept-encoding"] == "identity")
        }
        #expect(!upstream.everythingReceived().contains("wrn_llm_"))

        let usage = try await Self.usage(d, "agent")
        func use(_ model: String) -> LLMUsage? { usage.usage.first { $0.model == model } }
        #expect(use("gpt-test").map { [$0.requests, $0.inputTokens, $0.outputTokens] } == [2, 22, 12])
        #expect(use("gpt-resp").map { [$0.requests, $0.inputTokens, $0.outputTokens] } == [2, 34, 6])
        #expect(use("claude-test").map { [$0.requests, $0.inputTokens, $0.outputTokens] } == [2, 26, 18])
        #expect(usage.usage.count == 3, "listing models and counting tokens are not usage: \(usage.usage)")
    }

    @Test("the guest's environment and /proc hold the token and the facade's address, never a provider key")
    func guestNeverSeesTheKey() async throws {
        let upstream = try await runBlocking { try TestLLMUpstream() }
        let d = try await Self.daemon(upstream)
        defer { d.cleanUp(); upstream.stop() }
        let rootfs = try TestRootfs.path()
        let r = try await d.cli(["run", "--rootfs", rootfs, "--llm", "openai,anthropic", "--", "/bin/sh", "-c",
                                 "env; cat /proc/self/environ /proc/1/environ 2>/dev/null | tr '\\0' '\\n'"])
        #expect(r.status == 0)
        #expect(!r.stdout.contains(upstream.openAIKey) && !r.stdout.contains(upstream.anthropicKey))
        #expect(r.stdout.contains("OPENAI_BASE_URL=http://127.0.0.1:9400/v1"))
        #expect(r.stdout.contains("ANTHROPIC_BASE_URL=http://127.0.0.1:9400\n"))
        #expect(r.stdout.contains("OPENAI_API_KEY=wrn_llm_") && r.stdout.contains("ANTHROPIC_AUTH_TOKEN=wrn_llm_"))
        // The stored spec never holds the token.
        let inspect = try await d.cli(["inspect", "--json", (try await d.cli(["ps", "-aq"])).stdout.trimmingCharacters(in: .whitespacesAndNewlines)])
        #expect(!inspect.stdout.contains("wrn_llm_") && inspect.stdout.contains("\"llm\""))
    }

    @Test("a token works for its own sandbox while it runs: another sandbox's listener and a stopped sandbox get 401; upstream errors pass through; a WebSocket upgrade gets 426")
    func tokenScope() async throws {
        let upstream = try await runBlocking { try TestLLMUpstream() }
        let d = try await Self.daemon(upstream)
        defer { d.cleanUp(); upstream.stop() }
        let rootfs = try TestRootfs.path()
        for name in ["a", "b"] {
            let r = try await d.cli(["run", "-d", "--name", name, "--rootfs", rootfs, "--llm", "openai,anthropic", "--",
                                     "/bin/sh", "-c", "echo $OPENAI_API_KEY; sleep 300"])
            #expect(r.status == 0, "\(r.stderr)")
        }
        let tokenA = try await Self.token(d, "a")
        #expect(FacadeTokenShape.isToken(tokenA))

        let ok = try await Self.hostCall(d, token: tokenA, "openai", "gpt-x")
        #expect(ok["status"] as? Int == 200 && ok["body"] as? String == "Hello from the test upstream")
        let upstreamError = try await Self.hostCall(d, token: tokenA, "anthropic", "error-400")
        #expect(upstreamError["status"] as? Int == 400 && Self.errorField(upstreamError, "message") == "upstream said 400")

        let wget = "wget -q -S -O - --header 'Authorization: Bearer \(tokenA)' --post-data '{\"model\":\"m\"}' http://127.0.0.1:9400/v1/chat/completions 2>&1; true"
        let fromB = try await d.cli(["exec", "b", "--", "/bin/sh", "-c", wget])
        #expect(fromB.stdout.contains("401 Unauthorized"), "\(fromB.stdout)")
        let fromA = try await d.cli(["exec", "a", "--", "/bin/sh", "-c", wget])
        #expect(fromA.stdout.contains("200 OK") && fromA.stdout.contains("Hello from the test upstream"), "\(fromA.stdout)")
        let upgrade = try await d.cli(["exec", "a", "--", "/bin/sh", "-c",
            "wget -q -S -O - --header 'Upgrade: websocket' --header 'Connection: Upgrade' http://127.0.0.1:9400/v1/responses 2>&1; true"])
        #expect(upgrade.stdout.contains("426"), "\(upgrade.stdout)")

        // A body over 32 MiB is refused whole, in the provider's shape, on both ways in, and never forwarded.
        let sentBefore = upstream.received().count
        let oversized = try await Self.hostCall(d, token: tokenA, "anthropic", "claude-big", promptMiB: 33)
        #expect(oversized["status"] as? Int == 413 && Self.errorField(oversized, "type") == "invalid_request_error", "\(oversized)")
        let oversizedInGuest = try await d.cli(["exec", "a", "--", "/bin/sh", "-c",
            "head -c 34603008 /dev/zero | tr '\\0' x > /tmp/big; wget -q -S -O - --header 'Authorization: Bearer \(tokenA)' "
            + "--post-file /tmp/big http://127.0.0.1:9400/v1/chat/completions 2>&1; rm /tmp/big; true"])
        #expect(oversizedInGuest.stdout.contains("413 Payload Too Large"), "\(oversizedInGuest.stdout)")
        #expect(upstream.received().count == sentBefore, "an oversized call reached the upstream")
        let versioned = try await d.cli(["exec", "a", "--", "/bin/sh", "-c",
            "wget -q -O - --header 'x-api-key: \(tokenA)' --header 'anthropic-version: 2099-01-01' --header 'anthropic-beta: warren-test-beta' "
            + "--header 'Connection: keep-alive, x-hop' --header 'x-hop: dropped' --post-data '{\"model\":\"claude-v\"}' http://127.0.0.1:9400/v1/messages"])
        #expect(versioned.stdout.contains("Hello from the test upstream"), "\(versioned.stdout)")
        let forwarded = try #require(upstream.received().last { $0.path == "/v1/messages" })
        #expect(forwarded.headers["anthropic-version"] == "2099-01-01" && forwarded.headers["anthropic-beta"] == "warren-test-beta")
        #expect(forwarded.headers["x-hop"] == nil && forwarded.headers["x-api-key"] == upstream.anthropicKey)

        let before = upstream.received().count
        #expect(try await d.cli(["stop", "a"]).status == 0)
        let revoked = try await Self.hostCall(d, token: tokenA, "openai", "gpt-x")
        #expect(revoked["status"] as? Int == 401 && revoked["type"] as? String == "AuthenticationError")
        let revokedAnthropic = try await Self.hostCall(d, token: tokenA, "anthropic", "claude-x")
        #expect(revokedAnthropic["status"] as? Int == 401 && Self.errorField(revokedAnthropic, "type") == "authentication_error")
        #expect(upstream.received().count == before, "a refused call reached the upstream")
    }

    @Test("upstream connections: a client leaving mid-stream ends the upstream's call; a pooled connection the upstream drops is replaced and the call sent again")
    func upstreamConnections() async throws {
        let upstream = try await runBlocking { try TestLLMUpstream() }
        let d = try await Self.daemon(upstream)
        defer { d.cleanUp(); upstream.stop() }
        let r = try await d.cli(["run", "-d", "--name", "a", "--rootfs", try TestRootfs.path(), "--llm", "openai", "--",
                                 "/bin/sh", "-c", "echo $OPENAI_API_KEY; sleep 300"])
        #expect(r.status == 0, "\(r.stderr)")
        let tokenA = try await Self.token(d, "a")

        // A client that leaves in the middle of a streamed answer ends the upstream's call too.
        let left = try await Self.hostCall(d, token: tokenA, "openai", "endless", command: "leave")
        #expect(left["body"] as? String == "more ", "\(left)")
        var gone = false
        for _ in 0..<50 where !gone {
            gone = upstream.received().contains { $0.method == "GONE" }
            if !gone { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(gone, "the upstream went on streaming to a client that had left")

        // A pooled upstream connection that the upstream closes as the next call arrives
        // (its idle timeout racing the call): the call goes again on a new connection.
        let twice = try await Self.hostCall(d, token: tokenA, "openai", "drop-reused", command: "twice")
        #expect(twice["status"] as? Int == 200 && twice["body"] as? String == "Hello from the test upstream", "\(twice)")
        #expect(upstream.received().contains { $0.method == "DROPPED" }, "the second call did not go out on the pooled connection")
    }

    @Test("budgets, model allow-lists and rates are enforced before forwarding, refused in each provider's error shape")
    func limits() async throws {
        let upstream = try await runBlocking { try TestLLMUpstream() }
        let d = try await Self.daemon(upstream)
        defer { d.cleanUp(); upstream.stop() }
        let rootfs = try TestRootfs.path()
        let sandboxes = [("budget", ["--llm-budget-requests", "2", "--llm-models", "gpt-ok,claude-ok"]),
                         ("tokens", ["--llm-budget-tokens", "10"]), ("rate", ["--llm-rpm", "1"])]
        for (name, flags) in sandboxes {
            let r = try await d.cli(["run", "-d", "--name", name, "--rootfs", rootfs, "--llm", "openai,anthropic"] + flags
                + ["--", "/bin/sh", "-c", "echo $OPENAI_API_KEY; sleep 300"])
            #expect(r.status == 0, "\(r.stderr)")
        }
        let budget = try await Self.token(d, "budget")
        let denied = try await Self.hostCall(d, token: budget, "openai", "gpt-no")
        #expect(denied["status"] as? Int == 403 && Self.errorField(denied, "code") == "model_not_allowed")
        let deniedAnthropic = try await Self.hostCall(d, token: budget, "anthropic", "claude-no")
        #expect(deniedAnthropic["status"] as? Int == 403 && Self.errorField(deniedAnthropic, "type") == "permission_error")
        #expect(upstream.received().isEmpty)
        #expect(try await Self.hostCall(d, token: budget, "openai", "gpt-ok")["status"] as? Int == 200)
        #expect(try await Self.hostCall(d, token: budget, "anthropic", "claude-ok")["status"] as? Int == 200)
        let spent = try await Self.hostCall(d, token: budget, "openai", "gpt-ok")
        #expect(spent["status"] as? Int == 429 && spent["type"] as? String == "RateLimitError"
            && Self.errorField(spent, "code") == "insufficient_quota")
        let spentAnthropic = try await Self.hostCall(d, token: budget, "anthropic", "claude-ok")
        #expect(spentAnthropic["status"] as? Int == 429 && Self.errorField(spentAnthropic, "type") == "rate_limit_error")
        #expect(upstream.received().count == 2)

        let tokens = try await Self.token(d, "tokens")
        #expect(try await Self.hostCall(d, token: tokens, "openai", "gpt-x")["status"] as? Int == 200)
        let overTokens = try await Self.hostCall(d, token: tokens, "openai", "gpt-x")
        #expect(overTokens["status"] as? Int == 429, "18 tokens used of a budget of 10")

        let rate = try await Self.token(d, "rate")
        #expect(try await Self.hostCall(d, token: rate, "anthropic", "claude-x")["status"] as? Int == 200)
        let tooFast = try await Self.hostCall(d, token: rate, "openai", "gpt-x")
        #expect(tooFast["status"] as? Int == 429 && Self.errorField(tooFast, "code") == "rate_limit_exceeded")

        let report = try await Self.usage(d, "budget")
        #expect(report.llm?.budgetRequests == 2 && report.usage.reduce(0) { $0 + $1.requests } == 2)
    }

    @Test("--llm is checked before anything is made: unknown providers, limits without --llm, a provider the daemon has no key for, a key passed with -e")
    func refusals() async throws {
        let d = try await runBlocking { try DaemonHarness() }
        defer { d.cleanUp() }
        let rootfs = try TestRootfs.path()
        let unknown = try await d.cli(["run", "--rootfs", rootfs, "--llm", "gemini", "--", "/bin/true"])
        #expect(unknown.status == 125 && unknown.stderr.contains("unknown LLM provider 'gemini'"))
        let orphanFlag = try await d.cli(["run", "--rootfs", rootfs, "--llm-rpm", "5", "--", "/bin/true"])
        #expect(orphanFlag.status == 125 && orphanFlag.stderr.contains("need --llm"))
        let noKey = try await d.cli(["run", "--rootfs", rootfs, "--llm", "anthropic", "--", "/bin/true"])
        #expect(noKey.status == 125 && noKey.stderr.contains("holds no anthropic key"))
        let passed = try await d.cli(["run", "--rootfs", rootfs, "-e", "OPENAI_API_KEY=sk-secret-value", "--", "/bin/true"])
        #expect(passed.status == 125 && !passed.stderr.contains("sk-secret-value"))
        #expect(try await d.cli(["ps", "-aq"]).stdout.isEmpty, "a refused run left a sandbox behind")
    }

    @Test("docker driver: the container reaches the facade on its own loopback with network none")
    func dockerSandbox() async throws {
        let upstream = try await runBlocking { try TestLLMUpstream() }
        let image = try await TestDocker.testImage()
        let d = try await Self.daemon(upstream)
        let owner = "warren.owner=" + NativeDriver.cgroupParent(dataRoot: d.dataRoot)
        defer { TestDocker.removeLabelled(owner); d.cleanUp(); upstream.stop() }
        // No pause before the call: the facade is on the container's loopback from its first instruction.
        let script = "env | grep -c sk-test; wget -q -O - --header \"Authorization: Bearer $OPENAI_API_KEY\" "
            + "--post-data '{\"model\":\"gpt-docker\"}' $OPENAI_BASE_URL/chat/completions; echo; "
            + "cat /etc/resolv.conf; nslookup nosuch.example 2>&1"
        let r = try await d.cli(["run", "--name", "boxed", "--driver", "docker", "--llm", "openai", image, "--", "/bin/sh", "-c", script])
        #expect(r.stdout.contains("Hello from the test upstream"), "\(r.stdout) \(r.stderr)")
        // No network: the driver's own name server on the loopback says "no such name" at once.
        #expect(r.stdout.contains("nameserver 127.0.0.1\n") && r.stdout.contains("NXDOMAIN") && !r.stdout.contains("timed out"),
                "\(r.stdout)")
        #expect(r.stdout.hasPrefix("0\n"), "the container's environment holds a provider key")
        #expect(upstream.received().first?.headers["authorization"] == "Bearer \(upstream.openAIKey)")
        let usage = try await Self.usage(d, "boxed")
        #expect(usage.usage.first.map { [$0.requests, $0.inputTokens, $0.outputTokens] } == [1, 11, 7])

        // The namespace's holder ends with the workload, and goes with it.
        let holders = ["ps", "-a", "--filter", "label=\(owner)", "--filter", "label=warren.role=netns", "--format", "{{.State}}"]
        #expect(try TestDocker.runNow(holders).stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "exited")
        _ = try await d.cli(["rm", "boxed"])
        #expect(try TestDocker.runNow(["ps", "-aq", "--filter", "label=\(owner)"]).stdout.isEmpty)
    }
}

/// The token's shape, as the facade makes it (`wrn_llm_` and 43 base64url characters).
enum FacadeTokenShape {
    static func isToken(_ text: String) -> Bool {
        text.hasPrefix("wrn_llm_") && text.count == 51
            && text.dropFirst(8).allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }
    }
}
