#if canImport(Glibc)
import Glibc
#endif
import CLinux
import Foundation
import LinuxSupport
@testable import NativeSandbox
import Testing
import WarrenCore
import WarrenTestSupport

/// The copy a sandbox runs on where overlay or id-mapped mounts are refused.
@Suite("Flattened copy root filesystems", .serialized)
struct FlattenedCopyTests {
    @Test("layers apply bottom to top: whiteouts delete, opaque directories hide, owners shift, hard links stay")
    func layerSemantics() throws {
        let dir = NSTemporaryDirectory() + "warren-copy-\(UUID().uuidString.prefix(8))"
        defer { try? removeTree(dir) }
        let lower = dir + "/lower", upper = dir + "/upper", target = dir + "/target"
        let fm = FileManager.default
        for d in [lower + "/a", lower + "/opaque", upper + "/a", upper + "/opaque"] {
            try fm.createDirectory(atPath: d, withIntermediateDirectories: true)
        }
        try "keep".write(toFile: lower + "/a/keep", atomically: false, encoding: .utf8)
        try "gone".write(toFile: lower + "/a/gone", atomically: false, encoding: .utf8)
        try "old".write(toFile: lower + "/opaque/old", atomically: false, encoding: .utf8)
        try "new".write(toFile: upper + "/opaque/new", atomically: false, encoding: .utf8)
        try "shared".write(toFile: upper + "/h1", atomically: false, encoding: .utf8)
        #expect(link(upper + "/h1", upper + "/h2") == 0)
        #expect(mknod(upper + "/a/gone", S_IFCHR | 0o600, 0) == 0, "whiteout")
        #expect(setxattr(upper + "/opaque", "trusted.overlay.opaque", "y", 1, 0) == 0)
        try fm.createSymbolicLink(atPath: upper + "/escape", withDestinationPath: "/etc/shadow")
        try "setuid".write(toFile: upper + "/suid", atomically: false, encoding: .utf8)
        chown(upper + "/suid", 1000, 1000)
        chmod(upper + "/suid", 0o4755)

        var copier = FlattenedCopy(idMap: IDMap(hostID: 200_000, size: 65536))
        try copier.build(layers: [upper, lower], into: target)

        #expect(try String(contentsOfFile: target + "/a/keep", encoding: .utf8) == "keep")
        #expect(!fm.fileExists(atPath: target + "/a/gone"), "whiteout did not delete")
        #expect(!fm.fileExists(atPath: target + "/opaque/old"), "opaque directory let the lower show")
        #expect(fm.fileExists(atPath: target + "/opaque/new"))
        var s1 = stat(), s2 = stat()
        stat(target + "/h1", &s1); stat(target + "/h2", &s2)
        #expect(s1.st_ino == s2.st_ino && s1.st_nlink == 2, "hard link lost")
        #expect(try fm.destinationOfSymbolicLink(atPath: target + "/escape") == "/etc/shadow", "symlink copied as is")
        var st = stat()
        lstat(target + "/a/keep", &st)
        #expect(st.st_uid == 200_000, "owner not shifted into the sandbox range")
        lstat(target + "/suid", &st)
        #expect(st.st_uid == 201_000)
        #expect(st.st_mode & 0o7777 == 0o4755, "mode kept after the owner shift")
        #expect(try String(contentsOfFile: lower + "/a/gone", encoding: .utf8) == "gone", "a layer was modified")
    }

    @Test("the copy stays on the layer's file system and never copies itself")
    func oneFileSystemNoSelfCopy() throws {
        let dir = NSTemporaryDirectory() + "warren-copy-\(UUID().uuidString.prefix(8))"
        let layer = dir + "/layer"
        try FileManager.default.createDirectory(atPath: layer + "/mnt", withIntermediateDirectories: true)
        try "top\n".write(toFile: layer + "/top", atomically: false, encoding: .utf8)
        #expect(mount("tmpfs", layer + "/mnt", "tmpfs", 0, "size=1m") == 0)
        try "other fs\n".write(toFile: layer + "/mnt/file", atomically: false, encoding: .utf8)
        defer { umount2(layer + "/mnt", Int32(MNT_DETACH)); try? removeTree(dir) }
        // The target inside the layer, as a data root under a --rootfs would be.
        let target = layer + "/var/copy"
        var copier = FlattenedCopy(idMap: IDMap(hostID: 200_000, size: 65536))
        try copier.build(layers: [layer], into: target)
        #expect(try String(contentsOfFile: target + "/top", encoding: .utf8) == "top\n")
        #expect(FileManager.default.fileExists(atPath: target + "/mnt"), "the mount point stays as a directory")
        #expect(!FileManager.default.fileExists(atPath: target + "/mnt/file"), "another file system was copied")
        #expect(!FileManager.default.fileExists(atPath: target + "/var/copy/top"), "the copy copied itself")
    }

    @Test("a sandbox on a copy: sandbox root owns its files, writes never reach the source, the probe is denied")
    func sandboxOnCopy() async throws {
        let f = DriverFixture(rootfsMode: .copy)
        defer { f.cleanUp() }
        let rootfs = try TestRootfs.path()
        let r = try await f.runToEnd(try f.spec(["/bin/sh", "-c", "stat -c %u /bin/busybox; id -u; echo changed > /etc/passwd && rm /bin/ls && echo ok"]))
        #expect(r.stdout == "0\n0\nok\n", "\(r.stderr)")
        #expect(try String(contentsOfFile: rootfs + "/etc/passwd", encoding: .utf8).hasPrefix("root:x:0:0"))
        #expect(FileManager.default.fileExists(atPath: rootfs + "/bin/ls"))

        let probe = try await f.runToEnd(try f.spec(["/bin/warren-probe"]))
        let rows = probe.stdout.split(separator: "\n").map(String.init)
        #expect(rows.last == "probe-done", "\(probe.stderr)")
        for row in rows.dropLast() { #expect(row.contains(" DENIED"), "sandbox allowed: \(row)") }
    }
}
