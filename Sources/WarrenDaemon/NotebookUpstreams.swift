import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// Keep-alive HTTP connections to the sandboxes' Jupyter sockets, kept per event loop so
/// that a proxied request runs on the loop of the browser connection that made it.
final class NotebookUpstreams: Sendable {
    private struct Key: Hashable {
        var loop: ObjectIdentifier
        var socket: String
    }

    private struct Idle {
        var channel: any Channel
        var since: NIODeadline
    }

    private let idle = NIOLockedValueBox([Key: [Idle]]())
    /// Well under the keep-alive timeout of Jupyter's server (Tornado keeps an hour).
    static let idleLimit: TimeAmount = .seconds(30)
    static let connectTimeout: TimeAmount = .seconds(10)

    /// An open connection to the Jupyter at `socket` on `loop`: an idle one (`reused`), or
    /// a new one (always, when `fresh`).
    func checkout(_ socket: String, on loop: any EventLoop,
                  fresh: Bool = false) -> EventLoopFuture<(channel: any Channel, reused: Bool)> {
        if !fresh {
            let key = Key(loop: ObjectIdentifier(loop), socket: socket)
            let now = NIODeadline.now()
            let (found, stale) = idle.withLockedValue { pool -> ((any Channel)?, [any Channel]) in
                var stale: [any Channel] = []
                while var list = pool[key], let last = list.popLast() {
                    pool[key] = list.isEmpty ? nil : list
                    if last.channel.isActive, now - last.since < Self.idleLimit { return (last.channel, stale) }
                    stale.append(last.channel)
                }
                return (nil, stale)
            }
            for channel in stale { channel.close(promise: nil) }
            if let found { return loop.makeSucceededFuture((found, true)) }
        }
        return ClientBootstrap(group: loop)
            .connectTimeout(Self.connectTimeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(NotebookUpstreamHandler())
                }
            }
            .connect(unixDomainSocketPath: socket)
            .map { ($0, false) }
    }

    /// Keeps a connection whose last exchange ended cleanly for the next request on its loop.
    func checkin(_ channel: any Channel, socket: String) {
        guard channel.isActive else { return }
        let key = Key(loop: ObjectIdentifier(channel.eventLoop), socket: socket)
        idle.withLockedValue { $0[key, default: []].append(Idle(channel: channel, since: .now())) }
    }

    /// Closes every idle connection to `socket` (its sandbox stopped), or to all sockets.
    func close(socket: String? = nil) {
        let closing = idle.withLockedValue { pool -> [any Channel] in
            let keys = pool.keys.filter { socket == nil || $0.socket == socket }
            return keys.flatMap { pool.removeValue(forKey: $0)?.map(\.channel) ?? [] }
        }
        for channel in closing { channel.close(promise: nil) }
    }
}

/// The client end of one Jupyter connection: passes the answer's parts to the exchange
/// that holds the connection at the moment.
final class NotebookUpstreamHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart

    weak var exchange: NotebookExchange?

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        // An informational answer (100 Continue) is not the answer.
        if case .head(let head) = part, head.status.code < 200 { return }
        guard let exchange else {
            // An answer nobody asked for: the connection is out of step.
            context.close(promise: nil)
            return
        }
        exchange.upstream(part)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { exchange?.upstreamWritable() }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        exchange?.upstreamFailed(NotebookUpstreamClosed())
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        exchange?.upstreamFailed(error)
        context.close(promise: nil)
    }
}

struct NotebookUpstreamClosed: Error, CustomStringConvertible {
    var description: String { "the notebook server closed the connection" }
}
