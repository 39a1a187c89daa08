import Foundation
import LLMFacade
import WarrenCore

// MARK: - Spec validation

extension SandboxManager {
    /// Checks a spec before anything is persisted; throws `invalidArgument` with the first problem.
    public static func validate(_ spec: SandboxSpec) throws {
        // An image may bring its own command; a bare rootfs cannot, and a given one must name a program.
        let commandRequired = spec.image == nil || !spec.command.isEmpty
        if commandRequired && (spec.command.first?.isEmpty ?? true) {
            throw WarrenError(.invalidArgument, "a sandbox needs a command")
        }
        if let name = spec.name { try SandboxID.validateName(name) }
        try spec.limits.validate()
        switch (spec.rootfs, spec.image) {
        case (nil, nil):
            throw WarrenError(.invalidArgument, "a sandbox needs a rootfs directory or an image")
        case (let rootfs?, _):
            guard rootfs.hasPrefix("/") else {
                throw WarrenError(.invalidArgument, "rootfs '\(rootfs)' must be an absolute path")
            }
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: rootfs, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw WarrenError(.invalidArgument, "rootfs '\(rootfs)' is not a directory")
            }
        case (nil, let image?):
            guard !image.isEmpty else { throw WarrenError(.invalidArgument, "empty image reference") }
        }
        try validateEnv(spec.env)
        if let workdir = spec.workdir, !workdir.hasPrefix("/") {
            throw WarrenError(.invalidArgument, "workdir '\(workdir)' must be an absolute path")
        }
        for mount in spec.mounts where !mount.source.hasPrefix("/") || !mount.destination.hasPrefix("/") {
            throw WarrenError(.invalidArgument, "mount \(mount.source):\(mount.destination) needs absolute paths")
        }
        if let hostname = spec.hostname, hostname.isEmpty || hostname.count > 64 {
            throw WarrenError(.invalidArgument, "hostname must be 1 to 64 characters")
        }
    }

    /// Every entry must be `KEY=VALUE` with a non-empty key, and none may hand a sandbox
    /// a provider key: sandboxes reach models through the LLM facade only.
    static func validateEnv(_ env: [String]) throws {
        for entry in env {
            guard let eq = entry.firstIndex(of: "="), eq != entry.startIndex else {
                throw WarrenError(.invalidArgument, "environment entry '\(entry)' must be KEY=VALUE")
            }
            let key = String(entry[..<eq])
            if LLMProvider.credentialVariables.contains(key) {
                // The value is a secret: it is never repeated back, logged or stored.
                throw WarrenError(.invalidArgument, "\(key) carries a provider key, and sandboxes never hold provider keys: the daemon keeps them and gives sandboxes facade tokens")
            }
        }
    }
}
