import Foundation
import Logging
import NIOHTTP1
import Testing
import WarrenCore
@testable import WarrenDaemon

@Suite("Notebook access and proxy headers")
struct NotebookAccessTests {
    static func access() throws -> (NotebookAccess, String) {
        let root = "/tmp/warren-nb-unit-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        return (try NotebookAccess(dataRoot: root), root)
    }

    static let a = String(repeating: "a", count: 64)
    static let b = String(repeating: "b", count: 64)

    @Test func ticketsWorkOnceAndOnlyForTheirSandbox() async throws {
        let (access, root) = try Self.access()
        defer { try? FileManager.default.removeItem(atPath: root) }
        await access.opened(Self.a)
        let (ticket, expires) = await access.issueTicket(Self.a)
        #expect(ticket.hasPrefix("wrn_nbt_") && ticket.count >= 8 + 43)
        #expect(expires > Date())
        #expect(await access.redeem(ticket, for: Self.b) == nil, "a ticket for A does not open B")
        #expect(await access.redeem(ticket, for: Self.a) == nil, "a ticket tried once is spent")

        let (second, _) = await access.issueTicket(Self.a)
        let session = try #require(await access.redeem(second, for: Self.a))
        #expect(await access.redeem(second, for: Self.a) == nil)
        #expect(await access.isSession(session, for: Self.a))
        #expect(!(await access.isSession(session, for: Self.b)))
        #expect(!(await access.isSession(session + "x", for: Self.a)))
        let admitted = await access.admission(Self.a, sessions: ["wrn_nbs_other", session])
        #expect(admitted.0 == .running && admitted.1, "any of a request's cookie values may be the session")
        #expect(!(await access.admission(Self.b, sessions: [session])).1)

        await access.close(Self.a)
        #expect(!(await access.isSession(session, for: Self.a)), "a stopped sandbox's sessions end")
        #expect(await access.availability(Self.a) == .ended)
        #expect(await access.availability(Self.b) == .unknown)
    }

    @Test func jupyterTokenIsStablePerSandboxAndKeyedByTheDaemon() throws {
        let (first, root) = try Self.access()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let again = try NotebookAccess(dataRoot: root)
        #expect(first.jupyterToken(Self.a) == again.jupyterToken(Self.a), "the key in the data root survives a restart")
        #expect(first.jupyterToken(Self.a) != first.jupyterToken(Self.b))
        let (other, otherRoot) = try Self.access()
        defer { try? FileManager.default.removeItem(atPath: otherRoot) }
        #expect(other.jupyterToken(Self.a) != first.jupyterToken(Self.a))
        let mode = try FileManager.default.attributesOfItem(atPath: root + "/notebook.key")[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }

    @Test func guestGetsTheLauncherEnvironmentAndTheSharedDirectory() throws {
        let (access, root) = try Self.access()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let (env, mount) = try access.prepareGuest(Self.a)
        #expect(env.contains("WARREN_NOTEBOOK_BASE_URL=/notebooks/\(Self.a)/"))
        #expect(env.contains("WARREN_NOTEBOOK_SOCKET=\(NotebookPaths.guestSocket)"))
        #expect(env.contains("JUPYTER_TOKEN=\(access.jupyterToken(Self.a))"))
        #expect(mount.destination == NotebookPaths.guestDirectory && !mount.readOnly)
        #expect(FileManager.default.fileExists(atPath: mount.source))
    }

    static func gateway() throws -> (NotebookGateway, String) {
        let (access, root) = try Self.access()
        return (NotebookGateway(access: access, bearerToken: "daemon-token-0123456789", logger: Logger(label: "test")), root)
    }

    @Test func forwardedHeadersDropWarrensCookieAndHopByHopAndKeepOneHost() async throws {
        let (gateway, root) = try Self.gateway()
        defer { try? FileManager.default.removeItem(atPath: root) }
        defer { Task { await gateway.shutdown() } }
        let incoming: [(String, String)] = [
            ("host", "127.0.0.1:7000"), ("host", "evil.example"), ("connection", "keep-alive, x-secret"),
            ("x-secret", "1"), ("keep-alive", "timeout=5"), ("transfer-encoding", "chunked"),
            ("cookie", "_xsrf=abc; warren-notebook=wrn_nbs_s3cret; username-x=y"),
            ("authorization", "Bearer daemon-token-0123456789"), ("x-xsrftoken", "abc"),
        ]
        let session = gateway.forwardedHeaders(incoming, credential: .session, sandbox: Self.a)
        #expect(session.filter { $0.0 == "host" }.map(\.1) == ["127.0.0.1:7000"])
        #expect(session.first { $0.0 == "cookie" }?.1 == "_xsrf=abc; username-x=y")
        #expect(!session.contains { ["connection", "keep-alive", "transfer-encoding", "x-secret"].contains($0.0) })
        #expect(session.contains { $0 == ("x-xsrftoken", "abc") })

        let bearer = gateway.forwardedHeaders(incoming, credential: .bearer, sandbox: Self.a)
        #expect(bearer.filter { $0.0 == "authorization" }.map(\.1) == ["token \(gateway.access.jupyterToken(Self.a))"],
                "the daemon's token never reaches the sandbox")
    }

