#if canImport(Glibc)
import Glibc
#endif
import CLinux
import LinuxSupport
import WarrenCore

/// User-namespace id maps written by the (host-privileged) monitor.
enum IDMapping {
    /// One line of a uid_map or gid_map: ids `inside..<inside+count` are host `outside...`.
    struct Extent: Equatable, Sendable {
        var inside: UInt32
        var outside: UInt32
        var count: UInt32
        var line: String { "\(inside) \(outside) \(count)\n" }
    }

    /// The maps of one user namespace: uid and gid extents.
    struct Maps: Equatable, Sendable {
        var uids: [Extent]
        var gids: [Extent]

        /// The same contiguous range for uids and gids: sandbox 0… is host `map.hostID`….
        init(_ map: IDMap) {
            let e = Extent(inside: 0, outside: map.hostID, count: map.size)
            uids = [e]; gids = [e]
        }

        init(uids: [Extent], gids: [Extent]) { self.uids = uids; self.gids = gids }
    }

    /// Writes uid_map and gid_map of `pid`'s user namespace.
    static func write(_ map: IDMap, to pid: pid_t) throws {
        try write(Maps(map), to: pid)
    }

    static func write(_ maps: Maps, to pid: pid_t) throws {
        try writeFile("/proc/\(pid)/uid_map", maps.uids.map(\.line).joined())
        try writeFile("/proc/\(pid)/gid_map", maps.gids.map(\.line).joined())
    }

    /// A user namespace with `map`, held only as an fd, for id-mapped mounts.
    static func makeUserNamespaceFD(_ map: IDMap) throws -> Int32 {
        try makeUserNamespaceFD(Maps(map))
    }

    /// A user namespace with `maps`, held only as an fd, for id-mapped mounts.
    ///
    /// A short-lived child creates it; the fd keeps the namespace alive after the
    /// child exits.
    static func makeUserNamespaceFD(_ maps: Maps) throws -> Int32 {
        var sync: [Int32] = [0, 0]
        try syscallRetrying("pipe2") { warren_pipe2(&sync, O_CLOEXEC) }
        let pid = warren_clone_fork(UInt64(CLONE_NEWUSER))
        if pid == 0 {
            close(sync[1])
            var b: UInt8 = 0
            _ = read(sync[0], &b, 1)  // wait until the parent has opened our namespace
            _exit(0)
        }
        close(sync[0])
        defer {
            close(sync[1])
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        }
        guard pid > 0 else { throw SyscallError("clone(CLONE_NEWUSER)", errno: errno) }
        try write(maps, to: pid)
        return try syscallRetrying("open", "/proc/\(pid)/ns/user") { open("/proc/\(pid)/ns/user", O_RDONLY | O_CLOEXEC) }
    }
}
