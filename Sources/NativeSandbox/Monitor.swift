#if canImport(Glibc)
import Glibc
#endif
import CLinux
import Foundation
import LinuxSupport
import WarrenCore

/// The helper process the daemon spawns for one sandbox (`warren-sandbox start`).
///
/// It stays in the host's namespaces for the sandbox's whole life: builds the
/// rootfs in a private mount namespace, creates the cgroup, clones the sandbox's
/// init into fresh namespaces, then writes the sandbox's output to its log, enforces
/// the timeout, forwards signals, and records the exit. It runs in its own session,
/// so a crashed or restarted daemon does not take the sandbox with it.
public struct Monitor {
    let bundle: SandboxBundle
    let config: HelperLaunchConfig
    /// Pipe to the daemon: `ok <pid>` or `error <message>`, then closed.
    let readyFD: Int32

    public init(bundlePath: String, readyFD: Int32) throws {
        bundle = SandboxBundle(path: bundlePath)
        config = try bundle.loadLaunchConfig()
        self.readyFD = readyFD
    }

    /// Sandbox ids 0… as seen from the monitor's user namespace: the host range of a
    /// root daemon, or the monitor's own root when rootless.
    var sandboxMap: IDMap { config.isRootless ? RootlessNamespace.sandboxMap : config.idMap }

    static let namespaceFlags = UInt64(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWIPC)

    /// Runs the sandbox to its end; returns the helper's own exit code.
    public func run() -> Int32 {
        // Non-dumpable makes /proc/<pid> files owned by host root; a rootless monitor
        // must still write its own and init's id maps, so it waits until they are done.
        if !config.isRootless { _ = warren_prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) }
        _ = warren_prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        // Input to a process that has gone must fail with EPIPE, not kill the monitor.
        signal(SIGPIPE, SIG_IGN)
        if readyFD >= 0 { _ = fcntl(readyFD, F_SETFD, FD_CLOEXEC) }
        // Nothing the spawner left open may reach the sandbox.
        if readyFD > 3 { _ = warren_close_range(3, UInt32(readyFD - 1), 0) }
        _ = warren_close_range(UInt32(max(readyFD, 2) + 1), UInt32.max, 0)

        let handled = [SIGCHLD] + SandboxInit.forwarded
        _ = warren_sigmask(0, handled, Int32(handled.count))
        let signalFD = warren_signalfd(handled, Int32(handled.count), 1)

