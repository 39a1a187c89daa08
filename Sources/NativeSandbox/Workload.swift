#if canImport(Glibc)
import Glibc
#endif
import CLinux
import LinuxSupport
import WarrenCore

/// The last steps before the sandboxed program runs, in the process that becomes it:
/// session, limits, user, capabilities, no_new_privs, fds, seccomp, execve.
struct Workload {
    var command: [String]
    var env: [String]
    var workdir: String
    var user: String?
    var capAdd: [String]
    var limits: ResourceLimits
    var tty: Bool
    var hostname: String
    /// Started by a rootless daemon: one mapped id, groups fixed, no cgroup.
    var rootless: Bool = false

    static let defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    /// Never returns: execs the program, or reports why not on `errorFD` and exits 127.
    func exec(errorFD: Int32) -> Never {
        do {
            try prepareAndExec(errorFD: errorFD)
        } catch {
            try? writeAll(errorFD, "\(error)")
        }
        _exit(127)
    }

    private func prepareAndExec(errorFD: Int32) throws {
        _ = warren_sigmask(2, [], 0)
        for s: Int32 in 1..<32 where s != SIGKILL && s != SIGSTOP { signal(s, SIG_DFL) }

        _ = setsid()
        if tty { try syscallRetrying("ioctl(TIOCSCTTY)") { warren_set_ctty(0) } }

        if let n = limits.openFiles { try setLimit(RLIMIT_NOFILE, UInt64(n), "nofile") }
        if let f = limits.fileSizeBytes { try setLimit(RLIMIT_FSIZE, UInt64(f), "fsize") }
        // Without a cgroup, the pids limit is RLIMIT_NPROC: since Linux 5.14 it counts
        // the processes of this uid in the sandbox's own user namespace only.
        if rootless, let p = limits.pids { try setLimit(__RLIMIT_NPROC, UInt64(p), "nproc") }

        let passwd = String(decoding: readFileIfPresent("/etc/passwd") ?? [], as: UTF8.self)
        let group = String(decoding: readFileIfPresent("/etc/group") ?? [], as: UTF8.self)
        let resolved = try UserSpec.resolve(user, passwd: passwd, group: group)
        if rootless && (resolved.uid != 0 || resolved.gid != 0) {
            throw SandboxSetupError("user \(user ?? "") (uid \(resolved.uid), gid \(resolved.gid)) is not mapped: a rootless daemon maps only sandbox uid and gid 0, to its own")
        }

        if access(workdir, F_OK) != 0 { try makeDirectories(workdir) }
        let environment = buildEnvironment(home: resolved.home)

        let keep = Set(try capAdd.map { try Capabilities.number(of: $0) })
        try Capabilities.limitBoundingSet(keep: keep)
        if resolved.uid != 0 { Capabilities.keepAcrossSetuid() }
        var groups = resolved.supplementaryGroups.map { gid_t($0) }
        if !rootless { try syscallRetrying("setgroups") { setgroups(groups.count, &groups) } }
        try syscallRetrying("setresgid") { warren_setresgid(resolved.gid, resolved.gid, resolved.gid) }
        try syscallRetrying("setresuid") { warren_setresuid(resolved.uid, resolved.uid, resolved.uid) }
        try Capabilities.apply(keep: keep)
        try syscallRetrying("prctl(PR_SET_NO_NEW_PRIVS)") { warren_prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) }

        if chdir(workdir) != 0 { throw SandboxSetupError("cannot enter working directory \(workdir): \(String(cString: strerror(errno)))") }
        let program = try resolveExecutable(command[0], path: pathValue(environment))

        if errorFD > 3 { _ = warren_close_range(3, UInt32(errorFD - 1), 0) }
        _ = warren_close_range(UInt32(errorFD + 1), UInt32.max, 0)

        try SeccompProfile.install()

        var argv: [UnsafeMutablePointer<CChar>?] = command.map { strdup($0) } + [nil]
        var envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup($0) } + [nil]
        execve(program, &argv, &envp)
        let e = errno
        throw SandboxSetupError("exec \(command[0]) failed: \(String(cString: strerror(e)))")
    }

    private func setLimit(_ resource: __rlimit_resource, _ value: UInt64, _ name: String) throws {
        var rl = rlimit(rlim_cur: rlim_t(value), rlim_max: rlim_t(value))
        try syscallRetrying("setrlimit", name) { setrlimit(__rlimit_resource_t(resource.rawValue), &rl) }
    }

    func buildEnvironment(home: String) -> [String] {
        var env = env
        let keys = Set(env.compactMap { $0.split(separator: "=", maxSplits: 1).first.map(String.init) })
        if !keys.contains("PATH") { env.insert("PATH=\(Self.defaultPath)", at: 0) }
        if !keys.contains("HOSTNAME") { env.append("HOSTNAME=\(hostname)") }
        if !keys.contains("HOME") { env.append("HOME=\(home)") }
        if tty && !keys.contains("TERM") { env.append("TERM=xterm") }
        return env
    }

    private func pathValue(_ env: [String]) -> String {
        env.last { $0.hasPrefix("PATH=") }.map { String($0.dropFirst(5)) } ?? Self.defaultPath
    }

    private func resolveExecutable(_ name: String, path: String) throws -> String {
        if name.contains("/") { return name }
        for dir in path.split(separator: ":") {
            let candidate = dir + "/" + name
            var st = stat()
            if stat(candidate, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, access(candidate, X_OK) == 0 {
                return candidate
            }
        }
        throw SandboxSetupError("exec: \"\(name)\": executable file not found in $PATH")
    }
}
