import Foundation
import WarrenCore

/// What the facade needs from the daemon's database.
public protocol FacadeStore: Sendable {
    /// The grant of the live token with this hash; nil when unknown, revoked or unreadable.
    func grant(tokenHash: String) async throws -> LLMGrant?
    /// What the sandbox has used so far.
    func spend(sandboxID: String) async throws -> LLMSpend
    /// Writes the audit row, and with `metered` adds the call to the sandbox's usage.
    func record(_ call: LLMCallRecord, metered: Bool) async throws
}

/// Grants and spend, kept in memory in front of the store so that the check before each
/// forwarded call costs no database round trip, and so that concurrent calls reserve
/// their request against the budget before they go upstream.
public actor FacadeAccounts {
    let store: any FacadeStore
    private var grants: [String: LLMGrant] = [:]
    private var spends: [String: LLMSpend] = [:]

    public init(store: any FacadeStore) { self.store = store }

    /// The grant `token` carries, or nil.
    public func grant(for token: String) async -> LLMGrant? {
        guard FacadeToken.isWellFormed(token) else { return nil }
        let hash = FacadeToken.hash(token)
        if let grant = grants[hash] { return grant }
        guard let grant = try? await store.grant(tokenHash: hash) else { return nil }
        grants[hash] = grant
        return grant
    }

    /// Checks the policy against the spend so far and, for a metered call, reserves it.
    public func admit(_ grant: LLMGrant, provider: LLMProvider, model: String?, metered: Bool, now: Date = Date()) async throws {
        let spent = try await spend(grant.sandboxID)
        try FacadePolicy.check(grant, provider: provider, model: model, spent: spent, now: now)
        if metered { spends[grant.sandboxID, default: spent].requests += 1 }
    }

    /// Adds a finished call's tokens and records it.
    public func record(_ call: LLMCallRecord, metered: Bool) async {
        if metered { spends[call.sandboxID]?.tokens += call.inputTokens + call.outputTokens }
        try? await store.record(call, metered: metered)
    }

    /// Forgets a sandbox whose tokens were revoked: the next call reads the store again.
    public func forget(sandboxID: String) {
        grants = grants.filter { $0.value.sandboxID != sandboxID }
        spends[sandboxID] = nil
    }

    private func spend(_ sandboxID: String) async throws -> LLMSpend {
        if let spend = spends[sandboxID] { return spend }
        let spend = (try? await store.spend(sandboxID: sandboxID)) ?? LLMSpend()
        // Another call may have filled it while the store answered.
        if let cached = spends[sandboxID] { return cached }
        spends[sandboxID] = spend
        return spend
    }
}
