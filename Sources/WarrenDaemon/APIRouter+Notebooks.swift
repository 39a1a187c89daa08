import Hummingbird
import WarrenCore

extension APIRouter {
    /// `/notebooks/<id>/...` for every method Jupyter serves, proxied by `gateway`.
    static func addNotebookRoutes(to router: Router<DaemonRequestContext>, _ gateway: NotebookGateway) {
        let methods: [HTTPRequest.Method] = [.get, .head, .post, .put, .patch, .delete, .options]
        for path in ["/notebooks/{id}", "/notebooks/{id}/**"] {
            for method in methods {
                router.on(RouterPath(path), method: method) { request, context in
                    let response = try await gateway.respond(request, sandbox: context.parameters.require("id"))
                    // A redeemed link is the only success here (an upgrade is sent round with a
                    // 307, before any credential is looked at).
                    if response.status.code < 300, let channel = context.channel { ConnectionGuard.markAuthenticated(channel) }
                    return response
                }
            }
        }
    }
}
