#if canImport(Glibc)
import Glibc
#endif
import CLinux
import WarrenCore

/// The user's terminal: raw mode for `-t` and its window size.
enum Terminal {
    static func isTerminal(_ fd: Int32) -> Bool { isatty(fd) == 1 }

    /// The size of the terminal on stdin or stdout, if either is one.
    static func size() -> TerminalSize? {
        var rows: UInt16 = 0
        var cols: UInt16 = 0
        for fd in [STDIN_FILENO, STDOUT_FILENO] where warren_get_winsize(fd, &rows, &cols) == 0 && rows > 0 {
            return TerminalSize(rows: rows, cols: cols)
        }
        return nil
    }

    /// Puts stdin's terminal into raw mode (every key, Ctrl-C included, goes to the
    /// sandbox); the returned value puts it back.
    static func makeRaw() -> RawMode? {
        var original = termios()
        guard tcgetattr(STDIN_FILENO, &original) == 0 else { return nil }
        var raw = original
        cfmakeraw(&raw)
        guard tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0 else { return nil }
        return RawMode(original: original)
    }

    struct RawMode {
        var original: termios
        func restore() {
            var saved = original
            _ = tcsetattr(STDIN_FILENO, TCSANOW, &saved)
        }
    }
}
