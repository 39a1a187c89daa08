#if canImport(Glibc)
import Glibc
#endif
import LinuxSupport
import WarrenCore

/// Reads a native sandbox's capped log (see `LogRecord`) one record at a time, as its
/// consumer asks: the rotated part first, then the current file, following rotations
/// while it runs. Nothing is read ahead of the consumer but one 64 KiB chunk, so a
/// stalled reader of any log holds no more than that.
///
/// Used by one consumer at a time (the stream made by `stream()`), hence unchecked.
final class LogFileReader: @unchecked Sendable {
    let path: String
    let rotatedPath: String
    let follow: Bool
    /// Whether the sandbox has ended (then the file is drained and the reader ends).
    let finished: @Sendable () -> Bool

    private var fd: Int32 = -1
    private var inode: UInt64 = 0
    /// A current file opened at the start, to read once the rotated one is done.
    private var queued: (fd: Int32, inode: UInt64)?
    private var opened = false
    private var done = false
    private var pending: [UInt8] = []
    private var records: [LogRecord.Decoded] = []
    private var nextRecord = 0
    private var chunk = [UInt8](repeating: 0, count: 65536)
    /// The generation of the last file read; a jump says output went by unread.
    private var generation: UInt64?

    init(path: String, rotatedPath: String, follow: Bool, finished: @escaping @Sendable () -> Bool) {
        self.path = path; self.rotatedPath = rotatedPath; self.follow = follow; self.finished = finished
    }

    deinit {
        if fd >= 0 { close(fd) }
        if let q = queued { close(q.fd) }
    }

    func stream() -> AsyncThrowingStream<LogRecord.Decoded, any Error> {
        AsyncThrowingStream(unfolding: { try await self.next() })
    }

    func next() async throws -> LogRecord.Decoded? {
        while true {
            if nextRecord < records.count {
                defer { nextRecord += 1 }
                return records[nextRecord]
            }
            records.removeAll(keepingCapacity: true)
            nextRecord = 0
            if done { return nil }
            if !opened { openAtStart() }
            // Seen before reading, so a read after the end was seen drains everything.
            let ended = finished()
            if readChunk() { continue }
            if switchFile() { continue }
            if !follow || ended {
                done = true
                continue
            }
            try await Task.sleep(for: .milliseconds(25))
        }
    }

    // MARK: - Files

    /// Opens the rotated part (when there is one) and the current file; retried when a
    /// rotation comes between the two opens.
    private func openAtStart() {
        for _ in 0..<8 {
            let rotated = open(rotatedPath, O_RDONLY | O_CLOEXEC)
            let current = open(path, O_RDONLY | O_CLOEXEC)
            if rotated >= 0, Self.inode(of: rotatedPath) != Self.inode(rotated) {
                close(rotated)
                if current >= 0 { close(current) }
                continue
            }
            opened = true
            if rotated >= 0 {
                (fd, inode) = (rotated, Self.inode(rotated))
                if current >= 0 { queued = (current, Self.inode(current)) }
            } else if current >= 0 {
                (fd, inode) = (current, Self.inode(current))
            }
            return
        }
        opened = true
    }

    /// Reads one chunk and decodes the whole records in it; false at the end of the file.
    private func readChunk() -> Bool {
        guard fd >= 0 else { return false }
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard n > 0 else { return false }
        pending.append(contentsOf: chunk[0..<n])
        let (frames, used) = LogRecord.decodeFrames(pending)
        pending.removeFirst(used)
        for frame in frames {
            switch frame {
            case .output(let record):
                records.append(record)
            case .generation(let g):
                if let last = generation, g > last + 1 {
                    records.append(LogRecord.Decoded(stream: .stderr, timeNanos: Self.nowNanos(), payload: LogRecord.rotatedAwayMarker))
                }
                generation = g
            }
        }
        return true
    }

    /// At the end of a file: moves on to the queued or rotated-in file, if there is one.
    private func switchFile() -> Bool {
        if let q = queued {
            queued = nil
            return moveTo(q.fd, q.inode)
        }
        guard fd >= 0 else {
            let current = open(path, O_RDONLY | O_CLOEXEC)
            guard current >= 0 else { return false }
            return moveTo(current, Self.inode(current))
        }
        let now = Self.inode(of: path)
        guard now != 0, now != inode else { return false }
        // Rotated: what was written before the rename is still in the open file.
        if readChunk() { return true }
        // Rotated more than once since: the file now in the rotated place came after this
        // one and is still there to read; the current file after it.
        let rotated = open(rotatedPath, O_RDONLY | O_CLOEXEC)
        if rotated >= 0 {
            let rotatedInode = Self.inode(rotated)
            if rotatedInode != inode && rotatedInode != now { return moveTo(rotated, rotatedInode) }
            close(rotated)
        }
        let next = open(path, O_RDONLY | O_CLOEXEC)
        guard next >= 0 else { return false }
        return moveTo(next, Self.inode(next))
    }

    private func moveTo(_ next: Int32, _ nextInode: UInt64) -> Bool {
        if fd >= 0 { close(fd) }
        (fd, inode) = (next, nextInode)
        pending.removeAll()
        return true
    }

    private static func inode(_ fd: Int32) -> UInt64 {
        var st = stat()
        return fstat(fd, &st) == 0 ? UInt64(st.st_ino) : 0
    }

    private static func inode(of path: String) -> UInt64 {
        var st = stat()
        return stat(path, &st) == 0 ? UInt64(st.st_ino) : 0
    }

    private static func nowNanos() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}
