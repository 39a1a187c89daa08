import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import WarrenCore

// MARK: - Requests and errors

extension WarrenClient {
    /// Sends a request and decodes a JSON response.
    func call<T: Decodable>(_ method: HTTPMethod, _ uri: String, body: (some Encodable)? = nil as String?) async throws -> T {
        let data = try body.map { try WarrenJSON.encoder().encode($0) }
        let response = try await send(method, uri, body: data, stream: false)
        let buffer = try await response.body.collect(upTo: 64 << 20)
        do {
            return try WarrenJSON.decoder().decode(T.self, from: Data(buffer.readableBytesView))
        } catch {
            throw WarrenError(.internalError, "unexpected response from the daemon to \(method) \(uri): \(error)")
        }
    }

    /// Sends a request; a non-2xx status throws the daemon's `WarrenError`.
    func send(_ method: HTTPMethod, _ uri: String, body: Data?, stream: Bool) async throws -> HTTPClientResponse {
        try await send(method, uri, body: body.map { .bytes(ByteBuffer(bytes: $0)) }, contentType: "application/json", stream: stream)
    }

    /// Sends a request with any body (a stream for full-duplex exchanges).
    func send(_ method: HTTPMethod, _ uri: String, body: HTTPClientRequest.Body?, contentType: String,
              stream: Bool) async throws -> HTTPClientResponse {
        var request = HTTPClientRequest(url: host.url(uri))
        request.method = method
        request.headers.add(name: "Host", value: "warren")
        request.headers.add(name: "User-Agent", value: "warren-client/\(warrenVersion)")
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body {
            request.headers.add(name: "Content-Type", value: contentType)
            request.body = body
        }
        let response: HTTPClientResponse
        do {
            // Streams (follow, exec) may run for as long as the sandbox does.
            let deadline: NIODeadline = stream ? .distantFuture : .now() + requestTimeout
            response = try await http.execute(request, deadline: deadline)
        } catch {
            throw connectionError(error)
        }
        guard (200..<300).contains(response.status.code) else {
            let buffer = (try? await response.body.collect(upTo: 1 << 20)) ?? ByteBuffer()
            if let error = try? WarrenJSON.decoder().decode(WarrenError.self, from: Data(buffer.readableBytesView)) {
                throw error
            }
            let text = String(buffer: buffer).trimmingCharacters(in: .whitespacesAndNewlines)
            throw WarrenError(WarrenError.code(forHTTPStatus: Int(response.status.code)),
                              "daemon answered \(response.status.code)\(text.isEmpty ? "" : ": \(text)")")
        }
        return response
    }

    /// What a failure to get any response means to the user.
    func connectionError(_ error: any Error) -> any Error {
        if error is CancellationError || error is WarrenError { return error }
        if let io = error as? IOError, io.errnoCode == EACCES || io.errnoCode == EPERM {
            return WarrenError(.forbidden, "permission denied connecting to the warren daemon at \(host)")
        }
        if let httpError = error as? HTTPClientError, httpError == .deadlineExceeded || httpError == .readTimeout {
            return WarrenError(.timeout, "the warren daemon at \(host) did not answer in time")
        }
        return WarrenError(.unavailable, "cannot reach the warren daemon at \(host): is `warren daemon` running?")
    }
}

// MARK: - NDJSON

/// Splits a streamed body into lines and decodes each as JSON, as they arrive.
enum NDJSONLines {
    static func decode<T: Decodable & Sendable>(_ type: T.Type, from body: HTTPClientResponse.Body) -> AsyncThrowingStream<T, any Error> {
        AsyncThrowingStream { continuation in
            let task = Task {
                let decoder = WarrenJSON.decoder()
                var pending = [UInt8]()
                do {
                    for try await buffer in body {
                        pending.append(contentsOf: buffer.readableBytesView)
                        while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                            let line = Array(pending[..<newline])
                            pending.removeSubrange(...newline)
                            if let value = try parse(line, as: T.self, decoder: decoder) { continuation.yield(value) }
                        }
                    }
                    if let value = try parse(pending, as: T.self, decoder: decoder) { continuation.yield(value) }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    /// One line: an element, nil for a blank line, or the daemon's mid-stream `{"error": ...}`.
    static func parse<T: Decodable>(_ line: [UInt8], as type: T.Type, decoder: JSONDecoder) throws -> T? {
        guard line.contains(where: { !($0 == 0x20 || $0 == 0x0D || $0 == 0x09) }) else { return nil }
        let data = Data(line)
        if let failure = try? decoder.decode(StreamFailure.self, from: data) { throw failure.error }
        do {
            return try decoder.decode(T.self, from: data)
        } catch {
            throw WarrenError(.internalError, "malformed line in the daemon's stream: \(error)")
        }
    }

    private struct StreamFailure: Decodable {
        var error: WarrenError
    }
}
