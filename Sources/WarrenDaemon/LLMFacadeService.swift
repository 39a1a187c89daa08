import Foundation
import Hummingbird
import LLMFacade
import Logging
import WarrenCore
import WarrenStore

/// The daemon's side of the LLM facade: issues and revokes sandbox tokens, and serves
/// each sandbox with LLM access on a Unix socket of its own, which the sandbox's relay
/// exposes on the guest's loopback. Requests arriving there must carry that sandbox's token.
public actor LLMFacadeService {
    let proxy: FacadeProxy
    let store: WarrenStore
    /// `<data-root>/llm`: one socket per sandbox.
    let socketDirectory: String
    let logger: Logger
    private var listeners: [String: FacadeServer] = [:]
    /// How long a token lives when the sandbox has no timeout.
    static let defaultLifetime: Duration = .seconds(7 * 24 * 3600)

    public init(upstreams: FacadeUpstreams, store: WarrenStore, dataRoot: String, logger: Logger) {
        self.store = store
        self.socketDirectory = dataRoot + "/llm"
        self.logger = logger
        proxy = FacadeProxy(upstreams: upstreams,
                            accounts: FacadeAccounts(store: StoreFacadeLedger(repository: store.llm), logger: logger),
                            logger: logger)
    }

    /// The socket sandbox `id` is served on (the id is shortened to keep the path within `sun_path`).
    func socketPath(_ id: String) -> String { socketDirectory + "/" + id.prefix(24) + ".sock" }

    /// Checks `access` against what the daemon can serve.
    func validate(_ access: LLMAccess) throws -> [LLMProvider] {
        let providers = try LLMProvider.parseList(access.providers.joined(separator: ","))
        let configured = proxy.upstreams.configured
        for provider in providers where !configured.contains(provider) {
            throw WarrenError(.unavailable, "the daemon holds no \(provider.rawValue) key: start it with \(provider.keyVariable) set (or in daemon.json under \"llm\")")
        }
        for (name, value) in [("--llm-budget-tokens", access.budgetTokens), ("--llm-budget-requests", access.budgetRequests)] {
            if let value, value <= 0 { throw WarrenError(.invalidArgument, "\(name) must be positive") }
        }
        if let rpm = access.requestsPerMinute, rpm <= 0 { throw WarrenError(.invalidArgument, "--llm-rpm must be positive") }
        if access.models.contains(where: { $0.isEmpty }) { throw WarrenError(.invalidArgument, "--llm-models has an empty name") }
        return providers
    }

    /// Issues sandbox `id`'s token, starts its listener and returns what the guest gets:
    /// the environment naming the facade and the token, and the relay to expose it.
    func issue(id: String, access: LLMAccess, lifetime: Duration?) async throws -> (env: [String], relay: GuestRelay) {
        let providers = try validate(access)
        let lifetime = lifetime.map { $0 + .seconds(60) } ?? Self.defaultLifetime
        let grant = LLMGrant(sandboxID: id, providers: providers, models: access.models, budgetTokens: access.budgetTokens,
                             budgetRequests: access.budgetRequests, requestsPerMinute: access.requestsPerMinute,
                             expiresAt: Date().addingTimeInterval(Double(lifetime.components.seconds)))
        let token = FacadeToken.generate()
        try await store.llm.insertToken(hash: FacadeToken.hash(token), sandboxID: id, grant: try JSONEncoder().encode(grant),
                                        expiresAt: grant.expiresAt)
        do {
            try await listen(id)
        } catch {
            await revoke(id)
            throw error
        }
        let base = "http://127.0.0.1:\(LLMAccess.guestPort)"
        var env: [String] = []
        if providers.contains(.openai) { env += ["OPENAI_BASE_URL=\(base)/v1", "OPENAI_API_KEY=\(token)"] }
        if providers.contains(.anthropic) {
            env += ["ANTHROPIC_BASE_URL=\(base)", "ANTHROPIC_API_KEY=\(token)", "ANTHROPIC_AUTH_TOKEN=\(token)"]
        }
        return (env, GuestRelay(port: LLMAccess.guestPort, socketPath: socketPath(id)))
    }

    /// Serves sandbox `id`'s socket; returns once it accepts connections.
    func listen(_ id: String) async throws {
        if listeners[id] != nil { return }
        try WarrenDaemon.makeDirectory(socketDirectory)
        let path = socketPath(id)
        do {
            listeners[id] = try await FacadeServer.listen(path: path, proxy: proxy, listener: id)
        } catch {
            throw WarrenError(.internalError, "cannot serve the LLM facade at \(path): \(error)")
        }
    }

    /// Revokes sandbox `id`'s tokens and closes its listener.
    func revoke(_ id: String) async {
        do { try await store.llm.revokeTokens(sandboxID: id) } catch {
            logger.error("cannot revoke LLM tokens", metadata: ["sandbox": "\(id.prefix(12))", "error": "\(error)"])
        }
        proxy.forget(sandboxID: id)
        await listeners.removeValue(forKey: id)?.close()
        unlink(socketPath(id))
    }

    /// Closes every listener (the daemon is stopping; tokens stay valid for a restart).
    func shutdown() async {
        for (id, listener) in listeners {
            await listener.close()
            unlink(socketPath(id))
        }
        listeners = [:]
        await proxy.shutdown()
    }
}

/// The facade's view of the store.
struct StoreFacadeLedger: FacadeStore {
    let repository: LLMRepository

    func grant(tokenHash: String) async throws -> LLMGrant? {
        guard let token = try await repository.token(hash: tokenHash), token.revokedAt == nil else { return nil }
        return try JSONDecoder().decode(LLMGrant.self, from: token.grant)
    }

    func spend(sandboxID: String) async throws -> LLMSpend {
        let usage = try await repository.usage(sandboxID: sandboxID)
        return LLMSpend(requests: usage.reduce(0) { $0 + $1.requests },
                        tokens: usage.reduce(0) { $0 + $1.inputTokens + $1.outputTokens })
    }

    func record(_ calls: [(call: LLMCallRecord, metered: Bool)]) async throws {
        try await repository.record(calls)
    }
}
