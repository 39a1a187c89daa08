import Foundation
import ImageStore
import LLMFacade
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import RuntimeDriver
import ServiceLifecycle
import UnixSignals
import WarrenCore
import WarrenStore

/// The Warren daemon: the store, the sandbox manager and the HTTP API on a Unix socket
/// (and optionally TCP with a bearer token), run as one service group.
public struct WarrenDaemon: Sendable {
    public let configuration: DaemonConfiguration
    public let drivers: DriverRegistry
    public let metrics: DaemonMetrics
    let logger: Logger
    /// The image store, when made before the daemon (the drivers share it); else `run` makes one.
    let images: ImageStore?
    /// Uids allowed on the Unix socket; nil means this process's uid and root. Tests narrow it.
    var allowedPeerUIDs: Set<uid_t>?

    /// A daemon over `drivers` (see `defaultDrivers(configuration:logger:)` for the real ones).
    public init(configuration: DaemonConfiguration, drivers: DriverRegistry, images: ImageStore? = nil,
                metrics: DaemonMetrics = DaemonMetrics(), logger: Logger) {
        self.configuration = configuration
        self.drivers = drivers
        self.images = images
        self.metrics = metrics
        self.logger = logger
    }

    /// Opens the store, reconciles, then serves until a signal in `gracefulShutdownSignals`
    /// arrives or the task is cancelled. `onReady` runs once the Unix socket accepts connections.
    public func run(gracefulShutdownSignals: [UnixSignal] = [.sigterm, .sigint],
                    onReady: @escaping @Sendable () async -> Void = {}) async throws {
        let config = configuration
        // Refuse a bad TCP set-up before touching any state.
        let token = try checkListenerSecurity()
        Self.raiseFileLimit(logger: logger)
        try Self.makeDirectory(config.dataRoot)
        let store = try WarrenStore(path: config.dataRoot + "/warren.db", logger: logger)
        let images = try self.images ?? ImageStore(dataRoot: config.dataRoot, logger: logger)
        let upstreams = try FacadeUpstreams.from(environment: ProcessInfo.processInfo.environment, file: config.llmSettings)
        let facade = LLMFacadeService(upstreams: upstreams, store: store, dataRoot: config.dataRoot, logger: logger)
        let notebooks = try NotebookAccess(dataRoot: config.dataRoot)
        let egress = EgressService(store: store, dataRoot: config.dataRoot, presets: config.egressPresets,
                                   secrets: config.egressSecrets, originTrust: config.egressTrustFile, logger: logger)
        let manager = SandboxManager(store: store, drivers: drivers, metrics: metrics, images: images, facade: facade,
                                     notebooks: notebooks, egress: egress, mountPolicy: config.mountPolicy,
                                     storageFloor: StorageFloor(path: config.dataRoot, minimumFreeBytes: config.minimumFreeBytes),
                                     logger: logger)
        await manager.reconcile()
        let agents = AgentManager(store: store, sandboxes: manager, clonesDirectory: config.dataRoot + "/agents/clones", logger: logger)
        await agents.resume()
        let registry = RegistryClient(options: RegistryOptions(insecureRegistries: Set(config.insecureRegistries)), logger: logger)

        var services: [any Service] = []
        try UnixSocket.prepare(config.socketPath, logger: logger)
        services.append(unixApplication(manager: manager, agents: agents, registry: registry, onReady: onReady))
        var gateway: NotebookGateway?
        if let listen = config.listen {
            let notebookGateway = NotebookGateway(access: notebooks, bearerToken: token, logger: logger)
            gateway = notebookGateway
            services.append(tcpApplication(manager: manager, agents: agents, registry: registry, listen: listen, token: token, gateway: notebookGateway))
        }
        // Last in the list, so shut down first: it ends open streams, letting the servers drain.
        services.append(ManagerService(manager: manager, agents: agents))

        let group = ServiceGroup(configuration: .init(
            services: services, gracefulShutdownSignals: gracefulShutdownSignals, logger: logger))
        logger.info("warren daemon starting", metadata: [
            "socket": "\(config.socketPath)", "dataRoot": "\(config.dataRoot)",
            "drivers": "\(drivers.names.joined(separator: ","))", "version": "\(warrenVersion)",
            "llm": "\(upstreams.configured.map(\.rawValue).joined(separator: ","))",
        ])
        defer { unlink(config.socketPath) }
        do { try await group.run() } catch {
            await registry.shutdown()
            await gateway?.shutdown()
            throw error
        }
        await registry.shutdown()
        await gateway?.shutdown()
        logger.info("warren daemon stopped")
    }

    // MARK: - Listeners

