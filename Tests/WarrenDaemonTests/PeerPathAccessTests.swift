#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import WarrenCore
@testable import WarrenDaemon

@Suite("Host paths only as far as the client could", .serialized)
struct PeerPathAccessTests {
    @Test("a regular user may read its own and world-readable files, write where it may, nothing of root's")
    func permissions() throws {
        let base = NSTemporaryDirectory() + "warren-peer-\(UUID().uuidString.prefix(8))"
        let fm = FileManager.default
        for d in ["open", "closed", "mine", "shared/sub"] { try fm.createDirectory(atPath: base + "/" + d, withIntermediateDirectories: true) }
        defer { try? fm.removeItem(atPath: base) }
        chmod(base, 0o755)
        chmod(base + "/closed", 0o700)
        chown(base + "/mine", 1000, 1000)
        chmod(base + "/shared", 0o1777)
        for (name, mode) in [("open/readable.tar", 0o644), ("open/secret.tar", 0o600), ("closed/inside.tar", 0o644), ("mine/own.tar", 0o600)] {
            _ = fm.createFile(atPath: base + "/" + name, contents: Data("x".utf8))
            chmod(base + "/" + name, mode_t(mode))
        }
        chown(base + "/mine/own.tar", 1000, 1000)
        let user = PeerPathAccess(uid: 1000, gids: [1000])
        try user.check(base + "/open/readable.tar", .read)
        try user.check(base + "/mine/own.tar", .read)
        try user.check(base + "/mine/new-layout", .write)
        try user.check(base + "/shared/new-layout", .write)
        for (path, want) in [(base + "/open/secret.tar", PeerPathAccess.Want.read), (base + "/closed/inside.tar", .read),
                             (base + "/closed", .read), (base + "/open/new", .write), ("/etc/shadow", .read), ("/root/x", .write)] {
            let e = #expect(throws: WarrenError.self, "\(path)") { try user.check(path, want) }
            #expect(e?.code == .forbidden, "\(path): \(String(describing: e))")
        }
        // A link does not lead past a directory the user cannot search.
        try fm.createDirectory(atPath: base + "/closed/pub", withIntermediateDirectories: true)
        chmod(base + "/closed/pub", 0o755)
        _ = fm.createFile(atPath: base + "/closed/pub/open.tar", contents: Data("x".utf8))
        chmod(base + "/closed/pub/open.tar", 0o644)
        try fm.createSymbolicLink(atPath: base + "/mine/link", withDestinationPath: base + "/closed/pub")
        #expect(throws: WarrenError.self) { try user.check(base + "/mine/link/open.tar", .read) }
        // A directory is read whole: one unreadable file in it refuses it.
        #expect(throws: WarrenError.self) { try user.check(base + "/open", .read) }
    }

    @Test("root may use any path")
    func root() throws {
        try PeerPathAccess(uid: 0, gids: [0]).check("/etc/shadow", .read)
    }
}
