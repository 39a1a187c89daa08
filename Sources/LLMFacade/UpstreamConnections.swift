import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// Where one provider's calls go: parsed once from its base URL.
struct UpstreamEndpoint: Hashable, Sendable {
    var tls: Bool
    var host: String
    var port: Int
    /// Any path prefix of the base URL, without a trailing slash.
    var pathPrefix: String

    /// The `Host` header for this endpoint.
    var hostHeader: String {
        let bare = host.contains(":") ? "[\(host)]" : host
        return port == (tls ? 443 : 80) ? bare : "\(bare):\(port)"
    }

    init?(baseURL: String) {
        guard let url = URL(string: baseURL), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https",
              let host = url.host, !host.isEmpty else { return nil }
        tls = scheme == "https"
        self.host = host
        port = url.port ?? (tls ? 443 : 80)
        var path = url.path
        while path.hasSuffix("/") { path.removeLast() }
        pathPrefix = path
    }
}

/// Keep-alive connections to the upstreams, kept per event loop so that a forwarded call
/// runs on the loop of the client connection that made it: no thread hop between the two.
final class UpstreamConnections: Sendable {
    struct Key: Hashable {
        var loop: ObjectIdentifier
        var endpoint: UpstreamEndpoint
    }

    private struct Idle {
        var channel: any Channel
        var since: NIODeadline
    }

    private let idle = NIOLockedValueBox([Key: [Idle]]())
    private let tls: NIOSSLContext?
    static let idleLimit: TimeAmount = .seconds(60)
    static let connectTimeout: TimeAmount = .seconds(10)
    /// Longest wait for the next byte of an answer: a model may think for minutes.
    static let readTimeout: TimeAmount = .seconds(600)

    init() {
        tls = try? NIOSSLContext(configuration: .makeClientConfiguration())
    }

    /// An open connection to `endpoint` on `loop`: an idle one (`reused`), or a new one
    /// (always, when `fresh`).
    func checkout(_ endpoint: UpstreamEndpoint, on loop: any EventLoop,
                  fresh: Bool = false) -> EventLoopFuture<(channel: any Channel, reused: Bool)> {
        if fresh { return connect(endpoint, on: loop).map { ($0, false) } }
        let key = Key(loop: ObjectIdentifier(loop), endpoint: endpoint)
        let now = NIODeadline.now()
        let (reused, stale) = idle.withLockedValue { pool -> ((any Channel)?, [any Channel]) in
            var stale: [any Channel] = []
            while var list = pool[key], let last = list.popLast() {
                pool[key] = list.isEmpty ? nil : list
                if last.channel.isActive, now - last.since < Self.idleLimit { return (last.channel, stale) }
                stale.append(last.channel)
            }
            return (nil, stale)
        }
        for channel in stale { channel.close(promise: nil) }
        if let reused { return loop.makeSucceededFuture((reused, true)) }
        return connect(endpoint, on: loop).map { ($0, false) }
    }

    /// Puts a connection whose last exchange ended cleanly back for the next call on its loop.
    func checkin(_ channel: any Channel, endpoint: UpstreamEndpoint) {
        guard channel.isActive else { return }
        let key = Key(loop: ObjectIdentifier(channel.eventLoop), endpoint: endpoint)
        idle.withLockedValue { $0[key, default: []].append(Idle(channel: channel, since: .now())) }
    }

    /// Closes every idle connection (the facade is shutting down).
    func closeAll() {
        let all = idle.withLockedValue { pool in
            defer { pool = [:] }
            return pool.values.flatMap { $0.map(\.channel) }
        }
        for channel in all { channel.close(promise: nil) }
    }

    private func connect(_ endpoint: UpstreamEndpoint, on loop: any EventLoop) -> EventLoopFuture<any Channel> {
        let tls = endpoint.tls ? self.tls : nil
        if endpoint.tls && tls == nil {
            return loop.makeFailedFuture(UpstreamError.tlsUnavailable)
        }
        return ClientBootstrap(group: loop)
            .connectTimeout(Self.connectTimeout)
            .channelOption(.socketOption(.so_keepalive), value: 1)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    if let tls {
                        try sync.addHandler(NIOSSLClientHandler(context: tls, serverHostname: endpoint.host))
                    }
                    try sync.addHTTPClientHandlers()
                    try sync.addHandler(IdleStateHandler(readTimeout: Self.readTimeout))
                    try sync.addHandler(UpstreamHandler())
                }
            }
            .connect(host: endpoint.host, port: endpoint.port)
    }
}

enum UpstreamError: Error {
    case tlsUnavailable
    case closedEarly
}

/// The client end of one upstream connection: passes the answer's parts to the exchange
/// that owns the connection at the moment.
final class UpstreamHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart

    /// Receives the answer; set by the exchange while it holds the connection.
    weak var exchange: FacadeExchange?

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        guard let exchange else {
            // An answer nobody asked for: the connection is out of step.
            context.close(promise: nil)
            return
        }
        exchange.upstream(part)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            exchange?.upstreamFailed(UpstreamError.closedEarly, timedOut: true)
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        exchange?.upstreamFailed(UpstreamError.closedEarly, timedOut: false)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        exchange?.upstreamFailed(error, timedOut: false)
        context.close(promise: nil)
    }
}
