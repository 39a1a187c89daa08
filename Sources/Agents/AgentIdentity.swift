#if canImport(Glibc)
import Glibc
#endif
import LinuxSupport
import WarrenCore

/// Whom an agent runs as on a driver that maps no ids (Docker without user namespaces),
/// where every id in the sandbox is the same id on the host: never root, which would be
/// host root on the workspace.
public enum AgentIdentity {
    /// The id a root-owned repository's worktree is handed to, and an agent without a
    /// workspace runs as: `nobody:nogroup`.
    public static let unprivileged: (uid: UInt32, gid: UInt32) = (65534, 65534)

    /// The workspace's owner (a regular account) with their primary group; a repository
    /// of root's gets `unprivileged`, as does a session without a workspace. A plain
    /// workspace directory of root's or of a system account is refused: it cannot be
    /// given to anyone else in place.
    public static func unmappedUser(repository: GitWorkspace?, directory: String?,
                                    regular: RegularAccounts = .load()) throws -> (uid: UInt32, gid: UInt32) {
        if let ws = repository {
            guard let uid = ws.ownerUID, let gid = ws.ownerGID else { return unprivileged }
            return (uid, gid)
        }
        guard let directory else { return unprivileged }
        var st = stat()
        guard stat(directory, &st) == 0 else { throw WarrenError(.invalidArgument, "workspace \(directory.prefix(200)) does not exist") }
        guard regular.uids.contains(st.st_uid), let home = GitWorkspace.home(of: st.st_uid) else {
            throw WarrenError(.forbidden, "workspace \(directory.prefix(200)) belongs to uid \(st.st_uid): without id mapping an agent runs as its workspace's owner, which must be a regular account; use --repo (its worktree is handed to an unprivileged id) or the native driver")
        }
        return (st.st_uid, home.gid)
    }
}
