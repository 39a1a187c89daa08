#if canImport(Glibc)
import Glibc
#endif
import CArchive
import Foundation
import LinuxSupport
import WarrenCore

/// `warren image import`: OCI layout directories and tars, and `docker save` tars,
/// brought into the store offline. Every blob is verified against its digest on the
/// way in; nothing is tagged until all of an image's content is committed.
struct ImageImporter {
    let content: ContentStore
    let platform: Platform

    /// What an archive or layout held, before tagging.
    struct Found { var name: String?; var descriptor: Descriptor }

    // MARK: - OCI layout directory

    func importLayout(directory: String) async throws -> [Found] {
        guard access(directory + "/oci-layout", F_OK) == 0 else {
            throw WarrenError(.invalidArgument, "\(directory) is not an OCI image layout (no oci-layout file)")
        }
        guard let indexBytes = readFileIfPresent(directory + "/index.json") else {
            throw WarrenError(.invalidArgument, "\(directory) has no index.json")
        }
        let index = try decodeIndex(Data(indexBytes))
        var found: [Found] = []
        for entry in index.manifests {
            let manifest = try await selectManifest(entry) { digest in
                try await copyBlob(from: directory + "/blobs/sha256/" + digest.hex, digest: digest)
            }
            found.append(Found(name: Self.name(of: entry), descriptor: manifest))
        }
        return found
    }

    /// Follows an index entry to the image manifest for `platform`, copying every blob
    /// it needs through `fetch`.
    private func selectManifest(_ entry: Descriptor, fetch: (Digest) async throws -> Void) async throws -> Descriptor {
        try await fetch(entry.digest)
        switch try ManifestDocument.parse(try content.read(entry.digest), mediaType: entry.mediaType) {
        case .index(let nested):
            let pick = try nested.manifest(for: platform)
            return try await selectManifest(pick, fetch: fetch)
        case .manifest(let manifest):
            try await fetch(manifest.config.digest)
            for layer in manifest.layers { try await fetch(layer.digest) }
            return entry
        }
    }

