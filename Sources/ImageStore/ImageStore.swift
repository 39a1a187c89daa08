#if canImport(Glibc)
import Glibc
#endif
import Foundation
import LinuxSupport
import Logging
import WarrenCore

/// Images: tags in the content store's `index.json`, blobs by digest, and layers
/// unpacked once each into `<data-root>/layers/<diffid>` and shared by every image and
/// sandbox that uses them.
public actor ImageStore {
    public nonisolated let content: ContentStore
    public nonisolated let layersDir: String
    let logger: Logger
    /// Layers being unpacked, so concurrent users of one layer wait for one unpack.
    private var unpacking: [Digest: (id: UUID, task: Task<Void, any Error>)] = [:]
    /// Blobs downloading, so concurrent pulls of one blob share one download.
    var downloads: [Digest: BlobDownload] = [:]
    /// Downloads in flight across all pulls.
    let downloadSlots = AsyncSemaphore(3)
    /// Unpacks running at once: one per CPU.
    let unpackSlots = AsyncSemaphore(max(1, ProcessInfo.processInfo.activeProcessorCount))
    /// Imports and sandbox creates between resolving content and referencing it (a
    /// tag, a sandbox row): garbage collection waits for them, and they for it.
    private var leases = 0
    private var collecting = false
    private var gateWaiters: [CheckedContinuation<Void, Never>] = []

    public init(dataRoot: String, logger: Logger) throws {
        content = try ContentStore(root: dataRoot + "/content")
        layersDir = dataRoot + "/layers"
        self.logger = logger
        try makeDirectories(layersDir, mode: 0o711)
        // Unpacks a previous daemon never finished.
        for name in (try? FileManager.default.contentsOfDirectory(atPath: layersDir)) ?? [] where name.hasPrefix(".tmp-") {
            try? removeTree(layersDir + "/" + name)
        }
    }

    /// One stored image: the manifest a tag names (or several tags name), with its config.
    public struct Image: Sendable {
        public var tags: [String]
        public var manifestDescriptor: Descriptor
        public var manifest: ImageManifest
        public var config: ImageConfiguration
        public var configDigest: Digest { manifest.config.digest }
        public var size: Int64 { manifest.layers.reduce(manifest.config.size) { $0 + $1.size } }
    }

    // MARK: - Queries

    /// Every image, one entry per manifest, tags sorted.
    public func images() async throws -> [Image] {
        var byDigest: [Digest: Image] = [:]
        for (name, descriptor) in try await content.taggedManifests() {
            if byDigest[descriptor.digest] != nil {
                byDigest[descriptor.digest]!.tags.append(name)
                continue
            }
            guard let image = try? load(descriptor, tags: [name]) else {
                logger.warning("tag names a manifest that cannot be read", metadata: ["tag": "\(name)"])
                continue
            }
            byDigest[descriptor.digest] = image
        }
        return byDigest.values.map { var i = $0; i.tags.sort(); return i }.sorted { $0.tags.first ?? "" < $1.tags.first ?? "" }
    }

    /// An image by reference (`busybox`, `registry:5000/a/b:tag`), manifest digest, or
    /// image id (config digest, or a unique prefix of at least 4 hex digits).
    public func resolve(_ text: String) async throws -> Image {
        // By tag, the common case (every `run IMAGE`): index.json and one manifest only.
        let tagged = try await content.taggedManifests()
        if let ref = try? ImageReference(parsing: text), ref.digest == nil || ref.tag != nil,
           let hit = tagged.first(where: { $0.name == ref.description }) {
            let names = tagged.filter { $0.descriptor.digest == hit.descriptor.digest }.map(\.name).sorted()
            return try load(hit.descriptor, tags: names)
        }
        let all = try await images()
        if let ref = try? ImageReference(parsing: text), let digest = ref.digest,
           let image = all.first(where: { $0.manifestDescriptor.digest == digest }) {
            return image
        }
        let hex = text.hasPrefix("sha256:") ? String(text.dropFirst(7)) : text
        if hex.count >= 4, hex.allSatisfy(\.isHexDigit) {
            let matches = all.filter { $0.configDigest.hex.hasPrefix(hex) || $0.manifestDescriptor.digest.hex.hasPrefix(hex) }
            if matches.count == 1 { return matches[0] }
            if matches.count > 1 { throw WarrenError(.invalidArgument, "image id prefix '\(text)' is ambiguous") }
        }
        throw WarrenError(.notFound, "image '\(text)' is not in the store: pull or import it first")
    }

    func load(_ descriptor: Descriptor, tags: [String]) throws -> Image {
        let data = try content.read(descriptor.digest)
        guard case .manifest(let manifest) = try ManifestDocument.parse(data, mediaType: descriptor.mediaType) else {
            throw WarrenError(.internalError, "tag names an index, not an image manifest")
        }
        let config = try JSONDecoder().decode(ImageConfiguration.self, from: try content.read(manifest.config.digest))
        guard config.rootfs.diff_ids.count == manifest.layers.count else {
            throw WarrenError(.invalidArgument, "image config lists \(config.rootfs.diff_ids.count) diff ids for \(manifest.layers.count) layers")
        }
        return Image(tags: tags, manifestDescriptor: descriptor, manifest: manifest, config: config)
    }

    // MARK: - Layers

    public nonisolated func layerPath(_ diffID: Digest) -> String { layersDir + "/" + diffID.hex }

    /// Unpacks every layer of `image` that is not unpacked yet; returns the layer
    /// directories topmost first, as overlay lists them.
    public func unpack(_ image: Image) async throws -> [String] {
        let tasks = startUnpacks(zip(image.manifest.layers, image.config.rootfs.diff_ids).map { ($0.digest, $1, nil) })
        for task in tasks { try await task?.value }
        return image.config.rootfs.diff_ids.reversed().map(layerPath)
    }

    /// Starts the unpack of each layer (bottom first) that is neither unpacked nor
    /// unpacking; returns each one's task, nil where the layer is there already.
    ///
    /// Layers unpack side by side, as many at once as there are CPUs; each one is
    /// checked against the layers below it (no entry may pass through a symlink they
    /// show) once those are complete, and only then renamed into place.
    func startUnpacks(_ layers: [(blob: Digest, diffID: Digest, feed: BlobFeed?)]) -> [Task<Void, any Error>?] {
        var tasks: [Task<Void, any Error>?] = []
        var below: [Digest] = []
        for layer in layers {
            tasks.append(startUnpack(layer.blob, layer.diffID, below: below, feed: layer.feed))
            below.append(layer.diffID)
        }
        return tasks
    }

    private func startUnpack(_ blob: Digest, _ diffID: Digest, below: [Digest], feed: BlobFeed?) -> Task<Void, any Error>? {
        if access(layerPath(diffID), F_OK) == 0 { return nil }
        if let running = unpacking[diffID] { return running.task }
        let lowerTasks = below.compactMap { unpacking[$0]?.task }
        let lowers = below.reversed().map(layerPath)
        let target = layerPath(diffID)
        let source: ArchiveSource = feed.map { .feed($0) } ?? .file(content.path(of: blob))
        let tmp = layersDir + "/.tmp-" + UUID().uuidString.lowercased()
        let log = logger
        let slots = unpackSlots
        let id = UUID()
        let task = Task {
            let outcome: Result<Void, any Error>
            do {
                try await slots.acquire()
                let created: [(path: [String], entry: String)]
                do {
                    created = try await onOwnThread("warren-unpack") {
                        try Self.unpackBlob(source, blob: blob, diffID: diffID, into: tmp, feed: feed, log: log)
                    }
                } catch {
                    await slots.release()
                    throw error
                }
                await slots.release()
                for lower in lowerTasks { try await lower.value }
                try LayerPaths.checkCreated(created, lowers: lowers)
                try syscallRetrying("rename", target) { rename(tmp, target) }
                outcome = .success(())
            } catch {
                try? removeTree(tmp)
                outcome = .failure(error)
            }
            // Out of the map before anyone awaiting this sees it end (GC skips what is in it).
            self.unpackEnded(diffID, id)
            try outcome.get()
        }
        unpacking[diffID] = (id, task)
        return task
    }

    private func unpackEnded(_ diffID: Digest, _ id: UUID) {
        if unpacking[diffID]?.id == id { unpacking[diffID] = nil }
    }

    /// Unpacks into `tmp` (blocking); the layer counts only once its download, if it is
    /// still downloading, is verified too. Returns the directories entries made.
    private static func unpackBlob(_ source: ArchiveSource, blob: Digest, diffID: Digest, into tmp: String, feed: BlobFeed?,
                                   log: Logger) throws -> [(path: [String], entry: String)] {
        try makeDirectories(tmp, mode: 0o755)
        var unpacker = LayerUnpacker()
        let result: LayerUnpacker.Result
        do { result = try unpacker.unpack(source, into: tmp, lowers: []) } catch {
            // A failed download explains a failed unpack better than libarchive does.
            try feed?.waitForEnd()
            throw error
        }
        try feed?.waitForEnd()
        guard result.diffID == diffID else {
            throw WarrenError(.invalidArgument, "layer \(blob) unpacks to \(result.diffID), but the image config says \(diffID)")
        }
        for note in result.notes { log.notice("\(note)", metadata: ["layer": "\(diffID)"]) }
        return result.createdDirectories
    }

    // MARK: - Removal

    /// Untags `text` (or every tag of an image named by id); then removes what no
    /// image and no sandbox in `inUse` (manifest digests) references. An image a
    /// sandbox uses is refused unless `force`, which only untags it.
    public func remove(_ text: String, force: Bool, inUse: @Sendable () async throws -> Set<Digest>) async throws -> [String] {
        let image = try await resolve(text)
        let ref = try? ImageReference(parsing: text)
        let byTag = ref.map { image.tags.contains($0.description) } ?? false
        if !byTag && image.tags.count > 1 && !force {
            throw WarrenError(.conflict, "image \(text) is tagged \(image.tags.count) times: remove the tags one by one, or use -f")
        }
        let untagging = byTag ? [ref!.description] : image.tags
        let last = untagging.count == image.tags.count
        if last && !force, try await inUse().contains(image.manifestDescriptor.digest) {
            throw WarrenError(.conflict, "image \(text) is used by a sandbox: remove the sandbox first, or use -f to untag it")
        }
        var lines: [String] = []
        for tag in untagging {
            try await content.untag(tag)
            lines.append("Untagged: \(tag)")
        }
        if last { lines += try await collectGarbage(inUse: inUse) }
        return lines
    }

    /// `image prune`: removes what no tagged image and no sandbox references.
    public func prune(inUse: @Sendable () async throws -> Set<Digest>) async throws -> [String] {
        try await collectGarbage(inUse: inUse)
    }

    // MARK: - Leases

    /// Holds off garbage collection until `release`: content resolved now stays until
    /// whatever will reference it (a tag, a sandbox row) exists.
    public func acquireLease() async {
        while collecting { await waitAtGate() }
        leases += 1
    }

    public func releaseLease() {
        leases -= 1
        openGate()
    }

    private func waitAtGate() async { await withCheckedContinuation { gateWaiters.append($0) } }

    private func openGate() {
        let waiting = gateWaiters
        gateWaiters = []
        for w in waiting { w.resume() }
    }

    /// Removes blobs and layers that no tagged image and no sandbox references; waits
    /// for imports and creates in flight, and holds new ones off while it runs.
    /// `inUse` (manifest digests sandboxes use) is read once no create is in flight.
    public func collectGarbage(inUse: @Sendable () async throws -> Set<Digest>) async throws -> [String] {
        while collecting || leases > 0 { await waitAtGate() }
        collecting = true
        defer { collecting = false; openGate() }
        let inUse = try await inUse()
        var keepBlobs = Set<Digest>()
        var keepLayers = Set<String>()
        var roots = try await content.taggedManifests().map(\.descriptor)
        for digest in inUse where content.contains(digest) {
            roots.append(Descriptor(mediaType: MediaType.ociManifest, digest: digest, size: 0))
        }
        for root in roots {
            keepBlobs.insert(root.digest)
            guard let image = try? load(root, tags: []) else { continue }
            keepBlobs.insert(image.configDigest)
            for l in image.manifest.layers { keepBlobs.insert(l.digest) }
            for d in image.config.rootfs.diff_ids { keepLayers.insert(d.hex) }
        }
        var lines: [String] = []
        for digest in content.allBlobs() where !keepBlobs.contains(digest) {
            try await content.delete(digest)
            lines.append("Deleted: \(digest)")
        }
        for name in (try? FileManager.default.contentsOfDirectory(atPath: layersDir)) ?? []
        where !name.hasPrefix(".") && !keepLayers.contains(name) && unpacking[Digest(hex: name)] == nil {
            try removeTree(layersDir + "/" + name)
            lines.append("Deleted layer: sha256:\(name)")
        }
        return lines
    }
}
