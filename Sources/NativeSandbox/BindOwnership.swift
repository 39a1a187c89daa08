import LinuxSupport
import WarrenCore

/// Whose files a sandbox's bind mount shows as its own, and whom new files belong to.
///
/// A bind's source owned by a regular host account (the usual workspace: a user's
/// directory) is id-mapped so that sandbox root is that account on the mount: files
/// the sandbox writes there belong to the source's owner (and group, when that group is
/// the owner's own primary group — never another group, which could be a privileged one
/// whatever its number), and the owner's files are sandbox root's. The rest of the
/// sandbox's ids keep their own unprivileged host ids. A source owned by a system
/// account (root included) or by any id outside the regular range is not id-mapped at
/// all: there, sandbox root writes as its own unprivileged host id, and the source's
/// files show as `nobody`, so nothing root-only is readable and nothing the sandbox
/// leaves (a set-uid or set-gid file included) can carry a privileged host id.
enum BindOwnership {
    /// The maps of the user namespace for the bind's id-mapped mount, or nil when the
    /// bind stays plain (no id is handed over).
    static func maps(ownerUID: UInt32, ownerGID: UInt32, ownerPrimaryGID: UInt32?, sandbox: IDMap,
                     regular: RegularAccounts) -> IDMapping.Maps? {
        let uids = extents(owner: ownerUID, sandbox: sandbox, regular: regular.uids)
        let gids = uids != nil && ownerPrimaryGID == ownerGID
            ? extents(owner: ownerGID, sandbox: sandbox, regular: regular.gids) : nil
        guard uids != nil || gids != nil else { return nil }
        let identity = [IDMapping.Extent(inside: sandbox.hostID, outside: sandbox.hostID, count: sandbox.size)]
        return IDMapping.Maps(uids: uids ?? identity, gids: gids ?? identity)
    }

    /// Sandbox root (host `sandbox.hostID`) as `owner` on disk, every other sandbox id as
    /// itself; nil when `owner` may not be handed to a sandbox.
    private static func extents(owner: UInt32, sandbox: IDMap, regular: ClosedRange<UInt32>) -> [IDMapping.Extent]? {
        let range = UInt64(sandbox.hostID)..<(UInt64(sandbox.hostID) + UInt64(sandbox.size))
        guard regular.contains(owner), !range.contains(UInt64(owner)), sandbox.size >= 1 else { return nil }
        var e = [IDMapping.Extent(inside: owner, outside: sandbox.hostID, count: 1)]
        if sandbox.size > 1 {
            e.append(IDMapping.Extent(inside: sandbox.hostID + 1, outside: sandbox.hostID + 1, count: sandbox.size - 1))
        }
        return e
    }

    /// The primary group of `uid` in the host's /etc/passwd.
    static func primaryGroup(of uid: UInt32, passwd: String) -> UInt32? {
        for line in passwd.split(separator: "\n") {
            let f = line.split(separator: ":", omittingEmptySubsequences: false)
            if f.count >= 4, UInt32(f[2]) == uid { return UInt32(f[3]) }
        }
        return nil
    }
}
