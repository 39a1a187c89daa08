#if canImport(Glibc)
import Glibc
#endif
import Foundation
import LinuxSupport
import NIOCore
import WarrenCore

extension ImageStore {
    /// What a pull fetches, known once the registry has named the manifest and config.
    public struct PullPlan: Sendable {
        public var reference: ImageReference
        public var manifestBytes: [UInt8]
        public var manifestDigest: Digest
        public var manifestMediaType: String
        public var manifest: ImageManifest
        public var configBytes: [UInt8]
        public var config: ImageConfiguration
    }

    /// Pulls `text` from its registry: `resolvePull`, then `pull(plan)`.
    public func pull(_ text: String, platform: Platform = .host, registry: RegistryClient,
                     report: @escaping @Sendable (PullProgress) -> Void) async throws -> Image {
        try await pull(try await resolvePull(text, platform: platform, registry: registry), registry: registry, report: report)
    }

    /// Asks the registry for `text`'s manifest (through an index, for `platform`) and
    /// config, both verified; stores nothing yet.
    public nonisolated func resolvePull(_ text: String, platform: Platform = .host, registry: RegistryClient) async throws -> PullPlan {
        let ref = try ImageReference(parsing: text)
        var fetched = try await registry.manifest(ref, reference: ref.digest?.description ?? ref.tag ?? "latest")
        var document = try ManifestDocument.parse(Data(fetched.bytes), mediaType: fetched.mediaType)
        if case .index(let index) = document {
            let pick = try index.manifest(for: platform, in: ref.familiar)
            fetched = try await registry.manifest(ref, reference: pick.digest.description)
            document = try ManifestDocument.parse(Data(fetched.bytes), mediaType: pick.mediaType)
        }
        guard case .manifest(let manifest) = document else {
            throw WarrenError(.invalidArgument, "\(ref.familiar): an index points at another index")
        }
        for layer in manifest.layers where !MediaType.layers.contains(layer.mediaType) {
            throw WarrenError(.unsupported, "\(ref.familiar) has a layer of type \(layer.mediaType), which is not an image layer")
        }
        let configBytes = try await registry.smallBlob(ref, digest: manifest.config.digest, limit: 8 << 20)
        guard Digest.of(configBytes) == manifest.config.digest else {
            throw WarrenError(.invalidArgument, "image config \(manifest.config.digest) from \(ref.registry) failed verification")
        }
        let config: ImageConfiguration
        do { config = try JSONDecoder().decode(ImageConfiguration.self, from: Data(configBytes)) } catch {
            throw WarrenError(.invalidArgument, "image config \(manifest.config.digest) is malformed: \(error)")
        }
        guard config.rootfs.diff_ids.count == manifest.layers.count else {
            throw WarrenError(.invalidArgument, "image config lists \(config.rootfs.diff_ids.count) diff ids for \(manifest.layers.count) layers")
        }
        let type = manifest.mediaType ?? (fetched.mediaType.isEmpty ? MediaType.ociManifest : fetched.mediaType)
        return PullPlan(reference: ref, manifestBytes: fetched.bytes, manifestDigest: fetched.digest, manifestMediaType: type,
                        manifest: manifest, configBytes: configBytes, config: config)
    }

    /// Fetches what `plan` lacks: the layers download in parallel — each one unpacking
    /// while it downloads, bottom to top — and the image is tagged once every blob is
    /// verified and committed. Progress goes to `report` as it happens.
    public func pull(_ plan: PullPlan, registry: RegistryClient, report: @escaping @Sendable (PullProgress) -> Void) async throws -> Image {
        await acquireLease()
        defer { releaseLease() }
        let ref = plan.reference
        let manifest = plan.manifest
        let diffIDs = plan.config.rootfs.diff_ids
        try await content.put(plan.configBytes, expected: manifest.config.digest)
        report(PullProgress(status: .resolved, reference: ref.description, digest: plan.manifestDigest.description,
                            id: manifest.config.digest.description, layers: manifest.layers.map(\.digest.description)))

        // Layers: downloads start now, all of them (bounded by the shared slots);
        // unpacks go bottom to top, each reading its blob as it arrives.
        let fetches: [BlobDownload?] = try manifest.layers.map { layer in
            content.contains(layer.digest) ? nil : try download(layer, of: ref, registry: registry)
        }
        let layers = manifest.layers
        let watcher = Task { await Self.watch(layers, fetches, report: report) }
        defer { watcher.cancel() }
        let unpacks = startUnpacks(zip(manifest.layers, diffIDs).enumerated().map { i, pair in (pair.0.digest, pair.1, fetches[i]?.feed) })
        for (i, layer) in manifest.layers.enumerated() {
            if unpacks[i] == nil && fetches[i] == nil {
                report(PullProgress(status: .exists, layer: layer.digest.description, total: layer.size))
            } else {
                report(PullProgress(status: .extracting, layer: layer.digest.description, total: layer.size))
            }
        }
        for (i, layer) in manifest.layers.enumerated() where unpacks[i] != nil || fetches[i] != nil {
            try await unpacks[i]?.value
            try await fetches[i]?.task.value
            report(PullProgress(status: .complete, layer: layer.digest.description, total: layer.size))
        }

        // Only now, with every blob committed, the manifest and the tag.
        try await content.put(plan.manifestBytes, expected: plan.manifestDigest)
        let descriptor = Descriptor(mediaType: plan.manifestMediaType, digest: plan.manifestDigest, size: Int64(plan.manifestBytes.count))
        try await content.tag(ref.description, descriptor)
        report(PullProgress(status: .done, reference: ref.description, digest: plan.manifestDigest.description,
                            id: manifest.config.digest.description))
        return Image(tags: [ref.description], manifestDescriptor: descriptor, manifest: manifest, config: plan.config)
    }