    @Test func returnedHeadersNeverLetTheSandboxSetWarrensCookie() {
        let returned = NotebookGateway.returnedHeaders([
            ("Set-Cookie", "warren-notebook=forged; Path=/"), ("Set-Cookie", "_xsrf=1; Path=/notebooks/x/"),
            ("Connection", "close"), ("Content-Type", "text/html"),
        ])
        #expect(returned.map(\.0) == ["Set-Cookie", "Content-Type"])
        #expect(returned.first?.1 == "_xsrf=1; Path=/notebooks/x/")
    }

    @Test func sameOriginAndPaths() {
        #expect(NotebookGateway.isSameOrigin("http://127.0.0.1:7000", host: "127.0.0.1:7000"))
        #expect(NotebookGateway.isSameOrigin("http://example.com", host: "example.com:80"))
        #expect(!NotebookGateway.isSameOrigin("http://evil.example", host: "127.0.0.1:7000"))
        #expect(!NotebookGateway.isSameOrigin("http://127.0.0.1:7001", host: "127.0.0.1:7000"))
        #expect(!NotebookGateway.isSameOrigin("null", host: "127.0.0.1:7000"))
        #expect(NotebookGateway.sandbox(inPath: "/notebooks/\(Self.a)/api/kernels?x=1") == Self.a)
        #expect(NotebookGateway.sandbox(inPath: "/notebooks/") == nil)
        #expect(NotebookGateway.sandbox(inPath: "/v1/version") == nil)
        #expect(NotebookGateway.cookieValues("a=1; warren-notebook=x; warren-notebook=y", named: "warren-notebook") == ["x", "y"])
    }

    @Test func forwardHandlerTakesNotebookRequestsButNotLinksOrUpgrades() {
        func head(_ uri: String, _ headers: [(String, String)] = []) -> HTTPRequestHead {
            HTTPRequestHead(version: .http1_1, method: .GET, uri: uri, headers: HTTPHeaders(headers))
        }
        #expect(NotebookForwardHandler.takes(head("/notebooks/\(Self.a)/api/status")))
        #expect(NotebookForwardHandler.takes(head("/notebooks/\(Self.a)/tree?path=x&my-warren-ticket=1")))
        // One-time links and upgrades on a reused connection are the router's.
        #expect(!NotebookForwardHandler.takes(head("/notebooks/\(Self.a)/?warren-ticket=wrn_nbt_x")))
        #expect(!NotebookForwardHandler.takes(head("/notebooks/\(Self.a)/lab?x=1&warren-ticket=wrn_nbt_x")))
        #expect(!NotebookForwardHandler.takes(head("/notebooks/\(Self.a)/api/events/subscribe", [("Upgrade", "WebSocket")])))
        // Not a notebook's path at all.
        #expect(!NotebookForwardHandler.takes(head("/notebooks/")))
        #expect(!NotebookForwardHandler.takes(head("/v1/sandboxes")))
    }
}
