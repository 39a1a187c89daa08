#if canImport(Glibc)
import Glibc
#endif
import CLinux
import Foundation
import LinuxSupport
import RuntimeDriver
import WarrenCore

extension NativeDriver {
    /// Runs a process inside the sandbox through `warren-sandbox exec`, which joins the
    /// sandbox's namespaces and cgroup and applies the same confinement. With `tty` the
    /// process gets a terminal whose master side the daemon keeps: input, window size
    /// and Ctrl-C go through it.
    public func exec(id: String, request: ExecRequest) async throws -> ExecSession {
        guard !request.command.isEmpty else { throw WarrenError(.invalidArgument, "exec needs a command") }
        guard let state = helperState(id), helperAlive(state), recordedExit(id) == nil else {
            throw WarrenError(.invalidState, "sandbox \(id) is not running")
        }
        let process = HelperExecConfig(command: request.command, env: request.env, workdir: request.workdir,
                                       user: request.user, tty: request.tty, consoleSize: request.consoleSize)
        let json = String(decoding: try WarrenJSON.encoder().encode(process), as: UTF8.self)
        var stdio = try request.tty ? ExecStdio.terminal() : ExecStdio.pipes()
        var arguments = [helperPath, "exec", "--bundle", bundle(id).path, "--process", json]
        var actions: [ProcessSpawner.FileAction] = [
            .dup(source: stdio.child.0, fd: 0), .dup(source: stdio.child.1, fd: 1), .dup(source: stdio.child.2, fd: 2)]
        if let console = stdio.console {
            arguments += ["--console-fd", "3"]
            actions.append(.dup(source: console.child, fd: 3))
        }
        let pid: pid_t
        do {
            pid = try ProcessSpawner.spawn(helperPath, arguments, environment: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
                                           actions: actions, newSession: false)
        } catch {
            stdio.closeAll()
            throw WarrenError.wrap(error)
        }
        stdio.closeChildEnds()
        if request.tty {
            // The helper makes the terminal inside the sandbox and sends its master here;
            // if it fails first, its error is on the stderr pipe the pump reads.
            try await stdio.receiveTerminal()
        }
        let input = FDWriter(fd: stdio.input, label: "exec-\(pid)")
        let (stream, continuation) = AsyncThrowingStream<OutputChunk, any Error>.makeStream()
        let outputs = stdio.outputs
        Thread {
            Self.pump(outputs) { stream, bytes in
                continuation.yield(.output(stream, bytes, time: Date()))
            }
            let code = ProcessSpawner.waitForExit(pid)
            input.close()
            continuation.yield(.exit(code))
            continuation.finish()
        }.start()
        let hasTerminal = request.tty
        return ExecSession(
            output: stream,
            writeStdin: { bytes in try await input.write(bytes) },
            // A terminal has no end of input; the process ends with the client or on its own.
            closeStdin: { if !request.tty { input.close() } },
            resize: { rows, cols in
                guard hasTerminal else { throw WarrenError(.invalidArgument, "resize needs a terminal (tty)") }
                try await input.control { fd in _ = warren_set_winsize(fd, rows, cols) }
            },
            signal: { sig in
                try SandboxSignals.validate(sig)
                Glibc.kill(pid, sig)
            })
    }

    /// Reads every fd until EOF on all of them, handing chunks to `emit`.
    static func pump(_ fds: [(Int32, LogStream)], emit: (LogStream, [UInt8]) -> Void) {
        var open = fds
        var buf = [UInt8](repeating: 0, count: 65536)
        while !open.isEmpty {
            var polls = open.map { pollfd(fd: $0.0, events: Int16(POLLIN), revents: 0) }
            if poll(&polls, nfds_t(polls.count), -1) < 0 { if errno == EINTR { continue } else { break } }
            for (i, p) in polls.enumerated() where p.revents != 0 {
                let n = read(p.fd, &buf, buf.count)
                if n > 0 { emit(open[i].1, Array(buf[0..<n])) } else if n == 0 || errno != EINTR {
                    close(p.fd)
                    open.removeAll { $0.0 == p.fd }
                }
            }
        }
    }
}

/// The fds of one exec: what the helper gets as 0–2, what the daemon reads and writes.
struct ExecStdio {
    var child: (Int32, Int32, Int32)
    /// Read by the pump, which closes them.
    var outputs: [(Int32, LogStream)]
    /// Written by the input writer, which closes it; for a terminal, a second
    /// descriptor of the master side, which also takes window sizes.
    var input: Int32
    /// With a terminal: the socket pair the helper sends the pty's master over.
    var console: (parent: Int32, child: Int32)?

    static func pipes() throws -> ExecStdio {
        let stdin = try ProcessSpawner.pipe()
        let stdout = try ProcessSpawner.pipe()
        let stderr = try ProcessSpawner.pipe()
        return ExecStdio(child: (stdin.read, stdout.write, stderr.write),
                         outputs: [(stdout.read, .stdout), (stderr.read, .stderr)], input: stdin.write)
    }

    /// The helper's own stdio: nothing in, its errors out on a pipe. The process's
    /// terminal arrives later (`receiveTerminal`).
    static func terminal() throws -> ExecStdio {
        let devnull = try syscallRetrying("open", "/dev/null") { open("/dev/null", O_RDONLY | O_CLOEXEC) }
        let errors = try ProcessSpawner.pipe()
        var pair: [Int32] = [0, 0]
        try syscallRetrying("socketpair") { warren_socketpair(&pair) }
        return ExecStdio(child: (devnull, errors.write, errors.write), outputs: [(errors.read, .stderr)],
                         input: -1, console: (pair[0], pair[1]))
    }

    /// Waits for the pty master from the helper; on failure the helper's error text
    /// is still read from stderr and its exit code reported.
    mutating func receiveTerminal() async throws {
        guard let console else { return }
        self.console = nil
        let master = try await runBlocking { () -> Int32 in
            defer { close(console.parent) }
            return warren_recv_fd(console.parent)
        }
        guard master >= 0 else { return }
        let input = fcntl(master, F_DUPFD_CLOEXEC, 3)
        guard input >= 0 else {
            let e = errno
            close(master)
            throw SyscallError("dup", errno: e)
        }
        outputs.insert((master, .stdout), at: 0)
        self.input = input
    }

    func closeChildEnds() {
        for fd in Set([child.0, child.1, child.2]) { close(fd) }
        if let console { close(console.child) }
    }

    func closeAll() {
        closeChildEnds()
        for (fd, _) in outputs { close(fd) }
        if input >= 0 { close(input) }
        if let console { close(console.parent) }
    }
}
