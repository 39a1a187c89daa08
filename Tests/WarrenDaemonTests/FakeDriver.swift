import Foundation
import RuntimeDriver
import WarrenCore

/// A scriptable `RuntimeDriver` for lifecycle and route tests.
///
/// Sandboxes "run" until the test calls `exit(_:code:)`, or `stop`/`remove` ends them.
/// Every call is recorded so tests can check what the manager asked for.
actor FakeDriver: RuntimeDriver {
    nonisolated let name: String

    private(set) var calls: [String] = []
    private(set) var stopGraces: [String: Duration] = [:]
    var failCreate: WarrenError?
    var failStart: WarrenError?
    /// When set, every sandbox exits with this as soon as it starts.
    var exitOnStart: DriverExit?
    /// Overrides of `inspect`, for reconciliation tests.
    var statuses: [String: DriverStatus] = [:]
    /// What `list()` reports: sandboxes the driver holds resources for.
    var held: Set<String> = []
    var output: [String: [LogRecord.Decoded]] = [:]

    private var exits: [String: DriverExit] = [:]
    private var waiters: [String: [CheckedContinuation<DriverExit, Never>]] = [:]

    init(name: String = "fake") { self.name = name }

    // MARK: - Test controls

    func set(failCreate: WarrenError? = nil, failStart: WarrenError? = nil, exitOnStart: DriverExit? = nil) {
        self.failCreate = failCreate
        self.failStart = failStart
        self.exitOnStart = exitOnStart
    }

    func set(status: DriverStatus, for id: String) { statuses[id] = status }
    func hold(_ id: String) { held.insert(id) }

    func write(_ text: String, to stream: LogStream = .stdout, for id: String) {
        let bytes = LogRecord.encode(stream: stream, payload: Array(text.utf8), timeNanos: 1_700_000_000_000_000_000)
        output[id, default: []].append(contentsOf: LogRecord.decode(bytes).records)
    }

    /// Ends the sandbox's main process.
    func exit(_ id: String, code: Int32, reason: String = "exited") {
        finish(id, DriverExit(exitCode: code, reason: reason))
    }

    func calls(_ verb: String) -> [String] {
        calls.filter { $0.hasPrefix(verb + " ") }.map { String($0.dropFirst(verb.count + 1)) }
    }

    // MARK: - RuntimeDriver

    func availability() async -> DriverAvailability { DriverAvailability(available: true, detail: "test double") }

    func capabilities() async -> CapabilityReport {
        CapabilityReport([.init("seccomp", .unsupported, "test double enforces nothing")])
    }

    func create(id: String, spec: SandboxSpec) async throws {
        calls.append("create \(id)")
        if let failCreate { throw failCreate }
        held.insert(id)
    }

    func start(id: String) async throws -> DriverRunInfo {
        calls.append("start \(id)")
        if let failStart { throw failStart }
        if let exitOnStart { finish(id, exitOnStart) }
        return DriverRunInfo(pid: 4242)
    }

    func wait(id: String) async throws -> DriverExit {
        if let exit = exits[id] { return exit }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { waiters[id, default: []].append($0) }
        } onCancel: {
            Task { await self.cancelWaits(id) }
        }
    }

    func stop(id: String, grace: Duration) async throws {
        calls.append("stop \(id)")
        stopGraces[id] = grace
        finish(id, DriverExit(exitCode: 143, reason: "killed"))
    }

    func remove(id: String) async throws {
        calls.append("remove \(id)")
        held.remove(id)
        finish(id, DriverExit(exitCode: 137, reason: "killed"))
    }

    func inspect(id: String) async throws -> DriverStatus {
        if let status = statuses[id] { return status }
        if let exit = exits[id] { return .exited(exit) }
        return held.contains(id) ? .running(pid: 4242) : .missing
    }

    func list() async throws -> [String] { held.sorted() }

    func logs(id: String, follow: Bool) async throws -> AsyncThrowingStream<LogRecord.Decoded, any Error> {
        let records = output[id] ?? []
        return AsyncThrowingStream { continuation in
            let task = Task {
                for record in records { continuation.yield(record) }
                if follow { _ = try? await self.wait(id: id) }
                continuation.finish()
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    func exec(id: String, request: ExecRequest) async throws -> ExecSession {
        calls.append("exec \(id) \(request.command.joined(separator: " "))")
        let text = "ran \(request.command.joined(separator: " "))\n"
        let output = AsyncThrowingStream<OutputChunk, any Error> { continuation in
            continuation.yield(.output(.stdout, Array(text.utf8)))
            continuation.yield(.output(.stderr, Array("warn\n".utf8)))
            continuation.yield(.exit(3))
            continuation.finish()
        }
        return ExecSession(output: output, writeStdin: { _ in }, closeStdin: {}, resize: { _, _ in }, signal: { _ in })
    }

    // MARK: - Internals

    private func finish(_ id: String, _ exit: DriverExit) {
        guard exits[id] == nil else { return }
        exits[id] = exit
        for waiter in waiters.removeValue(forKey: id) ?? [] { waiter.resume(returning: exit) }
    }

    private func cancelWaits(_ id: String) {
        for waiter in waiters.removeValue(forKey: id) ?? [] {
            waiter.resume(returning: DriverExit(exitCode: -1, reason: "cancelled"))
        }
    }
}
