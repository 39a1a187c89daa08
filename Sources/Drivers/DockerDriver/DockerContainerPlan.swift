import WarrenCore

/// How a sandbox spec becomes a Docker container: the hardened defaults and the names
/// and labels that tie every Docker object to its sandbox and to this daemon.
public enum DockerContainerPlan {
    /// Label holding the sandbox id on every container and network Warren makes.
    public static let sandboxLabel = "warren.sandbox"
    /// Label naming the daemon (its data root) that owns the object.
    public static let ownerLabel = "warren.owner"
    /// Label holding the sandbox's wall-clock limit, so a re-adopted sandbox keeps it.
    public static let timeoutLabel = "warren.timeout"
    /// Label holding the terminal's first size (`ROWSxCOLS`), applied once the container runs.
    public static let consoleSizeLabel = "warren.console-size"
    /// Label holding the guest relays (a JSON array of `GuestRelay`), set up again when a
    /// daemon re-adopts the sandbox.
    public static let relaysLabel = "warren.relays"
    /// On a container without a network but with relays: its resolv.conf names the name
    /// server the driver runs on its loopback (the file's host path).
    public static let nameServerLabel = "warren.name-server"

    /// The resolv.conf of such a container, beside its first relay's socket.
    public static func nameServerResolvConf(_ relay: GuestRelay) -> String {
        String(relay.socketPath[..<(relay.socketPath.lastIndex(of: "/") ?? relay.socketPath.startIndex)]) + "/resolv.conf"
    }

    /// Label marking the container that holds a sandbox's network namespace (`netns`).
    public static let roleLabel = "warren.role"
    /// Where the holder's pause program is mounted.
    static let pauseTarget = "/.warren-pause"

    /// No new privileges, and Warren's own seccomp profile rather than the engine's default.
    public static let securityOptions = ["no-new-privileges:true", "seccomp=" + DockerSeccompProfile.json()]

    /// Container and network name of a sandbox.
    public static func name(_ id: String) -> String { "warren-\(id)" }

    /// Name of the container holding the network namespace of a sandbox with LLM access.
    public static func holderName(_ id: String) -> String { "warren-\(id)-net" }

    /// The container that holds the network namespace of a sandbox with LLM access: it
    /// runs `pause` (a static program mounted from the host) in the sandbox's own image, on
    /// `network`, with nothing else allowed. It starts first, so the facade relay is on the
    /// namespace's loopback before the workload's first instruction.
    public static func netnsHolderConfig(id: String, spec: SandboxSpec, image: String, owner: String, network: String,
                                         pause: String) -> DockerContainerConfig {
        var config = DockerContainerConfig(Image: image)
        config.Entrypoint = [pauseTarget]
        config.Cmd = []
        config.User = "65534:65534"
        config.Hostname = spec.hostname ?? String(id.prefix(12))
        config.Labels = [sandboxLabel: id, ownerLabel: owner, roleLabel: "netns"]
        config.AttachStdin = false
        config.AttachStdout = false
        config.AttachStderr = false
        var host = DockerHostConfig()
        host.CapDrop = ["ALL"]
        host.SecurityOpt = securityOptions
        host.Privileged = false
        host.ReadonlyRootfs = true
        host.NetworkMode = network
        host.IpcMode = "private"
        host.Memory = 16 << 20
        host.MemorySwap = 16 << 20
        host.PidsLimit = 4
        host.Mounts = [DockerMount(source: pause, target: pauseTarget, readOnly: true)]
        host.LogConfig = logConfig(1 << 20)
        host.AutoRemove = false
        config.HostConfig = host
        return config
    }

    /// The log Docker keeps of a container: two files of half `logBytes` each, as a
    /// native sandbox keeps its last `logBytes` (Docker's json-file framing adds to it).
    static func logConfig(_ logBytes: Int64?) -> DockerLogConfig {
        let half = max(1 << 19, (logBytes ?? ResourceLimits.defaultLogBytes) / 2)
        return DockerLogConfig(type: "json-file", config: ["max-size": "\(half)", "max-file": "2"])
    }

