import Foundation
#if canImport(Glibc)
import Glibc
#endif
import WarrenCore

/// Writing to the terminal.
enum Output {
    /// `warren: <message>` on stderr.
    static func error(_ message: String) {
        writeAll(STDERR_FILENO, Array("warren: \(message)\n".utf8))
    }

    static func line(_ text: String) {
        writeAll(STDOUT_FILENO, Array((text + "\n").utf8))
    }

    /// Raw bytes to stdout or stderr, as a sandbox wrote them.
    static func write(_ bytes: [UInt8], to stream: String) {
        writeAll(stream == "stderr" ? STDERR_FILENO : STDOUT_FILENO, bytes)
    }

    /// Copies a sandbox's output stream to stdout/stderr; returns the exit code its
    /// final `exit` chunk reports, or nil when the stream ended without one.
    static func relay(_ chunks: AsyncThrowingStream<OutputChunk, any Error>) async throws -> Int32? {
        var exitCode: Int32?
        for try await chunk in chunks {
            if chunk.stream == "exit" {
                exitCode = chunk.exitCode
            } else {
                write(chunk.bytes, to: chunk.stream)
            }
        }
        return exitCode
    }

    /// Pretty JSON, sorted keys.
    static func json(_ value: some Encodable) throws {
        writeAll(STDOUT_FILENO, Array(try WarrenJSON.encoder(pretty: true).encode(value)) + [0x0A])
    }

    /// One compact JSON object per line.
    static func jsonLine(_ value: some Encodable) throws {
        writeAll(STDOUT_FILENO, Array(try WarrenJSON.encoder().encode(value)) + [0x0A])
    }

    /// Writes every byte, retrying on EINTR. A closed pipe (`warren ps | head`) ends the
    /// process quietly with 141, as SIGPIPE would (NIO ignores that signal).
    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n >= 0 {
                offset += n
            } else if errno == EINTR {
                continue
            } else if errno == EPIPE {
                exit(141)
            } else {
                return
            }
        }
    }

    /// Left-aligned columns separated by three spaces.
    static func table(_ header: [String], _ rows: [[String]]) {
        let all = [header] + rows
        var widths = [Int](repeating: 0, count: header.count)
        for row in all { for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.count) } }
        for row in all {
            let cells = row.enumerated().map { i, cell in
                i == row.count - 1 ? cell : cell.padding(toLength: widths[i], withPad: " ", startingAt: 0)
            }
            line(cells.joined(separator: "   "))
        }
    }

    /// "3 minutes ago" style age of a date.
    static func age(_ date: Date?, now: Date = Date()) -> String {
        guard let date else { return "-" }
        let seconds = Int(now.timeIntervalSince(date))
        switch seconds {
        case ..<2: return "just now"
        case ..<60: return "\(seconds) seconds ago"
        case ..<3600: return plural(seconds / 60, "minute") + " ago"
        case ..<86400: return plural(seconds / 3600, "hour") + " ago"
        default: return plural(seconds / 86400, "day") + " ago"
        }
    }

    private static func plural(_ n: Int, _ unit: String) -> String {
        n == 1 ? "1 \(unit)" : "\(n) \(unit)s"
    }

    /// Docker-like status column.
    static func status(_ info: SandboxInfo) -> String {
        switch info.state {
        case .running: "Up \(age(info.startedAt).replacingOccurrences(of: " ago", with: ""))"
        case .exited: "Exited (\(info.exitCode.map(String.init) ?? "?"))\(info.reason.map { $0 == "exited" ? "" : " \($0)" } ?? "") \(age(info.finishedAt))"
        case .failed: "Failed\(info.reason.map { $0 == "failed" ? "" : " (\($0))" } ?? "") \(age(info.finishedAt))"
        default: info.state.rawValue.capitalized
        }
    }
}
