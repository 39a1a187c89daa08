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
/// they are and never followed, device nodes are left out.
struct FlattenedCopy {
    let idMap: IDMap
    private var links: [HardLinkKey: String] = [:]

    init(idMap: IDMap) { self.idMap = idMap }

    struct HardLinkKey: Hashable { var dev: UInt64; var ino: UInt64 }

    /// Copies `layers` (top first, as overlay lists them) into `target`.
    mutating func build(layers: [String], into target: String) throws {
        try makeDirectories(target, mode: 0o755)
        for layer in layers.reversed() {
            links.removeAll()
            let src = try syscallRetrying("open", layer) { open(layer, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
            defer { close(src) }
            let dst = try syscallRetrying("open", target) { open(target, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
            defer { close(dst) }
            try copyDirectory(src, dst, path: layer, target: target)
            var st = stat()
            if fstat(src, &st) == 0 { applyMetadata(dst, st) }
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

    /// `path` names the source (for errors), `target` the destination directory.
    private mutating func copyDirectory(_ src: Int32, _ dst: Int32, path: String, target: String) throws {
        guard let dir = fdopendir(dup(src)) else { throw SyscallError("fdopendir", errno: errno, path) }
        defer { closedir(dir) }
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name == "." || name == ".." { continue }
            try copyEntry(name, from: src, to: dst, path: path + "/" + name, target: target + "/" + name)
        }
    }

    private mutating func copyEntry(_ name: String, from src: Int32, to dst: Int32, path: String, target: String) throws {
        var st = stat()
        try syscallRetrying("fstatat", path) { fstatat(src, name, &st, AT_SYMLINK_NOFOLLOW) }
        let type = st.st_mode & S_IFMT
        if type == S_IFCHR && st.st_rdev == 0 {
            try removeEntry(name, in: dst)  // whiteout
            return
        }
        var existing = stat()
        let exists = fstatat(dst, name, &existing, AT_SYMLINK_NOFOLLOW) == 0
        if exists && !(type == S_IFDIR && (existing.st_mode & S_IFMT) == S_IFDIR) {
            try removeEntry(name, in: dst)
        }
        switch type {
        case S_IFDIR:
            if !exists || (existing.st_mode & S_IFMT) != S_IFDIR {
                try syscallRetrying("mkdirat", path) { mkdirat(dst, name, 0o700) }
            }
            let s = try syscallRetrying("openat", path) { openat(src, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
            defer { close(s) }
            let d = try syscallRetrying("openat", path) { openat(dst, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
            defer { close(d) }
            if Self.isOpaque(s) { try clearDirectory(d, path: path) }
            try copyDirectory(s, d, path: path, target: target)
            applyMetadata(d, st)
        case S_IFREG:
            let key = HardLinkKey(dev: UInt64(st.st_dev), ino: UInt64(st.st_ino))
            if st.st_nlink > 1, let first = links[key] {
                try syscallRetrying("linkat", path) { linkat(AT_FDCWD, first, dst, name, 0) }
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

    private func copyFile(_ name: String, from src: Int32, to dst: Int32, _ st: stat, path: String) throws {
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
            try writeAll(d, Array(buffer[0..<n]))
        }
        applyMetadata(d, st)
    }

    private func removeEntry(_ name: String, in dir: Int32) throws {
        var st = stat()
        guard fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else { return }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            let d = try syscallRetrying("openat", name) { openat(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
            try clearDirectory(d, path: name)
            close(d)
            try syscallRetrying("unlinkat", name) { unlinkat(dir, name, AT_REMOVEDIR) }
        } else {
            try syscallRetrying("unlinkat", name) { unlinkat(dir, name, 0) }
        }
    }

    private func clearDirectory(_ dirFD: Int32, path: String) throws {
        guard let dir = fdopendir(dup(dirFD)) else { throw SyscallError("fdopendir", errno: errno, path) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        closedir(dir)
        for name in names { try removeEntry(name, in: dirFD) }
    }

    static func isOpaque(_ fd: Int32) -> Bool {
        var value = [UInt8](repeating: 0, count: 4)
        let n = fgetxattr(fd, "trusted.overlay.opaque", &value, value.count)
        return n == 1 && value[0] == UInt8(ascii: "y")
    }
}
