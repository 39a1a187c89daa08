#if canImport(Glibc)
import Glibc
#endif
import AsyncHTTPClient
import Foundation
import NIOCore
import WarrenCore

/// Image archives moved between the CLI's own files and the daemon as request and
/// response bodies, so the daemon never opens a path on the client's behalf.
public enum ImageArchives {
    static let chunkSize = 1 << 18

    /// A tar file (an OCI layout or `docker save` archive) as a request body.
    public static func file(_ path: String) throws -> HTTPClientRequest.Body {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw WarrenError(.invalidArgument, "cannot read \(path): \(String(cString: strerror(errno)))") }
        var st = stat()
        fstat(fd, &st)
        let reader = FileChunks(fd: fd)
        return .stream(AsyncThrowingStream(unfolding: { try reader.next() }), length: .known(Int64(st.st_size)))
    }

    /// A directory (an OCI layout) as a tar request body: its files and directories,
    /// in name order, written as they are read.
    public static func directory(_ root: String) throws -> HTTPClientRequest.Body {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw WarrenError(.invalidArgument, "\(root) is not a directory")
        }
        let names = try (FileManager.default.subpathsOfDirectory(atPath: root)).sorted()
        let walker = DirectoryTar(root: root, names: names)
        return .stream(AsyncThrowingStream(unfolding: { try walker.next() }), length: .unknown)
    }

    /// Reads a file in chunks, closing it at the end.
    final class FileChunks: @unchecked Sendable {
        private var fd: Int32
        init(fd: Int32) { self.fd = fd }
        deinit { if fd >= 0 { close(fd) } }

        func next() throws -> ByteBuffer? {
            guard fd >= 0 else { return nil }
            var buffer = [UInt8](repeating: 0, count: ImageArchives.chunkSize)
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 { throw WarrenError(.internalError, "reading the archive: \(String(cString: strerror(errno)))") }
            if n == 0 {
                close(fd)
                fd = -1
                return nil
            }
            return ByteBuffer(bytes: buffer[0..<n])
        }
    }

    /// The tar stream of a directory tree (regular files and directories only).
    final class DirectoryTar: @unchecked Sendable {
        let root: String
        var names: ArraySlice<String>
        var current: FileChunks?
        var pendingPadding: [UInt8] = []
        var finished = false

        init(root: String, names: [String]) { self.root = root; self.names = names[...] }

        func next() throws -> ByteBuffer? {
            while true {
                if let chunk = try current?.next() { return chunk }
                if current != nil {
                    current = nil
                    if !pendingPadding.isEmpty { defer { pendingPadding = [] }; return ByteBuffer(bytes: pendingPadding) }
                }
                guard let name = names.popFirst() else {
                    if finished { return nil }
                    finished = true
                    return ByteBuffer(bytes: TarFormat.trailer)
                }
                var st = stat()
                guard lstat(root + "/" + name, &st) == 0 else { continue }
                switch st.st_mode & S_IFMT {
                case S_IFDIR:
                    return ByteBuffer(bytes: try TarFormat.header(.init(name: name, size: 0, mode: UInt32(st.st_mode & 0o7777), type: .directory)))
                case S_IFREG:
                    let fd = open(root + "/" + name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
                    guard fd >= 0 else { throw WarrenError(.invalidArgument, "cannot read \(root)/\(name): \(String(cString: strerror(errno)))") }
                    current = FileChunks(fd: fd)
                    pendingPadding = TarFormat.padding(Int64(st.st_size))
                    return ByteBuffer(bytes: try TarFormat.header(.init(name: name, size: Int64(st.st_size), mode: UInt32(st.st_mode & 0o7777), type: .file)))
                default:
                    throw WarrenError(.invalidArgument, "\(root)/\(name) is neither a file nor a directory: an image layout holds only those")
                }
            }
        }
    }

    /// Writes a tar stream (as the daemon's export sends it) into `directory`, which must
    /// be new or empty. Entries cannot leave it, and files are never written through links.
    public static func extract(_ body: HTTPClientResponse.Body, into directory: String) async throws {
        if let existing = try? FileManager.default.contentsOfDirectory(atPath: directory), !existing.isEmpty {
            throw WarrenError(.alreadyExists, "\(directory) exists and is not empty")
        }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var pending: [UInt8] = []
        var file: (fd: Int32, left: Int64, padding: Int)?
        var ended = false
        func fail(_ message: String) -> WarrenError { WarrenError(.internalError, "the exported archive is malformed: \(message)") }
        for try await buffer in body {
            pending.append(contentsOf: buffer.readableBytesView)
            var offset = 0
            while !ended {
                if var f = file {
                    if f.left > 0 {
                        let n = min(Int(f.left), pending.count - offset)
                        if n == 0 { break }
                        try pending[offset..<(offset + n)].withUnsafeBytes { bytes in
                            if write(f.fd, bytes.baseAddress, n) != n { throw WarrenError(.internalError, "writing into \(directory): \(String(cString: strerror(errno)))") }
                        }
                        offset += n
                        f.left -= Int64(n)
                        file = f
                        continue
                    }
                    guard pending.count - offset >= f.padding else { break }
                    offset += f.padding
                    close(f.fd)
                    file = nil
                    continue
                }
                guard pending.count - offset >= TarFormat.blockSize else { break }
                let block = pending[offset..<(offset + TarFormat.blockSize)]
                offset += TarFormat.blockSize
                guard let header = try TarFormat.parse(block) else { ended = true; break }
                let target = directory + "/" + header.name
                switch header.type {
                case .directory:
                    try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
                case .file:
                    try FileManager.default.createDirectory(atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                    let fd = open(target, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
                    guard fd >= 0 else { throw fail("cannot create \(header.name): \(String(cString: strerror(errno)))") }
                    file = (fd, header.size, TarFormat.padding(header.size).count)
                }
            }
            pending.removeFirst(offset)
        }
        if let f = file { close(f.fd) }
        guard ended || (file == nil && pending.isEmpty) else { throw fail("it ends in the middle of an entry") }
    }
}

extension WarrenClient {
    /// Imports an archive sent as the body (see `ImageArchives`).
    public func importImage(archive: HTTPClientRequest.Body, tag: String? = nil, platform: String? = nil) async throws -> ImageChanges {
        var query: [String] = []
        if let tag { query.append("tag=" + Self.escape(tag)) }
        if let platform { query.append("platform=" + Self.escape(platform)) }
        let uri = "/v1/images/import" + (query.isEmpty ? "" : "?" + query.joined(separator: "&"))
        let response = try await send(.POST, uri, body: archive, contentType: "application/x-tar", stream: true)
        let buffer = try await response.body.collect(upTo: 16 << 20)
        return try WarrenJSON.decoder().decode(ImageChanges.self, from: Data(buffer.readableBytesView))
    }

    /// An image as an OCI layout tar stream.
    public func exportImage(_ reference: String) async throws -> HTTPClientResponse.Body {
        try await send(.POST, "/v1/images/\(Self.escape(reference))/export", body: nil, stream: true).body
    }
}
