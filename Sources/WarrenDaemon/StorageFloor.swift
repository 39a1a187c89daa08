#if canImport(Glibc)
import Glibc
#endif
import Foundation
import WarrenCore

/// The free space the data root keeps: a create that would start below it is refused
/// (507), so sandboxes cannot fill the disk the daemon's own state lives on.
public struct StorageFloor: Sendable, Equatable {
    public var path: String
    public var minimumFreeBytes: Int64

    /// 512 MiB unless configured.
    public static let defaultMinimumFreeBytes: Int64 = 512 << 20

    public init(path: String, minimumFreeBytes: Int64 = defaultMinimumFreeBytes) {
        self.path = path; self.minimumFreeBytes = minimumFreeBytes
    }

    /// Bytes an unprivileged writer could still use on `path`'s file system.
    public func freeBytes() -> Int64? {
        var s = statvfs()
        guard statvfs(path, &s) == 0 else { return nil }
        return Int64(s.f_bavail) &* Int64(s.f_frsize)
    }

    /// Throws `insufficientStorage` when the data root is below the floor.
    public func check() throws {
        guard let free = freeBytes(), free < minimumFreeBytes else { return }
        throw WarrenError(.insufficientStorage, "the data root \(path) has \(Self.shown(free)) free, below its floor of \(Self.shown(minimumFreeBytes)): free some space (warren rm, warren image prune) or lower --min-free-space")
    }

    static func shown(_ bytes: Int64) -> String {
        let mib = Double(bytes) / Double(1 << 20)
        return mib >= 1024 ? String(format: "%.1f GiB", mib / 1024) : String(format: "%.0f MiB", mib)
    }
}
