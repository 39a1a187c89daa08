import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import WarrenCore

/// A client of the Docker Engine API over its Unix socket.
///
/// `connect` asks the engine for its API version and pins the newest both sides
/// speak; every path is then sent under `/v<version>`. Docker's own error messages
/// come back as `WarrenError`s with a matching code. Plain requests go through
/// AsyncHTTPClient; attach and exec streams hijack a connection of their own
/// (`DockerHijackedStream`).
public final class DockerClient: Sendable {
    public let endpoint: DockerEndpoint
    /// The API version in use, e.g. `1.41`.
    public let apiVersion: String
    /// The engine's own version, e.g. `20.10.24`.
    public let engineVersion: String
    let logger: Logger

    /// One HTTP client for the process: it lives as long as the process does.
    static let http: HTTPClient = {
        var config = HTTPClient.Configuration()
        config.redirectConfiguration = .disallow
        config.timeout = .init(connect: .seconds(5), read: nil)
        config.decompression = .disabled
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
    }()

    /// Time allowed for a request that is not a stream.
    static let requestTimeout: TimeAmount = .seconds(120)

    init(endpoint: DockerEndpoint, apiVersion: String, engineVersion: String, logger: Logger) {
        self.endpoint = endpoint
        self.apiVersion = apiVersion
        self.engineVersion = engineVersion
        self.logger = logger
    }

    /// Reaches the engine and negotiates the API version from `GET /version`.
    public static func connect(_ endpoint: DockerEndpoint, logger: Logger) async throws -> DockerClient {
        let probe = DockerClient(endpoint: endpoint, apiVersion: "", engineVersion: "", logger: logger)
        let version: DockerVersion = try await probe.json(.GET, "/version", versioned: false, timeout: .seconds(10))
        let api = try DockerAPIVersion.negotiate(server: version.ApiVersion, serverMinimum: version.MinAPIVersion)
        logger.debug("docker engine", metadata: ["version": "\(version.Version)", "api": "\(api)"])
        return DockerClient(endpoint: endpoint, apiVersion: api, engineVersion: version.Version, logger: logger)
    }

    // MARK: - Requests

    /// `path` with the query, under the negotiated version prefix.
    func uri(_ path: String, _ query: [(String, String)] = [], versioned: Bool = true) -> String {
        var uri = (versioned ? "/v\(apiVersion)" : "") + path
        if !query.isEmpty {
            var allowed = CharacterSet.urlQueryAllowed
            allowed.remove(charactersIn: "&=+?#")
            uri += "?" + query.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: allowed) ?? $0.1)" }
                .joined(separator: "&")
        }
        return uri
    }

    /// Sends a request; a status outside 2xx (or one of `accepting`) throws Docker's message.
    func send(_ method: HTTPMethod, _ path: String, query: [(String, String)] = [], json: (any Encodable)? = nil,
              body: HTTPClientRequest.Body? = nil, contentType: String? = nil, versioned: Bool = true,
              accepting: Set<UInt> = [], timeout: TimeAmount? = requestTimeout) async throws -> HTTPClientResponse {
        var request = HTTPClientRequest(url: endpoint.url(uri(path, query, versioned: versioned)))
        request.method = method
        request.headers.add(name: "Host", value: "docker")
        request.headers.add(name: "User-Agent", value: "warren/\(warrenVersion)")
        if let json {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: try WarrenJSON.encoder().encode(json)))
        } else if let body {
            request.headers.add(name: "Content-Type", value: contentType ?? "application/octet-stream")
            request.body = body
        }
        let response: HTTPClientResponse
        do {
            response = try await Self.http.execute(request, deadline: timeout.map { .now() + $0 } ?? .distantFuture)
        } catch {
            throw connectionError(error, method: method, path: path)
        }
        let status = response.status.code
        guard (200..<300).contains(status) || accepting.contains(status) else {
            let bytes = (try? await response.body.collect(upTo: 1 << 20)) ?? ByteBuffer()
            throw Self.error(status: status, body: Array(bytes.readableBytesView), method: method, path: path)
        }
        return response
    }

    /// Sends a request and decodes its JSON answer.
    func json<T: Decodable>(_ method: HTTPMethod, _ path: String, query: [(String, String)] = [],
                            body: (any Encodable)? = nil, versioned: Bool = true,
                            timeout: TimeAmount = requestTimeout) async throws -> T {
        let response = try await send(method, path, query: query, json: body, versioned: versioned, timeout: timeout)
        let bytes = try await response.body.collect(upTo: 64 << 20)
        do {
            return try JSONDecoder().decode(T.self, from: Data(bytes.readableBytesView))
        } catch {
            throw WarrenError(.internalError, "unexpected answer from Docker to \(method) \(path): \(error)")
        }
    }

    /// Sends a request whose answer has no body Warren needs; returns the status.
    @discardableResult
    func call(_ method: HTTPMethod, _ path: String, query: [(String, String)] = [], body: (any Encodable)? = nil,
              accepting: Set<UInt> = [], timeout: TimeAmount? = requestTimeout) async throws -> UInt {
        let response = try await send(method, path, query: query, json: body, accepting: accepting, timeout: timeout)
        _ = try? await response.body.collect(upTo: 16 << 20)
        return response.status.code
    }

    // MARK: - Errors

    /// Docker's error answer as a `WarrenError` carrying Docker's own message.
    static func error(status: UInt, body: [UInt8], method: HTTPMethod, path: String) -> WarrenError {
        let message = (try? JSONDecoder().decode(DockerErrorBody.self, from: Data(body)))?.message
            ?? String(decoding: body, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        let code = WarrenError.code(forHTTPStatus: Int(status))
        return WarrenError(code, "docker: \(message.isEmpty ? "\(method) \(path) answered \(status)" : message)")
    }

    func connectionError(_ error: any Error, method: HTTPMethod, path: String) -> any Error {
        if error is CancellationError || error is WarrenError { return error }
        if let http = error as? HTTPClientError, http == .deadlineExceeded {
            return WarrenError(.timeout, "docker did not answer \(method) \(path) in time")
        }
        return WarrenError(.unavailable, "cannot reach the Docker engine at \(endpoint): \(error)")
    }
}
