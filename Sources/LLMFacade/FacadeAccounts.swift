import Foundation
import Logging
import NIOConcurrencyHelpers
import WarrenCore

/// What the facade needs from the daemon's database.
public protocol FacadeStore: Sendable {
    /// The grant of the live token with this hash; nil when unknown, revoked or unreadable.
    func grant(tokenHash: String) async throws -> LLMGrant?
    /// What the sandbox has used so far.
    func spend(sandboxID: String) async throws -> LLMSpend
    /// Writes the calls' audit rows and adds the metered ones to their sandbox's usage, in one transaction.
    func record(_ calls: [(call: LLMCallRecord, metered: Bool)]) async throws
}

/// Grants and spend, kept in memory in front of the store so that the check before each
/// forwarded call costs no database round trip and no thread hop, and so that concurrent
/// calls reserve their request against the budget before they go upstream.
///
/// Finished calls are written behind: they join a queue that one writer drains in batches,
/// one transaction each, so a busy facade commits once for many calls.
public final class FacadeAccounts: Sendable {
    let store: any FacadeStore
    let logger: Logger

    private struct State {
        var grants: [String: LLMGrant] = [:]
        var spends: [String: LLMSpend] = [:]
        var pending: [(call: LLMCallRecord, metered: Bool)] = []
        var draining = false
        var drained: [CheckedContinuation<Void, Never>] = []
    }
    private let state = NIOLockedValueBox(State())

    public init(store: any FacadeStore, logger: Logger = Logger(label: "warren.llm")) {
        self.store = store
        self.logger = logger
    }

    // MARK: - Grants

    /// The grant cached for a token's hash, without touching the store.
    public func cachedGrant(hash: String) -> LLMGrant? {
        state.withLockedValue { $0.grants[hash] }
    }

    /// The grant `token` carries, or nil: from the cache, else from the store.
    public func grant(for token: String) async -> LLMGrant? {
        guard FacadeToken.isWellFormed(token) else { return nil }
        let hash = FacadeToken.hash(token)
        if let grant = cachedGrant(hash: hash) { return grant }
        guard let grant = try? await store.grant(tokenHash: hash) else { return nil }
        state.withLockedValue { $0.grants[hash] = grant }
        return grant
    }

    // MARK: - Admission

    /// Checks the policy against the spend so far and, for a metered call, reserves it.
    /// Returns false, having done nothing, when the sandbox's spend is not loaded yet.
    public func admitLoaded(_ grant: LLMGrant, provider: LLMProvider, model: String?, metered: Bool,
                            now: Date = Date()) throws -> Bool {
        try state.withLockedValue { state in
            guard let spent = state.spends[grant.sandboxID] else { return false }
            try FacadePolicy.check(grant, provider: provider, model: model, spent: spent, now: now)
            if metered { state.spends[grant.sandboxID]?.requests += 1 }
            return true
        }
    }

    /// As `admitLoaded`, loading the sandbox's spend from the store first when needed.
    public func admit(_ grant: LLMGrant, provider: LLMProvider, model: String?, metered: Bool, now: Date = Date()) async throws {
        if try admitLoaded(grant, provider: provider, model: model, metered: metered, now: now) { return }
        let stored = (try? await store.spend(sandboxID: grant.sandboxID)) ?? LLMSpend()
        // Another call may have loaded it (and reserved against it) while the store answered.
        state.withLockedValue { state in
            if state.spends[grant.sandboxID] == nil { state.spends[grant.sandboxID] = stored }
        }
        _ = try admitLoaded(grant, provider: provider, model: model, metered: metered, now: now)
    }

    // MARK: - Recording

    /// Adds a finished call's tokens to its sandbox's spend at once and queues its audit row.
    public func record(_ call: LLMCallRecord, metered: Bool) {
        let startDrain = state.withLockedValue { state -> Bool in
            if metered { state.spends[call.sandboxID]?.tokens += call.inputTokens + call.outputTokens }
            state.pending.append((call, metered))
            if state.draining { return false }
            state.draining = true
            return true
        }
        if startDrain { Task { await drain() } }
    }

    /// Returns once every call recorded so far is in the store.
    public func flush() async {
        await withCheckedContinuation { continuation in
            let done = state.withLockedValue { state -> Bool in
                guard state.draining else { return true }
                state.drained.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
    }

    private func drain() async {
        while true {
            let batch = state.withLockedValue { state -> [(call: LLMCallRecord, metered: Bool)] in
                defer { state.pending = [] }
                return state.pending
            }
            if !batch.isEmpty {
                do { try await store.record(batch) } catch {
                    logger.error("cannot record LLM calls", metadata: ["calls": "\(batch.count)", "error": "\(error)"])
                }
                continue
            }
            let waiters = state.withLockedValue { state -> [CheckedContinuation<Void, Never>]? in
                guard state.pending.isEmpty else { return nil }
                state.draining = false
                defer { state.drained = [] }
                return state.drained
            }
            guard let waiters else { continue }
            for waiter in waiters { waiter.resume() }
            return
        }
    }

    /// Forgets a sandbox whose tokens were revoked: the next call reads the store again.
    public func forget(sandboxID: String) {
        state.withLockedValue { state in
            state.grants = state.grants.filter { $0.value.sandboxID != sandboxID }
            state.spends[sandboxID] = nil
        }
    }
}
