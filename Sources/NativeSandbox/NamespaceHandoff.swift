#if canImport(Glibc)
import Glibc
#endif
import CLinux
import LinuxSupport
import WarrenCore

/// How `warren-sandbox exec` reaches the namespaces of a rootless sandbox.
///
/// A root daemon's exec helper joins through a pidfd of init. Without host privilege
/// that is refused: init is non-dumpable, so only CAP_SYS_PTRACE in the host's user
/// namespace may open its namespaces. The rootless monitor therefore opens them
/// while init is still waiting for its id maps, keeps them, and hands copies over
/// `<bundle>/join.sock` (mode 0600, outside the rootfs) to each exec helper.
final class NamespaceHandoff {
    /// In the order they must be joined: the user namespace first, for the rights to the others.
    static let kinds: [(name: String, flag: Int32)] = [
        ("user", CLONE_NEWUSER), ("mnt", CLONE_NEWNS), ("pid", CLONE_NEWPID), ("net", CLONE_NEWNET),
        ("uts", CLONE_NEWUTS), ("ipc", CLONE_NEWIPC), ("cgroup", CLONE_NEWCGROUP),
    ]

    private var listenFD: Int32
    private var namespaceFDs: [Int32]

    init(socketPath: String, initPID: pid_t) throws {
        var fds: [Int32] = []
        do {
            for kind in Self.kinds {
                let path = "/proc/\(initPID)/ns/\(kind.name)"
                fds.append(try syscallRetrying("open", path) { open(path, O_RDONLY | O_CLOEXEC) })
            }
            listenFD = try UnixSockets.listen(at: socketPath, mode: 0o600)
        } catch {
            for fd in fds { Glibc.close(fd) }
            throw error
        }
        namespaceFDs = fds
    }

    var pollEntries: [pollfd] {
        listenFD >= 0 ? [pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0)] : []
    }

    /// Sends every namespace to one waiting client; false for an fd it does not own.
    func handle(_ entry: pollfd) -> Bool {
        guard entry.fd == listenFD, listenFD >= 0 else { return false }
        let client = UnixSockets.acceptNonBlocking(listenFD)
        guard client >= 0 else { return true }
        // The client is waiting on a fresh connection: a short blocking send is fine.
        _ = fcntl(client, F_SETFL, fcntl(client, F_GETFL) & ~O_NONBLOCK)
        for fd in namespaceFDs where warren_send_fd(client, fd) != 0 { break }
        Glibc.close(client)
        return true
    }

    func close() {
        if listenFD >= 0 { Glibc.close(listenFD); listenFD = -1 }
        for fd in namespaceFDs { Glibc.close(fd) }
        namespaceFDs = []
    }

    /// Exec side: receives the namespaces and joins them, user namespace first.
    static func join(socketPath: String) throws {
        let sock = try UnixSockets.connect(to: socketPath)
        defer { Glibc.close(sock) }
        var received: [Int32] = []
        defer { for fd in received { Glibc.close(fd) } }
        for kind in kinds {
            received.append(try syscallRetrying("recvmsg(\(kind.name) namespace)") { warren_recv_fd(sock) })
        }
        for (fd, kind) in zip(received, kinds) {
            try syscallRetrying("setns(\(kind.name))") { warren_setns_pidfd(fd, kind.flag) }
        }
    }
}
