/// The LLM access a sandbox asks for (`warren run --llm ...`).
public struct LLMAccess: Codable, Sendable, Equatable {
    /// `openai`, `anthropic`.
    public var providers: [String]
    /// Models allowed; empty allows every model of the providers.
    public var models: [String]
    /// Input plus output tokens over the sandbox's life.
    public var budgetTokens: Int64?
    /// Forwarded calls over the sandbox's life.
    public var budgetRequests: Int64?
    /// Calls per minute.
    public var requestsPerMinute: Int?

    public init(providers: [String], models: [String] = [], budgetTokens: Int64? = nil, budgetRequests: Int64? = nil,
                requestsPerMinute: Int? = nil) {
        self.providers = providers; self.models = models; self.budgetTokens = budgetTokens
        self.budgetRequests = budgetRequests; self.requestsPerMinute = requestsPerMinute
    }

    enum CodingKeys: String, CodingKey { case providers, models, budgetTokens, budgetRequests, requestsPerMinute }

    /// `providers` is required; the rest may be left out (`models` then allows every model).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        providers = try c.decode([String].self, forKey: .providers)
        models = try c.decodeIfPresent([String].self, forKey: .models) ?? []
        budgetTokens = try c.decodeIfPresent(Int64.self, forKey: .budgetTokens)
        budgetRequests = try c.decodeIfPresent(Int64.self, forKey: .budgetRequests)
        requestsPerMinute = try c.decodeIfPresent(Int.self, forKey: .requestsPerMinute)
    }

    /// The guest loopback port the facade answers on inside a sandbox.
    public static let guestPort: UInt16 = 9400
}

/// A daemon service the guest reaches on its own loopback: connections to
/// `127.0.0.1:port` inside the sandbox are relayed to the host Unix socket `socketPath`.
/// Set by the daemon, never taken from a client.
public struct GuestRelay: Codable, Sendable, Equatable {
    public var port: UInt16
    public var socketPath: String
    public init(port: UInt16, socketPath: String) { self.port = port; self.socketPath = socketPath }
}
