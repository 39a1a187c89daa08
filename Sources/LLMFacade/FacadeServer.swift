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
///
/// Given a `prefix`, it takes only requests under it (with the prefix cut from the URI)
/// and passes every other request on to the handlers after it: so the daemon's own
/// HTTP server answers facade calls under `/llm` on the connection's event loop too.
public final class FacadeServerHandler: ChannelInboundHandler, RemovableChannelHandler, FacadeDownstream {
    public typealias InboundIn = HTTPServerRequestPart
    public typealias InboundOut = HTTPServerRequestPart
    public typealias OutboundOut = HTTPServerResponsePart

    let proxy: FacadeProxy
    let listener: String?
    let prefix: String?
    /// The request now arriving belongs to the handlers after this one.
    private var passing = false
    private var context: ChannelHandlerContext?
    private var request: HTTPRequestHead?
    private var body = ByteBuffer()
    private var tooLarge = false
    private var exchange: FacadeExchange?
    private var keepAlive = true

    /// - Parameters:
    ///   - listener: the sandbox whose token alone is taken, or nil for any live token.
    ///   - prefix: a path such as `/llm`: only requests under it are the facade's.
    public init(proxy: FacadeProxy, listener: String?, prefix: String? = nil) {
        self.proxy = proxy
        self.listener = listener
        self.prefix = prefix
    }

    public func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    public func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if case .head(let head) = part { passing = !takes(head) }
        if passing {
            context.fireChannelRead(data)
            return
        }
        switch part {
        case .head(var head):
            if let prefix { head.uri.removeFirst(prefix.count) }
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

    /// Whether a request is the facade's: all are without a prefix, else those under it.
    private func takes(_ head: HTTPRequestHead) -> Bool {
        guard let prefix else { return true }
        return head.uri.hasPrefix(prefix) && head.uri.utf8.dropFirst(prefix.utf8.count).first == UInt8(ascii: "/")
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

    public func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { exchange?.resume() }
        context.fireChannelWritabilityChanged()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        exchange?.cancel()
        exchange = nil
        context.fireChannelInactive()
    }
}
