#if canImport(Glibc)
import Glibc
#endif
import Foundation
import LinuxSupport
import WarrenCore

/// Which id slots of the host's `warren` range are taken, by any daemon on this host.
///
/// Every root daemon, whatever its data root, claims slots in one directory
/// (`/var/lib/warren-idmap`), one file per slot naming the sandbox bundle that holds it,
/// under an exclusive lock; so no two sandboxes on the host ever share a range. A claim
/// whose bundle is gone (a daemon crashed between removing a bundle and releasing its
/// slot) is taken back. A bundle exists before its claim is made, and is gone before
/// its claim is released.
struct IDSlotRegistry {
    static let defaultDirectory = "/var/lib/warren-idmap"
    let directory: String

    init(directory: String = Self.defaultDirectory) { self.directory = directory }

    /// Claims the lowest free slot of `range` for the sandbox whose bundle is `bundlePath`.
    func claim(in range: SubordinateIDs, bundlePath: String) throws -> IDMap {
        try withLock {
            for i in 0..<range.slots {
                let file = directory + "/\(i)"
                if let owner = readFileIfPresent(file).map({ String(decoding: $0, as: UTF8.self) }) {
                    let bundle = owner.trimmingCharacters(in: .whitespacesAndNewlines)
                    if bundle == bundlePath { return range.slot(i) }
                    if access(bundle, F_OK) == 0 || bundle.isEmpty { continue }
                    unlink(file)  // its bundle is gone: a stale claim
                }
                try writeFileAtomically(file, Array((bundlePath + "\n").utf8), mode: 0o600)
                return range.slot(i)
            }
            throw WarrenError(.unavailable, "all \(range.slots) sandbox id ranges of this host are in use")
        }
    }

    /// Records that `bundlePath` holds `map`; false when another live bundle claimed it.
    @discardableResult
    func adopt(_ map: IDMap, in range: SubordinateIDs, bundlePath: String) -> Bool {
        guard let index = index(of: map, in: range) else { return true }
        let file = directory + "/\(index)"
        return (try? withLock { () -> Bool in
            let owner = readFileIfPresent(file).map { String(decoding: $0, as: UTF8.self) }?
                .trimmingCharacters(in: .whitespacesAndNewlines)
            if let owner, owner == bundlePath { return true }
            if let owner, !owner.isEmpty, access(owner, F_OK) == 0 { return false }
            try writeFileAtomically(file, Array((bundlePath + "\n").utf8), mode: 0o600)
            return true
        }) ?? true
    }

    private func index(of map: IDMap, in range: SubordinateIDs) -> Int? {
        guard map.hostID >= range.start, map.size == SubordinateIDs.slotSize,
              (map.hostID - range.start) % SubordinateIDs.slotSize == 0 else { return nil }
        let i = Int((map.hostID - range.start) / SubordinateIDs.slotSize)
        return i < range.slots ? i : nil
    }

    /// Releases the slot `map` of `range` if `bundlePath` holds it.
    func release(_ map: IDMap, in range: SubordinateIDs, bundlePath: String) {
        guard let index = index(of: map, in: range) else { return }
        let file = directory + "/\(index)"
        try? withLock {
            let owner = readFileIfPresent(file).map { String(decoding: $0, as: UTF8.self) } ?? ""
            if owner.trimmingCharacters(in: .whitespacesAndNewlines) == bundlePath { unlink(file) }
        }
    }

    private func withLock<T>(_ body: () throws -> T) throws -> T {
        try makeDirectories(directory, mode: 0o700)
        let lockPath = directory + "/.lock"
        let fd = try syscallRetrying("open", lockPath) { open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600) }
        defer { close(fd) }
        try syscallRetrying("flock", lockPath) { flock(fd, LOCK_EX) }
        defer { flock(fd, LOCK_UN) }
        return try body()
    }
}
