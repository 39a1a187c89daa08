#if canImport(Glibc)
import Glibc
#endif
import CLinux

/// A file name as the kernel stores it: bytes, NUL-terminated, in any encoding.
public typealias RawName = [CChar]

/// The names in an open directory, `.` and `..` left out, as raw bytes.
public func directoryEntries(_ dirFD: Int32, context: String = "") throws -> [RawName] {
    let copy = dup(dirFD)
    guard copy >= 0 else { throw SyscallError("dup", errno: errno, context) }
    guard let dir = fdopendir(copy) else {
        let e = errno
        close(copy)
        throw SyscallError("fdopendir", errno: e, context)
    }
    defer { closedir(dir) }
    rewinddir(dir)
    var names: [RawName] = []
    while let entry = readdir(dir) {
        var name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
            raw.prefix(while: { $0 != 0 }).map { CChar(bitPattern: $0) }
        }
        if name == [46] || name == [46, 46] { continue }
        name.append(0)
        names.append(name)
    }
    return names
}

/// Printable form of a raw name for errors (invalid bytes shown as `\xNN`).
public func printableName(_ name: RawName) -> String {
    var out = ""
    for c in name.prefix(while: { $0 != 0 }) {
        let b = UInt8(bitPattern: c)
        out += b >= 0x20 && b < 0x7f ? String(UnicodeScalar(b)) : "\\x" + String(b, radix: 16)
    }
    return out
}

