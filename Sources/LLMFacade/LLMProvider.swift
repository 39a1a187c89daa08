import WarrenCore

/// A model provider the facade forwards to.
public enum LLMProvider: String, Codable, Sendable, CaseIterable {
    case openai
    case anthropic

    /// Where requests go unless the daemon is told otherwise.
    public var defaultBaseURL: String {
        switch self {
        case .openai: "https://api.openai.com"
        case .anthropic: "https://api.anthropic.com"
        }
    }

    /// The daemon's environment variable holding the provider key.
    public var keyVariable: String {
        switch self {
        case .openai: "OPENAI_API_KEY"
        case .anthropic: "ANTHROPIC_API_KEY"
        }
    }

    /// The daemon's environment variable overriding the upstream base URL.
    public var baseURLVariable: String {
        switch self {
        case .openai: "WARREN_OPENAI_BASE_URL"
        case .anthropic: "WARREN_ANTHROPIC_BASE_URL"
        }
    }

    /// Variables that carry provider credentials: never accepted from a user for a sandbox.
    public static let credentialVariables: Set<String> = [
        "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID",
    ]

    /// Parses `openai,anthropic`.
    public static func parseList(_ text: String) throws -> [LLMProvider] {
        var providers: [LLMProvider] = []
        for part in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces).lowercased() }) where !part.isEmpty {
            guard let provider = LLMProvider(rawValue: part) else {
                throw WarrenError(.invalidArgument, "unknown LLM provider '\(part)' (openai, anthropic)")
            }
            if !providers.contains(provider) { providers.append(provider) }
        }
        guard !providers.isEmpty else { throw WarrenError(.invalidArgument, "--llm needs at least one provider (openai, anthropic)") }
        return providers
    }
}