    private func copyBlob(from path: String, digest: Digest) async throws {
        if content.contains(digest) { return }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw WarrenError(.invalidArgument, "blob \(digest) is missing from the layout") }
        defer { close(fd) }
        let ingest = try content.beginIngest()
        do {
            var buffer = [UInt8](repeating: 0, count: 1 << 20)
            while true {
                let n = read(fd, &buffer, buffer.count)
                if n < 0 { if errno == EINTR { continue }; throw SyscallError("read", errno: errno, path) }
                if n == 0 { break }
                try buffer.withUnsafeBytes { try ingest.write(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            }
            try await content.commit(ingest, expected: digest)
        } catch {
            ingest.abort()
            throw error
        }
    }

    // MARK: - Tar (OCI layout or docker-archive)

    /// Reads the tar once: blobs stream into the store as they come, the small JSON
    /// documents stay in memory; then the layout or docker manifest is interpreted.
    func importTar(path: String) async throws -> (found: [Found], committed: Set<Digest>) {
        guard let a = archive_read_new() else { throw WarrenError(.internalError, "libarchive could not allocate a reader") }
        defer { archive_read_free(a) }
        archive_read_support_filter_all(a)
        archive_read_support_format_tar(a)
        guard archive_read_open_filename(a, path, 1 << 20) == ARCHIVE_OK else {
            throw WarrenError(.invalidArgument, "cannot read \(path): \(ArchiveStream.message(a))")
        }
        var documents: [String: Data] = [:]
        var files: [String: Digest] = [:]
        var committed = Set<Digest>()
        var entry: OpaquePointer?
        while true {
            let r = archive_read_next_header(a, &entry)
            if r == ARCHIVE_EOF { break }
            guard r >= ARCHIVE_WARN, let e = entry else {
                throw WarrenError(.invalidArgument, "\(path) is not a valid tar: \(ArchiveStream.message(a))")
            }
            guard archive_entry_filetype(e) == S_IFREG else { continue }
            let name = (archive_entry_pathname(e).map { String(cString: $0) } ?? "").replacingOccurrences(of: "./", with: "", options: .anchored)
            if Self.isDocument(name) {
                documents[name] = try readSmall(a, name: name)
                continue
            }
            let ingest = try content.beginIngest()
            do {
                var block: UnsafeRawPointer?
                var size = 0
                var offset: la_int64_t = 0
                while true {
                    let rr = archive_read_data_block(a, &block, &size, &offset)
                    if rr == ARCHIVE_EOF { break }
                    guard rr >= ARCHIVE_WARN else { throw WarrenError(.invalidArgument, "\(name) in \(path) is truncated") }
                    try ingest.write(UnsafeRawBufferPointer(start: block, count: size))
                }
                let expected = name.hasPrefix("blobs/sha256/") ? try Digest(parsing: "sha256:" + name.dropFirst(13)) : nil
                let stored = try await content.commit(ingest, expected: expected)
                files[name] = stored.descriptor.digest
                if stored.isNew { committed.insert(stored.descriptor.digest) }
            } catch {
                ingest.abort()
                throw error
            }
        }
        if let indexData = documents["index.json"], documents["oci-layout"] != nil {
            let index = try decodeIndex(indexData)
            var found: [Found] = []
            for entry in index.manifests {
                let manifest = try await selectManifest(entry) { digest in
                    guard content.contains(digest) else { throw WarrenError(.invalidArgument, "blob \(digest) is missing from \(path)") }
                }
                found.append(Found(name: Self.name(of: entry), descriptor: manifest))
            }
            return (found, committed)
        }
        if let manifestData = documents["manifest.json"] {
            return (try await dockerArchive(manifestData, files: files, path: path), committed)
        }
        throw WarrenError(.invalidArgument, "\(path) is neither an OCI layout nor a docker-archive (no index.json or manifest.json)")
    }

    /// `docker save`'s manifest.json: configs and layer tars by path; turned into OCI manifests.
    private func dockerArchive(_ data: Data, files: [String: Digest], path: String) async throws -> [Found] {
        struct Entry: Decodable { var Config: String; var RepoTags: [String]?; var Layers: [String] }
        let entries: [Entry]
        do { entries = try JSONDecoder().decode([Entry].self, from: data) } catch {
            throw WarrenError(.invalidArgument, "manifest.json in \(path) is malformed: \(error)")
        }
        var found: [Found] = []
        for e in entries {
            guard let config = files[e.Config] else { throw WarrenError(.invalidArgument, "\(path) lacks the config \(e.Config)") }
            let layers = try e.Layers.map { layer -> Descriptor in
                guard let d = files[layer], let size = content.size(of: d) else {
                    throw WarrenError(.invalidArgument, "\(path) lacks the layer \(layer)")
                }
                return Descriptor(mediaType: Self.layerMediaType(content.path(of: d)), digest: d, size: size)
            }
            let manifest = ImageManifest(config: Descriptor(mediaType: MediaType.ociConfig, digest: config, size: content.size(of: config) ?? 0),
                                         layers: layers)
            let bytes = Array(try JSONEncoder.oci.encode(manifest))
            let digest = try await content.put(bytes)
            let descriptor = Descriptor(mediaType: MediaType.ociManifest, digest: digest, size: Int64(bytes.count))
            let tags = e.RepoTags ?? []
            if tags.isEmpty { found.append(Found(name: nil, descriptor: descriptor)) }
            for tag in tags { found.append(Found(name: tag, descriptor: descriptor)) }
        }
        return found
    }

    // MARK: - Helpers

    static func isDocument(_ name: String) -> Bool {
        ["oci-layout", "index.json", "manifest.json", "repositories"].contains(name)
            || name.hasSuffix("/json") || name.hasSuffix("/VERSION")
    }

    private func readSmall(_ a: OpaquePointer, name: String) throws -> Data {
        var out = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = archive_read_data(a, &buffer, buffer.count)
            if n < 0 { throw WarrenError(.invalidArgument, "cannot read \(name): \(ArchiveStream.message(a))") }
            if n == 0 { break }
            out.append(contentsOf: buffer[0..<n])
            if out.count > 16 << 20 { throw WarrenError(.invalidArgument, "\(name) is too large") }
        }
        return out
    }

    private func decodeIndex(_ data: Data) throws -> ImageIndex {
        do { return try JSONDecoder().decode(ImageIndex.self, from: data) } catch {
            throw WarrenError(.invalidArgument, "index.json is malformed: \(error)")
        }
    }

    /// The name an index entry gives its image: containerd's full name, else the OCI ref name.
    static func name(of entry: Descriptor) -> String? {
        entry.annotations?["io.containerd.image.name"] ?? entry.annotations?[Descriptor.refNameKey]
    }

    /// gzip, zstd or plain tar, by the first bytes.
    static func layerMediaType(_ path: String) -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return MediaType.ociLayer }
        defer { close(fd) }
        var magic = [UInt8](repeating: 0, count: 4)
        let n = read(fd, &magic, 4)
        if n >= 2 && magic[0] == 0x1f && magic[1] == 0x8b { return MediaType.ociLayerGzip }
        if n == 4 && magic == [0x28, 0xb5, 0x2f, 0xfd] { return MediaType.ociLayerZstd }
        return MediaType.ociLayer
    }
}
