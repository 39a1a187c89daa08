import Foundation
import Synchronization
import WarrenCore

/// A test host on a network of its own: a network namespace joined to the host by a veth
/// pair, with a public-looking address (11.99.N.2; the host side is 11.99.N.1), so a
/// sandbox's egress proxy treats it as any host on the internet. Servers run inside it
/// with `serve`; `stop` removes the servers, the namespace and the pair.
public final class TestNetHost: @unchecked Sendable {
    public let namespace: String
    /// The test host's address.
    public let address: String
    /// The host's own end of the link.
    public let hostAddress: String
    private var servers: [Process] = []
    private static let next = Mutex(0)

    public init() throws {
        let n = Self.next.withLock { n -> Int in
            n += 1
            return (Int(getpid()) + n * 7) % 250 + 1
        }
        let tag = "\(getpid() % 10000)x\(n)"
        namespace = "wtest-\(tag)"
        address = "11.99.\(n).2"
        hostAddress = "11.99.\(n).1"
        let (outside, inside) = ("wh\(tag)", "wn\(tag)")
        _ = try? TestRootfs.run(blocking: "/usr/sbin/ip", ["netns", "del", namespace])
        _ = try? TestRootfs.run(blocking: "/usr/sbin/ip", ["link", "del", outside])
        do {
            for args in [["netns", "add", namespace],
                         ["link", "add", outside, "type", "veth", "peer", "name", inside],
                         ["link", "set", inside, "netns", namespace],
                         ["addr", "add", hostAddress + "/30", "dev", outside],
                         ["link", "set", outside, "up"],
                         ["-n", namespace, "addr", "add", address + "/30", "dev", inside],
                         ["-n", namespace, "link", "set", inside, "up"],
                         ["-n", namespace, "link", "set", "lo", "up"]] {
                try TestRootfs.run(blocking: "/usr/sbin/ip", args)
            }
        } catch {
            stop()
            throw error
        }
    }

    /// Starts `executable` inside the namespace and waits until `port` on `address` accepts.
    @discardableResult
    public func serve(_ executable: String, _ arguments: [String], port: Int, log: String? = nil) throws -> Process {
        let p = try start(executable, arguments, log: log)
        try waitAccepting(port, p)
        return p
    }

    /// Waits until `port` on `address` accepts, while `process` runs.
    public func waitAccepting(_ port: Int, _ process: Process) throws {
        for _ in 0..<400 {
            if Self.accepts(address, port) { return }
            if !process.isRunning { break }
            usleep(25_000)
        }
        throw WarrenError(.unavailable, "nothing listens on \(address):\(port) in the test host")
    }

    /// Starts `executable` inside the namespace.
    @discardableResult
    public func start(_ executable: String, _ arguments: [String], log: String? = nil) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        p.arguments = ["netns", "exec", namespace, executable] + arguments
        p.standardOutput = FileHandle.nullDevice
        if let log {
            _ = FileManager.default.createFile(atPath: log, contents: nil)
            p.standardError = FileHandle(forWritingAtPath: log)
        } else {
            p.standardError = FileHandle.nullDevice
        }
        try p.run()
        servers.append(p)
        return p
    }

    /// A static file server on `port` for `directory`.
    public func serveFiles(_ directory: String, port: Int = 8080) throws {
        try serve("/usr/bin/python3", ["-m", "http.server", String(port), "--bind", address, "--directory", directory], port: port)
    }

    static func accepts(_ address: String, _ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, address, &addr.sin_addr)
        return withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }

    public func stop() {
        for p in servers where p.isRunning {
            // `ip netns exec` execs the server itself: the signal reaches it. (Foundation's
            // waitUntilExit spins a CPU on Linux: poll instead.)
            kill(p.processIdentifier, SIGKILL)
            for _ in 0..<200 where p.isRunning { usleep(10_000) }
        }
        servers = []
        _ = try? TestRootfs.run(blocking: "/usr/sbin/ip", ["netns", "del", namespace])
    }
}
