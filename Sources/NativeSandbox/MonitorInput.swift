#if canImport(Glibc)
import Glibc
#endif
import CLinux
import LinuxSupport
import WarrenCore

/// The input side of an interactive sandbox, inside the monitor's poll loop.
///
/// Attached clients (the daemon) connect to `<bundle>/attach.sock` and send
/// `AttachFrame`s: bytes for the main process's stdin (a pipe, or the terminal's
/// master side), end of input, and window sizes. Writes never block the monitor: input
/// that does not fit waits, and clients are not read until it has gone.
final class MonitorInput {
    private var listenFD: Int32
    /// Where input goes: the stdin pipe's write end or the pty master; -1 once closed.
    private var targetFD: Int32
    private let isTerminal: Bool
    /// Without `-i` a terminal still takes window sizes, but no input.
    private let acceptsInput: Bool
    private var clients: [Int32: [UInt8]] = [:]
    private var pending: [UInt8] = []
    /// End of input arrived while input was still pending: close once it is written.
    private var closeWhenDrained = false

    init(socketPath: String, targetFD: Int32, isTerminal: Bool, acceptsInput: Bool) throws {
        listenFD = try UnixSockets.listen(at: socketPath, mode: 0o600)
        self.targetFD = targetFD
        self.isTerminal = isTerminal
        self.acceptsInput = acceptsInput
        let flags = fcntl(targetFD, F_GETFL)
        _ = fcntl(targetFD, F_SETFL, flags | O_NONBLOCK)
    }

    /// What to poll for: new clients, client input (while nothing is pending), and
    /// room in the target (while something is).
    func pollEntries() -> [pollfd] {
        guard listenFD >= 0 else { return [] }
        var entries = [pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0)]
        if pending.isEmpty {
            for fd in clients.keys { entries.append(pollfd(fd: fd, events: Int16(POLLIN), revents: 0)) }
        } else if targetFD >= 0 {
            entries.append(pollfd(fd: targetFD, events: Int16(POLLOUT), revents: 0))
        }
        return entries
    }

    /// Handles one entry that `pollEntries` produced; returns false for an fd it does not own.
    func handle(_ entry: pollfd) -> Bool {
        if entry.fd == listenFD {
            accept()
        } else if entry.fd == targetFD && entry.events == Int16(POLLOUT) {
            flush()
        } else if clients[entry.fd] != nil {
            readClient(entry.fd)
        } else {
            return false
        }
        return true
    }

    /// Closes the socket, every client and (for a pipe) the target. Idempotent.
    func close() {
        for fd in clients.keys { Glibc.close(fd) }
        clients.removeAll()
        if listenFD >= 0 { Glibc.close(listenFD); listenFD = -1 }
        if !isTerminal && targetFD >= 0 { Glibc.close(targetFD) }
        targetFD = -1
        pending.removeAll()
    }

    private func accept() {
        while true {
            let fd = UnixSockets.acceptNonBlocking(listenFD)
            if fd < 0 { return }
            clients[fd] = []
        }
    }

    private func readClient(_ fd: Int32) {
        var buffer = [UInt8](repeating: 0, count: 65536)
        let n = read(fd, &buffer, buffer.count)
        if n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR) {
            Glibc.close(fd)
            clients[fd] = nil
            return
        }
        guard n > 0 else { return }
        var data = clients[fd, default: []] + buffer[0..<n]
        let (frames, used) = AttachFrame.decode(data)
        data.removeFirst(used)
        clients[fd] = data
        for frame in frames { apply(frame) }
    }

    private func apply(_ frame: AttachFrame) {
        switch frame {
        case .input(let bytes):
            guard acceptsInput, targetFD >= 0 else { return }
            pending.append(contentsOf: bytes)
            flush()
        case .endOfInput:
            // A terminal has no end of input of its own; a pipe is closed once drained.
            guard !isTerminal, targetFD >= 0 else { return }
            if pending.isEmpty { Glibc.close(targetFD); targetFD = -1 } else { closeWhenDrained = true }
        case .resize(let size):
            if isTerminal, targetFD >= 0 { _ = warren_set_winsize(targetFD, size.rows, size.cols) }
        }
    }

    private func flush() {
        while !pending.isEmpty && targetFD >= 0 {
            let n = pending.withUnsafeBytes { write(targetFD, $0.baseAddress, $0.count) }
            if n > 0 { pending.removeFirst(n); continue }
            if n < 0 && (errno == EAGAIN || errno == EINTR) { return }
            // The reader is gone (EPIPE, EIO): input has nowhere to go.
            pending.removeAll()
            if !isTerminal { Glibc.close(targetFD) }
            targetFD = -1
        }
        if pending.isEmpty && closeWhenDrained && targetFD >= 0 {
            Glibc.close(targetFD)
            targetFD = -1
            closeWhenDrained = false
        }
    }
}
