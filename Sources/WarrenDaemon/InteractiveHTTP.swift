import Foundation
import Hummingbird
import NIOConcurrencyHelpers
import NIOCore
import WarrenCore

/// Full-duplex NDJSON over one HTTP/1.1 exchange: the client keeps streaming its
/// request body (`AttachInput` lines) while the response streams `OutputChunk` lines.
///
/// This is how `exec -it` and `attach` carry input, window sizes and signals without
/// a protocol upgrade; any HTTP client that streams both ways can use it.
struct NDJSONRequestLines {
    /// The body's iterator. It is used by one task at a time: the handler reads the
    /// first line, then hands the reader to the response writer.
    private final class Cursor: @unchecked Sendable {
        var iterator: RequestBody.AsyncIterator
        var framer = NDJSONFramer(maxLine: NDJSONRequestLines.maxLine)
        var finished = false
        init(_ iterator: RequestBody.AsyncIterator) { self.iterator = iterator }
    }

    private let cursor: Cursor
    /// Longest line accepted (a stdin chunk is base64 inside JSON).
    static let maxLine = 4 << 20

    init(_ body: RequestBody) {
        cursor = Cursor(body.makeAsyncIterator())
    }

    /// The next non-blank line, or nil at the end of the body.
    func next() async throws -> [UInt8]? {
        while true {
            if let line = try cursor.framer.nextLine(atEnd: cursor.finished) { return line }
            if cursor.finished { return nil }
            if let buffer = try await cursor.iterator.next() {
                cursor.framer.append(buffer.readableBytesView)
            } else {
                cursor.finished = true
            }
        }
    }

    /// The next line decoded as `T`; malformed JSON is the client's error.
    func next<T: Decodable>(_ type: T.Type) async throws -> T? {
        guard let line = try await next() else { return nil }
        do {
            return try WarrenJSON.decoder().decode(T.self, from: Data(line))
        } catch {
            throw WarrenError(.invalidArgument, "malformed request line: \(Request.describe(error))")
        }
    }
}

extension HTTPBody {
    /// Streams the session's output while feeding it the client's remaining input lines.
    /// The rest of the input is drained once the output has ended.
    /// The output ends when `connection` closes, the process keeping on as `exec` and
    /// `attach` leave it.
    static func interactive(_ session: InteractiveSession, input: NDJSONRequestLines, until connection: (any Channel)? = nil) -> Response {
        Response(status: .ok, headers: [.contentType: ndjsonType, .cacheControl: "no-cache"],
                 body: ResponseBody { writer in
            let output = StreamRelay(session.output, until: connection)
            let refused = NIOLockedValueBox<WarrenError?>(nil)
            let feeder = Task {
                var accepting = true
                do {
                    while let message = try await input.next(AttachInput.self) {
                        // Once the process cannot take input any more (it exited), the
                        // rest of the body is still read, so the connection stays usable.
                        guard accepting else { continue }
                        do {
                            try await session.send(message)
                        } catch let error as WarrenError where error.code == .invalidArgument {
                            throw error  // a signal that may not be sent: the client's mistake
                        } catch {
                            accepting = false
                        }
                    }
                } catch let error as WarrenError {
                    // A line that is not input: the exchange ends with that error, the
                    // process keeps running (attach) or is left to end (exec).
                    refused.withLockedValue { $0 = error }
                    output.stop()
                } catch {
                    // A client gone away: the output side reports how the process ended.
                }
                await session.inputEnded()
            }
            let encoder = WarrenJSON.encoder()
            do {
                for try await chunk in output.stream {
                    var buffer = ByteBuffer(bytes: try encoder.encode(chunk))
                    buffer.writeInteger(UInt8(ascii: "\n"))
                    try await writer.write(buffer)
                }
                if let error = refused.withLockedValue({ $0 }) { throw error }
            } catch is CancellationError {
            } catch {
                var buffer = ByteBuffer(bytes: try encoder.encode(StreamErrorLine(error: .wrap(error))))
                buffer.writeInteger(UInt8(ascii: "\n"))
                try await writer.write(buffer)
            }
            // A client ends its input when the output ends; one that does not is cut off.
            let cutoff = Task {
                try await Task.sleep(for: .seconds(2))
                feeder.cancel()
            }
            await feeder.value
            cutoff.cancel()
            try await writer.finish(nil)
        })
    }
}
