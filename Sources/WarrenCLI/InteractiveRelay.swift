import Dispatch
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import WarrenClient
import WarrenCore

/// Connects the user's terminal to a process that takes input (`run -i/-t`, `exec -i/-t`).
///
/// With `-it`, stdin goes raw, so every key (Ctrl-C too) reaches the sandbox's
/// terminal; with `-t`, window changes follow. Otherwise SIGINT, SIGTERM, SIGHUP and
/// SIGQUIT are forwarded to the process, as `docker run` does; a third one gives up.
enum InteractiveRelay {
    static func run(_ connection: InteractiveConnection, stdin: Bool, tty: Bool) async throws -> Int32? {
        let keysGoThrough = tty && stdin && Terminal.isTerminal(STDIN_FILENO)
        let raw = keysGoThrough ? Terminal.makeRaw() : nil
        defer { raw?.restore() }
        var sources: [any DispatchSourceSignal] = []
        if tty {
            sources.append(onSignal(SIGWINCH) {
                if let size = Terminal.size() { connection.resize(rows: size.rows, cols: size.cols) }
            })
            if let size = Terminal.size() { connection.resize(rows: size.rows, cols: size.cols) }
        }
        if raw == nil {
            sources += forwardSignals { connection.signal($0) }
        }
        if stdin { startReadingStdin(into: connection) }
        defer { sources.forEach { $0.cancel() } }
        return try await Output.relay(connection.output)
    }

    /// Forwards the usual terminating signals through `send`; the third one ends the CLI.
    static func forwardSignals(_ send: @escaping @Sendable (Int32) -> Void) -> [any DispatchSourceSignal] {
        let counter = SignalCounter()
        return [SIGINT, SIGTERM, SIGHUP, SIGQUIT].map { sig in
            onSignal(sig) {
                if counter.increment() >= 3 {
                    Output.error("got 3 signals, leaving the sandbox running and exiting")
                    exit(128 + sig)
                }
                send(sig)
            }
        }
    }

    private static func onSignal(_ sig: Int32, _ handler: @escaping @Sendable () -> Void) -> any DispatchSourceSignal {
        signal(sig, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
        source.setEventHandler(handler: handler)
        source.resume()
        return source
    }

    /// Copies stdin to the process until end of file, on a thread of its own (a read of
    /// a terminal blocks); end of file closes the process's stdin.
    private static func startReadingStdin(into connection: InteractiveConnection) {
        Thread {
            var buffer = [UInt8](repeating: 0, count: 32 * 1024)
            while true {
                let n = read(STDIN_FILENO, &buffer, buffer.count)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                connection.sendInput(Array(buffer[0..<n]))
            }
            connection.closeInput()
        }.start()
    }
}

/// Counts signals across signal handlers.
private final class SignalCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func increment() -> Int {
        lock.lock(); defer { lock.unlock() }
        count += 1
        return count
    }
}
