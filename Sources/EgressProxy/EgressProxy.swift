import Foundation
import LinuxSupport
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import WarrenCore

/// One egress connection, as the proxy saw it: what the sandbox asked for, where it went
/// (or why not), and the bytes each way.
public struct EgressConnection: Sendable, Equatable {
    public var host: String
    public var port: Int
    /// The address connected to; nil when refused before connecting.
    public var address: String?
    public var allowed: Bool
    /// Why it was refused or failed.
    public var reason: String?
    public var bytesOut: Int64 = 0
    public var bytesIn: Int64 = 0
}

/// A sandbox's egress proxy: HTTP `CONNECT` tunnels and plain-HTTP forwarding to the
/// hosts its `EgressPolicy` allows, and nowhere else.
///
/// The proxy resolves names itself (the sandbox needs no DNS) and checks every address
/// it would connect to, so a name that resolves to loopback, link-local, private or the
/// host's own addresses is refused unless a block rule names them. A refused request gets
/// an HTTP answer saying why, never a hang. The policy may be changed while it runs;
/// new connections follow it at once.
public final class EgressProxy: Sendable {
    private let policyBox: NIOLockedValueBox<EgressPolicy>
    private let hostAddresses: Set<IPAddress>
    private let resolve: @Sendable (String) async throws -> [IPAddress]
    private let record: @Sendable (EgressConnection) -> Void
    /// How long connecting to an origin may take.
    public static let connectTimeout: TimeAmount = .seconds(10)
    /// How long a client may take to send its request's head.
    public static let headTimeout: Duration = .seconds(30)
    /// Connections one proxy carries at once; further ones are closed at once.
    public static let maxConnections = 256
    private let active = NIOLockedValueBox(0)

    public init(policy: EgressPolicy, hostAddresses: Set<IPAddress> = [],
                resolve: @escaping @Sendable (String) async throws -> [IPAddress] = EgressProxy.systemResolve,
                record: @escaping @Sendable (EgressConnection) -> Void = { _ in }) {
        policyBox = NIOLockedValueBox(policy)
        self.hostAddresses = hostAddresses
        self.resolve = resolve
        self.record = record
    }

    public var policy: EgressPolicy {
        get { policyBox.withLockedValue { $0 } }
        set { policyBox.withLockedValue { $0 = newValue } }
    }

    /// Serves `channel`'s connections until it closes.
    public func serve(_ server: NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>) async throws {
        try await withThrowingDiscardingTaskGroup { group in
            try await server.executeThenClose { connections in
                for try await connection in connections {
                    let admitted = self.active.withLockedValue { n -> Bool in
                        guard n < Self.maxConnections else { return false }
                        n += 1
                        return true
                    }
                    guard admitted else {
                        connection.channel.close(promise: nil)
                        continue
                    }
                    group.addTask {
                        await self.handle(connection)
                        self.active.withLockedValue { $0 -= 1 }
                    }
                }
            }
        }
    }

