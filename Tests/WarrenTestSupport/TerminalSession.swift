#if canImport(Glibc)
import Glibc
#endif
import CLinux
import Foundation
import LinuxSupport

/// A program running on a fresh pseudo-terminal as its controlling terminal, the way
/// a person at a terminal runs it: the test types into the master side, reads the
/// screen from it, and resizes the window (which sends the program SIGWINCH).
public final class TerminalSession: @unchecked Sendable {
    public let pid: pid_t
    private let master: Int32
    private var screen: [UInt8] = []
    private var exitCode: Int32?

    public init(_ path: String, _ arguments: [String], environment: [String], rows: UInt16 = 24, cols: UInt16 = 80) throws {
        var slave: Int32 = -1
        master = try syscallRetrying("openpty") { warren_openpty(&slave) }
        defer { Glibc.close(slave) }
        _ = warren_set_winsize(master, rows, cols)
        let name = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(slave)")
        // A new session opening the terminal without O_NOCTTY makes it the controlling one.
        pid = try ProcessSpawner.spawn(path, [path] + arguments, environment: environment,
                                       actions: [.open(fd: 0, path: name, flags: O_RDWR, mode: 0),
                                                 .dup(source: 0, fd: 1), .dup(source: 0, fd: 2)],
                                       newSession: true)
        _ = fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK)
    }

    /// Types `text` (bytes such as 0x03 for Ctrl-C included).
    public func type(_ text: String) { try? writeAll(master, Array(text.utf8)) }
    public func type(_ bytes: [UInt8]) { try? writeAll(master, bytes) }

    /// Changes the window size, as a terminal emulator does when its window changes.
    public func resize(rows: UInt16, cols: UInt16) { _ = warren_set_winsize(master, rows, cols) }

    /// Everything the program has shown so far.
    public var text: String { drain(); return String(decoding: screen, as: UTF8.self) }

    /// Waits until the screen shows `needle`.
    public func waitFor(_ needle: String, seconds: Double = 15) async -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if text.contains(needle) { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return text.contains(needle)
    }

    /// Waits for the program to exit; its exit code, or nil after `seconds`.
    public func waitForExit(seconds: Double = 60) async -> Int32? {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            drain()
            var status: Int32 = 0
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid {
                exitCode = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
                drain()
                return exitCode
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return nil
    }

    /// With a shell on the terminal: changes the window and reads it back with `stty size`.
    public func resizeReachesShell(rows: UInt16, cols: UInt16) async -> Bool {
        resize(rows: rows, cols: cols)
        try? await Task.sleep(for: .milliseconds(300))
        type("stty size\n")
        return await waitFor("\(rows) \(cols)")
    }

    /// With a shell on the terminal: Ctrl-C ends a running `sleep` before it prints, and
    /// the shell takes the next command.
    public func interruptReachesShell() async -> Bool {
        type("sleep 100; echo sl''ept\n")
        try? await Task.sleep(for: .milliseconds(400))
        type([0x03])
        type("echo after-$((6*7))\n")
        return await waitFor("after-42", seconds: 5) && !text.contains("slept")
    }

    public func close() {
        if exitCode == nil { kill(pid, SIGKILL); var s: Int32 = 0; waitpid(pid, &s, 0) }
        Glibc.close(master)
    }

    private func drain() {
        var buffer = [UInt8](repeating: 0, count: 8192)
        while true {
            let n = read(master, &buffer, buffer.count)
            if n <= 0 { return }
            screen += buffer[0..<n]
        }
    }
}
