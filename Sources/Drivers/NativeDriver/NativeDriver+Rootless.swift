#if canImport(Glibc)
import Glibc
#endif
import LinuxSupport
import WarrenCore

/// What changes when the daemon runs as a normal user.
extension NativeDriver {
    /// Why this kernel refuses user namespaces to unprivileged users, if it does.
    static func unprivilegedUserNamespacesRefused() -> String? {
        func value(_ path: String) -> Int? {
            readFileIfPresent(path).flatMap { Int(String(decoding: $0, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) }
        }
        if value("/proc/sys/user/max_user_namespaces") == 0 { return "user.max_user_namespaces is 0" }
        if value("/proc/sys/kernel/unprivileged_userns_clone") == 0 { return "kernel.unprivileged_userns_clone is 0" }
        if value("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == 1 {
            return "kernel.apparmor_restrict_unprivileged_userns is 1"
        }
        return nil
    }

    /// A rootless daemon has no memory default to apply: it has no cgroup. The default
    /// open-file limit stays within what this daemon can hand out.
    public nonisolated var defaultLimits: ResourceLimits {
        var limits = ResourceLimits.defaults
        if rootless { limits.memoryBytes = nil; limits.cpus = nil }
        if let files = limits.openFiles, let most = Self.mostOpenFiles() { limits.openFiles = min(files, most) }
        return limits
    }

    /// The most open files a sandbox can be given: the daemon's hard limit, unless it may
    /// raise that (CAP_SYS_RESOURCE); nil when there is no such bound.
    static func mostOpenFiles() -> Int? {
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return nil }
        if hasCapability(24 /* CAP_SYS_RESOURCE */) { return nil }
        return limit.rlim_max == rlim_t.max ? nil : Int(limit.rlim_max)
    }

    /// Whether this process holds a capability in its effective set.
    static func hasCapability(_ number: Int) -> Bool {
        let status = String(decoding: readFileIfPresent("/proc/self/status") ?? [], as: UTF8.self)
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("CapEff:") }),
              let mask = UInt64(line.dropFirst(7).trimmingCharacters(in: .whitespaces), radix: 16) else { return false }
        return mask & (UInt64(1) << UInt64(number)) != 0
    }

    /// Limits a rootless sandbox cannot honour are refused rather than ignored: the
    /// daemon has no cgroup of its own to divide. The pids limit is kept, as
    /// RLIMIT_NPROC in the sandbox's own user namespace.
    /// An open-file limit above what this daemon can hand out is refused before anything is made.
    static func checkOpenFiles(_ limits: ResourceLimits) throws {
        if let files = limits.openFiles, let most = mostOpenFiles(), files > most {
            throw WarrenError(.invalidArgument, "--nofile \(files) is above the \(most) open files this daemon may hand out (its own hard limit)")
        }
    }

    static func checkRootlessLimits(_ limits: ResourceLimits) throws {
        if limits.memoryBytes != nil {
            throw WarrenError(.invalidArgument, "--memory needs a cgroup, which a rootless daemon does not have: run the daemon as root")
        }
        if limits.cpus != nil {
            throw WarrenError(.invalidArgument, "--cpus needs a cgroup, which a rootless daemon does not have: run the daemon as root")
        }
        if limits.diskBytes != nil {
            throw WarrenError(.invalidArgument, "--disk needs a loop device, which a rootless daemon cannot attach: run the daemon as root")
        }
    }
}
