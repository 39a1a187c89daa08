import CLinux
import Foundation
@testable import ImageStore
import LinuxSupport
import Testing
import WarrenCore
import WarrenTestSupport

/// Every rule of a safe, containerd-compatible layer unpack, on hand-made layers.
@Suite("Layer unpack", .serialized)
struct LayerUnpackerTests {
    @Test("files, directories, symlinks and fifos keep modes, owners, mtimes and xattrs; symlinks are not followed")
    func metadata() throws {
        let f = try LayerFixture()
        defer { f.cleanUp() }
        let blob = try f.layer([
            ["name": "etc", "type": "dir", "mode": 0o750, "uid": 1000, "gid": 1001, "mtime": 1_500_000_000],
            ["name": "etc/tool", "data": "#!/bin/sh\n", "mode": 0o4755, "uid": 1000, "gid": 1000, "mtime": 1_600_000_000,
             "xattrs": ["user.origin": "layer"]],
            ["name": "etc/shadow-link", "type": "symlink", "target": "/etc/shadow"],
            ["name": "run/pipe", "type": "fifo", "mode": 0o600],
        ])
        let (root, result) = try f.unpack(blob)
        let dir = try #require(LayerFixture.stat(root + "/etc"))
        #expect(dir.st_mode & 0o7777 == 0o750 && dir.st_uid == 1000 && dir.st_gid == 1001)
        #expect(dir.st_mtim.tv_sec == 1_500_000_000, "a directory's mtime is set after its children")
        let tool = try #require(LayerFixture.stat(root + "/etc/tool"))
        #expect(tool.st_mode & 0o7777 == 0o4755, "set-id bits survive the chown")
        #expect(tool.st_uid == 1000 && tool.st_mtim.tv_sec == 1_600_000_000)
        var value = [UInt8](repeating: 0, count: 16)
        let n = getxattr(root + "/etc/tool", "user.origin", &value, value.count)
        #expect(n == 5 && Array(value[0..<5]) == Array("layer".utf8))
        let link = try #require(LayerFixture.stat(root + "/etc/shadow-link"))
        #expect(link.st_mode & S_IFMT == S_IFLNK)
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: root + "/etc/shadow-link")) == "/etc/shadow")
        #expect(LayerFixture.stat(root + "/run/pipe").map { $0.st_mode & S_IFMT } == S_IFIFO)
        #expect(result.diffID == Digest.of(readFileIfPresent(blob)!), "the diff id is the plain tar's digest")
    }

    @Test("plain, gzip and zstd layers unpack alike and have one diff id")
    func compressions() throws {
        let f = try LayerFixture()
        defer { f.cleanUp() }
        let entries: [[String: Any]] = [["name": "a/b", "data": String(repeating: "warren ", count: 10_000)]]
        let plain = try f.unpack(try f.layer(entries)).result.diffID
        let gz = try f.unpack(try f.layer(entries, ext: "tar.gz"))
        let zst = try f.unpack(try f.layer(entries, ext: "tar.zst"))
        #expect(gz.result.diffID == plain)
        #expect(zst.result.diffID == plain)
        #expect(readFileIfPresent(zst.path + "/a/b")?.count == 70_000)
    }

    @Test("hard links stay links inside the layer; links to outside it fail the layer")
    func hardLinks() throws {
        let f = try LayerFixture()
        defer { f.cleanUp() }
        let (root, _) = try f.unpack(try f.layer([
            ["name": "bin/busybox", "data": "elf"], ["name": "bin/sh", "type": "hardlink", "target": "bin/busybox"],
        ]))
        #expect(LayerFixture.stat(root + "/bin/sh")?.st_ino == LayerFixture.stat(root + "/bin/busybox")?.st_ino)
        for target in ["../../../etc/passwd", "/etc/passwd", "missing/file"] {
            #expect(throws: (any Error).self, "hard link to \(target)") {
                try f.unpack(try f.layer([["name": "x", "type": "hardlink", "target": target]]))
            }
        }
        #expect(throws: (any Error).self, "hard link through a symlink") {
            try f.unpack(try f.layer([["name": "l", "type": "symlink", "target": "/etc"],
                                      ["name": "x", "type": "hardlink", "target": "l/passwd"]]))
        }
    }

    @Test("'..' and absolute names fail the layer and write nothing outside", arguments: ["../escaped", "a/../../escaped", "/escaped"])
    func hostileNames(name: String) throws {
        let f = try LayerFixture()
        defer { f.cleanUp() }
        #expect(throws: (any Error).self) { try f.unpack(try f.layer([["name": name, "data": "x"]])) }
        #expect(access(f.dir + "/escaped", F_OK) != 0)
        #expect(access("/escaped", F_OK) != 0)
    }

    @Test("no entry is written through a symlink of this layer")
    func symlinkInLayer() throws {
        let f = try LayerFixture()
        defer { f.cleanUp() }
        let outside = f.dir + "/outside"
        try makeDirectories(outside)
        #expect(throws: (any Error).self) {
            try f.unpack(try f.layer([["name": "s", "type": "symlink", "target": outside], ["name": "s/pwned", "data": "x"]]))
        }
        #expect(throws: (any Error).self, "relative links too") {
            try f.unpack(try f.layer([["name": "s", "type": "symlink", "target": "../../outside"], ["name": "s/pwned", "data": "x"]]))
        }
        #expect(access(outside + "/pwned", F_OK) != 0)
    }

    @Test("no entry is written through a lower layer's symlink; an explicit directory may replace it")
    func symlinkInLowerLayer() throws {
        let f = try LayerFixture()
        defer { f.cleanUp() }
        let (lower, _) = try f.unpack(try f.layer([["name": "s", "type": "symlink", "target": "/etc"],
                                                  ["name": "real/dir/f", "data": "x"]]))
        #expect(throws: (any Error).self) { try f.unpack(try f.layer([["name": "s/pwned", "data": "x"]]), lowers: [lower]) }
        let ok = try f.unpack(try f.layer([["name": "s", "type": "dir"], ["name": "s/fine", "data": "x"],
                                           ["name": "real/dir/g", "data": "y"]]), lowers: [lower])
        #expect(readFileIfPresent(ok.path + "/s/fine") == Array("x".utf8))
        #expect(readFileIfPresent(ok.path + "/real/dir/g") == Array("y".utf8))
    }

    @Test("whiteouts and opaque markers hide lower layers only, wherever they stand in the tar")
    func whiteouts() throws {
        let f = try LayerFixture()
        defer { f.cleanUp() }
        let (lower, _) = try f.unpack(try f.layer([
            ["name": "gone", "data": "old"], ["name": "d/old", "data": "old"], ["name": "keep", "data": "old"],
            ["name": "back", "data": "old"], ["name": "swap/inner", "data": "old"],
        ]))
        let (upper, _) = try f.unpack(try f.layer([
            ["name": "d/new", "data": "new"], ["name": "d/.wh..wh..opq"],     // marker after this layer's own entry
            ["name": ".wh.gone"],
            ["name": "keep", "data": "new"], ["name": ".wh.keep"],             // whiteout after this layer's own file
            ["name": ".wh.back"], ["name": "back", "data": "new"],             // file after its whiteout
            ["name": ".wh.swap"], ["name": "swap", "type": "dir"], ["name": "swap/fresh", "data": "new"],
        ]), lowers: [lower])
        let gone = try #require(LayerFixture.stat(upper + "/gone"))
        #expect(gone.st_mode & S_IFMT == S_IFCHR && gone.st_rdev == 0, "a whiteout is a 0/0 character device")
        #expect(readFileIfPresent(upper + "/keep") == Array("new".utf8))
        #expect(readFileIfPresent(upper + "/back") == Array("new".utf8))
        #expect(readFileIfPresent(upper + "/d/new") == Array("new".utf8))
        #expect(Self.xattr(upper + "/d", "trusted.overlay.opaque") == "y")
        #expect(Self.xattr(upper + "/swap", "trusted.overlay.opaque") == "y", "a directory replacing a whited-out one hides the old")

        // Stacked by the kernel's overlay, as a sandbox sees them.
        let merged = try TestShell.run("unshare -m sh -c 'mkdir -p \(f.dir)/m && mount -t overlay none -o lowerdir=\(upper):\(lower) \(f.dir)/m && cd \(f.dir)/m && find . | sort'")
        let seen = Set(merged.split(separator: "\n").map(String.init))
        #expect(seen.isSuperset(of: ["./d/new", "./keep", "./back", "./swap/fresh"]))
        #expect(seen.isDisjoint(with: ["./gone", "./d/old", "./swap/inner"]), "\(seen)")
    }

    @Test("device nodes are made by a privileged unpack, skipped with a note otherwise")
    func devices() throws {
        let f = try LayerFixture()
        defer { f.cleanUp() }
        let blob = try f.layer([["name": "dev/null", "type": "char", "major": 1, "minor": 3, "mode": 0o666]])
        let (root, _) = try f.unpack(blob)
        let dev = try #require(LayerFixture.stat(root + "/dev/null"))
        #expect(dev.st_mode & S_IFMT == S_IFCHR && dev.st_rdev == LayerUnpacker.device(major: 1, minor: 3))
        let (plain, result) = try f.unpack(blob, privileged: false)
        #expect(access(plain + "/dev/null", F_OK) != 0)
        #expect(result.notes.contains { $0.contains("skipped device node dev/null") })
    }

    static func xattr(_ path: String, _ name: String) -> String? {
        var value = [UInt8](repeating: 0, count: 64)
        let n = getxattr(path, name, &value, value.count)
        return n >= 0 ? String(decoding: value[0..<n], as: UTF8.self) : nil
    }
}

enum TestShell {
    static func run(_ command: String) throws -> String {
        try WarrenTestSupport.TestRootfs.run(blocking: "/bin/sh", ["-c", command])
    }
}
