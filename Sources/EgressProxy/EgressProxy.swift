import Foundation
import LinuxSupport
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import WarrenCore

/// A sandbox's egress proxy: HTTP `CONNECT` tunnels, plain-HTTP forwarding and SOCKS5
/// `CONNECT` (told apart by the first byte) to the hosts its `EgressPolicy` allows, and
/// nowhere else.
///
/// The proxy resolves names itself (the sandbox needs no DNS) and checks every address
/// it would connect to, so a name that resolves to loopback, link-local, private or the
/// host's own addresses is refused unless a block rule names them. A refused request gets
/// an answer saying why (an HTTP status with a line of text, or a SOCKS reply code),
/// never a hang. The policy may be changed while it runs; new connections follow it at
/// once. With a byte budget, connections stop once the sandbox has moved that much.
public final class EgressProxy: Sendable {
    private let policyBox: NIOLockedValueBox<EgressPolicy>
    /// Host name → headers added to each of its requests (TLS terminated by `authority`).
    private let secretsBox: NIOLockedValueBox<[String: [String: String]]>
    private let authority: EgressAuthority?
    public let budget: EgressBudget
    private let hostAddresses: Set<IPAddress>
    private let resolve: @Sendable (String) async throws -> [IPAddress]
    let record: @Sendable (EgressRecord) -> Void
    /// How long connecting to an origin may take.
    public static let connectTimeout: TimeAmount = .seconds(10)
    /// How long a client may take to send its request's head.
    public static let headTimeout: Duration = .seconds(30)
    /// Reads grow to 1 MiB on a busy connection: a download costs fewer hops per byte.
    static let reads = AdaptiveRecvByteBufferAllocator(minimum: 4096, initial: 65_536, maximum: 1 << 20)
    /// How long a client may keep a connection open once the origin has ended it.
    static let lingerAfterOrigin: TimeAmount = .seconds(30)
    /// Connections one proxy carries at once; further ones are closed at once.
    public static let maxConnections = 256
    /// The client connections open now, closed by `closeConnections`.
    private let open = NIOLockedValueBox<[ObjectIdentifier: any Channel]>([:])

    public init(policy: EgressPolicy, secrets: [String: [String: String]] = [:], authority: EgressAuthority? = nil,
                budget: EgressBudget = EgressBudget(), hostAddresses: Set<IPAddress> = [],
                resolve: @escaping @Sendable (String) async throws -> [IPAddress] = EgressProxy.systemResolve,
                record: @escaping @Sendable (EgressRecord) -> Void = { _ in }) {
        policyBox = NIOLockedValueBox(policy)
        secretsBox = NIOLockedValueBox(secrets)
        self.authority = authority
        self.budget = budget
        self.hostAddresses = hostAddresses
        self.resolve = resolve
        self.record = record
    }

    public var policy: EgressPolicy {
        get { policyBox.withLockedValue { $0 } }
        set { policyBox.withLockedValue { $0 = newValue } }
    }

    /// The headers added per host; hosts with none are tunnelled untouched.
    public var secrets: [String: [String: String]] {
        get { secretsBox.withLockedValue { $0 } }
        set { secretsBox.withLockedValue { $0 = newValue } }
    }

    /// Serves `server`'s connections until it closes.
    public func serve(_ server: NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>) async throws {
        try await withThrowingDiscardingTaskGroup { group in
            try await server.executeThenClose { connections in
                for try await connection in connections {
                    let key = ObjectIdentifier(connection.channel)
                    let admitted = self.open.withLockedValue { open -> Bool in
                        guard open.count < Self.maxConnections else { return false }
                        open[key] = connection.channel
                        return true
                    }
                    guard admitted else {
                        connection.channel.close(promise: nil)
                        continue
                    }
                    group.addTask {
                        await self.handle(connection)
                        _ = self.open.withLockedValue { $0.removeValue(forKey: key) }
                    }
                }
            }
        }
    }

    /// Closes every client connection (with its origin connection); the sandbox is gone.
    public func closeConnections() {
        for channel in open.withLockedValue({ Array($0.values) }) { channel.close(promise: nil) }
    }