        // A rootless daemon has no cgroup to give (see NativeDriver.rootless).
        let cgroup = config.isRootless ? nil : CgroupLayout.detect().map { SandboxCgroup(layout: $0, relativePath: config.cgroupPath) }
        let started: Started
        do {
            if config.isRootless { try RootlessNamespace.enter() }
            started = try start(cgroup: cgroup)
        } catch {
            cgroup.map { try? $0.remove() }
            report("error \(error)")
            record(HelperExit(exitCode: 127, reason: "failed", error: "\(error)", finishedAt: Date()))
            return 1
        }
        report("ok \(started.initPID)")
        let exit = superviseUntilExit(started, signalFD: signalFD, cgroup: cgroup)
        try? cgroup?.remove()
        record(exit)
        return 0
    }

    struct Started {
        var initPID: Int32
        var outputFDs: [(fd: Int32, stream: LogStream)]
        var log: LogWriter
        var input: MonitorInput?
        var handoff: NamespaceHandoff?
    }

    // MARK: - Start

    private func start(cgroup: SandboxCgroup?) throws -> Started {
        try makeDirectories(bundle.logsDir, mode: 0o700)
        try ExitReservation.reserve(bundle)
        try raiseFileLimit()
        try makeDirectories(bundle.runDir, mode: 0o755)
        let log = try LogWriter(bundle: bundle, maxBytes: config.limits.logBytes ?? ResourceLimits.defaultLogBytes)
        if let cgroup { try cgroup.create(limits: config.limits) }

        try syscallRetrying("warren_unshare(CLONE_NEWNS)") { warren_unshare(CLONE_NEWNS) }
        try syscallRetrying("mount(rprivate)", "/") { mount(nil, "/", nil, UInt(MS_REC | MS_PRIVATE), nil) }
        // Layers are id-mapped for a root daemon; a rootless one cannot id-map, and
        // needs not: its single mapped id already owns the files it unpacked.
        let usernsFD = config.isRootless ? -1 : try IDMapping.makeUserNamespaceFD(config.idMap)
        try RootfsBuilder(config: config, bundle: bundle, idMap: sandboxMap, usernsFD: usernsFD).build()
        if usernsFD >= 0 { close(usernsFD) }

        let stdio = try makeStdio()
        // Init makes the guest's loopback sockets and passes them back here: each relay's
        // listener (facade, egress proxy), and without a network the name server's socket.
        var relayPair: [Int32] = [-1, -1]
        if !config.guestRelays.isEmpty || config.network == .none {
            try syscallRetrying("socketpair") { warren_socketpair(&relayPair) }
        }
        var goPipe: [Int32] = [0, 0]
        var statusPipe: [Int32] = [0, 0]
        try syscallRetrying("pipe2") { warren_pipe2(&goPipe, O_CLOEXEC) }
        try syscallRetrying("pipe2") { warren_pipe2(&statusPipe, O_CLOEXEC) }

        // Rootless init has no cgroup of its own to be moved into first: its cgroup
        // namespace comes with the others, so the handoff can hold it from the start.
        let pid = warren_clone_fork(Self.namespaceFlags | (config.isRootless ? UInt64(CLONE_NEWCGROUP) : 0))
        if pid == 0 {
            close(goPipe[1]); close(statusPipe[0]); log.close()
            for (fd, _) in stdio.parentEnds { close(fd) }
            if let w = stdio.stdinWriter { close(w) }
            if let c = stdio.console { close(c.parent) }
            if readyFD >= 0 { close(readyFD) }
            if relayPair[0] >= 0 { close(relayPair[0]) }
            SandboxInit(config: config, bundle: bundle, goFD: goPipe[0], statusFD: statusPipe[1],
                        stdio: stdio.childEnds, consoleFD: stdio.console?.child,
                        relayFD: relayPair[1] >= 0 ? relayPair[1] : nil).run()
        }
        guard pid > 0 else { throw SyscallError("clone(namespaces)", errno: errno) }
        close(goPipe[0]); close(statusPipe[1])
        if relayPair[1] >= 0 { close(relayPair[1]) }
        for fd in Set([stdio.childEnds.0, stdio.childEnds.1, stdio.childEnds.2]) where fd >= 0 { close(fd) }
        if let c = stdio.console { close(c.child) }
        var outputs = stdio.parentEnds
        var handoff: NamespaceHandoff?
        do {
            try IDMapping.write(sandboxMap, to: pid)
            if config.isRootless {
                handoff = try NamespaceHandoff(socketPath: bundle.joinSocket, initPID: pid)
                _ = warren_prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
            }
            try cgroup?.add(pid: pid)
            try writeAll(goPipe[1], "g")
            close(goPipe[1])
            let status = String(decoding: try readAll(statusPipe[0]), as: UTF8.self)
            close(statusPipe[0])
            guard status == "OK" else {
                throw SandboxSetupError(status.hasPrefix("E:") ? String(status.dropFirst(2)) : "sandbox init exited during setup")
            }
            if let console = stdio.console {
                // Init made the terminal in the sandbox's own devpts and sent its master.
                let master = try syscallRetrying("recvmsg(console)") { warren_recv_fd(console.parent) }
                close(console.parent)
                outputs = [(master, .stdout)]
            }
            for relay in config.guestRelays {
                try Self.startRelay(relay, listenerFrom: relayPair[0])
            }
            if config.network == .none {
                let dns = try syscallRetrying("recvmsg(dns)") { warren_recv_fd(relayPair[0]) }
                guard warren_dns_refuser_start(dns) == 0 else {
                    let error = SyscallError("dns", errno: errno)
                    close(dns)
                    throw error
                }
            }
            if relayPair[0] >= 0 { close(relayPair[0]); relayPair[0] = -1 }
        } catch {
            if relayPair[0] >= 0 { close(relayPair[0]) }
            if let c = stdio.console { close(c.parent) }
            handoff?.close()
            kill(pid, SIGKILL)
            var st: Int32 = 0
            waitpid(pid, &st, 0)
            throw error
        }
        // Interactive sandboxes take input from attached clients.
        var input: MonitorInput?
        if let target = config.tty ? outputs[0].fd : stdio.stdinWriter {
            do {
                input = try MonitorInput(socketPath: bundle.attachSocket, targetFD: target,
                                         isTerminal: config.tty, acceptsInput: config.stdin)
            } catch {
                handoff?.close()
                kill(pid, SIGKILL)
                throw error
            }
        }
        let state = HelperState(helperPID: getpid(), helperStartTime: processStartTime(getpid()) ?? 0, initPID: pid)
        try writeFileAtomically(bundle.stateFile, Array(try WarrenJSON.encoder().encode(state)))
        return Started(initPID: pid, outputFDs: outputs, log: log, input: input, handoff: handoff)
    }

    /// A sandbox may be given more open files than the daemon was started with: a root
    /// monitor raises its own hard limit to the sandbox's first, as the workload (in a
    /// user namespace) cannot raise it itself.
    private func raiseFileLimit() throws {
        guard let wanted = config.limits.openFiles else { return }
        var current = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &current) == 0, current.rlim_max < rlim_t(wanted) else { return }
        var raised = rlimit(rlim_cur: current.rlim_cur, rlim_max: rlim_t(wanted))
        if setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &raised) != 0 {
            throw SandboxSetupError("--nofile \(wanted) is above the daemon's own limit of \(current.rlim_max) open files, which it may not raise")
        }
    }

    /// Relays the guest's loopback listener, which init sent over `socket`, to the daemon's socket.
    private static func startRelay(_ relay: GuestRelay, listenerFrom socket: Int32) throws {
        let listener = try syscallRetrying("recvmsg(relay)") { warren_recv_fd(socket) }
        let directory = (relay.socketPath as NSString).deletingLastPathComponent
        let name = (relay.socketPath as NSString).lastPathComponent
        guard warren_relay_start(listener, directory, name) == 0 else {
            let error = SyscallError("relay", errno: errno, relay.socketPath)
            close(listener)
            throw error
        }
    }

    private struct Stdio {
        var childEnds: (Int32, Int32, Int32)
        var parentEnds: [(fd: Int32, stream: LogStream)]
        /// Write end of the main process's stdin pipe, when stdin stays open without a terminal.
        var stdinWriter: Int32? = nil
        /// With a terminal: the socket pair over which init sends the pty's master.
        var console: (parent: Int32, child: Int32)? = nil
    }

    private func makeStdio() throws -> Stdio {
        if config.tty {
            // The terminal is made inside the sandbox, in its devpts, so the process sees
            // it as /dev/pts/N; init passes the master back over this socket pair.
            var pair: [Int32] = [0, 0]
            try syscallRetrying("socketpair") { warren_socketpair(&pair) }
            _ = fcntl(pair[1], F_SETFD, 0)
            return Stdio(childEnds: (-1, -1, -1), parentEnds: [], console: (pair[0], pair[1]))
        }
        var input: (read: Int32, write: Int32?)
        if config.stdin {
            let p = try ProcessSpawner.pipe()
            input = (p.read, p.write)
            _ = fcntl(p.read, F_SETFD, 0)
        } else {
            input = (try syscallRetrying("open", "/dev/null") { open("/dev/null", O_RDONLY) }, nil)
        }
        var out: [Int32] = [0, 0]
        var err: [Int32] = [0, 0]
        try syscallRetrying("pipe2") { warren_pipe2(&out, O_CLOEXEC) }
        try syscallRetrying("pipe2") { warren_pipe2(&err, O_CLOEXEC) }
        // The child's ends must survive into the sandbox: drop close-on-exec there.
        _ = fcntl(out[1], F_SETFD, 0)
        _ = fcntl(err[1], F_SETFD, 0)
        return Stdio(childEnds: (input.read, out[1], err[1]), parentEnds: [(out[0], .stdout), (err[0], .stderr)],
                     stdinWriter: input.write)
    }

    // MARK: - Supervise

    private func superviseUntilExit(_ s: Started, signalFD: Int32, cgroup: SandboxCgroup?) -> HelperExit {
        let deadline = config.limits.timeoutSeconds.map { monotonicNow() + $0 }
        var timedOut = false
        var exitCode: Int32?
        var open = s.outputFDs
        var log = s.log
        var buffer = [UInt8](repeating: 0, count: 65536)

        while exitCode == nil || !open.isEmpty {
            let polled = open
            var fds = polled.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
            fds.append(pollfd(fd: signalFD, events: Int16(POLLIN), revents: 0))
            if exitCode == nil {
                fds += s.input?.pollEntries() ?? []
                fds += s.handoff?.pollEntries ?? []
            }
            var timeout: Int32 = -1
            if exitCode != nil {
                timeout = 2000  // drain what is left; sandbox processes are gone
            } else if let d = deadline, !timedOut {
                timeout = Int32(max(0, min(Double(Int32.max / 2), (d - monotonicNow()) * 1000)))
            }
            let n = poll(&fds, nfds_t(fds.count), timeout)
            if n < 0 && errno == EINTR { continue }
            if n == 0 {
                if exitCode != nil { break }
                timedOut = true
                if let cgroup { cgroup.killAll() } else { kill(s.initPID, SIGKILL) }
                continue
            }
            for (i, p) in fds.enumerated() where p.revents != 0 {
                if i > polled.count {
                    if s.input?.handle(p) != true { _ = s.handoff?.handle(p) }
                    continue
                }
                if p.fd == signalFD {
                    if let code = handleSignals(signalFD, initPID: s.initPID) {
                        exitCode = code
                        s.input?.close()
                        s.handoff?.close()
                    }
                    continue
                }
                let r = read(p.fd, &buffer, buffer.count)
                if r > 0 {
                    log.append(LogRecord.encode(stream: polled[i].stream, payload: buffer[0..<r], timeNanos: wallNanos()))
                } else if r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN) {
                    // A terminal's master is also the input's target: stop both together.
                    if config.tty { s.input?.close() }
                    close(p.fd)
                    open.removeAll { $0.fd == p.fd }
                }
            }
        }
        for o in open { close(o.fd) }
        log.close()
        let code = exitCode ?? 137
        return HelperExit(exitCode: code, reason: timedOut ? "timeout" : (code == 137 ? "killed" : "exited"), finishedAt: Date())
    }

    /// Forwards stop signals to init; returns init's exit code once it has exited.
    private func handleSignals(_ fd: Int32, initPID: Int32) -> Int32? {
        var result: Int32?
        while true {
            let sig = warren_signalfd_read(fd)
            if sig <= 0 { break }
            if sig != SIGCHLD { kill(initPID, sig); continue }
            while true {
                var status: Int32 = 0
                let p = waitpid(-1, &status, WNOHANG)
                if p <= 0 { break }
                if p == initPID { result = ExitStatus.code(fromWaitStatus: status) }
            }
        }
        return result
    }

    // MARK: - Reporting

    private func report(_ line: String) {
        guard readyFD >= 0 else { return }
        try? writeAll(readyFD, line + "\n")
        close(readyFD)
    }

    /// Writes the exit record. The space for it was reserved at start, so a disk that
    /// filled up meanwhile cannot keep it from being written; should that still fail, it
    /// is tried again every second for as long as the monitor lives (the daemon waits).
    private func record(_ exit: HelperExit) {
        guard let data = try? WarrenJSON.encoder().encode(exit) else { return }
        var delay: UInt32 = 0
        while !(ExitReservation.commit(bundle, Array(data)) || (try? writeFileAtomically(bundle.exitFile, Array(data))) != nil) {
            delay = min(delay + 1, 5)
            sleep(delay)
        }
    }
}

func monotonicNow() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

func wallNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}
