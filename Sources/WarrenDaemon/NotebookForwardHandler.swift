import NIOCore
import NIOHTTP1
import WarrenCore

/// Takes the HTTP requests under `/notebooks/<id>/` off the TCP listener's pipeline,
/// before the router, and proxies each as a `NotebookExchange` on the connection's own
/// event loop. One-time links and WebSocket upgrades on a reused connection go on to the
/// router, as does every other request. NIO's pipelining helper before this handler
/// keeps a connection to one request at a time, so answers never interleave.
final class NotebookForwardHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let gateway: NotebookGateway
    let upstreams: NotebookUpstreams
    private var context: ChannelHandlerContext?
    /// The request now arriving belongs to the handlers after this one.
    private var passing = false
    private var exchange: NotebookExchange?
    private var keepAlive = true

    init(gateway: NotebookGateway, upstreams: NotebookUpstreams) {
        self.gateway = gateway
        self.upstreams = upstreams
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    /// Whether a request is proxied here: a notebook's path, no one-time link, no upgrade.
    static func takes(_ head: HTTPRequestHead) -> Bool {
        guard head.uri.hasPrefix("/notebooks/"), NotebookGateway.sandbox(inPath: head.uri) != nil else { return false }
        if head.headers[canonicalForm: "upgrade"].contains(where: { $0.lowercased() == "websocket" }) { return false }
        guard let mark = head.uri.firstIndex(of: "?") else { return true }
        let names = head.uri[head.uri.index(after: mark)...].split(separator: "&").map { $0.prefix { $0 != "=" } }
        return !names.contains { $0 == NotebookGateway.ticketParameter }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if case .head(let head) = part { passing = !Self.takes(head) }
        if passing { return context.fireChannelRead(data) }
        switch part {
        case .head(let head):
            keepAlive = head.isKeepAlive
            guard let sandbox = NotebookGateway.sandbox(inPath: head.uri) else { return }
            let exchange = NotebookExchange(gateway: gateway, upstreams: upstreams, eventLoop: context.eventLoop,
                                            head: head, sandbox: sandbox, downstream: self)
            self.exchange = exchange
            exchange.start()
        case .body(let buffer):
            exchange?.requestBody(buffer)
        case .end:
            exchange?.requestEnd()
        }
    }

    // MARK: - Answers, called by the exchange

    /// The request passed the notebook's credential check.
    func markAuthenticated() {
        if let channel = context?.channel { ConnectionGuard.markAuthenticated(channel) }
    }

    func respondContinue() {
        context?.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .continue))), promise: nil)
    }

    func respond(head: HTTPResponseHead) {
        var head = head
        if !keepAlive { head.headers.replaceOrAdd(name: "connection", value: "close") }
        context?.write(wrapOutboundOut(.head(head)), promise: nil)
    }

    /// Passes a piece of the answer on; false while the browser is not taking more.
    func respond(body: ByteBuffer) -> Bool {
        guard let context else { return true }
        context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        return context.channel.isWritable
    }

    func respondEnd(exchange ended: NotebookExchange) {
        guard exchange === ended, let context else { return }
        exchange = nil
        if keepAlive {
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        } else {
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
        }
    }

    /// The daemon's own refusal, as the router writes its errors.
    func respond(refusal: NotebookRefusal, exchange refused: NotebookExchange) {
        guard exchange === refused else { return }
        let body = ByteBuffer(string: refusal.body)
        var head = HTTPResponseHead(version: refused.head.version, status: .init(statusCode: refusal.status), headers: [
            "content-type": "application/json", "content-length": "\(body.readableBytes)",
        ])
        if !keepAlive { head.headers.add(name: "connection", value: "close") }
        context?.write(wrapOutboundOut(.head(head)), promise: nil)
        _ = respond(body: body)
        respondEnd(exchange: refused)
    }

    /// The answer broke off after its head went out: only closing tells the browser.
    func abort(exchange broken: NotebookExchange) {
        guard exchange === broken else { return }
        exchange = nil
        context?.close(promise: nil)
    }

    func setReading(_ on: Bool) {
        guard let context else { return }
        context.channel.setOption(ChannelOptions.autoRead, value: on).whenFailure { _ in }
        if on { context.read() }
    }

    // MARK: - Connection events

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { exchange?.downstreamWritable() }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        exchange?.cancel()
        exchange = nil
        context.fireChannelInactive()
    }
}
