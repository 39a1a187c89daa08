import Foundation
import LinuxSupport
import Testing
import WarrenCore
import WarrenTestSupport

/// A real Jupyter Server and ipykernel in the warren-jupyter guest image, reached through
/// the daemon's `/notebooks/<id>/` proxy by a browser-like client (requests and
/// websocket-client): sign-in links, cookies, Jupyter's XSRF and Origin checks, kernel and
/// terminal WebSockets, large frames and files, and what happens when the sandbox stops.
@Suite("Notebooks through the daemon", .serialized)
struct NotebookProxyTests {
    /// A daemon with a TCP listener and the guest image imported.
    static func daemon() async throws -> (DaemonHarness, port: Int) {
        let archive = try await runBlocking { try JupyterGuestImage.path() }
        let port = try TestRegistry.freePort()
        let d = try await DaemonHarness.launch(daemonArguments: ["--listen", "127.0.0.1:\(port)"])
        let imported = try await d.cli(["image", "import", archive, "--tag", "warren-jupyter:test"])
        guard imported.status == 0 else {
            d.cleanUp()
            throw HarnessError("cannot import the guest image: \(imported.stderr)")
        }
        return (d, port)
    }

    /// Removes every sandbox (a stopped daemon would leave native ones running), then the daemon.
    static func removeAll(_ d: DaemonHarness) {
        for id in (try? d.cliBlocking(["ps", "-q"]).stdout.split(separator: "\n")) ?? [] { _ = try? d.cliBlocking(["rm", "-f", String(id)]) }
        d.cleanUp()
    }

