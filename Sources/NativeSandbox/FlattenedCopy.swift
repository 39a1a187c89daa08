#if canImport(Glibc)
import Glibc
#endif
import CLinux
import LinuxSupport
import WarrenCore

/// A sandbox's root filesystem as a private copy of its layers, for kernels or
/// filesystems that refuse overlay or id-mapped mounts (Docker's `vfs` in spirit).
///
/// Layers are applied bottom to top: overlay whiteouts (0/0 character devices) delete,
/// opaque directories (`trusted.overlay.opaque=y`) hide what is below. Owners are
/// shifted into the sandbox's id range, hard links stay links, symlinks are copied as
/// they are and never followed, device nodes are left out. Names are copied as bytes,
/// whatever their encoding. Like `cp -x`, the copy stays on each layer's file system
/// (a mount point inside a layer is copied as an empty directory), and it never
/// descends into its own target.
struct FlattenedCopy {
    let idMap: IDMap
    private var links: [HardLinkKey: [UInt8]] = [:]
    /// The copy's own directory, skipped if a layer contains it.
    private var targetIdentity: HardLinkKey?

    init(idMap: IDMap) { self.idMap = idMap }

    struct HardLinkKey: Hashable { var dev: UInt64; var ino: UInt64 }

    /// Copies `layers` (top first, as overlay lists them) into `target`.
    mutating func build(layers: [String], into target: String) throws {
        try makeDirectories(target, mode: 0o755)
        var tst = stat()
        if stat(target, &tst) == 0 { targetIdentity = HardLinkKey(dev: UInt64(tst.st_dev), ino: UInt64(tst.st_ino)) }
        for layer in layers.reversed() {
            links.removeAll()
            let src = try syscallRetrying("open", layer) { open(layer, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
            defer { close(src) }
            let dst = try syscallRetrying("open", target) { open(target, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
            defer { close(dst) }
            var st = stat()
            try syscallRetrying("fstat", layer) { fstat(src, &st) }
            try copyDirectory(src, dst, device: UInt64(st.st_dev), path: layer, target: Array(target.utf8))
            applyMetadata(dst, st)
        }
    }

    private func shifted(_ id: UInt32) -> UInt32 {
        id < idMap.size ? idMap.hostID + id : idMap.hostID + min(65534, idMap.size - 1)
    }

    private func applyMetadata(_ fd: Int32, _ st: stat) {
        _ = fchown(fd, shifted(st.st_uid), shifted(st.st_gid))
        _ = fchmod(fd, st.st_mode & 0o7777)  // after chown, which clears setuid bits
        var times = [st.st_atim, st.st_mtim]
        _ = futimens(fd, &times)
    }

    /// `path` names the source (for errors), `target` the destination directory's path.
    private mutating func copyDirectory(_ src: Int32, _ dst: Int32, device: UInt64, path: String, target: [UInt8]) throws {
        for name in try directoryEntries(src, context: path) {
            let bytes = name.dropLast().map { UInt8(bitPattern: $0) }
            try copyEntry(name, from: src, to: dst, device: device, path: path + "/" + printableName(name),
                          target: target + [UInt8(ascii: "/")] + bytes)
        }
    }

    private mutating func copyEntry(_ name: RawName, from src: Int32, to dst: Int32, device: UInt64, path: String, target: [UInt8]) throws {
        var st = stat()
        try syscallRetrying("fstatat", path) { fstatat(src, name, &st, AT_SYMLINK_NOFOLLOW) }
        let type = st.st_mode & S_IFMT
        if type == S_IFCHR && st.st_rdev == 0 {
            try removeEntry(in: dst, name, context: path)  // whiteout
            return
        }
        var existing = stat()
        let exists = fstatat(dst, name, &existing, AT_SYMLINK_NOFOLLOW) == 0
        if exists && !(type == S_IFDIR && (existing.st_mode & S_IFMT) == S_IFDIR) {
            try removeEntry(in: dst, name, context: path)
        }
        switch type {
        case S_IFDIR:
            let key = HardLinkKey(dev: UInt64(st.st_dev), ino: UInt64(st.st_ino))
            if key == targetIdentity { return }  // the copy itself, inside the layer
            if !exists || (existing.st_mode & S_IFMT) != S_IFDIR {
                try syscallRetrying("mkdirat", path) { mkdirat(dst, name, 0o700) }
            }
            let d = try syscallRetrying("openat", path) { openat(dst, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
            defer { close(d) }
            if UInt64(st.st_dev) == device {
                let s = try syscallRetrying("openat", path) { openat(src, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
                defer { close(s) }
                if Self.isOpaque(s) { try clearDirectory(d, path: path) }
                try copyDirectory(s, d, device: device, path: path, target: target)
            }
            applyMetadata(d, st)
        case S_IFREG:
            let key = HardLinkKey(dev: UInt64(st.st_dev), ino: UInt64(st.st_ino))
            if st.st_nlink > 1, let first = links[key] {
                try syscallRetrying("linkat", path) { linkat(AT_FDCWD, cString(first), dst, name, 0) }
                return
            }
            try copyFile(name, from: src, to: dst, st, path: path)
            if st.st_nlink > 1 { links[key] = target }
        case S_IFLNK:
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let n = try syscallRetrying("readlinkat", path) { readlinkat(src, name, &buffer, buffer.count - 1) }
            buffer[n] = 0
            try syscallRetrying("symlinkat", path) { symlinkat(buffer, dst, name) }
            _ = fchownat(dst, name, shifted(st.st_uid), shifted(st.st_gid), AT_SYMLINK_NOFOLLOW)
        case S_IFIFO:
            try syscallRetrying("mkfifoat", path) { mkfifoat(dst, name, st.st_mode & 0o777) }
            _ = fchownat(dst, name, shifted(st.st_uid), shifted(st.st_gid), AT_SYMLINK_NOFOLLOW)
        default:
            break  // device nodes and sockets are not part of a root filesystem copy
        }
    }

    private func cString(_ bytes: [UInt8]) -> [CChar] { bytes.map { CChar(bitPattern: $0) } + [0] }

    private func copyFile(_ name: RawName, from src: Int32, to dst: Int32, _ st: stat, path: String) throws {
        let s = try syscallRetrying("openat", path) { openat(src, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC) }
        defer { close(s) }
        let d = try syscallRetrying("openat", path) { openat(dst, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600) }
        defer { close(d) }
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = read(s, &buffer, buffer.count)
            if n < 0 && errno == EINTR { continue }
            if n < 0 { throw SyscallError("read", errno: errno, path) }
            if n == 0 { break }
            try buffer.withUnsafeBytes { try writeAll(d, UnsafeRawBufferPointer(rebasing: $0[0..<n]), context: path) }
        }
        applyMetadata(d, st)
    }

    /// Removes everything in an open directory (an opaque one's lower contents).
    private func clearDirectory(_ dirFD: Int32, path: String) throws {
        for name in try directoryEntries(dirFD, context: path) { try removeEntry(in: dirFD, name, context: path) }
    }

    static func isOpaque(_ fd: Int32) -> Bool {
        var value = [UInt8](repeating: 0, count: 4)
        let n = fgetxattr(fd, "trusted.overlay.opaque", &value, value.count)
        return n == 1 && value[0] == UInt8(ascii: "y")
    }
}
