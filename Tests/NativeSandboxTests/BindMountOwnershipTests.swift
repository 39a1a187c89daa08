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

    /// A regular account of this host and its primary group.
    static var account: (uid: uid_t, gid: gid_t) { TestAccount.regular }

    func owner(_ path: String) -> (uid: uid_t, gid: gid_t, mode: mode_t) {
        var st = stat()
        lstat(path, &st)
        return (st.st_uid, st.st_gid, st.st_mode & 0o7777)
    }

    @Test("a regular user's directory: sandbox root is that user there, and so is every file it leaves")
    func userOwnedSource() async throws {
        let f = DriverFixture()
        defer { f.cleanUp() }
        let (uid, gid) = Self.account
        let dir = try hostDirectory(owner: uid, group: gid, mode: 0o755)
        defer { try? removeTree(dir) }
        let r = try await f.runToEnd(try f.spec(["/bin/sh", "-c", """
            stat -c '%u %g' /w; echo hi > /w/made && cp /bin/busybox /w/bb && chmod 6755 /w/bb && mkdir /w/sub && echo wrote
            """]) { $0.mounts = [MountSpec(source: dir, destination: "/w")] })
        #expect(r.stdout == "0 0\nwrote\n", "\(r.stderr)")
        for file in ["made", "bb", "sub"] {
            let o = owner(dir + "/" + file)
            #expect(o.uid == uid && o.gid == gid, "\(file) is owned by \(o.uid):\(o.gid) on the host")
        }
        #expect(owner(dir + "/bb").mode & 0o4000 != 0, "set-uid is allowed, as that user's own")
    }

    @Test("a group that is not the owner's own is never handed over, whatever its number")
    func foreignGroupNotMapped() async throws {
        let f = DriverFixture()
        defer { f.cleanUp() }
        let (uid, gid) = Self.account
        let other: gid_t = gid == 4321 ? 4322 : 4321  // a regular number, as a `groupadd docker` could have
        // Set-gid on the directory: new files inherit its group, which the sandbox must
        // still not be able to make set-gid.
        let dir = try hostDirectory(owner: uid, group: other, mode: 0o2775)
        defer { try? removeTree(dir) }
        let r = try await f.runToEnd(try f.spec(["/bin/sh", "-c", "echo hi > /w/made && chmod 2755 /w/made; echo done"]) {
            $0.mounts = [MountSpec(source: dir, destination: "/w")]
        })
        #expect(r.stdout.hasSuffix("done\n"), "\(r.stderr)")
        // The kernel refuses to create a file whose inherited group the mount cannot show
        // (EOVERFLOW); if one were made, it must not be set-gid to that group.
        if FileManager.default.fileExists(atPath: dir + "/made") {
            let o = owner(dir + "/made")
            #expect(o.uid == uid, "owned by \(o.uid)")
            #expect(!(o.gid == other && o.mode & 0o2000 != 0), "a set-gid file of the foreign group \(other) was left")
        } else {
            #expect(r.stderr.contains("Value too large") || r.stderr.contains("denied"), "\(r.stderr)")
        }
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

    @Test("a bind source swapped for a symlink after it was checked is refused, not followed")
    func swappedSource() async throws {
        let f = DriverFixture()
        defer { f.cleanUp() }
        let base = try hostDirectory(owner: 0, group: 0, mode: 0o755)
        defer { try? removeTree(base) }
        let fm = FileManager.default
        try fm.createDirectory(atPath: base + "/real/ws", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: base + "/elsewhere/ws", withIntermediateDirectories: true)
        try "not yours\n".write(toFile: base + "/elsewhere/ws/secret", atomically: false, encoding: .utf8)
        let id = SandboxID.generate()
        try await f.driver.create(id: id, spec: try f.spec(["/bin/cat", "/w/secret"]) {
            $0.mounts = [MountSpec(source: base + "/real/ws", destination: "/w")]
        })
        // Between the check and the mount, a directory on the way becomes a link.
        try fm.moveItem(atPath: base + "/real", toPath: base + "/real-was")
        try fm.createSymbolicLink(atPath: base + "/real", withDestinationPath: base + "/elsewhere")
        let error = await #expect(throws: WarrenError.self) { _ = try await f.driver.start(id: id) }
        #expect(error?.message.contains("changed into a symlink") == true, "\(String(describing: error))")
        try await f.driver.remove(id: id)
    }
}
