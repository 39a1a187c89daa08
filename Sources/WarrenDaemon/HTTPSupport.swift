import Foundation
import Hummingbird
import NIOCore
import WarrenCore

/// The request context of the daemon's routers.
public struct DaemonRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
    }
}

/// One line of an NDJSON stream that ended with an error after the response had begun.
public struct StreamErrorLine: Codable, Sendable {
    public var error: WarrenError
    public init(error: WarrenError) { self.error = error }
}

// MARK: - Bodies

enum HTTPBody {
    static let ndjsonType = "application/x-ndjson"

    /// A JSON response encoded with the shared Warren conventions.
    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        var data = try WarrenJSON.encoder().encode(value)
        data.append(0x0A)
        return Response(status: status, headers: [.contentType: "application/json"],
                        body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// The `{code, message}` body and status of an error.
    static func error(_ error: WarrenError) -> Response {
        let status = HTTPResponse.Status(code: error.httpStatus)
        return (try? json(error, status: status)) ?? Response(status: status)
    }

    /// A response that writes one JSON line per element as the elements are produced.
    ///
    /// An error after the first byte cannot change the status any more; it is sent as a
    /// final `{"error": {code, message}}` line.
    static func ndjson<S: AsyncSequence & Sendable>(_ sequence: S) -> Response where S.Element: Encodable {
        Response(status: .ok, headers: [.contentType: ndjsonType, .cacheControl: "no-cache"],
                 body: ResponseBody { writer in
            let encoder = WarrenJSON.encoder()
            do {
                for try await element in sequence {
                    try await writer.write(line(try encoder.encode(element)))
                }
            } catch is CancellationError {
                // The client went away or the daemon is shutting down.
            } catch {
                let line = try encoder.encode(StreamErrorLine(error: .wrap(error)))
                try await writer.write(self.line(line))
            }
            try await writer.finish(nil)
        })
    }

    private static func line(_ data: Data) -> ByteBuffer {
        var buffer = ByteBuffer(bytes: data)
        buffer.writeInteger(UInt8(ascii: "\n"))
        return buffer
    }
}

// MARK: - Requests

extension Request {
    /// Decodes a JSON body; an empty body gives nil when `optional`, malformed JSON gives `invalid_argument`.
    func decodeJSON<T: Decodable>(_ type: T.Type, context: some RequestContext, optional: Bool = false) async throws -> T? {
        let buffer: ByteBuffer
        do {
            buffer = try await body.collect(upTo: context.maxUploadSize)
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw WarrenError(.invalidArgument, "request body is larger than \(context.maxUploadSize) bytes")
        }
        if buffer.readableBytes == 0 {
            if optional { return nil }
            throw WarrenError(.invalidArgument, "request body is empty: expected JSON")
        }
        do {
            return try WarrenJSON.decoder().decode(T.self, from: Data(buffer.readableBytesView))
        } catch {
            throw WarrenError(.invalidArgument, "malformed JSON body: \(Self.describe(error))")
        }
    }

    /// A boolean query flag: `1`, `true` or `yes`.
    func flag(_ name: String) -> Bool {
        guard let value = uri.queryParameters[name[...]] else { return false }
        return ["1", "true", "yes"].contains(value.lowercased())
    }

    private static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.dataCorrupted(let c):
            return c.debugDescription
        case DecodingError.keyNotFound(let key, _):
            return "missing field '\(key.stringValue)'"
        case DecodingError.typeMismatch(_, let c), DecodingError.valueNotFound(_, let c):
            let path = c.codingPath.map(\.stringValue).joined(separator: ".")
            return path.isEmpty ? c.debugDescription : "field '\(path)': \(c.debugDescription)"
        default:
            return "\(error)"
        }
    }
}
