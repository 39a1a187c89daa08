import Foundation
import LLMFacade
import Testing
import WarrenCore

/// A `FacadeStore` held in memory that counts how often the facade reads it.
private actor LedgerInMemory: FacadeStore {
    var grants: [String: LLMGrant] = [:]
    var spends: [String: LLMSpend] = [:]
    var recorded: [(LLMCallRecord, Bool)] = []
    var batches = 0
    var grantReads = 0

    func grant(tokenHash: String) async throws -> LLMGrant? {
        grantReads += 1
        return grants[tokenHash]
    }

    func spend(sandboxID: String) async throws -> LLMSpend {
        return spends[sandboxID] ?? LLMSpend()
    }

    func record(_ calls: [(call: LLMCallRecord, metered: Bool)]) async throws {
        batches += 1
        for (call, metered) in calls {
            recorded.append((call, metered))
            guard metered else { continue }
            spends[call.sandboxID, default: LLMSpend()].requests += 1
            spends[call.sandboxID, default: LLMSpend()].tokens += call.inputTokens + call.outputTokens
        }
    }

    func issue(_ token: String, _ grant: LLMGrant) { grants[FacadeToken.hash(token)] = grant }
    func revoke(_ token: String) { grants[FacadeToken.hash(token)] = nil }
    func setSpend(_ sandbox: String, _ spend: LLMSpend) { spends[sandbox] = spend }
}

@Suite("Facade accounts and upstreams")
struct FacadeAccountsTests {
    static func grant(_ sandbox: String, requests: Int64? = nil, tokens: Int64? = nil) -> LLMGrant {
        LLMGrant(sandboxID: sandbox, providers: [.openai], budgetTokens: tokens, budgetRequests: requests,
                 expiresAt: Date().addingTimeInterval(3600))
    }

    static func call(_ sandbox: String, tokens: Int64) -> LLMCallRecord {
        var call = LLMCallRecord(sandboxID: sandbox, provider: "openai", model: "m", endpoint: "/v1/chat/completions",
                                 status: 200, latencyMs: 1)
        call.inputTokens = tokens / 2
        call.outputTokens = tokens - tokens / 2
        return call
    }

    static func refusal(_ body: () async throws -> Void) async -> FacadeRefusal.Kind? {
        do { try await body(); return nil } catch let refusal as FacadeRefusal { return refusal.kind } catch { return nil }
    }

    @Test("a token's grant is read from the store once; malformed tokens never reach it; forget reads it again")
    func grantLookup() async throws {
        let ledger = LedgerInMemory()
        let token = FacadeToken.generate()
        await ledger.issue(token, Self.grant("s1"))
        let accounts = FacadeAccounts(store: ledger)

        #expect(await accounts.grant(for: token)?.sandboxID == "s1")
        #expect(await accounts.grant(for: token)?.sandboxID == "s1")
        #expect(await ledger.grantReads == 1)

        #expect(await accounts.grant(for: "sk-real-looking-key") == nil)
        #expect(await accounts.grant(for: FacadeToken.generate()) == nil)
        #expect(await ledger.grantReads == 2)

        // Revoked in the store: the cached grant lives until the daemon tells the accounts.
        await ledger.revoke(token)
        #expect(accounts.cachedGrant(hash: FacadeToken.hash(token)) != nil)
        accounts.forget(sandboxID: "s1")
        #expect(accounts.cachedGrant(hash: FacadeToken.hash(token)) == nil)
        #expect(await accounts.grant(for: token) == nil)
    }

    @Test("metered calls reserve their request before going upstream, so concurrent calls cannot overrun the budget")
    func requestReservation() async throws {
        let ledger = LedgerInMemory()
        await ledger.setSpend("s1", LLMSpend(requests: 2))
        let accounts = FacadeAccounts(store: ledger)
        let grant = Self.grant("s1", requests: 5)

        // Listings and token counts are not metered: they reserve nothing.
        for _ in 0..<4 { try await accounts.admit(grant, provider: .openai, model: nil, metered: false) }

        // Nothing has been recorded yet when all ten are admitted or refused.
        let admitted = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<10 {
                group.addTask { (try? await accounts.admit(grant, provider: .openai, model: "m", metered: true)) != nil }
            }
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(admitted == 3)
        #expect(await ledger.recorded.isEmpty)
        // With the budget spent, every call is refused, metered or not.
        #expect(await Self.refusal { try await accounts.admit(grant, provider: .openai, model: nil, metered: false) } == .requestBudget)
    }

