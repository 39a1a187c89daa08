#if canImport(Glibc)
import Glibc
#endif
import CLinux
import LinuxSupport
import WarrenCore

/// How a helper started by a non-root daemon gets the privilege to build a sandbox.
///
/// The monitor first moves into a user namespace of its own in which the daemon's uid
/// and gid are root — the only ids it may map without a setuid helper. Inside it, the
/// monitor owns the mount namespace it then creates (overlay, binds, tmpfs), and the
/// sandbox's init gets a nested user namespace mapping 0 to that same single id, as
/// in the root case. Nothing gains any power over the host the daemon did not have.
enum RootlessNamespace {
    /// The ids, as seen from the monitor's namespace, that sandbox uid/gid 0 map to.
    static let sandboxMap = IDMap(hostID: 0, size: 1)

    /// Unshares a user namespace and maps root in it to the caller's uid and gid.
    /// Supplementary groups cannot be dropped without privilege, so `setgroups` is
    /// denied here and in every namespace below it.
    static func enter() throws {
        let uid = getuid(), gid = getgid()
        try syscallRetrying("unshare(CLONE_NEWUSER)") { warren_unshare(CLONE_NEWUSER) }
        try writeFile("/proc/self/setgroups", "deny")
        try writeFile("/proc/self/uid_map", "0 \(uid) 1\n")
        try writeFile("/proc/self/gid_map", "0 \(gid) 1\n")
        try syscallRetrying("setresgid") { warren_setresgid(0, 0, 0) }
        try syscallRetrying("setresuid") { warren_setresuid(0, 0, 0) }
    }
}
