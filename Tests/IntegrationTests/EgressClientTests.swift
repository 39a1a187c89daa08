import Foundation
import LinuxSupport
import Testing
import WarrenCore
import WarrenTestSupport

/// The real clients an agent uses — pip, git over HTTPS, Claude Code — in the agent image,
/// against real servers on a test host in a network namespace, through the egress proxy.
@Suite("Egress with real clients", .serialized)
struct EgressClientTests {
    static let password = "s3cret-at-the-edge-\(UUID().uuidString.prefix(6))"

    /// A daemon with the agent image, whose config holds a secret for `git.test` and trusts
    /// the test host's certificate.
    final class Setup: @unchecked Sendable {
        let net: TestNetHost
        let dir: String
        let daemon: DaemonHarness
        init() throws {
            dir = "/tmp/warren-egress-clients-\(UUID().uuidString.prefix(8))"
            try FileManager.default.createDirectory(atPath: dir + "/simple/warren-egress-demo", withIntermediateDirectories: true)
            net = try TestNetHost()
            // A package index: one wheel, built here by hand (a zip with its metadata).
            try TestRootfs.run(blocking: "/usr/bin/python3", ["-c", Self.wheelMaker, dir + "/simple/warren-egress-demo"])
            try net.serveFiles(dir, port: 8080)
            // A git host over HTTPS behind basic auth.
            try TestRootfs.run(blocking: "/usr/bin/openssl", [
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", dir + "/git.key",
                "-out", dir + "/git.pem", "-days", "2", "-subj", "/CN=git.test", "-addext", "subjectAltName=DNS:git.test"])
            try TestRootfs.run(blocking: "/bin/sh", ["-c", """
                set -e; mkdir -p \(dir)/repos/src; cd \(dir)/repos/src; git init -q -b main; echo 'cloned through the edge' > README
                git add README; git -c user.name=t -c user.email=t@x commit -qm init; cd ..; git clone -q --bare src proj.git
                """])
            try net.serve("/usr/bin/python3", [Fixture.path("git-http-server.py"), "--root", dir + "/repos", "--user", "warren",
                                               "--password", EgressClientTests.password, "--record", dir + "/git.jsonl",
                                               "--host", net.address, "--port", "8443", "--tls-cert", dir + "/git.pem",
                                               "--tls-key", dir + "/git.key"], port: 8443)
            let basic = Data("warren:\(EgressClientTests.password)".utf8).base64EncodedString()
            let config: [String: Any] = [
                "egress-secrets": ["gitcred": ["hosts": ["git.test"], "headers": ["Authorization": "Basic \(basic)"]]],
                "egress-trust": dir + "/git.pem",
            ]
            daemon = try DaemonHarness(configJSON: try JSONSerialization.data(withJSONObject: config))
            let imported = try daemon.cliBlocking(["image", "import", "--tag", "warren-agent:latest", try AgentGuestImage.path()])
            guard imported.status == 0 else { throw HarnessError("import failed: \(imported.stderr)") }
        }
        func cleanUp() { daemon.cleanUp(); net.stop(); try? FileManager.default.removeItem(atPath: dir) }

