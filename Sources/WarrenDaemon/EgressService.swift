import EgressProxy
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import WarrenCore
import WarrenStore

/// The daemon's side of sandbox egress: one `EgressProxy` per sandbox that may reach
/// anything, served on a Unix socket of its own under `<data-root>/egress`, which the
/// sandbox's relay exposes on the guest's loopback. Its policy can change while it runs;
/// every connection it saw goes to the store's egress audit.
public actor EgressService {
    let store: WarrenStore
    /// `<data-root>/egress`: one socket per sandbox.
    let socketDirectory: String
    /// Named sets of allow patterns (`--egress-preset python`).
    let presets: [String: [String]]
    let logger: Logger
    let recorder: EgressRecorder
    private var served: [String: Served] = [:]

    struct Served {
        let proxy: EgressProxy
        let server: NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>
    }

    /// What a daemon offers when its configuration names no presets.
    public static let defaultPresets: [String: [String]] = [
        "python": ["pypi.org", "files.pythonhosted.org"],
        "node": ["registry.npmjs.org"],
        "git": ["github.com", "*.github.com", "codeload.github.com", "*.githubusercontent.com", "gitlab.com", "bitbucket.org"],
        "debian": ["deb.debian.org", "security.debian.org"],
    ]

    public init(store: WarrenStore, dataRoot: String, presets: [String: [String]] = EgressService.defaultPresets, logger: Logger) {
        self.store = store
        self.socketDirectory = dataRoot + "/egress"
        self.presets = presets
        self.logger = logger
        self.recorder = EgressRecorder(store: store, logger: logger)
    }

    /// The socket sandbox `id` is served on (the id shortened to keep the path within `sun_path`).
    func socketPath(_ id: String) -> String { socketDirectory + "/" + id.prefix(24) + ".sock" }

    /// Checks `access` and folds its presets into its allow patterns: what the sandbox's
    /// row keeps. A 400 names an unknown preset or a bad pattern.
    func prepare(_ access: EgressAccess) throws -> EgressAccess {
        var prepared = access
        for name in access.presets {
            guard let patterns = presets[name] else {
                throw WarrenError(.invalidArgument, "unknown egress preset '\(name.prefix(64))'; this daemon has: \(presets.keys.sorted().joined(separator: ", "))")
            }
            prepared = prepared.allowing(patterns.filter { p in !access.deny.contains { EgressAccess.same($0, p) } })
        }
        try prepared.validate()
        return prepared
    }

    /// Serves sandbox `id` and returns what its guest gets: the proxy environment and the relay.
    func open(id: String, access: EgressAccess) async throws -> (env: [String], relay: GuestRelay) {
        try await listen(id, access: access)
        return (EgressAccess.environment, GuestRelay(port: EgressAccess.guestPort, socketPath: socketPath(id)))
    }

    /// Serves sandbox `id`'s socket with `access`; returns once it accepts connections.
    /// A re-adopted sandbox's budget counts what it used before the restart.
    func listen(_ id: String, access: EgressAccess) async throws {
        if served[id] != nil { return }
        try WarrenDaemon.makeDirectory(socketDirectory)
        let hosts = try access.hostMap()
        await recorder.flush()
        let used = try await store.egress.bytesUsed(sandboxID: id)
        let recorder = self.recorder
        let proxy = EgressProxy(
            policy: try access.policy(), budget: EgressBudget(limit: access.budgetBytes, used: used),
            hostAddresses: HostAddresses.current(),
            resolve: { name in
                if let fixed = hosts[name] { return [fixed] }
                return try await EgressProxy.systemResolve(name)
            },
            record: { recorder.add(id, $0) })
        let path = socketPath(id)
        let server: NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>
        do {
            server = try await EgressProxy.bind(unixSocket: path)
        } catch {
            throw WarrenError(.internalError, "cannot serve the egress proxy at \(path): \(error)")
        }
        served[id] = Served(proxy: proxy, server: server)
        let log = logger
        Task {
            do { try await proxy.serve(server) } catch {
                log.debug("egress proxy ended", metadata: ["sandbox": "\(id.prefix(12))", "error": "\(error)"])
            }
        }
    }

    /// Applies a changed access to a running sandbox's proxy: new connections follow it.
    func update(_ id: String, access: EgressAccess) throws {
        guard let proxy = served[id]?.proxy else { return }
        proxy.policy = try access.policy()
        proxy.budget.limit = access.budgetBytes
    }

    /// Stops serving sandbox `id` and cuts its connections.
    func close(_ id: String) async {
        guard let entry = served.removeValue(forKey: id) else { return }
        try? await entry.server.channel.close()
        entry.proxy.closeConnections()
        unlink(socketPath(id))
    }

    /// Closes every proxy and writes what is recorded (the daemon is stopping).
    func shutdown() async {
        for id in served.keys { await close(id) }
        await recorder.flush()
    }
}

/// Writes egress records behind the proxies, in batches: a proxy never waits on SQLite.
final class EgressRecorder: Sendable {
    private let pending = NIOLockedValueBox<[(sandboxID: String, record: EgressRecord)]>([])
    private let store: WarrenStore
    private let logger: Logger
    /// Records held at most while the store lags; the oldest beyond are dropped.
    static let maxPending = 50_000

    init(store: WarrenStore, logger: Logger) {
        self.store = store
        self.logger = logger
    }

    func add(_ id: String, _ record: EgressRecord) {
        let first = pending.withLockedValue { list -> Bool in
            list.append((id, record))
            if list.count > Self.maxPending { list.removeFirst(list.count - Self.maxPending) }
            return list.count == 1
        }
        if first {
            Task {
                try? await Task.sleep(for: .milliseconds(200))
                await self.flush()
            }
        }
    }

    /// Writes everything recorded so far.
    func flush() async {
        let batch = pending.withLockedValue { list in
            defer { list = [] }
            return list
        }
        guard !batch.isEmpty else { return }
        do { try await store.egress.record(batch) } catch {
            logger.error("cannot write the egress audit", metadata: ["error": "\(error)", "records": "\(batch.count)"])
        }
    }
}
