#if canImport(Glibc)
import Glibc
#endif
import WarrenCore

/// Which host paths a client may bind into a sandbox.
///
/// A source is resolved (symlinks and all) before it is judged, and the resolved path
/// is what the driver mounts. Refused unless the daemon's configuration allows them:
/// the host's root, `/proc`, `/sys` and `/dev` and anything under them, and any path
/// that is, contains or lies inside Warren's data root, Warren's socket or the Docker
/// engine's socket — each of those hands a sandbox the host.
public struct MountPolicy: Sendable, Equatable {
    /// A path no bind may reach, and what it would expose.
    public struct Protected: Sendable, Equatable {
        public var path: String
        public var exposes: String
        public init(_ path: String, exposes: String) { self.path = path; self.exposes = exposes }
    }

    public var protected: [Protected]
    /// Resolved paths the configuration allows even though they are protected; a
    /// source equal to or below one of them is allowed.
    public var allowed: [String]

    /// The kernel's trees, plus `dataRoot`, `socketPath` and `dockerSocket` where given.
    public init(dataRoot: String? = nil, socketPath: String? = nil, dockerSocket: String? = nil, allowed: [String] = []) {
        var p = [Protected("/proc", exposes: "the kernel's process and system interfaces"),
                 Protected("/sys", exposes: "the kernel's device and system interfaces"),
                 Protected("/dev", exposes: "the host's devices")]
        if let dataRoot { p.append(Protected(Self.resolve(dataRoot) ?? dataRoot, exposes: "Warren's data root")) }
        if let socketPath { p.append(Protected(Self.resolve(socketPath) ?? socketPath, exposes: "Warren's API socket")) }
        if let dockerSocket { p.append(Protected(Self.resolve(dockerSocket) ?? dockerSocket, exposes: "the Docker engine's socket")) }
        protected = p
        self.allowed = allowed.map { Self.resolve($0) ?? $0 }
    }

    /// The mounts with their sources resolved; throws on the first one refused.
    public func check(_ mounts: [MountSpec]) throws -> [MountSpec] {
        try mounts.map { m in
            guard let source = Self.resolveExisting(m.source) else {
                throw WarrenError(.invalidArgument, "mount source \(m.source) does not exist")
            }
            if let why = refusal(source) {
                let shown = source == m.source ? source : "\(m.source) (\(source))"
                throw WarrenError(.forbidden, "mount source \(shown) is refused: it exposes \(why); the daemon's \"allow-mount-sources\" setting can allow it")
            }
            var resolved = m
            resolved.source = source
            resolved.managed = nil
            return resolved
        }
    }

    /// A `--rootfs` directory resolved; refused like a mount source, since every file in
    /// it becomes part of the sandbox (and the host's root, or a tree holding the data
    /// root, would be copied into itself).
    public func checkRootfs(_ rootfs: String) throws -> String {
        guard let resolved = Self.resolveExisting(rootfs) else {
            throw WarrenError(.invalidArgument, "rootfs '\(rootfs)' is not a directory")
        }
        if let why = refusal(resolved) {
            throw WarrenError(.forbidden, "rootfs \(resolved) is refused: it exposes \(why)")
        }
        return resolved
    }

    /// What `source` (resolved) would expose, or nil when it may be mounted.
    func refusal(_ source: String) -> String? {
        if allowed.contains(where: { Self.isSameOrBelow(source, $0) }) { return nil }
        if source == "/" { return "the host's whole file system" }
        for p in protected {
            if Self.isSameOrBelow(source, p.path) || Self.isSameOrBelow(p.path, source) { return p.exposes + " (\(p.path))" }
        }
        return nil
    }

    static func isSameOrBelow(_ path: String, _ base: String) -> Bool {
        if base == "/" { return true }
        return path == base || path.hasPrefix(base.hasSuffix("/") ? base : base + "/")
    }

    /// The canonical path of an existing file.
    static func resolveExisting(_ path: String) -> String? {
        guard let p = realpath(path, nil) else { return nil }
        defer { free(p) }
        return String(cString: p)
    }

    /// The canonical path of an existing file, or of a missing one's existing parent
    /// plus its name (a socket not made yet); nil when neither exists.
    static func resolve(_ path: String) -> String? {
        if let p = resolveExisting(path) { return p }
        guard let slash = path.lastIndex(of: "/"), slash != path.startIndex,
              let parent = realpath(String(path[..<slash]), nil) else { return nil }
        defer { free(parent) }
        let base = String(cString: parent)
        return (base == "/" ? "" : base) + String(path[slash...])
    }
}
