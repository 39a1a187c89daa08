#if canImport(Glibc)
import Glibc
#endif
import Foundation
import LinuxSupport
import Logging
import RuntimeDriver
import WarrenCore

/// Runs sandboxes with the `warren-sandbox` helper: Linux namespaces, an id-mapped
/// overlay rootfs, seccomp, no capabilities, cgroup limits. Needs no other daemon.
///
/// All per-sandbox state lives in the bundle directory and the cgroup, so a
/// restarted daemon finds running sandboxes again through `inspect` and `wait`.
public actor NativeDriver: RuntimeDriver {
    public nonisolated let name = "native"
    let dataRoot: String
    let helperPath: String
    let logger: Logger
    let cgroupLayout: CgroupLayout?
    let rootfsMode: RootfsMode
    /// Run by a normal user: sandbox root is the daemon's own uid, there is no
    /// cgroup to give, and `RootlessNamespace` supplies the privilege to build.
    let rootless: Bool
    private var idRange: SubordinateIDs?
    /// Id slots taken on this host, by every daemon.
    let slotRegistry: IDSlotRegistry

    public init(dataRoot: String, helperPath: String, rootfsMode: RootfsMode = .auto,
                idSlotDirectory: String = "/var/lib/warren-idmap", logger: Logger) {
        self.slotRegistry = IDSlotRegistry(directory: idSlotDirectory)
        self.dataRoot = dataRoot
        self.helperPath = helperPath
        self.rootfsMode = rootfsMode
        self.logger = logger
        self.rootless = geteuid() != 0
        self.cgroupLayout = rootless ? nil : CgroupLayout.detect()
        // Input for a process that has exited must fail with EPIPE, not end the daemon.
        signal(SIGPIPE, SIG_IGN)
    }

    nonisolated var sandboxesDir: String { dataRoot + "/sandboxes" }
    nonisolated func bundle(_ id: String) -> SandboxBundle { SandboxBundle(path: sandboxesDir + "/" + id) }
    nonisolated func cgroup(_ id: String) -> SandboxCgroup? {
        cgroupLayout.map { SandboxCgroup(layout: $0, relativePath: cgroupParent + "/" + id) }
    }

    /// The cgroup directory holding this daemon's sandboxes: `warren` for the default
    /// data root, `warren-<hash>` for any other, so two daemons never see (or reap)
    /// each other's sandboxes.
    nonisolated var cgroupParent: String { Self.cgroupParent(dataRoot: dataRoot) }

    public static func cgroupParent(dataRoot: String) -> String {
        if dataRoot == "/var/lib/warren" { return "warren" }
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in dataRoot.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return "warren-" + String(String(h, radix: 16).suffix(12))
    }

    public func availability() async -> DriverAvailability {
        if rootless, let reason = Self.unprivilegedUserNamespacesRefused() {
            return DriverAvailability(available: false, detail: "a rootless daemon needs unprivileged user namespaces: \(reason)")
        }
        if access(helperPath, X_OK) != 0 {
            return DriverAvailability(available: false, detail: "helper \(helperPath) not found or not executable")
        }
        let fs = String(decoding: readFileIfPresent("/proc/filesystems") ?? [], as: UTF8.self)
        if !fs.contains("overlay") {
            return DriverAvailability(available: false, detail: "the kernel has no overlay filesystem")
        }
        let mode = rootless ? "rootless (uid \(getuid())), no cgroup" : "cgroup \(cgroupLayout?.versionName ?? "none")"
        return DriverAvailability(available: true, detail: "helper \(helperPath), \(mode)")
    }

    // MARK: - Create

    public func create(id: String, spec: SandboxSpec) async throws {
        guard let layers = spec.resolvedImage?.layers ?? spec.rootfs.map({ [$0] }), !layers.isEmpty else {
            throw WarrenError(.invalidArgument, "the native driver needs an image or a root filesystem (--rootfs DIR)")
        }
        var st = stat()
        for layer in layers where !(stat(layer, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR) {
            throw WarrenError(.invalidArgument, "root filesystem \(layer) is not a directory")
        }
        for m in spec.mounts where access(m.source, F_OK) != 0 {
            throw WarrenError(.invalidArgument, "mount source \(m.source) does not exist")
        }
        for cap in spec.capAdd where !Self.knownCapability(cap) {
            throw WarrenError(.invalidArgument, "unknown capability '\(cap)'")
        }
        if rootless { try Self.checkRootlessLimits(spec.limits) }
        try Self.checkOpenFiles(spec.limits)
        if spec.limits.diskBytes != nil, let why = DiskQuotaSupport.unavailableReason() {
            throw WarrenError(.unsupported, "--disk cannot be enforced on this host: \(why)")
        }
        guard spec.network == .none else {
            throw WarrenError(.unsupported, "the native driver offers network 'none' only; network '\(spec.network.rawValue)' needs the docker driver")
        }
        let b = bundle(id)
        do {
            try prepareSandboxesDirectory()
            guard mkdir(b.path, 0o711) == 0 else { throw SyscallError("mkdir", errno: errno, b.path) }
            let config = HelperLaunchConfig(
                id: id, lowerDirs: layers, command: spec.command, env: spec.env,
                workdir: spec.workdir ?? "/", user: spec.user, hostname: spec.hostname ?? String(id.prefix(12)),
                mounts: spec.mounts, readOnlyRootfs: spec.readOnlyRootfs, capAdd: spec.capAdd,
                limits: spec.limits, network: spec.network, tty: spec.tty,
                stdin: spec.stdin, consoleSize: spec.consoleSize,
                idMap: rootless ? IDMap(hostID: getuid(), size: 1) : try allocateSlot(id),
                cgroupPath: cgroupParent + "/" + id, rootfsMode: rootfsMode, rootless: rootless,
                relays: spec.relays)
            try writeFileAtomically(b.configFile, Array(try WarrenJSON.encoder().encode(config)), mode: 0o600)
        } catch {
            let map = idMapOf(id)
            try? removeTree(b.path)
            releaseSlot(id, map)
            throw WarrenError.wrap(error)
        }
    }

    /// The sandbox's init runs as an unprivileged host uid and reaches its rootfs by
    /// path, so every directory above a bundle must be searchable by others (0711:
    /// search without listing, as Docker's data root with user namespaces).
    private func prepareSandboxesDirectory() throws {
        // Rootless sandboxes run as the daemon's own uid: nothing needs opening up.
        if rootless { return try makeDirectories(sandboxesDir, mode: 0o700) }
        try makeDirectories(sandboxesDir, mode: 0o711)
        for dir in [dataRoot, sandboxesDir] {
            var st = stat()
            if stat(dir, &st) == 0, st.st_mode & 0o001 == 0 { chmod(dir, (st.st_mode & 0o7777) | 0o011) }
        }
        var path = URL(fileURLWithPath: dataRoot).deletingLastPathComponent().path
        while path != "/" && !path.isEmpty {
            var st = stat()
            if stat(path, &st) == 0, st.st_mode & 0o001 == 0 {
                throw WarrenError(.unavailable, "data root parent \(path) is not searchable by others (mode \(String(st.st_mode & 0o777, radix: 8))); sandboxes run as unprivileged host users and cannot reach their root filesystem: use a data root under a searchable directory")
            }
            path = URL(fileURLWithPath: path).deletingLastPathComponent().path
        }
    }

    /// Claims this host's lowest free id slot for the sandbox (see `IDSlotRegistry`).
    private func allocateSlot(_ id: String) throws -> IDMap {
        try adoptExistingSlots(except: id)
        return try slotRegistry.claim(in: idRange!, bundlePath: bundle(id).path)
    }

    /// Once per driver: bundles made before the registry held them (or whose claims were
    /// lost) claim their slots, so no other daemon hands those out. Run at start-up
    /// (`list`, for reconciliation) and before the first create.
    private func adoptExistingSlots(except id: String? = nil) throws {
        guard !rootless, idRange == nil else { return }
        let range = try SubordinateIDs.loadOrCreate()
        idRange = range
        for other in (try? FileManager.default.contentsOfDirectory(atPath: sandboxesDir)) ?? [] where other != id {
            if let map = idMapOf(other), map.size == SubordinateIDs.slotSize,
               !slotRegistry.adopt(map, in: range, bundlePath: bundle(other).path) {
                logger.error("an existing sandbox's id range is claimed by another sandbox of this host",
                             metadata: ["sandbox": "\(other.prefix(12))", "hostID": "\(map.hostID)"])
            }
        }
    }

    /// Gives the sandbox's id slot back once its files are gone.
    private func releaseSlot(_ id: String, _ map: IDMap?) {
        guard !rootless, let map, let range = idRange ?? (try? SubordinateIDs.loadOrCreate()) else { return }
        slotRegistry.release(map, in: range, bundlePath: bundle(id).path)
    }

    static func knownCapability(_ name: String) -> Bool {
        let n = name.uppercased().hasPrefix("CAP_") ? String(name.uppercased().dropFirst(4)) : name.uppercased()
        return capabilityNames.contains(n)
    }

    static let capabilityNames: Set<String> = [
        "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP",
        "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER",
        "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
        "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP",
        "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF",
        "CHECKPOINT_RESTORE",
    ]

    // MARK: - Start

    public func start(id: String) async throws -> DriverRunInfo {
        let b = bundle(id)
        guard access(b.configFile, F_OK) == 0 else { throw WarrenError(.notFound, "sandbox \(id) has no bundle") }
        let ready = try ProcessSpawner.pipe()
        let pid: pid_t
        do {
            pid = try ProcessSpawner.spawn(
                helperPath, [helperPath, "start", "--bundle", b.path, "--ready-fd", "3"],
                environment: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
                actions: [.open(fd: 0, path: "/dev/null", flags: O_RDONLY, mode: 0),
                          .open(fd: 1, path: b.helperLog, flags: O_WRONLY | O_CREAT | O_APPEND, mode: 0o600),
                          .dup(source: 1, fd: 2), .dup(source: ready.write, fd: 3)],
                newSession: true)
        } catch {
            close(ready.read); close(ready.write)
            throw WarrenError.wrap(error)
        }
        close(ready.write)
        let readFD = ready.read
        let answer = try await runBlocking { () -> String in
            defer { close(readFD) }
            return String(decoding: (try? readAll(readFD)) ?? [], as: UTF8.self)
        }
        logger.debug("helper answered", metadata: ["sandbox": "\(id)", "helper": "\(pid)", "answer": "\(answer)"])
        if answer.hasPrefix("ok ") {
            return DriverRunInfo(pid: pid)
        }
        // The helper failed and exited; reap it so it leaves no zombie.
        _ = try? await runBlocking { ProcessSpawner.waitForExit(pid) }
        let reason = answer.hasPrefix("error ") ? String(answer.dropFirst(6)) : "sandbox helper exited during start"
        throw Self.startError(reason.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// The error for a start the helper refused, coded by what went wrong: the client's
    /// mistakes (no such command, no such user) and a full disk are not the daemon's fault.
    static func startError(_ reason: String) -> WarrenError {
        if reason.contains("executable file not found") || (reason.hasPrefix("exec ") && reason.contains("No such file or directory")) {
            return WarrenError(.commandNotFound, reason)
        }
        if reason.contains("unable to find user") || reason.contains("unable to find group") || reason.contains("is outside the sandbox's id range")
            || reason.contains("cannot enter working directory") || reason.hasPrefix("--nofile") {
            return WarrenError(.invalidArgument, reason)
        }
        if reason.contains(String(cString: strerror(ENOSPC))) || reason.contains(String(cString: strerror(EDQUOT))) {
            return WarrenError(.insufficientStorage, reason)
        }
        return WarrenError(.internalError, reason)
    }

    // MARK: - State

    nonisolated func helperState(_ id: String) -> HelperState? {
        guard let data = readFileIfPresent(bundle(id).stateFile) else { return nil }
        return try? WarrenJSON.decoder().decode(HelperState.self, from: Data(data))
    }

    /// Binds of regular accounts' directories are id-mapped to their owner; others leave
    /// sandbox root its own unprivileged host id (`BindOwnership`).
    public nonisolated var mapsBindOwners: Bool { true }

    /// The id slot the sandbox's bundle was given, read from its launch config.
    public func hostRootIdentity(id: String) async throws -> (uid: UInt32, gid: UInt32) {
        guard let map = idMapOf(id) else { throw WarrenError(.notFound, "no such sandbox: \(id)") }
        return (map.hostID, map.hostID)
    }

    nonisolated func idMapOf(_ id: String) -> IDMap? {
        guard let data = readFileIfPresent(bundle(id).configFile) else { return nil }
        return (try? WarrenJSON.decoder().decode(HelperLaunchConfig.self, from: Data(data)))?.idMap
    }

    nonisolated func recordedExit(_ id: String) -> HelperExit? {
        guard let data = readFileIfPresent(bundle(id).exitFile) else { return nil }
        return try? WarrenJSON.decoder().decode(HelperExit.self, from: Data(data))
    }

    nonisolated func helperAlive(_ state: HelperState) -> Bool {
        processIsAlive(state.helperPID, startTime: state.helperStartTime)
    }

    public func inspect(id: String) async throws -> DriverStatus {
        guard access(bundle(id).path, F_OK) == 0 else { return .missing }
        if let e = recordedExit(id) { return .exited(DriverExit(exitCode: e.exitCode, reason: e.reason, error: e.error)) }
        guard let state = helperState(id) else { return .created }
        if helperAlive(state) { return .running(pid: state.helperPID) }
        return .exited(DriverExit(exitCode: 137, reason: "lost", error: "the sandbox helper ended without recording an exit"))
    }

    public func list() async throws -> [String] {
        try? adoptExistingSlots()
        var ids = Set((try? FileManager.default.contentsOfDirectory(atPath: sandboxesDir)) ?? [])
        if let layout = cgroupLayout { ids.formUnion(SandboxCgroup.children(layout: layout, parent: cgroupParent)) }
        return ids.sorted()
    }

    // MARK: - Wait, stop, remove

    public func wait(id: String) async throws -> DriverExit {
        if let state = helperState(id) {
            let pidfd = openHelperPidfd(state)
            if pidfd >= 0 {
                try await runBlocking {
                    ProcessSpawner.waitForPidfd(pidfd)
                    close(pidfd)
                    var status: Int32 = 0
                    _ = waitpid(state.helperPID, &status, WNOHANG)  // reap when it is our child
                }
            }
        }
        if let e = recordedExit(id) { return DriverExit(exitCode: e.exitCode, reason: e.reason, error: e.error) }
        // The monitor ended without a record (killed, crashed): nothing of the sandbox may
        // outlive it, whatever its init made of the monitor's death.
        killEverything(id, state: nil)
        return DriverExit(exitCode: 137, reason: "lost", error: "the sandbox helper ended without recording an exit")
    }

    /// How long a stop waits, after the grace and the kill, for the monitor to record the
    /// exit before it is taken for hung and killed too.
    static let monitorMargin: Duration = .seconds(2)

    /// SIGTERM through the monitor; after `grace`, every process of the sandbox is killed,
    /// and a monitor that still has not ended (stopped, hung) is killed as well. Returns
    /// within grace + a few seconds whatever the monitor does.
    public func stop(id: String, grace: Duration) async throws {
        guard let state = helperState(id), helperAlive(state) else { return }
        Glibc.kill(state.helperPID, SIGTERM)
        let deadline = ContinuousClock.now + grace
        while ContinuousClock.now < deadline {
            if !helperAlive(state) { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        // A stopped monitor will record nothing and reap nothing: it goes first, so the
        // sandbox's processes are reaped by whoever inherits them.
        if Self.isStopped(state.helperPID) { Glibc.kill(state.helperPID, SIGKILL) }
        killEverything(id, state: state)
        let margin = ContinuousClock.now + Self.monitorMargin
        while ContinuousClock.now < margin {
            if !helperAlive(state) { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        logger.warning("the sandbox's monitor did not end after its sandbox was killed; killing it",
                       metadata: ["sandbox": "\(id.prefix(12))", "monitor": "\(state.helperPID)"])
        Glibc.kill(state.helperPID, SIGKILL)
    }

    /// Kills every process of the sandbox: the cgroup when there is one, else init
    /// (whose death takes its pid namespace with it). Init's pid is only trusted while
    /// its helper, which has not reaped it yet, is alive.
    nonisolated func killEverything(_ id: String, state: HelperState?) {
        if let cg = cgroup(id), cg.exists {
            cg.killAll()
        } else if let s = state, helperAlive(s) {
            Glibc.kill(s.initPID, SIGKILL)
        }
    }

    public func remove(id: String) async throws {
        let state = helperState(id)
        if let state, helperAlive(state) {
            // Nobody waits for the exit record of a sandbox being removed: the monitor goes
            // first (whatever state it is in), so what it leaves is reaped, then the cgroup.
            Glibc.kill(state.helperPID, SIGKILL)
            killEverything(id, state: nil)
            for _ in 0..<300 where helperAlive(state) { try await Task.sleep(for: .milliseconds(10)) }
        }
        let map = idMapOf(id)
        do {
            try cgroup(id)?.remove()
            try removeTree(bundle(id).path)
        } catch {
            throw WarrenError(.internalError, "removing sandbox \(id): \(error)")
        }
        releaseSlot(id, map)
    }

    public func pruneShared() async {
        guard let layout = cgroupLayout else { return }
        for dir in SandboxCgroup.removeParentIfEmpty(layout: layout, parent: cgroupParent) {
            logger.debug("removed empty cgroup parent", metadata: ["cgroup": "\(dir)"])
        }
    }

    /// Whether a process is stopped (by SIGSTOP or a tracer).
    static func isStopped(_ pid: Int32) -> Bool {
        let state = processState(pid)
        return state == "T" || state == "t"
    }

    nonisolated func openHelperPidfd(_ state: HelperState) -> Int32 {
        let fd = pidfdOpen(state.helperPID)
        guard fd >= 0 else { return -1 }
        // The pid may have been reused by now: trust the fd only if the start time matches.
        if processStartTime(state.helperPID) != state.helperStartTime { close(fd); return -1 }
        return fd
    }
}
