import Foundation
import ImageStore
import Logging
import RuntimeDriver
import WarrenCore
import WarrenStore

/// The daemon's logic: sandbox lifecycle, persistence of every transition, events,
/// and the background wait per running sandbox.
///
/// Route handlers stay thin and call into this actor. Every state change goes
/// through `move(_:to:event:)`, which checks the state machine, writes the row and
/// the event in one transaction and publishes the event to live subscribers.
public actor SandboxManager {
    let store: WarrenStore
    let drivers: DriverRegistry
    let metrics: DaemonMetrics
    let logger: Logger
    /// Images sandboxes run; nil where a daemon has no store (some tests).
    public let images: ImageStore?
    /// Grace period of a stop that names none.
    public let defaultStopGrace: Duration

    /// Background `driver.wait` per sandbox that may still run.
    var waiters: [String: Task<Void, Never>] = [:]
    /// Sandboxes a client asked to stop: their exit reason becomes `stopped`.
    var stopRequested: Set<String> = []
    /// Sandboxes in `running`, for the gauge.
    var running: Set<String> = []
    /// Live event subscribers.
    var subscribers: [UUID: AsyncStream<SandboxEvent>.Continuation] = [:]
    /// Tasks feeding open streams (follow logs, events, exec), cancelled at shutdown.
    var pumps: [UUID: Task<Void, Never>] = [:]
    var isShuttingDown = false
    /// The LLM facade; nil where the daemon serves none (some tests), so `--llm` is refused.
    let facade: LLMFacadeService?
    /// Egress proxies; nil where the daemon serves none (some tests), so egress is refused.
    let egress: EgressService?
    /// Notebook tokens, links and sessions; nil where the daemon serves none, so `--notebook` is refused.
    let notebooks: NotebookAccess?
    /// Which host paths clients may bind into sandboxes.
    let mountPolicy: MountPolicy
    /// The free space the data root keeps; nil where a daemon checks none (some tests).
    let storageFloor: StorageFloor?

    /// Creates a manager over `store`, using `drivers` to run sandboxes.
    public init(store: WarrenStore, drivers: DriverRegistry, metrics: DaemonMetrics = DaemonMetrics(),
                defaultStopGrace: Duration = .seconds(10), images: ImageStore? = nil, facade: LLMFacadeService? = nil,
                notebooks: NotebookAccess? = nil, egress: EgressService? = nil, mountPolicy: MountPolicy = MountPolicy(),
                storageFloor: StorageFloor? = nil, logger: Logger) {
        self.store = store
        self.mountPolicy = mountPolicy
        self.storageFloor = storageFloor
        self.facade = facade
        self.egress = egress
        self.notebooks = notebooks
        self.images = images
        self.drivers = drivers
        self.metrics = metrics
        self.defaultStopGrace = defaultStopGrace
        self.logger = logger
    }

    // MARK: - Create and start

    /// Validates `spec`, persists a new sandbox, creates it with its driver and starts it.
    ///
    /// Returns the sandbox once it runs. When the driver fails, the sandbox is marked
    /// `failed`, the driver's leftovers are removed and the error is rethrown.
    ///
    /// `daemonMounts` are binds of directories the daemon made itself (under its data
    /// root, which the mount policy refuses to clients), such as an agent's worktree of
    /// its own clone.
    public func create(_ spec: SandboxSpec, daemonMounts: [MountSpec] = []) async throws -> SandboxInfo {
        guard !isShuttingDown else { throw WarrenError(.unavailable, "the daemon is shutting down") }
        var spec = spec
        spec.relays = []
        try Self.validate(spec)
        spec.mounts = try mountPolicy.check(spec.mounts)
            + daemonMounts.map { MountSpec(source: $0.source, destination: $0.destination, readOnly: $0.readOnly, managed: true) }
        if let rootfs = spec.rootfs { spec.rootfs = try mountPolicy.checkRootfs(rootfs) }
        try storageFloor?.check()
        if let access = spec.llm {
            guard let facade else { throw WarrenError(.unavailable, "this daemon serves no LLM facade") }
            _ = try await facade.validate(access)
        }
        if let access = spec.egress {
            guard let egress else { throw WarrenError(.unavailable, "this daemon serves no egress proxy") }
            spec.egress = try await egress.prepare(access)
        }
        if spec.notebook {
            guard notebooks != nil else { throw WarrenError(.unavailable, "this daemon serves no notebooks") }
            if spec.command.isEmpty { spec.command = [NotebookPaths.launcher] }
        }
        let driver = try drivers.driver(named: spec.driver)
        spec.limits = spec.limits.withDefaults(driver.defaultLimits)
        let availability = await driver.availability()
        guard availability.available else {
            throw WarrenError(.unavailable, "driver \(driver.name) is not available: \(availability.detail ?? "unknown reason")")
        }

        // From resolving the image until the row that references it exists, garbage
        // collection must not take the image's content away.
        let lease = spec.image == nil || driver.imageSource != .unpackedByDaemon ? nil : images
        await lease?.acquireLease()
        let id = SandboxID.generate()
        do {
            spec.resolvedImage = nil
            if driver.imageSource == .unpackedByDaemon {
                try await applyImage(to: &spec)
            } else if spec.rootfs != nil {
                throw WarrenError(.invalidArgument, "driver \(driver.name) runs images: give an IMAGE instead of --rootfs")
            }
            try await driver.preflight(spec: spec)
            let info = SandboxInfo(id: id, name: spec.name, driver: driver.name, state: .created, spec: spec, createdAt: Date())
            publish(try await store.insert(info))
        } catch {
            await lease?.releaseLease()
            throw error
        }
        await lease?.releaseLease()
        metrics.sandboxesCreated.increment()
        let log = logger.with(id)
        log.info("sandbox created", metadata: ["driver": "\(driver.name)", "name": "\(spec.name ?? "")"])

        do {
            try await driver.create(id: id, spec: try await withNotebook(id, try await withEgress(id, try await withFacade(id, spec))))
        } catch {
            throw await failStart(id, driver: driver, error: error, phase: "create")
        }
        try await move(id, to: .starting, event: "start")
        let run: DriverRunInfo
        do {
            run = try await driver.start(id: id)
        } catch {
            throw await failStart(id, driver: driver, error: error, phase: "start")
        }
        do {
            try await move(id, to: .running, event: "running", detail: "pid \(run.pid)") {
                $0.pid = run.pid
                $0.startedAt = Date()
            }
        } catch let error as WarrenError where error.code == .invalidState {
            // A concurrent stop moved it on; the waiter below still records the exit.
            log.debug("sandbox left starting before it ran", metadata: ["error": "\(error.message)"])
        }
        startWaiter(id, driver: driver)
        return try await current(id)
    }

    /// Marks a sandbox whose create or start failed, cleans up after the driver,
    /// and returns the error to throw.
    func failStart(_ id: String, driver: any RuntimeDriver, error: any Error, phase: String) async -> WarrenError {
        let wrapped = WarrenError.wrap(error)
        let log = logger.with(id)
        await facade?.revoke(id)
        await egress?.close(id)
        await notebooks?.close(id)
        log.error("sandbox \(phase) failed", metadata: ["error": "\(wrapped.message)"])
        metrics.sandboxesFailed.increment()
        do {
            try await move(id, to: .failed, event: "fail", detail: wrapped.message) {
                $0.error = wrapped.message
                $0.reason = "failed"
                $0.finishedAt = Date()
                $0.pid = nil
            }
        } catch {
            log.error("cannot mark sandbox failed", metadata: ["error": "\(error)"])
        }
        do {
            try await driver.remove(id: id)
        } catch {
            log.warning("cleanup after failed \(phase) failed", metadata: ["error": "\(error)"])
        }
        if let info = try? await store.sandboxes.get(id: id), info.spec.autoRemove {
            _ = try? await move(id, to: .removed, event: "remove")
        }
        return wrapped
    }

    /// The spec the driver gets: with LLM access, a token is issued and the guest's
    /// environment names the facade (the stored spec never holds the token).
    func withFacade(_ id: String, _ spec: SandboxSpec) async throws -> SandboxSpec {
        guard let access = spec.llm, let facade else { return spec }
        let (env, relay) = try await facade.issue(id: id, access: access,
                                                  lifetime: spec.limits.timeoutSeconds.map { .seconds($0) })
        let names = Set(env.map { String($0.prefix { $0 != "=" }) })
        var guest = spec
        guest.env = spec.env.filter { !names.contains(String($0.prefix { $0 != "=" })) } + env
        guest.relays.append(relay)
        return guest
    }

    /// A sandbox's use of the LLM facade, per provider and model.
    public func usage(_ reference: String) async throws -> SandboxUsage {
        let info = try await store.sandboxes.resolve(reference)
        // Calls are written behind; what has been answered so far is counted.
        await facade?.proxy.accounts.flush()
        return SandboxUsage(id: info.id, name: info.name, llm: info.spec.llm, usage: try await store.llm.usage(sandboxID: info.id))
    }

    // MARK: - Queries

    /// One sandbox by id, unique id prefix or name.
    public func inspect(_ reference: String) async throws -> SandboxInfo {
        try await store.sandboxes.resolve(reference)
    }

    /// Sandboxes that are not finished, or with `all` every sandbox not removed; newest first.
    public func list(all: Bool = false) async throws -> [SandboxInfo] {
        let rows = try await store.sandboxes.list()
        return all ? rows : rows.filter { !$0.state.isTerminal }
    }

    /// The daemon's description of itself and its drivers.
    public func info(dataRoot: String) async throws -> DaemonInfo {
        var infos: [DriverInfo] = []
        for name in drivers.names {
            guard let driver = drivers.drivers[name] else { continue }
            let availability = await driver.availability()
            infos.append(DriverInfo(name: name, available: availability.available, detail: availability.detail,
                                    capabilities: await driver.capabilities()))
        }
        return DaemonInfo(version: warrenVersion, dataRoot: dataRoot, defaultDriver: drivers.defaultName,
                          drivers: infos, sandboxes: try await store.sandboxes.countByState())
    }

    // MARK: - Transitions

    /// Moves a sandbox to `state`, persisting the row and the event together, then publishes the event.
    @discardableResult
    func move(_ id: String, to state: SandboxState, event: String, detail: String? = nil,
              _ mutate: @escaping @Sendable (inout SandboxInfo) -> Void = { _ in }) async throws -> SandboxInfo {
        let (info, ev) = try await store.transition(id: id, to: state, eventType: event, detail: detail, mutate)
        publish(ev)
        if state == .running { running.insert(id) } else { running.remove(id) }
        metrics.sandboxesRunning.record(running.count)
        logger.with(id).info("sandbox \(state.rawValue)", metadata: detail.map { ["detail": "\($0)"] } ?? [:])
        return info
    }

    func current(_ id: String) async throws -> SandboxInfo {
        guard let info = try await store.sandboxes.get(id: id) else {
            throw WarrenError(.notFound, "no such sandbox: \(id)")
        }
        return info
    }

    func driver(for info: SandboxInfo) throws -> any RuntimeDriver {
        guard let driver = drivers.drivers[info.driver] else {
            throw WarrenError(.unavailable, "driver \(info.driver) of sandbox \(info.shortID) is not configured")
        }
        return driver
    }
}

extension Logger {
    /// This logger with the sandbox id as metadata.
    func with(_ sandboxID: String) -> Logger {
        var copy = self
        copy[metadataKey: "sandbox"] = "\(sandboxID.prefix(12))"
        return copy
    }
}
