import Foundation
import NIOConcurrencyHelpers

/// What one sandbox's token allows: providers, models, budgets, a request rate, until when.
public struct LLMGrant: Codable, Sendable, Equatable {
    public var sandboxID: String
    public var providers: [LLMProvider]
    /// Model names allowed; empty allows every model of the providers.
    public var models: [String]
    /// Input plus output tokens over the sandbox's life; nil is unlimited.
    public var budgetTokens: Int64?
    /// Forwarded calls over the sandbox's life; nil is unlimited.
    public var budgetRequests: Int64?
    /// Calls per minute; nil is unlimited.
    public var requestsPerMinute: Int?
    public var expiresAt: Date

    public init(sandboxID: String, providers: [LLMProvider], models: [String] = [], budgetTokens: Int64? = nil,
                budgetRequests: Int64? = nil, requestsPerMinute: Int? = nil, expiresAt: Date) {
        self.sandboxID = sandboxID; self.providers = providers; self.models = models
        self.budgetTokens = budgetTokens; self.budgetRequests = budgetRequests
        self.requestsPerMinute = requestsPerMinute; self.expiresAt = expiresAt
    }
}

/// What a sandbox has used so far.
public struct LLMSpend: Sendable, Equatable {
    public var requests: Int64
    public var tokens: Int64
    public init(requests: Int64 = 0, tokens: Int64 = 0) { self.requests = requests; self.tokens = tokens }
}

/// A refusal, in the provider's own error format so its SDK raises the usual exception.
public struct FacadeRefusal: Error, Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case unauthenticated
        case providerNotAllowed
        case modelNotAllowed
        case tokenBudget
        case requestBudget
        case rateLimit
        case providerNotConfigured
        case badRequest
        case upstreamUnavailable
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) { self.kind = kind; self.message = message }

    public var status: Int {
        switch kind {
        case .unauthenticated: 401
        case .providerNotAllowed, .modelNotAllowed: 403
        case .tokenBudget, .requestBudget, .rateLimit: 429
        case .providerNotConfigured: 503
        case .badRequest: 400
        case .upstreamUnavailable: 502
        }
    }

    /// The error body as `provider` writes it.
    public func body(for provider: LLMProvider) -> [UInt8] {
        let object: [String: Any]
        switch provider {
        case .openai:
            let (type, code): (String, String) = switch kind {
            case .unauthenticated: ("invalid_request_error", "invalid_api_key")
            case .providerNotAllowed, .modelNotAllowed: ("invalid_request_error", "model_not_allowed")
            case .tokenBudget, .requestBudget: ("insufficient_quota", "insufficient_quota")
            case .rateLimit: ("requests", "rate_limit_exceeded")
            case .providerNotConfigured: ("server_error", "provider_not_configured")
            case .badRequest: ("invalid_request_error", "invalid_request")
            case .upstreamUnavailable: ("server_error", "upstream_unavailable")
            }
            object = ["error": ["message": message, "type": type, "param": NSNull(), "code": code]]
        case .anthropic:
            let type = switch kind {
            case .unauthenticated: "authentication_error"
            case .providerNotAllowed, .modelNotAllowed: "permission_error"
            case .tokenBudget, .requestBudget, .rateLimit: "rate_limit_error"
            case .providerNotConfigured, .upstreamUnavailable: "api_error"
            case .badRequest: "invalid_request_error"
            }
            object = ["type": "error", "error": ["type": type, "message": message]]
        }
        return Array((try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data())
    }
}

/// Decides, before anything is forwarded, whether a call may go upstream.
public enum FacadePolicy {
    /// Checks the grant's expiry, provider, model allow-list and budgets, in that order.
    /// The rate limit is checked by `RequestRateWindow`.
    public static func check(_ grant: LLMGrant, provider: LLMProvider, model: String?, spent: LLMSpend, now: Date = Date()) throws {
        guard now < grant.expiresAt else { throw FacadeRefusal(.unauthenticated, "this sandbox's LLM token has expired") }
        guard grant.providers.contains(provider) else {
            throw FacadeRefusal(.providerNotAllowed, "this sandbox may not use \(provider.rawValue)")
        }
        if !grant.models.isEmpty {
            guard let model, grant.models.contains(model) else {
                throw FacadeRefusal(.modelNotAllowed, "model '\(model ?? "")' is not allowed for this sandbox (allowed: \(grant.models.joined(separator: ", ")))")
            }
        }
        if let limit = grant.budgetRequests, spent.requests >= limit {
            throw FacadeRefusal(.requestBudget, "this sandbox has used its budget of \(limit) requests")
        }
        if let limit = grant.budgetTokens, spent.tokens >= limit {
            throw FacadeRefusal(.tokenBudget, "this sandbox has used its budget of \(limit) tokens (\(spent.tokens) used)")
        }
    }
}

/// Calls per sandbox in the last minute, for `--llm-rpm`.
public final class RequestRateWindow: Sendable {
    private let calls = NIOLockedValueBox([String: [Date]]())

    public init() {}

    /// Records a call for `sandbox` unless it would exceed `limit` in the last 60 seconds.
    public func admit(_ sandbox: String, limit: Int?, now: Date = Date()) throws {
        guard let limit else { return }
        try calls.withLockedValue { calls in
            var recent = (calls[sandbox] ?? []).filter { now.timeIntervalSince($0) < 60 }
            defer { calls[sandbox] = recent }
            guard recent.count < limit else {
                throw FacadeRefusal(.rateLimit, "this sandbox may make \(limit) requests per minute")
            }
            recent.append(now)
        }
    }

    /// Forgets a sandbox (its token was revoked).
    public func forget(_ sandbox: String) { calls.withLockedValue { $0[sandbox] = nil } }
}
