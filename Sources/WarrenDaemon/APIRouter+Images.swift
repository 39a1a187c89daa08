import Foundation
import Hummingbird
import ImageStore
import WarrenCore

extension APIRouter {
    /// `/v1/images`: references in paths are percent-encoded (`docker.io%2Flibrary%2Fbusybox:latest`).
    static func addImageRoutes(to router: Router<DaemonRequestContext>, _ deps: Dependencies) {
        let manager = deps.manager
        router.get("/v1/images") { _, _ in
            let store = try manager.imageStore()
            return try HTTPBody.json(try await store.images().map(\.summary))
        }
        router.post("/v1/images/pull") { request, context in
            let body = try await request.decodeJSON(ImagePullRequest.self, context: context)!
            let store = try manager.imageStore()
            guard let base = deps.registry else { throw WarrenError(.unavailable, "this daemon does not pull images") }
            let platform = try body.platform.map(Platform.init(parsing:)) ?? .host
            let ref = try ImageReference(parsing: body.reference)
            // Logins as they are now; the caller's own, when sent, for its registry.
            var credentials = try deps.registryConfigPath.map(RegistryCredentialStore.dockerConfig(at:)) ?? .init()
            if let auth = body.auth {
                credentials.entries[ref.registry] = RegistryCredential(username: auth.username, password: auth.password)
            }
            let registry = base.with(credentials)
            // Resolving fails with a status of its own (404, 401, ...); then progress streams.
            let plan = try await store.resolvePull(body.reference, platform: platform, registry: registry)
            let (stream, progress) = AsyncThrowingStream.makeStream(of: PullProgress.self)
            // The pull finishes even if the client goes away, so it leaves a usable image.
            Task {
                do {
                    _ = try await store.pull(plan, registry: registry) { progress.yield($0) }
                    progress.finish()
                } catch {
                    progress.finish(throwing: error)
                }
            }
            return HTTPBody.ndjson(stream)
        }
        router.post("/v1/images/prune") { _, _ in
            let store = try manager.imageStore()
            let lines = try await uncancellable { try await store.prune { try await manager.imagesInUse() } }
            return try HTTPBody.json(ImageChanges(lines: lines))
        }
        router.get("/v1/images/{ref}") { _, context in
            let store = try manager.imageStore()
            return try HTTPBody.json(try await store.resolve(try context.imageReference()).details)
        }
        router.delete("/v1/images/{ref}") { request, context in
            let store = try manager.imageStore()
            let ref = try context.imageReference()
            let force = request.flag("force")
            let lines = try await uncancellable { try await store.remove(ref, force: force) { try await manager.imagesInUse() } }
            return try HTTPBody.json(ImageChanges(lines: lines))
        }
        addImageTransferRoutes(to: router, deps)
    }
}

extension DaemonRequestContext {
    func imageReference() throws -> String {
        let raw = try parameters.require("ref")
        return raw.removingPercentEncoding ?? raw
    }
}

extension SandboxManager {
    nonisolated func imageStore() throws -> ImageStore {
        guard let images else { throw WarrenError(.unavailable, "this daemon has no image store") }
        return images
    }
}

extension ImageStore.Image {
    var summary: ImageSummary {
        ImageSummary(id: configDigest.description, digest: manifestDescriptor.digest.description, tags: tags, size: size,
                     created: config.created,
                     platform: [config.os, config.architecture, config.variant].compactMap { $0 }.joined(separator: "/"))
    }

    var details: ImageDetails {
        let run = config.config
        return ImageDetails(
            summary: summary,
            layers: zip(manifest.layers, config.rootfs.diff_ids).map {
                ImageLayer(digest: $0.digest.description, diffID: $1.description, mediaType: $0.mediaType, size: $0.size)
            },
            user: run?.User, env: run?.Env ?? [], entrypoint: run?.Entrypoint, cmd: run?.Cmd, workingDir: run?.WorkingDir)
    }
}
