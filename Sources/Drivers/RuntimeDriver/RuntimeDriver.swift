import Logging
import WarrenCore

/// A way of running sandboxes: the native Linux sandbox, Docker, ...
///
/// The daemon's `SandboxManager` owns state and lifecycle; a driver only does what
/// it is told and reports truthfully what it enforces. Optional operations have
/// default implementations that throw `.unsupported`.
public protocol RuntimeDriver: Sendable {
    /// The name clients select the driver by (`native`, `docker`).
    var name: String { get }

    /// Whether the driver can run sandboxes on this host, and why not.
    func availability() async -> DriverAvailability

    /// What this driver enforces on this host, dimension by dimension.
    func capabilities() async -> CapabilityReport

    /// Limits applied where a spec leaves one unset; only limits the driver enforces.
    var defaultLimits: ResourceLimits { get }

    /// Where the driver's images come from.
    var imageSource: DriverImageSource { get }

    /// Checks, before anything is made or recorded, what only the driver can tell about a
    /// spec (that its command exists in its root file system); throws the error to answer.
    func preflight(spec: SandboxSpec) async throws

    /// Prepares everything a sandbox needs without starting a process. On failure
    /// nothing is left behind.
    func create(id: String, spec: SandboxSpec) async throws

    /// Starts the sandbox's main process; returns once it runs.
    func start(id: String) async throws -> DriverRunInfo

    /// Waits for the main process to end (works for re-adopted sandboxes too).
    func wait(id: String) async throws -> DriverExit

    /// SIGTERM, then after `grace` every process of the sandbox is killed.
    func stop(id: String, grace: Duration) async throws

    /// Removes everything the driver made for the sandbox. Idempotent; kills what still runs.
    func remove(id: String) async throws

    /// Current state of one sandbox as the driver sees it.
    func inspect(id: String) async throws -> DriverStatus

    /// Every sandbox the driver holds resources for, for start-up reconciliation.
    func list() async throws -> [String]

    /// The sandbox's output, from the start; with `follow`, until it exits.
    func logs(id: String, follow: Bool) async throws -> AsyncThrowingStream<LogRecord.Decoded, any Error>

    /// Runs a further process inside a running sandbox.
    func exec(id: String, request: ExecRequest) async throws -> ExecSession

    /// Input to the main process of a running sandbox created with `stdin` or `tty`.
    /// Output is read through `logs`.
    func attach(id: String) async throws -> AttachSession

    /// Sends a signal to the sandbox's main process.
    func kill(id: String, signal: Int32) async throws

    /// Removes what the driver made for sandboxes in general once no sandbox uses it
    /// (empty cgroup parents); called after start-up reconciliation and at shutdown.
    func pruneShared() async

    /// The host uid and gid the sandbox's root writes files as, on a bind that hands it
    /// no other id: what a directory the daemon makes for the sandbox alone is given to.
    func hostRootIdentity(id: String) async throws -> (uid: UInt32, gid: UInt32)

    /// Whether the driver maps ids on a bind mount, so sandbox root writes there as the
    /// source's owner (or as an unprivileged id of its own) and never as host root. Where
    /// it does not, ids in the sandbox are host ids, and a bind needs a non-root user.
    var mapsBindOwners: Bool { get }
}

extension RuntimeDriver {
    public var defaultLimits: ResourceLimits { .defaults }

    public var imageSource: DriverImageSource { .unpackedByDaemon }

    public func exec(id: String, request: ExecRequest) async throws -> ExecSession {
        throw WarrenError(.unsupported, "driver \(name) does not support exec")
    }

    public func attach(id: String) async throws -> AttachSession {
        throw WarrenError(.unsupported, "driver \(name) does not support attach")
    }

    public func kill(id: String, signal: Int32) async throws {
        throw WarrenError(.unsupported, "driver \(name) does not support signals")
    }

    public func pruneShared() async {}

    public func hostRootIdentity(id: String) async throws -> (uid: UInt32, gid: UInt32) {
        throw WarrenError(.unsupported, "driver \(name) hands no directory to a sandbox's root")
    }

