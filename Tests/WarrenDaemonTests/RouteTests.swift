import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing
import WarrenCore
@testable import WarrenDaemon

@Suite("HTTP routes")
struct RouteTests {
    @Test func versionHealthAndInfo() async throws {
        let h = try Harness()
        try await h.test { client in
            let version = try await client.executeRequest(uri: "/v1/version", method: .get, headers: [:], body: nil)
            #expect(version.status == .ok)
            #expect(try decode(VersionInfo.self, version.body).apiVersion == "v1")
            #expect(version.headers[.requestID] != nil)

            let health = try await client.executeRequest(uri: "/v1/health", method: .get, headers: [:], body: nil)
            #expect(try decode([String: String].self, health.body) == ["status": "ok"])

            let info = try decode(DaemonInfo.self, try await client.executeRequest(uri: "/v1/info", method: .get, headers: [:], body: nil).body)
            #expect(info.defaultDriver == "fake")
            #expect(info.drivers.map(\.name) == ["fake"])
            #expect(info.drivers[0].available)
            #expect(info.drivers[0].capabilities["seccomp"]?.status == .unsupported)
        }
    }

    @Test func createListInspectAndExitFlow() async throws {
        let h = try Harness()
        try await h.test { client in
            let created = try await client.executeRequest(uri: "/v1/sandboxes", method: .post, headers: [:],
                                                          body: try jsonBody(testSpec(name: "web")))
            #expect(created.status == .created)
            let info = try decode(SandboxInfo.self, created.body)
            #expect(info.state == .running)

            let list = try await client.executeRequest(uri: "/v1/sandboxes", method: .get, headers: [:], body: nil)
            #expect(try decode([SandboxInfo].self, list.body).map(\.id) == [info.id])
            for reference in [info.id, String(info.id.prefix(6)), "web"] {
                let got = try await client.executeRequest(uri: "/v1/sandboxes/\(reference)", method: .get, headers: [:], body: nil)
                #expect(got.status == .ok)
                #expect(try decode(SandboxInfo.self, got.body).id == info.id)
            }

            await h.driver.exit(info.id, code: 2)
            _ = try await h.waitFor(info.id, .exited)
            let running = try await client.executeRequest(uri: "/v1/sandboxes", method: .get, headers: [:], body: nil)
            #expect(try decode([SandboxInfo].self, running.body).isEmpty)
            let all = try await client.executeRequest(uri: "/v1/sandboxes?all=1", method: .get, headers: [:], body: nil)
            #expect(try decode([SandboxInfo].self, all.body).first?.exitCode == 2)

            let events = try await client.executeRequest(uri: "/v1/events", method: .get, headers: [:], body: nil)
            #expect(events.headers[.contentType] == "application/x-ndjson")
            let decoded = try decodeLines(SandboxEvent.self, events.body)
            #expect(decoded.compactMap(\.state) == [.created, .starting, .running, .exited])
            let since = try await client.executeRequest(uri: "/v1/events?since=\(decoded[1].seq)", method: .get, headers: [:], body: nil)
            #expect(try decodeLines(SandboxEvent.self, since.body).compactMap(\.state) == [.running, .exited])
        }
    }

