import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// The facade served on one Unix socket with NIO alone: each connection's calls are
/// forwarded on the connection's own event loop, so a call costs its socket hops and no
/// thread hop. `listener` is the sandbox the socket belongs to (its token only), or nil
/// for a socket that takes any live token.
public final class FacadeServer: Sendable {
    let channel: any Channel
    /// Open client connections, closed with the server.
    private let connections: NIOLockedValueBox<[ObjectIdentifier: any Channel]>

    private init(channel: any Channel, connections: NIOLockedValueBox<[ObjectIdentifier: any Channel]>) {
        self.channel = channel
        self.connections = connections
    }

    /// Listens on `path` (replacing a stale socket file) with mode 0600.
    public static func listen(path: String, proxy: FacadeProxy, listener: String?,
                              group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws -> FacadeServer {
        let connections = NIOLockedValueBox([ObjectIdentifier: any Channel]())
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .childChannelInitializer { child in
                let id = ObjectIdentifier(child)
                connections.withLockedValue { $0[id] = child }
                child.closeFuture.whenComplete { _ in _ = connections.withLockedValue { $0.removeValue(forKey: id) } }
                return child.eventLoop.makeCompletedFuture {
                    let sync = child.pipeline.syncOperations
                    try sync.configureHTTPServerPipeline(withPipeliningAssistance: true, withErrorHandling: true)
                    try sync.addHandler(FacadeServerHandler(proxy: proxy, listener: listener))
                }
            }
            .bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true).get()
        chmod(path, 0o600)
        return FacadeServer(channel: channel, connections: connections)
    }

    /// Stops listening and closes every connection, with any call still in flight.
    public func close() async {
        try? await channel.close()
        let open = connections.withLockedValue { Array($0.values) }
        for connection in open { try? await connection.close() }
    }
}

/// One client connection: gathers each request, decides its route, and runs the call as
/// a `FacadeExchange` that answers through this handler. Requests on a keep-alive
/// connection are answered in order (NIO's pipelining helper holds the next one back).
final class FacadeServerHandler: ChannelInboundHandler, FacadeDownstream {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let proxy: FacadeProxy
    let listener: String?
    private var context: ChannelHandlerContext?
    private var request: HTTPRequestHead?
    private var body = ByteBuffer()
    private var tooLarge = false
    private var exchange: FacadeExchange?
    private var keepAlive = true

    init(proxy: FacadeProxy, listener: String?) {
        self.proxy = proxy
        self.listener = listener
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            request = head
            body.clear()
            tooLarge = false
        case .body(var chunk):
            if body.readableBytes + chunk.readableBytes > FacadeProxy.requestLimit {
                tooLarge = true
                body = ByteBuffer()
            } else if !tooLarge {
                body.writeBuffer(&chunk)
            }
        case .end:
            guard let head = request else { return }
            request = nil
            keepAlive = head.isKeepAlive
            run(head, context: context)
        }
    }

    private func run(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        exchange = FacadeExchange.prepare(proxy, head: head, body: tooLarge ? nil : body, listener: listener,
                                          on: context.eventLoop, downstream: self)
        body = ByteBuffer()
        exchange?.start()
    }

    // MARK: - FacadeDownstream

    func respond(head: HTTPResponseHead) {
        var head = head
        // The facade's own answer may end the connection (a refused upgrade).
        if head.headers[canonicalForm: "connection"].contains("close") { keepAlive = false }
        if !keepAlive { head.headers.replaceOrAdd(name: "connection", value: "close") }
        context?.write(wrapOutboundOut(.head(head)), promise: nil)
    }

    func respond(body: ByteBuffer) -> Bool {
        guard let context else { return true }
        context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        return context.channel.isWritable
    }

    func respondEnd() {
        exchange = nil
        guard let context else { return }
        if keepAlive {
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        } else {
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
        }
    }

    func abort() {
        exchange = nil
        context?.close(promise: nil)
    }

    // MARK: - Connection events

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { exchange?.resume() }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        exchange?.cancel()
        exchange = nil
        context.fireChannelInactive()
    }
}
