import Foundation
import Hummingbird
import ImageStore
import WarrenCore

/// Builds the daemon's HTTP API over a `SandboxManager`.
///
/// Handlers are thin: decode, call the manager, encode. Errors become `{code, message}`
/// bodies in `APIErrorMiddleware`.
public enum APIRouter {
    /// Everything a router needs.
    public struct Dependencies: Sendable {
        public var manager: SandboxManager
        public var metrics: DaemonMetrics
        public var dataRoot: String
        /// When set, every request must carry `Authorization: Bearer <token>`.
        public var bearerToken: String?
        /// Pulls go through it; nil answers pulls with 503.
        public var registry: RegistryClient?
        /// The docker `config.json` read for registry logins at each pull.
        public var registryConfigPath: String?
        /// Serves `/notebooks/<id>/...` (TCP listener only).
        public var notebookGateway: NotebookGateway?
        /// The TCP listener's `http://HOST:PORT`, which notebook links point at.
        public var notebookBaseURL: String?
        /// Whether requests may name host paths (image import and export): on the Unix
        /// socket, within the peer's own permissions; never over TCP.
        public var acceptsHostPaths = true
        /// Agent sessions; nil where a daemon runs none (some tests).
        public var agents: AgentManager?

        public init(manager: SandboxManager, metrics: DaemonMetrics, dataRoot: String, bearerToken: String? = nil,
                    registry: RegistryClient? = nil, registryConfigPath: String? = nil) {
            self.manager = manager; self.metrics = metrics; self.dataRoot = dataRoot; self.bearerToken = bearerToken
            self.registry = registry; self.registryConfigPath = registryConfigPath
        }
    }

    /// The router serving `/v1/...` and `/metrics`.
    public static func build(_ deps: Dependencies) -> Router<DaemonRequestContext> {
        let router = Router(context: DaemonRequestContext.self)
        router.add(middleware: APIErrorMiddleware(metrics: deps.metrics))
        if let gateway = deps.notebookGateway {
            // Before the bearer check: a browser proves itself with its notebook cookie.
            addNotebookRoutes(to: router, gateway)
        }
        if let token = deps.bearerToken {
            router.add(middleware: BearerTokenMiddleware(token: Array(token.utf8)))
        }
        addSystemRoutes(to: router, deps)
        addSandboxRoutes(to: router, deps)
        addImageRoutes(to: router, deps)
        addAgentRoutes(to: router, deps)
        return router
    }

    /// The routes a router serves, as `METHOD /path` with `{param}` placeholders.
    public static func routes(of router: Router<DaemonRequestContext>) -> Set<String> {
        Set(router.routes.map { "\($0.method.rawValue) \($0.path)" })
    }

    // MARK: - System

    static func addSystemRoutes(to router: Router<DaemonRequestContext>, _ deps: Dependencies) {
        router.get("/v1/version") { _, _ in
            try HTTPBody.json(VersionInfo.current)
        }
        router.get("/v1/health") { _, _ in
            try HTTPBody.json(["status": "ok"])
        }
        router.get("/v1/info") { _, _ in
            try HTTPBody.json(try await deps.manager.info(dataRoot: deps.dataRoot))
        }
        router.get("/v1/events") { request, context in
            let since = try request.uri.queryParameters["since"].map { text -> Int64 in
                guard let seq = Int64(text), seq >= 0 else {
                    throw WarrenError(.invalidArgument, "since must be a non-negative sequence number")
                }
                return seq
            } ?? 0
            return HTTPBody.ndjson(try await deps.manager.events(since: since, follow: request.flag("follow")), until: context.channel)
        }
        router.get("/metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                     body: ResponseBody(byteBuffer: ByteBuffer(string: deps.metrics.render())))
        }
    }

    // MARK: - Sandboxes

