import Foundation

/// Runs a blocking call (poll, waitpid, read) on its own thread so it never holds
/// a thread of Swift's cooperative pool.
func runBlocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { (c: CheckedContinuation<T, any Error>) in
        let t = Thread { c.resume(with: Result { try body() }) }
        t.stackSize = 512 * 1024
        t.start()
    }
}
