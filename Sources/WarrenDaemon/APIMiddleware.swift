import Foundation
import HTTPTypes
import Hummingbird
import Logging
import WarrenCore

/// Turns every error into a `{code, message}` JSON body with the matching status,
/// tags the response with the request id, counts the request and logs it.
struct APIErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: DaemonMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response: Response
        do {
            response = try await next(request, context)
        } catch {
            let warrenError = Self.convert(error)
            if warrenError.httpStatus >= 500 {
                context.logger.error("request failed", metadata: ["error": "\(warrenError)"])
            } else {
                context.logger.debug("request refused", metadata: ["error": "\(warrenError)"])
            }
            response = HTTPBody.error(warrenError)
        }
        response.headers[.requestID] = context.id
        metrics.countRequest(method: request.method.rawValue, status: response.status.code)
        context.logger.info("\(request.method) \(request.uri.path) \(response.status.code)")
        return response
    }

    static func convert(_ error: any Error) -> WarrenError {
        switch error {
        case let error as WarrenError:
            return error
        case let error as HTTPError:
            let code: WarrenError.Code = switch error.status.code {
            case 400: .invalidArgument
            case 401: .unauthorized
            case 403: .forbidden
            case 404: .notFound
            case 405: .unsupported
            case 409: .conflict
            case 413: .invalidArgument
            default: .internalError
            }
            let message = error.body ?? (error.status == .notFound ? "no such route" : error.status.reasonPhrase)
            return WarrenError(code, message)
        default:
            return WarrenError.wrap(error)
        }
    }
}

/// Requires `Authorization: Bearer <token>` (TCP listener only); compares in constant time.
struct BearerTokenMiddleware<Context: RequestContext>: RouterMiddleware {
    let token: [UInt8]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer "),
              Self.constantTimeEqual(Array(header.utf8.dropFirst(7)), token) else {
            throw WarrenError(.unauthorized, "missing or wrong bearer token")
        }
        if let channel = (context as? DaemonRequestContext)?.channel { ConnectionGuard.markAuthenticated(channel) }
        return try await next(request, context)
    }

    /// Equal length and bytes, without an early exit that would leak the first difference.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference = UInt8(truncatingIfNeeded: a.count ^ b.count)
        for i in 0..<max(a.count, b.count) {
            let x = i < a.count ? a[i] : 0
            let y = i < b.count ? b[i] : 0
            difference |= x ^ y
        }
        return difference == 0 && a.count == b.count
    }
}

extension HTTPField.Name {
    static let requestID = HTTPField.Name("X-Request-Id")!
}
