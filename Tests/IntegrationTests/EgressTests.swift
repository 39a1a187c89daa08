import Foundation
import LinuxSupport
import NativeDriver
import Testing
import WarrenCore
import WarrenTestSupport

/// Sandbox egress end to end: real clients inside sandboxes (busybox wget and nc, pip,
/// git) reach a real server on a test host in a network namespace of its own, through the
/// daemon's per-sandbox proxy, as far as the policy allows and no further.
@Suite("Egress")
struct EgressTests {
    /// A test host serving `hello.txt` on port 8080, and the names sandboxes use for it.
    final class WebHost: @unchecked Sendable {
        let net: TestNetHost
        let files: String
        init() throws {
            net = try TestNetHost()
            files = NSTemporaryDirectory() + "warren-egress-files-\(UUID().uuidString.prefix(8))"
            try FileManager.default.createDirectory(atPath: files, withIntermediateDirectories: true)
            try "hello from the test host\n".write(toFile: files + "/hello.txt", atomically: true, encoding: .utf8)
            try String(repeating: "0123456789abcdef", count: 4096).write(toFile: files + "/big.bin", atomically: true, encoding: .utf8)
            try net.serveFiles(files)
        }
        func stop() { net.stop(); try? FileManager.default.removeItem(atPath: files) }

        /// `--add-host` flags naming the test host, and two names that rebind to the host's
        /// loopback and to the cloud metadata address.
        var hostFlags: [String] {
            ["--add-host", "web.test:\(net.address)", "--add-host", "other.test:\(net.address)",
             "--add-host", "evil.test:127.0.0.1", "--add-host", "meta.test:169.254.169.254",
             "--add-host", "self.test:\(net.hostAddress)"]
        }
    }

    static func egress(_ d: DaemonHarness, _ name: String) async throws -> SandboxEgress {
        let out = try await d.cli(["egress", "--json", name])
        return try WarrenJSON.decoder().decode(SandboxEgress.self, from: Data(out.stdout.utf8))
    }

    /// What the proxy answers a plain-HTTP request for `url`, asked with nc inside the sandbox.
    static func proxyAnswer(_ d: DaemonHarness, _ sandbox: String, _ url: String) async throws -> String {
        try await d.cli(["exec", sandbox, "--", "/bin/sh", "-c",
                         "printf 'GET \(url) HTTP/1.1\\r\\n\\r\\n' | nc 127.0.0.1 \(EgressAccess.guestPort)"]).stdout
    }

    @Test("native: an allowed name is reached through the proxy; others get a clear 403; rebinding to loopback, metadata or the host is refused; raw TCP has no route; allow and deny apply at once; the audit has it all")
    func nativePolicy() async throws {
        let web = try await runBlocking { try WebHost() }
        defer { web.stop() }
        let d = try await DaemonHarness.launch()
        defer { d.cleanUp() }
        let run = try await d.cli(["run", "-d", "--name", "eg", "--rootfs", try TestRootfs.path(), "--allow-host", "web.test",
                                   "--allow-host", "evil.test", "--allow-host", "meta.test", "--allow-host", "self.test"]
                                  + web.hostFlags + ["--", "/bin/sleep", "600"])
        #expect(run.status == 0, "\(run.stderr)")
        func sh(_ script: String) async throws -> DaemonHarness.Result {
            try await d.cli(["exec", "eg", "--", "/bin/sh", "-c", script])
        }

        let env = try await sh("echo $HTTP_PROXY $https_proxy $ALL_PROXY")
        #expect(env.stdout == "http://127.0.0.1:9401 http://127.0.0.1:9401 socks5h://127.0.0.1:9401\n")
        let fetched = try await sh("wget -q -O - http://web.test:8080/hello.txt")
        #expect(fetched.stdout == "hello from the test host\n", "\(fetched.stderr)")

        let other = try await Self.proxyAnswer(d, "eg", "http://other.test:8080/hello.txt")
        #expect(other.hasPrefix("HTTP/1.1 403") && other.contains("host other.test:8080 is not allowed for this sandbox"), "\(other)")
        let evil = try await Self.proxyAnswer(d, "eg", "http://evil.test:8080/")
        #expect(evil.hasPrefix("HTTP/1.1 403") && evil.contains("loopback"), "\(evil)")
        let meta = try await Self.proxyAnswer(d, "eg", "http://meta.test/latest/meta-data/")
        #expect(meta.hasPrefix("HTTP/1.1 403") && meta.contains("link-local"), "\(meta)")
        let own = try await Self.proxyAnswer(d, "eg", "http://self.test:8080/")
        #expect(own.hasPrefix("HTTP/1.1 403") && own.contains("this host's own"), "\(own)")
        let raw = try await sh("nc -w 2 \(web.net.address) 8080 </dev/null && echo connected || echo no-route")
        #expect(raw.stdout.contains("no-route") && !raw.stdout.contains("connected"), "\(raw.stdout) \(raw.stderr)")

        #expect(try await d.cli(["network", "allow", "eg", "other.test:8080"]).status == 0)
        #expect(try await sh("wget -q -O - http://other.test:8080/hello.txt").stdout == "hello from the test host\n")
        let denied = try await d.cli(["network", "deny", "eg", "web.test"])
        #expect(denied.status == 0 && denied.stdout.contains("denied: web.test"), "\(denied.stdout) \(denied.stderr)")
        let now = try await Self.proxyAnswer(d, "eg", "http://web.test:8080/hello.txt")
        #expect(now.hasPrefix("HTTP/1.1 403"), "a runtime deny applies to the next connection: \(now)")
        let bad = try await d.cli(["network", "allow", "eg", "*.com"])
        #expect(bad.status != 0 && bad.stderr.contains("too wide"), "\(bad.status) \(bad.stderr)")

        let audit = try await Self.egress(d, "eg")
        #expect(audit.access?.allow.contains("other.test:8080") == true && audit.access?.deny == ["web.test"])
        let hosts = audit.connections.map { "\($0.host) \($0.allowed) \($0.reason ?? "-")" }
        #expect(audit.connections.contains { $0.host == "web.test" && $0.allowed && $0.address == web.net.address && $0.bytesIn > 24 }, "\(hosts)")
        #expect(audit.connections.contains { $0.host == "other.test" && !$0.allowed && $0.reason == "not allowed" }, "\(hosts)")
        #expect(audit.connections.contains { $0.host == "other.test" && $0.allowed }, "\(hosts)")
        #expect(audit.connections.filter { $0.reason == "address not allowed" }.count == 3, "\(hosts)")
        #expect(audit.connections.last?.host == "web.test" && audit.connections.last?.allowed == false, "\(hosts)")
        #expect(audit.bytesUsed > 0)
    }

