#if canImport(Glibc)
import Glibc
#endif
import CLinux
import LinuxSupport
import Foundation
import WarrenCore

/// Builds a sandbox's root filesystem in the monitor's private mount namespace.
///
/// Each read-only lower layer is attached through an id-mapped mount so files owned
/// by host root appear owned by sandbox root; an overlay with a per-sandbox upper
/// directory sits on top, so the source is never modified. Where the kernel or the
/// filesystem refuses either, the layers are copied instead (`FlattenedCopy`).
/// Everything is mounted in a mount namespace only the sandbox's processes share:
/// when they are gone, so are the mounts, and the host never sees them.
struct RootfsBuilder {
    let config: HelperLaunchConfig
    let bundle: SandboxBundle
    /// Sandbox ids as seen from the monitor: new files and the copy get these owners.
    let idMap: IDMap
    /// A user namespace with `idMap` for id-mapped mounts, or -1 for plain ones.
    let usernsFD: Int32

    func build() throws {
        guard !config.lowerDirs.isEmpty else { throw SandboxSetupError("no root filesystem given") }
        var st = stat()
        for lower in config.lowerDirs.reversed() {  // ends on the top layer, whose mode the root keeps
            guard stat(lower, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else {
                throw SandboxSetupError("root filesystem layer \(lower) is not a directory")
            }
        }
        try makeDirectories(bundle.rootfsMount, mode: 0o700)
        if let bytes = config.limits.diskBytes { try WritableLayerQuota.mount(bundle, bytes: bytes) }
        let hostRoot = idMap.hostID
        switch config.rootfsMode ?? .auto {
        case .overlay:
            try mountOverlay(topMode: st.st_mode)
        case .copy:
            try mountCopy()
        case .auto where config.isRootless && !layersOwnedBySandboxRoot():
            // Files owned by ids a rootless daemon cannot map stay unwritable through an
            // overlay, even for sandbox root: copy them so sandbox root owns them.
            try mountCopy()
        case .auto:
            do {
                try mountOverlay(topMode: st.st_mode)
            } catch {
                // Logged to the helper's log: the sandbox still starts, on a copy.
                FileHandle.standardError.write(Data("warren-sandbox: overlay refused (\(error)); using a flattened copy\n".utf8))
                try mountCopy()
            }
        }
        let rootFD = try syscallRetrying("open", bundle.rootfsMount) {
            open(bundle.rootfsMount, WARREN_O_PATH | O_DIRECTORY | O_CLOEXEC)
        }
        defer { close(rootFD) }
        for dir in ["/proc", "/sys", "/dev", "/tmp", "/etc"] {
            let fd = try InRoot.open(rootFD, dir, create: .directory, owner: hostRoot)
            close(fd)
        }
        // Files Docker writes so names resolve with network none.
        for (path, content) in [("/etc/hostname", config.hostname + "\n"),
                                ("/etc/hosts", "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t\(config.hostname)\n")] {
            let fd = try InRoot.open(rootFD, path, create: .file, owner: hostRoot, writable: true)
            defer { close(fd) }
            _ = ftruncate(fd, 0)
            try writeAll(fd, content)
        }
        // Without a network, names resolve only through /etc/hosts: the sandbox's own name
        // server on its loopback answers every other lookup "no such name" at once. (An
        // image whose resolv.conf cannot be replaced keeps it.)
        if config.network == .none, let fd = try? InRoot.open(rootFD, "/etc/resolv.conf", create: .file, owner: hostRoot, writable: true) {
            defer { close(fd) }
            _ = ftruncate(fd, 0)
            try writeAll(fd, "nameserver 127.0.0.1\n")
        }
        for m in config.mounts { try bind(m, rootFD: rootFD) }
    }

    /// Bind-mounts a host path into the rootfs: target resolved inside the root,
    /// never following a symlink out of it; nosuid, nodev; id-mapped only as far as
    /// `BindOwnership` allows (never host root to sandbox root).
    private func bind(_ m: MountSpec, rootFD: Int32) throws {
        // The daemon checked a resolved path: a symlink anywhere on it now means it was
        // swapped since, and the bind is refused rather than followed.
        let source = warren_openat2_no_symlinks(m.source, UInt64(WARREN_O_PATH))
        guard source >= 0 else {
            if errno == ELOOP { throw SandboxSetupError("mount source \(m.source) changed into a symlink after it was checked") }
            throw SyscallError("openat2", errno: errno, m.source)
        }
        defer { close(source) }
        let tree = try syscallRetrying("open_tree", m.source) {
            warren_open_tree(source, "", WARREN_OPEN_TREE_CLONE | WARREN_AT_RECURSIVE | WARREN_AT_EMPTY_PATH)
        }
        defer { close(tree) }
        var st = stat()
        try syscallRetrying("fstat", m.source) { fstat(tree, &st) }
        let isDir = (st.st_mode & S_IFMT) == S_IFDIR
        let target = try InRoot.open(rootFD, m.destination, create: isDir ? .directory : .file, owner: idMap.hostID)
        defer { close(target) }
        var attrs = WARREN_MOUNT_ATTR_NOSUID | WARREN_MOUNT_ATTR_NODEV
        if m.readOnly { attrs |= WARREN_MOUNT_ATTR_RDONLY }
        var userns: Int32 = -1
        let passwd = String(decoding: readFileIfPresent("/etc/passwd") ?? [], as: UTF8.self)
        if usernsFD >= 0, let maps = BindOwnership.maps(
            ownerUID: st.st_uid, ownerGID: st.st_gid, ownerPrimaryGID: BindOwnership.primaryGroup(of: st.st_uid, passwd: passwd),
            sandbox: idMap, regular: RegularAccounts.load()) {
            userns = try IDMapping.makeUserNamespaceFD(maps)
        }
        defer { if userns >= 0 { close(userns) } }
        if userns < 0 || warren_mount_setattr_idmap(tree, userns, attrs, 0, 1) != 0 {
            // Not id-mapped (or the filesystem cannot be): host ownership stays as it is,
            // so sandbox root writes as its own unprivileged host id.
            try syscallRetrying("mount_setattr", m.source) { warren_mount_setattr_idmap(tree, -1, attrs, 0, 1) }
        }
        try syscallRetrying("move_mount", m.destination) {
            warren_move_mount(tree, "", target, "", WARREN_MOVE_MOUNT_F_EMPTY_PATH | WARREN_MOVE_MOUNT_T_EMPTY_PATH)
        }
    }

    /// Overlay: id-mapped read-only layers under a per-sandbox upper directory whose
    /// root keeps the top layer's mode.
    /// Where the writable layer's directories go: the `--disk` file system, or the bundle.
    private var writable: String { bundle.writableBase(capped: config.limits.diskBytes != nil) }

    private func mountOverlay(topMode: mode_t) throws {
        let hostRoot = idMap.hostID
        let upperDir = writable + "/upper", workDir = writable + "/work"
        for dir in [bundle.lowerMount, upperDir, workDir] { try makeDirectories(dir, mode: 0o700) }
        try syscallRetrying("chown", upperDir) { chown(upperDir, hostRoot, hostRoot) }
        try syscallRetrying("chmod", upperDir) { chmod(upperDir, topMode & 0o7777) }
        try syscallRetrying("chown", workDir) { chown(workDir, hostRoot, hostRoot) }
        var lowers: [String] = []
        do {
            for (i, layer) in config.lowerDirs.enumerated() {
                let target = bundle.lowerMount + "/\(i)"
                try makeDirectories(target, mode: 0o700)
                try attachIDMapped(source: layer, targetPath: target, attrs: WARREN_MOUNT_ATTR_RDONLY)
                lowers.append(target)
            }
            let options = "lowerdir=\(lowers.joined(separator: ":")),upperdir=\(upperDir),workdir=\(workDir)"
            try syscallRetrying("mount(overlay)", bundle.rootfsMount) {
                mount("overlay", bundle.rootfsMount, "overlay", UInt(MS_NODEV), options)
            }
        } catch {
            for target in lowers { umount2(target, Int32(MNT_DETACH)) }
            throw error
        }
    }

    /// Whether every layer's root directory belongs to sandbox root, as a rootless
    /// daemon's own unpacked images and directories do.
    private func layersOwnedBySandboxRoot() -> Bool {
        config.lowerDirs.allSatisfy { layer in
            var st = stat()
            return stat(layer, &st) == 0 && st.st_uid == idMap.hostID
        }
    }

    /// Copy: the layers flattened into a private directory, owners shifted, bound as the root.
    private func mountCopy() throws {
        var copier = FlattenedCopy(idMap: idMap)
        let copyDir = writable + "/copy"
        try copier.build(layers: config.lowerDirs, into: copyDir)
        try syscallRetrying("mount(bind)", copyDir) {
            mount(copyDir, bundle.rootfsMount, nil, UInt(MS_BIND), nil)
        }
        try syscallRetrying("mount(remount nodev)", bundle.rootfsMount) {
            mount(nil, bundle.rootfsMount, nil, UInt(MS_REMOUNT | MS_BIND | MS_NODEV), nil)
        }
    }

    private func attachIDMapped(source: String, targetPath: String, attrs: UInt64) throws {
        let tree = try syscallRetrying("open_tree", source) {
            warren_open_tree(AT_FDCWD, source, WARREN_OPEN_TREE_CLONE | WARREN_AT_RECURSIVE)
        }
        defer { close(tree) }
        try syscallRetrying(usernsFD < 0 ? "mount_setattr" : "mount_setattr(idmap)", source) {
            warren_mount_setattr_idmap(tree, usernsFD, attrs, 0, 1)
        }
        try syscallRetrying("move_mount", targetPath) {
            warren_move_mount(tree, "", AT_FDCWD, targetPath, WARREN_MOVE_MOUNT_F_EMPTY_PATH)
        }
    }
}

/// Path resolution confined to a root directory (openat2 RESOLVE_IN_ROOT).
enum InRoot {
    enum Create { case none, directory, file }

