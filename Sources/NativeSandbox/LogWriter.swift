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

    init(bundle: SandboxBundle, maxBytes: Int64) throws {
        let file = bundle.logFile
        path = file
        rotatedPath = bundle.rotatedLogFile
        self.maxBytes = maxBytes
        fd = try syscallRetrying("open", file) { open(file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600) }
        var st = stat()
        size = fstat(fd, &st) == 0 ? Int64(st.st_size) : 0
    }

    /// Appends one record; output that cannot be written (a full disk) is dropped.
    mutating func append(_ record: [UInt8]) {
        if size > 0 && size + Int64(record.count) > maxBytes / 2 { rotate() }
        if (try? writeAll(fd, record)) != nil { size += Int64(record.count) }
    }

    /// The current file becomes the rotated one; a new one is begun.
    private mutating func rotate() {
        guard rename(path, rotatedPath) == 0 else { return }
        let next = open(path, O_WRONLY | O_CREAT | O_APPEND | O_TRUNC | O_CLOEXEC, 0o600)
        guard next >= 0 else {
            // No new file: begin the renamed one again rather than pass the cap.
            _ = ftruncate(fd, 0)
            size = 0
            return
        }
        Glibc.close(fd)
        fd = next
        size = 0
    }

    func close() { Glibc.close(fd) }
}
