#if canImport(Glibc)
import Glibc
#endif
import Foundation
import LinuxSupport
import Testing
import WarrenCore
import WarrenTestSupport

/// A hostile sandbox root writes through its bind mounts what a host user could later
/// run or read; none of it may carry host root.
@Suite("Bind mounts never hand out host root", .serialized)
struct BindMountOwnershipTests {
    func hostDirectory(owner: uid_t, group: gid_t, mode: mode_t) throws -> String {
        let dir = NSTemporaryDirectory() + "warren-bind-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        chown(dir, owner, group)
        chmod(dir, mode)
        return dir
    }

    func owner(_ path: String) -> (uid: uid_t, gid: gid_t, mode: mode_t) {
        var st = stat()
        lstat(path, &st)
        return (st.st_uid, st.st_gid, st.st_mode & 0o7777)
    }

    @Test("a regular user's directory: sandbox root is that user there, and so is every file it leaves")
    func userOwnedSource() async throws {
        let f = DriverFixture()
        defer { f.cleanUp() }
        let dir = try hostDirectory(owner: 1000, group: 1000, mode: 0o755)
        defer { try? removeTree(dir) }
        let r = try await f.runToEnd(try f.spec(["/bin/sh", "-c", """
            stat -c '%u %g' /w; echo hi > /w/made && cp /bin/busybox /w/bb && chmod 6755 /w/bb && mkdir /w/sub && echo wrote
            """]) { $0.mounts = [MountSpec(source: dir, destination: "/w")] })
        #expect(r.stdout == "0 0\nwrote\n", "\(r.stderr)")
        for file in ["made", "bb", "sub"] {
            let o = owner(dir + "/" + file)
            #expect(o.uid == 1000 && o.gid == 1000, "\(file) is owned by \(o.uid):\(o.gid) on the host")
        }
        #expect(owner(dir + "/bb").mode & 0o4000 != 0, "set-uid is allowed, as that user's own")
    }

    @Test("a root-owned directory: sandbox root writes as its own unprivileged id; set-uid and set-gid bits carry no privilege")
    func rootOwnedSource() async throws {
        let f = DriverFixture()
        defer { f.cleanUp() }
        let dir = try hostDirectory(owner: 0, group: 0, mode: 0o1777)
        defer { try? removeTree(dir) }
        try "root's\n".write(toFile: dir + "/rootfile", atomically: false, encoding: .utf8)
        chmod(dir + "/rootfile", 0o644)
        let r = try await f.runToEnd(try f.spec(["/bin/sh", "-c", """
            stat -c '%u %g' /w /w/rootfile; cp /bin/busybox /w/bb && chmod 6755 /w/bb && echo hi > /w/made && echo wrote
            echo changed >> /w/rootfile || echo refused
            """]) { $0.mounts = [MountSpec(source: dir, destination: "/w")] })
        #expect(r.stdout == "65534 65534\n65534 65534\nwrote\nrefused\n", "\(r.stdout) \(r.stderr)")
        for file in ["bb", "made"] {
            let o = owner(dir + "/" + file)
            #expect(o.uid > 65535 && o.gid > 65535, "\(file) is owned by \(o.uid):\(o.gid) on the host")
        }
        #expect(try String(contentsOfFile: dir + "/rootfile", encoding: .utf8) == "root's\n")
    }

    @Test("a read-only bind of a root-only file cannot be read")
    func rootOnlyFileUnreadable() async throws {
        let f = DriverFixture()
        defer { f.cleanUp() }
        let dir = try hostDirectory(owner: 0, group: 0, mode: 0o755)
        defer { try? removeTree(dir) }
        try "secret\n".write(toFile: dir + "/secret", atomically: false, encoding: .utf8)
        chmod(dir + "/secret", 0o600)
        let r = try await f.runToEnd(try f.spec(["/bin/sh", "-c", "cat /s /shadow; echo done"]) {
            $0.mounts = [MountSpec(source: dir + "/secret", destination: "/s", readOnly: true),
                         MountSpec(source: "/etc/shadow", destination: "/shadow", readOnly: true)]
        })
        #expect(r.stdout == "done\n", "a root-only file was read: \(r.stdout)")
        #expect(r.stderr.components(separatedBy: "Permission denied").count == 3, "\(r.stderr)")
    }
}
