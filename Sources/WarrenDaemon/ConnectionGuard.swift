import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1

/// How long a connection may sit without a request, and how many a peer may hold
/// before it has shown it may use the daemon.
public struct ConnectionLimits: Sendable, Equatable {
    /// From the connection's start, or the end of its last answer, until a request's head
    /// has arrived (a slow or silent client is closed).
    public var headerTimeout: TimeAmount
    /// Between requests on a kept-alive connection.
    public var idleTimeout: TimeAmount
    /// Connections one peer (a TCP address, or a refused uid on the socket) may hold
    /// before one of its requests has been answered with anything but a refusal.
    public var unauthenticatedPerPeer: Int

    public static let standard = ConnectionLimits(headerTimeout: .seconds(15), idleTimeout: .seconds(120), unauthenticatedPerPeer: 64)

    public init(headerTimeout: TimeAmount, idleTimeout: TimeAmount, unauthenticatedPerPeer: Int) {
        self.headerTimeout = headerTimeout; self.idleTimeout = idleTimeout
        self.unauthenticatedPerPeer = unauthenticatedPerPeer
    }
}

/// Counts the connections each peer holds, shared by one listener's connections.
final class PeerConnectionCounter: Sendable {
    let limit: Int
    private let counts = NIOLockedValueBox([String: Int]())

    init(limit: Int) { self.limit = limit }

    /// Takes a place for `peer`; false when it holds `limit` already.
    func admit(_ peer: String) -> Bool {
        counts.withLockedValue { c in
            let n = c[peer, default: 0]
            guard n < limit else { return false }
            c[peer] = n + 1
            return true
        }
    }

    func release(_ peer: String) {
        counts.withLockedValue { c in
            let n = c[peer, default: 0] - 1
            c[peer] = n > 0 ? n : nil
        }
    }

    func count(_ peer: String) -> Int { counts.withLockedValue { $0[peer, default: 0] } }
}

/// Bounds a connection's time outside requests: closed when no request head arrives within
/// the header timeout of its start (or of its last answer, then the idle timeout). While a
/// request is being answered — a log followed, a terminal attached — nothing times out.
/// With a counter, the connection takes a place for its peer (its TCP address) until a
/// request has been answered with something other than a refusal; a peer at its limit has
/// its new connections closed at once.
///
/// Sits right after the HTTP decoder, so it sees every request, whichever handler answers it.
final class ConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    static let name = "warren.connection-guard"

    private let limits: ConnectionLimits
    private let counter: PeerConnectionCounter?
    private var peer: String?
    private var inFlight = 0
    private var timer: Scheduled<Void>?
    private var started = false

    /// Close after a request the decoder could not read, once the handlers after this one
    /// have answered it (NIO's error handler writes the 400).
    private let closeOnParseError: Bool
    /// The peer's place is freed only when a credential check marks the connection
    /// (`markAuthenticated`), not by any answer: a listener with a bearer token answers
    /// some requests (a notebook that does not exist) before it checks one.
    private let explicitAuthentication: Bool

    init(limits: ConnectionLimits, counter: PeerConnectionCounter?, closeOnParseError: Bool = false,
         explicitAuthentication: Bool = false) {
        self.limits = limits
        self.counter = counter
        self.closeOnParseError = closeOnParseError
        self.explicitAuthentication = explicitAuthentication
    }

    /// The connection's request passed a credential check: its peer's place is freed.
    static func markAuthenticated(_ channel: any Channel) {
        channel.eventLoop.execute {
            (try? channel.pipeline.syncOperations.handler(type: ConnectionGuard.self))?.releasePlace()
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.fireErrorCaught(error)
        if closeOnParseError && error is HTTPParserError { context.close(promise: nil) }
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { start(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context)
        context.fireChannelActive()
    }

    private func start(_ context: ChannelHandlerContext) {
        guard !started else { return }
        started = true
        if let counter {
            let key = context.channel.remoteAddress?.ipAddress ?? "unknown"
            guard counter.admit(key) else {
                context.close(promise: nil)
                return
            }
            peer = key
        }
        arm(context, limits.headerTimeout)
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        releasePlace()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        releasePlace()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head = unwrapInboundIn(data) {
            inFlight += 1
            timer?.cancel()
            timer = nil
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(let head) where peer != nil && !explicitAuthentication && !Self.refusals.contains(head.status.code):
            releasePlace()  // answered: the peer may use the daemon
        case .end:
            inFlight = max(0, inFlight - 1)
            if inFlight == 0 { arm(context, limits.idleTimeout) }
        default:
            break
        }
        context.write(data, promise: promise)
    }

    /// Answers that do not show the peer may use the daemon.
    static let refusals: Set<UInt> = [400, 401, 403, 408, 413, 429, 431]

    func releasePlace() {
        if let peer { counter?.release(peer) }
        peer = nil
    }

    private func arm(_ context: ChannelHandlerContext, _ timeout: TimeAmount) {
        timer?.cancel()
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: timeout) {
            let (handler, context) = bound.value
            handler.timer = nil
            if handler.inFlight == 0 { context.close(promise: nil) }
        }
    }
}
