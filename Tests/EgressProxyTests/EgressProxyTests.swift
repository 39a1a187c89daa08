import EgressProxy
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing
import WarrenCore

/// The egress proxy over a real Unix socket against a real origin server on the loopback,
/// with the resolver injected where a test needs a name to resolve somewhere.
@Suite("Egress proxy")
struct EgressProxyTests {
    /// An HTTP origin on 127.0.0.1: records each request head, answers "hello", closes.
    final class Origin: Sendable {
        let port: Int
        let heads = NIOLockedValueBoxStrings()
        let server: NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>

        init() async throws {
            server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .bind(host: "127.0.0.1", port: 0) { channel in
                    channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
                }
            port = server.channel.localAddress?.port ?? 0
            let heads = self.heads, server = self.server
            Task {
                try await withThrowingDiscardingTaskGroup { group in
                    try await server.executeThenClose { connections in
                        for try await connection in connections {
                            group.addTask {
                                try? await connection.executeThenClose { inbound, outbound in
                                    var text = ""
                                    for try await buffer in inbound {
                                        text += String(buffer: buffer)
                                        if text.contains("\r\n\r\n") { break }
                                    }
                                    heads.append(text)
                                    try await outbound.write(ByteBuffer(string: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"))
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    final class NIOLockedValueBoxStrings: Sendable {
        private let box = NIOLockedValueBox<[String]>([])
        func append(_ s: String) { box.withLockedValue { $0.append(s) } }
        var all: [String] { box.withLockedValue { $0 } }
    }

    final class Audit: Sendable {
        private let box = NIOLockedValueBox<[EgressRecord]>([])
        func add(_ c: EgressRecord) { box.withLockedValue { $0.append(c) } }
        var all: [EgressRecord] { box.withLockedValue { $0 } }
    }

    /// A proxy on a fresh Unix socket, serving until the test ends.
    func proxy(_ rules: [String], budget: EgressBudget = EgressBudget(),
               resolve: @escaping @Sendable (String) async throws -> [IPAddress] = { _ in [] })
        async throws -> (EgressProxy, String, Audit) {
        let audit = Audit()
        let proxy = EgressProxy(policy: try EgressPolicy(parsing: rules), budget: budget, resolve: resolve, record: { audit.add($0) })
        let path = NSTemporaryDirectory() + "warren-egress-\(UUID().uuidString.prefix(8)).sock"
        let server = try await EgressProxy.bind(unixSocket: path)
        Task { try await proxy.serve(server) }
        return (proxy, path, audit)
    }

    /// Sends `request` to the proxy and reads until it closes.
    func exchange(_ socket: String, _ request: String) async throws -> String {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(unixDomainSocketPath: socket) { channel in
                channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
            }
        return try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(ByteBuffer(string: request))
            var text = ""
            for try await buffer in inbound { text += String(buffer: buffer) }
            return text
        }
    }

    @Test("CONNECT to an allowed block tunnels both ways; the audit has the address and the bytes")
    func tunnel() async throws {
        let origin = try await Origin()
        let (_, socket, audit) = try await proxy(["127.0.0.1/32"])
        let out = try await exchange(socket, "CONNECT 127.0.0.1:\(origin.port) HTTP/1.1\r\nHost: x\r\n\r\nGET /inside HTTP/1.1\r\nHost: o\r\n\r\n")
        #expect(out.hasPrefix("HTTP/1.1 200 Connection Established\r\n\r\nHTTP/1.1 200 OK") && out.hasSuffix("hello"), "\(out)")
        #expect(origin.heads.all.first?.hasPrefix("GET /inside HTTP/1.1") == true)
        // The connection is recorded once both sides have ended, just after the client saw its end.
        for _ in 0..<100 where audit.all.isEmpty { try await Task.sleep(for: .milliseconds(20)) }
        let entry = try #require(audit.all.first)
        #expect(entry.allowed && entry.address == "127.0.0.1" && entry.port == origin.port && entry.bytesIn > 0 && entry.bytesOut > 0, "\(entry)")
    }

    @Test("plain HTTP is forwarded in origin form, without the proxy's headers, closed after one request")
    func forward() async throws {
        let origin = try await Origin()
        let (_, socket, _) = try await proxy(["127.0.0.1/32"])
        let out = try await exchange(socket, "GET http://127.0.0.1:\(origin.port)/path?q=1 HTTP/1.1\r\nProxy-Authorization: Basic c2VjcmV0\r\n"
                                     + "Proxy-Connection: keep-alive\r\nAccept: */*\r\n\r\n")
        #expect(out.hasPrefix("HTTP/1.1 200 OK") && out.hasSuffix("hello"), "\(out)")
        let head = try #require(origin.heads.all.first)
        #expect(head.hasPrefix("GET /path?q=1 HTTP/1.1\r\n") && head.contains("Accept: */*\r\n") && head.contains("Connection: close\r\n"), "\(head)")
        #expect(head.contains("Host: 127.0.0.1:\(origin.port)\r\n") && !head.lowercased().contains("proxy-"), "\(head)")
    }

    @Test("a host the policy does not name gets a clear 403 and nothing is contacted; a runtime change takes effect at once")
    func denied() async throws {
        let origin = try await Origin()
        let (proxy, socket, audit) = try await proxy(["example.org"])
        let out = try await exchange(socket, "CONNECT 127.0.0.1:\(origin.port) HTTP/1.1\r\n\r\n")
        #expect(out.hasPrefix("HTTP/1.1 403 Forbidden") && out.contains("host 127.0.0.1:\(origin.port) is not allowed for this sandbox"), "\(out)")
        for _ in 0..<100 where audit.all.isEmpty { try await Task.sleep(for: .milliseconds(20)) }
        #expect(origin.heads.all.isEmpty && audit.all.first?.allowed == false)
        proxy.policy = try EgressPolicy(parsing: ["127.0.0.1/32:\(origin.port)"])
        let now = try await exchange(socket, "GET http://127.0.0.1:\(origin.port)/ HTTP/1.1\r\n\r\n")
        #expect(now.hasSuffix("hello"), "\(now)")
    }

    @Test("an allowed name that resolves to loopback or cloud metadata is refused (DNS rebinding); a public address is used")
    func rebinding() async throws {
        let origin = try await Origin()
        let (_, socket, audit) = try await proxy(["rebind.test", "api.test"]) { name in
            name == "rebind.test" ? [IPAddress("127.0.0.1")!, IPAddress("169.254.169.254")!] : [IPAddress("203.0.113.9")!]
        }
        let out = try await exchange(socket, "CONNECT rebind.test:\(origin.port) HTTP/1.1\r\n\r\n")
        #expect(out.hasPrefix("HTTP/1.1 403") && out.contains("resolves only to addresses this sandbox may not reach")
                && out.contains("loopback") && out.contains("link-local"), "\(out)")
        #expect(origin.heads.all.isEmpty)
        for _ in 0..<100 where audit.all.isEmpty { try await Task.sleep(for: .milliseconds(20)) }
        #expect(audit.all.first?.reason == "address not allowed")
        // 203.0.113.0/24 is documentation space, special-purpose too: refused the same way.
        let doc = try await exchange(socket, "CONNECT api.test:443 HTTP/1.1\r\n\r\n")
        #expect(doc.hasPrefix("HTTP/1.1 403") && doc.contains("documentation"), "\(doc)")
    }

    @Test("malformed and oversized heads get 400 and 431; https:// without CONNECT is explained")
    func malformed() async throws {
        let (_, socket, _) = try await proxy(["127.0.0.1/32"])
        #expect(try await exchange(socket, "GARBAGE\r\n\r\n").hasPrefix("HTTP/1.1 400"))
        #expect(try await exchange(socket, "CONNECT 127.0.0.1 HTTP/1.1\r\n\r\n").contains("CONNECT needs HOST:PORT"))
        #expect(try await exchange(socket, "GET https://x.test/ HTTP/1.1\r\n\r\n").contains("goes through CONNECT"))
        let huge = "GET http://127.0.0.1/ HTTP/1.1\r\nX: " + String(repeating: "a", count: 20_000)
        #expect(try await exchange(socket, huge).hasPrefix("HTTP/1.1 431"))
    }

    /// A SOCKS5 conversation: the greeting, then (when the proxy accepted it) the request,
    /// then `payload`; returns the method reply, the request reply and what followed.
    func socks(_ socket: String, methods: [UInt8] = [0], request: [UInt8], payload: String) async throws -> ([UInt8], [UInt8], String) {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(unixDomainSocketPath: socket) { channel in
                channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
            }
        return try await channel.executeThenClose { inbound, outbound in
            var bytes: [UInt8] = []
            var iterator = inbound.makeAsyncIterator()
            try await outbound.write(ByteBuffer(bytes: [5, UInt8(methods.count)] + methods))
            while bytes.count < 2, let b = try await iterator.next() { bytes += b.readableBytesView }
            let method = Array(bytes.prefix(2))
            bytes.removeFirst(min(2, bytes.count))
            guard method == [5, 0] else { return (method, [], "") }
            try await outbound.write(ByteBuffer(bytes: request))
            while bytes.count < 10, let b = try await iterator.next() { bytes += b.readableBytesView }
            let reply = Array(bytes.prefix(10))
            bytes.removeFirst(min(10, bytes.count))
            guard reply.count == 10, reply[1] == 0 else { return (method, reply, "") }
            try await outbound.write(ByteBuffer(string: payload))
            while let b = try await iterator.next() { bytes += b.readableBytesView }
            return (method, reply, String(decoding: bytes, as: UTF8.self))
        }
    }

    static func port(_ p: Int) -> [UInt8] { [UInt8(p >> 8), UInt8(p & 0xff)] }

    @Test("SOCKS5: CONNECT by address and by name (resolved by the proxy) carries bytes; a denied host gets reply 2, an unknown command 7")
    func socksConnect() async throws {
        let origin = try await Origin()
        let (_, socket, audit) = try await proxy(["127.0.0.1/32", "origin.test"]) { name in
            name == "origin.test" ? [IPAddress("127.0.0.1")!] : []
        }
        let get = "GET /s HTTP/1.1\r\nHost: o\r\n\r\n"
        let (method, reply, out) = try await socks(socket, request: [5, 1, 0, 1, 127, 0, 0, 1] + Self.port(origin.port), payload: get)
        #expect(method == [5, 0] && reply.prefix(2) == [5, 0] && out.hasSuffix("hello"), "\(method) \(reply) \(out)")
        let originName = Array("origin.test".utf8)
        let (_, byName, named) = try await socks(socket, request: [5, 1, 0, 3, UInt8(originName.count)] + originName + Self.port(origin.port), payload: get)
        #expect(byName.prefix(2) == [5, 0] && named.hasSuffix("hello"), "by name: \(byName) \(named)")
        let name = Array("denied.test".utf8)
        let (_, refused, _) = try await socks(socket, request: [5, 1, 0, 3, UInt8(name.count)] + name + [0, 80], payload: "")
        #expect(refused.prefix(2) == [5, 2], "not allowed by the rules: \(refused)")
        let (_, bind, _) = try await socks(socket, request: [5, 2, 0, 1, 127, 0, 0, 1, 0, 80], payload: "")
        #expect(bind.prefix(2) == [5, 7], "BIND is not supported: \(bind)")
        let (noAuth, _, _) = try await socks(socket, methods: [2], request: [], payload: "")
        #expect(noAuth == [5, 0xFF], "only no-authentication is offered")
        for _ in 0..<100 where audit.all.count < 3 { try await Task.sleep(for: .milliseconds(20)) }
        let socksEntries = audit.all.filter { $0.via == "socks" }
        #expect(socksEntries.contains { $0.allowed && $0.bytesIn > 0 } && socksEntries.contains { !$0.allowed && $0.host == "denied.test" })
        #expect(socksEntries.contains { $0.allowed && $0.host == "origin.test" && $0.address == "127.0.0.1" })
    }

    @Test("a byte budget: the connection that crosses it is cut, the next one is refused with a clear answer")
    func budget() async throws {
        let origin = try await Origin()
        let budget = EgressBudget(limit: 60)
        let (_, socket, audit) = try await proxy(["127.0.0.1/32"], budget: budget)
        let first = try await exchange(socket, "GET http://127.0.0.1:\(origin.port)/ HTTP/1.1\r\n\r\n")
        #expect(!first.hasSuffix("hello"), "the answer goes past 60 bytes (with the request) and is cut: \(first)")
        #expect(budget.spent == 60)
        let next = try await exchange(socket, "GET http://127.0.0.1:\(origin.port)/ HTTP/1.1\r\n\r\n")
        #expect(next.hasPrefix("HTTP/1.1 403") && next.contains("egress budget of 60 bytes for this sandbox is spent"), "\(next)")
        for _ in 0..<100 where audit.all.count < 2 { try await Task.sleep(for: .milliseconds(20)) }
        #expect(audit.all.map(\.reason).contains("budget spent"))
    }

    @Test("a secret's headers replace the sandbox's own of the same name; connection headers go; the origin is asked to close")
    func injecting() throws {
        let head = "GET /repo.git/info/refs?service=git-upload-pack HTTP/1.1\r\nHost: git.test\r\nauthorization: Basic cGxhY2Vob2xkZXI=\r\n"
            + "Connection: keep-alive\r\nProxy-Authorization: x\r\nUser-Agent: git/2.39\r\n\r\n"
        let origin = try ProxyRequestHead.Origin(parsing: Array(head.utf8))
        let out = String(decoding: origin.injecting(["Authorization": "Basic c2VjcmV0"]), as: UTF8.self)
        #expect(out == "GET /repo.git/info/refs?service=git-upload-pack HTTP/1.1\r\nHost: git.test\r\nUser-Agent: git/2.39\r\n"
                + "Authorization: Basic c2VjcmV0\r\nConnection: close\r\n\r\n")
        for bad in ["GET http://x/ HTTP/1.1\r\n\r\n", "GET / HTTP/2\r\n\r\n", "GET /\r\n\r\n", "GET / HTTP/1.1\r\n: v\r\n\r\n"] {
            #expect(throws: WarrenError.self, "\(bad)") { try ProxyRequestHead.Origin(parsing: Array(bad.utf8)) }
        }
    }

    @Test("the authority is made once per data root, its key readable by the daemon only, and serves names and addresses")
    func authority() async throws {
        let dir = NSTemporaryDirectory() + "warren-ca-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let ca = try EgressAuthority(directory: dir)
        let again = try EgressAuthority(directory: dir)
        #expect(ca.certificatePEM == again.certificatePEM, "made once per data root")
        let mode = try FileManager.default.attributesOfItem(atPath: dir + "/ca.key")[.posixPermissions] as? Int
        #expect(mode == 0o600)
        _ = try ca.serverContext(for: "git.test")
        #expect(throws: Never.self) { try ca.serverContext(for: "11.99.1.2") }
    }
}
