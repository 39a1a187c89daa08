import NIOHTTP1

/// One facade endpoint: which provider answers it and whether its calls count as usage.
public struct FacadeRoute: Sendable, Equatable {
    public var provider: LLMProvider
    /// The upstream path, `/v1/chat/completions` and so on.
    public var path: String
    /// Generation calls count against request budgets and usage; listings and token counts do not.
    public var metered: Bool

    public init(provider: LLMProvider, path: String, metered: Bool) {
        self.provider = provider
        self.path = path
        self.metered = metered
    }
}

/// The facade's endpoints, as a sandbox's SDKs call them: `OPENAI_BASE_URL` ends in
/// `/v1` and `ANTHROPIC_BASE_URL` does not, so both land on `/v1/...`.
public enum FacadeRoutes {
    /// What the facade does with a request.
    public enum Decision: Sendable, Equatable {
        case forward(FacadeRoute)
        /// Answered by the facade itself: status and the provider whose error shape to use.
        case refuse(FacadeRefusal, LLMProvider, HTTPResponseStatus)
    }

    /// The decision for `method` on `path` (without its query).
    public static func decide(method: HTTPMethod, path: String, headers: HTTPHeaders) -> Decision {
        switch (method, path) {
        case (.POST, "/v1/chat/completions"), (.POST, "/v1/responses"):
            return .forward(FacadeRoute(provider: .openai, path: path, metered: true))
        case (.POST, "/v1/messages"):
            return .forward(FacadeRoute(provider: .anthropic, path: path, metered: true))
        case (.POST, "/v1/messages/count_tokens"):
            return .forward(FacadeRoute(provider: .anthropic, path: path, metered: false))
        case (.GET, "/v1/models"):
            // Both providers list models here; Anthropic's SDK always says its version.
            return .forward(FacadeRoute(provider: provider(of: headers), path: path, metered: false))
        case (.GET, "/v1/responses"):
            // Codex tries the Responses API over a WebSocket first; 426 makes it use HTTP at once.
            let upgrade = headers.contains(name: "upgrade")
            return .refuse(FacadeRefusal(.badRequest, "the Warren LLM facade serves the Responses API over HTTP only"),
                           .openai, upgrade ? .upgradeRequired : .methodNotAllowed)
        default:
            if method == .GET, path.hasPrefix("/v1/models/") {
                let model = path.dropFirst("/v1/models/".count)
                if !model.isEmpty, !model.contains("/") {
                    return .forward(FacadeRoute(provider: provider(of: headers), path: path, metered: false))
                }
            }
            let provider = provider(of: headers)
            return .refuse(FacadeRefusal(.badRequest, "the Warren LLM facade has no route \(method.rawValue) \(path)"),
                           provider, .notFound)
        }
    }

    static func provider(of headers: HTTPHeaders) -> LLMProvider {
        headers.contains(name: "anthropic-version") ? .anthropic : .openai
    }
}
