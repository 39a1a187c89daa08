import Foundation
import Logging
import RuntimeDriver
import Testing
import WarrenCore
@testable import WarrenDaemon
#if canImport(Glibc)
import Glibc
#endif

@Suite("Unix socket listener", .serialized)
struct UnixSocketTests {
    /// A daemon with a fake driver in a temporary directory, running until `body` returns.
    func withDaemon(allowedPeers: Set<uid_t>? = nil, preexisting: Bool = false,
                    _ body: @Sendable (String) async throws -> Void) async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wd-\(UUID().uuidString.prefix(8))").path
        let socket = dir + "/run/warren.sock"
        if preexisting {
            try FileManager.default.createDirectory(atPath: dir + "/run", withIntermediateDirectories: true)
            try makeStaleSocket(socket)
        }
        var configured = WarrenDaemon(
            configuration: DaemonConfiguration(socketPath: socket, dataRoot: dir + "/data", helperPath: "/nonexistent"),
            drivers: DriverRegistry([FakeDriver()], defaultName: "fake"), logger: quietLogger)
        configured.allowedPeerUIDs = allowedPeers
        let daemon = configured
        let (ready, readyContinuation) = AsyncStream<Void>.makeStream()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await daemon.run(gracefulShutdownSignals: []) { readyContinuation.yield() }
            }
            var iterator = ready.makeAsyncIterator()
            _ = await iterator.next()
            try await body(socket)
            group.cancelAll()
        }
        try? FileManager.default.removeItem(atPath: dir)
    }

    @Test func socketIsOwnerOnlyAndServesTheAPI() async throws {
        try await withDaemon { socket in
            var st = stat()
            #expect(stat(socket, &st) == 0)
            #expect(st.st_mode & 0o777 == 0o600)
            #expect(st.st_mode & S_IFMT == S_IFSOCK)
            let response = try await rawRequest(socket, "GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            #expect(response.hasPrefix("HTTP/1.1 200"))
            #expect(response.contains(#""status":"ok""#))
        }
    }

    @Test func staleSocketFileIsReplaced() async throws {
        try await withDaemon(preexisting: true) { socket in
            let response = try await rawRequest(socket, "GET /v1/version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            #expect(response.hasPrefix("HTTP/1.1 200"))
        }
    }

    @Test func secondDaemonOnALiveSocketIsRefused() async throws {
        try await withDaemon { socket in
            let error = #expect(throws: WarrenError.self) {
                try UnixSocket.prepare(socket, logger: Logger(label: "test"))
            }
            #expect(error?.code == .conflict)
            // The probe's connection must be fully accepted before the server shuts down:
            // a connection still being set up when NIO's server closes crashes the process
            // (NIOAsyncWriter deinit). A request served after it proves it was.
            let response = try await rawRequest(socket, "GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            #expect(response.hasPrefix("HTTP/1.1 200"))
        }
    }

    @Test func peersWithAnotherUIDAreRefused() async throws {
        // Pretend only some other user may connect: this process is then a stranger.
        try await withDaemon(allowedPeers: [54_321]) { socket in
            let response = try await rawRequest(socket, "GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(response.hasPrefix("HTTP/1.1 403"))
            #expect(response.contains(#""code":"forbidden""#))
            #expect(!response.contains(#""status":"ok""#))
        }
    }

    @Test("/llm and the API share a keep-alive connection: pipelined requests are answered in order")
    func facadeAndAPIOnOneConnection() async throws {
        try await withDaemon { socket in
            let models = "GET /llm/v1/models HTTP/1.1\r\nHost: x\r\n\r\n"
            let response = try await rawRequest(socket, models + "GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n"
                + "GET /llm/v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            let statuses = response.matches(of: /HTTP\/1\.1 (\d{3})/).map { String($0.output.1) }
            #expect(statuses == ["401", "200", "401"], "\(response)")
            // The facade's refusal is in OpenAI's shape; the API's answer is the daemon's own.
            #expect(response.components(separatedBy: "invalid_api_key").count == 3)
            #expect(response.contains(#""status":"ok""#))
        }
    }

    @Test func peersWithAnotherUIDAreRefusedTheFacadeToo() async throws {
        try await withDaemon(allowedPeers: [54_321]) { socket in
            let response = try await rawRequest(socket, "GET /llm/v1/models HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(response.hasPrefix("HTTP/1.1 403") && response.contains(#""code":"forbidden""#), "\(response)")
        }
    }

    // MARK: - Raw socket helpers

    func unixAddress(_ path: String) -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            let bytes = Array(path.utf8)
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        return address
    }

    func connectUnix(_ path: String) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = unixAddress(path)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard result == 0 else { close(fd); throw WarrenError(.unavailable, "connect \(path): errno \(errno)") }
        return fd
    }

    /// Sends `request` and reads until the server closes the connection. The blocking
    /// socket calls run on a thread of their own: on a 2-core machine, blocking the
    /// cooperative pool can starve the very server the test is talking to.
    func rawRequest(_ path: String, _ request: String) async throws -> String {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<String, any Error>) in
            Thread {
                continuation.resume(with: Result { try blockingRequest(path, request) })
            }.start()
        }
    }

    private func blockingRequest(_ path: String, _ request: String) throws -> String {
        let fd = try connectUnix(path)
        defer { close(fd) }
        // Bounded so a broken server fails the test; generous, as a loaded 2-core CI machine is slow.
        var timeout = timeval(tv_sec: 180, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        _ = request.utf8CString.withUnsafeBufferPointer { send(fd, $0.baseAddress, $0.count - 1, 0) }
        var output = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            output.append(contentsOf: buffer[0..<n])
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// Leaves a socket file behind with nobody listening, like a crashed daemon does.
    func makeStaleSocket(_ path: String) throws {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = unixAddress(path)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard result == 0 else { throw WarrenError(.internalError, "bind \(path): errno \(errno)") }
    }
}