    private func unixApplication(manager: SandboxManager, agents: AgentManager, registry: RegistryClient,
                                 onReady: @escaping @Sendable () async -> Void) -> some Service {
        var deps = APIRouter.Dependencies(manager: manager, metrics: metrics, dataRoot: configuration.dataRoot,
                                          registry: registry, registryConfigPath: configuration.registryConfigPath)
        deps.agents = agents
        deps.notebookBaseURL = configuration.listen?.baseURL
        let path = configuration.socketPath
        let logger = self.logger
        let allowed = allowedPeerUIDs ?? [getuid(), geteuid(), 0]
        let facade = manager.facade?.proxy
        let limits = configuration.connectionLimits
        let refusedPeers = PeerConnectionCounter(limit: limits.unauthenticatedPerPeer)
        return Application(
            router: APIRouter.build(deps),
            server: HTTPServerBuilder { responder in
                DaemonSocketChannel(responder: responder, allowedUIDs: allowed, facade: facade, limits: limits,
                                    refusedPeers: refusedPeers)
            },
            configuration: .init(address: .unixDomainSocket(path: path), serverName: "warren/\(warrenVersion)"),
            onServerRunning: { _ in
                do {
                    try UnixSocket.restrict(path)
                    logger.info("listening", metadata: ["socket": "\(path)"])
                } catch {
                    logger.critical("cannot restrict the socket's mode", metadata: ["error": "\(error)"])
                }
                await onReady()
            },
            logger: logger)
    }

    /// The bearer token TCP clients need; throws when a non-loopback listener would have none.
    func checkListenerSecurity() throws -> String? {
        guard let listen = configuration.listen else { return nil }
        let token = try configuration.tokenFile.map(Self.readToken)
        if token == nil {
            guard listen.isLoopback else {
                throw WarrenError(.invalidArgument, "refusing to listen on \(listen) without --token-file")
            }
            logger.warning("TCP listener without a token: any local user can use the API", metadata: ["address": "\(listen)"])
        }
        return token
    }

    /// The TCP listener: the API behind the bearer token, and notebooks (HTTP and
    /// WebSocket) behind their own cookies.
    private func tcpApplication(manager: SandboxManager, agents: AgentManager, registry: RegistryClient, listen: DaemonConfiguration.HostPort,
                                token: String?, gateway: NotebookGateway) -> some Service {
        var deps = APIRouter.Dependencies(manager: manager, metrics: metrics, dataRoot: configuration.dataRoot,
                                          bearerToken: token, registry: registry, registryConfigPath: configuration.registryConfigPath)
        deps.agents = agents
        deps.notebookGateway = gateway
        deps.notebookBaseURL = listen.baseURL
        deps.acceptsHostPaths = false
        let logger = self.logger
        let limits = configuration.connectionLimits
        let peers = PeerConnectionCounter(limit: limits.unauthenticatedPerPeer)
        return Application(
            router: APIRouter.build(deps),
            server: HTTPServerBuilder { responder in
                NotebookHTTPChannel(responder: responder, gateway: gateway, limits: limits, peers: peers,
                                    authenticates: token != nil)
            },
            configuration: .init(address: .hostname(listen.host, port: listen.port), serverName: "warren/\(warrenVersion)"),
            onServerRunning: { channel in
                logger.info("listening", metadata: ["address": "\(channel.localAddress?.description ?? "\(listen)")"])
            },
            logger: logger)
    }

    /// Open files up to the hard limit, as container engines do: every connection, log
    /// reader and sandbox costs descriptors.
    static func raiseFileLimit(logger: Logger) {
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
        limit.rlim_cur = limit.rlim_max
        if setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) != 0 {
            logger.notice("cannot raise the open-file limit", metadata: ["hard": "\(limit.rlim_max)"])
        }
    }

    // MARK: - Files

    /// The first line of `path`, which must be non-empty.
    static func readToken(_ path: String) throws -> String {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw WarrenError(.invalidArgument, "cannot read token file \(path)")
        }
        let token = text.split(whereSeparator: \.isNewline).first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        guard token.count >= 16 else {
            throw WarrenError(.invalidArgument, "token in \(path) must be at least 16 characters")
        }
        return token
    }

    /// Creates `path` (and its parents) with mode 0700: the data root and directories in it.
    static func makeDirectory(_ path: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        } catch {
            throw WarrenError(.internalError, "cannot create \(path): \(error)")
        }
    }
}

/// Keeps the manager alive in the service group and shuts it down gracefully.
struct ManagerService: Service {
    let manager: SandboxManager
    let agents: AgentManager

    func run() async throws {
        try? await gracefulShutdown()
        await agents.shutdown()
        await manager.shutdown()
        await manager.facade?.shutdown()
        await manager.egress?.shutdown()
    }
}
