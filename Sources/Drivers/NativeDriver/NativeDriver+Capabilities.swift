#if canImport(Glibc)
import Glibc
#endif
import LinuxSupport
import RuntimeDriver
import WarrenCore

extension NativeDriver {
    /// What the native driver enforces on this host, stated as it is.
    public func capabilities() async -> CapabilityReport {
        let limits = cgroupLayout?.hasLimitControllers == true
        let cg = rootless ? "rootless daemon: no cgroup to divide"
            : cgroupLayout.map { "cgroup \($0.versionName)" } ?? "no cgroup hierarchy found"
        let userns: String
        if rootless {
            userns = "rootless: sandbox uid/gid 0 is the daemon's own uid \(getuid()); no other id is mapped"
        } else if let range = try? SubordinateIDs.loadOrCreate() {
            userns = "sandbox uid 0-65535 mapped to its own host range from \(range.start) (/etc/subuid 'warren'); never host uid 0"
        } else {
            userns = "subordinate id range unavailable"
        }
        let pids: CapabilityReport.Dimension = rootless
            ? .init("pids_limit", .enforced, "RLIMIT_NPROC in the sandbox's own user namespace")
            : .init("pids_limit", limits ? .enforced : .unsupported, cg)
        let diskQuota: CapabilityReport.Dimension
        if rootless {
            diskQuota = .init("disk_quota", .unsupported, "a rootless daemon cannot attach loop devices")
        } else if let why = DiskQuotaSupport.unavailableReason() {
            diskQuota = .init("disk_quota", .unsupported, why)
        } else {
            diskQuota = .init("disk_quota", .optional, "--disk puts the writable layer on an ext4 file system of that size on a loop device: the kernel refuses writes past it (a copy-mode root counts the image's files too)")
        }
        return CapabilityReport([
            .init("user_namespace", .enforced, userns),
            .init("namespaces", .enforced, "new mount, pid, network, uts, ipc and cgroup namespaces"),
            .init("rootfs_isolation", .enforced, (rootless ? "read-only lower" : "id-mapped read-only lower") + " + per-sandbox overlay upper; pivot_root"),
            .init("read_only_root", .optional, "--read-only remounts / read-only"),
            .init("capabilities", .enforced, "all five sets emptied; --cap-add adds back named ones"),
            .init("no_new_privs", .enforced, "PR_SET_NO_NEW_PRIVS on every sandbox process"),
            .init("seccomp", .enforced, "allow-list after Docker's default; clone3 ENOSYS, no namespaces, io_uring, TIOCSTI, foreign ABIs killed"),
            .init("masked_paths", .enforced, "OCI masked and read-only /proc and /sys paths"),
            .init("memory_limit", limits ? .enforced : .unsupported, cg),
            .init("cpu_limit", limits ? .optional : .unsupported, cg + " (--cpus)"),
            pids,
            .init("rlimits", .enforced, "RLIMIT_NOFILE, RLIMIT_FSIZE when set"),
            .init("network_policy", .enforced, "none: loopback only in a fresh network namespace"),
            .init("timeout", .optional, "--timeout kills every process of the sandbox"),
            .init("log_size", .enforced, "the log keeps the last --log-max bytes (default 64 MiB) in two rotating files"),
            diskQuota,
        ])
    }
}
