#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// A blocking HTTP/1.1 and WebSocket client on one socket, the same for every target so
/// only the path to Jupyter differs: keep-alive GETs, and masked pings answered by pongs.
final class RawClient {
    private let fd: Int32
    private var buffer: [UInt8] = []

    init(unixSocket path: String) throws {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in path.utf8.enumerated() where i < raw.count - 1 { raw[i] = byte }
        }
        let ok = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard ok == 0 else { throw RawClientError("connect \(path): errno \(errno)") }
        limitWaits()
    }

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let ok = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard ok == 0 else { throw RawClientError("connect 127.0.0.1:\(port): errno \(errno)") }
        limitWaits()
    }

    deinit { close(fd) }

    /// No read waits longer than 30 s: a stuck path fails the run instead of hanging it.
    private func limitWaits() {
        var limit = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
    }

    // MARK: - HTTP

    /// One keep-alive GET; returns the status once the whole body has arrived.
    func get(_ target: String, host: String, headers: [String]) throws -> Int {
        let request = "GET \(target) HTTP/1.1\r\nHost: \(host)\r\n" + headers.map { $0 + "\r\n" }.joined() + "\r\n"
        try send(Array(request.utf8))
        let (status, fields) = try readHead()
        if let length = fields["content-length"].flatMap(Int.init) {
            _ = try read(length)
        } else if fields["transfer-encoding"]?.lowercased() == "chunked" {
            while true {
                let line = try readLine()
                let size = Int(line.split(separator: ";")[0], radix: 16) ?? 0
                _ = try read(size + 2)
                if size == 0 { break }
            }
        }
        return status
    }

    // MARK: - WebSocket

    /// The opening handshake; throws unless the answer is 101.
    func openWebSocket(_ target: String, host: String, headers: [String]) throws {
        let key = Data((0..<16).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
        let request = "GET \(target) HTTP/1.1\r\nHost: \(host)\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
            + "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: \(key)\r\n" + headers.map { $0 + "\r\n" }.joined() + "\r\n"
        try send(Array(request.utf8))
        let (status, _) = try readHead()
        guard status == 101 else { throw RawClientError("WebSocket handshake answered \(status)") }
    }

    /// Sends a masked ping and waits for its pong (skipping other frames).
    func ping() throws {
        let payload: [UInt8] = [0x77, 0x61, 0x72, 0x72, 0x65, 0x6e]
        let mask: [UInt8] = (0..<4).map { _ in UInt8.random(in: 0...255) }
        var frame: [UInt8] = [0x89, 0x80 | UInt8(payload.count)] + mask
        frame += payload.enumerated().map { $0.element ^ mask[$0.offset % 4] }
        try send(frame)
        while true {
            let head = try read(2)
            var length = Int(head[1] & 0x7f)
            if length == 126 {
                let ext = try read(2)
                length = Int(ext[0]) << 8 | Int(ext[1])
            } else if length == 127 {
                length = try read(8).reduce(0) { $0 << 8 | Int($1) }
            }
            _ = try read(length)
            if head[0] & 0x0f == 0x0a { return }
        }
    }

    // MARK: - Bytes

    private func send(_ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { throw RawClientError("write: errno \(errno)") }
            sent += n
        }
    }

    private func fill() throws {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        guard n > 0 else { throw RawClientError(n == 0 ? "the connection closed" : "read: errno \(errno)") }
        buffer += chunk[..<n]
    }

    private func read(_ count: Int) throws -> [UInt8] {
        while buffer.count < count { try fill() }
        defer { buffer.removeFirst(count) }
        return Array(buffer[..<count])
    }

    private func readLine() throws -> String {
        while true {
            if let end = buffer.firstRange(of: [13, 10]) {
                let line = String(decoding: buffer[..<end.lowerBound], as: UTF8.self)
                buffer.removeFirst(end.upperBound)
                return line
            }
            try fill()
        }
    }

    private func readHead() throws -> (Int, [String: String]) {
        let statusLine = try readLine()
        let status = statusLine.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
        var fields: [String: String] = [:]
        while true {
            let line = try readLine()
            if line.isEmpty { break }
            if let colon = line.firstIndex(of: ":") {
                fields[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
        }
        return (status, fields)
    }
}

struct RawClientError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
