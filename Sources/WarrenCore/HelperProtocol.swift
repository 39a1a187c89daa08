import Foundation

/// Everything `warren-sandbox` needs to build one native sandbox.
///
/// The daemon writes it to `<bundle>/config.json` and spawns the helper with
/// `warren-sandbox start --bundle <bundle>`; the helper never talks back over HTTP.
public struct HelperLaunchConfig: Codable, Sendable, Equatable {
    public var id: String
    /// Read-only lower layers, top first (a single rootfs directory for now).
    public var lowerDirs: [String]
    public var command: [String]
    public var env: [String]
    public var workdir: String
    public var user: String?
    public var hostname: String
    public var mounts: [MountSpec]
    public var readOnlyRootfs: Bool
    public var capAdd: [String]
    public var limits: ResourceLimits
    public var network: NetworkMode
    public var tty: Bool
    /// Keep stdin open: the monitor takes input from `attach.sock`.
    public var stdin: Bool
    public var consoleSize: TerminalSize?
    /// Host uid/gid that sandbox uid/gid 0 maps to, and how many ids are mapped.
    public var idMap: IDMap
    /// Cgroup placement, relative to each hierarchy's root (e.g. `warren/<id>`).
    public var cgroupPath: String
    /// How the root filesystem is assembled; nil means `auto`.
    public var rootfsMode: RootfsMode?
    /// Set when the daemon is not root: `idMap` is then the daemon's own uid alone, and
    /// the helper first enters a user namespace of its own (see `RootlessNamespace`).
    public var rootless: Bool?
    /// Daemon services (the LLM facade, the egress proxy) to expose on the guest's loopback.
    public var relays: [GuestRelay]?

    public init(id: String, lowerDirs: [String], command: [String], env: [String], workdir: String,
                user: String?, hostname: String, mounts: [MountSpec], readOnlyRootfs: Bool,
                capAdd: [String], limits: ResourceLimits, network: NetworkMode, tty: Bool,
                stdin: Bool = false, consoleSize: TerminalSize? = nil, idMap: IDMap, cgroupPath: String,
                rootfsMode: RootfsMode? = nil, rootless: Bool = false, relays: [GuestRelay] = []) {
        self.id = id; self.lowerDirs = lowerDirs; self.command = command; self.env = env
        self.workdir = workdir; self.user = user; self.hostname = hostname; self.mounts = mounts
        self.readOnlyRootfs = readOnlyRootfs; self.capAdd = capAdd; self.limits = limits
        self.network = network; self.tty = tty; self.stdin = stdin; self.consoleSize = consoleSize
        self.idMap = idMap; self.cgroupPath = cgroupPath; self.rootfsMode = rootfsMode
        self.rootless = rootless ? true : nil
        self.relays = relays.isEmpty ? nil : relays
    }

    public var isRootless: Bool { rootless == true }
    public var guestRelays: [GuestRelay] { relays ?? [] }
}

/// How a native sandbox's root filesystem is assembled from its layers.
public enum RootfsMode: String, Codable, Sendable, CaseIterable {
    /// An overlay over id-mapped layers, falling back to `copy` where the kernel refuses.
    case auto
    /// Only the overlay; a kernel that refuses it fails the start.
    case overlay
    /// A private, owner-shifted copy of the layers (slow for big images; works anywhere).
    case copy
}

/// One contiguous uid/gid mapping: sandbox ids `0..<size` become host `hostID..<hostID+size`.
public struct IDMap: Codable, Sendable, Equatable {
    public var hostID: UInt32
    public var size: UInt32
    public init(hostID: UInt32, size: UInt32) { self.hostID = hostID; self.size = size }
}

/// Options of `warren-sandbox exec`: a process joining a running sandbox.
public struct HelperExecConfig: Codable, Sendable, Equatable {
    public var command: [String]
    public var env: [String]
    public var workdir: String?
    public var user: String?
    public var tty: Bool
    public var consoleSize: TerminalSize?
    public init(command: [String], env: [String], workdir: String?, user: String?, tty: Bool, consoleSize: TerminalSize? = nil) {
        self.command = command; self.env = env; self.workdir = workdir; self.user = user; self.tty = tty
        self.consoleSize = consoleSize
    }
}

