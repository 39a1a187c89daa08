#if canImport(Glibc)
import Glibc
#endif
import LinuxSupport
import RuntimeDriver
import WarrenCore

extension NativeDriver {
    /// Reads the helper's framed log; with `follow`, keeps reading until the sandbox
    /// has recorded its exit and the file is drained.
    public func logs(id: String, follow: Bool) async throws -> AsyncThrowingStream<LogRecord.Decoded, any Error> {
        let b = bundle(id)
        guard access(b.path, F_OK) == 0 else { throw WarrenError(.notFound, "sandbox \(id) has no bundle") }
        let path = b.logFile
        let exitFile = b.exitFile
        return AsyncThrowingStream { continuation in
            let task = Task.detached {
                var fd: Int32 = -1
                defer { if fd >= 0 { close(fd) } }
                var pending: [UInt8] = []
                var chunk = [UInt8](repeating: 0, count: 65536)
                while !Task.isCancelled {
                    if fd < 0 { fd = open(path, O_RDONLY | O_CLOEXEC) }
                    // Check before reading, so a read after seeing the exit drains everything.
                    let finished = access(exitFile, F_OK) == 0
                    var progressed = false
                    if fd >= 0 {
                        while true {
                            let n = read(fd, &chunk, chunk.count)
                            if n <= 0 { break }
                            progressed = true
                            pending.append(contentsOf: chunk[0..<n])
                        }
                        let (records, next) = LogRecord.decode(pending)
                        pending.removeFirst(next)
                        for r in records { continuation.yield(r) }
                    }
                    if !follow || finished { break }
                    if !progressed { try? await Task.sleep(for: .milliseconds(25)) }
                }
                continuation.finish()
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }
}