    public func preflight(spec: SandboxSpec) async throws {}

    public var mapsBindOwners: Bool { false }
}

/// The input side of an attached main process. `detach` ends the attachment; the
/// sandbox keeps running.
public struct AttachSession: Sendable {
    public var writeStdin: @Sendable ([UInt8]) async throws -> Void
    public var closeStdin: @Sendable () async throws -> Void
    public var resize: @Sendable (_ rows: UInt16, _ cols: UInt16) async throws -> Void
    public var detach: @Sendable () async -> Void

    public init(writeStdin: @escaping @Sendable ([UInt8]) async throws -> Void,
                closeStdin: @escaping @Sendable () async throws -> Void,
                resize: @escaping @Sendable (UInt16, UInt16) async throws -> Void,
                detach: @escaping @Sendable () async -> Void) {
        self.writeStdin = writeStdin; self.closeStdin = closeStdin; self.resize = resize; self.detach = detach
    }
}

/// Who turns a sandbox's image reference into something to run.
public enum DriverImageSource: Sendable, Equatable {
    /// The daemon resolves the image in Warren's store, unpacks its layers and applies
    /// its config to the spec (`SandboxSpec.resolvedImage`) before `create`.
    case unpackedByDaemon
    /// The driver gets the reference as given and finds the image itself (Docker's store).
    case resolvedByDriver
}

public struct DriverAvailability: Sendable, Equatable {
    public var available: Bool
    public var detail: String?
    public init(available: Bool, detail: String? = nil) { self.available = available; self.detail = detail }
}

public struct DriverRunInfo: Sendable, Equatable {
    public var pid: Int32
    public init(pid: Int32) { self.pid = pid }
}

public struct DriverExit: Sendable, Equatable {
    public var exitCode: Int32
    /// `exited`, `timeout`, `killed`, `failed`, `lost`.
    public var reason: String
    public var error: String?
    public init(exitCode: Int32, reason: String, error: String? = nil) {
        self.exitCode = exitCode; self.reason = reason; self.error = error
    }
}

public enum DriverStatus: Sendable, Equatable {
    /// Created but never started.
    case created
    case running(pid: Int32)
    case exited(DriverExit)
    /// The driver holds nothing for this id.
    case missing
}

/// A process started by `exec`: its output ends with an `exit` chunk.
public struct ExecSession: Sendable {
    public var output: AsyncThrowingStream<OutputChunk, any Error>
    public var writeStdin: @Sendable ([UInt8]) async throws -> Void
    public var closeStdin: @Sendable () async throws -> Void
    public var resize: @Sendable (_ rows: UInt16, _ cols: UInt16) async throws -> Void
    public var signal: @Sendable (_ signal: Int32) async throws -> Void

    public init(output: AsyncThrowingStream<OutputChunk, any Error>,
                writeStdin: @escaping @Sendable ([UInt8]) async throws -> Void,
                closeStdin: @escaping @Sendable () async throws -> Void,
                resize: @escaping @Sendable (UInt16, UInt16) async throws -> Void,
                signal: @escaping @Sendable (Int32) async throws -> Void) {
        self.output = output; self.writeStdin = writeStdin; self.closeStdin = closeStdin
        self.resize = resize; self.signal = signal
    }
}

/// Drivers by name, with the daemon's default.
public struct DriverRegistry: Sendable {
    public let drivers: [String: any RuntimeDriver]
    public let defaultName: String

    public init(_ drivers: [any RuntimeDriver], defaultName: String) {
        var byName: [String: any RuntimeDriver] = [:]
        for d in drivers { byName[d.name] = d }
        self.drivers = byName
        self.defaultName = defaultName
    }

    public func driver(named name: String?) throws -> any RuntimeDriver {
        let n = name ?? defaultName
        guard let d = drivers[n] else {
            throw WarrenError(.invalidArgument, "unknown driver '\(n)' (have: \(drivers.keys.sorted().joined(separator: ", ")))")
        }
        return d
    }

    public var names: [String] { drivers.keys.sorted() }
}
