import RuntimeDriver
import WarrenCore

extension DockerDriver {
    /// What Docker sandboxes get on this engine, read from the engine's own report
    /// (`GET /info`) rather than assumed.
    public func capabilities() async -> CapabilityReport {
        guard let info = try? await engine().systemInfo() else {
            return CapabilityReport([.init("engine", .unsupported, "the Docker engine at \(endpoint) cannot be reached")])
        }
        let security = info.SecurityOptions ?? []
        let seccomp = security.first { $0.hasPrefix("name=seccomp") }
        let seccompProfile = seccomp?.split(separator: ",").first { $0.hasPrefix("profile=") }.map { String($0.dropFirst(8)) }
        let userns = security.contains { $0 == "name=userns" || $0.hasPrefix("name=userns,") }
        let rootless = security.contains { $0 == "name=rootless" }
        let cgroup = "Docker \(info.ServerVersion ?? "?"), cgroup v\(info.CgroupVersion ?? "1") (\(info.CgroupDriver ?? "?"))"
        func limit(_ name: String, _ supported: Bool?, _ status: CapabilityReport.Status, _ detail: String) -> CapabilityReport.Dimension {
            supported == true ? .init(name, status, detail + "; " + cgroup) : .init(name, .unsupported, "the engine reports no \(name.replacingOccurrences(of: "_", with: " ")) support")
        }
        let seccompDimension: CapabilityReport.Dimension
        switch seccompProfile {
        case nil, "unconfined":
            seccompDimension = .init("seccomp", .unsupported, "the engine runs containers without a seccomp profile")
        case let engineDefault?:
            seccompDimension = .init("seccomp", .enforced, "Warren's allow-list sent as each container's profile, not the engine's '\(engineDefault)': the calls native sandboxes refuse are refused (clone3 ENOSYS, namespaces, io_uring, bpf, TIOCSTI/TIOCLINUX); calls of other ABIs are refused")
        }
        return CapabilityReport([
            userns || rootless
                ? .init("user_namespace", .enforced, rootless ? "rootless Docker: container root is an unprivileged host user" : "engine runs with userns-remap: container root is an unprivileged host user")
                : .init("user_namespace", .unsupported, "container uid 0 is host uid 0 (no userns-remap); it holds no capabilities. Use -u for a non-root user"),
            .init("namespaces", .enforced, "new mount, pid, network, uts and ipc namespaces (private IPC)"),
            .init("rootfs_isolation", .enforced, "the image's layers read-only under a per-container writable layer (storage driver \(info.Driver ?? "unknown"))"),
            .init("read_only_root", .optional, "--read-only sets ReadonlyRootfs; /tmp stays a writable tmpfs"),
            .init("capabilities", .enforced, "CapDrop ALL; --cap-add adds back named ones"),
            .init("no_new_privs", .enforced, "SecurityOpt no-new-privileges on every container process"),
            seccompDimension,
            .init("masked_paths", .enforced, "Docker's masked and read-only /proc and /sys paths"),
            limit("memory_limit", info.MemoryLimit, .enforced, "HostConfig.Memory, no swap beyond it"),
            limit("cpu_limit", info.CpuCfsQuota, .optional, "HostConfig.NanoCpus (--cpus)"),
            limit("pids_limit", info.PidsLimit, .enforced, "HostConfig.PidsLimit"),
            .init("rlimits", .enforced, "nofile always, fsize when set, as Docker ulimits"),
            .init("network_policy", .enforced, "none: loopback only; internal: a bridge network of the sandbox's own, internal (no route out), no host address on it, no traffic between members"),
            .init("init", .enforced, "Docker's init (\(info.InitBinary ?? "docker-init")) as PID 1 reaps and forwards signals; it runs with the workload's uid, which may trace it"),
            .init("log_size", .enforced, "json-file log: two files of half --log-max each (default 64 MiB in all)"),
            info.diskQuotaRefusal.map { .init("disk_quota", .unsupported, $0 + ": --disk is refused") }
                ?? .init("disk_quota", .optional, "--disk as the container's StorageOpt size (overlay2 on xfs with pquota)"),
            .init("timeout", .optional, "--timeout kills the container at its deadline, counted from its start"),
        ])
    }
}
