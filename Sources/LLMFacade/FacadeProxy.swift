import Foundation
import Logging
import NIOCore
import NIOHTTP1
import WarrenCore

/// The facade's forwarding core, shared by every listener: the upstreams and their keys,
/// the accounts, the rate windows and the pooled upstream connections. Each call is a
/// `FacadeExchange`; this type holds what they share and how messages are rewritten.
public final class FacadeProxy: Sendable {
    public let upstreams: FacadeUpstreams
    public let accounts: FacadeAccounts
    let rate = RequestRateWindow()
    let connections = UpstreamConnections()
    /// Providers with a key, and where their calls go.
    let endpoints: [LLMProvider: (endpoint: UpstreamEndpoint, key: String)]
    let logger: Logger
    /// Largest request body accepted.
    public static let requestLimit = 32 << 20
    static let unauthenticated = "invalid, expired or revoked Warren LLM token"

    public init(upstreams: FacadeUpstreams, accounts: FacadeAccounts, logger: Logger) {
        self.upstreams = upstreams
        self.accounts = accounts
        self.logger = logger
        var endpoints: [LLMProvider: (endpoint: UpstreamEndpoint, key: String)] = [:]
        for (provider, upstream) in upstreams.upstreams {
            if let key = upstream.key, let endpoint = UpstreamEndpoint(baseURL: upstream.baseURL) {
                endpoints[provider] = (endpoint, key)
            }
        }
        self.endpoints = endpoints
    }

    /// Closes the idle upstream connections and writes out what is still queued.
    public func shutdown() async {
        connections.closeAll()
        await accounts.flush()
    }

    /// Forgets everything held for a sandbox whose tokens were revoked.
    public func forget(sandboxID: String) {
        accounts.forget(sandboxID: sandboxID)
        rate.forget(sandboxID)
    }

    // MARK: - Rewriting

    /// The token from `Authorization: Bearer` or `x-api-key`.
    static func clientToken(_ headers: HTTPHeaders) -> String? {
        if let authorization = headers.first(name: "authorization") {
            let parts = authorization.split(separator: " ", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "bearer" { return parts[1].trimmingCharacters(in: .whitespaces) }
        }
        return headers.first(name: "x-api-key")?.trimmingCharacters(in: .whitespaces)
    }

    /// Request headers never passed upstream besides the hop-by-hop ones: the client's
    /// credentials, and account selectors that would let a sandbox pick another account on
    /// the daemon's key.
    static let neverForwarded: Set<String> = [
        "host", "content-length", "expect", "authorization", "x-api-key", "accept-encoding", "cookie",
        "openai-organization", "openai-project",
    ]

    /// The request as the upstream gets it: its own host, the real key, the client's
    /// other end-to-end headers (`anthropic-version` and `anthropic-beta` among them) unchanged.
    static func upstreamHead(_ request: HTTPRequestHead, route: FacadeRoute, endpoint: UpstreamEndpoint, key: String,
                             bodyLength: Int?) -> HTTPRequestHead {
        var uri = endpoint.pathPrefix + route.path
        if let query = request.uri.firstIndex(of: "?").map({ request.uri[$0...] }), query.count > 1 { uri += query }
        var headers = HTTPHeaders()
        headers.reserveCapacity(request.headers.count + 4)
        headers.add(name: "host", value: endpoint.hostHeader)
        let dropped = HopByHopHeaders.dropped(connection: request.headers["connection"]).union(neverForwarded)
        for (name, value) in request.headers where !dropped.contains(name.lowercased()) {
            headers.add(name: name, value: value)
        }
        headers.add(name: "accept-encoding", value: "identity")
        switch route.provider {
        case .openai: headers.add(name: "authorization", value: "Bearer \(key)")
        case .anthropic: headers.add(name: "x-api-key", value: key)
        }
        if let bodyLength { headers.add(name: "content-length", value: String(bodyLength)) }
        return HTTPRequestHead(version: .http1_1, method: request.method, uri: uri, headers: headers)
    }

    /// The upstream's answer head as the client gets it: status and end-to-end headers; the
    /// framing is the client connection's own.
    static func downstreamHead(_ answer: HTTPResponseHead, version: HTTPVersion) -> HTTPResponseHead {
        var headers = HTTPHeaders()
        headers.reserveCapacity(answer.headers.count)
        let dropped = HopByHopHeaders.dropped(connection: answer.headers["connection"])
        for (name, value) in answer.headers where !dropped.contains(name.lowercased()) {
            headers.add(name: name, value: value)
        }
        return HTTPResponseHead(version: version, status: answer.status, headers: headers)
    }

    /// The facade's own answer, in the provider's error format.
    static func refusalResponse(_ refusal: FacadeRefusal, _ provider: LLMProvider, status: HTTPResponseStatus? = nil,
                                version: HTTPVersion) -> (HTTPResponseHead, ByteBuffer) {
        let body = ByteBuffer(bytes: refusal.body(for: provider))
        var headers = HTTPHeaders([("content-type", "application/json"), ("content-length", String(body.readableBytes))])
        // A client refused an upgrade must not try again on this connection.
        if status == .upgradeRequired { headers.add(name: "connection", value: "close") }
        return (HTTPResponseHead(version: version, status: status ?? .init(statusCode: refusal.status), headers: headers), body)
    }
}
