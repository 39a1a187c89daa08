import NIOCore
import NIOSSL
import WarrenCore

// MARK: - Secrets at the edge: TLS terminated for the hosts whose headers the proxy adds

extension EgressProxy {
    /// A CONNECT to a host with a secret: the proxy answers the TLS handshake with a
    /// certificate of the daemon's authority, adds the secret's headers to the request
    /// (replacing any of the same name the sandbox sent) and sends it on over TLS to the
    /// real host, verified as any client would. Each tunnel carries one request (the
    /// origin is asked to close after it), so every request is seen and given the headers.
    func intercept(_ client: NIOAsyncChannel<ByteBuffer, ByteBuffer>, host: String, port: Int, headers: [String: String],
                   authority: EgressAuthority, _ requests: inout Requests, _ outbound: Writer) async throws {
        var audit = EgressRecord(host: host, port: port, via: "intercept")
        defer { self.record(audit) }
        let address: IPAddress
        do {
            address = try await destination(host, port)
        } catch let refusal as Refusal {
            audit.reason = refusal.reason
            try await outbound.write(ByteBuffer(bytes: Self.answer(refusal)))
            return
        }
        audit.address = address.description
        // TLS goes in front of the connection first, and the tunnel's answer is written
        // below it in plain text, in the same turn of the event loop: the client's
        // ClientHello, sent once it reads the answer, can only ever reach the TLS handler.
        let context = try authority.serverContext(for: host)
        let channel = client.channel
        try await channel.eventLoop.flatSubmit {
            do {
                let tls = NIOSSLServerHandler(context: context)
                try channel.pipeline.syncOperations.addHandler(tls, position: .first)
                let below = try channel.pipeline.syncOperations.context(handler: tls)
                return below.writeAndFlush(NIOAny(ByteBuffer(string: "HTTP/1.1 200 Connection Established\r\n\r\n")))
            } catch {
                return channel.eventLoop.makeFailedFuture(error)
            }
        }.get()
        let head: (ProxyRequestHead.Origin, [UInt8])
        do {
            guard let read = try await Self.readOriginHead(&requests) else {
                audit.reason = "no request"
                return
            }
            head = read
        } catch let error as WarrenError {
            audit.reason = "bad request"
            try? await outbound.write(ByteBuffer(bytes: Self.answer(Refusal(status: 400, socksReply: 1, message: error.message, reason: ""))))
            return
        } catch {
            audit.reason = "TLS with the sandbox failed"
            return
        }
        let upstream: NIOAsyncChannel<ByteBuffer, ByteBuffer>
        do {
            upstream = try await connect(address, host, port, client.channel.eventLoop, tls: authority.originContext)
        } catch let refusal as Refusal {
            audit.reason = refusal.reason
            try? await outbound.write(ByteBuffer(bytes: Self.answer(refusal)))
            return
        }
        audit.allowed = true
        try await relay(client, upstream, head.0.injecting(headers) + head.1, &requests, outbound, &audit)
    }

    /// The first request head inside the tunnel and the bytes after it; nil if the client left first.
    static func readOriginHead(_ requests: inout Requests) async throws -> (ProxyRequestHead.Origin, [UInt8])? {
        var bytes: [UInt8] = []
        while true {
            if let end = ProxyRequestHead.end(in: bytes) {
                return (try ProxyRequestHead.Origin(parsing: Array(bytes[..<end])), Array(bytes[end...]))
            }
            if bytes.count > ProxyRequestHead.maxBytes {
                throw WarrenError(.invalidArgument, "the request head is over \(ProxyRequestHead.maxBytes) bytes")
            }
            guard let buffer = try await requests.next() else { return nil }
            bytes += buffer.readableBytesView
        }
    }
}

extension ProxyRequestHead {
    /// A request head in origin form (`GET /path HTTP/1.1`), as sent inside a tunnel.
    public struct Origin: Equatable, Sendable {
        public var requestLine: String
        /// Header lines in order, as sent.
        public var fields: [(name: String, value: String)]

        public static func == (a: Origin, b: Origin) -> Bool {
            a.requestLine == b.requestLine && a.fields.map(\.name) == b.fields.map(\.name) && a.fields.map(\.value) == b.fields.map(\.value)
        }

        public init(parsing head: [UInt8]) throws {
            guard let text = String(validating: head, as: UTF8.self) else { throw ProxyRequestHead.bad("the request head is not UTF-8") }
            var lines = text.components(separatedBy: "\r\n")
            guard lines.count >= 3, lines.suffix(2) == ["", ""] else { throw ProxyRequestHead.bad("the request head does not end in a blank line") }
            lines.removeLast(2)
            requestLine = lines.removeFirst()
            let parts = requestLine.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 3, parts[2] == "HTTP/1.1" || parts[2] == "HTTP/1.0", !parts[0].isEmpty,
                  parts[0].allSatisfy({ $0.isASCII && $0.isUppercase }), parts[1].hasPrefix("/") || parts[1] == "*" else {
                throw ProxyRequestHead.bad("the request line is not METHOD /PATH HTTP/1.x")
            }
            fields = try lines.map { line in
                guard let colon = line.firstIndex(of: ":"), colon != line.startIndex else {
                    throw ProxyRequestHead.bad("a header line has no name")
                }
                return (String(line[..<colon]), String(line[line.index(after: colon)...]).trimmingCharacters(in: .whitespaces))
            }
        }

        /// The head with `headers` set (any sent under the same names dropped), the
        /// connection's own headers dropped and `Connection: close` asked for.
        public func injecting(_ headers: [String: String]) -> [UInt8] {
            let replaced = Set(headers.keys.map { $0.lowercased() })
            var out = requestLine + "\r\n"
            for (name, value) in fields {
                let lower = name.lowercased()
                if replaced.contains(lower) || lower == "connection" || lower == "keep-alive" || lower.hasPrefix("proxy-")
                    || lower == "upgrade" { continue }
                out += "\(name): \(value)\r\n"
            }
            for (name, value) in headers.sorted(by: { $0.key < $1.key }) { out += "\(name): \(value)\r\n" }
            return Array((out + "Connection: close\r\n\r\n").utf8)
        }
    }
}
