import NIOCore
import NIOHTTP1
import WarrenCore

/// One HTTP request under `/notebooks/<id>/`, confined to the browser connection's event
/// loop: admitted by the gateway, sent to the sandbox's Jupyter on a pooled connection of
/// the same loop, its body streamed up and the answer streamed back, each side's
/// back-pressure holding the other.
final class NotebookExchange {
    let gateway: NotebookGateway
    let upstreams: NotebookUpstreams
    let eventLoop: any EventLoop
    let head: HTTPRequestHead
    let sandbox: String
    weak var downstream: NotebookForwardHandler?

    private enum Phase {
        case admitting
        case connecting
        case sending(any Channel)
        case relaying(any Channel, reusable: Bool)
        case done
    }
    private var phase = Phase.admitting
    /// Request parts that came before the upstream connection was ready.
    private var pending: [HTTPClientRequestPart] = []
    private var pendingBytes = 0
    private var requestEnded = false
    /// The browser is held while the upstream cannot take more of its body.
    private var holdingBrowser = false
    /// Jupyter is held while the browser cannot take more of the answer.
    private var holdingUpstream = false
    /// A request without a body that went out on a pooled connection, not yet sent again:
    /// if that connection closes before any answer, it was stale, and the request goes
    /// once more on a new one.
    private var mayResend = false
    private var resent = false

    /// Most of a body held while the upstream connection is made.
    static let pendingLimit = 1 << 20

    init(gateway: NotebookGateway, upstreams: NotebookUpstreams, eventLoop: any EventLoop, head: HTTPRequestHead,
         sandbox: String, downstream: NotebookForwardHandler) {
        self.gateway = gateway
        self.upstreams = upstreams
        self.eventLoop = eventLoop
        self.head = head
        self.sandbox = sandbox
        self.downstream = downstream
    }

    private var pairs: [(String, String)] { head.headers.map { ($0.name.lowercased(), $0.value) } }
    private var hasBody: Bool {
        head.headers.contains(name: "content-length") && head.headers.first(name: "content-length") != "0"
            || head.headers.contains(name: "transfer-encoding")
    }

    // MARK: - Admission

    func start() {
        let (gateway, sandbox, pairs) = (self.gateway, self.sandbox, self.pairs)
        let exchange = NIOLoopBound(self, eventLoop: eventLoop)
        eventLoop.makeFutureWithTask {
            try await gateway.authorize(sandbox: sandbox, headers: pairs)
        }.whenComplete { result in
            switch result {
            case .success(let credential): exchange.value.admitted(credential)
            case .failure(let error): exchange.value.refuse(WarrenError.wrap(error))
            }
        }
    }

    private func admitted(_ credential: NotebookGateway.Credential) {
        guard case .admitting = phase else { return }
        downstream?.markAuthenticated()
        phase = .connecting
        if head.headers[canonicalForm: "expect"].contains(where: { $0.lowercased() == "100-continue" }) {
            downstream?.respondContinue()
        }
        var headers = HTTPHeaders(gateway.forwardedHeaders(pairs, credential: credential, sandbox: sandbox)
            .filter { $0.0 != "expect" })
        // A chunked upload stays chunked (the framing header is hop-by-hop and was dropped).
        if head.headers.contains(name: "transfer-encoding"), !headers.contains(name: "content-length") {
            headers.add(name: "transfer-encoding", value: "chunked")
        }
        let outgoing = HTTPRequestHead(version: .http1_1, method: head.method, uri: head.uri, headers: headers)
        pending.insert(.head(outgoing), at: 0)
        connect(fresh: false)
    }

    private func connect(fresh: Bool) {
        let exchange = NIOLoopBound(self, eventLoop: eventLoop)
        upstreams.checkout(gateway.access.socketPath(sandbox), on: eventLoop, fresh: fresh).whenComplete { result in
            switch result {
            case .success(let (channel, reused)): exchange.value.send(on: channel, reused: reused)
            case .failure(let error):
                exchange.value.refuse(WarrenError(.badGateway, "the sandbox's notebook server did not answer: \(error)"))
            }
        }
    }

    // MARK: - Request

    private func send(on channel: any Channel, reused: Bool) {
        guard case .connecting = phase, downstream != nil,
              let handler = try? channel.pipeline.syncOperations.handler(type: NotebookUpstreamHandler.self) else {
            // The browser left while the connection was made: keep it for the next request.
            return upstreams.checkin(channel, socket: gateway.access.socketPath(sandbox))
        }
        handler.exchange = self
        phase = .sending(channel)
        mayResend = reused && !resent && !hasBody
        // Kept for a resend, which has only the head (and end) to send again.
        let parts = pending
        if !mayResend { pending = []; pendingBytes = 0 }
        for part in parts { channel.write(part, promise: nil) }
        channel.flush()
        releaseBrowser()
    }

