import Foundation
import LLMFacade
import WarrenCore

// MARK: - Spec validation

extension SandboxManager {
    /// Checks a spec before anything is persisted; throws `invalidArgument` with the first problem.
    /// The spec's own rules (`SandboxSpec.validate`, shared with the CLI) come first, then
    /// what only the host can tell.
    public static func validate(_ spec: SandboxSpec) throws {
        try spec.validate()
        if let rootfs = spec.rootfs {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: rootfs, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw WarrenError(.invalidArgument, "rootfs '\(rootfs)' is not a directory")
            }
        }
        try validateEnv(spec.env)
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
