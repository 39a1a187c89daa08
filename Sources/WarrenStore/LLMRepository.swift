import Foundation
import GRDB
import WarrenCore

/// The LLM facade's tables: tokens (by hash), usage per sandbox and model, and the audit
/// of every call.
public struct LLMRepository: Sendable {
    let writer: any DatabaseWriter

    /// A stored token: the hash and what it grants, never the token itself.
    public struct Token: Sendable, Equatable {
        public var hash: String
        public var sandboxID: String
        /// The grant as the facade encoded it.
        public var grant: Data
        public var expiresAt: Date
        public var revokedAt: Date?
    }

    public func insertToken(hash: String, sandboxID: String, grant: Data, expiresAt: Date, now: Date = Date()) async throws {
        try await mapErrors {
            try await writer.write { db in
                try db.execute(sql: """
                    INSERT INTO llm_tokens (token_hash, sandbox_id, grant, created_at, expires_at) VALUES (?, ?, ?, ?, ?)
                    """, arguments: [hash, sandboxID, String(decoding: grant, as: UTF8.self), now.timeIntervalSince1970,
                                     expiresAt.timeIntervalSince1970])
            }
        }
    }

    /// The token stored under `hash`, revoked or not; nil when there is none.
    public func token(hash: String) async throws -> Token? {
        try await mapErrors {
            try await writer.read { db in
                try Row.fetchOne(db, sql: "SELECT * FROM llm_tokens WHERE token_hash = ?", arguments: [hash]).map { row in
                    Token(hash: row["token_hash"], sandboxID: row["sandbox_id"], grant: Data((row["grant"] as String).utf8),
                          expiresAt: Date(timeIntervalSince1970: row["expires_at"]),
                          revokedAt: (row["revoked_at"] as Double?).map(Date.init(timeIntervalSince1970:)))
                }
            }
        }
    }

    /// Revokes every live token of a sandbox; returns how many there were.
    @discardableResult
    public func revokeTokens(sandboxID: String, now: Date = Date()) async throws -> Int {
        try await mapErrors {
            try await writer.write { db in
                try db.execute(sql: "UPDATE llm_tokens SET revoked_at = ? WHERE sandbox_id = ? AND revoked_at IS NULL",
                               arguments: [now.timeIntervalSince1970, sandboxID])
                return db.changesCount
            }
        }
    }

    /// Records a call: its audit row and, when `metered` (a forwarded generation call), its
    /// request and tokens in the usage, in one transaction.
    public func record(_ call: LLMCallRecord, metered: Bool = true) async throws {
        try await record([(call, metered)])
    }

    /// Records calls as `record(_:metered:)` does, all in one transaction.
    public func record(_ calls: [(call: LLMCallRecord, metered: Bool)]) async throws {
        try await mapErrors {
            try await writer.write { db in
                // Prepared once per connection: a burst of calls costs one bind and step each.
                let audit = try db.cachedStatement(sql: """
                    INSERT INTO llm_calls (time, sandbox_id, provider, model, endpoint, status, input_tokens, output_tokens, latency_ms)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """)
                let usage = try db.cachedStatement(sql: """
                    INSERT INTO llm_usage (sandbox_id, provider, model, requests, input_tokens, output_tokens) VALUES (?, ?, ?, 1, ?, ?)
                    ON CONFLICT (sandbox_id, provider, model) DO UPDATE SET requests = requests + 1,
                        input_tokens = input_tokens + excluded.input_tokens, output_tokens = output_tokens + excluded.output_tokens
                    """)
                for (call, metered) in calls {
                    try audit.execute(arguments: [call.time.timeIntervalSince1970, call.sandboxID, call.provider, call.model,
                                                  call.endpoint, call.status, call.inputTokens, call.outputTokens, call.latencyMs])
                    guard metered else { continue }
                    try usage.execute(arguments: [call.sandboxID, call.provider, call.model, call.inputTokens, call.outputTokens])
                }
            }
        }
    }

    /// A sandbox's usage per provider and model.
    public func usage(sandboxID: String) async throws -> [LLMUsage] {
        try await mapErrors {
            try await writer.read { db in
                try Row.fetchAll(db, sql: """
                    SELECT * FROM llm_usage WHERE sandbox_id = ? ORDER BY provider, model
                    """, arguments: [sandboxID]).map { row in
                    LLMUsage(provider: row["provider"], model: row["model"], requests: row["requests"],
                             inputTokens: row["input_tokens"], outputTokens: row["output_tokens"])
                }
            }
        }
    }

    /// A sandbox's calls, oldest first, at most `limit`.
    public func calls(sandboxID: String, limit: Int = 1_000) async throws -> [LLMCallRecord] {
        try await mapErrors {
            try await writer.read { db in
                try Row.fetchAll(db, sql: "SELECT * FROM llm_calls WHERE sandbox_id = ? ORDER BY id LIMIT ?",
                                 arguments: [sandboxID, limit]).map { row in
                    LLMCallRecord(time: Date(timeIntervalSince1970: row["time"]), sandboxID: row["sandbox_id"],
                                  provider: row["provider"], model: row["model"], endpoint: row["endpoint"],
                                  status: row["status"], inputTokens: row["input_tokens"], outputTokens: row["output_tokens"],
                                  latencyMs: row["latency_ms"])
                }
            }
        }
    }
}
