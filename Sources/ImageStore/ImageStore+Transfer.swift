#if canImport(Glibc)
import Glibc
#endif
import Foundation
import LinuxSupport
import WarrenCore

extension ImageStore {
    /// Imports an OCI layout (directory or tar) or a `docker save` tar; tags what it
    /// holds (or `tag`, for an archive of one image) and unpacks its layers. Returns
    /// the tags made.
    public func importImage(path: String, tag: String?, platform: Platform = .host) async throws -> [String] {
        var st = stat()
        guard stat(path, &st) == 0 else { throw WarrenError(.invalidArgument, "\(path) does not exist") }
        await acquireLease()
        defer { releaseLease() }
        let importer = ImageImporter(content: content, platform: platform)
        let found: [ImageImporter.Found]
        var committed = Set<Digest>()
        if (st.st_mode & S_IFMT) == S_IFDIR {
            found = try await importer.importLayout(directory: path)
        } else {
            (found, committed) = try await importer.importTar(path: path)
        }
        do {
            return try await tagImported(found, committed: committed, path: path, tag: tag)
        } catch {
            // A refused archive leaves none of the blobs it brought.
            for digest in committed { try? await content.delete(digest) }
            throw error
        }
    }

    /// Names and unpacks what an import found; blobs it brought that none of them uses go.
    private func tagImported(_ found: [ImageImporter.Found], committed: Set<Digest>, path: String, tag: String?) async throws -> [String] {
        guard !found.isEmpty else { throw WarrenError(.invalidArgument, "\(path) holds no image") }
        if tag != nil && Set(found.map(\.descriptor.digest)).count > 1 {
            throw WarrenError(.invalidArgument, "\(path) holds several images: --tag names only one")
        }
        var names: [(String, Descriptor)] = []
        for f in found {
            let raw = tag ?? f.name
            guard let raw, raw.contains("/") || raw.contains(":") else {
                throw WarrenError(.invalidArgument, "the image in \(path) is named only '\(f.name ?? "")', not by a reference: give --tag NAME[:TAG]")
            }
            names.append((try ImageReference(parsing: raw).description, f.descriptor))
        }
        var tags: [String] = []
        for (name, descriptor) in names {
            let image = try load(descriptor, tags: [name])
            _ = try await unpack(image)
            try await content.tag(name, descriptor)
            tags.append(name)
        }
        // Blobs the archive carried that no imported image uses are not kept.
        let used = Set(names.flatMap { name, d -> [Digest] in
            guard let image = try? load(d, tags: []) else { return [] }
            return [d.digest, image.configDigest] + image.manifest.layers.map(\.digest)
        })
        for digest in committed.subtracting(used) { try? await content.delete(digest) }
        return tags
    }

    /// Writes `text`'s image as an OCI layout directory that skopeo and umoci read.
    public func export(_ text: String, to directory: String) async throws {
        let layout = try await exportLayout(text)
        if let existing = try? FileManager.default.contentsOfDirectory(atPath: directory), !existing.isEmpty {
            throw WarrenError(.alreadyExists, "\(directory) exists and is not empty")
        }
        try makeDirectories(directory + "/blobs/sha256", mode: 0o755)
        for entry in layout {
            let target = directory + "/" + entry.name
            switch entry.content {
            case .file(let source, _):
                if access(target, F_OK) == 0 { continue }
                // Same filesystem: a hard link; else a copy.
                if link(source, target) != 0 { try FileManager.default.copyItem(atPath: source, toPath: target) }
            case .bytes(let bytes):
                try writeFileAtomically(target, bytes)
            }
        }
    }

    /// One file of an exported OCI layout.
    public struct LayoutEntry: Sendable {
        public enum Content: Sendable {
            /// A blob of the store, read as it is sent.
            case file(path: String, size: Int64)
            case bytes([UInt8])
        }
        public var name: String
        public var content: Content
        public var size: Int64 {
            switch content {
            case .file(_, let size): size
            case .bytes(let b): Int64(b.count)
            }
        }
    }

    /// The files of an OCI layout holding the image `text` names, as skopeo and umoci
    /// read it: `oci-layout`, `index.json` naming each of its tags, and its blobs.
    public func exportLayout(_ text: String) async throws -> [LayoutEntry] {
        let image = try await resolve(text)
        var entries: [LayoutEntry] = []
        var seen = Set<String>()
        for digest in [image.manifestDescriptor.digest, image.configDigest] + image.manifest.layers.map(\.digest)
        where seen.insert(digest.hex).inserted {
            let path = content.path(of: digest)
            var st = stat()
            guard stat(path, &st) == 0 else { throw WarrenError(.notFound, "blob \(digest) of \(text) is missing from the store") }
            entries.append(LayoutEntry(name: "blobs/sha256/" + digest.hex, content: .file(path: path, size: Int64(st.st_size))))
        }
        var entry = image.manifestDescriptor
        entry.annotations = nil
        var index = ImageIndex(manifests: [])
        for tag in image.tags.isEmpty ? [nil] : image.tags.map(Optional.some) {
            var e = entry
            if let tag { e.annotations = [Descriptor.refNameKey: tag, "io.containerd.image.name": tag] }
            index.manifests.append(e)
        }
        entries.insert(LayoutEntry(name: "oci-layout", content: .bytes(Array(#"{"imageLayoutVersion":"1.0.0"}"#.utf8))), at: 0)
        entries.insert(LayoutEntry(name: "index.json", content: .bytes(Array(try JSONEncoder.oci.encode(index)))), at: 1)
        return entries
    }
}
