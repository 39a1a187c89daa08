#if canImport(Glibc)
import Glibc
#endif

/// Gives every entry of the tree at `path` to `uid:gid`, relative to file descriptors:
/// symlinks are changed themselves and never followed, and the walk stays on the tree's
/// file system.
public func changeOwnerOfTree(_ path: String, uid: UInt32, gid: UInt32, maxDepth: Int = 256) throws {
    let root = try syscallRetrying("open", path) { open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
    defer { close(root) }
    var st = stat()
    guard fstat(root, &st) == 0 else { throw SyscallError("fstat", errno: errno, path) }
    guard fchown(root, uid, gid) == 0 else { throw SyscallError("fchown", errno: errno, path) }
    try changeOwner(in: root, device: UInt64(st.st_dev), uid: uid, gid: gid, depth: maxDepth, context: path)
}

private func changeOwner(in dir: Int32, device: UInt64, uid: UInt32, gid: UInt32, depth: Int, context: String) throws {
    guard depth > 0 else { throw SyscallError("changeOwnerOfTree", errno: ELOOP, context + ": nested too deep") }
    for name in try directoryEntries(dir, context: context) {
        var st = stat()
        guard fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else {
            if errno == ENOENT { continue }
            throw SyscallError("fstatat", errno: errno, context)
        }
        guard fchownat(dir, name, uid, gid, AT_SYMLINK_NOFOLLOW) == 0 else {
            throw SyscallError("fchownat", errno: errno, context + "/" + printableName(name))
        }
        guard (st.st_mode & S_IFMT) == S_IFDIR, UInt64(st.st_dev) == device else { continue }
        let child = openat(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard child >= 0 else { throw SyscallError("openat", errno: errno, context + "/" + printableName(name)) }
        defer { close(child) }
        try changeOwner(in: child, device: device, uid: uid, gid: gid, depth: depth - 1, context: context + "/" + printableName(name))
    }
}
