import Foundation
import Hummingbird
import NIOCore
import WarrenCore

/// The request context of the daemon's routers.
public struct DaemonRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The connection the request came on (streams end when it closes).
    public let channel: (any Channel)?

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.channel = source.channel
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
    ///
    /// With `until`, the stream ends when that connection closes, even while it waits for
    /// its next element (a follower of a quiet sandbox whose client left).
    static func ndjson<S: AsyncSequence & Sendable>(_ sequence: S, until connection: (any Channel)? = nil) -> Response
    where S.Element: Encodable & Sendable {
        Response(status: .ok, headers: [.contentType: ndjsonType, .cacheControl: "no-cache"],
                 body: ResponseBody { writer in
            let encoder = WarrenJSON.encoder()
            do {
                for try await element in endingWithConnection(sequence, connection) {
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

    /// `sequence`, relayed through a queue that ends when `connection` closes; the relay
    /// stops iterating `sequence` then, which releases what feeds it.
    static func endingWithConnection<S: AsyncSequence & Sendable>(_ sequence: S, _ connection: (any Channel)?)
        -> AsyncThrowingStream<S.Element, any Error> where S.Element: Sendable {
        StreamRelay(sequence, until: connection).stream
    }

    private static func line(_ data: Data) -> ByteBuffer {
        var buffer = ByteBuffer(bytes: data)
        buffer.writeInteger(UInt8(ascii: "\n"))
        return buffer
    }
}

/// A stream relayed through a small queue: it ends when the connection closes or `stop`
/// is called, and the source stops being read then.
struct StreamRelay<Element: Sendable>: Sendable {
    let stream: AsyncThrowingStream<Element, any Error>
    private let queue: BoundedQueue<Element>

    init<S: AsyncSequence & Sendable>(_ sequence: S, until connection: (any Channel)?) where S.Element == Element {
        let relay = BoundedQueue<Element>(capacity: 4)
        let task = Task {
            do {
                for try await element in sequence { try await relay.send(element) }
                relay.finish()
            } catch is CancellationError {
                relay.finish()
            } catch {
                relay.finish(throwing: error)
            }
        }
        relay.onConsumerLeft { task.cancel() }
        connection?.closeFuture.whenComplete { _ in relay.consumerLeft() }
        queue = relay
        stream = relay.stream()
    }

    /// Ends the stream now (whatever is still queued is dropped).
    func stop() { queue.consumerLeft() }
}

// MARK: - Requests

extension Request {
    /// Decodes a JSON body; an empty body gives nil when `optional`, malformed JSON gives `invalid_argument`.
    func decodeJSON<T: Decodable>(_ type: T.Type, context: some RequestContext, optional: Bool = false) async throws -> T? {
        let buffer: ByteBuffer
        do {
            buffer = try await body.collect(upTo: context.maxUploadSize)
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw WarrenError(.payloadTooLarge, "request body is larger than \(context.maxUploadSize) bytes")
        } catch is NIOTooManyBytesError {
            throw WarrenError(.payloadTooLarge, "request body is larger than \(context.maxUploadSize) bytes")
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

    /// What is wrong with a JSON body, in the client's terms (field paths and JSON kinds,
    /// never the daemon's type names).
    static func describe(_ error: any Error) -> String {
        func at(_ c: DecodingError.Context) -> String {
            let path = c.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
            return path.isEmpty ? "the body" : "field '\(path)'"
        }
        switch error {
        case DecodingError.dataCorrupted(let c) where c.codingPath.isEmpty:
            return "not valid JSON"
        case DecodingError.dataCorrupted(let c):
            return "\(at(c)) has an invalid value"
        case DecodingError.keyNotFound(let key, let c):
            let parent = at(c)
            return "missing field '\(key.stringValue)'" + (c.codingPath.isEmpty ? "" : " in \(parent)")
        case DecodingError.typeMismatch(let type, let c):
            return "\(at(c)) must be \(jsonKind(type))"
        case DecodingError.valueNotFound(let type, let c):
            return "\(at(c)) must be \(jsonKind(type)), not null"
        default:
            return "not valid JSON"
        }
    }

    /// The JSON kind a Swift type is read from.
    static func jsonKind(_ type: Any.Type) -> String {
        let name = String(describing: type)
        switch type {
        case is any BinaryInteger.Type, is any BinaryFloatingPoint.Type: return "a number"
        case is String.Type, is Substring.Type: return "a string"
        case is Bool.Type: return "a boolean"
        default: return name.hasPrefix("Array") ? "an array" : "an object"
        }
    }
}