/// What the helper records about itself once the sandbox runs, for re-adoption.
public struct HelperState: Codable, Sendable, Equatable {
    /// Host pid of the helper (the sandbox's monitor) and its start time in clock ticks,
    /// which together identify it even after pid reuse.
    public var helperPID: Int32
    public var helperStartTime: UInt64
    /// Host pid of the sandbox's init (pid 1 inside).
    public var initPID: Int32
    public init(helperPID: Int32, helperStartTime: UInt64, initPID: Int32) {
        self.helperPID = helperPID; self.helperStartTime = helperStartTime; self.initPID = initPID
    }
}

/// How the sandbox ended, written by the helper just before it exits.
public struct HelperExit: Codable, Sendable, Equatable {
    /// Exit code of the main process; 128+signal when a signal ended it.
    public var exitCode: Int32
    /// `exited`, `timeout`, `killed` or `failed`.
    public var reason: String
    public var error: String?
    public var finishedAt: Date
    public init(exitCode: Int32, reason: String, error: String? = nil, finishedAt: Date) {
        self.exitCode = exitCode; self.reason = reason; self.error = error; self.finishedAt = finishedAt
    }
}

/// The files of one sandbox's bundle directory (`<data-root>/sandboxes/<id>`).
public struct SandboxBundle: Sendable, Equatable {
    public var path: String
    public init(path: String) { self.path = path }

    public var configFile: String { path + "/config.json" }
    public var stateFile: String { path + "/state.json" }
    public var exitFile: String { path + "/exit.json" }
    public var helperLog: String { path + "/helper.log" }
    /// The monitor's input socket for attached clients (interactive sandboxes only).
    public var attachSocket: String { path + "/attach.sock" }
    /// Where a rootless monitor hands the sandbox's namespaces to exec helpers.
    public var joinSocket: String { path + "/join.sock" }
    public var logFile: String { path + "/logs/output.log" }
    /// The log's previous part, once it has been rotated (see `LogRecord`).
    public var rotatedLogFile: String { path + "/logs/output.log.1" }
    public var logsDir: String { path + "/logs" }
    /// Sockets shared with the guest.
    public var runDir: String { path + "/run" }
    /// The file system image holding the writable layer when its size is capped (`--disk`).
    public var diskImage: String { path + "/disk.img" }
    /// Where that file system is mounted, in the monitor's private mount namespace.
    public var diskMount: String { path + "/disk" }
    /// Where the writable layer lives: the capped file system, or the bundle itself.
    public func writableBase(capped: Bool) -> String { capped ? diskMount : path }
    public var lowerMount: String { path + "/lower" }
    public var rootfsMount: String { path + "/rootfs" }
}

/// Shared JSON coding conventions for the API, the helper files and the store.
public enum WarrenJSON {
    public static func encoder(pretty: Bool = false) -> JSONEncoder {
        let e = JSONEncoder()
        e.dateEncodingStrategy = .iso8601withFractionalSeconds
        e.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        return e
    }

    public static func decoder() -> JSONDecoder {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .iso8601withFractionalSeconds
        return d
    }
}

extension JSONEncoder.DateEncodingStrategy {
    static let iso8601withFractionalSeconds = JSONEncoder.DateEncodingStrategy.custom { date, encoder in
        var c = encoder.singleValueContainer()
        try c.encode(date.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted)))
    }
}

extension JSONDecoder.DateDecodingStrategy {
    static let iso8601withFractionalSeconds = JSONDecoder.DateDecodingStrategy.custom { decoder in
        let c = try decoder.singleValueContainer()
        let s = try c.decode(String.self)
        if let d = try? Date(s, strategy: .iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted)) { return d }
        if let d = try? Date(s, strategy: .iso8601) { return d }
        throw DecodingError.dataCorruptedError(in: c, debugDescription: "invalid date \(s)")
    }
}