    /// A piece of the browser's request body.
    func requestBody(_ buffer: ByteBuffer) {
        switch phase {
        case .admitting, .connecting:
            pending.append(.body(.byteBuffer(buffer)))
            pendingBytes += buffer.readableBytes
            if pendingBytes > Self.pendingLimit { holdBrowser() }
        case .sending(let channel), .relaying(let channel, _):
            guard !requestEnded else { return }
            channel.writeAndFlush(HTTPClientRequestPart.body(.byteBuffer(buffer)), promise: nil)
            if !channel.isWritable { holdBrowser() }
        case .done:
            break
        }
    }

    func requestEnd() {
        guard !requestEnded else { return }
        switch phase {
        case .admitting, .connecting:
            requestEnded = true
            pending.append(.end(nil))
        case .sending(let channel), .relaying(let channel, _):
            requestEnded = true
            // A resend must end the request too.
            if mayResend { pending.append(.end(nil)) }
            channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        case .done:
            requestEnded = true
        }
    }

    func upstreamWritable() { releaseBrowser() }

    private func holdBrowser() {
        guard !holdingBrowser else { return }
        holdingBrowser = true
        downstream?.setReading(false)
    }

    private func releaseBrowser() {
        guard holdingBrowser else { return }
        holdingBrowser = false
        downstream?.setReading(true)
    }

    // MARK: - Answer

    func upstream(_ part: HTTPClientResponsePart) {
        switch (part, phase) {
        case (.head(let answer), .sending(let channel)):
            pending = []
            phase = .relaying(channel, reusable: answer.isKeepAlive)
            // Framing headers are hop-by-hop: the browser connection frames the answer itself.
            let headers = HTTPHeaders(NotebookGateway.returnedHeaders(answer.headers.map { ($0.name, $0.value) }))
            downstream?.respond(head: HTTPResponseHead(version: head.version, status: answer.status, headers: headers))
        case (.body(let buffer), .relaying(let channel, _)):
            if downstream?.respond(body: buffer) == false, !holdingUpstream {
                holdingUpstream = true
                channel.setOption(ChannelOptions.autoRead, value: false).whenFailure { _ in }
            }
        case (.end, .relaying(let channel, let reusable)):
            phase = .done
            detach(channel)
            // A connection whose request did not go out whole is out of step: never reused.
            if reusable && requestEnded {
                if holdingUpstream { channel.setOption(ChannelOptions.autoRead, value: true).whenFailure { _ in } }
                upstreams.checkin(channel, socket: gateway.access.socketPath(sandbox))
            } else {
                channel.close(promise: nil)
            }
            releaseBrowser()
            downstream?.respondEnd(exchange: self)
        default:
            if case .sending(let channel) = phase { channel.close(promise: nil) }
            if case .relaying(let channel, _) = phase { channel.close(promise: nil) }
        }
    }

    /// The browser can take more of the answer.
    func downstreamWritable() {
        guard holdingUpstream, case .relaying(let channel, _) = phase else { return }
        holdingUpstream = false
        channel.setOption(ChannelOptions.autoRead, value: true).whenFailure { _ in }
        channel.read()
    }

    func upstreamFailed(_ error: any Error) {
        switch phase {
        case .sending(let channel):
            detach(channel)
            channel.close(promise: nil)
            if mayResend {
                resent = true
                phase = .connecting
                return connect(fresh: true)
            }
            refuse(WarrenError(.badGateway, "the sandbox's notebook server did not answer: \(error)"))
        case .relaying(let channel, _):
            phase = .done
            detach(channel)
            downstream?.abort(exchange: self)
        case .admitting, .connecting, .done:
            break
        }
    }

    /// The browser went away: a Jupyter connection in use is closed, never reused.
    func cancel() {
        switch phase {
        case .sending(let channel), .relaying(let channel, _):
            detach(channel)
            channel.close(promise: nil)
        case .admitting, .connecting, .done:
            break
        }
        phase = .done
    }

    // MARK: - Endings

    private func refuse(_ error: WarrenError) {
        if case .done = phase { return }
        phase = .done
        pending = []
        releaseBrowser()
        downstream?.respond(refusal: NotebookRefusal(error), exchange: self)
    }

    private func detach(_ channel: any Channel) {
        if let handler = try? channel.pipeline.syncOperations.handler(type: NotebookUpstreamHandler.self),
           handler.exchange === self {
            handler.exchange = nil
        }
    }
}