    static func addSandboxRoutes(to router: Router<DaemonRequestContext>, _ deps: Dependencies) {
        let manager = deps.manager
        router.post("/v1/sandboxes") { request, context in
            let spec = try await request.decodeJSON(SandboxSpec.self, context: context)!
            return try HTTPBody.json(try await uncancellable { try await manager.create(spec) }, status: .created)
        }
        router.get("/v1/sandboxes") { request, _ in
            try HTTPBody.json(try await manager.list(all: request.flag("all")))
        }
        router.get("/v1/sandboxes/{id}") { _, context in
            try HTTPBody.json(try await manager.inspect(context.parameters.require("id")))
        }
        router.post("/v1/sandboxes/{id}/stop") { request, context in
            let body = try await request.decodeJSON(StopRequest.self, context: context, optional: true)
            let stopGrace = try body?.grace()
            let reference = try context.parameters.require("id")
            return try HTTPBody.json(try await uncancellable { try await manager.stop(reference, grace: stopGrace) })
        }
        router.delete("/v1/sandboxes/{id}") { request, context in
            let reference = try context.parameters.require("id")
            let force = request.flag("force")
            try await uncancellable { try await manager.remove(reference, force: force) }
            return Response(status: .noContent)
        }
        router.post("/v1/sandboxes/{id}/notebook") { _, context in
            try HTTPBody.json(try await manager.notebookLink(context.parameters.require("id"), baseURL: deps.notebookBaseURL),
                              status: .created)
        }
        router.get("/v1/sandboxes/{id}/usage") { _, context in
            try HTTPBody.json(try await manager.usage(context.parameters.require("id")))
        }
        router.get("/v1/sandboxes/{id}/egress") { _, context in
            try HTTPBody.json(try await manager.egressInfo(context.parameters.require("id")))
        }
        router.post("/v1/sandboxes/{id}/egress") { request, context in
            let change = try await request.decodeJSON(EgressChange.self, context: context)!
            let reference = try context.parameters.require("id")
            return try HTTPBody.json(try await uncancellable { try await manager.changeEgress(reference, change) })
        }
        router.get("/v1/sandboxes/{id}/logs") { request, context in
            HTTPBody.ndjson(try await manager.logs(context.parameters.require("id"), follow: request.flag("follow")),
                            until: context.channel)
        }
        router.post("/v1/sandboxes/{id}/exec") { request, context in
            let reference = try context.parameters.require("id")
            // NDJSON: the ExecRequest, then AttachInput lines for as long as the client
            // streams. Plain JSON: just the ExecRequest.
            let streaming = request.headers[.contentType]?.hasPrefix(HTTPBody.ndjsonType) == true
            let exec: ExecRequest
            var input: NDJSONRequestLines?
            if streaming {
                let lines = NDJSONRequestLines(request.body)
                guard let first = try await lines.next(ExecRequest.self) else {
                    throw WarrenError(.invalidArgument, "request body is empty: expected an ExecRequest line")
                }
                exec = first
                input = lines
            } else {
                exec = try await request.decodeJSON(ExecRequest.self, context: context)!
            }
            let session = try await manager.exec(reference, request: exec)
            guard let input else {
                await session.inputEnded()
                return HTTPBody.ndjson(session.output, until: context.channel)
            }
            return HTTPBody.interactive(session, input: input, until: context.channel)
        }
        router.post("/v1/sandboxes/{id}/attach") { request, context in
            let session = try await manager.attach(context.parameters.require("id"))
            return HTTPBody.interactive(session, input: NDJSONRequestLines(request.body), until: context.channel)
        }
        router.post("/v1/sandboxes/{id}/kill") { request, context in
            let body = try await request.decodeJSON(KillRequest.self, context: context)!
            try await manager.kill(context.parameters.require("id"), signal: body.signal)
            return Response(status: .noContent)
        }
    }
}

/// Runs a state-changing operation to completion even when the client goes away
/// mid-request, so a half-done create or removal is never abandoned.
func uncancellable<T: Sendable>(_ operation: @escaping @Sendable () async throws -> T) async throws -> T {
    try await Task { try await operation() }.value
}


