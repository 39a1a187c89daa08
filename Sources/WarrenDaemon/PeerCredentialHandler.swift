import Foundation
import Logging
import NIOCore
import NIOHTTP1
import WarrenCore
#if canImport(Glibc)
import Glibc
#endif

/// Admits a Unix-socket connection only when the peer's uid (from `SO_PEERCRED`) is
/// the daemon's own or root; anyone else gets one `403` and the connection is closed.
///
/// Sits in the child pipeline right after HTTP decoding, before any route or the facade.
/// Requests that arrive before the kernel's answer is known are held back, so nothing
/// reaches a route undecided. The `403` answers the first request: an answer to none
/// would break NIO's pipelining helper, which pairs each answer with a request.
final class PeerCredentialHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private enum Verdict {
        case pending([NIOAny])
        case allowed
        /// Refused; the answer goes out with the first request.
        case refused(String)
        case answered
    }

    private var verdict: Verdict = .pending([])
    private let allowedUIDs: Set<uid_t>
    private let logger: Logger
    /// Connections held by refused uids: past the limit, one is closed unanswered.
    private let refusedPeers: PeerConnectionCounter?
    private var refusedPlace: String?

    init(allowedUIDs: Set<uid_t>, refusedPeers: PeerConnectionCounter? = nil, logger: Logger) {
        self.allowedUIDs = allowedUIDs
        self.refusedPeers = refusedPeers
        self.logger = logger
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let place = refusedPlace { refusedPeers?.release(place) }
        refusedPlace = nil
        context.fireChannelInactive()
    }

    // MARK: - Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { check(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        check(context: context)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch verdict {
        case .pending(var held):
            held.append(data)
            verdict = .pending(held)
        case .allowed:
            context.fireChannelRead(data)
        case .refused(let message):
            refuse(context: context, message: message)
        case .answered:
            break
        }
    }

    // MARK: - Deciding

    private var checking = false

    private func check(context: ChannelHandlerContext) {
        guard !checking else { return }
        checking = true
        guard let provider = context.channel as? any SocketOptionProvider else {
            decide(.failure(WarrenError(.forbidden, "not a socket")), context: context)
            return
        }
        let future: EventLoopFuture<PeerCredentials> = provider.unsafeGetSocketOption(
            level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_PEERCRED))
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        future.whenComplete { result in
            let (handler, context) = bound.value
            handler.decide(result, context: context)
        }
    }

    private func decide(_ result: Result<PeerCredentials, any Error>, context: ChannelHandlerContext) {
        guard case .pending(let held) = verdict else { return }
        switch result {
        case .success(let cred) where allowedUIDs.contains(cred.uid):
            verdict = .allowed
            for data in held { context.fireChannelRead(data) }
            if !held.isEmpty { context.fireChannelReadComplete() }
        case .success(let cred):
            if let refusedPeers {
                guard refusedPeers.admit("uid:\(cred.uid)") else {
                    verdict = .answered
                    context.close(promise: nil)
                    return
                }
                refusedPlace = "uid:\(cred.uid)"
            }
            logger.warning("refused connection from another user", metadata: ["uid": "\(cred.uid)", "pid": "\(cred.pid)"])
            refuse(context: context, message: "uid \(cred.uid) may not use this daemon", now: !held.isEmpty)
        case .failure(let error):
            logger.warning("refused connection: cannot read peer credentials", metadata: ["error": "\(error)"])
            refuse(context: context, message: "cannot verify the peer's credentials", now: !held.isEmpty)
        }
    }

    private func refuse(context: ChannelHandlerContext, message: String, now: Bool = true) {
        guard now else {
            verdict = .refused(message)
            return
        }
        verdict = .answered
        let body = (try? WarrenJSON.encoder().encode(WarrenError(.forbidden, message))) ?? Data()
        let head = HTTPResponseHead(version: .http1_1, status: .forbidden, headers: [
            "content-type": "application/json", "content-length": String(body.count), "connection": "close",
        ])
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: body)))), promise: nil)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }
}

/// The kernel's `struct ucred` (pid, uid, gid), which Glibc only declares under `_GNU_SOURCE`.
struct PeerCredentials: Sendable {
    var pid: Int32 = 0
    var uid: UInt32 = 0
    var gid: UInt32 = 0
}
