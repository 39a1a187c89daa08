import Foundation

/// A sandbox as the API reports it.
public struct SandboxInfo: Codable, Sendable, Equatable {
    public var id: String
    public var name: String?
    public var driver: String
    public var state: SandboxState
    public var spec: SandboxSpec
    public var createdAt: Date
    public var startedAt: Date?
    public var finishedAt: Date?
    /// Exit code of the main process (128+signal when killed), once it exited.
    public var exitCode: Int32?
    /// Why the sandbox ended when it was not a plain exit: `timeout`, `stopped`, `oom`, `lost`.
    public var reason: String?
    /// Error text when the sandbox failed.
    public var error: String?
    /// Host pid of the driver's process for this sandbox, while it runs.
    public var pid: Int32?

    public init(id: String, name: String?, driver: String, state: SandboxState, spec: SandboxSpec,
                createdAt: Date, startedAt: Date? = nil, finishedAt: Date? = nil, exitCode: Int32? = nil,
                reason: String? = nil, error: String? = nil, pid: Int32? = nil) {
        self.id = id; self.name = name; self.driver = driver; self.state = state; self.spec = spec
        self.createdAt = createdAt; self.startedAt = startedAt; self.finishedAt = finishedAt
        self.exitCode = exitCode; self.reason = reason; self.error = error; self.pid = pid
    }

    public var shortID: String { String(id.prefix(12)) }
}

/// Body of `POST /v1/sandboxes/{id}/stop`.
public struct StopRequest: Codable, Sendable {
    public var graceSeconds: Double?
    public init(graceSeconds: Double? = nil) { self.graceSeconds = graceSeconds }
}

/// Body of `POST /v1/sandboxes/{id}/exec`: the first NDJSON line of the request body;
/// `AttachInput` lines may follow (stdin when `stdin` is set, resize, signals).
public struct ExecRequest: Codable, Sendable {
    public var command: [String]
    public var env: [String]
    public var workdir: String?
    public var user: String?
    public var tty: Bool
    /// Keep the process's stdin open for the client's input.
    public var stdin: Bool
    public var consoleSize: TerminalSize?

    public init(command: [String], env: [String] = [], workdir: String? = nil, user: String? = nil,
                tty: Bool = false, stdin: Bool = false, consoleSize: TerminalSize? = nil) {
        self.command = command; self.env = env; self.workdir = workdir; self.user = user; self.tty = tty
        self.stdin = stdin; self.consoleSize = consoleSize
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        command = try c.decode([String].self, forKey: .command)
        env = try c.decodeIfPresent([String].self, forKey: .env) ?? []
        workdir = try c.decodeIfPresent(String.self, forKey: .workdir)
        user = try c.decodeIfPresent(String.self, forKey: .user)
        tty = try c.decodeIfPresent(Bool.self, forKey: .tty) ?? false
        stdin = try c.decodeIfPresent(Bool.self, forKey: .stdin) ?? false
        consoleSize = try c.decodeIfPresent(TerminalSize.self, forKey: .consoleSize)
    }
}

/// One line of a streamed output (logs and exec), NDJSON on the wire.
///
/// `stream` is `stdout`, `stderr` or `exit`; data is base64 so binary output survives.
public struct OutputChunk: Codable, Sendable, Equatable {
    public var stream: String
    public var time: Date?
    public var data: String?
    public var exitCode: Int32?

    public init(stream: String, time: Date? = nil, data: String? = nil, exitCode: Int32? = nil) {
        self.stream = stream; self.time = time; self.data = data; self.exitCode = exitCode
    }

    public static func output(_ stream: LogStream, _ bytes: [UInt8], time: Date? = nil) -> OutputChunk {
        OutputChunk(stream: stream.name, time: time, data: Data(bytes).base64EncodedString())
    }

    public static func exit(_ code: Int32) -> OutputChunk { OutputChunk(stream: "exit", exitCode: code) }

    public var bytes: [UInt8] { data.flatMap { Data(base64Encoded: $0) }.map { [UInt8]($0) } ?? [] }
}

/// A lifecycle event, persisted and streamed by `GET /v1/events`.
public struct SandboxEvent: Codable, Sendable, Equatable {
    public var seq: Int64
    public var time: Date
    public var sandboxID: String
    public var type: String
    public var state: SandboxState?
    public var detail: String?

    public init(seq: Int64, time: Date, sandboxID: String, type: String, state: SandboxState?, detail: String?) {
        self.seq = seq; self.time = time; self.sandboxID = sandboxID; self.type = type
        self.state = state; self.detail = detail
    }
}

/// `GET /v1/version`.
public struct VersionInfo: Codable, Sendable {
    public var version: String
    public var apiVersion: String
    public var os: String
    public var arch: String
    public init(version: String, apiVersion: String, os: String, arch: String) {
        self.version = version; self.apiVersion = apiVersion; self.os = os; self.arch = arch
    }
}

/// `GET /v1/info`.
public struct DaemonInfo: Codable, Sendable {
    public var version: String
    public var dataRoot: String
    public var defaultDriver: String
    public var drivers: [DriverInfo]
    public var sandboxes: [String: Int]
    public init(version: String, dataRoot: String, defaultDriver: String, drivers: [DriverInfo], sandboxes: [String: Int]) {
        self.version = version; self.dataRoot = dataRoot; self.defaultDriver = defaultDriver
        self.drivers = drivers; self.sandboxes = sandboxes
    }
}

public struct DriverInfo: Codable, Sendable {
    public var name: String
    public var available: Bool
    public var detail: String?
    public var capabilities: CapabilityReport
    public init(name: String, available: Bool, detail: String?, capabilities: CapabilityReport) {
        self.name = name; self.available = available; self.detail = detail; self.capabilities = capabilities
    }
}

public let warrenVersion = "0.1.0"

extension VersionInfo {
    /// This build's version, on this machine's OS and architecture (named as OCI does).
    public static var current: VersionInfo {
        #if arch(x86_64)
        let arch = "amd64"
        #elseif arch(arm64)
        let arch = "arm64"
        #else
        let arch = "unknown"
        #endif
        return VersionInfo(version: warrenVersion, apiVersion: warrenAPIVersion, os: "linux", arch: arch)
    }
}
public let warrenAPIVersion = "v1"
