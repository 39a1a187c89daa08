// Wire types of the Docker Engine API, named as the API names them (PascalCase), so the
// JSON maps one to one. Only the fields Warren reads or sets are declared.

/// `GET /version`.
public struct DockerVersion: Codable, Sendable {
    public var Version: String
    public var ApiVersion: String
    public var MinAPIVersion: String?
    public var Os: String?
    public var KernelVersion: String?
}

/// `GET /info`: what the engine enforces on this host.
public struct DockerSystemInfo: Codable, Sendable {
    public var ServerVersion: String?
    /// The storage driver (`overlay2`, ...).
    public var Driver: String?
    public var MemoryLimit: Bool?
    public var SwapLimit: Bool?
    public var CpuCfsQuota: Bool?
    public var PidsLimit: Bool?
    public var CgroupVersion: String?
    public var CgroupDriver: String?
    public var SecurityOptions: [String]?
    public var InitBinary: String?
    public var DefaultRuntime: String?
    /// The storage driver's own report, pairs such as `["Backing Filesystem", "xfs"]`.
    public var DriverStatus: [[String]]?

    /// Why the engine cannot cap a container's writable layer (`StorageOpt` size), or nil
    /// when it can: only overlay2 on xfs (mounted with pquota, which the engine checks).
    public var diskQuotaRefusal: String? {
        let backing = DriverStatus?.first { $0.first == "Backing Filesystem" }?.last
        if Driver == "overlay2" && backing == "xfs" { return nil }
        return "Docker caps a container's writable layer only with overlay2 on xfs mounted with pquota; this engine uses \(Driver ?? "an unknown storage driver") on \(backing ?? "an unknown file system")"
    }
}

/// `POST /containers/create` body.
public struct DockerContainerConfig: Codable, Sendable, Equatable {
    public var Image: String
    public var Cmd: [String]?
    public var Entrypoint: [String]?
    public var Env: [String]?
    public var WorkingDir: String?
    public var User: String?
    public var Hostname: String?
    public var Labels: [String: String]?
    public var Tty: Bool?
    public var OpenStdin: Bool?
    public var StdinOnce: Bool?
    public var AttachStdin: Bool?
    public var AttachStdout: Bool?
    public var AttachStderr: Bool?
    public var HostConfig: DockerHostConfig?

    public init(Image: String) { self.Image = Image }
}

public struct DockerHostConfig: Codable, Sendable, Equatable {
    public var CapDrop: [String]?
    public var CapAdd: [String]?
    public var SecurityOpt: [String]?
    public var Privileged: Bool?
    public var PidsLimit: Int64?
    public var Memory: Int64?
    public var MemorySwap: Int64?
    public var NanoCpus: Int64?
    public var ReadonlyRootfs: Bool?
    public var Init: Bool?
    public var NetworkMode: String?
    public var Mounts: [DockerMount]?
    public var Tmpfs: [String: String]?
    public var Ulimits: [DockerUlimit]?
    public var LogConfig: DockerLogConfig?
    public var AutoRemove: Bool?
    public var IpcMode: String?
    /// `{"size": "BYTES"}` caps the writable layer (overlay2 on xfs with pquota only).
    public var StorageOpt: [String: String]?

    public init() {}
}

public struct DockerMount: Codable, Sendable, Equatable {
    public var `Type`: String
    public var Source: String
    public var Target: String
    public var ReadOnly: Bool?
    public init(source: String, target: String, readOnly: Bool) {
        self.Type = "bind"; self.Source = source; self.Target = target; self.ReadOnly = readOnly
    }
}

public struct DockerUlimit: Codable, Sendable, Equatable {
    public var Name: String
    public var Soft: Int64
    public var Hard: Int64
    public init(_ name: String, _ value: Int64) { Name = name; Soft = value; Hard = value }
}

public struct DockerLogConfig: Codable, Sendable, Equatable {
    public var `Type`: String
    public var Config: [String: String]?
    public init(type: String, config: [String: String]?) { self.Type = type; self.Config = config }
}

