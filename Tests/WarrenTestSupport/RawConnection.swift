#if canImport(Glibc)
import Glibc
#endif
import Foundation
import LinuxSupport

/// A plain socket to the daemon, for requests no well-behaved client would send.
public final class RawConnection {
    public let fd: Int32

    /// Connects to a Unix socket.
    public init(unix path: String) throws {
        fd = try UnixSockets.connect(to: path)
        setTimeout(5)
    }

    /// Connects to 127.0.0.1:`port`.
    public init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if rc != 0 {
            let e = errno
            close(fd)
            throw SyscallError("connect", errno: e, "127.0.0.1:\(port)")
        }
        setTimeout(5)
    }

    deinit { close(fd) }

    /// How long a read waits.
    public func setTimeout(_ seconds: Int) {
        var tv = timeval(tv_sec: seconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Sends all of `bytes`; a peer that closed first is an error, never SIGPIPE.
    public func send(_ bytes: [UInt8]) throws {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + done, bytes.count - done, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw SyscallError("send", errno: errno)  // EAGAIN: the send timeout passed
            }
            done += n
        }
    }
    public func send(_ text: String) throws { try send(Array(text.utf8)) }

    /// Up to `max` bytes; empty at the end of the stream; nil when the read timed out.
    public func receive(max: Int = 65536) -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: max)
        let n = read(fd, &buffer, max)
        if n < 0 { return errno == EAGAIN || errno == EWOULDBLOCK ? nil : [] }
        return Array(buffer[0..<n])
    }

    /// The JSON lines of an answer's body (chunked or not), decoded as `T`.
    public static func bodyLines<T: Decodable>(_ answer: String, as type: T.Type, decoder: JSONDecoder) -> [T] {
        guard let start = answer.range(of: "\r\n\r\n") else { return [] }
        return answer[start.upperBound...].split(whereSeparator: \.isNewline)
            .filter { $0.hasPrefix("{") }
            .compactMap { try? decoder.decode(T.self, from: Data($0.utf8)) }
    }

    /// Everything until the peer closes (or a read times out): the text, and whether it closed.
    public func receiveAll() -> (text: String, closed: Bool) {
        var out: [UInt8] = []
        while true {
            guard let chunk = receive() else { return (String(decoding: out, as: UTF8.self), false) }
            if chunk.isEmpty { return (String(decoding: out, as: UTF8.self), true) }
            out += chunk
        }
    }

    /// One request with a body, `Connection: close`; the whole answer.
    public static func request(unix path: String, _ method: String, _ target: String, body: String? = nil,
                               contentType: String = "application/json") throws -> String {
        let c = try RawConnection(unix: path)
        var head = "\(method) \(target) HTTP/1.1\r\nHost: warren\r\nConnection: close\r\n"
        if let body { head += "Content-Type: \(contentType)\r\nContent-Length: \(body.utf8.count)\r\n" }
        // A daemon that refuses the body may close before all of it is sent: its answer counts.
        try? c.send(head + "\r\n" + (body ?? ""))
        return c.receiveAll().text
    }
}

/// Descriptors a process holds open.
public func openDescriptors(_ pid: Int32) -> Int {
    (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? -1
}

/// A TCP port nothing listens on now.
public func freeLocalPort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
    return Int(UInt16(bigEndian: addr.sin_port))
}
