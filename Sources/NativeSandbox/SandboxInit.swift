#if canImport(Glibc)
import Glibc
#endif
import CLinux
import LinuxSupport
import WarrenCore

/// PID 1 inside the sandbox: finishes the namespaces, mounts, starts the workload,
/// drops its own privileges, then reaps zombies and forwards signals until the
/// workload exits. When it exits the kernel kills everything else in the sandbox.
struct SandboxInit {
    let config: HelperLaunchConfig
    let bundle: SandboxBundle
    /// Read end: the monitor writes one byte once id maps and cgroup are in place.
    let goFD: Int32
    /// Write end: `OK` once the workload has exec'd, or `E:<reason>`.
    let statusFD: Int32
    let stdio: (Int32, Int32, Int32)
    /// With a terminal: where to send the master side of the pty made inside.
    let consoleFD: Int32?
    /// With a relay: where to send the guest loopback listener the monitor relays.
    let relayFD: Int32?

    static let capKill: Int32 = 5

    /// Signals forwarded to the workload.
    static let forwarded: [Int32] = [SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH]

    func run() -> Never {
        // The sandbox dies with its monitor: a monitor killed or crashed leaves nothing
        // running. Set again below, as a change of credentials clears it; a monitor gone
        // before the first setting closes the pipe, and init exits on reading it.
        _ = warren_prctl(PR_SET_PDEATHSIG, UInt(SIGKILL), 0, 0, 0)
        var b: UInt8 = 0
        guard read(goFD, &b, 1) == 1 else { _exit(1) }
        close(goFD)
        let workload: Int32
        do {
            workload = try setUpAndStart()
        } catch {
            try? writeAll(statusFD, "E:\(error)")
            _exit(1)
        }
        try? writeAll(statusFD, "OK")
        close(statusFD)
        reap(workload)
    }

    private func setUpAndStart() throws -> Int32 {
        try syscallRetrying("setresgid") { warren_setresgid(0, 0, 0) }
        try syscallRetrying("setresuid") { warren_setresuid(0, 0, 0) }
        if !config.isRootless { try syscallRetrying("setgroups") { setgroups(0, nil) } }
        _ = warren_prctl(PR_SET_PDEATHSIG, UInt(SIGKILL), 0, 0, 0)
        // Once in the sandbox's cgroup, make it the root of a cgroup namespace (a
        // rootless init was cloned into one, having no cgroup of its own).
        if !config.isRootless {
            try syscallRetrying("unshare(CLONE_NEWCGROUP)") { warren_unshare(CLONE_NEWCGROUP) }
        }
        try syscallRetrying("sethostname") { sethostname(config.hostname, config.hostname.utf8.count) }
        try syscallRetrying("loopback up") { warren_loopback_up() }
        if let relayFD {
            for relay in config.guestRelays {
                // Made before the workload starts, so its first connection waits in the backlog.
                let listener = try syscallRetrying("listen 127.0.0.1:\(relay.port)") { warren_listen_loopback(relay.port) }
                try syscallRetrying("sendmsg(relay)") { warren_send_fd(relayFD, listener) }
                close(listener)
            }
            if config.network == .none {
                // The name server the sandbox's resolv.conf names: it says no name exists, at once.
                let dns = try syscallRetrying("bind 127.0.0.1:53/udp") { warren_dns_socket() }
                try syscallRetrying("sendmsg(dns)") { warren_send_fd(relayFD, dns) }
                close(dns)
            }
            close(relayFD)
        }
        try GuestFilesystem.setUp(rootfs: bundle.rootfsMount, readOnly: config.readOnlyRootfs, onlyRootMapped: config.isRootless)
        var stdio = self.stdio
        if let consoleFD {
            let slave = try Self.makeTerminal(size: config.consoleSize, sendMasterTo: consoleFD)
            stdio = (slave, slave, slave)
        }

        var errPipe: [Int32] = [0, 0]
        try syscallRetrying("pipe2") { warren_pipe2(&errPipe, O_CLOEXEC) }
        let workload = Workload(command: config.command, env: config.env, workdir: config.workdir,
                                user: config.user, capAdd: config.capAdd, limits: config.limits,
                                tty: config.tty, hostname: config.hostname, rootless: config.isRootless)
        let pid = fork()
        if pid == 0 {
            close(errPipe[0])
            dup2(stdio.0, 0); dup2(stdio.1, 1); dup2(stdio.2, 2)
            workload.exec(errorFD: errPipe[1])
        }
        guard pid > 0 else { throw SyscallError("fork", errno: errno) }
        close(errPipe[1])
        for fd in Set([stdio.0, stdio.1, stdio.2]) { close(fd) }
        let failure = (try? readAll(errPipe[0])) ?? []
        close(errPipe[0])
        if !failure.isEmpty {
            var status: Int32 = 0
            waitpid(pid, &status, 0)
            throw SandboxSetupError(String(decoding: failure, as: UTF8.self))
        }
        // Init keeps nothing it does not need: not ptrace-able, and of the capabilities
        // only CAP_KILL, to pass stop signals on to a workload running as another user
        // (its pid namespace holds only the sandbox's processes).
        _ = warren_prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
        try Capabilities.limitBoundingSet(keep: [Self.capKill])
        try Capabilities.apply(keep: [Self.capKill])
        _ = warren_prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
        return pid
    }

    /// Opens a pty in the sandbox's devpts (now at /dev/pts), sends its master over
    /// `socket` and returns the slave for the workload.
    static func makeTerminal(size: TerminalSize?, sendMasterTo socket: Int32) throws -> Int32 {
        var slave: Int32 = -1
        let master = try syscallRetrying("open", "/dev/pts/ptmx") { warren_open_devpts_pty("/dev/pts/ptmx", &slave) }
        defer { close(master) }
        let size = size ?? TerminalSize(rows: 24, cols: 80)
        _ = warren_set_winsize(master, size.rows, size.cols)
        try syscallRetrying("sendmsg(console)") { warren_send_fd(socket, master) }
        close(socket)
        return slave
    }

    /// Reaps children and forwards signals; exits with the workload's status.
    private func reap(_ workload: Int32) -> Never {
        let handled = [SIGCHLD] + Self.forwarded
        _ = warren_sigmask(0, handled, Int32(handled.count))
        let sfd = warren_signalfd(handled, Int32(handled.count), 0)
        while true {
            let sig = warren_signalfd_read(sfd)
            if sig <= 0 { break }
            if sig != SIGCHLD { kill(workload, sig); continue }
            while true {
                var status: Int32 = 0
                let p = waitpid(-1, &status, WNOHANG)
                if p <= 0 { break }
                if p == workload { _exit(ExitStatus.code(fromWaitStatus: status)) }
            }
        }
        _exit(1)
    }
}

/// Shell-style exit codes from a wait status: the code, or 128 + signal.
enum ExitStatus {
    static func code(fromWaitStatus status: Int32) -> Int32 {
        let sig = status & 0x7f
        if sig == 0 { return (status >> 8) & 0xff }
        return 128 + sig
    }
}