/// `POST /containers/create` and `POST /containers/{id}/exec` answers.
public struct DockerCreated: Codable, Sendable {
    public var Id: String
    public var Warnings: [String]?
}

/// `GET /containers/{id}/json`.
public struct DockerContainer: Codable, Sendable {
    public var Id: String
    public var Name: String?
    public var Image: String?
    public var State: ContainerState
    public var Config: DockerContainerConfig?
    public var HostConfig: DockerHostConfig?

    public struct ContainerState: Codable, Sendable {
        /// created, running, paused, restarting, removing, exited, dead.
        public var Status: String
        public var Running: Bool?
        public var Pid: Int32?
        public var ExitCode: Int32?
        public var OOMKilled: Bool?
        public var Error: String?
        public var StartedAt: String?
        public var FinishedAt: String?
    }
}

/// One row of `GET /containers/json`.
public struct DockerContainerSummary: Codable, Sendable {
    public var Id: String
    public var Names: [String]?
    public var Image: String?
    public var State: String?
    public var Labels: [String: String]?
}

/// `POST /containers/{id}/wait`.
public struct DockerWaitResult: Codable, Sendable {
    public var StatusCode: Int64
    public var Error: WaitError?
    public struct WaitError: Codable, Sendable { public var Message: String? }
}

/// `POST /containers/{id}/exec` body.
public struct DockerExecConfig: Codable, Sendable, Equatable {
    public var Cmd: [String]
    public var Env: [String]?
    public var WorkingDir: String?
    public var User: String?
    public var Tty: Bool
    public var AttachStdin: Bool
    public var AttachStdout: Bool
    public var AttachStderr: Bool
    public var Privileged: Bool?
    public init(Cmd: [String], Tty: Bool) {
        self.Cmd = Cmd; self.Tty = Tty; AttachStdin = true; AttachStdout = true; AttachStderr = true; Privileged = false
    }
}

/// `GET /exec/{id}/json`.
public struct DockerExecInspect: Codable, Sendable {
    public var ID: String?
    public var Running: Bool
    public var ExitCode: Int32?
    public var Pid: Int32?
}

/// `GET /images/{name}/json`.
public struct DockerImage: Codable, Sendable {
    public var Id: String
    public var RepoTags: [String]?
    public var RepoDigests: [String]?
    public var Size: Int64?
    public var Config: ImageRunConfig?
    public struct ImageRunConfig: Codable, Sendable {
        public var Cmd: [String]?
        public var Entrypoint: [String]?
        public var User: String?
    }
}

/// One row of `GET /images/json`.
public struct DockerImageSummary: Codable, Sendable {
    public var Id: String
    public var RepoTags: [String]?
    public var Size: Int64?
}

/// `POST /networks/create` body.
public struct DockerNetworkConfig: Codable, Sendable, Equatable {
    public var Name: String
    public var Driver: String
    public var Internal: Bool
    public var CheckDuplicate: Bool
    public var Attachable: Bool
    public var EnableIPv6: Bool
    public var Labels: [String: String]
    public var Options: [String: String]
}

/// `GET /networks/{id}`.
public struct DockerNetwork: Codable, Sendable {
    public var Id: String
    public var Name: String
    public var Driver: String?
    public var Internal: Bool?
    public var Labels: [String: String]?
    public var Options: [String: String]?
}

/// One message of `GET /events`.
public struct DockerEvent: Codable, Sendable, Equatable {
    /// container, image, network, ...
    public var `Type`: String?
    /// create, start, die, destroy, ...
    public var Action: String?
    public var Actor: EventActor?
    public var timeNano: Int64?

    public struct EventActor: Codable, Sendable, Equatable {
        public var ID: String?
        public var Attributes: [String: String]?
    }
}

/// One line of a streamed progress answer (`/images/create`, `/images/load`).
struct DockerProgressMessage: Codable, Sendable {
    var status: String?
    var stream: String?
    var error: String?
    var errorDetail: ErrorDetail?
    struct ErrorDetail: Codable, Sendable { var message: String? }
}

/// The body of every Docker error answer.
struct DockerErrorBody: Codable, Sendable {
    var message: String
}
