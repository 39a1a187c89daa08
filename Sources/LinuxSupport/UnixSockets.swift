#if canImport(Glibc)
import Glibc
#endif
import CLinux

/// Plain AF_UNIX stream sockets for the helper and driver (no event loop needed).
public enum UnixSockets {
    /// A `sockaddr_un` for `path`; throws when the path does not fit.
    public static func address(_ path: String) throws -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard bytes.count < capacity else { throw SyscallError("socket path too long", errno: ENAMETOOLONG, path) }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
            raw[bytes.count] = 0
        }
        return address
    }

    /// Calls `body` with a path to `path` short enough for `sun_path` (108 bytes): the
    /// path itself, or its directory reached through `/proc/self/fd`.
    public static func withShortPath<T>(_ path: String, _ body: (String) throws -> T) throws -> T {
        if path.utf8.count < 100 { return try body(path) }
        guard let slash = path.lastIndex(of: "/") else { return try body(path) }
        let dir = String(path[..<slash])
        let name = String(path[path.index(after: slash)...])
        let dirFD = try syscallRetrying("open", dir) { open(dir, WARREN_O_PATH | O_DIRECTORY | O_CLOEXEC) }
        defer { close(dirFD) }
        return try body("/proc/self/fd/\(dirFD)/\(name)")
    }

    /// A non-blocking, close-on-exec socket listening at `path` with `mode`.
    public static func listen(at path: String, mode: mode_t = 0o600) throws -> Int32 {
        try withShortPath(path) { try listen(shortPath: $0, mode: mode) }
    }

    /// A blocking, close-on-exec socket connected to `path`.
    public static func connect(to path: String) throws -> Int32 {
        try withShortPath(path) { try connect(shortPath: $0) }
    }

    private static func listen(shortPath path: String, mode: mode_t) throws -> Int32 {
        var address = try address(path)
        unlink(path)
        let fd = try syscallRetrying("socket") { socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0) }
        do {
            try syscallRetrying("bind", path) {
                withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
                }
            }
            try syscallRetrying("chmod", path) { chmod(path, mode) }
            try syscallRetrying("listen", path) { Glibc.listen(fd, 16) }
        } catch {
            close(fd)
            throw error
        }
        return fd
    }

    private static func connect(shortPath path: String) throws -> Int32 {
        var address = try address(path)
        let fd = try syscallRetrying("socket") { socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }
        do {
            try syscallRetrying("connect", path) {
                withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
                }
            }
        } catch {
            close(fd)
            throw error
        }
        return fd
    }

    /// The next pending connection on a listening socket, non-blocking and
    /// close-on-exec; -1 when there is none.
    public static func acceptNonBlocking(_ listenFD: Int32) -> Int32 {
        let fd = Glibc.accept(listenFD, nil, nil)
        guard fd >= 0 else { return -1 }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        return fd
    }
}