    @Test("recorded tokens count against the token budget at once; forget starts again from the store")
    func tokenBudget() async throws {
        let ledger = LedgerInMemory()
        let accounts = FacadeAccounts(store: ledger)
        let grant = Self.grant("s1", tokens: 100)

        // Not loaded yet: the synchronous check says so and reserves nothing.
        #expect(try !accounts.admitLoaded(grant, provider: .openai, model: "m", metered: true))
        try await accounts.admit(grant, provider: .openai, model: "m", metered: true)
        accounts.record(Self.call("s1", tokens: 60), metered: true)
        #expect(try accounts.admitLoaded(grant, provider: .openai, model: "m", metered: true))
        accounts.record(Self.call("s1", tokens: 40), metered: true)
        #expect(await Self.refusal { try await accounts.admit(grant, provider: .openai, model: "m", metered: true) } == .tokenBudget)

        // A refused call is audited but not metered: it adds nothing.
        var refused = Self.call("s1", tokens: 0)
        refused.status = 429
        accounts.record(refused, metered: false)
        await accounts.flush()
        let recorded = await ledger.recorded
        #expect(recorded.map(\.1) == [true, true, false])
        #expect(recorded.last?.0.status == 429)

        // Another sandbox has its own spend.
        try await accounts.admit(Self.grant("s2", tokens: 100), provider: .openai, model: "m", metered: true)

        accounts.forget(sandboxID: "s1")
        await ledger.setSpend("s1", LLMSpend(requests: 0, tokens: 10))
        try await accounts.admit(grant, provider: .openai, model: "m", metered: true)
    }

    @Test("calls are written behind in batches; flush returns once all are in the store")
    func batchedRecording() async throws {
        let ledger = LedgerInMemory()
        let accounts = FacadeAccounts(store: ledger)
        for i in 0..<500 { accounts.record(Self.call("s\(i % 3)", tokens: 2), metered: i % 5 != 0) }
        await accounts.flush()
        let recorded = await ledger.recorded
        #expect(recorded.count == 500)
        #expect(recorded.filter(\.1).count == 400)
        let batches = await ledger.batches
        #expect(batches < 500, "one transaction per call: \(batches)")
        // Nothing pending: flush returns at once, and later calls are written too.
        await accounts.flush()
        accounts.record(Self.call("s9", tokens: 4), metered: true)
        await accounts.flush()
        #expect(await ledger.recorded.last?.0.sandboxID == "s9")
    }

    @Test("upstreams: the environment over the config file over the official endpoint; /v1 and slashes trimmed")
    func upstreams() throws {
        let defaults = try FacadeUpstreams.from(environment: [:])
        #expect(defaults.upstreams[.openai]?.baseURL == "https://api.openai.com")
        #expect(defaults.upstreams[.anthropic]?.baseURL == "https://api.anthropic.com")
        #expect(defaults.configured.isEmpty)

        let file = ["OPENAI_API_KEY": "sk-file", "WARREN_OPENAI_BASE_URL": "http://file.example/v1/",
                    "ANTHROPIC_API_KEY": "sk-ant-file"]
        let mixed = try FacadeUpstreams.from(environment: ["OPENAI_API_KEY": "sk-env", "ANTHROPIC_API_KEY": ""], file: file)
        #expect(mixed.upstreams[.openai]?.key == "sk-env")
        #expect(mixed.upstreams[.openai]?.baseURL == "http://file.example")
        // An empty variable in the environment is no key, and does not fall back to the file.
        #expect(mixed.upstreams[.anthropic]?.key == nil)
        #expect(mixed.configured == [.openai])

        let prefixed = FacadeUpstreams.Upstream(baseURL: "https://gateway.example/openai//", key: "k")
        #expect(prefixed.baseURL == "https://gateway.example/openai")

        #expect(throws: WarrenError.self) { try FacadeUpstreams.from(environment: ["WARREN_ANTHROPIC_BASE_URL": "api.anthropic.com"]) }
    }
}
