import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import WarrenCore

/// The daemon's door to notebooks on its TCP listener: `/notebooks/<id>/...` reaches the
/// Jupyter Server in sandbox `<id>` over the socket it shares with the daemon.
///
/// Every request needs the sandbox's session cookie (from a one-time link) or the daemon's
/// bearer token. Bodies stream both ways; Jupyter's own token, XSRF and Origin checks stay
/// on: the browser signs in to Jupyter with a cookie of Jupyter's, set when the link is used.
public struct NotebookGateway: Sendable {
    let access: NotebookAccess
    /// The daemon's bearer token, when its TCP listener has one.
    let bearerToken: [UInt8]?
    /// For the daemon's sign-in to Jupyter when a link is used.
    let client: HTTPClient
    /// Connections for proxied requests, per event loop.
    let upstreams = NotebookUpstreams()
    let logger: Logger

    public init(access: NotebookAccess, bearerToken: String?, logger: Logger) {
        self.access = access
        self.bearerToken = bearerToken.map { Array($0.utf8) }
        self.logger = logger
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow, timeout: .init(connect: .seconds(10)), decompression: .disabled)
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 64)
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    public func shutdown() async {
        upstreams.close()
        try? await client.shutdown()
    }

    /// The query parameter of a one-time link.
    static let ticketParameter = "warren-ticket"

    // MARK: - HTTP

    /// Answers the requests under `/notebooks/<id>/` that the router gets: a one-time
    /// link, and a WebSocket upgrade on a reused connection. `NotebookForwardHandler`
    /// proxies every other one before it reaches the router.
    func respond(_ request: Request, sandbox: String) async throws -> Response {
        if request.headers[.upgrade]?.lowercased() == "websocket" {
            // Upgrades are taken on a connection's first request only, so send the
            // client round to a fresh one.
            return Response(status: .temporaryRedirect, headers: [.location: request.uri.string, .connection: "close"])
        }
        if let ticket = request.uri.queryParameters[Substring(Self.ticketParameter)] {
            return try await redeem(String(ticket), request: request, sandbox: sandbox)
        }
        // Only a link whose parameter name is written percent-encoded gets here.
        throw WarrenError(.invalidArgument, "a notebook link's \(Self.ticketParameter) parameter must be written plainly")
    }

    /// Spends a one-time link: sets the sandbox's session cookie, signs the browser in to
    /// Jupyter (its own login cookie, from the token the daemon holds), then sends it on
    /// to the notebook. A page rather than a redirect moves it on, so the SameSite=Strict
    /// cookie goes with the next request even when the link came from another site.
    func redeem(_ ticket: String, request: Request, sandbox: String) async throws -> Response {
        try await requireRunning(sandbox)
        guard let session = await access.redeem(ticket, for: sandbox) else {
            throw WarrenError(.unauthorized, "this notebook link was used already or has expired: run `warren notebook \(sandbox.prefix(12))` for a new one")
        }
        let prefix = NotebookPaths.prefix(sandbox)
        var headers = HTTPFields()
        headers.append(HTTPField(name: .setCookie, value: "\(NotebookAccess.cookieName)=\(session); Path=\(prefix); HttpOnly; SameSite=Strict; Max-Age=\(Int(NotebookAccess.sessionLifetime))"))
        for cookie in try await jupyterSignIn(sandbox: sandbox, host: request.head.authority) {
            headers.append(HTTPField(name: .setCookie, value: cookie))
        }
        headers[.contentType] = "text/html; charset=utf-8"
        headers[.cacheControl] = "no-store"
        headers[HTTPField.Name("Referrer-Policy")!] = "no-referrer"
        let page = """
        <!doctype html><html><head><meta charset="utf-8"><meta http-equiv="refresh" content="0; url=\(prefix)">\
        <title>Warren notebook</title></head><body><p>Signed in. <a href="\(prefix)">Open the notebook</a>.</p></body></html>
        """
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: page)))
    }

    /// Jupyter's `Set-Cookie` answers to a request made with its token: the browser then
    /// talks to Jupyter as a signed-in user, so Jupyter's XSRF check applies to it.
    func jupyterSignIn(sandbox: String, host: String?) async throws -> [String] {
        var outgoing = HTTPClientRequest(url: Self.upstreamURL(socket: access.socketPath(sandbox),
                                                               target: NotebookPaths.prefix(sandbox) + "api/me"))
        outgoing.headers.add(name: "host", value: host ?? "localhost")
        outgoing.headers.add(name: "authorization", value: "token \(access.jupyterToken(sandbox))")
        do {
            let answer = try await client.execute(outgoing, timeout: .seconds(30))
            _ = try? await answer.body.collect(upTo: 1 << 20)
            guard answer.status == .ok else {
                throw WarrenError(.badGateway, "the sandbox's notebook server refused the daemon's sign-in (\(answer.status.code))")
            }
            return answer.headers["set-cookie"].filter { !Self.isWarrenCookie($0) }
        } catch let error as WarrenError {
            throw error
        } catch {
            throw WarrenError(.badGateway, "the sandbox's notebook server did not answer: \(error)")
        }
    }

    // MARK: - Who may pass

    /// How a request proved itself.
    enum Credential: Sendable {
        /// The sandbox's session cookie: Jupyter sees the browser's own Jupyter cookies.
        case session
        /// The daemon's bearer token: Jupyter sees its token instead.
        case bearer
    }

    /// Checks the sandbox is a running notebook and the request may open it, with one
    /// visit to the access actor per request.
    @discardableResult
    func authorize(sandbox: String, headers: [(String, String)]) async throws -> Credential {
        let sessions = headers.filter { $0.0 == "cookie" }.flatMap { Self.cookieValues($0.1, named: NotebookAccess.cookieName) }
        let (availability, hasSession) = await access.admission(sandbox, sessions: sessions)
        try Self.requireRunning(sandbox, availability)
        if hasSession { return .session }
        if let token = bearerToken {
            for (name, value) in headers where name == "authorization" && value.hasPrefix("Bearer ") {
                if BearerTokenMiddleware<DaemonRequestContext>.constantTimeEqual(Array(value.utf8.dropFirst(7)), token) { return .bearer }
            }
        }
        throw WarrenError(.unauthorized, "open this notebook with a link from `warren notebook \(sandbox.prefix(12))`")
    }

    /// 404 for what never was a notebook here, 410 for one whose sandbox has stopped.
    func requireRunning(_ sandbox: String) async throws {
        try Self.requireRunning(sandbox, await access.availability(sandbox))
    }

    static func requireRunning(_ sandbox: String, _ availability: NotebookAccess.Availability) throws {
        switch availability {
        case .running: return
        case .ended: throw WarrenError(.gone, "sandbox \(sandbox.prefix(12)) has stopped: its notebook is gone")
        case .unknown: throw WarrenError(.notFound, "no notebook for sandbox \(sandbox.prefix(12))")
        }
    }

    // MARK: - Headers

    /// Request headers as Jupyter gets them: hop-by-hop ones dropped, Warren's cookie
    /// taken out, one Host, and Jupyter's token for bearer-token clients.
    func forwardedHeaders(_ headers: [(String, String)], credential: Credential, sandbox: String) -> [(String, String)] {
        let dropped = Self.dropped(headers)
        var out: [(String, String)] = []
        var host: String?
        for (name, value) in headers where !dropped.contains(name) {
            switch name {
            case "host":
                if host == nil { host = value }
            case "cookie":
                let kept = value.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
                    .filter { !$0.isEmpty && !$0.hasPrefix(NotebookAccess.cookieName + "=") }
                if !kept.isEmpty { out.append(("cookie", kept.joined(separator: "; "))) }
            case "authorization" where credential == .bearer:
                continue
            default:
                out.append((name, value))
            }
        }
        out.insert(("host", host ?? "localhost"), at: 0)
        if credential == .bearer { out.append(("authorization", "token \(access.jupyterToken(sandbox))")) }
        return out
    }

    /// Response headers as the client gets them: hop-by-hop ones dropped, and no cookie
    /// of Warren's name (a sandbox must not set or clear the daemon's session).
    static func returnedHeaders(_ headers: [(String, String)]) -> [(String, String)] {
        let dropped = dropped(headers)
        return headers.filter { name, value in
            let lower = name.lowercased()
            return !dropped.contains(lower) && !(lower == "set-cookie" && isWarrenCookie(value))
        }
    }

    /// Hop-by-hop header names of this message, those its `Connection` headers list included.
    static func dropped(_ headers: [(String, String)]) -> Set<String> {
        HopByHopHeaders.dropped(connection: headers.lazy.filter { $0.0.lowercased() == "connection" }.map(\.1))
    }

    static func isWarrenCookie(_ setCookie: String) -> Bool {
        setCookie.trimmingCharacters(in: .whitespaces).hasPrefix(NotebookAccess.cookieName + "=")
    }

    /// The values of cookie `name` in a `Cookie` header.
    static func cookieValues(_ header: String, named name: String) -> [String] {
        header.split(separator: ";").compactMap { pair in
            let trimmed = pair.trimmingCharacters(in: .whitespaces)
            guard trimmed.hasPrefix(name + "=") else { return nil }
            return String(trimmed.dropFirst(name.count + 1))
        }
    }

    static func upstreamURL(socket: String, target: String) -> String {
        let host = socket.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? socket
        return "http+unix://\(host)\(target)"
    }
}