    /// Binds a listener on the Unix socket `path` (replacing a stale one) with mode 0600.
    public static func bind(unixSocket path: String, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws
        -> NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never> {
        let server = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelOption(.recvAllocator, value: reads)
            .childChannelOption(.socketOption(.so_sndbuf), value: 1 << 22)
            .bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel,
                                                                configuration: .init(isOutboundHalfClosureEnabled: true))
                }
            }
        chmod(path, 0o600)
        return server
    }

    // MARK: - One connection

    typealias Requests = NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    typealias Writer = NIOAsyncChannelOutboundWriter<ByteBuffer>

    /// Why a connection was not made: what the client is told and what the audit keeps.
    struct Refusal: Error {
        var status: Int
        var socksReply: UInt8
        var message: String
        var reason: String
    }

    func handle(_ client: NIOAsyncChannel<ByteBuffer, ByteBuffer>) async {
        try? await client.executeThenClose { inbound, outbound in
            var requests = inbound.makeAsyncIterator()
            // A client that never finishes its head is not kept waiting on.
            let deadline = Task {
                try await Task.sleep(for: Self.headTimeout)
                client.channel.close(promise: nil)
            }
            // However the head phase ends (a refusal, an error, the client leaving).
            defer { deadline.cancel() }
            guard let first = try await requests.next(), first.readableBytes > 0 else { return }
            let opening = Array(first.readableBytesView)
            if opening[0] == SOCKS5.version {
                let request = try await SOCKS5.handshake(opening, &requests, outbound)
                deadline.cancel()
                guard let (host, port, leftover) = request else { return }
                try await self.run(client, host: host, port: port, via: "socks", leftover: leftover, &requests, outbound,
                                   established: SOCKS5.reply(0), refused: { SOCKS5.reply($0.socksReply) })
            } else {
                let head = try await Self.readHead(opening, &requests, outbound)
                deadline.cancel()
                guard let (request, leftover) = head else { return }
                let (host, port) = request.target
                switch request {
                case .tunnel:
                    if let authority = self.authority, let headers = self.secrets[host] {
                        try await self.intercept(client, host: host, port: port, headers: headers, authority: authority,
                                                 &requests, outbound)
                        return
                    }
                    try await self.run(client, host: host, port: port, via: "connect", leftover: leftover, &requests, outbound,
                                       established: Array("HTTP/1.1 200 Connection Established\r\n\r\n".utf8),
                                       refused: Self.answer)
                case .forward(_, _, let head):
                    try await self.run(client, host: host, port: port, via: "http", leftover: head + leftover, &requests, outbound,
                                       established: [], refused: Self.answer)
                }
            }
        }
    }

    /// Checks and connects to `host:port`, tells the client, then carries bytes both ways.
    func run(_ client: NIOAsyncChannel<ByteBuffer, ByteBuffer>, host: String, port: Int, via: String, leftover: [UInt8],
             _ requests: inout Requests, _ outbound: Writer, established: [UInt8], refused: (Refusal) -> [UInt8]) async throws {
        var audit = EgressRecord(host: host, port: port, via: via)
        defer { self.record(audit) }
        let upstream: NIOAsyncChannel<ByteBuffer, ByteBuffer>
        do {
            let address = try await destination(host, port)
            audit.address = address.description
            upstream = try await connect(address, host, port, client.channel.eventLoop)
        } catch let refusal as Refusal {
            audit.reason = refusal.reason
            try await outbound.write(ByteBuffer(bytes: refused(refusal)))
            return
        }
        audit.allowed = true
        if !established.isEmpty { try await outbound.write(ByteBuffer(bytes: established)) }
        try await relay(client, upstream, leftover, &requests, outbound, &audit)
    }

    /// The request's head and the bytes after it; nil once it was answered (or the client left).
    static func readHead(_ opening: [UInt8], _ requests: inout Requests, _ outbound: Writer) async throws -> (ProxyRequestHead, [UInt8])? {
        var bytes = opening
        while true {
            if let end = ProxyRequestHead.end(in: bytes) {
                do {
                    return (try ProxyRequestHead(parsing: Array(bytes[..<end])), Array(bytes[end...]))
                } catch let error as WarrenError {
                    try await outbound.write(ByteBuffer(bytes: answer(Refusal(status: 400, socksReply: 1, message: error.message, reason: "bad request"))))
                    return nil
                }
            }
            if bytes.count > ProxyRequestHead.maxBytes {
                try await outbound.write(ByteBuffer(bytes: answer(Refusal(status: 431, socksReply: 1,
                    message: "the request head is over \(ProxyRequestHead.maxBytes) bytes", reason: "bad request"))))
                return nil
            }
            guard let buffer = try await requests.next() else { return nil }
            bytes += buffer.readableBytesView
        }
    }

    /// The address to connect to, checked against the policy and the budget.
    func destination(_ host: String, _ port: Int) async throws -> IPAddress {
        let policy = self.policy
        if let spent = budget.spent {
            throw Refusal(status: 403, socksReply: 2, message: "the egress budget of \(spent) bytes for this sandbox is spent",
                          reason: "budget spent")
        }
        guard policy.allows(host: host, port: port) else {
            throw Refusal(status: 403, socksReply: 2, message: "host \(host):\(port) is not allowed for this sandbox", reason: "not allowed")
        }
        let literal = IPAddress(EgressPolicy.unbracketed(host))
        var candidates: [IPAddress]
        if let literal {
            candidates = [literal]
        } else {
            do {
                candidates = try await resolve(host)
            } catch {
                throw Refusal(status: 502, socksReply: 4, message: "host \(host) does not resolve: \(error)", reason: "unresolved")
            }
        }
        let own = hostAddresses
        if let address = candidates.first(where: { policy.allows(address: $0, port: port, named: literal == nil ? host : nil, hostAddresses: own) }) {
            return address
        }
        let kinds = Set(candidates.compactMap { EgressAddresses.specialPurpose($0) ?? (own.contains($0) ? "this host's own" : nil) })
        throw Refusal(status: 403, socksReply: 2, message: "host \(host) resolves only to addresses this sandbox may not reach"
                      + (kinds.isEmpty ? "" : " (\(kinds.sorted().joined(separator: ", ")))"), reason: "address not allowed")
    }

    func connect(_ address: IPAddress, _ host: String, _ port: Int, _ loop: any EventLoop,
                 tls: NIOSSLContext? = nil) async throws -> NIOAsyncChannel<ByteBuffer, ByteBuffer> {
        do {
            let socketAddress = try SocketAddress(ipAddress: address.description, port: port)
            return try await ClientBootstrap(group: loop)
                .connectTimeout(Self.connectTimeout)
                .channelOption(.allowRemoteHalfClosure, value: true)
                .channelOption(.recvAllocator, value: Self.reads)
                .channelOption(.socketOption(.so_rcvbuf), value: 1 << 22)
                .connect(to: socketAddress) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        if let tls {
                            try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: tls, serverHostname: host))
                        }
                        return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel,
                                                                    configuration: .init(isOutboundHalfClosureEnabled: true))
                    }
                }
        } catch {
            throw Refusal(status: 502, socksReply: 5, message: "cannot connect to \(host):\(port): \(error)", reason: "connect failed")
        }
    }

    /// Carries bytes both ways until the origin ends (then the client is closed too), the
    /// client does, or the budget runs out (both are closed).
    func relay(_ client: NIOAsyncChannel<ByteBuffer, ByteBuffer>, _ upstream: NIOAsyncChannel<ByteBuffer, ByteBuffer>,
               _ leftover: [UInt8], _ requests: inout Requests, _ outbound: Writer, _ audit: inout EgressRecord) async throws {
        let budget = self.budget
        var sent: Int64 = 0
        // A client that half-closes still reads the answer; one that is gone (or closed by
        // `closeConnections`) takes its origin connection with it, however quiet that is.
        client.channel.closeFuture.whenComplete { _ in upstream.channel.close(promise: nil) }
        let received: Int64 = try await upstream.executeThenClose { upstreamIn, upstreamOut in
            let down = Task { () -> Int64 in
                var count: Int64 = 0
                var ended = false
                do {
                    for try await buffer in upstreamIn {
                        count += Int64(buffer.readableBytes)
                        guard budget.charge(buffer.readableBytes) else { break }
                        try await outbound.write(buffer)
                    }
                    ended = true
                } catch {}
                upstream.channel.close(promise: nil)
                if ended {
                    // The origin is done: what is still queued for the client goes out before
                    // its end of input; a client that then stays is closed after a while.
                    outbound.finish()
                    let channel = client.channel
                    channel.eventLoop.scheduleTask(in: Self.lingerAfterOrigin) { channel.close(promise: nil) }
                } else {
                    client.channel.close(promise: nil)
                }
                return count
            }
            do {
                var open = true
                if !leftover.isEmpty {
                    sent += Int64(leftover.count)
                    open = budget.charge(leftover.count)
                    if open { try await upstreamOut.write(ByteBuffer(bytes: leftover)) }
                }
                while open, let buffer = try await requests.next() {
                    sent += Int64(buffer.readableBytes)
                    guard budget.charge(buffer.readableBytes) else { break }
                    try await upstreamOut.write(buffer)
                }
                if budget.spent != nil {
                    upstream.channel.close(promise: nil)
                    client.channel.close(promise: nil)
                } else {
                    upstreamOut.finish()
                }
            } catch {
                upstream.channel.close(promise: nil)
            }
            return await down.value
        }
        audit.bytesOut = sent
        audit.bytesIn = received
        if budget.spent != nil { audit.reason = "budget spent" }
    }

    /// A short plain-text HTTP answer; the connection closes after it.
    static func answer(_ refusal: Refusal) -> [UInt8] {
        let reasons = [400: "Bad Request", 403: "Forbidden", 431: "Request Header Fields Too Large", 502: "Bad Gateway"]
        let body = "warren egress: \(refusal.message)\n"
        return Array(("HTTP/1.1 \(refusal.status) \(reasons[refusal.status] ?? "Error")\r\nContent-Type: text/plain; charset=utf-8\r\n"
                      + "Content-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)").utf8)
    }
}

/// The bytes a sandbox may still move through its proxy, shared by its connections.
public final class EgressBudget: Sendable {
    private let state: NIOLockedValueBox<(limit: Int64?, used: Int64)>

    public init(limit: Int64? = nil, used: Int64 = 0) { state = NIOLockedValueBox((limit, used)) }

    public var used: Int64 { state.withLockedValue { $0.used } }

    public var limit: Int64? {
        get { state.withLockedValue { $0.limit } }
        set { state.withLockedValue { $0.limit = newValue } }
    }

    /// The limit, once reached; nil while there is room.
    public var spent: Int64? {
        state.withLockedValue { s in s.limit.flatMap { s.used >= $0 ? $0 : nil } }
    }

    /// Counts `bytes`; false when they go past the limit (they are not to be sent).
    func charge(_ bytes: Int) -> Bool {
        state.withLockedValue { s in
            s.used += Int64(bytes)
            return s.limit.map { s.used <= $0 } ?? true
        }
    }
}
