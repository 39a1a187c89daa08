#if canImport(Glibc)
import Glibc
#endif
import CLinux

/// Starts programs with posix_spawn: the daemon never forks.
public enum ProcessSpawner {
    public enum FileAction {
        /// Open `path` with `flags` as the child's `fd`.
        case open(fd: Int32, path: String, flags: Int32, mode: mode_t)
        /// Make the parent's `source` fd the child's `fd`.
        case dup(source: Int32, fd: Int32)
    }

    /// POSIX_SPAWN_SETSID (glibc ≥ 2.26), absent from the Swift module.
    static let setsidFlag: Int32 = 0x80

    /// Spawns `path` with `arguments` (argv[0] included). Every fd above the highest
    /// one `actions` sets up is closed in the child, close-on-exec or not: the daemon's
    /// listening sockets and connections never leak into a helper.
    public static func spawn(_ path: String, _ arguments: [String], environment: [String],
                             actions: [FileAction], newSession: Bool) throws -> pid_t {
        var fa = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&fa)
        defer { posix_spawn_file_actions_destroy(&fa) }
        for a in actions {
            switch a {
            case .open(let fd, let p, let flags, let mode): posix_spawn_file_actions_addopen(&fa, fd, p, flags, mode)
            case .dup(let source, let fd): posix_spawn_file_actions_adddup2(&fa, source, fd)
            }
        }
        let highest = actions.map { a -> Int32 in
            switch a { case .open(let fd, _, _, _): fd; case .dup(_, let fd): fd }
        }.max() ?? 2
        let rc0 = withUnsafeMutablePointer(to: &fa) { warren_spawn_add_closefrom(UnsafeMutableRawPointer($0), max(highest, 2) + 1) }
        guard rc0 == 0 else { throw SyscallError("posix_spawn_file_actions_addclosefrom_np", errno: rc0) }
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attr, &empty)
        var defaults = sigset_t()
        sigfillset(&defaults)
        posix_spawnattr_setsigdefault(&attr, &defaults)
        var flags = Int32(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)
        if newSession { flags |= setsidFlag }
        posix_spawnattr_setflags(&attr, Int16(flags))

        let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) }; envp.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, path, &fa, &attr, argv, envp)
        guard rc == 0 else { throw SyscallError("posix_spawn", errno: rc, path) }
        return pid
    }

    /// A pipe whose both ends are close-on-exec.
    public static func pipe() throws -> (read: Int32, write: Int32) {
        var fds: [Int32] = [0, 0]
        try syscallRetrying("pipe2") { warren_pipe2(&fds, O_CLOEXEC) }
        return (fds[0], fds[1])
    }

    /// Blocks until `pid` (a child) exits; returns its shell-style exit code.
    public static func waitForExit(_ pid: pid_t) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            if errno != EINTR { return -1 }
        }
        let sig = status & 0x7f
        return sig == 0 ? (status >> 8) & 0xff : 128 + sig
    }

    /// Blocks until the process behind `pidfd` has exited.
    public static func waitForPidfd(_ pidfd: Int32) {
        var p = pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0)
        while poll(&p, 1, -1) < 0 && errno == EINTR {}
    }
}
