#if canImport(Glibc)
import Glibc
#endif
import Foundation
import LinuxSupport
import RuntimeDriver
import WarrenCore

// MARK: - Logs

extension DockerDriver {
    /// The container's output as Docker logged it; with `follow`, until it stops.
    public func logs(id: String, follow: Bool) async throws -> AsyncThrowingStream<LogRecord.Decoded, any Error> {
        let engine = try await engine()
        guard let c = try await engine.inspectContainer(container(id)) else {
            throw WarrenError(.notFound, "sandbox \(id.prefix(12)) has no container")
        }
        return try await engine.containerLogs(c.Id, follow: follow, tty: c.Config?.Tty ?? false)
    }
}

// MARK: - Exec

extension DockerDriver {
    /// Runs a process in the running container under the container's own confinement
    /// (no capabilities, no privilege, the same seccomp profile and cgroup).
    public func exec(id: String, request: ExecRequest) async throws -> ExecSession {
        guard !request.command.isEmpty else { throw WarrenError(.invalidArgument, "exec needs a command") }
        let engine = try await engine()
        guard try await engine.inspectContainer(container(id))?.State.Running == true else {
            throw WarrenError(.invalidState, "sandbox \(id.prefix(12)) is not running")
        }
        var config = DockerExecConfig(Cmd: request.command, Tty: request.tty)
        config.Env = request.env.isEmpty ? nil : request.env
        config.WorkingDir = request.workdir
        config.User = request.user
        let execID = try await engine.createExec(container(id), config)
        let stream = try await engine.startExec(execID, tty: request.tty)
        let tty = request.tty
        if tty, let size = request.consoleSize {
            try? await engine.resizeExec(execID, rows: size.rows, cols: size.cols)
        }
        let (output, continuation) = AsyncThrowingStream<OutputChunk, any Error>.makeStream()
        let reader = Thread {
            var demux = DockerStreamDemultiplexer()
            stream.readUntilEnd { bytes in
                if tty {
                    continuation.yield(.output(.stdout, bytes, time: Date()))
                } else {
                    for (kind, payload) in demux.feed(bytes) { continuation.yield(.output(kind, payload, time: Date())) }
                }
            }
            Task {
                await stream.close()
                continuation.yield(.exit(await Self.execExitCode(execID, engine: engine)))
                continuation.finish()
            }
        }
        reader.stackSize = 512 * 1024
        reader.start()
        return ExecSession(
            output: output,
            writeStdin: { bytes in try await stream.write(bytes) },
            // A terminal has no end of input; the process ends with the client or on its own.
            closeStdin: { if !tty { try await stream.closeInput() } },
            resize: { rows, cols in
                guard tty else { throw WarrenError(.invalidArgument, "resize needs a terminal (tty)") }
                try await engine.resizeExec(execID, rows: rows, cols: cols)
            },
            signal: { sig in
                try SandboxSignals.validate(sig)
                // The engine has no call to signal an exec'd process: it runs on this
                // host, so it is signalled by its host pid while Docker says it runs.
                let info = try await engine.inspectExec(execID)
                guard info.Running, let pid = info.Pid, pid > 0 else {
                    throw WarrenError(.invalidState, "the process has ended")
                }
                Glibc.kill(pid, sig)
            })
    }

    /// The exec's exit code once Docker has recorded it (its stream may end a moment before).
    static func execExitCode(_ execID: String, engine: DockerClient) async -> Int32 {
        for _ in 0..<200 {
            if let info = try? await engine.inspectExec(execID), !info.Running { return info.ExitCode ?? 125 }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return 125
    }
}

// MARK: - Attach and signals

extension DockerDriver {
    /// Input to the main process; its output is read through `logs`.
    public func attach(id: String) async throws -> AttachSession {
        let engine = try await engine()
        guard let c = try await engine.inspectContainer(container(id)) else {
            throw WarrenError(.notFound, "sandbox \(id.prefix(12)) has no container")
        }
        guard c.Config?.OpenStdin == true else {
            throw WarrenError(.invalidState, "sandbox \(id.prefix(12)) was not started with stdin or a terminal (-i/-t)")
        }
        guard c.State.Running == true else { throw WarrenError(.invalidState, "sandbox \(id.prefix(12)) is not running") }
        let stream = try await engine.attachStdin(c.Id)
        // The attach answers nothing Warren reads; drain it so the engine never blocks.
        let drain = Thread { stream.readUntilEnd { _ in } }
        drain.stackSize = 256 * 1024
        drain.start()
        let name = c.Id
        return AttachSession(
            writeStdin: { bytes in try await stream.write(bytes) },
            closeStdin: { try await stream.closeInput() },
            resize: { rows, cols in try await engine.resizeContainer(name, rows: rows, cols: cols) },
            detach: { await stream.close() })
    }

    public func kill(id: String, signal: Int32) async throws {
        try SandboxSignals.validate(signal)
        do {
            try await engine().killContainer(container(id), signal: signal)
        } catch let error as WarrenError where error.code == .conflict {
            throw WarrenError(.invalidState, "sandbox \(id.prefix(12)) is not running")
        }
    }
}
