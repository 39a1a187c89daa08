#if canImport(Glibc)
import Glibc
#endif
import CLinux
import Foundation
import LinuxSupport
import WarrenCore

/// `warren-sandbox exec`: runs one more process inside a running sandbox.
///
/// Joins the sandbox's cgroup and every namespace of its init through a pidfd, then
/// forks so the process is inside the sandbox's pid namespace, and applies the same
/// user, capabilities, no_new_privs and seccomp as the main process. Its stdio are
/// the helper's own, or with a terminal a pty made in the sandbox's devpts whose
/// master goes to the daemon over `consoleFD`; the helper exits with the process's
/// exit code.
public struct ExecJoin {
    let bundle: SandboxBundle
    let config: HelperLaunchConfig
    let exec: HelperExecConfig
    let consoleFD: Int32

    public init(bundlePath: String, execJSON: String, consoleFD: Int32 = -1) throws {
        bundle = SandboxBundle(path: bundlePath)
        config = try bundle.loadLaunchConfig()
        exec = try WarrenJSON.decoder().decode(HelperExecConfig.self, from: Data(execJSON.utf8))
        self.consoleFD = consoleFD
    }

    public func run() -> Int32 {
        _ = warren_prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
        if consoleFD > 3 { _ = warren_close_range(3, UInt32(consoleFD - 1), 0) }
        _ = warren_close_range(UInt32(max(consoleFD, 2) + 1), UInt32.max, 0)
        if consoleFD >= 0 { _ = fcntl(consoleFD, F_SETFD, FD_CLOEXEC) }
        do {
            return try joinAndRun()
        } catch {
            FileHandle.standardError.write(Data("warren-sandbox: exec: \(error)\n".utf8))
            return 126
        }
    }

    private func joinAndRun() throws -> Int32 {
        guard let data = readFileIfPresent(bundle.stateFile),
              let state = try? WarrenJSON.decoder().decode(HelperState.self, from: Data(data)),
              access(bundle.exitFile, F_OK) != 0,
              processIsAlive(state.helperPID, startTime: state.helperStartTime)
        else { throw SandboxSetupError("sandbox \(config.id) is not running") }

        if config.isRootless {
            try NamespaceHandoff.join(socketPath: bundle.joinSocket)
        } else {
            let pidfd = try syscallRetrying("pidfd_open") { warren_pidfd_open(state.initPID) }
            defer { close(pidfd) }
            if let layout = CgroupLayout.detect() {
                try SandboxCgroup(layout: layout, relativePath: config.cgroupPath).add(pid: getpid())
            }
            let flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWCGROUP
            try syscallRetrying("setns") { warren_setns_pidfd(pidfd, Int32(flags)) }
        }
        try syscallRetrying("setresgid") { warren_setresgid(0, 0, 0) }
        try syscallRetrying("setresuid") { warren_setresuid(0, 0, 0) }

        var terminal: Int32 = -1
        if exec.tty {
            guard consoleFD >= 0 else { throw SandboxSetupError("exec with a terminal needs --console-fd") }
            terminal = try SandboxInit.makeTerminal(size: exec.consoleSize, sendMasterTo: consoleFD)
        }

        let handled = [SIGCHLD] + SandboxInit.forwarded
        _ = warren_sigmask(0, handled, Int32(handled.count))
        let sfd = warren_signalfd(handled, Int32(handled.count), 0)

        var errPipe: [Int32] = [0, 0]
        try syscallRetrying("pipe2") { warren_pipe2(&errPipe, O_CLOEXEC) }
        let workload = Workload(
            command: exec.command, env: config.env + exec.env, workdir: exec.workdir ?? config.workdir,
            user: exec.user ?? config.user, capAdd: config.capAdd, limits: config.limits, tty: exec.tty,
            hostname: config.hostname, rootless: config.isRootless)
        let pid = fork()
        if pid == 0 {
            close(errPipe[0])
            if terminal >= 0 { dup2(terminal, 0); dup2(terminal, 1); dup2(terminal, 2) }
            workload.exec(errorFD: errPipe[1])
        }
        guard pid > 0 else { throw SyscallError("fork", errno: errno) }
        close(errPipe[1])
        if terminal >= 0 { close(terminal) }
        let failure = (try? readAll(errPipe[0])) ?? []
        close(errPipe[0])
        if !failure.isEmpty {
            var st: Int32 = 0
            waitpid(pid, &st, 0)
            FileHandle.standardError.write(Data("warren-sandbox: exec: \(String(decoding: failure, as: UTF8.self))\n".utf8))
            return failure.starts(with: Array("exec: \"".utf8)) ? 127 : 126
        }
        while true {
            let sig = warren_signalfd_read(sfd)
            if sig <= 0 { return 1 }
            if sig != SIGCHLD { kill(pid, sig); continue }
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid { return ExitStatus.code(fromWaitStatus: status) }
        }
    }
}
