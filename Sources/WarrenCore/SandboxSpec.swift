/// What a client asks for when it creates a sandbox.
public struct SandboxSpec: Codable, Sendable, Equatable {
    /// Optional human name, unique among sandboxes that are not removed.
    public var name: String?
    /// Root filesystem directory on the host (native driver).
    public var rootfs: String?
    /// Image reference (once the image store exists).
    public var image: String?
    /// argv of the main process.
    public var command: [String]
    /// Environment as `KEY=VALUE` strings, in order.
    public var env: [String]
    public var workdir: String?
    /// `uid[:gid]` or a user name from the rootfs' /etc/passwd.
    public var user: String?
    /// Driver name; nil means the daemon's default.
    public var driver: String?
    public var mounts: [MountSpec]
    public var limits: ResourceLimits
    public var network: NetworkMode
    public var readOnlyRootfs: Bool
    /// Capability names (`CAP_NET_BIND_SERVICE` or `NET_BIND_SERVICE`) kept on top of none.
    public var capAdd: [String]
    /// Allocate a pseudo-terminal for the main process.
    public var tty: Bool
    /// Keep stdin open for attach.
    public var stdin: Bool
    /// Initial terminal size when `tty` is set (24x80 otherwise).
    public var consoleSize: TerminalSize?
    public var hostname: String?
    public var labels: [String: String]
    /// Remove the sandbox once its main process has exited (`run --rm`).
    public var autoRemove: Bool
    /// Set by the daemon when `image` is resolved: never taken from a client.
    public var resolvedImage: ResolvedImage?
    /// Access to models through the LLM facade; nil gives none.
    public var llm: LLMAccess?
    /// Hosts the sandbox may reach through its egress proxy; nil gives no egress.
    public var egress: EgressAccess?
    /// The daemon's services on the guest's loopback (the LLM facade, the egress proxy);
    /// set by the daemon for the driver only, never stored.
    public var relays: [GuestRelay]
    /// Run Jupyter Server as the main process, served by the daemon under `/notebooks/<id>/`.
    public var notebook: Bool

    public init(
        name: String? = nil, rootfs: String? = nil, image: String? = nil, command: [String] = [],
        env: [String] = [], workdir: String? = nil, user: String? = nil, driver: String? = nil,
        mounts: [MountSpec] = [], limits: ResourceLimits = .init(), network: NetworkMode = .none,
        readOnlyRootfs: Bool = false, capAdd: [String] = [], tty: Bool = false, stdin: Bool = false,
        hostname: String? = nil, labels: [String: String] = [:], autoRemove: Bool = false,
        consoleSize: TerminalSize? = nil, llm: LLMAccess? = nil, notebook: Bool = false, egress: EgressAccess? = nil
    ) {
        self.name = name; self.rootfs = rootfs; self.image = image; self.command = command
        self.env = env; self.workdir = workdir; self.user = user; self.driver = driver
        self.mounts = mounts; self.limits = limits; self.network = network
        self.readOnlyRootfs = readOnlyRootfs; self.capAdd = capAdd; self.tty = tty
        self.stdin = stdin; self.hostname = hostname; self.labels = labels
        self.autoRemove = autoRemove; self.consoleSize = consoleSize; self.llm = llm
        self.notebook = notebook; self.egress = egress; self.relays = []
    }

    enum CodingKeys: String, CodingKey {
        case name, rootfs, image, command, env, workdir, user, driver, mounts, limits, network
        case readOnlyRootfs, capAdd, tty, stdin, consoleSize, hostname, labels, autoRemove, resolvedImage
        case llm, egress, relays, notebook
    }

