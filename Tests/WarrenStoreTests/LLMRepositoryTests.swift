import Foundation
import Testing
import WarrenCore
import WarrenStore

@Suite("LLM repository")
struct LLMRepositoryTests {
    @Test("tokens are kept by hash with their grant; revocation is per sandbox")
    func tokens() async throws {
        let (store, dir) = try makeStore()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let expires = Date(timeIntervalSince1970: 2_000_000_000)
        try await store.llm.insertToken(hash: "h1", sandboxID: "a", grant: Data(#"{"x":1}"#.utf8), expiresAt: expires)
        try await store.llm.insertToken(hash: "h2", sandboxID: "b", grant: Data("{}".utf8), expiresAt: expires)
        let t = try #require(try await store.llm.token(hash: "h1"))
        #expect(t.sandboxID == "a" && t.grant == Data(#"{"x":1}"#.utf8) && t.expiresAt == expires && t.revokedAt == nil)
        #expect(try await store.llm.token(hash: "nope") == nil)
        #expect(try await store.llm.revokeTokens(sandboxID: "a") == 1)
        #expect(try await store.llm.revokeTokens(sandboxID: "a") == 0)
        #expect(try await store.llm.token(hash: "h1")?.revokedAt != nil)
        #expect(try await store.llm.token(hash: "h2")?.revokedAt == nil)
        await #expect(throws: WarrenError.self) {
            try await store.llm.insertToken(hash: "h2", sandboxID: "c", grant: Data(), expiresAt: expires)
        }
        #expect(try await store.appliedMigrations().contains("v2-llm-facade"))
    }

    @Test("each call is audited and summed into its sandbox's usage per provider and model")
    func usage() async throws {
        let (store, dir) = try makeStore()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let calls = [
            LLMCallRecord(sandboxID: "a", provider: "openai", model: "gpt-4o-mini", endpoint: "/v1/chat/completions", status: 200,
                          inputTokens: 10, outputTokens: 5, latencyMs: 12.5),
            LLMCallRecord(sandboxID: "a", provider: "openai", model: "gpt-4o-mini", endpoint: "/v1/responses", status: 200,
                          inputTokens: 7, outputTokens: 3, latencyMs: 8),
            LLMCallRecord(sandboxID: "a", provider: "anthropic", model: "claude", endpoint: "/v1/messages", status: 429, latencyMs: 0.2),
            LLMCallRecord(sandboxID: "b", provider: "openai", model: "gpt-4o-mini", endpoint: "/v1/chat/completions", status: 200,
                          inputTokens: 100, outputTokens: 100, latencyMs: 1),
        ]
        for call in calls { try await store.llm.record(call) }
        #expect(try await store.llm.usage(sandboxID: "a") == [
            LLMUsage(provider: "anthropic", model: "claude", requests: 1, inputTokens: 0, outputTokens: 0),
            LLMUsage(provider: "openai", model: "gpt-4o-mini", requests: 2, inputTokens: 17, outputTokens: 8),
        ])
        let audit = try await store.llm.calls(sandboxID: "a")
        #expect(audit.map(\.endpoint) == ["/v1/chat/completions", "/v1/responses", "/v1/messages"])
        #expect(audit.map(\.status) == [200, 200, 429] && audit[0].latencyMs == 12.5)
        #expect(try await store.llm.usage(sandboxID: "nobody").isEmpty)
    }
}
