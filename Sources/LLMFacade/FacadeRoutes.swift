import Hummingbird
import NIOCore

/// The facade's endpoints, as a sandbox's SDKs call them: `OPENAI_BASE_URL` ends in
/// `/v1` and `ANTHROPIC_BASE_URL` does not, so both land on `/v1/...`.
public enum FacadeRoutes {
    /// Adds the facade's routes to `router` (or a group of it). `listener` is the sandbox
    /// whose own listener this is; nil where any live token is accepted.
    public static func add<Router: RouterMethods>(to router: Router, proxy: FacadeProxy, listener: String?) {
        @Sendable func route(_ provider: LLMProvider, _ path: String, metered: Bool) -> FacadeRoute {
            FacadeRoute(provider: provider, path: path, metered: metered)
        }
        let generation: [(LLMProvider, String)] = [
            (.openai, "/v1/chat/completions"), (.openai, "/v1/responses"), (.anthropic, "/v1/messages"),
        ]
        for (provider, path) in generation {
            let r = route(provider, path, metered: true)
            router.post(RouterPath(path)) { request, _ in await proxy.forward(request, route: r, listener: listener) }
        }
        let countTokens = route(.anthropic, "/v1/messages/count_tokens", metered: false)
        router.post("/v1/messages/count_tokens") { request, _ in await proxy.forward(request, route: countTokens, listener: listener) }
        // Both providers list models at /v1/models; Anthropic's SDK always says its version.
        router.get("/v1/models") { request, _ in
            await proxy.forward(request, route: route(provider(of: request), "/v1/models", metered: false), listener: listener)
        }
        router.get("/v1/models/{model}") { request, context in
            let model = context.parameters.get("model") ?? ""
            return await proxy.forward(request, route: route(provider(of: request), "/v1/models/\(model)", metered: false),
                                       listener: listener)
        }
        // Codex tries the Responses API over a WebSocket first; 426 makes it use HTTP at once.
        router.get("/v1/responses") { request, _ in
            let upgrade = request.headers[.upgrade] != nil
            return Response(status: upgrade ? .upgradeRequired : .methodNotAllowed,
                            headers: [.contentType: "application/json", .connection: "close"],
                            body: ResponseBody(byteBuffer: ByteBuffer(bytes: FacadeRefusal(.badRequest,
                                "the Warren LLM facade serves the Responses API over HTTP only").body(for: .openai))))
        }
    }

    static func provider(of request: Request) -> LLMProvider {
        guard let name = HeaderField.Name("anthropic-version") else { return .openai }
        return request.headers[name] != nil ? .anthropic : .openai
    }
}
