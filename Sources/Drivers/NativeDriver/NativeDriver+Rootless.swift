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

    /// A rootless daemon has no memory default to apply: it has no cgroup.
    public nonisolated var defaultLimits: ResourceLimits {
        var limits = ResourceLimits.defaults
        if rootless { limits.memoryBytes = nil; limits.cpus = nil }
        return limits
    }

    /// Limits a rootless sandbox cannot honour are refused rather than ignored: the
    /// daemon has no cgroup of its own to divide. The pids limit is kept, as
    /// RLIMIT_NPROC in the sandbox's own user namespace.
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