    /// Lenient decoding: every field but `command` may be omitted.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decodeIfPresent(String.self, forKey: .name)
        rootfs = try c.decodeIfPresent(String.self, forKey: .rootfs)
        image = try c.decodeIfPresent(String.self, forKey: .image)
        command = try c.decodeIfPresent([String].self, forKey: .command) ?? []
        env = try c.decodeIfPresent([String].self, forKey: .env) ?? []
        workdir = try c.decodeIfPresent(String.self, forKey: .workdir)
        user = try c.decodeIfPresent(String.self, forKey: .user)
        driver = try c.decodeIfPresent(String.self, forKey: .driver)
        mounts = try c.decodeIfPresent([MountSpec].self, forKey: .mounts) ?? []
        limits = try c.decodeIfPresent(ResourceLimits.self, forKey: .limits) ?? .init()
        network = try c.decodeIfPresent(NetworkMode.self, forKey: .network) ?? .none
        readOnlyRootfs = try c.decodeIfPresent(Bool.self, forKey: .readOnlyRootfs) ?? false
        capAdd = try c.decodeIfPresent([String].self, forKey: .capAdd) ?? []
        tty = try c.decodeIfPresent(Bool.self, forKey: .tty) ?? false
        stdin = try c.decodeIfPresent(Bool.self, forKey: .stdin) ?? false
        consoleSize = try c.decodeIfPresent(TerminalSize.self, forKey: .consoleSize)
        hostname = try c.decodeIfPresent(String.self, forKey: .hostname)
        labels = try c.decodeIfPresent([String: String].self, forKey: .labels) ?? [:]
        autoRemove = try c.decodeIfPresent(Bool.self, forKey: .autoRemove) ?? false
        resolvedImage = try c.decodeIfPresent(ResolvedImage.self, forKey: .resolvedImage)
        llm = try c.decodeIfPresent(LLMAccess.self, forKey: .llm)
        egress = try c.decodeIfPresent(EgressAccess.self, forKey: .egress)
        relays = try c.decodeIfPresent([GuestRelay].self, forKey: .relays) ?? []
        notebook = try c.decodeIfPresent(Bool.self, forKey: .notebook) ?? false
    }
}

/// The image a sandbox runs, as the daemon resolved it at create time.
public struct ResolvedImage: Codable, Sendable, Equatable {
    /// The image's manifest digest: what keeps its content from garbage collection.
    public var manifestDigest: String
    /// Its config digest, the image id `images` shows.
    public var id: String
    /// Unpacked layer directories, topmost first (overlay's lowerdir order).
    public var layers: [String]
    public init(manifestDigest: String, id: String, layers: [String]) {
        self.manifestDigest = manifestDigest; self.id = id; self.layers = layers
    }
}

/// A bind mount from the host into the sandbox.
public struct MountSpec: Codable, Sendable, Equatable {
    public var source: String
    public var destination: String
    public var readOnly: Bool
    /// Set by the daemon on a mount it adds itself (a directory of its own data root that
    /// only it and the sandbox reach, such as the notebook socket's); a client's is dropped.
    public var managed: Bool?

    public init(source: String, destination: String, readOnly: Bool = false, managed: Bool = false) {
        self.source = source; self.destination = destination; self.readOnly = readOnly
        self.managed = managed ? true : nil
    }

    enum CodingKeys: String, CodingKey { case source, destination, readOnly, managed }

    /// `readOnly` may be left out (read-write).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        source = try c.decode(String.self, forKey: .source)
        destination = try c.decode(String.self, forKey: .destination)
        readOnly = try c.decodeIfPresent(Bool.self, forKey: .readOnly) ?? false
        managed = try c.decodeIfPresent(Bool.self, forKey: .managed)
    }

    /// Parses the CLI form `SRC:DST[:ro|rw]`.
    public static func parse(_ text: String) throws -> MountSpec {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 2 || parts.count == 3, !parts[0].isEmpty, !parts[1].isEmpty else {
            throw WarrenError(.invalidArgument, "mount '\(text)' must be SRC:DST[:ro]")
        }
        guard parts[0].hasPrefix("/"), parts[1].hasPrefix("/") else {
            throw WarrenError(.invalidArgument, "mount '\(text)' needs absolute paths")
        }
        var readOnly = false
        if parts.count == 3 {
            switch parts[2] {
            case "ro": readOnly = true
            case "rw": readOnly = false
            default: throw WarrenError(.invalidArgument, "mount option '\(parts[2])' is not ro or rw")
            }
        }
        return MountSpec(source: parts[0], destination: parts[1], readOnly: readOnly)
    }
}

/// Network policy of a sandbox.
public enum NetworkMode: String, Codable, Sendable, CaseIterable {
    /// Loopback only, in a fresh network namespace.
    case none
    /// A network of the sandbox's own with no route out and no address of the host's
    /// on it (Docker driver: an internal bridge network).
    case `internal`
}
