#if canImport(Glibc)
import Glibc
#endif
import Foundation
import LinuxSupport
import WarrenCore

/// Blobs by digest at `<data-root>/content`, laid out as an OCI image layout so that
/// skopeo and umoci read it: `oci-layout`, `index.json` (one entry per tag, named by
/// `org.opencontainers.image.ref.name`), `blobs/sha256/<hex>`.
///
/// New content streams into `ingest/<random>/data` while it is hashed and becomes a
/// blob only by an atomic rename once digest and size match, so `blobs/` never holds a
/// partial or wrong blob — whatever interrupts a write (error, full disk, SIGKILL).
public actor ContentStore {
    public nonisolated let root: String
    nonisolated var blobsDir: String { root + "/blobs/sha256" }
    nonisolated var ingestDir: String { root + "/ingest" }
    nonisolated var indexFile: String { root + "/index.json" }

    public init(root: String) throws {
        self.root = root
        try makeDirectories(root + "/blobs/sha256", mode: 0o755)
        // Whatever is in ingest belongs to writes a previous daemon never finished.
        try? removeTree(root + "/ingest")
        try makeDirectories(root + "/ingest", mode: 0o700)
        if access(root + "/oci-layout", F_OK) != 0 {
            try writeFileAtomically(root + "/oci-layout", Array(#"{"imageLayoutVersion":"1.0.0"}"#.utf8))
        }
        if access(root + "/index.json", F_OK) != 0 {
            try writeFileAtomically(root + "/index.json", Array(try JSONEncoder.oci.encode(ImageIndex(manifests: []))))
        }
    }

    // MARK: - Blobs

    public nonisolated func path(of digest: Digest) -> String { blobsDir + "/" + digest.hex }

    public nonisolated func contains(_ digest: Digest) -> Bool { access(path(of: digest), F_OK) == 0 }

    public nonisolated func size(of digest: Digest) -> Int64? {
        var st = stat()
        return stat(path(of: digest), &st) == 0 ? Int64(st.st_size) : nil
    }

    /// A small blob (manifest, index, config), read whole and checked against its digest.
    public nonisolated func read(_ digest: Digest, limit: Int = 32 << 20) throws -> Data {
        guard let bytes = readFileIfPresent(path(of: digest)) else {
            throw WarrenError(.notFound, "blob \(digest) is not in the content store")
        }
        guard bytes.count <= limit else { throw WarrenError(.invalidArgument, "blob \(digest) is larger than \(limit) bytes") }
        guard Digest.of(bytes) == digest else {
            throw WarrenError(.internalError, "blob \(digest) in the content store does not match its digest")
        }
        return Data(bytes)
    }

    /// Starts a new write; commit it with `commit`, or `abort` it.
    public nonisolated func beginIngest() throws -> BlobIngest {
        try BlobIngest(directory: ingestDir + "/" + UUID().uuidString.lowercased())
    }

    /// What a commit stored, and whether the blob is new (rather than already held).
    public struct Committed: Sendable { public var descriptor: Descriptor; public var isNew: Bool }

    /// Makes an ingest a blob if its digest (and size, when known) are the expected ones.
    @discardableResult
    public func commit(_ ingest: BlobIngest, expected: Digest? = nil, size: Int64? = nil) throws -> Committed {
        defer { ingest.abort() }
        let (digest, written) = try ingest.finish()
        if let size, written != size {
            throw WarrenError(.invalidArgument, "blob \(expected?.description ?? digest.description) has \(written) bytes, expected \(size)")
        }
        if let expected, expected != digest {
            throw WarrenError(.invalidArgument, "blob \(expected) failed verification: its content hashes to \(digest)")
        }
        let isNew = !contains(digest)
        if isNew {
            try syscallRetrying("rename", path(of: digest)) { rename(ingest.dataPath, path(of: digest)) }
        }
        return Committed(descriptor: Descriptor(mediaType: "application/octet-stream", digest: digest, size: written), isNew: isNew)
    }

    /// Stores bytes already in memory (manifests, configs).
    @discardableResult
    public func put(_ bytes: [UInt8], expected: Digest? = nil) throws -> Digest {
        let ingest = try beginIngest()
        try bytes.withUnsafeBytes { try ingest.write($0) }
        return try commit(ingest, expected: expected, size: Int64(bytes.count)).descriptor.digest
    }

    public func delete(_ digest: Digest) throws {
        if unlink(path(of: digest)) != 0 && errno != ENOENT { throw SyscallError("unlink", errno: errno, path(of: digest)) }
    }

    public nonisolated func allBlobs() -> [Digest] {
        ((try? FileManager.default.contentsOfDirectory(atPath: blobsDir)) ?? []).compactMap { try? Digest(parsing: "sha256:" + $0) }
    }

    // MARK: - Tags (index.json)

    public func taggedManifests() throws -> [(name: String, descriptor: Descriptor)] {
        try loadIndex().manifests.compactMap { d in d.annotations?[Descriptor.refNameKey].map { ($0, d) } }
    }

    /// Points `name` at `descriptor`, replacing what it named before.
    public func tag(_ name: String, _ descriptor: Descriptor) throws {
        var index = try loadIndex()
        var entry = descriptor
        entry.annotations = (entry.annotations ?? [:]).merging([Descriptor.refNameKey: name]) { $1 }
        index.manifests.removeAll { $0.annotations?[Descriptor.refNameKey] == name }
        index.manifests.append(entry)
        try saveIndex(index)
    }

    /// Removes the tag; returns what it named.
    @discardableResult
    public func untag(_ name: String) throws -> Descriptor? {
        var index = try loadIndex()
        guard let i = index.manifests.firstIndex(where: { $0.annotations?[Descriptor.refNameKey] == name }) else { return nil }
        let removed = index.manifests.remove(at: i)
        try saveIndex(index)
        return removed
    }

    private func loadIndex() throws -> ImageIndex {
        guard let bytes = readFileIfPresent(indexFile) else { return ImageIndex(manifests: []) }
        do { return try JSONDecoder().decode(ImageIndex.self, from: Data(bytes)) } catch {
            throw WarrenError(.internalError, "content store index \(indexFile) is unreadable: \(error)")
        }
    }

    private func saveIndex(_ index: ImageIndex) throws {
        try writeFileAtomically(indexFile, Array(try JSONEncoder.oci.encode(index)))
    }
}

/// One blob being written: bytes go to a private file while they are hashed.
public final class BlobIngest: @unchecked Sendable {
    let directory: String
    let dataPath: String
    private var fd: Int32
    private var hasher = Hasher256()
    public private(set) var written: Int64 = 0

    init(directory: String) throws {
        self.directory = directory
        let path = directory + "/data"
        dataPath = path
        try makeDirectories(directory, mode: 0o700)
        fd = try syscallRetrying("open", path) { open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644) }
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard fd >= 0 else { throw WarrenError(.internalError, "write to a finished ingest") }
        do {
            try writeAll(fd, bytes, context: dataPath)
        } catch let e as SyscallError where e.errno == ENOSPC {
            throw WarrenError(.internalError, "no space left on the device holding the content store")
        }
        hasher.update(bytes)
        written += Int64(bytes.count)
    }

    /// Flushes to disk and closes; returns the digest and size of what was written.
    func finish() throws -> (Digest, Int64) {
        guard fd >= 0 else { throw WarrenError(.internalError, "ingest already finished") }
        defer { close(fd); fd = -1 }
        try syscallRetrying("fsync", dataPath) { fsync(fd) }
        return (hasher.finalize(), written)
    }

    /// Drops whatever was written; safe to call more than once.
    public func abort() {
        if fd >= 0 { close(fd); fd = -1 }
        try? removeTree(directory)
    }

    deinit { if fd >= 0 { close(fd) } }
}

extension JSONEncoder {
    /// OCI documents: sorted keys, no escaped slashes.
    static var oci: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }
}
