import Foundation
import LinuxSupport
import WarrenTestSupport

/// A real `warren daemon` on a private socket and data root, driven through the real CLI.
final class DaemonHarness: @unchecked Sendable {
    let dir: String
    let socket: String
    let dataRoot: String
    /// When set, the daemon runs as this uid and gid, without supplementary groups: rootless.
    let user: UInt32?
    /// More `warren daemon` flags (`--insecure-registry ...`).
    let daemonArguments: [String]
    /// More environment for CLI runs (`DOCKER_CONFIG`).
    var cliEnvironment: [String: String] = [:]
    /// More environment for the daemon (provider keys for the LLM facade).
    let daemonEnvironment: [String: String]
    /// A cap on the daemon's open files (`prlimit --nofile`), as a small host would have.
    let fileLimit: Int?
    private(set) var process: Process?

    /// `configJSON` is the daemon's config file (`{}` when nil).
    init(user: UInt32? = nil, daemonArguments: [String] = [], daemonEnvironment: [String: String] = [:],
         fileLimit: Int? = nil, configJSON: Data? = nil) throws {
        self.fileLimit = fileLimit
        dir = "/tmp/warren-it-\(UUID().uuidString.prefix(8))"
        socket = dir + "/run/warren.sock"
        dataRoot = dir + "/data"
        self.user = user
        self.daemonArguments = daemonArguments
        self.daemonEnvironment = daemonEnvironment
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o755])
        if let user { chown(dir, user, user) }
        if let configJSON { _ = FileManager.default.createFile(atPath: dir + "/daemon.json", contents: configJSON) }
        try start()
    }

    func start() throws {
        let p = Process()
        let daemon = ["daemon", "--socket", socket, "--data-root", dataRoot, "--helper", BuiltProducts.helper,
                      "--config", dir + "/daemon.json", "--registry-config", registryLogins] + daemonArguments
        if !FileManager.default.fileExists(atPath: dir + "/daemon.json") {
            // An empty config of its own: the host's /etc/warren/daemon.json is not the test's.
            _ = FileManager.default.createFile(atPath: dir + "/daemon.json", contents: Data("{}".utf8))
        }
        if let user {
            p.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
            p.arguments = ["--reuid=\(user)", "--regid=\(user)", "--clear-groups", "--", BuiltProducts.cli] + daemon
            p.environment = ["PATH": "/usr/bin:/bin", "HOME": dir]
        } else if let fileLimit {
            p.executableURL = URL(fileURLWithPath: "/usr/bin/prlimit")
            p.arguments = ["--nofile=\(fileLimit):\(fileLimit)", "--", BuiltProducts.cli] + daemon
        } else {
            p.executableURL = URL(fileURLWithPath: BuiltProducts.cli)
            p.arguments = daemon
            if !daemonEnvironment.isEmpty {
                p.environment = ProcessInfo.processInfo.environment.merging(daemonEnvironment) { $1 }
            }
        }
        if !FileManager.default.fileExists(atPath: dir + "/daemon.log") {
            _ = FileManager.default.createFile(atPath: dir + "/daemon.log", contents: nil)
        }
        let log = FileHandle(forWritingAtPath: dir + "/daemon.log")!
        log.seekToEndOfFile()
        p.standardOutput = log
        p.standardError = log
        try p.run()
        process = p
        for _ in 0..<200 {
            if (try? cliBlocking(["version"]).status) == 0 { return }
            usleep(50_000)
        }
        throw HarnessError("daemon did not come up: \(String(decoding: readFileIfPresent(dir + "/daemon.log") ?? [], as: UTF8.self))")
    }

    /// SIGKILL, as a crash would.
    func crash() {
        guard let p = process else { return }
        kill(p.processIdentifier, SIGKILL)
        p.waitForExit()
        process = nil
    }

    func stop() {
        guard let p = process else { return }
        p.terminate()
        p.waitForExit()
        process = nil
    }

    struct Result { var status: Int32; var stdout: String; var stderr: String }

    /// Runs the CLI and waits for it on the calling thread: only for code that already
    /// runs on a thread of its own (`runBlocking`, `start`, `cleanUp`).
    @discardableResult
    func cliBlocking(_ args: [String], stdin: String? = nil) throws -> Result {
        let p = cliProcess(args)
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        let input = Pipe()
        p.standardInput = stdin == nil ? FileHandle.nullDevice : input
        try p.run()
        if let stdin {
            // Written from another thread: the process may not read it all before writing.
            let writer = input.fileHandleForWriting
            Thread {
                writer.write(Data(stdin.utf8))
                try? writer.close()
            }.start()
        }
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitForExit()
        return Result(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }

    /// Runs the CLI on a thread of its own: a CLI run (or a daemon start) must never
    /// hold one of the two threads of Swift's cooperative pool, which every other test
    /// in this process needs to make progress.
    @discardableResult
    func cli(_ args: [String], stdin: String? = nil) async throws -> Result {
        try await runBlocking { try self.cliBlocking(args, stdin: stdin) }
    }

    /// Starts a daemon off the cooperative pool (see `cli`).
    static func launch(user: UInt32? = nil, daemonArguments: [String] = [], daemonEnvironment: [String: String] = [:],
                       fileLimit: Int? = nil, configJSON: Data? = nil) async throws -> DaemonHarness {
        try await runBlocking {
            try DaemonHarness(user: user, daemonArguments: daemonArguments, daemonEnvironment: daemonEnvironment,
                              fileLimit: fileLimit, configJSON: configJSON)
        }
    }

    /// Restarts the daemon off the cooperative pool.
    func restart() async throws { try await runBlocking { try self.start() } }

    /// The docker config.json the daemon reads registry logins from (none at first).
    var registryLogins: String { dir + "/registry-logins.json" }

    /// A CLI process set up for this daemon, not yet started.
    func cliProcess(_ args: [String]) -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: BuiltProducts.cli)
        p.arguments = args
        var env = ProcessInfo.processInfo.environment
        env["WARREN_HOST"] = "unix://" + socket
        env["DOCKER_CONFIG"] = dir + "/cli-docker-config"
        env.merge(cliEnvironment) { $1 }
        p.environment = env
        return p
    }

    /// Removes every sandbox the daemon still has (they outlive a daemon's shutdown by
    /// design), stops the daemon and removes its directory.
    func cleanUp() {
        if process != nil, let ids = try? cliBlocking(["ps", "-a", "-q"]).stdout.split(separator: "\n").map(String.init), !ids.isEmpty {
            _ = try? cliBlocking(["rm", "-f"] + ids)
        }
        stop()
        try? removeTree(dir)
    }
}

struct HarnessError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}
