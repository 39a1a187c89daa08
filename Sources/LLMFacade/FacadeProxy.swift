import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import WarrenCore

/// A header field (HTTPTypes' `HTTPField`, which Hummingbird exports only through `HTTPFields`).
typealias HeaderField = HTTPFields.Element

/// One facade endpoint: which provider answers it and whether its calls count as usage.
public struct FacadeRoute: Sendable, Equatable {
    public var provider: LLMProvider
    /// The upstream path, `/v1/chat/completions` and so on.
    public var path: String
    /// Generation calls count against request budgets and usage; listings and token counts do not.
    public var metered: Bool
}

/// Forwards one client call to its provider: authenticates the sandbox's token, applies
/// the grant's policy, swaps the token for the real key and passes the answer back as it
/// arrives, reading usage on the way.
public struct FacadeProxy: Sendable {
    public let upstreams: FacadeUpstreams
    public let accounts: FacadeAccounts
    let rate = RequestRateWindow()
    let client: HTTPClient
    let logger: Logger
    /// Largest request body accepted.
    static let requestLimit = 32 << 20

    public init(upstreams: FacadeUpstreams, accounts: FacadeAccounts, logger: Logger) {
        self.upstreams = upstreams
        self.accounts = accounts
        self.logger = logger
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            timeout: .init(connect: .seconds(10), read: .seconds(600)),
            decompression: .disabled)
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 256)
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    public func shutdown() async {
        try? await client.shutdown()
    }

    /// Forgets everything held for a sandbox whose tokens were revoked.
    public func forget(sandboxID: String) async {
        await accounts.forget(sandboxID: sandboxID)
        await rate.forget(sandboxID)
    }

    /// Answers `request` for `route`. `listener` is the sandbox whose own listener took
    /// the call (nil on the daemon's socket): a token of another sandbox is refused there.
    public func forward(_ request: Request, route: FacadeRoute, listener: String?) async -> Response {
        let started = ContinuousClock.now
        guard let token = Self.clientToken(request.headers),
              let grant = await accounts.grant(for: token),
              listener == nil || listener == grant.sandboxID else {
            return Self.refusal(FacadeRefusal(.unauthenticated, "invalid, expired or revoked Warren LLM token"), route.provider)
        }
        var call = LLMCallRecord(sandboxID: grant.sandboxID, provider: route.provider.rawValue, model: "",
                                 endpoint: route.path, status: 0, latencyMs: 0)
        do {
            let body = try await Self.collectBody(request)
            let fields = try Self.requestFields(body, method: request.method)
            call.model = fields.model ?? ""
            guard let upstream = upstreams.upstreams[route.provider], let key = upstream.key else {
                throw FacadeRefusal(.providerNotConfigured, "the Warren daemon holds no \(route.provider.rawValue) key")
            }
            try await accounts.admit(grant, provider: route.provider, model: fields.model, metered: route.metered)
            try await rate.admit(grant.sandboxID, limit: grant.requestsPerMinute)
            let outgoing = Self.upstreamRequest(request, body: body, route: route, upstream: upstream, key: key)
            let answer: HTTPClientResponse
            do {
                answer = try await client.execute(outgoing, timeout: .seconds(600))
            } catch {
                logger.warning("LLM upstream unreachable", metadata: ["provider": "\(route.provider.rawValue)", "error": "\(error)"])
                throw FacadeRefusal(.upstreamUnavailable, "the \(route.provider.rawValue) upstream cannot be reached")
            }
            call.status = Int(answer.status.code)
            return relay(answer, call: call, streaming: fields.stream, route: route, started: started)
        } catch let refusal as FacadeRefusal {
            call.status = refusal.status
            call.latencyMs = Self.milliseconds(since: started)
            let record = call
            Task { await accounts.record(record, metered: false) }
            return Self.refusal(refusal, route.provider)
        } catch {
            return Self.refusal(FacadeRefusal(.badRequest, "\(error)"), route.provider)
        }
    }

    /// The upstream's answer, passed on chunk by chunk as it arrives.
    private func relay(_ answer: HTTPClientResponse, call: LLMCallRecord, streaming: Bool, route: FacadeRoute,
                       started: ContinuousClock.Instant) -> Response {
        var headers = HTTPFields()
        let dropped = Self.hopByHop.union(Self.connectionTokens(answer.headers[canonicalForm: "connection"].map(String.init)))
        for (name, value) in answer.headers where !dropped.contains(name.lowercased()) {
            if let field = HeaderField.Name(name) { headers.append(HeaderField(name: field, value: value)) }
        }
        let accounts = self.accounts
        let metered = route.metered && (200..<300).contains(call.status)
        let isEventStream = streaming || (answer.headers.first(name: "content-type") ?? "").hasPrefix("text/event-stream")
        let body = ResponseBody { writer in
            var meter = UsageMeter(provider: route.provider, streaming: isEventStream)
            var call = call
            defer {
                meter.finish()
                if let model = meter.model { call.model = model }
                call.inputTokens = meter.usage?.inputTokens ?? 0
                call.outputTokens = meter.usage?.outputTokens ?? 0
                call.latencyMs = Self.milliseconds(since: started)
                let record = call
                Task { await accounts.record(record, metered: metered) }
            }
            for try await chunk in answer.body {
                meter.feed(chunk.readableBytesView)
                try await writer.write(chunk)
            }
            try await writer.finish(nil)
        }
        return Response(status: .init(code: Int(answer.status.code)), headers: headers, body: body)
    }

    // MARK: - Request pieces

    /// The token from `Authorization: Bearer` or `x-api-key`.
    static func clientToken(_ headers: HTTPFields) -> String? {
        if let authorization = headers[.authorization] {
            let parts = authorization.split(separator: " ", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "bearer" { return String(parts[1]).trimmingCharacters(in: .whitespaces) }
        }
        if let name = HeaderField.Name("x-api-key"), let key = headers[name] { return key.trimmingCharacters(in: CharacterSet.whitespaces) }
        return nil
    }

    static func collectBody(_ request: Request) async throws -> ByteBuffer {
        guard request.method == .post else { return ByteBuffer() }
        do {
            return try await request.body.collect(upTo: requestLimit)
        } catch {
            throw FacadeRefusal(.badRequest, "the request body is larger than \(requestLimit >> 20) MiB")
        }
    }

    /// `model` and `stream` from a JSON request body.
    static func requestFields(_ body: ByteBuffer, method: HTTPRequest.Method) throws -> (model: String?, stream: Bool) {
        guard method == .post else { return (nil, false) }
        guard let object = try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any] else {
            throw FacadeRefusal(.badRequest, "the request body must be a JSON object")
        }
        return (object["model"] as? String, (object["stream"] as? Bool) ?? false)
    }

    /// Request headers never passed upstream: hop-by-hop ones, the client's credentials,
    /// and account selectors that would let a sandbox pick another account on the daemon's key.
    static let hopByHop: Set<String> = [
        "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection", "te", "trailer",
        "trailers", "transfer-encoding", "upgrade",
    ]
    static let neverForwarded: Set<String> = hopByHop.union([
        "host", "content-length", "authorization", "x-api-key", "accept-encoding", "cookie",
        "openai-organization", "openai-project",
    ])

    /// Header names listed in a `Connection` header: hop-by-hop for this message.
    static func connectionTokens(_ values: [String]) -> Set<String> {
        Set(values.flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces).lowercased() })
    }

    static func upstreamRequest(_ request: Request, body: ByteBuffer, route: FacadeRoute, upstream: FacadeUpstreams.Upstream,
                                key: String) -> HTTPClientRequest {
        var url = upstream.baseURL + route.path
        if let query = request.uri.query, !query.isEmpty { url += "?" + query }
        var outgoing = HTTPClientRequest(url: url)
        outgoing.method = HTTPMethod(rawValue: request.method.rawValue)
        let dropped = neverForwarded.union(connectionTokens(request.headers[values: .connection]))
        for field in request.headers where !dropped.contains(field.name.canonicalName) {
            outgoing.headers.add(name: field.name.rawName, value: field.value)
        }
        outgoing.headers.add(name: "accept-encoding", value: "identity")
        switch route.provider {
        case .openai: outgoing.headers.add(name: "authorization", value: "Bearer \(key)")
        case .anthropic: outgoing.headers.add(name: "x-api-key", value: key)
        }
        if request.method == .post {
            outgoing.headers.add(name: "content-length", value: "\(body.readableBytes)")
            outgoing.body = .bytes(body)
        }
        return outgoing
    }

    static func refusal(_ refusal: FacadeRefusal, _ provider: LLMProvider) -> Response {
        Response(status: .init(code: refusal.status), headers: [.contentType: "application/json"],
                 body: ResponseBody(byteBuffer: ByteBuffer(bytes: refusal.body(for: provider))))
    }

    static func milliseconds(since start: ContinuousClock.Instant) -> Double {
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
    }
}
