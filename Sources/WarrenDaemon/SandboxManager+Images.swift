import Foundation
import ImageStore
import WarrenCore

extension SandboxManager {
    /// Resolves `spec.image`, unpacks its layers and applies its config as Docker does:
    /// the image's Env under the spec's, its WorkingDir and User unless the spec sets
    /// them, its Entrypoint before the spec's command (or before its Cmd when the spec
    /// has none).
    func applyImage(to spec: inout SandboxSpec) async throws {
        spec.resolvedImage = nil
        guard let reference = spec.image else { return }
        guard spec.rootfs == nil else {
            throw WarrenError(.invalidArgument, "give an image or --rootfs, not both")
        }
        guard let images else { throw WarrenError(.unavailable, "this daemon has no image store") }
        let image = try await images.resolve(reference)
        let layers = try await images.unpack(image)
        let run = image.config.config ?? ImageConfiguration.RunConfig()
        let command = (run.Entrypoint ?? []) + (spec.command.isEmpty ? (run.Cmd ?? []) : spec.command)
        guard let first = command.first, !first.isEmpty else {
            throw WarrenError(.invalidArgument, "image \(reference) has no Entrypoint or Cmd: give a command after --")
        }
        spec.command = command
        spec.env = Self.mergeEnvironment(image: run.Env ?? [], spec: spec.env)
        if spec.workdir == nil, let dir = run.WorkingDir, !dir.isEmpty { spec.workdir = dir }
        if spec.user == nil, let user = run.User, !user.isEmpty { spec.user = user }
        spec.resolvedImage = ResolvedImage(manifestDigest: image.manifestDescriptor.digest.description,
                                           id: image.configDigest.description, layers: layers)
    }

    /// The image's variables, each replaced by the spec's of the same name, then the spec's new ones.
    static func mergeEnvironment(image: [String], spec: [String]) -> [String] {
        func key(_ e: String) -> Substring { e.split(separator: "=", maxSplits: 1).first ?? "" }
        let overridden = Set(spec.map(key))
        return image.filter { !overridden.contains(key($0)) } + spec
    }

    /// Manifest digests of images that sandboxes not yet removed run: kept by `rmi` and GC.
    public func imagesInUse() async throws -> Set<Digest> {
        Set(try await store.sandboxes.list().compactMap { info in
            info.spec.resolvedImage.flatMap { try? Digest(parsing: $0.manifestDigest) }
        })
    }
}