    static func startNotebook(_ d: DaemonHarness, driver: String? = nil) async throws -> String {
        let run = try await d.cli(["run", "-d", "--notebook"] + (driver.map { ["--driver", $0] } ?? []) + ["warren-jupyter:test"])
        guard run.status == 0 else { throw HarnessError("run --notebook failed: \(run.stderr)") }
        #expect(run.stderr.contains("warren notebook"), "run -d --notebook says how to open it")
        return run.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func link(_ d: DaemonHarness, _ id: String) async throws -> String {
        let r = try await d.cli(["notebook", id])
        guard r.status == 0 else { throw HarnessError("warren notebook failed: \(r.stderr)") }
        return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test("native: one-time link, kernel and terminal WebSockets, XSRF/Origin/cookie checks, 64 MiB frames, 50 MB files, stop")
    func nativeNotebook() async throws {
        let (d, port) = try await Self.daemon()
        defer { Self.removeAll(d) }
        let a = try await Self.startNotebook(d)
        let b = try await Self.startNotebook(d)
        let link = try await Self.link(d, a)
        #expect(link.hasPrefix("http://127.0.0.1:\(port)/notebooks/\(a)/?warren-ticket=wrn_nbt_"))

        let facts = try await NotebookClient.run(["tour", link, NotebookPaths.prefix(b)])
        #expect(facts["unauthenticated"] as? Int == 401)
        #expect(facts["unauthenticated_ws"] as? Int == 401)
        #expect(facts["unknown_sandbox"] as? Int == 404)
        #expect(facts["unknown_sandbox_ws"] as? Int == 404)
        #expect(facts["link"] as? Int == 200)
        let cookie = (facts["set_cookie"] as? [String])?.first ?? ""
        #expect(cookie.contains("Path=\(NotebookPaths.prefix(a));"))
        #expect(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"))
        #expect(facts["link_again"] as? Int == 401, "a link works once")
        #expect(facts["status"] as? Int == 200)
        #expect(facts["has_xsrf_cookie"] as? Bool == true)
        #expect(facts["post_without_xsrf"] as? Int == 403, "Jupyter's XSRF check is on behind the proxy")
        #expect(facts["kernel_started"] as? Bool == true)
        #expect(facts["kernel_subprotocol"] as? String == "v1.kernel.websocket.jupyter.org", "the upstream picks the subprotocol")
        #expect(facts["kernel_output"] as? String == "42\n")
        #expect(facts["kernel_large_input"] as? String == "\(64 << 20)", "a 64 MiB frame goes through whole")
        #expect(facts["foreign_origin_ws"] as? Int == 403)
        #expect((facts["foreign_origin_post"] as? Int).map { $0 == 403 || $0 == 404 } == true, "Jupyter blocks cross-origin API calls")
        #expect(facts["terminal_output_has_42"] as? Bool == true)
        #expect(facts["cross_sandbox"] as? Int == 401, "A's cookie does not open B")
        #expect(facts["cross_sandbox_ws"] as? Int == 401)

        let files = try await NotebookClient.run(["files", try await Self.link(d, a), "50"])
        #expect(files["upload"] as? Int == 201)
        #expect(files["download"] as? Int == 200)
        #expect(files["size"] as? Int == 50 << 20)
        #expect(files["same"] as? Bool == true)

        // JSON output and a sandbox without a notebook.
        let json = try await d.cli(["notebook", "--json", b])
        let parsed = try WarrenJSON.decoder().decode(NotebookLink.self, from: Data(json.stdout.utf8))
        #expect(parsed.id == b && parsed.url.hasSuffix(parsed.path) && parsed.expiresAt > Date())
        let plain = try await d.cli(["run", "-d", "--rootfs", try TestRootfs.path(), "--", "/bin/sleep", "100"])
        let refused = try await d.cli(["notebook", plain.stdout.trimmingCharacters(in: .whitespacesAndNewlines)])
        #expect(refused.status != 0 && refused.stderr.contains("runs no notebook"), "\(refused.stderr)")

        try await Self.stopClosesConnections(d, a, port: port)
    }

    /// An open kernel WebSocket ends when its sandbox stops, and the URL then answers 410.
    static func stopClosesConnections(_ d: DaemonHarness, _ id: String, port: Int) async throws {
        let python = try await runBlocking { try PythonSDKs.path() } + "/bin/python"
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: python)
        holder.arguments = [Fixture.path("notebook-client.py"), "hold", try await link(d, id)]
        let out = Pipe()
        holder.standardOutput = out
        try holder.run()
        let reader = out.fileHandleForReading
        var text = ""
        while !text.contains("\n") {
            let chunk = reader.availableData
            if chunk.isEmpty { break }
            text += String(decoding: chunk, as: UTF8.self)
        }
        #expect(text.contains("\"open\": true"), "the WebSocket opened: \(text)")
        #expect(try await d.cli(["stop", "-t", "5", id]).status == 0)
        text += String(decoding: reader.readDataToEndOfFile(), as: UTF8.self)
        try await runBlocking { holder.waitForExit() }
        #expect(text.contains("\"ended\": \"close frame\"") || text.contains("\"ended\": \"connection closed\""), "\(text)")
        let after = try await NotebookClient.run(["status", "http://127.0.0.1:\(port)" + NotebookPaths.prefix(id) + "api/status"])
        #expect(after["status"] as? Int == 410, "a stopped sandbox's notebook is gone")
    }

    @Test("Docker: the same notebook image through the Docker driver, kernel and files through the proxy")
    func dockerNotebook() async throws {
        let (d, port) = try await Self.daemon()
        defer { Self.removeAll(d) }
        let id = try await Self.startNotebook(d, driver: "docker")
        let facts = try await NotebookClient.run(["tour", try await Self.link(d, id)])
        #expect(facts["link"] as? Int == 200)
        #expect(facts["post_without_xsrf"] as? Int == 403)
        #expect(facts["kernel_output"] as? String == "42\n")
        #expect(facts["terminal_output_has_42"] as? Bool == true)
        #expect(facts["foreign_origin_ws"] as? Int == 403)
        let files = try await NotebookClient.run(["files", try await Self.link(d, id), "5"])
        #expect(files["same"] as? Bool == true)
        try await Self.stopClosesConnections(d, id, port: port)
    }

    @Test("a daemon without a TCP listener says where notebooks are served; --notebook with -t is refused")
    func noListener() async throws {
        let d = try await DaemonHarness.launch()
        defer { Self.removeAll(d) }
        let run = try await d.cli(["run", "-d", "--notebook", "--rootfs", try TestRootfs.path(), "--", "/bin/sleep", "100"])
        #expect(run.status == 0, "\(run.stderr)")
        let r = try await d.cli(["notebook", run.stdout.trimmingCharacters(in: .whitespacesAndNewlines)])
        #expect(r.status != 0)
        #expect(r.stderr.contains("--listen"), "\(r.stderr)")
        let tty = try await d.cli(["run", "-t", "--notebook", "--rootfs", try TestRootfs.path()])
        #expect(tty.status != 0 && tty.stderr.contains("--notebook"), "\(tty.stderr)")
    }
}
