import Foundation
import NIOCore
import WarrenCore

/// An image Warren's own store holds, as a tarball the engine can load.
public struct LocalImageArchive: Sendable {
    /// `sha256:<hex>` of the image's config: the id Docker gives it once loaded.
    public var imageID: String
    public var length: Int64
    public var chunks: AsyncThrowingStream<[UInt8], any Error>
    /// Called once the engine has read the archive (or failed to).
    public var done: @Sendable () async -> Void

    public init(imageID: String, length: Int64, chunks: AsyncThrowingStream<[UInt8], any Error>,
                done: @escaping @Sendable () async -> Void) {
        self.imageID = imageID; self.length = length; self.chunks = chunks; self.done = done
    }
}

/// Where the driver finds images Docker does not have: Warren's image store.
public protocol LocalImageSource: Sendable {
    /// The image as a docker-archive; nil when the store does not hold it.
    func dockerArchive(for reference: String) async throws -> LocalImageArchive?
}

extension DockerDriver {
    /// The id of the image `reference` names, making sure the engine has it: from
    /// Docker's own store, else loaded from Warren's store, else pulled by the engine.
    func ensureImage(_ reference: String, engine: DockerClient) async throws -> String {
        if let image = try await engine.inspectImage(reference) { return image.Id }
        if let archive = try await localImages?.dockerArchive(for: reference) {
            logger.info("loading image into Docker from Warren's store", metadata: ["image": "\(reference)", "id": "\(archive.imageID)"])
            let buffers = AsyncThrowingStream<ByteBuffer, any Error> { continuation in
                let task = Task {
                    do {
                        for try await chunk in archive.chunks { continuation.yield(ByteBuffer(bytes: chunk)) }
                        continuation.finish()
                    } catch {
                        continuation.finish(throwing: error)
                    }
                }
                continuation.onTermination = { _ in task.cancel() }
            }
            do {
                try await engine.loadImage(length: archive.length, buffers)
            } catch {
                await archive.done()
                throw error
            }
            await archive.done()
            guard let loaded = try await engine.inspectImage(archive.imageID) else {
                throw WarrenError(.internalError, "Docker loaded \(reference) but does not know image \(archive.imageID)")
            }
            return loaded.Id
        }
        logger.info("pulling image through Docker", metadata: ["image": "\(reference)"])
        do {
            try await engine.pullImage(reference)
        } catch let error as WarrenError {
            throw WarrenError(error.code == .notFound ? .notFound : error.code,
                              "image \(reference) is in neither Docker's store nor Warren's, and Docker cannot pull it: \(error.message)")
        }
        guard let image = try await engine.inspectImage(reference) else {
            throw WarrenError(.notFound, "Docker pulled \(reference) but does not know it")
        }
        return image.Id
    }
}