    @Test func errorsAreJSONWithMatchingStatus() async throws {
        let h = try Harness()
        try await h.test { client in
            let missing = try await client.executeRequest(uri: "/v1/sandboxes/nope", method: .get, headers: [:], body: nil)
            #expect(missing.status == .notFound)
            #expect(try decode(WarrenError.self, missing.body) == WarrenError(.notFound, "no such sandbox: nope"))

            let malformed = try await client.executeRequest(uri: "/v1/sandboxes", method: .post, headers: [:],
                                                            body: ByteBuffer(string: "{not json"))
            #expect(malformed.status == .badRequest)
            #expect(try decode(WarrenError.self, malformed.body).code == .invalidArgument)

            let invalid = try await client.executeRequest(uri: "/v1/sandboxes", method: .post, headers: [:],
                                                          body: ByteBuffer(string: #"{"rootfs":"/tmp"}"#))
            #expect(invalid.status == .badRequest)
            #expect(try decode(WarrenError.self, invalid.body).message == "a sandbox needs a command")

            let badSince = try await client.executeRequest(uri: "/v1/events?since=x", method: .get, headers: [:], body: nil)
            #expect(badSince.status == .badRequest)

            let noRoute = try await client.executeRequest(uri: "/v1/nothing", method: .get, headers: [:], body: nil)
            #expect(noRoute.status == .notFound)
            #expect(try decode(WarrenError.self, noRoute.body).code == .notFound)
        }
    }

    @Test func stopAndRemoveOverHTTP() async throws {
        let h = try Harness()
        try await h.test { client in
            let info = try decode(SandboxInfo.self, try await client.executeRequest(
                uri: "/v1/sandboxes", method: .post, headers: [:], body: try jsonBody(testSpec())).body)

            let conflict = try await client.executeRequest(uri: "/v1/sandboxes/\(info.id)", method: .delete, headers: [:], body: nil)
            #expect(conflict.status == .conflict)
            #expect(try decode(WarrenError.self, conflict.body).code == .conflict)

            let stopped = try await client.executeRequest(uri: "/v1/sandboxes/\(info.id)/stop", method: .post, headers: [:],
                                                          body: try jsonBody(StopRequest(graceSeconds: 1.5)))
            #expect(stopped.status == .ok)
            #expect(try decode(SandboxInfo.self, stopped.body).state == .exited)
            #expect(await h.driver.stopGraces[info.id] == .milliseconds(1500))

            let removed = try await client.executeRequest(uri: "/v1/sandboxes/\(info.id)", method: .delete, headers: [:], body: nil)
            #expect(removed.status == .noContent)
            let gone = try await client.executeRequest(uri: "/v1/sandboxes/\(info.id)", method: .get, headers: [:], body: nil)
            #expect(gone.status == .notFound)
        }
    }

    @Test func forcedRemoveOfRunningSandbox() async throws {
        let h = try Harness()
        try await h.test { client in
            let info = try decode(SandboxInfo.self, try await client.executeRequest(
                uri: "/v1/sandboxes", method: .post, headers: [:], body: try jsonBody(testSpec())).body)
            let removed = try await client.executeRequest(uri: "/v1/sandboxes/\(info.id)?force=1", method: .delete, headers: [:], body: nil)
            #expect(removed.status == .noContent)
            #expect(await h.driver.calls("remove") == [info.id])
        }
    }

    @Test func logsStreamAsNDJSONWithFinalExitChunk() async throws {
        let h = try Harness()
        try await h.test { client in
            let info = try decode(SandboxInfo.self, try await client.executeRequest(
                uri: "/v1/sandboxes", method: .post, headers: [:], body: try jsonBody(testSpec())).body)
            await h.driver.write("hello\n", for: info.id)
            await h.driver.write("oops\n", to: .stderr, for: info.id)
            await h.driver.exit(info.id, code: 5)

            let follow = try await client.executeRequest(uri: "/v1/sandboxes/\(info.id)/logs?follow=1", method: .get, headers: [:], body: nil)
            let chunks = try decodeLines(OutputChunk.self, follow.body)
            #expect(chunks.map(\.stream) == ["stdout", "stderr", "exit"])
            #expect(chunks[0].bytes == Array("hello\n".utf8))
            #expect(chunks[0].time != nil)
            #expect(chunks[2].exitCode == 5)

            let plain = try await client.executeRequest(uri: "/v1/sandboxes/\(info.id)/logs", method: .get, headers: [:], body: nil)
            #expect(try decodeLines(OutputChunk.self, plain.body).map(\.stream) == ["stdout", "stderr"])
        }
    }

    @Test func execStreamsOutputEndingWithExit() async throws {
        let h = try Harness()
        try await h.test { client in
            let info = try decode(SandboxInfo.self, try await client.executeRequest(
                uri: "/v1/sandboxes", method: .post, headers: [:], body: try jsonBody(testSpec())).body)
            let exec = try await client.executeRequest(uri: "/v1/sandboxes/\(info.id)/exec", method: .post, headers: [:],
                                                       body: try jsonBody(ExecRequest(command: ["/bin/ls", "-l"])))
            #expect(exec.status == .ok)
            let chunks = try decodeLines(OutputChunk.self, exec.body)
            #expect(chunks.map(\.stream) == ["stdout", "stderr", "exit"])
            #expect(String(decoding: chunks[0].bytes, as: UTF8.self) == "ran /bin/ls -l\n")
            #expect(chunks.last?.exitCode == 3)

            let empty = try await client.executeRequest(uri: "/v1/sandboxes/\(info.id)/exec", method: .post, headers: [:],
                                                        body: ByteBuffer(string: #"{"command":[]}"#))
            #expect(empty.status == .badRequest)
        }
    }

    @Test func metricsCountRequestsAndSandboxes() async throws {
        let h = try Harness()
        try await h.test { client in
            _ = try await client.executeRequest(uri: "/v1/sandboxes", method: .post, headers: [:], body: try jsonBody(testSpec()))
            let metrics = try await client.executeRequest(uri: "/metrics", method: .get, headers: [:], body: nil)
            let text = String(buffer: metrics.body)
            #expect(text.contains("warren_sandboxes_created_total 1"))
            #expect(text.contains("warren_sandboxes_running 1"))
            #expect(text.contains(#"warren_api_requests_total{method="POST",status="201"} 1"#))
        }
    }

    @Test func bearerTokenIsRequiredWhenConfigured() async throws {
        let h = try Harness()
        let router = APIRouter.build(.init(manager: h.manager, metrics: h.metrics, dataRoot: "/tmp",
                                           bearerToken: "s3cret-token-of-some-length"))
        try await Application(router: router, logger: quietLogger).test(.router) { client in
            let none = try await client.executeRequest(uri: "/v1/health", method: .get, headers: [:], body: nil)
            #expect(none.status == .unauthorized)
            #expect(try decode(WarrenError.self, none.body).code == .unauthorized)
            let wrong = try await client.executeRequest(uri: "/v1/health", method: .get,
                                                        headers: [.authorization: "Bearer s3cret-token-of-some-lengtH"], body: nil)
            #expect(wrong.status == .unauthorized)
            let right = try await client.executeRequest(uri: "/v1/health", method: .get,
                                                        headers: [.authorization: "Bearer s3cret-token-of-some-length"], body: nil)
            #expect(right.status == .ok)
        }
    }

    @Test func constantTimeCompare() {
        typealias M = BearerTokenMiddleware<DaemonRequestContext>
        #expect(M.constantTimeEqual(Array("abc".utf8), Array("abc".utf8)))
        #expect(!M.constantTimeEqual(Array("abc".utf8), Array("abd".utf8)))
        #expect(!M.constantTimeEqual(Array("abc".utf8), Array("abcd".utf8)))
        #expect(!M.constantTimeEqual([], Array("a".utf8)))
    }
}
