#if canImport(Glibc)
import Glibc
#endif
import LinuxSupport
import WarrenCore

/// The host id range native sandboxes are mapped into.
///
/// A root daemon uses the `warren` entry of /etc/subuid and /etc/subgid, adding one
/// that overlaps no other entry when absent. Each sandbox gets its own 65536-id slot
/// of that range, so one sandbox's processes and files are foreign to another's.
public struct SubordinateIDs: Sendable, Equatable {
    public var start: UInt32
    public var count: UInt32
    public static let slotSize: UInt32 = 65536
    public static let user = "warren"
    /// Default size: 4096 slots.
    public static let defaultCount: UInt32 = 65536 * 4096

    public var slots: Int { Int(count / Self.slotSize) }

    public func slot(_ index: Int) -> IDMap {
        IDMap(hostID: start + UInt32(index) * Self.slotSize, size: Self.slotSize)
    }

    /// Reads the `warren` range, creating it in both files when absent.
    public static func loadOrCreate(subuid: String = "/etc/subuid", subgid: String = "/etc/subgid") throws -> SubordinateIDs {
        let uidText = String(decoding: readFileIfPresent(subuid) ?? [], as: UTF8.self)
        let gidText = String(decoding: readFileIfPresent(subgid) ?? [], as: UTF8.self)
        if let u = entry(in: uidText), let g = entry(in: gidText), u == g, u.count >= slotSize {
            return u
        }
        let range = SubordinateIDs(start: freeStart(uidText + "\n" + gidText), count: defaultCount)
        for (file, text) in [(subuid, uidText), (subgid, gidText)] {
            let kept = text.split(separator: "\n").filter { !$0.hasPrefix(user + ":") }.joined(separator: "\n")
            let updated = (kept.isEmpty ? "" : kept + "\n") + "\(user):\(range.start):\(range.count)\n"
            try writeFileAtomically(file, Array(updated.utf8))
        }
        return range
    }

    static func entry(in text: String) -> SubordinateIDs? {
        for line in text.split(separator: "\n") {
            let f = line.split(separator: ":")
            if f.count == 3, f[0] == user, let s = UInt32(f[1]), let c = UInt32(f[2]) {
                return SubordinateIDs(start: s, count: c)
            }
        }
        return nil
    }

    /// The first slot-aligned start at or above 2^30 that no existing entry overlaps.
    static func freeStart(_ text: String) -> UInt32 {
        var start: UInt64 = 1 << 30
        let ranges: [(UInt64, UInt64)] = text.split(separator: "\n").compactMap { line in
            let f = line.split(separator: ":")
            guard f.count == 3, let s = UInt64(f[1]), let c = UInt64(f[2]) else { return nil }
            return (s, s + c)
        }
        while let clash = ranges.first(where: { $0.0 < start + UInt64(defaultCount) && start < $0.1 }) {
            start = (clash.1 + UInt64(slotSize) - 1) / UInt64(slotSize) * UInt64(slotSize)
        }
        return UInt32(start)
    }
}
