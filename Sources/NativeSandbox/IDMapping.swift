#if canImport(Glibc)
import Glibc
#endif
import CLinux
import LinuxSupport
import WarrenCore

/// User-namespace id maps written by the (host-privileged) monitor.
enum IDMapping {
    /// Writes uid_map and gid_map of `pid`'s user namespace.
    static func write(_ map: IDMap, to pid: pid_t) throws {
        let line = "0 \(map.hostID) \(map.size)\n"
        try writeFile("/proc/\(pid)/uid_map", line)
        try writeFile("/proc/\(pid)/gid_map", line)
    }

    /// A user namespace with `map`, held only as an fd, for id-mapped mounts.
    ///
    /// A short-lived child creates it; the fd keeps the namespace alive after the
    /// child exits.
    static func makeUserNamespaceFD(_ map: IDMap) throws -> Int32 {
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
        try write(map, to: pid)
        return try syscallRetrying("open", "/proc/\(pid)/ns/user") { open("/proc/\(pid)/ns/user", O_RDONLY | O_CLOEXEC) }
    }
}
