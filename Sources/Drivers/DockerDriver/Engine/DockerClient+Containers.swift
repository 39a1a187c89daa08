import AsyncHTTPClient
import Foundation
import NIOCore
import WarrenCore

// MARK: - Containers

extension DockerClient {
    /// `POST /containers/create`: returns the new container's id.
    public func createContainer(name: String?, _ config: DockerContainerConfig) async throws -> DockerCreated {
        try await json(.POST, "/containers/create", query: name.map { [("name", $0)] } ?? [], body: config)
    }

    public func startContainer(_ id: String) async throws {
        try await call(.POST, "/containers/\(id)/start", accepting: [304])
    }

    /// Blocks until the container is not running (it may already be), then returns its exit code.
    public func waitContainer(_ id: String, condition: String = "not-running") async throws -> DockerWaitResult {
        try await json(.POST, "/containers/\(id)/wait", query: [("condition", condition)], timeout: .hours(24 * 365))
    }

    /// SIGTERM (or the image's stop signal), then SIGKILL after `seconds`.
    public func stopContainer(_ id: String, seconds: Int) async throws {
        try await call(.POST, "/containers/\(id)/stop", query: [("t", "\(seconds)")], accepting: [304],
                       timeout: .seconds(Int64(seconds) + 60))
    }

    /// Sends `signal`; a container that is not running answers `conflict`.
    public func killContainer(_ id: String, signal: Int32) async throws {
        try await call(.POST, "/containers/\(id)/kill", query: [("signal", "\(signal)")])
    }

    /// Removes the container and its anonymous volumes, killing it if it runs.
    /// Returns false when there was no such container.
    @discardableResult
    public func removeContainer(_ id: String, force: Bool = true) async throws -> Bool {
        let status = try await call(.DELETE, "/containers/\(id)", query: [("force", force ? "1" : "0"), ("v", "1")],
                                    accepting: [404])
        return status != 404
    }

    /// `GET /containers/{id}/json`; nil when there is no such container.
    public func inspectContainer(_ id: String) async throws -> DockerContainer? {
        do {
            return try await json(.GET, "/containers/\(id)/json")
        } catch let error as WarrenError where error.code == .notFound {
            return nil
        }
    }

    /// Every container (running or not) carrying all of `labels`.
    public func listContainers(labels: [String: String]) async throws -> [DockerContainerSummary] {
        try await json(.GET, "/containers/json", query: [("all", "1"), ("filters", try Self.labelFilter(labels))])
    }

    public func resizeContainer(_ id: String, rows: UInt16, cols: UInt16) async throws {
        try await call(.POST, "/containers/\(id)/resize", query: [("h", "\(rows)"), ("w", "\(cols)")])
    }

    /// The container's output as Docker logged it, each record with its time; with
    /// `follow`, until the container stops.
    public func containerLogs(_ id: String, follow: Bool, tty: Bool) async throws -> AsyncThrowingStream<LogRecord.Decoded, any Error> {
        let response = try await send(.GET, "/containers/\(id)/logs", query: [
            ("stdout", "1"), ("stderr", "1"), ("timestamps", "1"), ("follow", follow ? "1" : "0"),
        ], timeout: nil)
        // The engine's body is read only as fast as the consumer takes records.
        let queue = BoundedQueue<LogRecord.Decoded>(capacity: 64)
        let task = Task {
            var decoder = DockerLogDecoder(multiplexed: !tty)
            do {
                for try await buffer in response.body {
                    for record in decoder.feed(buffer.readableBytesView) { try await queue.send(record) }
                }
                for record in decoder.finish() { try await queue.send(record) }
                queue.finish()
            } catch {
                queue.finish(throwing: error is CancellationError ? nil : error)
            }
        }
        queue.onConsumerLeft { task.cancel() }
        return queue.stream()
    }

    /// Attaches to the main process's stdin only (its output is read through logs).
    public func attachStdin(_ id: String) async throws -> DockerHijackedStream {
        try await DockerHijackedStream.open(self, .POST, "/containers/\(id)/attach", query: [
            ("stream", "1"), ("stdin", "1"), ("stdout", "0"), ("stderr", "0"),
        ], body: nil as String?)
    }

    /// `{"label": ["k=v", ...]}` as Docker's filters parameter.
    static func labelFilter(_ labels: [String: String]) throws -> String {
        let filter = ["label": labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }]
        return String(decoding: try JSONEncoder().encode(filter), as: UTF8.self)
    }
}

// MARK: - Exec

extension DockerClient {
    public func createExec(_ container: String, _ config: DockerExecConfig) async throws -> String {
        let created: DockerCreated = try await json(.POST, "/containers/\(container)/exec", body: config)
        return created.Id
    }

    /// Starts the exec and returns its hijacked stream.
    public func startExec(_ id: String, tty: Bool) async throws -> DockerHijackedStream {
        struct Start: Encodable { var Detach: Bool; var Tty: Bool }
        return try await DockerHijackedStream.open(self, .POST, "/exec/\(id)/start", body: Start(Detach: false, Tty: tty))
    }

    public func inspectExec(_ id: String) async throws -> DockerExecInspect {
        try await json(.GET, "/exec/\(id)/json")
    }

    public func resizeExec(_ id: String, rows: UInt16, cols: UInt16) async throws {
        try await call(.POST, "/exec/\(id)/resize", query: [("h", "\(rows)"), ("w", "\(cols)")])
    }
}
