#if canImport(Glibc)
import Glibc
#endif
import Foundation
import LinuxSupport
import WarrenCore

/// One stored image as a docker-archive tarball (the `docker save` layout: a
/// `manifest.json`, the config, one `layer.tar` per layer), written from the blobs as it
/// is read, so an image of any size streams in constant memory.
///
/// Layers go in as stored (compressed or not): the engine's loader detects the compression.
public struct DockerArchive: Sendable {
    /// The config digest: the id Docker gives the image once loaded.
    public var imageID: Digest
    public var tags: [String]
    let entries: [TarEntry]

    /// Exact size of the tarball.
    public var length: Int64 { entries.reduce(Int64(1024)) { $0 + $1.archivedSize } }

    /// The tarball in chunks of at most 1 MiB.
    public func chunks() -> AsyncThrowingStream<[UInt8], any Error> {
        let entries = self.entries
        return AsyncThrowingStream { continuation in
            let task = Task.detached {
                do {
                    for entry in entries {
                        try Task.checkCancellation()
                        continuation.yield(try entry.header())
                        try entry.writeContent { continuation.yield($0) }
                        let padding = Int((512 - entry.size % 512) % 512)
                        if padding > 0 { continuation.yield([UInt8](repeating: 0, count: padding)) }
                    }
                    continuation.yield([UInt8](repeating: 0, count: 1024))
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }
}

extension ImageStore {
    /// The image `reference` names as a docker-archive tagged with its own tags.
    /// Hold a lease (`acquireLease`) until the archive has been read.
    public func dockerArchive(_ reference: String) async throws -> DockerArchive {
        let image = try await resolve(reference)
        let config = image.configDigest
        var entries: [TarEntry] = [.file(name: "\(config.hex).json", path: content.path(of: config), size: image.manifest.config.size)]
        var layerNames: [String] = []
        for layer in image.manifest.layers {
            let name = "\(layer.digest.hex)/layer.tar"
            if layerNames.contains(name) { continue }
            entries.append(.directory(name: "\(layer.digest.hex)/"))
            entries.append(.file(name: name, path: content.path(of: layer.digest), size: layer.size))
            layerNames.append(name)
        }
        // Docker names every layer in order, repeats included.
        let layers = image.manifest.layers.map { "\($0.digest.hex)/layer.tar" }
        let tags = image.tags.filter { !$0.contains("@") }
        struct Manifest: Encodable { var Config: String; var RepoTags: [String]; var Layers: [String] }
        let manifest = try JSONEncoder().encode([Manifest(Config: "\(config.hex).json", RepoTags: tags, Layers: layers)])
        entries.append(.bytes(name: "manifest.json", Array(manifest)))
        for case .file(let name, let path, let size) in entries {
            var st = stat()
            guard stat(path, &st) == 0, Int64(st.st_size) == size else {
                throw WarrenError(.internalError, "blob for \(name) is missing or has the wrong size in the store")
            }
        }
        return DockerArchive(imageID: config, tags: tags, entries: entries)
    }
}

/// One member of a ustar archive Warren writes.
enum TarEntry: Sendable {
    case file(name: String, path: String, size: Int64)
    case bytes(name: String, [UInt8])
    case directory(name: String)

    var name: String {
        switch self {
        case .file(let name, _, _), .bytes(let name, _), .directory(let name): name
        }
    }

    var size: Int64 {
        switch self {
        case .file(_, _, let size): size
        case .bytes(_, let bytes): Int64(bytes.count)
        case .directory: 0
        }
    }

    /// Header plus content rounded up to whole 512-byte blocks.
    var archivedSize: Int64 { 512 + (size + 511) / 512 * 512 }

    /// The 512-byte ustar header.
    func header() throws -> [UInt8] {
        let nameBytes = Array(name.utf8)
        guard nameBytes.count < 100 else { throw WarrenError(.internalError, "tar member name \(name) is too long") }
        guard size < 0o77777777777 else { throw WarrenError(.unsupported, "tar member \(name) is larger than 8 GiB") }
        var h = [UInt8](repeating: 0, count: 512)
        func put(_ text: String, at offset: Int) { for (i, b) in text.utf8.enumerated() { h[offset + i] = b } }
        func octal(_ value: Int64, width: Int) -> String {
            let digits = String(value, radix: 8)
            return String(repeating: "0", count: max(0, width - 1 - digits.count)) + digits
        }
        put(name, at: 0)
        if case .directory = self { put(octal(0o755, width: 8), at: 100) } else { put(octal(0o644, width: 8), at: 100) }
        put(octal(0, width: 8), at: 108)
        put(octal(0, width: 8), at: 116)
        put(octal(size, width: 12), at: 124)
        put(octal(0, width: 12), at: 136)
        h[156] = { if case .directory = self { return UInt8(ascii: "5") } else { return UInt8(ascii: "0") } }()
        put("ustar", at: 257)
        put("00", at: 263)
        // The checksum counts its own field as eight spaces.
        for i in 148..<156 { h[i] = UInt8(ascii: " ") }
        let sum = h.reduce(0) { $0 + Int64($1) }
        put(octal(sum, width: 7), at: 148)
        h[154] = 0
        h[155] = UInt8(ascii: " ")
        return h
    }

    /// Hands the member's content to `emit` in chunks.
    func writeContent(_ emit: ([UInt8]) -> Void) throws {
        switch self {
        case .directory: return
        case .bytes(_, let bytes): emit(bytes)
        case .file(_, let path, let size):
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw SyscallError("open", errno: errno, path) }
            defer { close(fd) }
            var left = size
            var buffer = [UInt8](repeating: 0, count: 1 << 20)
            while left > 0 {
                try Task.checkCancellation()
                let n = read(fd, &buffer, Int(min(Int64(buffer.count), left)))
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { throw WarrenError(.internalError, "blob \(path) ended early") }
                emit(Array(buffer[0..<n]))
                left -= Int64(n)
            }
        }
    }
}
