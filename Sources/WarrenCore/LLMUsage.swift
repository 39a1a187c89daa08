import Foundation

/// What one sandbox used of one model through the LLM facade (`GET /v1/sandboxes/{id}/usage`).
public struct LLMUsage: Codable, Sendable, Equatable {
    public var provider: String
    public var model: String
    public var requests: Int64
    public var inputTokens: Int64
    public var outputTokens: Int64

    public init(provider: String, model: String, requests: Int64, inputTokens: Int64, outputTokens: Int64) {
        self.provider = provider; self.model = model; self.requests = requests
        self.inputTokens = inputTokens; self.outputTokens = outputTokens
    }
}

/// One forwarded facade call, for the audit: never a prompt, an answer or a key.
public struct LLMCallRecord: Codable, Sendable, Equatable {
    public var time: Date
    public var sandboxID: String
    public var provider: String
    /// The model asked for, or the one the provider answered with.
    public var model: String
    /// `/v1/chat/completions`, `/v1/messages`, ...
    public var endpoint: String
    /// The status the client got (the provider's, or the facade's own refusal).
    public var status: Int
    public var inputTokens: Int64
    public var outputTokens: Int64
    public var latencyMs: Double

    public init(time: Date = Date(), sandboxID: String, provider: String, model: String, endpoint: String, status: Int,
                inputTokens: Int64 = 0, outputTokens: Int64 = 0, latencyMs: Double) {
        self.time = time; self.sandboxID = sandboxID; self.provider = provider; self.model = model
        self.endpoint = endpoint; self.status = status; self.inputTokens = inputTokens
        self.outputTokens = outputTokens; self.latencyMs = latencyMs
    }
}

/// A sandbox's LLM access and what it has used (`warren usage`).
public struct SandboxUsage: Codable, Sendable, Equatable {
    public var id: String
    public var name: String?
    /// The access it was given; nil when it has none.
    public var llm: LLMAccess?
    public var usage: [LLMUsage]

    public init(id: String, name: String?, llm: LLMAccess?, usage: [LLMUsage]) {
        self.id = id; self.name = name; self.llm = llm; self.usage = usage
    }
}
