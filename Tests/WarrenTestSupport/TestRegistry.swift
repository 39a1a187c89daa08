import Foundation
import LinuxSupport
import WarrenCore

/// A real registry for tests: Debian's `docker-registry` (distribution v2) on a free
/// 127.0.0.1 port, with no auth, htpasswd basic auth, or bearer tokens from the token
/// server fixture. Images go in with `skopeo`.
public final class TestRegistry: @unchecked Sendable {
    public enum Auth { case none, htpasswd(user: String, password: String), token(user: String, password: String) }

    public let dir: String
    public let port: Int
    public var address: String { "127.0.0.1:\(port)" }
    /// Where the registry keeps its blobs, to corrupt one on purpose.
    public var storage: String { dir + "/storage" }
    /// The token server's request log, for the token auth.
    public private(set) var tokenLog: String?
    private var credentials: String?
    private var processes: [Process] = []

    public init(auth: Auth = .none) throws {
        dir = "/tmp/warren-registry-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        port = try Self.freePort()
        var authSection = ""
        switch auth {
        case .none: break
        case .htpasswd(let user, let password):
            let line = try TestRootfs.run(blocking: "/usr/bin/htpasswd", ["-Bbn", user, password])
            try line.write(toFile: dir + "/htpasswd", atomically: true, encoding: .utf8)
            authSection = "auth:\n  htpasswd:\n    realm: warren-test\n    path: \(dir)/htpasswd\n"
            credentials = "\(user):\(password)"
        case .token(let user, let password):
            let server = Fixture.path("registry-token-server.py")
            try TestRootfs.run(blocking: "/usr/bin/python3", [server, "--generate", "--key", dir + "/key.pem", "--cert", dir + "/cert.pem"])
            tokenLog = dir + "/token.jsonl"
            let (process, ports) = try Fixture.start(server, ["--key", dir + "/key.pem", "--cert", dir + "/cert.pem",
                                                              "--user", user, "--password", password, "--log", tokenLog!], ports: 1)
            processes.append(process)
            authSection = """
            auth:
              token:
                realm: http://127.0.0.1:\(ports[0])/token
                service: warren-test-registry
                issuer: warren-test-issuer
                rootcertbundle: \(dir)/cert.pem

            """
            credentials = "\(user):\(password)"
        }
        let config = """
        version: 0.1
        log:
          level: error
        storage:
          filesystem:
            rootdirectory: \(storage)
          delete:
            enabled: true
        http:
          addr: 127.0.0.1:\(port)

        """ + authSection
        try config.write(toFile: dir + "/config.yml", atomically: true, encoding: .utf8)
        let registry = Process()
        registry.executableURL = URL(fileURLWithPath: "/usr/bin/docker-registry")
        registry.arguments = ["serve", dir + "/config.yml"]
        let log = FileHandle(forWritingAtPath: try Self.touch(dir + "/registry.log"))!
        registry.standardOutput = log
        registry.standardError = log
        try registry.run()
        processes.append(registry)
        for _ in 0..<200 {
            if Self.accepts(port) { return }
            usleep(25_000)
        }
        stop()
        throw WarrenError(.unavailable, "docker-registry did not start: \(String(decoding: readFileIfPresent(dir + "/registry.log") ?? [], as: UTF8.self))")
    }

    /// Pushes `source` (`oci:DIR:TAG`) as `name` (`repo:tag`), with skopeo's `extra` flags.
    public func push(_ source: String, as name: String, extra: [String] = []) throws {
        var args = ["copy", "--quiet", "--dest-tls-verify=false"] + extra
        if let credentials { args += ["--dest-creds", credentials] }
        try TestRootfs.run(blocking: "/usr/bin/skopeo", args + [source, "docker://\(address)/\(name)"])
    }

    /// Token server requests so far.
    public func tokenRequests() -> [[String: Any]] { tokenLog.map(Fixture.jsonLines) ?? [] }

    public func stop() {
        // SIGKILL: a test runner may pass SIGTERM on ignored, and these keep no state worth a clean exit.
        for p in processes where p.isRunning {
            kill(p.processIdentifier, SIGKILL)
            p.waitForExit()
        }
        processes = []
    }

    public func cleanUp() {
        stop()
        try? removeTree(dir)
    }

    // MARK: - Helpers

    static func touch(_ path: String) throws -> String {
        if !FileManager.default.fileExists(atPath: path) { _ = FileManager.default.createFile(atPath: path, contents: nil) }
        return path
    }

    /// A port the kernel just handed out and took back.
    public static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = loopback(port: 0)
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        guard bound else { throw WarrenError(.internalError, "no free port") }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    public static func accepts(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = loopback(port: port)
        return withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }

    static func loopback(port: Int) -> sockaddr_in {
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        return addr
    }
}

/// The fault-injecting forwarder fixture in front of a registry.
public final class TestRegistryProxy: @unchecked Sendable {
    public let port: Int
    public let blobPort: Int?
    public let log: String
    private let process: Process
    public var address: String { "127.0.0.1:\(port)" }

    public init(upstream: TestRegistry, options: [String]) throws {
        log = upstream.dir + "/proxy-\(UUID().uuidString.prefix(6)).jsonl"
        let redirect = options.contains("--redirect-blobs")
        let (process, ports) = try Fixture.start(Fixture.path("registry-proxy.py"),
                                                 ["--upstream", "http://\(upstream.address)", "--log", log] + options,
                                                 ports: redirect ? 2 : 1)
        self.process = process
        port = ports[0]
        blobPort = redirect ? ports[1] : nil
    }

    public func requests() -> [[String: Any]] { Fixture.jsonLines(log) }

    public func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitForExit()
        }
    }
}

/// Scripts in `Tests/Fixtures`.
public enum Fixture {
    public static func path(_ name: String) -> String { TestRootfs.packageRoot + "/Tests/Fixtures/" + name }

    /// Starts a fixture server that prints its ports on stdout, one per line.
    public static func start(_ script: String, _ args: [String], ports count: Int) throws -> (Process, [Int]) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        p.arguments = [script] + args
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.standardError
        try p.run()
        var text = ""
        var ports: [Int] = []
        while ports.count < count {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { throw WarrenError(.unavailable, "\(script) exited before printing its ports") }
            text += String(decoding: chunk, as: UTF8.self)
            ports = text.split(separator: "\n").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        }
        return (p, Array(ports.prefix(count)))
    }

    public static func jsonLines(_ path: String) -> [[String: Any]] {
        let text = String(decoding: readFileIfPresent(path) ?? [], as: UTF8.self)
        return text.split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
        }
    }
}
