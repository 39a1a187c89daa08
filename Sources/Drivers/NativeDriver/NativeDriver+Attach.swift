#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Foundation
import LinuxSupport
import RuntimeDriver
import WarrenCore

extension NativeDriver {
    /// Connects to the monitor's `attach.sock`; input becomes `AttachFrame`s.
    public func attach(id: String) async throws -> AttachSession {
        let b = bundle(id)
        guard let data = readFileIfPresent(b.configFile),
              let config = try? WarrenJSON.decoder().decode(HelperLaunchConfig.self, from: Data(data)) else {
            throw WarrenError(.notFound, "sandbox \(id) has no bundle")
        }
        guard config.stdin || config.tty else {
            throw WarrenError(.invalidState, "sandbox \(id) was not started with stdin or a terminal (-i/-t)")
        }
        guard let state = helperState(id), helperAlive(state), recordedExit(id) == nil else {
            throw WarrenError(.invalidState, "sandbox \(id) is not running")
        }
        let fd: Int32
        do {
            fd = try UnixSockets.connect(to: b.attachSocket)
        } catch {
            throw WarrenError(.invalidState, "sandbox \(id) does not take input any more: \(error)")
        }
        let writer = FDWriter(fd: fd, label: "attach-\(id.prefix(12))")
        return AttachSession(
            writeStdin: { bytes in try await writer.write(AttachFrame.input(bytes).encoded()) },
            closeStdin: { try await writer.write(AttachFrame.endOfInput.encoded()) },
            resize: { rows, cols in try await writer.write(AttachFrame.resize(TerminalSize(rows: rows, cols: cols)).encoded()) },
            detach: { writer.close() })
    }

    /// Signals the main process through its monitor (which forwards to init, then to
    /// the process); KILL takes the whole sandbox down.
    public func kill(id: String, signal: Int32) async throws {
        try SandboxSignals.validate(signal)
        guard let state = helperState(id), helperAlive(state), recordedExit(id) == nil else {
            throw WarrenError(.invalidState, "sandbox \(id) is not running")
        }
        if signal == SIGKILL {
            killEverything(id, state: state)
        } else {
            Glibc.kill(state.helperPID, signal)
        }
    }
}
