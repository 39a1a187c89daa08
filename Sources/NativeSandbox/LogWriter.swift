#if canImport(Glibc)
import Glibc
#endif
import LinuxSupport
import WarrenCore

/// The monitor's side of a sandbox's capped log: appends framed records and rotates
/// the file once it would pass half of `maxBytes`, so the two files together never
/// hold more than `maxBytes` (see `LogRecord`).
struct LogWriter {
    let path: String
    let rotatedPath: String
    let maxBytes: Int64
    private(set) var fd: Int32
    private var size: Int64
    private var generation: UInt64 = 1

    init(bundle: SandboxBundle, maxBytes: Int64) throws {
        let file = bundle.logFile
        path = file
        rotatedPath = bundle.rotatedLogFile
        self.maxBytes = maxBytes
        fd = try syscallRetrying("open", file) { open(file, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0o600) }
        size = 0
        write(LogRecord.encodeGeneration(generation, timeNanos: 0))
    }

    /// Appends one record; output that cannot be written (a full disk) is dropped.
    mutating func append(_ record: [UInt8]) {
        if size + Int64(record.count) > maxBytes / 2 && !rotate() { return }
        write(record)
    }

    /// Writes a whole record or, failing that, none of it: a torn record would put every
    /// later one out of step for readers.
    private mutating func write(_ record: [UInt8]) {
        if (try? writeAll(fd, record)) != nil {
            size += Int64(record.count)
        } else {
            _ = ftruncate(fd, off_t(size))
        }
    }

    /// The current file becomes the rotated one and a new one is begun; false (and the
    /// record waiting is dropped, keeping the cap) when no new file can be made.
    private mutating func rotate() -> Bool {
        let fresh = path + ".new"
        let next = open(fresh, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0o600)
        guard next >= 0 else { return false }
        guard rename(path, rotatedPath) == 0, rename(fresh, path) == 0 else {
            Glibc.close(next)
            unlink(fresh)
            return false
        }
        Glibc.close(fd)
        fd = next
        size = 0
        generation += 1
        write(LogRecord.encodeGeneration(generation, timeNanos: 0))
        return true
    }

    func close() { Glibc.close(fd) }
}
