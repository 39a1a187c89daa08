#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import Testing
import WarrenCore
import WarrenStore

/// A store whose disk is full says so, as the client's 507, not as the daemon's 500.
@Suite("Store on a full disk", .serialized)
struct FullDiskTests {
    @Test("a write the disk cannot take is insufficient_storage")
    func fullDisk() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("warren-full-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        #expect(mount("tmpfs", dir, "tmpfs", 0, "size=512k") == 0)
        defer { umount2(dir, Int32(MNT_DETACH)); rmdir(dir) }
        let store = try WarrenStore(path: dir + "/warren.db", logger: Logger(label: "test"))
        var failure: WarrenError?
        for i in 0..<5000 {
            var info = sandbox()
            info.spec.env = ["FILL=" + String(repeating: "x", count: 8192), "I=\(i)"]
            do { try await store.sandboxes.insert(info) } catch let e as WarrenError { failure = e; break }
        }
        #expect(failure?.code == .insufficientStorage, "\(String(describing: failure))")
        #expect(failure?.httpStatus == 507)
    }
}
