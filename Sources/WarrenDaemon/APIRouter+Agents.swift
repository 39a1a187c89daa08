import Agents
import Foundation
import Hummingbird
import WarrenCore

extension APIRouter {
    /// `/v1/agents`: sessions of an agent CLI on a workspace.
    static func addAgentRoutes(to router: Router<DaemonRequestContext>, _ deps: Dependencies) {
        guard let agents = deps.agents else { return }
        router.post("/v1/agents") { request, context in
            let spec = try await request.decodeJSON(AgentSpec.self, context: context)!
            // A workspace or repository is a host path: the client must be able to write it itself.
            // A remote repository's URL is no host path: the daemon clones it into its own data root.
            let repoPath = spec.repo.flatMap { RepositoryURL.isRemote($0) ? nil : GitWorkspace.parse($0).path }
            for path in [spec.workspace, repoPath] {
                guard let path else { continue }
                guard deps.acceptsHostPaths else {
                    throw WarrenError(.forbidden, "a workspace or repository is a host path, accepted on the daemon's Unix socket only")
                }
                try await checkHostPath(path, .write, deps: deps, context: context)
            }
            return try HTTPBody.json(try await uncancellable { try await agents.create(spec) }, status: .created)
        }
        router.get("/v1/agents") { _, _ in
            try HTTPBody.json(try await agents.list())
        }
        router.get("/v1/agents/{id}") { _, context in
            try HTTPBody.json(try await agents.inspect(context.parameters.require("id")))
        }
        router.post("/v1/agents/{id}/turns") { request, context in
            let turn = try await request.decodeJSON(AgentTurnRequest.self, context: context)!
            let reference = try context.parameters.require("id")
            return try HTTPBody.json(try await uncancellable { try await agents.send(reference, prompt: turn.prompt) },
                                     status: .accepted)
        }
        router.get("/v1/agents/{id}/events") { request, context in
            let since = try request.uri.queryParameters["since"].map { text -> Int64 in
                guard let seq = Int64(text), seq >= 0 else {
                    throw WarrenError(.invalidArgument, "since must be a non-negative sequence number")
                }
                return seq
            } ?? 0
            return HTTPBody.ndjson(try await agents.events(context.parameters.require("id"), since: since,
                                                           follow: request.flag("follow")), until: context.channel)
        }
        router.get("/v1/agents/{id}/raw") { _, context in
            HTTPBody.ndjson(try await agents.rawLines(context.parameters.require("id")), until: context.channel)
        }
        router.get("/v1/agents/{id}/diff") { _, context in
            try HTTPBody.json(["diff": try await agents.diff(context.parameters.require("id"))])
        }
        router.post("/v1/agents/{id}/attach") { request, context in
            // NDJSON: an AgentAttachRequest line, then AttachInput lines, as for exec.
            let lines = NDJSONRequestLines(request.body)
            let attach = try await lines.next(AgentAttachRequest.self) ?? AgentAttachRequest()
            let session = try await agents.attach(context.parameters.require("id"), attach)
            return HTTPBody.interactive(session, input: lines, until: context.channel)
        }
        router.post("/v1/agents/{id}/push") { _, context in
            let reference = try context.parameters.require("id")
            return try HTTPBody.json(try await uncancellable { try await agents.push(reference) })
        }
        router.post("/v1/agents/{id}/stop") { _, context in
            let reference = try context.parameters.require("id")
            return try HTTPBody.json(try await uncancellable { try await agents.stop(reference) })
        }
        router.delete("/v1/agents/{id}") { request, context in
            let reference = try context.parameters.require("id")
            let deleteBranch = request.flag("deleteBranch")
            try await uncancellable { try await agents.remove(reference, deleteBranch: deleteBranch) }
            return Response(status: .noContent)
        }
    }
}
