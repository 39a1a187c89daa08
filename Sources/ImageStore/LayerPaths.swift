#if canImport(Glibc)
import Glibc
#endif
import CLinux
import LinuxSupport
import WarrenCore

/// Where a layer entry may go: inside the layer's root, never through a symlink —
/// neither one this layer made nor one a lower layer shows at that path.
struct LayerPaths {
    let rootFD: Int32
    /// Root directories of the layers below, topmost first, opened O_PATH.
    let lowerFDs: [Int32]
    private var cachedParent: (path: String, fd: Int32)?
    /// Directories this layer made because an entry needed them (and the entry), for
    /// checking against lower layers later when they were not there yet.
    private(set) var created: [(path: [String], entry: String)] = []

    init(rootFD: Int32, lowerFDs: [Int32]) {
        self.rootFD = rootFD
        self.lowerFDs = lowerFDs
    }

    /// The components of an entry name; `..` and absolute names are refused.
    static func components(of name: String) throws -> [String] {
        if name.hasPrefix("/") { throw LayerEntryError(name, "is an absolute path") }
        let parts = name.split(separator: "/").map(String.init).filter { $0 != "." }
        if parts.contains("..") { throw LayerEntryError(name, "contains '..'") }
        return parts
    }

    /// An fd (O_PATH) for the directory `components`, made if missing. Only directories
    /// are walked: a symlink or file on the way refuses the entry.
    mutating func directory(_ components: [String], entry: String) throws -> Int32 {
        let path = components.joined(separator: "/")
        if let c = cachedParent, c.path == path { return c.fd }
        var fd = dup(rootFD)
        var prefix: [String] = []
        for comp in components {
            prefix.append(comp)
            var next = openat(fd, comp, WARREN_O_PATH | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC)
            if next < 0 && errno == ENOENT {
                try checkLowerLayers(prefix, entry: entry)
                created.append((prefix, entry))
                if mkdirat(fd, comp, 0o755) != 0 && errno != EEXIST {
                    let e = errno
                    close(fd)
                    throw SyscallError("mkdirat", errno: e, prefix.joined(separator: "/"))
                }
                next = openat(fd, comp, WARREN_O_PATH | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC)
            }
            let e = errno
            close(fd)
            guard next >= 0 else {
                if e == ELOOP || e == ENOTDIR {
                    throw LayerEntryError(entry, "goes through '\(prefix.joined(separator: "/"))', which is not a directory in this layer")
                }
                throw SyscallError("openat", errno: e, prefix.joined(separator: "/"))
            }
            fd = next
        }
        if let old = cachedParent { close(old.fd) }
        cachedParent = (path, fd)
        return fd
    }

    /// A path missing from this layer must not be a symlink in the layers below it:
    /// the image would write through that link once stacked.
    func checkLowerLayers(_ prefix: [String], entry: String) throws {
        let path = prefix.joined(separator: "/")
        for lower in lowerFDs {
            let fd = warren_openat2_in_root(lower, path, UInt64(WARREN_O_PATH | O_NOFOLLOW), 0, WARREN_RESOLVE_NO_SYMLINKS)
            if fd < 0 {
                if errno == ENOENT { continue }
                return  // a non-directory above hides everything below
            }
            defer { close(fd) }
            var st = stat()
            guard fstat(fd, &st) == 0 else { return }
            switch st.st_mode & S_IFMT {
            case S_IFLNK: throw LayerEntryError(entry, "goes through '\(path)', a symlink in a lower layer")
            case S_IFCHR where st.st_rdev == 0: return  // whited out below: nothing there
            default: return
            }
        }
    }

    /// The lower-layer check of `created`, for a layer unpacked before its lowers were:
    /// `lowers` are their root directories, topmost first.
    static func checkCreated(_ created: [(path: [String], entry: String)], lowers: [String]) throws {
        guard !created.isEmpty, !lowers.isEmpty else { return }
        var fds: [Int32] = []
        defer { for fd in fds { close(fd) } }
        for l in lowers { fds.append(try syscallRetrying("open", l) { open(l, WARREN_O_PATH | O_DIRECTORY | O_CLOEXEC) }) }
        let paths = LayerPaths(rootFD: -1, lowerFDs: fds)
        for (prefix, entry) in created { try paths.checkLowerLayers(prefix, entry: entry) }
    }

    /// Forgets the cached directory (after removing or replacing directories).
    mutating func invalidate() {
        if let c = cachedParent { close(c.fd) }
        cachedParent = nil
    }
}

/// A layer entry refused for where it would write.
struct LayerEntryError: Error, CustomStringConvertible {
    let description: String
    init(_ entry: String, _ why: String) { description = "layer entry '\(entry)' \(why)" }
}
