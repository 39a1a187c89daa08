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
    /// Named header sets the proxy adds for hosts, from the daemon's config.
    let secrets: [String: EgressSecret]
    /// Extra CA certificates for origins whose TLS the proxy terminates.
    let originTrust: String?
    /// Made the first time a sandbox has secrets.
    private var authority: EgressAuthority?
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

    public init(store: WarrenStore, dataRoot: String, presets: [String: [String]] = EgressService.defaultPresets,
                secrets: [String: EgressSecret] = [:], originTrust: String? = nil, logger: Logger) {
        self.store = store
        self.socketDirectory = dataRoot + "/egress"
        self.presets = presets
        self.secrets = secrets
        self.originTrust = originTrust
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
        for name in access.secrets {
            guard let secret = secrets[name] else {
                let known = secrets.keys.sorted()
                throw WarrenError(.invalidArgument, "unknown egress secret '\(name.prefix(64))'; "
                                  + (known.isEmpty ? "this daemon has none (daemon.json: egress-secrets)" : "this daemon has: \(known.joined(separator: ", "))"))
            }
            prepared = prepared.allowing(secret.hosts.filter { p in !access.deny.contains { EgressAccess.same($0, p) } })
        }
        try prepared.validate()
        return prepared
    }

    /// Serves sandbox `id` and returns what its guest gets: the proxy environment, the
    /// relay and, with secrets, the directory of certificates that trust the daemon's CA.
    func open(id: String, access: EgressAccess) async throws -> (env: [String], relay: GuestRelay, mounts: [MountSpec]) {
        try await listen(id, access: access)
        let relay = GuestRelay(port: EgressAccess.guestPort, socketPath: socketPath(id))
        guard !access.secrets.isEmpty else { return (EgressAccess.environment, relay, []) }
        return (EgressAccess.environment + EgressAccess.trustEnvironment, relay,
                [MountSpec(source: trustDirectory, destination: EgressAccess.trustDirectory, readOnly: true, managed: true),
                 // The system store too, for clients that read no variable (GnuTLS, Go, Java's defaults).
                 MountSpec(source: trustDirectory + "/ca-certificates.crt", destination: EgressAccess.systemBundle,
                           readOnly: true, managed: true)])
    }

    /// `<data-root>/egress/trust`: the bundle guests with secrets trust.
    var trustDirectory: String { socketDirectory + "/trust" }

    /// The authority, made (with the guests' trust directory) the first time it is needed.
    func ensureAuthority() throws -> EgressAuthority {
        if let authority { return authority }
        let made = try EgressAuthority(directory: socketDirectory + "/ca", extraTrust: originTrust)
        try WarrenDaemon.makeDirectory(trustDirectory)
        chmod(trustDirectory, 0o755)
        let system = ["/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt"]
            .lazy.compactMap { try? String(contentsOfFile: $0, encoding: .utf8) }.first ?? ""
        for (name, text) in [("warren-egress-ca.crt", made.certificatePEM),
                             ("ca-certificates.crt", system + (system.hasSuffix("\n") || system.isEmpty ? "" : "\n") + made.certificatePEM)] {
            let path = trustDirectory + "/" + name
            guard FileManager.default.createFile(atPath: path + ".tmp", contents: Data(text.utf8), attributes: [.posixPermissions: 0o644]),
                  rename(path + ".tmp", path) == 0 else {
                throw WarrenError(.internalError, "cannot write \(path)")
            }
        }
        authority = made
        return made
    }

    /// Host → headers of the secrets `access` names.
    func headers(_ access: EgressAccess) -> [String: [String: String]] {
        var out: [String: [String: String]] = [:]
        for name in access.secrets {
            guard let secret = secrets[name] else { continue }
            // Keyed by the name as the rules normalise it (validated at start: names only).
            for host in secret.hosts {
                guard case .host(let key)? = try? EgressRule(parsing: host).target else { continue }
                out[key, default: [:]].merge(secret.headers) { _, new in new }
            }
        }
        return out
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
        let authority = access.secrets.isEmpty ? nil : try ensureAuthority()
        let proxy = EgressProxy(
            policy: try access.policy(), secrets: headers(access), authority: authority, budget: EgressBudget(limit: access.budgetBytes, used: used),
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
