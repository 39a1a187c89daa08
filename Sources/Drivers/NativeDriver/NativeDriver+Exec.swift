#if canImport(Glibc)
import Glibc
#endif
import Foundation
import LinuxSupport
import RuntimeDriver
import WarrenCore

extension NativeDriver {
    /// Runs a process inside the sandbox through `warren-sandbox exec`, which joins the
    /// sandbox's namespaces and cgroup and applies the same confinement.
    public func exec(id: String, request: ExecRequest) async throws -> ExecSession {
        guard !request.command.isEmpty else { throw WarrenError(.invalidArgument, "exec needs a command") }
        if request.tty { throw WarrenError(.unsupported, "exec with a TTY is not supported by the native driver yet") }
        guard let state = helperState(id), helperAlive(state), recordedExit(id) == nil else {
            throw WarrenError(.invalidState, "sandbox \(id) is not running")
        }
        let process = HelperExecConfig(command: request.command, env: request.env, workdir: request.workdir,
                                       user: request.user, tty: false)
        let json = String(decoding: try WarrenJSON.encoder().encode(process), as: UTF8.self)
        let stdin = try ProcessSpawner.pipe()
        let stdout = try ProcessSpawner.pipe()
        let stderr = try ProcessSpawner.pipe()
        let pid: pid_t
        do {
            pid = try ProcessSpawner.spawn(
                helperPath, [helperPath, "exec", "--bundle", bundle(id).path, "--process", json],
                environment: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
                actions: [.dup(source: stdin.read, fd: 0), .dup(source: stdout.write, fd: 1), .dup(source: stderr.write, fd: 2)],
                newSession: false)
        } catch {
            for fd in [stdin.read, stdin.write, stdout.read, stdout.write, stderr.read, stderr.write] { close(fd) }
            throw WarrenError.wrap(error)
        }
        close(stdin.read); close(stdout.write); close(stderr.write)
        let stdinFD = StdinPipe(fd: stdin.write)
        let (stream, continuation) = AsyncThrowingStream<OutputChunk, any Error>.makeStream()
        let outFD = stdout.read, errFD = stderr.read
        Thread {
            Self.pump([(outFD, .stdout), (errFD, .stderr)]) { stream, bytes in
                continuation.yield(.output(stream, bytes, time: Date()))
            }
            let code = ProcessSpawner.waitForExit(pid)
            stdinFD.close()
            continuation.yield(.exit(code))
            continuation.finish()
        }.start()
        return ExecSession(
            output: stream,
            writeStdin: { bytes in try stdinFD.write(bytes) },
            closeStdin: { stdinFD.close() },
            resize: { _, _ in throw WarrenError(.unsupported, "resize needs a TTY") },
            signal: { sig in kill(pid, sig) })
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

/// The write end of an exec's stdin, closable once from any thread.
final class StdinPipe: @unchecked Sendable {
    private let lock = NSLock()
    private var fd: Int32

    init(fd: Int32) { self.fd = fd }

    func write(_ bytes: [UInt8]) throws {
        lock.lock(); defer { lock.unlock() }
        guard fd >= 0 else { throw WarrenError(.invalidState, "stdin is closed") }
        try writeAll(fd, bytes)
    }

    func close() {
        lock.lock(); defer { lock.unlock() }
        if fd >= 0 { Glibc.close(fd); fd = -1 }
    }
}
