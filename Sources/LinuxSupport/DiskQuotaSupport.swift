#if canImport(Glibc)
import Glibc
#endif

/// What a capped writable layer (`--disk`) needs from the host: loop devices and mke2fs.
public enum DiskQuotaSupport {
    static let mke2fsCandidates = ["/usr/sbin/mke2fs", "/sbin/mke2fs"]

    public static var mke2fs: String? { mke2fsCandidates.first { access($0, X_OK) == 0 } }

    /// Why this host cannot cap a sandbox's writable layer, or nil when it can.
    public static func unavailableReason() -> String? {
        if access("/dev/loop-control", R_OK | W_OK) != 0 { return "no usable /dev/loop-control" }
        if mke2fs == nil { return "mke2fs is not installed (apt-get install e2fsprogs)" }
        return nil
    }
}
