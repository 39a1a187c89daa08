#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Foundation
import WarrenCore

/// Runs a blocking call (poll, waitpid, read) on its own thread so it never holds
/// a thread of Swift's cooperative pool.
public func runBlocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { (c: CheckedContinuation<T, any Error>) in
        let t = Thread { c.resume(with: Result { try body() }) }
        t.stackSize = 512 * 1024
        t.start()
    }
}

/// Writes to an fd that may block (a pipe, a pty, a socket) off the async executor:
/// one serial queue per fd, so writes keep their order and never stall other tasks.
public final class FDWriter: @unchecked Sendable {
    private let queue: DispatchQueue
    private var fd: Int32  // guarded by `queue`

    public init(fd: Int32, label: String) {
        self.fd = fd
        self.queue = DispatchQueue(label: "warren.fdwriter.\(label)")
    }

    public func write(_ bytes: [UInt8]) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            queue.async {
                guard self.fd >= 0 else {
                    continuation.resume(throwing: WarrenError(.invalidState, "input is closed"))
                    return
                }
                do {
                    try writeAll(self.fd, bytes)
                    continuation.resume()
                } catch {
                    continuation.resume(throwing: WarrenError(.invalidState, "input is closed: \(error)"))
                }
            }
        }
    }

    /// Runs `body` with the fd (an ioctl, say) in order with the writes; throws once closed.
    public func control(_ body: @escaping @Sendable (Int32) -> Void) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            queue.async {
                guard self.fd >= 0 else {
                    continuation.resume(throwing: WarrenError(.invalidState, "the process has ended"))
                    return
                }
                body(self.fd)
                continuation.resume()
            }
        }
    }

    /// Closes the fd once every write queued before has run.
    public func close() {
        queue.async {
            if self.fd >= 0 { Glibc.close(self.fd); self.fd = -1 }
        }
    }
}
