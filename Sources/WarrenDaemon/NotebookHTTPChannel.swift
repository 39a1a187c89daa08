import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import WarrenCore

/// The TCP listener's connections: HTTP/1.1 served by the router, except that requests
/// under `/notebooks/` are proxied on the connection's event loop (`NotebookForwardHandler`)
/// and a connection opening with a WebSocket upgrade there becomes a byte splice to that
/// sandbox's Jupyter (see `NotebookGateway.handshake`).
struct NotebookHTTPChannel: ServerChildChannel, HTTPChannelHandler {
    enum Outcome: Sendable {
        case http(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>)
        case refused(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>, NotebookRefusal)
        case spliced(any Channel)
    }

    struct Value: ServerChildChannelValue {
        let outcome: EventLoopFuture<Outcome>
        let channel: any Channel
    }

    /// What the upgrade attempt of one connection left for the steps after it.
    struct Attempt: Sendable {
        var tried = false
        var refusal: NotebookRefusal?
        var upstream: UpstreamConnection?
    }

    let responder: HTTPChannelHandler.Responder
    let gateway: NotebookGateway
    let limits: ConnectionLimits
    /// Connections per TCP address not yet shown to be a user's.
    let peers: PeerConnectionCounter
    /// Whether the listener has a bearer token: then only a credential check frees a place.
    let authenticates: Bool

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            let attempt = NIOLockedValueBox(Attempt())
            // An upstream connection made for a handshake the client then abandoned has
            // no splice to close it: it ends with the client's connection.
            channel.closeFuture.whenComplete { _ in
                attempt.withLockedValue { $0.upstream }?.channel.close(promise: nil)
            }
            let upgrader = NotebookUpgrader(gateway: gateway, attempt: attempt)
            let configuration = NIOTypedHTTPServerUpgradeConfiguration<Outcome>(
                upgraders: [upgrader],
                notUpgradingCompletionHandler: { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(
                            NotebookForwardHandler(gateway: gateway, upstreams: gateway.upstreams))
                        try channel.pipeline.syncOperations.addHandler(HTTP1ToHTTPServerCodec(secure: false))
                        try channel.pipeline.syncOperations.addHandler(HTTPConnectionStateHandler(idleTimeout: nil, logger: logger))
                        let http = try NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>(
                            wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
                        let state = attempt.withLockedValue { $0 }
                        guard state.tried else { return .http(http) }
                        return .refused(http, state.refusal ?? NotebookRefusal(
                            WarrenError(.invalidArgument, "WebSocket upgrades are served for notebooks only, under /notebooks/<id>/")))
                    }
                })
            var pipeline = NIOUpgradableHTTPServerPipelineConfiguration(upgradeConfiguration: configuration)
            // One request at a time per connection: the notebook handler and the router
            // each answer some, and their answers must not interleave.
            pipeline.enablePipelining = true
            // A request the decoder cannot read (NUL in a header, TLS bytes, a negative
            // length, a header line past the limit) gets a 400 and the connection closes.
            pipeline.enableErrorHandling = true
            pipeline.enableResponseHeaderValidation = false
            let sync = channel.pipeline.syncOperations
            let outcome = try sync.configureUpgradableHTTPServerPipeline(configuration: pipeline)
            let decoder = try sync.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self)
            try sync.addHandler(ConnectionGuard(limits: limits, counter: peers, closeOnParseError: true,
                                                explicitAuthentication: authenticates), name: ConnectionGuard.name, position: .after(decoder))
            return Value(outcome: outcome, channel: channel)
        }
    }

    func handle(value: Value, logger: Logger) async {
        do {
            switch try await value.outcome.get() {
            case .http(let http):
                await handleHTTP(asyncChannel: http, logger: logger)
            case .refused(let http, let refusal):
                try await http.executeThenClose { _, outbound in
                    let body = ByteBuffer(string: refusal.body)
                    let head = HTTPResponse(status: .init(code: refusal.status), headerFields: [
                        .contentType: "application/json", .contentLength: "\(body.readableBytes)", .connection: "close",
                    ])
                    try await outbound.write(contentsOf: [.head(head), .body(body), .end(nil)])
                }
            case .spliced(let channel):
                try await channel.closeFuture.get()
            }
        } catch {
            logger.debug("notebook connection ended", metadata: ["error": "\(error)"])
        }
    }
}

/// Takes WebSocket upgrades for notebooks: the 101 goes out only once the sandbox's
/// Jupyter has sent its own, with Jupyter's headers.
struct NotebookUpgrader: NIOTypedHTTPServerProtocolUpgrader {
    typealias UpgradeResult = NotebookHTTPChannel.Outcome

    let supportedProtocol = "websocket"
    // NIO wants required headers named in `Connection` too; Jupyter checks the key itself.
    let requiredUpgradeHeaders: [String] = []
    let gateway: NotebookGateway
    let attempt: NIOLockedValueBox<NotebookHTTPChannel.Attempt>

    struct NotUpgrading: Error {}

    func buildUpgradeResponse(channel: any Channel, upgradeRequest: HTTPRequestHead,
                              initialResponseHeaders: HTTPHeaders) -> EventLoopFuture<HTTPHeaders> {
        attempt.withLockedValue { $0.tried = true }
        let promise = channel.eventLoop.makePromise(of: HTTPHeaders.self)
        let gateway = self.gateway, attempt = self.attempt, eventLoop = channel.eventLoop
        promise.completeWithTask {
            switch await gateway.handshake(upgradeRequest, eventLoop: eventLoop) {
            case .none:
                throw NotUpgrading()
            case .refused(let refusal):
                attempt.withLockedValue { $0.refusal = refusal }
                throw NotUpgrading()
            case .accepted(let headers, let upstream):
                attempt.withLockedValue { $0.upstream = upstream }
                var merged = initialResponseHeaders
                merged.add(contentsOf: headers)
                return merged
            }
        }
        return promise.futureResult
    }

    func upgrade(channel: any Channel, upgradeRequest: HTTPRequestHead) -> EventLoopFuture<UpgradeResult> {
        channel.eventLoop.makeCompletedFuture {
            guard let upstream = attempt.withLockedValue({ $0.upstream }) else { throw NotUpgrading() }
            // A spliced WebSocket is bytes, not requests: no HTTP timeouts apply to it.
            if let guardHandler = try? channel.pipeline.syncOperations.handler(type: ConnectionGuard.self) {
                channel.pipeline.syncOperations.removeHandler(guardHandler, promise: nil)
            }
            try ByteSplice.join(channel, upstream.channel)
            upstream.reader.value.release()
            return .spliced(channel)
        }
    }
}
