import Foundation
import LLMFacade
import Testing

@Suite("Facade tokens and policy")
struct FacadeTokenTests {
    @Test("tokens: 256 random bits behind a scannable prefix; only the hash matches")
    func tokens() {
        let a = FacadeToken.generate(), b = FacadeToken.generate()
        #expect(a != b)
        #expect(a.hasPrefix("wrn_llm_") && a.count == 8 + 43)
        #expect(FacadeToken.isWellFormed(a) && !FacadeToken.isWellFormed("sk-" + a.dropFirst(3)))
        #expect(!FacadeToken.isWellFormed(a + "x") && !FacadeToken.isWellFormed(String(a.dropLast()) + "!"))
        let stored = FacadeToken.hash(a)
        #expect(stored.count == 64 && !stored.contains(a.dropFirst(8)))
        #expect(FacadeToken.matches(a, storedHash: stored))
        #expect(!FacadeToken.matches(b, storedHash: stored))
        #expect(FacadeToken.hash("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    let grant = LLMGrant(sandboxID: "s1", providers: [.openai], models: ["gpt-4o-mini"], budgetTokens: 100,
                         budgetRequests: 3, requestsPerMinute: 2, expiresAt: Date().addingTimeInterval(3600))

    @Test("policy: expiry, provider, model, then the request and token budgets")
    func policy() throws {
        try FacadePolicy.check(grant, provider: .openai, model: "gpt-4o-mini", spent: LLMSpend(requests: 2, tokens: 99))
        func refusal(_ body: () throws -> Void) -> FacadeRefusal.Kind? {
            do { try body(); return nil } catch let r as FacadeRefusal { return r.kind } catch { return nil }
        }
        #expect(refusal { try FacadePolicy.check(grant, provider: .anthropic, model: "claude", spent: LLMSpend()) } == .providerNotAllowed)
        #expect(refusal { try FacadePolicy.check(grant, provider: .openai, model: "gpt-4o", spent: LLMSpend()) } == .modelNotAllowed)
        #expect(refusal { try FacadePolicy.check(grant, provider: .openai, model: nil, spent: LLMSpend()) } == .modelNotAllowed)
        #expect(refusal { try FacadePolicy.check(grant, provider: .openai, model: "gpt-4o-mini", spent: LLMSpend(requests: 3)) } == .requestBudget)
        #expect(refusal { try FacadePolicy.check(grant, provider: .openai, model: "gpt-4o-mini", spent: LLMSpend(tokens: 100)) } == .tokenBudget)
        #expect(refusal { try FacadePolicy.check(grant, provider: .openai, model: "gpt-4o-mini", spent: LLMSpend(),
                                                 now: Date().addingTimeInterval(7200)) } == .unauthenticated)
        var open = grant
        open.models = []
        try FacadePolicy.check(open, provider: .openai, model: "anything", spent: LLMSpend())
    }

    @Test("refusals are written in each provider's own error format")
    func refusalBodies() throws {
        let budget = FacadeRefusal(.tokenBudget, "spent")
        #expect(budget.status == 429)
        let openai = try #require(try JSONSerialization.jsonObject(with: Data(budget.body(for: .openai))) as? [String: Any])
        let error = try #require(openai["error"] as? [String: Any])
        #expect(error["type"] as? String == "insufficient_quota" && error["message"] as? String == "spent")
        let anthropic = try #require(try JSONSerialization.jsonObject(with: Data(budget.body(for: .anthropic))) as? [String: Any])
        #expect(anthropic["type"] as? String == "error")
        #expect((anthropic["error"] as? [String: Any])?["type"] as? String == "rate_limit_error")
        #expect(FacadeRefusal(.unauthenticated, "x").status == 401 && FacadeRefusal(.modelNotAllowed, "x").status == 403)
    }

    @Test("requests per minute: a sliding window per sandbox")
    func rateWindow() throws {
        let window = RequestRateWindow()
        let t0 = Date()
        try window.admit("s1", limit: 2, now: t0)
        try window.admit("s1", limit: 2, now: t0.addingTimeInterval(1))
        #expect(throws: FacadeRefusal.self) { try window.admit("s1", limit: 2, now: t0.addingTimeInterval(2)) }
        try window.admit("s2", limit: 2, now: t0.addingTimeInterval(2))
        try window.admit("s1", limit: 2, now: t0.addingTimeInterval(60.5))
        try window.admit("s1", limit: nil, now: t0)
        window.forget("s1")
        try window.admit("s1", limit: 1, now: t0.addingTimeInterval(60.6))
    }

    @Test("provider lists parse; provider key variables are known")
    func providers() throws {
        #expect(try LLMProvider.parseList("openai, anthropic,openai") == [.openai, .anthropic])
        #expect(throws: (any Error).self) { try LLMProvider.parseList("gemini") }
        #expect(throws: (any Error).self) { try LLMProvider.parseList(" , ") }
        #expect(LLMProvider.credentialVariables.isSuperset(of: LLMProvider.allCases.map(\.keyVariable)))
    }
}
