#if canImport(Glibc)
import Glibc
#endif
import LinuxSupport

/// A resolved user for the sandboxed process.
public struct ResolvedUser: Equatable, Sendable {
    public var uid: UInt32
    public var gid: UInt32
    public var supplementaryGroups: [UInt32]
    public var home: String
}

/// Resolves `name`, `uid`, `uid:gid` or `name:group` against the sandbox's
/// /etc/passwd and /etc/group (read after pivot_root, so from the guest's files).
public enum UserSpec {
    public static func resolve(_ spec: String?, passwd: String, group: String) throws -> ResolvedUser {
        guard let spec, !spec.isEmpty else {
            return ResolvedUser(uid: 0, gid: 0, supplementaryGroups: [], home: home(forUID: 0, passwd: passwd) ?? "/root")
        }
        let parts = spec.split(separator: ":", maxSplits: 1).map(String.init)
        let userPart = parts[0]
        var uid: UInt32
        var gid: UInt32?
        var name: String?
        var homeDir: String?
        if let n = UInt32(userPart) {
            uid = n
            if let entry = passwdEntries(passwd).first(where: { $0.uid == n }) {
                gid = entry.gid; name = entry.name; homeDir = entry.home
            }
        } else {
            guard let entry = passwdEntries(passwd).first(where: { $0.name == userPart }) else {
                throw SandboxSetupError("unable to find user \(userPart): no matching entries in passwd file")
            }
            uid = entry.uid; gid = entry.gid; name = entry.name; homeDir = entry.home
        }
        if parts.count == 2 {
            if let g = UInt32(parts[1]) {
                gid = g
            } else if let g = groupEntries(group).first(where: { $0.name == parts[1] }) {
                gid = g.gid
            } else {
                throw SandboxSetupError("unable to find group \(parts[1]): no matching entries in group file")
            }
        }
        guard uid < 65536, (gid ?? 0) < 65536 else {
            throw SandboxSetupError("user \(spec) is outside the sandbox's id range 0-65535")
        }
        let supplementary = name.map { n in groupEntries(group).filter { $0.members.contains(n) }.map(\.gid) } ?? []
        return ResolvedUser(uid: uid, gid: gid ?? 0, supplementaryGroups: supplementary, home: homeDir ?? "/")
    }

    static func home(forUID uid: UInt32, passwd: String) -> String? {
        passwdEntries(passwd).first { $0.uid == uid }?.home
    }

    struct PasswdEntry { var name: String; var uid: UInt32; var gid: UInt32; var home: String }
    struct GroupEntry { var name: String; var gid: UInt32; var members: [String] }

    static func passwdEntries(_ text: String) -> [PasswdEntry] {
        text.split(separator: "\n").compactMap { line in
            let f = line.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            guard f.count >= 6, let uid = UInt32(f[2]), let gid = UInt32(f[3]) else { return nil }
            return PasswdEntry(name: f[0], uid: uid, gid: gid, home: f[5])
        }
    }

    static func groupEntries(_ text: String) -> [GroupEntry] {
        text.split(separator: "\n").compactMap { line in
            let f = line.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            guard f.count >= 3, let gid = UInt32(f[2]) else { return nil }
            let members = f.count > 3 ? f[3].split(separator: ",").map(String.init) : []
            return GroupEntry(name: f[0], gid: gid, members: members)
        }
    }
}