    /// Binds a listener on the Unix socket `path` (which must not exist).
    public static func bind(unixSocket path: String, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws
        -> NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never> {
        try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .bind(unixDomainSocketPath: path) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
    }

    // MARK: - One connection

    typealias Requests = NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    typealias Writer = NIOAsyncChannelOutboundWriter<ByteBuffer>

    func handle(_ client: NIOAsyncChannel<ByteBuffer, ByteBuffer>) async {
        try? await client.executeThenClose { inbound, outbound in
            var requests = inbound.makeAsyncIterator()
            // A client that never finishes its head is not kept waiting on.
            let deadline = Task {
                try await Task.sleep(for: Self.headTimeout)
                client.channel.close(promise: nil)
            }
            let head = try await Self.readHead(&requests, outbound)
            deadline.cancel()
            guard let (request, leftover) = head else { return }
            var audit = EgressConnection(host: request.target.host, port: request.target.port, allowed: false)
            defer { self.record(audit) }
            guard let address = try await self.destination(request, &audit, outbound),
                  let upstream = try await self.connect(address, request, &audit, client.channel.eventLoop, outbound) else { return }
            audit.allowed = true
            try await self.relay(client, upstream, request, leftover, &requests, outbound, &audit)
        }
    }

    /// The request's head and the bytes after it; nil once it was answered (or the client left).
    static func readHead(_ requests: inout Requests, _ outbound: Writer) async throws -> (ProxyRequestHead, [UInt8])? {
        var bytes: [UInt8] = []
        while true {
            guard let buffer = try await requests.next() else { return nil }
            bytes += buffer.readableBytesView
            if let end = ProxyRequestHead.end(in: bytes) {
                do {
                    return (try ProxyRequestHead(parsing: Array(bytes[..<end])), Array(bytes[end...]))
                } catch let error as WarrenError {
                    try await answer(outbound, 400, error.message)
                    return nil
                }
            }
            if bytes.count > ProxyRequestHead.maxBytes {
                try await answer(outbound, 431, "the request head is over \(ProxyRequestHead.maxBytes) bytes")
                return nil
            }
        }
    }

    /// The address to connect to, checked against the policy; nil once refused.
    func destination(_ request: ProxyRequestHead, _ audit: inout EgressConnection, _ outbound: Writer) async throws -> IPAddress? {
        let (host, port) = request.target
        let policy = self.policy
        guard policy.allows(host: host, port: port) else {
            audit.reason = "not allowed"
            try await Self.answer(outbound, 403, "host \(host):\(port) is not allowed for this sandbox")
            return nil
        }
        let literal = IPAddress(EgressPolicy.unbracketed(host))
        var candidates: [IPAddress]
        if let literal {
            candidates = [literal]
        } else {
            do {
                candidates = try await resolve(host)
            } catch {
                audit.reason = "unresolved"
                try await Self.answer(outbound, 502, "host \(host) does not resolve: \(error)")
                return nil
            }
        }
        let own = hostAddresses
        if let address = candidates.first(where: { policy.allows(address: $0, port: port, named: literal == nil ? host : nil, hostAddresses: own) }) {
            audit.address = address.description
            return address
        }
        let kinds = Set(candidates.compactMap { EgressAddresses.specialPurpose($0) ?? (own.contains($0) ? "this host's own" : nil) })
        audit.reason = "address not allowed"
        try await Self.answer(outbound, 403, "host \(host) resolves only to addresses this sandbox may not reach"
                              + (kinds.isEmpty ? "" : " (\(kinds.sorted().joined(separator: ", ")))"))
        return nil
    }

    func connect(_ address: IPAddress, _ request: ProxyRequestHead, _ audit: inout EgressConnection, _ loop: any EventLoop,
                 _ outbound: Writer) async throws -> NIOAsyncChannel<ByteBuffer, ByteBuffer>? {
        do {
            let socketAddress = try SocketAddress(ipAddress: address.description, port: request.target.port)
            return try await ClientBootstrap(group: loop)
                .connectTimeout(Self.connectTimeout)
                .channelOption(.allowRemoteHalfClosure, value: true)
                .connect(to: socketAddress) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel,
                                                                    configuration: .init(isOutboundHalfClosureEnabled: true))
                    }
                }
        } catch {
            audit.reason = "connect failed"
            try await Self.answer(outbound, 502, "cannot connect to \(request.target.host):\(request.target.port): \(error)")
            return nil
        }
    }

    /// Carries bytes both ways until the origin ends (then the client is closed too) or the client does.
    func relay(_ client: NIOAsyncChannel<ByteBuffer, ByteBuffer>, _ upstream: NIOAsyncChannel<ByteBuffer, ByteBuffer>,
               _ request: ProxyRequestHead, _ leftover: [UInt8], _ requests: inout Requests, _ outbound: Writer,
               _ audit: inout EgressConnection) async throws {
        var sent: Int64 = 0
        let received: Int64 = try await upstream.executeThenClose { upstreamIn, upstreamOut in
            switch request {
            case .tunnel:
                try await outbound.write(ByteBuffer(string: "HTTP/1.1 200 Connection Established\r\n\r\n"))
            case .forward(_, _, let head):
                try await upstreamOut.write(ByteBuffer(bytes: head))
                sent += Int64(head.count)
            }
            if !leftover.isEmpty {
                try await upstreamOut.write(ByteBuffer(bytes: leftover))
                sent += Int64(leftover.count)
            }
            let down = Task { () -> Int64 in
                var count: Int64 = 0
                do {
                    for try await buffer in upstreamIn {
                        count += Int64(buffer.readableBytes)
                        try await outbound.write(buffer)
                    }
                } catch {}
                client.channel.close(promise: nil)
                return count
            }
            do {
                while let buffer = try await requests.next() {
                    sent += Int64(buffer.readableBytes)
                    try await upstreamOut.write(buffer)
                }
                upstreamOut.finish()
            } catch {
                upstream.channel.close(promise: nil)
            }
            return await down.value
        }
        audit.bytesOut = sent
        audit.bytesIn = received
    }

    /// A short plain-text answer, then the connection closes.
    static func answer(_ outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>, _ status: Int, _ message: String) async throws {
        let reason = [400: "Bad Request", 403: "Forbidden", 431: "Request Header Fields Too Large", 502: "Bad Gateway"][status] ?? "Error"
        let body = "warren egress: \(message)\n"
        try await outbound.write(ByteBuffer(string: "HTTP/1.1 \(status) \(reason)\r\nContent-Type: text/plain; charset=utf-8\r\n"
                                            + "Content-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"))
    }

    /// The host's resolver (getaddrinfo), on a thread of its own.
    public static let systemResolve: @Sendable (String) async throws -> [IPAddress] = { host in
        try await runBlocking {
            var hints = addrinfo()
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            var result: UnsafeMutablePointer<addrinfo>?
            let rc = getaddrinfo(host, nil, &hints, &result)
            guard rc == 0, let first = result else {
                throw WarrenError(.notFound, String(cString: gai_strerror(rc)))
            }
            defer { freeaddrinfo(first) }
            var out: [IPAddress] = []
            var node: UnsafeMutablePointer<addrinfo>? = first
            while let n = node {
                if let sa = n.pointee.ai_addr {
                    if n.pointee.ai_family == AF_INET {
                        var a = sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr }
                        let b = withUnsafeBytes(of: &a) { Array($0) }
                        if let ip = IPAddress(bytes: b), !out.contains(ip) { out.append(ip) }
                    } else if n.pointee.ai_family == AF_INET6 {
                        var a = sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_addr }
                        let b = withUnsafeBytes(of: &a) { Array($0) }
                        if let ip = IPAddress(bytes: b), !out.contains(ip) { out.append(ip) }
                    }
                }
                node = n.pointee.ai_next
            }
            return out
        }
    }
}
