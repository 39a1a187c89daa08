import DockerDriver
import ImageStore
import WarrenCore

/// Warren's image store as the Docker driver's source of images Docker does not have:
/// each image goes to the engine as a docker-archive, under a GC lease until it is read.
struct StoreImageArchives: LocalImageSource {
    let images: ImageStore

    func dockerArchive(for reference: String) async throws -> LocalImageArchive? {
        await images.acquireLease()
        let archive: DockerArchive
        do {
            archive = try await images.dockerArchive(reference)
        } catch {
            await images.releaseLease()
            if let error = error as? WarrenError, error.code == .notFound { return nil }
            throw error
        }
        let images = self.images
        return LocalImageArchive(imageID: archive.imageID.description, length: archive.length, chunks: archive.chunks(),
                                 done: { await images.releaseLease() })
    }
}
