import Hummingbird
import WarrenCore

extension APIRouter {
    /// `/notebooks/<id>/...` for every method Jupyter serves, proxied by `gateway`.
    static func addNotebookRoutes(to router: Router<DaemonRequestContext>, _ gateway: NotebookGateway) {
        let methods: [HTTPRequest.Method] = [.get, .head, .post, .put, .patch, .delete, .options]
        for path in ["/notebooks/{id}", "/notebooks/{id}/**"] {
            for method in methods {
                router.on(RouterPath(path), method: method) { request, context in
                    try await gateway.respond(request, sandbox: context.parameters.require("id"))
                }
            }
        }
    }
}
