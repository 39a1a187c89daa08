#if canImport(Glibc)
import Glibc
#endif
import Foundation
import LinuxSupport
import WarrenCore

/// A blob that is still downloading, read by a layer unpacker while it is written: the
/// downloader appends to the ingest file and says how far it got; the reader blocks
/// until bytes past its position exist, and learns at the end whether the download
/// completed or failed.
final class BlobFeed: @unchecked Sendable {
    private let condition = NSCondition()
    private var available: Int64 = 0
    private var started = false
    /// Every byte is written (readers see the end); verification may still be running.
    private var complete = false
    private var ended = false
    private var failure: (any Error)?
    private let fd: Int32
    let path: String

    /// Opens the ingest file for reading: the descriptor stays valid across the rename
    /// that commits it.
    init(path: String) throws {
        self.path = path
        fd = try syscallRetrying("open", path) { open(path, O_RDONLY | O_CLOEXEC) }
    }

    deinit { close(fd) }

    /// The download has its slot and is under way.
    func start() {
        condition.lock()
        started = true
        condition.unlock()
    }

    /// Bytes downloaded so far, or nil while the download waits for a slot.
    var progress: Int64? {
        condition.lock()
        defer { condition.unlock() }
        return started ? available : nil
    }

    /// The downloader has written `total` bytes.
    func advance(to total: Int64) {
        condition.lock()
        available = total
        condition.broadcast()
        condition.unlock()
    }

    /// Every byte arrived: readers reach the end now, while the blob is flushed and verified.
    func allWritten() {
        condition.lock()
        complete = true
        condition.broadcast()
        condition.unlock()
    }

    /// The download ended; `error` is nil when every byte arrived and was verified.
    func end(_ error: (any Error)?) {
        condition.lock()
        ended = true
        failure = error
        condition.broadcast()
        condition.unlock()
    }

    /// Up to `count` bytes at `offset` into `buffer`, waiting for them if they are not
    /// written yet; 0 at the end of a completed download. Throws the download's error.
    func read(into buffer: UnsafeMutableRawPointer, count: Int, at offset: Int64) throws -> Int {
        condition.lock()
        while available <= offset && !ended && !complete { condition.wait() }
        let have = available
        let failure = self.failure
        condition.unlock()
        if have <= offset {
            if let failure { throw failure }
            return 0
        }
        let n = Int(min(Int64(count), have - offset))
        while true {
            let r = pread(fd, buffer, n, off_t(offset))
            if r >= 0 { return r }
            if errno != EINTR { throw SyscallError("pread", errno: errno, path) }
        }
    }

    /// Waits for the download's end; throws its error.
    func waitForEnd() throws {
        condition.lock()
        while !ended { condition.wait() }
        let failure = self.failure
        condition.unlock()
        if let failure { throw failure }
    }
}

/// Runs blocking work (an unpack waiting on a download) on a thread of its own, off
/// the cooperative pool that the download itself needs.
func onOwnThread<T: Sendable>(_ name: String, _ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread { continuation.resume(with: Result { try body() }) }
        thread.name = name
        thread.stackSize = 8 << 20
        thread.start()
    }
}
