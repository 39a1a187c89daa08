import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import WarrenCore

/// What became of a WebSocket handshake under `/notebooks/`.
enum NotebookHandshake: Sendable {
    /// Jupyter switched protocols: its 101 headers, and its connection, ready to splice.
    case accepted(HTTPHeaders, UpstreamConnection)
    /// Refused by the daemon (auth, Origin, a stopped sandbox) or by Jupyter.
    case refused(NotebookRefusal)
}

/// A refusal written back as a plain HTTP answer.
struct NotebookRefusal: Sendable {
    var status: Int
    var body: String

    init(_ error: WarrenError) {
        status = error.httpStatus
        body = (try? String(decoding: WarrenJSON.encoder().encode(error), as: UTF8.self)) ?? "{}"
    }
}

/// The daemon's connection to a sandbox's Jupyter after its 101, with the bytes Jupyter
/// sent right behind the 101 held until the client side is spliced on.
struct UpstreamConnection: Sendable {
    let channel: any Channel
    let reader: NIOLoopBound<ResponseHeadReader>
}

extension NotebookGateway {
    /// Checks a WebSocket request for a notebook and, when it may pass, makes the same
    /// handshake with the sandbox's Jupyter: the 101, its accept key, subprotocol and
    /// extensions are Jupyter's, and what follows is spliced through byte for byte.
    /// Nil when the path is not a notebook's.
    func handshake(_ head: HTTPRequestHead, eventLoop: any EventLoop) async -> NotebookHandshake? {
        guard let sandbox = Self.sandbox(inPath: head.uri) else { return nil }
        let pairs = head.headers.map { ($0.name.lowercased(), $0.value) }
        do {
            let credential = try await authorize(sandbox: sandbox, headers: pairs)
            if let origin = head.headers.first(name: "origin"), !Self.isSameOrigin(origin, host: head.headers.first(name: "host")) {
                throw WarrenError(.forbidden, "a WebSocket from origin \(origin) is refused: it is not this daemon's origin")
            }
            var request = "GET \(head.uri) HTTP/1.1\r\n"
            for (name, value) in forwardedHeaders(pairs, credential: credential, sandbox: sandbox) {
                request += "\(name): \(value)\r\n"
            }
            request += "connection: Upgrade\r\nupgrade: websocket\r\n\r\n"
            return try await connect(socket: access.socketPath(sandbox), request: request, eventLoop: eventLoop)
        } catch {
            return .refused(NotebookRefusal(WarrenError.wrap(error)))
        }
    }

    private func connect(socket: String, request: String, eventLoop: any EventLoop) async throws -> NotebookHandshake {
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: eventLoop)
                .channelOption(.allowRemoteHalfClosure, value: true)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(ResponseHeadReader(promise: channel.eventLoop.makePromise()))
                    }
                }
                .connect(unixDomainSocketPath: socket).get()
        } catch {
            throw WarrenError(.badGateway, "the sandbox's notebook server did not answer: \(error)")
        }
        let reader = try await channel.eventLoop.submit {
            try NIOLoopBound(channel.pipeline.syncOperations.handler(type: ResponseHeadReader.self), eventLoop: channel.eventLoop)
        }.get()
        do {
            try await channel.writeAndFlush(ByteBuffer(string: request)).get()
            let head = try await channel.eventLoop.flatSubmit { reader.value.head }.get()
            guard let response = ResponseHead.parse(head) else {
                throw WarrenError(.badGateway, "the sandbox's notebook server sent a malformed answer")
            }
            guard response.status == 101 else {
                channel.close(promise: nil)
                var refusal = NotebookRefusal(WarrenError(WarrenError.code(forHTTPStatus: response.status),
                                                          "the notebook server refused the WebSocket (\(response.status))"))
                refusal.status = response.status
                return .refused(refusal)
            }
            var headers = HTTPHeaders()
            for (name, value) in response.headers where !["connection", "upgrade", "content-length", "transfer-encoding"].contains(name.lowercased()) {
                headers.add(name: name, value: value)
            }
            return .accepted(headers, UpstreamConnection(channel: channel, reader: reader))
        } catch {
            channel.close(promise: nil)
            throw error
        }
    }

    /// The sandbox id of a `/notebooks/<id>/...` request target.
    static func sandbox(inPath target: String) -> String? {
        guard target.hasPrefix("/notebooks/") else { return nil }
        let rest = target.dropFirst("/notebooks/".count)
        let id = rest.prefix { $0 != "/" && $0 != "?" }
        return id.isEmpty ? nil : String(id)
    }

    /// Whether `origin` (scheme://host[:port]) names the host the request was sent to.
    static func isSameOrigin(_ origin: String, host: String?) -> Bool {
        guard let host, let url = URL(string: origin), let originHost = url.host, let scheme = url.scheme else { return false }
        let defaultPort = scheme == "https" ? 443 : 80
        let originAuthority = url.port.map { $0 == defaultPort ? originHost : "\(originHost):\($0)" } ?? originHost
        let bareHost = host.hasSuffix(":\(defaultPort)") ? String(host.dropLast(":\(defaultPort)".count)) : host
        return originAuthority.lowercased() == bareHost.lowercased()
    }
}

