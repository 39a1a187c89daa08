#if canImport(Glibc)
import Glibc
#endif
import CLinux
import LinuxSupport
import WarrenCore

/// A sandbox's root file system as overlay will show it, read from its layer directories
/// (top first) without mounting anything: whiteouts hide what is below, opaque directories
/// end the lower layers' part, symlinks are followed inside the root, never out of it.
struct LayeredRoot {
    let layers: [String]
    /// Bind mounts over the root, by their destination's components: below one, paths
    /// are the host source's (links there still resolve in the sandbox's view).
    var mounts: [(destination: [String], source: String)] = []

    init(layers: [String], mounts: [MountSpec] = []) {
        self.layers = layers
        self.mounts = mounts.map { (($0.destination.split(separator: "/").map(String.init)), $0.source) }
            .sorted { $0.destination.count > $1.destination.count }
    }

    /// What `path` (absolute) resolves to: the host path of the file that wins and its
    /// stat; nil when it does not exist (or passes more than 40 links).
    func resolve(_ path: String, followLast: Bool = true) -> (hostPath: String, st: stat)? {
        var pending = path.split(separator: "/").map(String.init)
        var prefix: [String] = []
        var links = 0
        while !pending.isEmpty {
            let name = pending.removeFirst()
            if name == "." || name.isEmpty { continue }
            if name == ".." { _ = prefix.popLast(); continue }
            guard let found = entry(prefix + [name]) else { return nil }
            let isLast = pending.isEmpty
            if (found.st.st_mode & S_IFMT) == S_IFLNK && (!isLast || followLast) {
                links += 1
                guard links <= 40, let target = readLink(found.hostPath) else { return nil }
                if target.hasPrefix("/") { prefix = [] }
                pending = target.split(separator: "/").map(String.init) + pending
                continue
            }
            if isLast { return found }
            guard (found.st.st_mode & S_IFMT) == S_IFDIR else { return nil }
            prefix.append(name)
        }
        // The root itself.
        guard let top = layers.first else { return nil }
        var st = stat()
        return lstat(top, &st) == 0 ? (top, st) : nil
    }

    /// The entry at `components` (no link followed): the topmost layer's, unless a whiteout
    /// or an opaque directory above hides it, or a directory above hides a non-directory.
    private func entry(_ components: [String]) -> (hostPath: String, st: stat)? {
        if let mount = mounts.first(where: { components.starts(with: $0.destination) }) {
            let rest = components.dropFirst(mount.destination.count)
            let host = mount.source + (rest.isEmpty ? "" : "/" + rest.joined(separator: "/"))
            var st = stat()
            return lstat(host, &st) == 0 ? (host, st) : nil
        }
        let relative = "/" + components.joined(separator: "/")
        for layer in layers {
            // A parent that is opaque or a whiteout in this layer hides the lower layers.
            if hidesBelow(layer, components.dropLast()) { return lookup(layer, relative) }
            if let found = lookup(layer, relative) { return found }
            var st = stat()
            if lstat(layer + relative, &st) == 0 { return nil }  // a whiteout here
        }
        return nil
    }

    /// The file at `relative` in one layer, nil when absent or a whiteout.
    private func lookup(_ layer: String, _ relative: String) -> (hostPath: String, st: stat)? {
        var st = stat()
        guard lstat(layer + relative, &st) == 0 else { return nil }
        if (st.st_mode & S_IFMT) == S_IFCHR && st.st_rdev == 0 { return nil }
        return (layer + relative, st)
    }

    /// Whether one of the directories on the way (in this layer) is opaque.
    private func hidesBelow(_ layer: String, _ parents: ArraySlice<String>) -> Bool {
        var path = layer
        for p in parents {
            path += "/" + p
            var value = [UInt8](repeating: 0, count: 4)
            if lgetxattr(path, "trusted.overlay.opaque", &value, value.count) == 1 && value[0] == UInt8(ascii: "y") { return true }
        }
        return false
    }

    private func readLink(_ path: String) -> String? {
        var buf = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink(path, &buf, buf.count - 1)
        guard n > 0 else { return nil }
        return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The text of a small file in the root (`/etc/passwd`), nil when missing.
    func read(_ path: String) -> String? {
        guard let found = resolve(path), (found.st.st_mode & S_IFMT) == S_IFREG, found.st.st_size < 16 << 20 else { return nil }
        return readFileIfPresent(found.hostPath).map { String(decoding: $0, as: UTF8.self) }
    }
}
