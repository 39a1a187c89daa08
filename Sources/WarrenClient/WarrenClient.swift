import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import WarrenCore

/// A typed client for the Warren daemon's API, over its Unix socket or TCP with a bearer token.
///
/// Error bodies (`{code, message}`) are rethrown as `WarrenError`; failing to connect at
/// all becomes `WarrenError(.unavailable, ...)` naming the host.
public struct WarrenClient: Sendable {
    public let host: DaemonHost
    let token: String?
    let http: HTTPClient
    /// Time limit of a request that is not a stream.
    public var requestTimeout: TimeAmount = .seconds(120)

    /// A client of the daemon at `host`. `httpClient` defaults to one shared per process.
    public init(host: DaemonHost, token: String? = nil, httpClient: HTTPClient? = nil) {
        self.host = host
        self.token = token
        self.http = httpClient ?? Self.sharedHTTPClient
    }

    /// A client for `host` (or `WARREN_HOST`, or the default socket), with the token from `WARREN_TOKEN`.
    public static func fromEnvironment(host: String? = nil,
                                       environment: [String: String] = ProcessInfo.processInfo.environment) throws -> WarrenClient {
        let target = try host.map(DaemonHost.init(parsing:)) ?? DaemonHost.fromEnvironment(environment)
        let token = environment["WARREN_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        return WarrenClient(host: target, token: token)
    }

    /// One client for the whole process, on NIO's singleton event loop group; never shut down.
    /// A daemon that is not there is said at once: the pool would retry a refused
    /// connect until the connect timeout (10 s by default).
    static let sharedHTTPClient = HTTPClient(
        eventLoopGroup: MultiThreadedEventLoopGroup.singleton,
        configuration: .init(timeout: .init(connect: .seconds(2))))

    // MARK: - System

    public func version() async throws -> VersionInfo {
        try await call(.GET, "/v1/version")
    }

    /// `"ok"` when the daemon is healthy.
    public func health() async throws -> String {
        let status: [String: String] = try await call(.GET, "/v1/health")
        return status["status"] ?? "unknown"
    }

    public func info() async throws -> DaemonInfo {
        try await call(.GET, "/v1/info")
    }

    // MARK: - Sandboxes

    /// Creates and starts a sandbox; returns it once it runs.
    public func createSandbox(_ spec: SandboxSpec) async throws -> SandboxInfo {
        try await call(.POST, "/v1/sandboxes", body: spec)
    }

    /// Sandboxes not finished, or with `all` every sandbox not removed.
    public func listSandboxes(all: Bool = false) async throws -> [SandboxInfo] {
        try await call(.GET, "/v1/sandboxes" + (all ? "?all=1" : ""))
    }

    /// One sandbox by id, unique id prefix or name.
    public func inspect(_ reference: String) async throws -> SandboxInfo {
        try await call(.GET, "/v1/sandboxes/\(Self.escape(reference))")
    }

    /// A sandbox's LLM access and use of the facade.
    /// A one-time link to a notebook sandbox's Jupyter, once Jupyter answers.
    public func notebookLink(_ reference: String) async throws -> NotebookLink {
        try await call(.POST, "/v1/sandboxes/\(Self.escape(reference))/notebook")
    }

    public func usage(_ reference: String) async throws -> SandboxUsage {
        try await call(.GET, "/v1/sandboxes/\(Self.escape(reference))/usage")
    }

    /// A sandbox's egress access and the connections its proxy recorded.
    public func egress(_ reference: String) async throws -> SandboxEgress {
        try await call(.GET, "/v1/sandboxes/\(Self.escape(reference))/egress")
    }

    /// Allows or denies patterns on a sandbox that has egress.
    public func changeEgress(_ reference: String, _ change: EgressChange) async throws -> SandboxEgress {
        try await call(.POST, "/v1/sandboxes/\(Self.escape(reference))/egress", body: change)
    }

    /// Stops a sandbox (SIGTERM, then SIGKILL after `graceSeconds`, the daemon's default when nil).
    public func stop(_ reference: String, graceSeconds: Double? = nil) async throws -> SandboxInfo {
        try await call(.POST, "/v1/sandboxes/\(Self.escape(reference))/stop", body: StopRequest(graceSeconds: graceSeconds))
    }

    /// Removes a sandbox; `force` kills a running one first.
    public func remove(_ reference: String, force: Bool = false) async throws {
        let response = try await send(.DELETE, "/v1/sandboxes/\(Self.escape(reference))" + (force ? "?force=1" : ""),
                                      body: nil, stream: false)
        _ = try await response.body.collect(upTo: 1 << 20)
    }

    /// The sandbox's output; with `follow`, until it ends, closing with an `exit` chunk.
    public func logs(_ reference: String, follow: Bool = false) async throws -> AsyncThrowingStream<OutputChunk, any Error> {
        let response = try await send(.GET, "/v1/sandboxes/\(Self.escape(reference))/logs" + (follow ? "?follow=1" : ""),
                                      body: nil, stream: true)
        return NDJSONLines.decode(OutputChunk.self, from: response.body)
    }

    /// Runs a process in a running sandbox; its output ends with an `exit` chunk.
    public func exec(_ reference: String, _ request: ExecRequest) async throws -> AsyncThrowingStream<OutputChunk, any Error> {
        let response = try await send(.POST, "/v1/sandboxes/\(Self.escape(reference))/exec",
                                      body: try WarrenJSON.encoder().encode(request), stream: true)
        return NDJSONLines.decode(OutputChunk.self, from: response.body)
    }

    /// Lifecycle events after `since`; with `follow`, then new ones as they happen.
    public func events(since: Int64 = 0, follow: Bool = false) async throws -> AsyncThrowingStream<SandboxEvent, any Error> {
        var query = "?since=\(since)"
        if follow { query += "&follow=1" }
        let response = try await send(.GET, "/v1/events" + query, body: nil, stream: true)
        return NDJSONLines.decode(SandboxEvent.self, from: response.body)
    }

    // MARK: - Plumbing

    static func escape(_ reference: String) -> String {
        var allowed = CharacterSet.urlPathAllowed
        allowed.remove(charactersIn: "/?#%")
        return reference.addingPercentEncoding(withAllowedCharacters: allowed) ?? reference
    }
}
