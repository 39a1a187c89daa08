#if canImport(Glibc)
import Glibc
#endif
import LinuxSupport
import RuntimeDriver
import WarrenCore

extension NativeDriver {
    /// Reads the helper's framed log, as fast as the consumer takes it; with `follow`,
    /// until the sandbox has ended (its exit recorded, or its helper gone) and the file
    /// is drained.
    public func logs(id: String, follow: Bool) async throws -> AsyncThrowingStream<LogRecord.Decoded, any Error> {
        let b = bundle(id)
        guard access(b.path, F_OK) == 0 else { throw WarrenError(.notFound, "sandbox \(id) has no bundle") }
        let reader = LogFileReader(path: b.logFile, rotatedPath: b.rotatedLogFile, follow: follow,
                                   finished: { [self] in self.hasEnded(id) })
        return reader.stream()
    }

    /// Whether nothing more will be written to the sandbox's log: its exit is recorded,
    /// its bundle is gone, or its helper has ended (even without recording an exit).
    nonisolated func hasEnded(_ id: String) -> Bool {
        let b = bundle(id)
        if access(b.exitFile, F_OK) == 0 || access(b.path, F_OK) != 0 { return true }
        guard let state = helperState(id) else { return false }
        return !helperAlive(state)
    }
}