    /// The container for `spec`, running `image` (an id Docker knows), on `network`
    /// (`none`, the sandbox's own network's name, or `container:` its namespace holder).
    public static func containerConfig(id: String, spec: SandboxSpec, image: String, owner: String,
                                       network: String) -> DockerContainerConfig {
        var config = DockerContainerConfig(Image: image)
        config.Cmd = spec.command.isEmpty ? nil : spec.command
        config.Env = spec.env
        config.WorkingDir = spec.workdir
        config.User = spec.user
        // A container in another's network namespace has that one's hostname.
        config.Hostname = network.hasPrefix("container:") ? nil : spec.hostname ?? String(id.prefix(12))
        var labels = spec.labels.filter { !$0.key.hasPrefix("warren.") }
        labels[sandboxLabel] = id
        labels[ownerLabel] = owner
        if let timeout = spec.limits.timeoutSeconds { labels[timeoutLabel] = "\(timeout)" }
        if spec.tty, let size = spec.consoleSize { labels[consoleSizeLabel] = "\(size.rows)x\(size.cols)" }
        if !spec.relays.isEmpty, let json = try? WarrenJSON.encoder().encode(spec.relays) {
            labels[relaysLabel] = String(decoding: json, as: UTF8.self)
        }
        config.Labels = labels
        config.Tty = spec.tty
        config.OpenStdin = spec.stdin || spec.tty
        // As `docker run -i`: the end of the first attached input is the end of stdin.
        config.StdinOnce = spec.stdin
        config.AttachStdin = false
        config.AttachStdout = false
        config.AttachStderr = false

        var host = DockerHostConfig()
        host.CapDrop = ["ALL"]
        host.CapAdd = spec.capAdd.isEmpty ? nil : spec.capAdd.map(normalizedCapability)
        host.SecurityOpt = securityOptions
        host.Privileged = false
        host.Init = true
        host.ReadonlyRootfs = spec.readOnlyRootfs
        host.NetworkMode = network
        host.IpcMode = "private"
        host.Memory = spec.limits.memoryBytes
        // No swap on top of the memory limit.
        host.MemorySwap = spec.limits.memoryBytes
        host.NanoCpus = spec.limits.cpus.map { Int64(($0 * 1e9).rounded()) }
        host.PidsLimit = spec.limits.pids.map(Int64.init)
        var ulimits: [DockerUlimit] = []
        if let files = spec.limits.openFiles { ulimits.append(DockerUlimit("nofile", Int64(files))) }
        if let size = spec.limits.fileSizeBytes { ulimits.append(DockerUlimit("fsize", size)) }
        host.Ulimits = ulimits.isEmpty ? nil : ulimits
        host.StorageOpt = spec.limits.diskBytes.map { ["size": "\($0)"] }
        var mounts = spec.mounts.map { DockerMount(source: $0.source, target: $0.destination, readOnly: $0.readOnly) }
        if let relay = spec.relays.first, spec.network == .none {
            // No network: names resolve through /etc/hosts, and the driver's name server on
            // the loopback answers every other lookup "no such name" at once.
            let file = nameServerResolvConf(relay)
            mounts.append(DockerMount(source: file, target: "/etc/resolv.conf", readOnly: true))
            labels[nameServerLabel] = file
            config.Labels = labels
        }
        host.Mounts = mounts.isEmpty ? nil : mounts
        // As in a native sandbox: a private, writable /tmp even on a read-only root.
        host.Tmpfs = ["/tmp": "rw,nosuid,nodev,mode=1777"]
        host.LogConfig = logConfig(spec.limits.logBytes)
        host.AutoRemove = false
        config.HostConfig = host
        return config
    }

    /// Why `spec`'s bind mounts cannot be given to a container running as `imageUser`
    /// (the image's `User`, when the spec names none), or nil when they can.
    ///
    /// Docker maps no ids here: container uid 0 is host uid 0, so through a bind it would
    /// read the host's root-only files and leave files (set-uid ones too) owned by host
    /// root. Binds need the workload to run as another user.
    public static func bindRefusal(spec: SandboxSpec, imageUser: String?) -> String? {
        guard let bind = spec.mounts.first(where: { $0.managed != true }) else { return nil }
        let user = (spec.user ?? imageUser ?? "").split(separator: ":", maxSplits: 1).first.map(String.init) ?? ""
        guard user.isEmpty || user == "root" || UInt32(user) == 0 else { return nil }
        return "a Docker sandbox running as root would be host root on its bind mount \(bind.source): Docker maps no user ids. Run it as another user (--user UID:GID, such as the owner of \(bind.source)), or use the native driver, which maps sandbox root to the source's owner"
    }

    /// The sandbox's own network: internal (no gateway route out), no address of the
    /// host's on its bridge, no traffic between its members.
    public static func networkConfig(id: String, owner: String) -> DockerNetworkConfig {
        DockerNetworkConfig(
            Name: name(id), Driver: "bridge", Internal: true, CheckDuplicate: true, Attachable: false,
            EnableIPv6: false, Labels: [sandboxLabel: id, ownerLabel: owner],
            Options: [
                "com.docker.network.bridge.inhibit_ipv4": "true",
                "com.docker.network.bridge.enable_icc": "false",
                "com.docker.network.bridge.enable_ip_masquerade": "false",
            ])
    }

    /// `NET_BIND_SERVICE` and `cap_net_bind_service` both as `CAP_NET_BIND_SERVICE`.
    static func normalizedCapability(_ name: String) -> String {
        let upper = name.uppercased()
        return upper.hasPrefix("CAP_") ? upper : "CAP_" + upper
    }
}