/// Removes a directory tree relative to file descriptors, never by path strings below
/// its root: names of any bytes and trees nested far past PATH_MAX go, symlinks are
/// removed and never followed, directories whose modes the sandbox closed are opened up,
/// and a mount point inside (another file system) stops it with EXDEV.
///
/// At most `maxOpen` directories stay open at once; deeper ones are returned to through
/// `..`, checked to be the directory that was left.
public func removeTree(_ path: String, maxOpen: Int = 64) throws {
    var st = stat()
    if lstat(path, &st) != 0 {
        if errno == ENOENT { return }
        throw SyscallError("lstat", errno: errno, path)
    }
    let slash = path.lastIndex(of: "/")
    let parentPath = slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
    let leaf = slash.map { String(path[path.index(after: $0)...]) } ?? path
    let parent = try syscallRetrying("open", parentPath) { open(parentPath, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
    defer { close(parent) }
    try removeEntry(in: parent, Array(leaf.utf8CString), context: path, maxOpen: maxOpen)
}

/// Removes the entry `name` of the open directory `parent`, a whole tree if it is one.
public func removeEntry(in parent: Int32, _ name: RawName, context: String, maxOpen: Int = 64) throws {
    var st = stat()
    guard fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else {
        if errno == ENOENT { return }
        throw SyscallError("fstatat", errno: errno, context)
    }
    guard (st.st_mode & S_IFMT) == S_IFDIR else {
        return try unlinkEntry(in: parent, name, flags: 0, context: context)
    }
    var remover = TreeRemover(device: UInt64(st.st_dev), context: context, maxOpen: maxOpen)
    try remover.empty(parent: parent, name: name, st)
    try unlinkEntry(in: parent, name, flags: AT_REMOVEDIR, context: context)
}

/// unlinkat, opening up the directory once when its mode refuses (a rootless daemon's own tree).
private func unlinkEntry(in dir: Int32, _ name: RawName, flags: Int32, context: String) throws {
    if unlinkat(dir, name, flags) == 0 || errno == ENOENT { return }
    if errno == EACCES || errno == EPERM {
        _ = fchmod(dir, 0o700)
        if unlinkat(dir, name, flags) == 0 || errno == ENOENT { return }
    }
    throw SyscallError(flags == AT_REMOVEDIR ? "rmdir" : "unlink", errno: errno, context + ": " + printableName(name))
}

/// The depth-first walk behind `removeTree`.
private struct TreeRemover {
    struct Frame {
        var fd: Int32
        var name: RawName
        var dev: UInt64
        var ino: UInt64
        var pending: [RawName]
    }

    let device: UInt64
    let context: String
    let maxOpen: Int
    var stack: [Frame] = []

    init(device: UInt64, context: String, maxOpen: Int) {
        self.device = device; self.context = context; self.maxOpen = max(2, maxOpen)
    }

    /// Empties the directory `name` of `parent` (which stays open and is the caller's).
    mutating func empty(parent: Int32, name: RawName, _ st: stat) throws {
        defer { for f in stack where f.fd >= 0 { close(f.fd) } }
        let root = try openDirectory(in: parent, name, expect: st)
        let entries: [RawName]
        do { entries = try directoryEntries(root, context: context) } catch { close(root); throw error }
        stack = [Frame(fd: root, name: name, dev: UInt64(st.st_dev), ino: UInt64(st.st_ino), pending: entries)]
        var retries = 0
        while !stack.isEmpty {
            let top = stack.count - 1
            if let child = stack[top].pending.popLast() {
                try visit(child)
                continue
            }
            // The top directory is empty: go back up and remove it (the root is the caller's).
            let done = stack.removeLast()
            if stack.isEmpty {
                close(done.fd)
                return
            }
            let up = stack.count - 1
            if stack[up].fd < 0 {
                do { stack[up].fd = try reopenParent(of: done.fd, expect: stack[up]) } catch { close(done.fd); throw error }
            }
            close(done.fd)
            if unlinkat(stack[up].fd, done.name, AT_REMOVEDIR) != 0 && errno == ENOTEMPTY && retries < 16 {
                // Something was written into it meanwhile: visit it again.
                retries += 1
                stack[up].pending.append(done.name)
            } else {
                try unlinkEntry(in: stack[up].fd, done.name, flags: AT_REMOVEDIR, context: context)
            }
        }
    }

    private mutating func visit(_ child: RawName) throws {
        let top = stack.count - 1
        var st = stat()
        guard fstatat(stack[top].fd, child, &st, AT_SYMLINK_NOFOLLOW) == 0 else {
            if errno == ENOENT { return }
            throw SyscallError("fstatat", errno: errno, context + ": " + printableName(child))
        }
        guard (st.st_mode & S_IFMT) == S_IFDIR else {
            return try unlinkEntry(in: stack[top].fd, child, flags: 0, context: context)
        }
        guard UInt64(st.st_dev) == device else {
            throw SyscallError("remove", errno: EXDEV, context + ": " + printableName(child) + " is a mount point")
        }
        let fd = try openDirectory(in: stack[top].fd, child, expect: st)
        let entries: [RawName]
        do { entries = try directoryEntries(fd, context: context) } catch { close(fd); throw error }
        if stack.count >= maxOpen, let keep = stack.indices.first(where: { $0 > 0 && stack[$0].fd >= 0 }) {
            // Bounded descriptors: forget the shallowest open one but the root.
            close(stack[keep].fd)
            stack[keep].fd = -1
        }
        stack.append(Frame(fd: fd, name: child, dev: UInt64(st.st_dev), ino: UInt64(st.st_ino), pending: entries))
    }

    /// Opens a directory entry without following links, opening up a mode that refuses us.
    private func openDirectory(in dir: Int32, _ name: RawName, expect st: stat) throws -> Int32 {
        let flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC
        var fd = openat(dir, name, flags)
        if fd < 0 && errno == EACCES {
            // Opened up through a handle on that very directory, never through a link
            // swapped in for it since.
            let handle = openat(dir, name, WARREN_O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            var now = stat()
            if handle >= 0, fstat(handle, &now) == 0, now.st_dev == st.st_dev, now.st_ino == st.st_ino {
                _ = chmod("/proc/self/fd/\(handle)", 0o700)
            }
            if handle >= 0 { close(handle) }
            fd = openat(dir, name, flags)
        }
        guard fd >= 0 else { throw SyscallError("openat", errno: errno, context + ": " + printableName(name)) }
        var now = stat()
        guard fstat(fd, &now) == 0, now.st_dev == st.st_dev, now.st_ino == st.st_ino else {
            close(fd)
            throw SyscallError("openat", errno: ESTALE, context + ": " + printableName(name) + " changed while being removed")
        }
        if (now.st_mode & 0o700) != 0o700 { _ = fchmod(fd, 0o700) }
        return fd
    }

    /// The directory above `fd`, which must be the one the walk came down from.
    private func reopenParent(of fd: Int32, expect frame: Frame) throws -> Int32 {
        let up = openat(fd, "..", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard up >= 0 else { throw SyscallError("openat", errno: errno, context + ": ..") }
        var st = stat()
        guard fstat(up, &st) == 0, UInt64(st.st_dev) == frame.dev, UInt64(st.st_ino) == frame.ino else {
            close(up)
            throw SyscallError("openat", errno: ESTALE, context + ": a directory moved while being removed")
        }
        return up
    }
}