        static let wheelMaker = #"""
            import sys, zipfile, hashlib, base64, os
            out = sys.argv[1]
            name = "warren_egress_demo-1.0-py3-none-any.whl"
            files = {"warren_egress_demo/__init__.py": "VALUE = 'installed through the proxy'\n",
                     "warren_egress_demo-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: warren-egress-demo\nVersion: 1.0\n",
                     "warren_egress_demo-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: warren-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
            record = ""
            for path, text in files.items():
                digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
                record += f"{path},sha256={digest},{len(text.encode())}\n"
            record += "warren_egress_demo-1.0.dist-info/RECORD,,\n"
            with zipfile.ZipFile(os.path.join(out, name), "w") as z:
                for path, text in files.items(): z.writestr(path, text)
                z.writestr("warren_egress_demo-1.0.dist-info/RECORD", record)
            with open(os.path.join(out, "index.html"), "w") as f:
                f.write(f'<html><body><a href="{name}">{name}</a></body></html>\n')
            """#
    }

    static func sh(_ d: DaemonHarness, _ sandbox: String, _ script: String) async throws -> DaemonHarness.Result {
        try await d.cli(["exec", sandbox, "--", "/bin/sh", "-c", script])
    }

    @Test("pip installs a wheel from an allowed index through the proxy; once the index is denied, pip is refused")
    func pipInstall() async throws {
        let s = try await runBlocking { try Setup() }
        defer { s.cleanUp() }
        let d = s.daemon
        let run = try await d.cli(["run", "-d", "--name", "pip", "--allow-host", "pypi.test:8080", "--add-host", "pypi.test:\(s.net.address)",
                                   "warren-agent:latest", "--", "/bin/sleep", "600"])
        #expect(run.status == 0, "\(run.stderr)")
        let install = "python3 -m venv /tmp/v && /tmp/v/bin/pip install -q --no-cache-dir --disable-pip-version-check "
            + "--index-url http://pypi.test:8080/simple --trusted-host pypi.test warren-egress-demo 2>&1"
        let installed = try await Self.sh(d, "pip", install + " && /tmp/v/bin/python -c 'import warren_egress_demo as m; print(m.VALUE)'")
        #expect(installed.stdout.hasSuffix("installed through the proxy\n"), "\(installed.stdout) \(installed.stderr)")
        // curl through the same port speaking SOCKS5, the name resolved by the proxy.
        let socks = try await Self.sh(d, "pip", "curl -sS -x socks5h://127.0.0.1:9401 http://pypi.test:8080/simple/warren-egress-demo/")
        #expect(socks.stdout.contains("warren_egress_demo-1.0-py3-none-any.whl"), "\(socks.stdout) \(socks.stderr)")

        #expect(try await d.cli(["network", "deny", "pip", "pypi.test:8080"]).status == 0)
        let refused = try await Self.sh(d, "pip", "/tmp/v/bin/pip uninstall -q -y warren-egress-demo; "
                                        + install.replacingOccurrences(of: "/tmp/v/bin/pip install -q", with: "/tmp/v/bin/pip install --retries 0"))
        #expect(refused.status != 0 || !refused.stdout.contains("Successfully"), "\(refused.stdout)")
        // pip only says it found nothing; Python's own client shows what the proxy answered.
        let why = try await Self.sh(d, "pip", """
            python3 -c "import urllib.request as u, urllib.error as e
            try: u.urlopen('http://pypi.test:8080/simple/')
            except e.HTTPError as x: print(x.code, x.read().decode())"
            """)
        #expect(why.stdout.contains("403") && why.stdout.contains("host pypi.test:8080 is not allowed for this sandbox"), "\(why.stdout) \(why.stderr)")
        let curl = try await Self.sh(d, "pip", "curl -sS -w ' %{http_code}' http://pypi.test:8080/simple/")
        #expect(curl.stdout == "warren egress: host pypi.test:8080 is not allowed for this sandbox\n 403", "\(curl.stdout)")
        let socksDenied = try await Self.sh(d, "pip", "curl -sS -x socks5h://127.0.0.1:9401 http://pypi.test:8080/ 2>&1")
        #expect(socksDenied.status != 0 && socksDenied.stdout.contains("SOCKS"), "SOCKS reply 2: \(socksDenied.stdout)")
        let audit = try WarrenJSON.decoder().decode(SandboxEgress.self, from: Data(try await d.cli(["egress", "--json", "pip"]).stdout.utf8))
        #expect(audit.connections.contains { $0.host == "pypi.test" && $0.allowed && $0.bytesIn > 500 })
        #expect(audit.connections.contains { $0.host == "pypi.test" && !$0.allowed })
        #expect(audit.connections.contains { $0.host == "pypi.test" && $0.via == "socks" && $0.allowed })
    }

    @Test("git clones over HTTPS with a token the proxy adds at the edge; the sandbox never holds it; without the secret the clone is refused")
    func gitWithSecret() async throws {
        let s = try await runBlocking { try Setup() }
        defer { s.cleanUp() }
        let d = s.daemon
        let run = try await d.cli(["run", "-d", "--name", "git", "--egress-secret", "gitcred", "--add-host", "git.test:\(s.net.address)",
                                   "warren-agent:latest", "--", "/bin/sleep", "600"])
        #expect(run.status == 0, "\(run.stderr)")
        let clone = try await Self.sh(d, "git", "GIT_TERMINAL_PROMPT=0 git clone -q https://git.test:8443/proj.git /tmp/c 2>&1 && cat /tmp/c/README")
        #expect(clone.stdout == "cloned through the edge\n", "\(clone.stdout) \(clone.stderr)")
        // A client that reads none of the variables trusts the daemon's CA through the system store.
        let curl = try await Self.sh(d, "git", "env -u SSL_CERT_FILE -u CURL_CA_BUNDLE curl -sS -o /dev/null -w '%{http_code}' "
                                     + "'https://git.test:8443/proj.git/info/refs?service=git-upload-pack' 2>&1")
        #expect(curl.stdout == "200", "\(curl.stdout) \(curl.stderr)")
        // Nothing the sandbox can read holds the password: not its environment, files or the trust bundle.
        let search = try await Self.sh(d, "git", "env; cat /run/warren-egress/*; grep -rs '\(Self.password)' / --exclude-dir=proc --exclude-dir=sys -l; true")
        #expect(!search.stdout.contains(Self.password), "the secret is visible in the sandbox")
        let basic = Data("warren:\(Self.password)".utf8).base64EncodedString()
        #expect(!search.stdout.contains(basic))
        let requests = (try? String(contentsOfFile: s.dir + "/git.jsonl", encoding: .utf8)) ?? ""
        #expect(requests.contains("\"authorised\": true") && !requests.contains("\"authorised\": false"), "\(requests)")

        // The same host allowed without the secret is tunnelled untouched: the server wants credentials.
        #expect(try await d.cli(["run", "-d", "--name", "plain", "--allow-host", "git.test", "--add-host", "git.test:\(s.net.address)",
                                 "warren-agent:latest", "--", "/bin/sleep", "600"]).status == 0)
        let plain = try await Self.sh(d, "plain", "GIT_TERMINAL_PROMPT=0 GIT_SSL_NO_VERIFY=1 git clone -q https://git.test:8443/proj.git /tmp/c 2>&1")
        #expect(plain.status != 0 && plain.stdout.contains("401") || plain.stdout.contains("Authentication failed")
                || plain.stdout.contains("could not read Username"), "\(plain.stdout)")
        let audit = try WarrenJSON.decoder().decode(SandboxEgress.self, from: Data(try await d.cli(["egress", "--json", "git"]).stdout.utf8))
        #expect(audit.connections.contains { $0.via == "intercept" && $0.allowed && $0.host == "git.test" }, "\(audit.connections)")
        let unknown = try await d.cli(["run", "--rm", "--egress-secret", "nope", "warren-agent:latest", "--", "/bin/true"])
        #expect(unknown.status != 0 && unknown.stderr.contains("unknown egress secret 'nope'") && unknown.stderr.contains("gitcred"))
    }

    @Test("the real Claude Code CLI reaches an API host on the test host through the proxy")
    func claudeThroughProxy() async throws {
        let s = try await runBlocking { try Setup() }
        defer { s.cleanUp() }
        let d = s.daemon
        let upstream = s.dir + "/upstream"
        try FileManager.default.createDirectory(atPath: upstream, withIntermediateDirectories: true)
        let process = try await runBlocking {
            try s.net.start("/usr/bin/python3", [Fixture.path("agent-upstream.py"), "--host", s.net.address, "--port-file", upstream + "/port",
                                                 "--record", upstream + "/requests.jsonl", "--openai-key", "stand-in-key", "--anthropic-key", "stand-in-key"])
        }
        var port = 0
        for _ in 0..<200 where port == 0 {
            port = Int((try? String(contentsOfFile: upstream + "/port", encoding: .utf8)) ?? "") ?? 0
            try await Task.sleep(for: .milliseconds(25))
        }
        let listening = port
        try await runBlocking { try s.net.waitAccepting(listening, process) }
        let run = try await d.cli(["run", "-d", "--name", "claude", "--allow-host", "api.test:\(port)", "--add-host", "api.test:\(s.net.address)",
                                   "-e", "ANTHROPIC_BASE_URL=http://api.test:\(port)",
                                   "-e", "IS_SANDBOX=1", "-e", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1", "-e", "DISABLE_AUTOUPDATER=1",
                                   "warren-agent:latest", "--", "/bin/sleep", "600"])
        #expect(run.status == 0, "\(run.stderr)")
        // No provider key may enter a sandbox: this upstream takes a stand-in, given by a key helper.
        let answer = try await Self.sh(d, "claude", "mkdir -p ~/.claude && echo '{\"apiKeyHelper\": \"echo stand-in-key\"}' > ~/.claude/settings.json && cd /tmp && claude -p --output-format json --dangerously-skip-permissions -- 'Say hello' 2>&1")
        #expect(answer.status == 0 && answer.stdout.contains("\"is_error\":false"), "\(answer.stdout)")
        let requests = (try? String(contentsOfFile: upstream + "/requests.jsonl", encoding: .utf8)) ?? ""
        #expect(requests.contains("/v1/messages"), "the call went through the proxy to the test host: \(requests.prefix(500))")
        let audit = try WarrenJSON.decoder().decode(SandboxEgress.self, from: Data(try await d.cli(["egress", "--json", "claude"]).stdout.utf8))
        #expect(audit.connections.contains { $0.host == "api.test" && $0.allowed && $0.via == "http" })
    }
}