    @Test("a byte budget stops a download that crosses it; the next connection is refused saying why; the total outlives a daemon restart")
    func budget() async throws {
        let web = try await runBlocking { try WebHost() }
        defer { web.stop() }
        let d = try await DaemonHarness.launch()
        defer { d.cleanUp() }
        let run = try await d.cli(["run", "-d", "--name", "capped", "--rootfs", try TestRootfs.path(), "--allow-host", "web.test",
                                   "--egress-budget", "20k"] + web.hostFlags + ["--", "/bin/sleep", "600"])
        #expect(run.status == 0, "\(run.stderr)")
        let big = try await d.cli(["exec", "capped", "--", "/bin/sh", "-c", "wget -q -O - http://web.test:8080/big.bin | wc -c"])
        let got = Int(big.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
        #expect(got >= 0 && got < 20 * 1024, "64 KiB cut at the 20 KiB budget: \(got)")
        // A stopping daemon writes what its proxies recorded; the sandbox runs on meanwhile.
        try await runBlocking { d.stop() }
        try await d.restart()
        let after = try await Self.proxyAnswer(d, "capped", "http://web.test:8080/hello.txt")
        #expect(after.hasPrefix("HTTP/1.1 403") && after.contains("egress budget of 20480 bytes for this sandbox is spent"), "\(after)")
        let audit = try await Self.egress(d, "capped")
        #expect(audit.bytesUsed >= 20 * 1024 && audit.connections.contains { $0.reason == "budget spent" })
    }

    @Test("refusals: egress on a sandbox created without it, an unknown preset, bad patterns; presets expand into the stored policy")
    func refusals() async throws {
        let d = try await DaemonHarness.launch()
        defer { d.cleanUp() }
        let rootfs = try TestRootfs.path()
        #expect(try await d.cli(["run", "-d", "--name", "plain", "--rootfs", rootfs, "--", "/bin/sleep", "600"]).status == 0)
        let none = try await d.cli(["network", "allow", "plain", "pypi.org"])
        #expect(none.status != 0 && none.stderr.contains("created without egress"), "\(none.stderr)")
        let preset = try await d.cli(["run", "--rm", "--rootfs", rootfs, "--egress-preset", "nope", "--", "/bin/true"])
        #expect(preset.status != 0 && preset.stderr.contains("unknown egress preset 'nope'") && preset.stderr.contains("python"), "\(preset.stderr)")
        let pattern = try await d.cli(["run", "--rm", "--rootfs", rootfs, "--allow-host", "http://pypi.org", "--", "/bin/true"])
        #expect(pattern.status != 0 && pattern.stderr.contains("allowed host 'http://pypi.org'"), "\(pattern.stderr)")
        #expect(try await d.cli(["ps", "-a", "-q"]).stdout.split(separator: "\n").count == 1, "refused runs leave no sandbox")
        #expect(try await d.cli(["run", "-d", "--name", "py", "--rootfs", rootfs, "--egress-preset", "python", "--", "/bin/sleep", "600"]).status == 0)
        let access = try await Self.egress(d, "py").access
        #expect(access?.allow == ["pypi.org", "files.pythonhosted.org"] && access?.presets == ["python"])
        let env = try await d.cli(["exec", "py", "--", "/bin/sh", "-c", "echo $NO_PROXY"])
        #expect(env.stdout == "localhost,127.0.0.1,::1\n")
    }

    @Test("docker driver: the container reaches an allowed host through the proxy on its loopback, and is refused others")
    func dockerPolicy() async throws {
        let image = try await TestDocker.testImage()
        let web = try await runBlocking { try WebHost() }
        defer { web.stop() }
        let config = #"{"egress-secrets": {"webcred": {"hosts": ["secure.test"], "headers": {"Authorization": "Bearer not-in-the-guest"}}}}"#
        let d = try await DaemonHarness.launch(configJSON: Data(config.utf8))
        let owner = "warren.owner=" + NativeDriver.cgroupParent(dataRoot: d.dataRoot)
        defer { TestDocker.removeLabelled(owner); d.cleanUp() }
        let run = try await d.cli(["run", "-d", "--name", "dk", "--driver", "docker", "--allow-host", "web.test"] + web.hostFlags
                                  + [image, "--", "/bin/sleep", "600"])
        #expect(run.status == 0, "\(run.stderr)")
        let fetched = try await d.cli(["exec", "dk", "--", "/bin/sh", "-c", "wget -q -O - http://web.test:8080/hello.txt"])
        #expect(fetched.stdout == "hello from the test host\n", "\(fetched.stderr)")
        let other = try await Self.proxyAnswer(d, "dk", "http://other.test:8080/")
        #expect(other.hasPrefix("HTTP/1.1 403") && other.contains("not allowed for this sandbox"), "\(other)")
        let raw = try await d.cli(["exec", "dk", "--", "/bin/sh", "-c", "nc -w 2 \(web.net.address) 8080 </dev/null && echo connected || echo no-route"])
        #expect(raw.stdout.contains("no-route"), "\(raw.stdout)")
        #expect(try await d.cli(["network", "allow", "dk", "other.test"]).status == 0)
        #expect(try await Self.proxyAnswer(d, "dk", "http://other.test:8080/hello.txt").contains("hello from the test host"))
        let audit = try await Self.egress(d, "dk")
        #expect(audit.connections.contains { $0.host == "web.test" && $0.allowed } && audit.connections.contains { !$0.allowed })

        // With a secret, the container trusts the daemon's CA (bundle mounted read-only) and holds no secret.
        #expect(try await d.cli(["run", "-d", "--name", "dks", "--driver", "docker", "--egress-secret", "webcred", image,
                                 "--", "/bin/sleep", "600"]).status == 0)
        let trust = try await d.cli(["exec", "dks", "--", "/bin/sh", "-c",
                                     "echo $SSL_CERT_FILE $NODE_EXTRA_CA_CERTS; grep -c BEGIN /run/warren-egress/warren-egress-ca.crt; "
                                     + "touch /run/warren-egress/x 2>/dev/null || echo read-only; env | grep -c not-in-the-guest"])
        #expect(trust.stdout == "/run/warren-egress/ca-certificates.crt /run/warren-egress/warren-egress-ca.crt\n1\nread-only\n0\n", "\(trust.stdout) \(trust.stderr)")
        let ca = try String(contentsOfFile: d.dataRoot + "/egress/ca/ca.pem", encoding: .utf8)
        #expect(try await d.cli(["exec", "dks", "--", "/bin/cat", "/run/warren-egress/warren-egress-ca.crt"]).stdout == ca)
        #expect(try await d.cli(["exec", "dks", "--", "/bin/cat", "/etc/ssl/certs/ca-certificates.crt"]).stdout.hasSuffix(ca),
                "the system store trusts the CA too")
    }

    @Test("agent run --allow-host: the agent's turns reach the allowed host through its sandbox's proxy and nothing else")
    func agentEgress() async throws {
        let web = try await runBlocking { try WebHost() }
        defer { web.stop() }
        let d = try await DaemonHarness.launch()
        defer { d.cleanUp() }
        let script = #"wget -q -O - http://web.test:8080/hello.txt; printf 'GET http://other.test:8080/ HTTP/1.1\r\n\r\n' | nc 127.0.0.1 9401"#
        let run = try await d.cli(["agent", "run", "--name", "fetcher", "--provider", "command", "--rootfs", try TestRootfs.path(),
                                   "--allow-host", "web.test:8080"] + web.hostFlags + ["fetch", "--", "/bin/sh", "-c", script, "sh"])
        #expect(run.status == 0, "\(run.stdout) \(run.stderr)")
        #expect(run.stdout.contains("hello from the test host"), "\(run.stdout)")
        #expect(run.stdout.contains("host other.test:8080 is not allowed for this sandbox"), "\(run.stdout)")
        let info = try WarrenJSON.decoder().decode(AgentInfo.self, from: Data(try await d.cli(["agent", "inspect", "fetcher"]).stdout.utf8))
        let sandbox = try #require(info.sandboxID)
        let audit = try await Self.egress(d, sandbox)
        #expect(audit.access?.allow == ["web.test:8080"])
        #expect(audit.connections.contains { $0.host == "web.test" && $0.allowed } && audit.connections.contains { $0.host == "other.test" && !$0.allowed })
    }
}
