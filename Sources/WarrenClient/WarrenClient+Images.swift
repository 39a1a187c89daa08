import Foundation
import WarrenCore

extension WarrenClient {
    public func listImages() async throws -> [ImageSummary] {
        try await call(.GET, "/v1/images")
    }

    public func inspectImage(_ reference: String) async throws -> ImageDetails {
        try await call(.GET, "/v1/images/\(Self.escape(reference))")
    }

    /// Imports an OCI layout or docker-archive at `path` on the daemon's host.
    public func importImage(path: String, tag: String? = nil, platform: String? = nil) async throws -> ImageChanges {
        try await call(.POST, "/v1/images/import", body: ImageImportRequest(path: path, tag: tag, platform: platform))
    }

    public func exportImage(_ reference: String, to path: String) async throws -> ImageChanges {
        try await call(.POST, "/v1/images/\(Self.escape(reference))/export", body: ImageExportRequest(path: path))
    }

    public func removeImage(_ reference: String, force: Bool = false) async throws -> ImageChanges {
        try await call(.DELETE, "/v1/images/\(Self.escape(reference))" + (force ? "?force=1" : ""))
    }

    public func pruneImages() async throws -> ImageChanges {
        try await call(.POST, "/v1/images/prune")
    }
}

extension WarrenClient {
    /// Pulls an image; the stream reports progress and ends after `done`. Errors before
    /// the pull starts (no such image, no access) are thrown here.
    public func pullImage(_ request: ImagePullRequest) async throws -> AsyncThrowingStream<PullProgress, any Error> {
        let response = try await send(.POST, "/v1/images/pull", body: try WarrenJSON.encoder().encode(request), stream: true)
        return NDJSONLines.decode(PullProgress.self, from: response.body)
    }
}
