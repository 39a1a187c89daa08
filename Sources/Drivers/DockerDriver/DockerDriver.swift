#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import RuntimeDriver
import WarrenCore

/// Runs sandboxes as Docker containers through the Engine API, hardened by default:
/// no capabilities, no-new-privileges under Docker's default seccomp profile, memory,
/// CPU and process limits, an init, no network (or a network of the sandbox's own with
/// no route out), every object labelled with its sandbox and this daemon.
///
/// The driver keeps no state of its own: the containers and their labels are the
/// state, so a restarted daemon finds its sandboxes through `list` and `inspect`.
public actor DockerDriver: RuntimeDriver {
    public nonisolated let name = "docker"
    public nonisolated var imageSource: DriverImageSource { .resolvedByDriver }
    let endpoint: DockerEndpoint
    /// Value of the owner label: which daemon (data root) made an object.
    public nonisolated let owner: String
    let localImages: (any LocalImageSource)?
    let logger: Logger
    private var client: DockerClient?
    /// Listeners relaying the LLM facade into running containers, by sandbox.
    var relays: [String: [Int32]] = [:]
    /// Per sandbox without a network, the name server's socket on its loopback.
    var nameServers: [String: Int32] = [:]
    static let nameServerResolvConf = "nameserver 127.0.0.1\n"
    /// The static program a sandbox's network-namespace holder runs (`warren-pause`); nil
    /// when it is missing, and the relay then joins the workload's namespace once it runs.
    let pauseProgram: String?

    /// - Parameters:
    ///   - owner: tells this daemon's containers from those of another daemon on the same engine.
    ///   - localImages: Warren's own image store, for images Docker does not have.
    ///   - pauseProgram: `warren-pause`, which holds the network namespace of sandboxes with LLM access.
    public init(endpoint: DockerEndpoint, owner: String, localImages: (any LocalImageSource)? = nil,
                pauseProgram: String? = nil, logger: Logger) {
        self.pauseProgram = pauseProgram.flatMap { FileManager.default.isExecutableFile(atPath: $0) ? $0 : nil }
        self.endpoint = endpoint
        self.owner = owner
        self.localImages = localImages
        self.logger = logger
    }

    /// The engine's client, connecting (and negotiating the API version) on first use
    /// and again after a failure.
    func engine() async throws -> DockerClient {
        if let client { return client }
        let connected = try await DockerClient.connect(endpoint, logger: logger)
        client = connected
        return connected
    }

    public func availability() async -> DriverAvailability {
        do {
            let engine = try await engine()
            return DriverAvailability(available: true, detail: "Docker \(engine.engineVersion) (API \(engine.apiVersion)) at \(endpoint)")
        } catch {
            client = nil
            return DriverAvailability(available: false, detail: WarrenError.wrap(error).message)
        }
    }

    nonisolated func container(_ id: String) -> String { DockerContainerPlan.name(id) }
    nonisolated var ownerLabels: [String: String] { [DockerContainerPlan.ownerLabel: owner] }

    // MARK: - Create and start

    public func create(id: String, spec: SandboxSpec) async throws {
        guard spec.rootfs == nil, let reference = spec.image else {
            throw WarrenError(.invalidArgument, "the docker driver runs images: give an IMAGE instead of --rootfs")
        }
        let engine = try await engine()
        try await checkDisk(spec, engine: engine)
        // The daemon checked resolved sources: one that resolves elsewhere now was swapped.
        for m in spec.mounts where m.managed != true {
            guard let resolved = realpath(m.source, nil) else {
                throw WarrenError(.invalidArgument, "mount source \(m.source) does not exist")
            }
            defer { free(resolved) }
            guard String(cString: resolved) == m.source else {
                throw WarrenError(.forbidden, "mount source \(m.source) changed into a symlink after it was checked")
            }
        }
        let image = try await ensureImage(reference, engine: engine)
        if !spec.mounts.isEmpty, let why = DockerContainerPlan.bindRefusal(
            spec: spec, imageUser: try await engine.inspectImage(image)?.Config?.User) {
            throw WarrenError(.forbidden, why)
        }
        var network = "none"
        if spec.network == .internal {
            _ = try await engine.createNetwork(DockerContainerPlan.networkConfig(id: id, owner: owner))
            network = container(id)
        }
        var workloadNetwork = network
        do {
            if !spec.relays.isEmpty, let pause = pauseProgram {
                let holder = DockerContainerPlan.netnsHolderConfig(id: id, spec: spec, image: image, owner: owner,
                                                                   network: network, pause: pause)
                _ = try await engine.createContainer(name: DockerContainerPlan.holderName(id), holder)
                workloadNetwork = "container:" + DockerContainerPlan.holderName(id)
            }
            if let relay = spec.relays.first, spec.network == .none {
                let file = DockerContainerPlan.nameServerResolvConf(relay)
                if (try? String(contentsOfFile: file, encoding: .utf8)) != Self.nameServerResolvConf {
                    try Data(Self.nameServerResolvConf.utf8).write(to: URL(fileURLWithPath: file), options: .atomic)
                    chmod(file, 0o644)
                }
            }
            let config = DockerContainerPlan.containerConfig(id: id, spec: spec, image: image, owner: owner,
                                                             network: workloadNetwork)
            let created = try await engine.createContainer(name: container(id), config)
            for warning in created.Warnings ?? [] {
                logger.warning("docker: \(warning)", metadata: ["sandbox": "\(id.prefix(12))"])
            }
        } catch {
            // Nothing half made stays behind: not the network, not a container Docker
            // may have registered before failing.
            _ = try? await engine.removeContainer(container(id))
            _ = try? await engine.removeContainer(DockerContainerPlan.holderName(id))
            if network != "none" { _ = try? await engine.removeNetwork(network) }
            throw error
        }
    }

    /// Refuses before anything is recorded what Docker cannot honour: binds for a workload
    /// that runs as root (when Docker already has the image to tell), a disk cap the
    /// engine cannot enforce.
    public func preflight(spec: SandboxSpec) async throws {
        let engine = try await engine()
        try await checkDisk(spec, engine: engine)
        if let reference = spec.image, spec.mounts.contains(where: { $0.managed != true }) {
            let imageUser: String? = (try? await engine.inspectImage(reference))?.Config?.User
            if spec.user != nil || imageUser != nil,
               let why = DockerContainerPlan.bindRefusal(spec: spec, imageUser: imageUser) {
                throw WarrenError(.forbidden, why)
            }
        }
    }

    func checkDisk(_ spec: SandboxSpec, engine: DockerClient) async throws {
        if spec.limits.diskBytes != nil, let why = try await engine.systemInfo().diskQuotaRefusal {
            throw WarrenError(.unsupported, why + ": --disk cannot be enforced; use the native driver")
        }
    }

    public func start(id: String) async throws -> DriverRunInfo {
        let engine = try await engine()
        try await startNetnsHolder(id, engine: engine)
        do {
            try await engine.startContainer(container(id))
        } catch {
            stopRelay(id)
            _ = try? await engine.killContainer(DockerContainerPlan.holderName(id), signal: SIGKILL)
            throw error
        }
        guard let started = try await engine.inspectContainer(container(id)) else {
            throw WarrenError(.notFound, "the container of sandbox \(id.prefix(12)) disappeared while starting")
        }
        // The engine's create takes no terminal size before API 1.42: set it now.
        if let size = started.Config?.Labels?[DockerContainerPlan.consoleSizeLabel]?.split(separator: "x"),
           size.count == 2, let rows = UInt16(size[0]), let cols = UInt16(size[1]) {
            try? await engine.resizeContainer(started.Id, rows: rows, cols: cols)
        }
        do {
            try ensureRelay(id, container: started)
        } catch {
            // A container that already ended needs no relay; its waiter records the exit.
            if try await engine.inspectContainer(container(id))?.State.Running == true { throw error }
        }
        return DriverRunInfo(pid: started.State.Pid ?? 0)
    }

    // MARK: - Wait, stop, remove

    /// Waits for the container to stop, enforcing the sandbox's wall-clock limit from
    /// its start (so a re-adopted sandbox keeps its deadline).
    public func wait(id: String) async throws -> DriverExit {
        let engine = try await engine()
        let name = container(id)
        guard let before = try await engine.inspectContainer(name) else { return Self.removedExit(code: nil) }
        // A re-adopted sandbox gets its facade relay back.
        do { try ensureRelay(id, container: before) } catch {
            logger.error("\(WarrenError.wrap(error).message)", metadata: ["sandbox": "\(id.prefix(12))"])
        }
        defer { stopRelay(id) }
        var timedOut = false
        if let limit = before.Config?.Labels?[DockerContainerPlan.timeoutLabel].flatMap(Double.init),
           let started = before.State.StartedAt.flatMap({ DockerLogDecoder.parseTimestamp(Array($0.utf8)) }) {
            let deadline = Double(started) / 1e9 + limit
            timedOut = try await waitOrDeadline(name, engine: engine, until: deadline)
        }
        let result: DockerWaitResult?
        do {
            result = try await engine.waitContainer(name)
        } catch let error as WarrenError where error.code == .notFound {
            result = nil
        }
        await stopNetnsHolder(id, engine: engine)
        // `docker rm -f` marks the container as being removed before it kills it.
        guard let after = try await engine.inspectContainer(name), after.State.Status != "removing" else {
            return Self.removedExit(code: result.map { Int32(truncatingIfNeeded: $0.StatusCode) })
        }
        let code = after.State.ExitCode ?? result.map { Int32(truncatingIfNeeded: $0.StatusCode) } ?? 137
        if timedOut { return DriverExit(exitCode: code, reason: "timeout", error: "killed after the sandbox's time limit") }
        // Docker flags any OOM kill in the container; it ended the sandbox only if the main process died of it.
        if after.State.OOMKilled == true && code == 137 {
            return DriverExit(exitCode: code, reason: "killed", error: "out of memory: the sandbox reached its memory limit")
        }
        if let message = after.State.Error, !message.isEmpty {
            return DriverExit(exitCode: code, reason: "failed", error: "docker: \(message)")
        }
        return DriverExit(exitCode: code, reason: "exited")
    }

    /// Waits until the container stops or the deadline (seconds since 1970) passes; at
    /// the deadline the container is killed and true returned.
    private func waitOrDeadline(_ name: String, engine: DockerClient, until deadline: Double) async throws -> Bool {
        let remaining = deadline - Date().timeIntervalSince1970
        if remaining > 0 {
            let stoppedFirst = await withTaskGroup(of: Bool.self) { group in
                group.addTask { (try? await engine.waitContainer(name)) != nil }
                group.addTask { try? await Task.sleep(for: .seconds(remaining)); return false }
                let first = await group.next() ?? false
                group.cancelAll()
                return first
            }
            if stoppedFirst { return false }
        }
        guard try await engine.inspectContainer(name)?.State.Running == true else { return false }
        try? await engine.killContainer(name, signal: SIGKILL)
        return true
    }

    /// The exit of a sandbox whose container was removed behind Warren's back.
    static func removedExit(code: Int32?) -> DriverExit {
        DriverExit(exitCode: code ?? 137, reason: "lost", error: "the container was removed outside Warren")
    }

    /// SIGTERM, then SIGKILL after `grace` (whole seconds, rounded up; zero kills at once).
    public func stop(id: String, grace: Duration) async throws {
        let engine = try await engine()
        do {
            if grace <= .zero {
                try await engine.killContainer(container(id), signal: SIGKILL)
            } else {
                let seconds = Int((Double(grace.components.seconds) + Double(grace.components.attoseconds) / 1e18).rounded(.up))
                try await engine.stopContainer(container(id), seconds: seconds)
            }
        } catch let error as WarrenError where error.code == .notFound || error.code == .conflict {
            // Gone already, or not running: nothing to stop.
        }
    }

    /// Removes the container (killing it if it runs) and the sandbox's network.
    public func remove(id: String) async throws {
        stopRelay(id)
        let engine = try await engine()
        try await engine.removeContainer(container(id))
        try await engine.removeContainer(DockerContainerPlan.holderName(id))
        try await engine.removeNetwork(container(id))
    }

    // MARK: - State

    public func inspect(id: String) async throws -> DriverStatus {
        guard let c = try await engine().inspectContainer(container(id)) else {
            // Removed behind Warren's back: the sandbox ended, Warren never saw how.
            return .exited(Self.removedExit(code: nil))
        }
        switch c.State.Status {
        case "created":
            return .created
        case "running", "paused", "restarting":
            return .running(pid: c.State.Pid ?? 0)
        default:
            let code = c.State.ExitCode ?? 137
            if c.State.OOMKilled == true && code == 137 {
                return .exited(DriverExit(exitCode: code, reason: "killed", error: "out of memory: the sandbox reached its memory limit"))
            }
            return .exited(DriverExit(exitCode: code, reason: "exited"))
        }
    }

    /// Sandboxes this daemon has containers or networks for.
    public func list() async throws -> [String] {
        let engine = try await engine()
        var ids = Set<String>()
        for c in try await engine.listContainers(labels: ownerLabels) {
            if let id = c.Labels?[DockerContainerPlan.sandboxLabel] { ids.insert(id) }
        }
        for n in try await engine.listNetworks(labels: ownerLabels) {
            if let id = n.Labels?[DockerContainerPlan.sandboxLabel] { ids.insert(id) }
        }
        return ids.sorted()
    }
}