/// An HTTP/1.1 response head: status and header fields.
struct ResponseHead {
    var status: Int
    var headers: [(String, String)]

    static func parse(_ buffer: ByteBuffer) -> ResponseHead? {
        let text = String(decoding: buffer.readableBytesView, as: UTF8.self)
        var lines = text.components(separatedBy: "\r\n").makeIterator()
        guard let statusLine = lines.next(), statusLine.hasPrefix("HTTP/1."),
              let code = statusLine.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else { return nil }
        var headers: [(String, String)] = []
        while let line = lines.next(), !line.isEmpty {
            guard let colon = line.firstIndex(of: ":") else { return nil }
            headers.append((String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
        }
        return ResponseHead(status: code, headers: headers)
    }
}

/// Reads an HTTP response head off a raw connection, then holds what follows it until
/// `release()`, after which bytes pass straight through.
final class ResponseHeadReader: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    static let maxHead = 64 << 10
    private let promise: EventLoopPromise<ByteBuffer>
    private var buffer = ByteBuffer()
    private var state: State = .readingHead
    private var context: ChannelHandlerContext?
    private enum State { case readingHead, holding, passing }

    init(promise: EventLoopPromise<ByteBuffer>) { self.promise = promise }

    var head: EventLoopFuture<ByteBuffer> { promise.futureResult }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        switch state {
        case .passing:
            context.fireChannelRead(data)
        case .holding:
            buffer.writeBuffer(&incoming)
        case .readingHead:
            buffer.writeBuffer(&incoming)
            let bytes = buffer.readableBytesView
            if let end = bytes.firstRange(of: [13, 10, 13, 10]) {
                let length = bytes.distance(from: bytes.startIndex, to: end.upperBound)
                let head = buffer.readSlice(length: length)!
                state = .holding
                promise.succeed(head)
            } else if buffer.readableBytes > Self.maxHead {
                state = .holding
                promise.fail(WarrenError(.badGateway, "the notebook server's answer head is larger than 64 KiB"))
                context.close(promise: nil)
            }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if state == .readingHead {
            state = .holding
            promise.fail(WarrenError(.badGateway, "the notebook server closed the connection during the handshake"))
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if state == .readingHead {
            state = .holding
            promise.fail(error)
        }
        context.fireErrorCaught(error)
    }

    /// Passes on what arrived after the head, then gets out of the way.
    func release() {
        guard let context, state == .holding else { return }
        state = .passing
        if buffer.readableBytes > 0 {
            context.fireChannelRead(wrapInboundOut(buffer))
            context.fireChannelReadComplete()
        }
        buffer = ByteBuffer()
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }
}
