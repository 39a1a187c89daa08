import HTTPTypes
import Hummingbird
import LLMFacade
import NIOCore
import NIOHTTP1
import WarrenCore

extension APIRouter {
    /// `/llm/...` on the daemon's Unix socket: host clients holding a sandbox's token reach
    /// the facade here, with any live token (a sandbox's own listener takes only its own).
    static func addFacadeRoutes(to router: Router<DaemonRequestContext>, _ proxy: FacadeProxy) {
        for method in [HTTPRequest.Method.get, .post] {
            router.on("/llm/**", method: method) { request, _ in
                await forwardToFacade(request, proxy)
            }
        }
    }

    static func forwardToFacade(_ request: Request, _ proxy: FacadeProxy) async -> Response {
        // Over the limit, the facade refuses in the provider's shape, as on a sandbox's socket.
        let body = try? await request.body.collect(upTo: FacadeProxy.requestLimit)
        var headers = HTTPHeaders()
        for field in request.headers { headers.add(name: field.name.rawName, value: field.value) }
        let uri = String(request.uri.description.dropFirst("/llm".count))
        let head = HTTPRequestHead(version: .http1_1, method: HTTPMethod(rawValue: request.method.rawValue), uri: uri,
                                   headers: headers)
        let (answer, stream) = await FacadeStreamedCall.run(proxy, head: head, body: body, listener: nil)
        var fields = HTTPFields()
        for (name, value) in answer.headers {
            if let name = HTTPField.Name(name) { fields.append(HTTPField(name: name, value: value)) }
        }
        return Response(status: .init(code: Int(answer.status.code)), headers: fields, body: ResponseBody { writer in
            for try await chunk in stream { try await writer.write(chunk) }
            try await writer.finish(nil)
        })
    }
}
