#if canImport(Glibc)
import Glibc
#endif
import Foundation
import LinuxSupport
import RuntimeDriver
import Testing
import WarrenCore
import WarrenTestSupport

/// Whatever a sandbox leaves in its files, `rm` removes it.
@Suite("Removing what a sandbox left", .serialized)
struct TreeRemovalTests {
    /// A name of 200 bytes, too long for a path of 30 of them to fit PATH_MAX.
    static let longName = String(repeating: "d", count: 200)

    @Test("names of any bytes, nesting past PATH_MAX, closed modes and links out go; nothing outside is touched",
          arguments: [64, 3])
    func hostileTree(maxOpen: Int) throws {
        let base = NSTemporaryDirectory() + "warren-rm-\(UUID().uuidString.prefix(8))"
        let root = base + "/tree", outside = base + "/outside"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        defer { try? removeTree(base) }
        try "keep\n".write(toFile: outside + "/keep", atomically: false, encoding: .utf8)

        var dir = open(root, O_RDONLY | O_DIRECTORY)
        let bad: [CChar] = [98, -1, 110, 0]  // "b\xffn"
        let made = openat(dir, bad, O_CREAT | O_WRONLY, 0o000)
        #expect(made >= 0)
        close(made)
        #expect(symlinkat(outside, dir, "out") == 0)
        #expect(linkat(AT_FDCWD, outside + "/keep", dir, "hardlink", 0) == 0)
        for level in 0..<30 {
            #expect(mkdirat(dir, Self.longName, 0o755) == 0)
            let next = openat(dir, Self.longName, O_RDONLY | O_DIRECTORY)
            if level % 7 == 0 { fchmod(dir, 0o000) }
            close(dir)
            dir = next
            let f = openat(dir, bad, O_CREAT | O_WRONLY, 0o000)
            close(f)
        }
        fchmod(dir, 0o000)
        close(dir)

        try removeTree(root, maxOpen: maxOpen)
        #expect(!FileManager.default.fileExists(atPath: root))
        #expect(try String(contentsOfFile: outside + "/keep", encoding: .utf8) == "keep\n", "a link was followed out")
    }

    @Test("a mount point inside the tree stops the removal and its contents stay")
    func mountPointInside() throws {
        let base = NSTemporaryDirectory() + "warren-rm-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: base + "/m", withIntermediateDirectories: true)
        #expect(mount("tmpfs", base + "/m", "tmpfs", 0, "size=1m") == 0)
        try "inside\n".write(toFile: base + "/m/file", atomically: false, encoding: .utf8)
        #expect(throws: SyscallError.self) { try removeTree(base) }
        #expect(FileManager.default.fileExists(atPath: base + "/m/file"))
        umount2(base + "/m", 0)
        try removeTree(base)
        #expect(!FileManager.default.fileExists(atPath: base))
    }

    @Test("a sandbox that leaves undecodable names, deep trees and closed modes is removed whole",
          arguments: [RootfsMode.overlay, .copy])
    func sandboxLeftovers(mode: RootfsMode) async throws {
        let f = DriverFixture(rootfsMode: mode)
        defer { f.cleanUp() }
        let id = SandboxID.generate()
        // Two chains of 15 long names, one moved into the other: every path the shell
        // uses stays under PATH_MAX, the tree it leaves is nested past it.
        let script = """
            touch "/bad$(printf '\\377')name" || exit 1
            d=$(for i in $(seq 1 15); do printf '%s/' \(Self.longName); done)
            mkdir -p /deep/$d /deep2/$d && touch "/deep2/${d}x$(printf '\\377')" && mv /deep2 /deep/$d || exit 2
            chmod 000 /deep/$d /deep && echo left
            """
        try await f.driver.create(id: id, spec: try f.spec(["/bin/sh", "-c", script]))
        _ = try await f.driver.start(id: id)
        let exit = try await f.driver.wait(id: id)
        let (out, err) = try await f.output(id)
        #expect(exit.exitCode == 0 && out == "left\n", "\(out) \(err)")
        try await f.driver.remove(id: id)
        #expect(!FileManager.default.fileExists(atPath: f.dataRoot + "/sandboxes/" + id))
        #expect(try await !f.driver.list().contains(id))
    }
}
