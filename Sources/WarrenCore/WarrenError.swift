/// The one error type that crosses module and wire boundaries.
///
/// It round-trips as JSON `{"code": ..., "message": ...}` so the CLI prints exactly
/// what the daemon meant. Low-level modules throw their own small enums and convert
/// at their edge.
public struct WarrenError: Error, Codable, Sendable, Equatable, CustomStringConvertible {
    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }

    /// An extensible error code. New codes are added as static members.
    public struct Code: RawRepresentable, Codable, Sendable, Hashable, ExpressibleByStringLiteral {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public init(stringLiteral value: String) { self.rawValue = value }
        public init(from decoder: any Decoder) throws {
            rawValue = try decoder.singleValueContainer().decode(String.self)
        }
        public func encode(to encoder: any Encoder) throws {
            var c = encoder.singleValueContainer()
            try c.encode(rawValue)
        }

        public static let invalidArgument: Code = "invalid_argument"
        public static let notFound: Code = "not_found"
        public static let alreadyExists: Code = "already_exists"
        public static let conflict: Code = "conflict"
        public static let invalidState: Code = "invalid_state"
        public static let unsupported: Code = "unsupported"
        public static let unauthorized: Code = "unauthorized"
        public static let forbidden: Code = "forbidden"
        public static let unavailable: Code = "unavailable"
        public static let timeout: Code = "timeout"
        /// The thing existed and is gone for good (a stopped sandbox's notebook).
        public static let gone: Code = "gone"
        /// A server behind the daemon (a sandbox's Jupyter) failed or could not be reached.
        public static let badGateway: Code = "bad_gateway"
        /// The host lacks the storage to do it (the data root is below its free-space floor).
        public static let insufficientStorage: Code = "insufficient_storage"
        /// The sandbox's command is not in its root file system (`run` exits 127, as Docker's).
        public static let commandNotFound: Code = "command_not_found"
        /// A request body over the daemon's limit.
        public static let payloadTooLarge: Code = "payload_too_large"
        public static let internalError: Code = "internal"
    }
}

extension WarrenError {
    /// The HTTP status that carries this error on the wire.
    public var httpStatus: Int {
        switch code {
        case .invalidArgument: 400
        case .unauthorized: 401
        case .forbidden: 403
        case .notFound, .commandNotFound: 404
        case .alreadyExists, .conflict, .invalidState: 409
        case .gone: 410
        case .payloadTooLarge: 413
        case .unsupported: 501
        case .badGateway: 502
        case .unavailable: 503
        case .timeout: 504
        case .insufficientStorage: 507
        default: 500
        }
    }

    /// The code an HTTP error status stands for (the other way round from `httpStatus`).
    public static func code(forHTTPStatus status: Int) -> Code {
        switch status {
        case 400: .invalidArgument
        case 401: .unauthorized
        case 403: .forbidden
        case 404: .notFound
        case 409: .conflict
        case 410: .gone
        case 413: .payloadTooLarge
        case 501: .unsupported
        case 502: .badGateway
        case 503: .unavailable
        case 504: .timeout
        case 507: .insufficientStorage
        default: .internalError
        }
    }

    /// Wraps any error as a `WarrenError`, keeping one that already is.
    public static func wrap(_ error: any Error, _ code: Code = .internalError) -> WarrenError {
        if let e = error as? WarrenError { return e }
        return WarrenError(code, String(describing: error))
    }
}
