import AsyncHTTPClient
import Foundation
import NIOCore
import WarrenCore

// MARK: - Images

extension DockerClient {
    public func listImages() async throws -> [DockerImageSummary] {
        try await json(.GET, "/images/json")
    }

    /// `GET /images/{name}/json`; nil when the engine has no such image.
    public func inspectImage(_ name: String) async throws -> DockerImage? {
        do {
            return try await json(.GET, "/images/\(name)/json")
        } catch let error as WarrenError where error.code == .notFound {
            return nil
        }
    }

    /// Pulls `reference` through the engine (its registries, its credentials); the
    /// engine reports failures inside the stream, which become errors here.
    public func pullImage(_ reference: String, platform: String? = nil) async throws {
        var query = [("fromImage", reference)]
        if let platform { query.append(("platform", platform)) }
        let response = try await send(.POST, "/images/create", query: query, timeout: .hours(2))
        try await Self.checkProgress(response, doing: "pulling \(reference)")
    }

    /// Removes an image (untags it; its layers go when nothing else uses them).
    public func removeImage(_ name: String, force: Bool = false) async throws {
        try await call(.DELETE, "/images/\(name)", query: [("force", force ? "1" : "0")])
    }

    /// Loads a docker-archive tarball (`docker save` format) of `length` bytes.
    public func loadImage(length: Int64, _ chunks: AsyncThrowingStream<ByteBuffer, any Error>) async throws {
        let response = try await send(.POST, "/images/load", query: [("quiet", "1")],
                                      body: .stream(chunks, length: .known(length)), contentType: "application/x-tar",
                                      timeout: .hours(2))
        try await Self.checkProgress(response, doing: "loading an image")
    }

    /// Reads a JSON-lines progress answer to its end; an `error` line throws.
    static func checkProgress(_ response: HTTPClientResponse, doing what: String) async throws {
        var pending: [UInt8] = []
        for try await buffer in response.body {
            pending.append(contentsOf: buffer.readableBytesView)
            while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let line = Array(pending[..<newline])
                pending.removeFirst(newline + 1)
                if let message = try? JSONDecoder().decode(DockerProgressMessage.self, from: Data(line)),
                   let error = message.errorDetail?.message ?? message.error {
                    throw WarrenError(error.contains("not found") || error.contains("does not exist") ? .notFound : .internalError,
                                      "docker: \(what): \(error)")
                }
            }
        }
    }
}

// MARK: - Networks

extension DockerClient {
    public func createNetwork(_ config: DockerNetworkConfig) async throws -> String {
        let created: DockerCreated = try await json(.POST, "/networks/create", body: config)
        return created.Id
    }

    /// nil when there is no such network.
    public func inspectNetwork(_ name: String) async throws -> DockerNetwork? {
        do {
            return try await json(.GET, "/networks/\(name)")
        } catch let error as WarrenError where error.code == .notFound {
            return nil
        }
    }

    public func listNetworks(labels: [String: String]) async throws -> [DockerNetwork] {
        try await json(.GET, "/networks", query: [("filters", try Self.labelFilter(labels))])
    }

    /// Returns false when there was no such network.
    @discardableResult
    public func removeNetwork(_ name: String) async throws -> Bool {
        try await call(.DELETE, "/networks/\(name)", accepting: [404]) != 404
    }
}

// MARK: - Events

extension DockerClient {
    /// The engine's events from `since` (seconds since 1970) on, for objects carrying all
    /// of `labels`; the stream runs until cancelled, or ends at `until` when given.
    public func events(labels: [String: String], since: Date? = nil, until: Date? = nil) async throws -> AsyncThrowingStream<DockerEvent, any Error> {
        var query = [("filters", try Self.labelFilter(labels))]
        if let since { query.append(("since", String(format: "%.9f", since.timeIntervalSince1970))) }
        if let until { query.append(("until", String(format: "%.9f", until.timeIntervalSince1970))) }
        let response = try await send(.GET, "/events", query: query, timeout: nil)
        return AsyncThrowingStream { continuation in
            let task = Task {
                var pending: [UInt8] = []
                do {
                    for try await buffer in response.body {
                        pending.append(contentsOf: buffer.readableBytesView)
                        while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                            let line = Array(pending[..<newline])
                            pending.removeFirst(newline + 1)
                            if let event = try? JSONDecoder().decode(DockerEvent.self, from: Data(line)) {
                                continuation.yield(event)
                            }
                        }
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error is CancellationError ? nil : error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }
}

// MARK: - System

extension DockerClient {
    public func systemInfo() async throws -> DockerSystemInfo {
        try await json(.GET, "/info")
    }

    public func version() async throws -> DockerVersion {
        try await json(.GET, "/version")
    }
}
