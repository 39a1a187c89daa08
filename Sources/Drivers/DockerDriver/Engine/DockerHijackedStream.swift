#if canImport(Glibc)
import Glibc
#endif
import Foundation
import LinuxSupport
import NIOHTTP1
import WarrenCore

/// A connection the engine has turned into a raw stream: `POST /exec/{id}/start` and
/// `POST /containers/{id}/attach` answer `101 UPGRADED` and then carry the process's
/// input one way and its output the other.
///
/// The socket is blocking. Output is read by `readUntilEnd` on a thread of its own;
/// input goes through an `FDWriter` on a second descriptor of the same socket, and
/// `closeInput` half-closes it, which the engine passes on as end of stdin.
public final class DockerHijackedStream: Sendable {
    private let readFD: Int32
    private let writer: FDWriter
    /// Stream bytes that arrived together with the answer's header.
    private let initial: [UInt8]

    private init(readFD: Int32, writeFD: Int32, initial: [UInt8]) {
        self.readFD = readFD
        self.writer = FDWriter(fd: writeFD, label: "docker-hijack-\(readFD)")
        self.initial = initial
    }

    /// Sends `method uri` with a JSON body asking for the upgrade; throws Docker's
    /// error when the engine answers anything but the stream.
    static func open(_ client: DockerClient, _ method: HTTPMethod, _ path: String, query: [(String, String)] = [],
                     body: (any Encodable)?) async throws -> DockerHijackedStream {
        let uri = client.uri(path, query)
        let payload = try body.map { Array(try WarrenJSON.encoder().encode($0)) } ?? []
        let socketPath = client.endpoint.socketPath
        let endpoint = client.endpoint
        return try await runBlocking {
            let fd: Int32
            do {
                fd = try UnixSockets.connect(to: socketPath)
            } catch {
                throw WarrenError(.unavailable, "cannot reach the Docker engine at \(endpoint): \(error)")
            }
            do {
                var head = "\(method.rawValue) \(uri) HTTP/1.1\r\nHost: docker\r\nUser-Agent: warren/\(warrenVersion)\r\n"
                head += "Connection: Upgrade\r\nUpgrade: tcp\r\n"
                head += "Content-Type: application/json\r\nContent-Length: \(payload.count)\r\n\r\n"
                try writeAll(fd, Array(head.utf8) + payload)
                let (status, rest) = try readHeader(fd)
                guard status == 101 || status == 200 else {
                    let message = rest + ((try? readSome(fd, limit: 1 << 16)) ?? [])
                    throw DockerClient.error(status: UInt(status), body: message, method: method, path: path)
                }
                let writeFD = fcntl(fd, F_DUPFD_CLOEXEC, 3)
                guard writeFD >= 0 else { throw SyscallError("dup", errno: errno) }
                return DockerHijackedStream(readFD: fd, writeFD: writeFD, initial: rest)
            } catch {
                Glibc.close(fd)
                throw WarrenError.wrap(error)
            }
        }
    }

    /// Reads the answer's status line and headers; returns the status and the bytes after them.
    private static func readHeader(_ fd: Int32) throws -> (Int, [UInt8]) {
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        let end: [UInt8] = Array("\r\n\r\n".utf8)
        while true {
            let n = read(fd, &chunk, chunk.count)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw WarrenError(.unavailable, "the Docker engine closed the connection before answering") }
            buffer.append(contentsOf: chunk[0..<n])
            if let range = buffer.firstRange(of: end) {
                let header = String(decoding: buffer[..<range.lowerBound], as: UTF8.self)
                let statusLine = header.split(separator: "\r\n").first ?? ""
                let fields = statusLine.split(separator: " ")
                guard fields.count >= 2, let status = Int(fields[1]) else {
                    throw WarrenError(.internalError, "unexpected answer from Docker: \(statusLine)")
                }
                return (status, Array(buffer[range.upperBound...]))
            }
            if buffer.count > 64 << 10 { throw WarrenError(.internalError, "Docker's answer header is too long") }
        }
    }

    private static func readSome(_ fd: Int32, limit: Int) throws -> [UInt8] {
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        while out.count < limit, poll(&poller, 1, 200) > 0 {
            let n = read(fd, &chunk, chunk.count)
            if n <= 0 { break }
            out.append(contentsOf: chunk[0..<n])
        }
        return out
    }

    /// Hands every byte of output to `handle` until the engine ends the stream; blocks.
    /// Call once, from a thread of its own; closes the reading side at the end.
    public func readUntilEnd(_ handle: ([UInt8]) -> Void) {
        if !initial.isEmpty { handle(initial) }
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(readFD, &chunk, chunk.count)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            handle(Array(chunk[0..<n]))
        }
        Glibc.close(readFD)
    }

    /// Sends input to the process.
    public func write(_ bytes: [UInt8]) async throws { try await writer.write(bytes) }

    /// Ends the process's input (a half-close of the connection).
    public func closeInput() async throws {
        try await writer.control { fd in _ = shutdown(fd, Int32(SHUT_WR)) }
    }

    /// Ends the stream both ways: a blocked `readUntilEnd` returns.
    public func close() async {
        try? await writer.control { fd in _ = shutdown(fd, Int32(SHUT_RDWR)) }
        writer.close()
    }
}