    /// Opens `path` inside `rootFD` (O_PATH unless `writable`), creating missing
    /// directories (and a final empty file) owned by `owner`. Symlinks are resolved
    /// as if `rootFD` were `/` — a dangling one is followed and its target created
    /// inside the root — so nothing is ever created or opened outside it.
    static func open(_ rootFD: Int32, _ path: String, create: Create, owner: UInt32, writable: Bool = false, depth: Int = 0) throws -> Int32 {
        guard depth < 40 else { throw SyscallError("openat2", errno: ELOOP, path) }
        let comps = path.split(separator: "/").map(String.init).filter { $0 != "." && !$0.isEmpty }
        guard !comps.contains("..") else { throw SandboxSetupError("path \(path) must not contain '..'") }
        var prefix = ""
        for (i, comp) in comps.enumerated() {
            let parentPath = prefix.isEmpty ? "/" : prefix
            prefix += "/" + comp
            let isLast = i == comps.count - 1
            let existing = warren_openat2_in_root(rootFD, prefix, UInt64(WARREN_O_PATH), 0, 0)
            if existing >= 0 { close(existing); continue }
            guard errno == ENOENT, create != .none else { throw SyscallError("openat2", errno: errno, prefix) }
            let parent = try syscallRetrying("openat2", parentPath) {
                warren_openat2_in_root(rootFD, parentPath, UInt64(O_DIRECTORY | O_RDONLY), 0, 0)
            }
            defer { close(parent) }
            if let link = readLink(parent, comp) {
                // A dangling symlink: create its target, still confined to the root.
                let base = link.hasPrefix("/") ? link : parentPath + "/" + link
                let rest = comps[(i + 1)...].joined(separator: "/")
                return try open(rootFD, rest.isEmpty ? base : base + "/" + rest, create: create, owner: owner,
                                writable: writable, depth: depth + 1)
            }
            if isLast && create == .file {
                let fd = try syscallRetrying("openat", prefix) { openat(parent, comp, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0o644) }
                fchown(fd, owner, owner)
                close(fd)
            } else {
                if mkdirat(parent, comp, 0o755) != 0 && errno != EEXIST { throw SyscallError("mkdirat", errno: errno, prefix) }
                fchownat(parent, comp, owner, owner, AT_SYMLINK_NOFOLLOW)
            }
        }
        let flags = writable ? O_WRONLY | O_NOFOLLOW : WARREN_O_PATH
        return try syscallRetrying("openat2", path) { warren_openat2_in_root(rootFD, comps.isEmpty ? "/" : path, UInt64(flags), 0, 0) }
    }

    private static func readLink(_ dirFD: Int32, _ name: String) -> String? {
        var buf = [CChar](repeating: 0, count: 4096)
        let n = readlinkat(dirFD, name, &buf, buf.count - 1)
        guard n > 0 else { return nil }
        return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
