import Agents
import Foundation
import LinuxSupport
import Testing
import WarrenCore

/// Whom an agent runs as where the driver maps no ids: never root.
@Suite("Agent identity without id mapping")
struct AgentIdentityTests {
    func directory(owner: UInt32) throws -> String {
        let dir = NSTemporaryDirectory() + "warren-ws-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        guard chown(dir, owner, owner) == 0 else { throw WarrenError(.internalError, "chown \(dir)") }
        return dir
    }

    @Test("a workspace of root's or of a system account is refused; a regular account's is run as its owner")
    func workspaceDirectories() throws {
        let root = try directory(owner: 0)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let refused = #expect(throws: WarrenError.self) { try AgentIdentity.unmappedUser(repository: nil, directory: root) }
        #expect(refused?.code == .forbidden && refused?.message.contains("belongs to uid 0") == true)

        // nobody (65534, group 65534 in Debian's passwd) counted as regular for this check.
        let owned = try directory(owner: 65534)
        defer { try? FileManager.default.removeItem(atPath: owned) }
        let user = try AgentIdentity.unmappedUser(repository: nil, directory: owned,
                                                  regular: RegularAccounts(uids: 65534...65534, gids: 65534...65534))
        #expect(user.uid == 65534 && user.gid == 65534)
        #expect(throws: WarrenError.self) { try AgentIdentity.unmappedUser(repository: nil, directory: owned) }
    }

    @Test("a repository of root's and a session without a workspace run as nobody; a user's repository as its owner")
    func repositories() throws {
        var ws = GitWorkspace(repository: "/r", commonDir: "/r/.git", path: "/r/.git/warren/worktrees/x", gitDir: "/g",
                              branch: "warren/x", base: "0")
        #expect(try AgentIdentity.unmappedUser(repository: ws, directory: nil) == AgentIdentity.unprivileged)
        #expect(try AgentIdentity.unmappedUser(repository: nil, directory: nil) == AgentIdentity.unprivileged)
        ws.ownerUID = 1234; ws.ownerGID = 4321
        #expect(try AgentIdentity.unmappedUser(repository: ws, directory: nil) == (1234, 4321))
    }
}