    /// The download of `layer`, shared with any pull already fetching that blob.
    private func download(_ layer: Descriptor, of ref: ImageReference, registry: RegistryClient) throws -> BlobDownload {
        if let running = downloads[layer.digest] { return running }
        let ingest = try content.beginIngest()
        let feed: BlobFeed
        do { feed = try BlobFeed(path: ingest.dataPath) } catch { ingest.abort(); throw error }
        let content = content
        let slots = downloadSlots
        // Detached: the bytes go to disk on the pool, not through this actor.
        let task = Task.detached {
            var failure: (any Error)?
            do {
                try await slots.acquire()
                do {
                    feed.start()
                    try await registry.blob(ref, digest: layer.digest, written: { ingest.written }) { buffer in
                        guard ingest.written + Int64(buffer.readableBytes) <= layer.size else {
                            throw WarrenError(.invalidArgument, "blob \(layer.digest) from \(ref.registry) is larger than the \(layer.size) bytes its manifest says")
                        }
                        try buffer.withUnsafeReadableBytes { try ingest.write($0) }
                        feed.advance(to: ingest.written)
                    }
                    feed.allWritten()
                    try await content.commit(ingest, expected: layer.digest, size: layer.size)
                } catch {
                    failure = error
                }
                await slots.release()
            } catch {
                failure = error
            }
            if failure != nil { ingest.abort() }
            feed.end(failure)
            // Out of the map before anyone awaiting this sees it end: a retry starts afresh.
            await self.downloadEnded(layer.digest)
            if let failure { throw failure }
        }
        let entry = BlobDownload(feed: feed, task: task)
        downloads[layer.digest] = entry
        return entry
    }

    private func downloadEnded(_ digest: Digest) { downloads[digest] = nil }

    /// Reports download progress of `downloads` every 200 ms until cancelled.
    private static func watch(_ layers: [Descriptor], _ downloads: [BlobDownload?],
                              report: @Sendable (PullProgress) -> Void) async {
        var last: [Int64] = Array(repeating: -2, count: layers.count)
        while !Task.isCancelled {
            for (i, d) in downloads.enumerated() {
                guard let d else { continue }
                let now = d.feed.progress ?? -1
                guard now != last[i] else { continue }
                last[i] = now
                let layer = layers[i].digest.description
                report(now < 0 ? PullProgress(status: .waiting, layer: layer, total: layers[i].size)
                               : PullProgress(status: .downloading, layer: layer, current: now, total: layers[i].size))
            }
            try? await Task.sleep(for: .milliseconds(200))
        }
    }
}

/// A blob download in flight: its task, and the feed its unpacker reads.
final class BlobDownload: Sendable {
    let feed: BlobFeed
    let task: Task<Void, any Error>
    init(feed: BlobFeed, task: Task<Void, any Error>) { self.feed = feed; self.task = task }
}

/// At most `limit` holders at once; the rest wait in order.
actor AsyncSemaphore {
    private var free: Int
    private var waiting: [CheckedContinuation<Void, Never>] = []
    init(_ limit: Int) { free = limit }

    func acquire() async throws {
        if free > 0 { free -= 1; return }
        await withCheckedContinuation { waiting.append($0) }
        if Task.isCancelled {
            release()
            throw CancellationError()
        }
    }

    func release() {
        if waiting.isEmpty { free += 1 } else { waiting.removeFirst().resume() }
    }
}
