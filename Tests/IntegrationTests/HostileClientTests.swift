#if canImport(Glibc)
import Glibc
#endif
import Foundation
import LinuxSupport
import Testing
import WarrenCore
import WarrenTestSupport

/// A careless or hostile API client: no input takes the daemon down, mistakes come back
/// as the client's, and connections cost the daemon a bounded amount.
@Suite("Hostile clients against the daemon", .serialized)
struct HostileClientTests {
    static func status(_ answer: String) -> Int { Int(answer.split(separator: " ").dropFirst().first ?? "") ?? 0 }

    static func errorBody(_ answer: String) -> WarrenError? {
        guard let body = answer.components(separatedBy: "\r\n\r\n").last else { return nil }
        return try? JSONDecoder().decode(WarrenError.self, from: Data(body.utf8))
    }

    static func rows(_ d: DaemonHarness) async throws -> [SandboxInfo] {
        try WarrenJSON.decoder().decode([SandboxInfo].self, from: Data(try await d.cli(["ps", "-a", "--json"]).stdout.utf8))
    }

    @Test("numbers out of range or not finite are 400s from the API and one-line errors from the CLI; the daemon stays up")
    func numbersAtTheEdge() async throws {
        let d = try await DaemonHarness.launch()
        defer { d.cleanUp() }
        let rootfs = try TestRootfs.path()
        let run = try await d.cli(["run", "-d", "--rootfs", rootfs, "--", "/bin/sleep", "1000"])
        let id = run.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let bodies: [(String, String, String)] = [
            ("POST", "/v1/sandboxes/\(id)/stop", #"{"graceSeconds": 1e306}"#),
            ("POST", "/v1/sandboxes/\(id)/stop", #"{"graceSeconds": -1}"#),
            ("POST", "/v1/sandboxes", #"{"rootfs":"\#(rootfs)","command":["true"],"llm":{"providers":["openai"]},"limits":{"timeoutSeconds":1e300}}"#),
            ("POST", "/v1/sandboxes", #"{"rootfs":"\#(rootfs)","command":["true"],"limits":{"memoryBytes":1e30}}"#),
            ("POST", "/v1/sandboxes", #"{"rootfs":"\#(rootfs)","command":["true"],"limits":{"cpus":1e308,"pids":-4}}"#),
            ("POST", "/v1/sandboxes", #"{"rootfs":"\#(rootfs)","command":["true"],"limits":{"openFiles":99999999999}}"#),
            ("POST", "/v1/sandboxes", #"{"rootfs":"\#(rootfs)","command":["true"],"consoleSize":{"rows":70000,"cols":1}}"#),
        ]
        for (method, path, body) in bodies {
            let answer = try RawConnection.request(unix: d.socket, method, path, body: body)
            #expect(Self.status(answer) == 400, "\(path) \(body): \(answer.prefix(300))")
            #expect(Self.errorBody(answer)?.code == .invalidArgument, "\(answer.suffix(300))")
        }
        #expect(try await d.cli(["version"]).status == 0, "the daemon died")
        for args in [["stop", "-t", "1e16", id], ["run", "--memory", "1e30", "--rootfs", rootfs, "--", "true"],
                     ["run", "--fsize", "1e30", "--rootfs", rootfs, "--", "true"], ["run", "--label", "=", "--rootfs", rootfs, "--", "true"],
                     ["run", "--timeout", "nan", "--rootfs", rootfs, "--", "true"], ["run", "--cpus", "inf", "--rootfs", rootfs, "--", "true"]] {
            let r = try await d.cli(args)
            #expect(r.status == 1 || r.status == 125 || r.status == 64, "\(args): \(r.status) \(r.stderr)")
            #expect(r.stderr.split(separator: "\n").count <= 3 && !r.stderr.contains("Fatal error"), "\(args): \(r.stderr)")
        }
        #expect(try await Self.rows(d).count == 1, "a refused create left a row")
        #expect(try await d.cli(["rm", "-f", id]).status == 0)
    }

    @Test("mistakes are 4xx with a clear message and leave no row; a missing command exits 127")
    func mistakes() async throws {
        let d = try await DaemonHarness.launch()
        defer { d.cleanUp() }
        let rootfs = try TestRootfs.path()
        let missing = try await d.cli(["run", "--rm", "--rootfs", rootfs, "--", "/no/such/program"])
        #expect(missing.status == 127 && missing.stderr.contains("/no/such/program"), "\(missing.status) \(missing.stderr)")
        let notInPath = try await d.cli(["run", "--rm", "--rootfs", rootfs, "--", "nosuchcommand"])
        #expect(notInPath.status == 127 && notInPath.stderr.contains("executable file not found in $PATH"), "\(notInPath.stderr)")
        let cases: [(String, Int, String)] = [
            (#"{"rootfs":"\#(rootfs)","command":["/no/such"]}"#, 404, "/no/such"),
            (#"{"rootfs":"\#(rootfs)","command":["true"],"user":"nobodyhere"}"#, 400, "unable to find user nobodyhere"),
            (#"{"rootfs":"\#(rootfs)","command":["true"],"env":["A=b\u0000c"]}"#, 400, "NUL"),
            (#"{"rootfs":"\#(rootfs)","command":["/bin/echo","a\u0000b"]}"#, 400, "NUL"),
            (#"{"rootfs":"\#(rootfs)","command":["true"],"name":"a\u0000b"}"#, 400, "invalid name"),
            (#"{"rootfs":"\#(rootfs)","command":["true"],"hostname":"evil\n127.0.0.1 bank"}"#, 400, "hostname"),
            (#"{"rootfs":"\#(rootfs)","command":"true"}"#, 400, "field 'command' must be an array"),
            (#"{"rootfs":"\#(rootfs)","command":["true"],"network":"host"}"#, 400, "field 'network' has an invalid value"),
        ]
        for (body, status, text) in cases {
            let answer = try RawConnection.request(unix: d.socket, "POST", "/v1/sandboxes", body: body)
            #expect(Self.status(answer) == status, "\(body): \(answer.prefix(300))")
            let message = Self.errorBody(answer)?.message ?? ""
            #expect(message.contains(text) && !message.contains("Swift.") && !message.contains("SandboxSpec"), "\(body): \(message)")
        }
        let big = String(repeating: "x", count: 3 << 20)
        let tooLarge = try RawConnection.request(unix: d.socket, "POST", "/v1/sandboxes", body: #"{"command":["\#(big)"]}"#)
        #expect(Self.status(tooLarge) == 413 && Self.errorBody(tooLarge)?.code == .payloadTooLarge, "\(tooLarge.prefix(300))")
        let tooLargeMessage = Self.errorBody(tooLarge)?.message ?? "Swift"
        #expect(!tooLargeMessage.contains("Swift"), "\(tooLargeMessage)")
        #expect(try await Self.rows(d).isEmpty, "a refused create left a row")
    }

    @Test("the TCP listener answers unreadable requests with 400 and closes them")
    func malformedRequests() async throws {
        let port = freeLocalPort()
        let d = try await DaemonHarness.launch(daemonArguments: ["--listen", "127.0.0.1:\(port)"])
        defer { d.cleanUp() }
        let requests: [[UInt8]] = [
            Array("GET /v1/version HTTP/1.1\r\nHost: a\u{0}b\r\n\r\n".utf8),
            [0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03] + [UInt8](repeating: 0, count: 64),
            Array("POST /v1/sandboxes HTTP/1.1\r\nHost: a\r\nContent-Length: -5\r\n\r\n".utf8),
            Array(("GET /v1/version HTTP/1.1\r\nX-Long: " + String(repeating: "a", count: 1 << 20) + "\r\n\r\n").utf8),
        ]
        for bytes in requests {
            let c = try RawConnection(port: port)
            try? c.send(bytes)
            let (text, closed) = c.receiveAll()
            #expect(text.hasPrefix("HTTP/1.1 400") && closed, "\(String(bytes.prefix(40).map { Character(UnicodeScalar($0)) })): \(text.prefix(80)) closed \(closed)")
        }
        #expect(try await d.cli(["version"]).status == 0)
    }

    @Test("silent and idle connections are closed; 300 from one peer cannot starve a 256-descriptor daemon")
    func connectionsAreBounded() async throws {
        let port = freeLocalPort()
        let d = try await DaemonHarness.launch(daemonArguments: ["--listen", "127.0.0.1:\(port)", "--header-timeout", "2", "--idle-timeout", "3"],
                                  fileLimit: 256)
        defer { d.cleanUp() }
        let pid = try #require(d.process?.processIdentifier)
        let baseline = openDescriptors(pid)
        var held: [RawConnection] = []
        for _ in 0..<300 { if let c = try? RawConnection(port: port) { held.append(c) } }
        // Root's CLI on the socket is served while they are open.
        let ps = try await d.cli(["ps"])
        #expect(ps.status == 0, "\(ps.stderr)")
        // The connections past the per-peer cap are refused and closed as they come; under
        // load that may lag a little behind the test's 300 connects.
        for _ in 0..<50 where openDescriptors(pid) >= baseline + 100 { try await Task.sleep(for: .milliseconds(100)) }
        #expect(openDescriptors(pid) < baseline + 100, "the daemon holds \(openDescriptors(pid)) descriptors")
        // Silent connections are closed once their header timeout passes.
        var open = openDescriptors(pid)
        for _ in 0..<150 where open > baseline + 4 {
            try await Task.sleep(for: .milliseconds(100))
            open = openDescriptors(pid)
        }
        #expect(open <= baseline + 4, "\(open) open, \(baseline) before")
        held.removeAll()
        // A kept-alive connection is closed after the idle timeout; a follower is not.
        let keep = try RawConnection(port: port)
        try keep.send("GET /v1/version HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(String(decoding: keep.receive() ?? [], as: UTF8.self).hasPrefix("HTTP/1.1 200"))
        let follower = try RawConnection(port: port)
        try follower.send("GET /v1/events?follow=1 HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(String(decoding: follower.receive() ?? [], as: UTF8.self).hasPrefix("HTTP/1.1 200"))
        keep.setTimeout(15)
        #expect(keep.receive() == [], "an idle connection was kept")
        // The follower, opened at the same time, is past its idle timeout as well by now.
        try await Task.sleep(for: .seconds(2))
        let run = try await d.cli(["run", "--rm", "--rootfs", try TestRootfs.path(), "--", "true"])
        #expect(run.status == 0, "\(run.stderr)")
        follower.setTimeout(3)
        #expect((follower.receive() ?? []).count > 0, "the follower was cut off")
    }

    @Test("abandoned log and event followers release everything they held")
    func abandonedFollowers() async throws {
        let d = try await DaemonHarness.launch()
        defer { d.cleanUp() }
        let run = try await d.cli(["run", "-d", "--rootfs", try TestRootfs.path(), "--", "/bin/sh", "-c", "echo hi; sleep 1000"])
        let id = run.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let pid = try #require(d.process?.processIdentifier)
        _ = try await d.cli(["ps"])
        let baseline = openDescriptors(pid)
        var followers: [RawConnection] = []
        for i in 0..<100 {
            let c = try RawConnection(unix: d.socket)
            let target = i % 2 == 0 ? "/v1/events?follow=1" : "/v1/sandboxes/\(id)/logs?follow=1"
            try c.send("GET \(target) HTTP/1.1\r\nHost: a\r\n\r\n")
            #expect(String(decoding: c.receive() ?? [], as: UTF8.self).hasPrefix("HTTP/1.1 200"))
            followers.append(c)
        }
        #expect(openDescriptors(pid) >= baseline + 100)
        followers.removeAll()
        var now = openDescriptors(pid)
        for _ in 0..<150 where now > baseline + 4 {
            try await Task.sleep(for: .milliseconds(100))
            now = openDescriptors(pid)
        }
        // A few may come and go with the daemon's own work; a leak would be a hundred.
        #expect(now <= baseline + 4, "\(now) descriptors open, \(baseline) before the followers")
        _ = try await d.cli(["rm", "-f", id])
    }

    @Test("16 MiB of blank lines on an exec's input are skipped, and the line after them arrives")
    func execInputFraming() async throws {
        let d = try await DaemonHarness.launch()
        defer { d.cleanUp() }
        let run = try await d.cli(["run", "-d", "--rootfs", try TestRootfs.path(), "--", "/bin/sleep", "1000"])
        let id = run.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let c = try RawConnection(unix: d.socket)
        c.setTimeout(60)
        let first = #"{"command":["/bin/cat"],"stdin":true}"# + "\n"
        let last = #"{"stdin":"\#(Data("after the blanks\n".utf8).base64EncodedString())"}"# + "\n" + #"{"eof":true}"# + "\n"
        let blanks = [UInt8](repeating: UInt8(ascii: "\n"), count: 16 << 20)
        let body = Array(first.utf8) + blanks + Array(last.utf8)
        try c.send("POST /v1/sandboxes/\(id)/exec HTTP/1.1\r\nHost: a\r\nContent-Type: application/x-ndjson\r\nContent-Length: \(body.count)\r\nConnection: close\r\n\r\n")
        try c.send(body)
        let answer = c.receiveAll().text
        let chunks = RawConnection.bodyLines(answer, as: OutputChunk.self, decoder: WarrenJSON.decoder())
        let out = chunks.filter { $0.stream == "stdout" }.map { String(decoding: $0.bytes, as: UTF8.self) }.joined()
        #expect(out == "after the blanks\n", "\(answer.prefix(400))")
        #expect(chunks.last?.exitCode == 0)
        _ = try await d.cli(["rm", "-f", id])
    }

    @Test("over TCP host paths are refused and archives stream both ways; skopeo reads the export")
    func imagesOverTCP() async throws {
        let port = freeLocalPort()
        let token = "t-" + String(repeating: "x", count: 30)
        let tokenFile = NSTemporaryDirectory() + "warren-token-\(UUID().uuidString.prefix(8))"
        try token.write(toFile: tokenFile, atomically: true, encoding: .utf8)
        defer { unlink(tokenFile) }
        let d = try await DaemonHarness.launch(daemonArguments: ["--listen", "127.0.0.1:\(port)", "--token-file", tokenFile])
        defer { d.cleanUp() }
        let layout = try ImageCLITests.umociLayout(in: d.dir)
        func tcp(_ method: String, _ path: String, _ body: String) async throws -> String {
            let c = try RawConnection(port: port)
            try c.send("\(method) \(path) HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer \(token)\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)")
            return c.receiveAll().text
        }
        let importByPath = try await tcp("POST", "/v1/images/import", #"{"path":"\#(layout)","tag":"x:1"}"#)
        #expect(Self.status(importByPath) == 403 && importByPath.contains("not accepted over TCP"), "\(importByPath.prefix(300))")
        d.cliEnvironment = ["WARREN_HOST": "http://127.0.0.1:\(port)", "WARREN_TOKEN": token]
        let imported = try await d.cli(["image", "import", "--tag", "agent:tcp", layout])
        #expect(imported.status == 0 && imported.stdout.contains("agent:tcp"), "\(imported.stderr)")
        let exportByPath = try await tcp("POST", "/v1/images/agent:tcp/export", #"{"path":"/tmp/warren-should-not-exist"}"#)
        #expect(Self.status(exportByPath) == 403, "\(exportByPath.prefix(300))")
        #expect(!FileManager.default.fileExists(atPath: "/tmp/warren-should-not-exist"))
        let exported = try await d.cli(["image", "export", "agent:tcp", d.dir + "/out"])
        #expect(exported.status == 0, "\(exported.stderr)")
        let raw = try await TestRootfs.run("/usr/bin/skopeo", ["inspect", "--raw", "oci:\(d.dir)/out:docker.io/library/agent:tcp"])
        #expect(raw.contains("\"layers\""), "\(raw)")
    }

    @Test("with a token, answers given before any credential check (a notebook that is not there) keep the peer counted")
    func unauthenticatedAnswersKeepTheCount() async throws {
        let port = freeLocalPort()
        let tokenFile = NSTemporaryDirectory() + "warren-token-\(UUID().uuidString.prefix(8))"
        try String(repeating: "k", count: 32).write(toFile: tokenFile, atomically: true, encoding: .utf8)
        defer { unlink(tokenFile) }
        let d = try await DaemonHarness.launch(daemonArguments: ["--listen", "127.0.0.1:\(port)", "--token-file", tokenFile, "--header-timeout", "30"])
        defer { d.cleanUp() }
        var held: [RawConnection] = []
        for i in 0..<64 {
            let c = try RawConnection(port: port)
            try c.send("GET /notebooks/nothing\(i)/ HTTP/1.1\r\nHost: a\r\n\r\n")
            let answer = String(decoding: c.receive() ?? [], as: UTF8.self)
            #expect(answer.hasPrefix("HTTP/1.1 404") || answer.hasPrefix("HTTP/1.1 401"), "\(answer.prefix(60))")
            held.append(c)
        }
        let extra = try RawConnection(port: port)
        extra.setTimeout(3)
        try? extra.send("GET /v1/version HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(extra.receive() ?? [] == [], "a 65th unauthenticated connection was served")
        held.removeAll()
        #expect(try await d.cli(["ps"]).status == 0, "the socket is served throughout")
    }
}
