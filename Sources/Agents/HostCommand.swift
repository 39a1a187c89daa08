#if canImport(Glibc)
import Glibc
#endif
import Foundation
import LinuxSupport
import WarrenCore

/// Runs a host program (git) for the daemon and collects its output, bounded; as another
/// host account when asked (through util-linux's `setpriv`), so what it writes belongs
/// to that account.
public struct HostCommand: Sendable {
    public struct Identity: Sendable, Equatable {
        public var uid: UInt32
        public var gid: UInt32
        public var home: String
        public init(uid: UInt32, gid: UInt32, home: String) { self.uid = uid; self.gid = gid; self.home = home }
    }

    public struct Output: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
        /// The first line of stderr, or of stdout when stderr is empty.
        public var message: String {
            let text = stderr.isEmpty ? stdout : stderr
            return String(text.split(separator: "\n").first ?? "").trimmingCharacters(in: .whitespaces)
        }
    }

    public static let maxOutput = 4 << 20

    /// Runs `arguments` (argv[0] a path or a name on PATH) with `environment`, as
    /// `identity`; past `timeout`, its whole process group is killed and this throws.
    public static func run(_ arguments: [String], environment: [String], as identity: Identity? = nil,
                           input: [UInt8]? = nil, timeout: Duration? = nil) async throws -> Output {
        let argv = identity.map { who in who.uid == getuid() ? arguments
            : ["/usr/bin/setpriv", "--reuid=\(who.uid)", "--regid=\(who.gid)", "--init-groups", "--"] + arguments } ?? arguments
        let path = argv[0].hasPrefix("/") ? argv[0] : try locate(argv[0])
        return try await runBlocking {
            let out = try ProcessSpawner.pipe(), err = try ProcessSpawner.pipe(), inp = try ProcessSpawner.pipe()
            let pid: pid_t
            do {
                pid = try ProcessSpawner.spawn(path, argv, environment: environment,
                                               actions: [.dup(source: inp.read, fd: 0), .dup(source: out.write, fd: 1),
                                                         .dup(source: err.write, fd: 2)], newSession: true)
            } catch {
                [out.read, out.write, err.read, err.write, inp.read, inp.write].forEach { close($0) }
                throw WarrenError(.internalError, "cannot run \(arguments[0]): \(error)")
            }
            close(out.write); close(err.write); close(inp.read)
            if let input { try? writeAll(inp.write, input) }
            close(inp.write)
            let deadline = timeout.map { ContinuousClock.now + $0 }
            let (o, e, timedOut) = drain(out.read, err.read, until: deadline) { kill(-pid, SIGKILL) }
            close(out.read); close(err.read)
            let status = ProcessSpawner.waitForExit(pid)
            if timedOut, let timeout {
                throw WarrenError(.timeout, "\(arguments[0]) \(arguments.dropFirst().first { !$0.hasPrefix("-") } ?? "") took longer than \(timeout) and was killed")
            }
            return Output(status: status, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
        }
    }

    /// Reads two pipes to their ends, keeping at most `maxOutput` bytes of each; at
    /// `deadline`, calls `expire` once (which kills the writers) and reads on to the ends.
    static func drain(_ a: Int32, _ b: Int32, until deadline: ContinuousClock.Instant?,
                      expire: () -> Void) -> ([UInt8], [UInt8], Bool) {
        var bufs: [[UInt8]] = [[], []]
        var fds = [pollfd(fd: a, events: Int16(POLLIN), revents: 0), pollfd(fd: b, events: Int16(POLLIN), revents: 0)]
        var chunk = [UInt8](repeating: 0, count: 65_536)
        var expired = false
        while fds.contains(where: { $0.fd >= 0 }) {
            var wait: Int32 = -1
            if let deadline, !expired {
                let left = ContinuousClock.now.duration(to: deadline)
                if left <= .zero { expire(); expired = true; continue }
                wait = Int32(clamping: left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000 + 1)
            }
            let ready = poll(&fds, 2, wait)
            if ready < 0 { if errno == EINTR { continue } else { break } }
            if ready == 0 { continue }
            for i in 0..<2 where fds[i].fd >= 0 && fds[i].revents != 0 {
                let n = read(fds[i].fd, &chunk, chunk.count)
                if n > 0 {
                    if bufs[i].count < maxOutput { bufs[i].append(contentsOf: chunk[0..<min(n, maxOutput - bufs[i].count)]) }
                } else if n == 0 || errno != EINTR {
                    fds[i].fd = -1
                }
            }
        }
        return (bufs[0], bufs[1], expired)
    }

    static func locate(_ name: String) throws -> String {
        for dir in ["/usr/local/bin", "/usr/bin", "/bin"] where access(dir + "/" + name, X_OK) == 0 { return dir + "/" + name }
        throw WarrenError(.unavailable, "\(name) is not installed on this host")
    }
}
