#if canImport(Glibc)
import Glibc
#endif
import LinuxSupport
import WarrenCore

/// Space for a sandbox's exit record, taken when it starts: the record is later written
/// into blocks the file already has and renamed into place, which needs no free space,
/// so a sandbox that fills the disk still has its exit recorded.
enum ExitReservation {
    static let size = 4096

    static func path(_ bundle: SandboxBundle) -> String { bundle.path + "/exit.reserved" }

    static func reserve(_ bundle: SandboxBundle) throws {
        let file = path(bundle)
        let fd = try syscallRetrying("open", file) { open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600) }
        defer { close(fd) }
        try writeAll(fd, [UInt8](repeating: UInt8(ascii: " "), count: size))
        _ = fsync(fd)
    }

    /// Writes `record` into the reserved file and renames it to the exit file; false when
    /// there was no reservation or a step failed.
    static func commit(_ bundle: SandboxBundle, _ record: [UInt8]) -> Bool {
        guard record.count <= size else { return false }
        let file = path(bundle)
        let fd = open(file, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var ok = (try? record.withUnsafeBytes { try writeAll(fd, $0, at: 0) }) != nil
        ok = ok && ftruncate(fd, off_t(record.count)) == 0 && fsync(fd) == 0
        return ok && rename(file, bundle.exitFile) == 0
    }
}
