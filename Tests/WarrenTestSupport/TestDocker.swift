import Foundation
import LinuxSupport
import WarrenCore

/// The real Docker engine the docker driver's tests run against, driven with the
/// `docker` CLI as the peer that checks what Warren made.
public enum TestDocker {
    public static var cli: String {
        ["/usr/bin/docker", "/usr/local/bin/docker"].first { FileManager.default.isExecutableFile(atPath: $0) } ?? "docker"
    }

    public struct Result: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
    }

    /// Runs `docker args` on a thread of its own (tests must not hold the few threads
    /// of Swift's cooperative pool while a command runs) and returns what it did.
    @discardableResult
    public static func run(_ args: [String]) async throws -> Result {
        try await runBlocking { try runNow(args) }
    }

    /// `run` on the calling thread, for clean-up in a `defer`.
    @discardableResult
    public static func runNow(_ args: [String]) throws -> Result {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: cli)
        p.arguments = args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitForExit()
        return Result(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self),
                      stderr: String(decoding: e, as: UTF8.self))
    }

    /// Runs `docker args`; a failure throws with Docker's message.
    @discardableResult
    public static func docker(_ args: [String]) async throws -> String {
        let r = try await run(args)
        guard r.status == 0 else { throw WarrenError(.internalError, "docker \(args.joined(separator: " ")) failed: \(r.stderr)") }
        return r.stdout
    }

    /// `docker inspect --format FORMAT NAME`, trimmed.
    public static func inspect(_ name: String, _ format: String) async throws -> String {
        try await docker(["inspect", "--format", format, name]).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// `docker KIND inspect --format FORMAT NAME` (`network`, `image`, ...), trimmed.
    public static func inspect(_ kind: String, _ name: String, _ format: String) async throws -> String {
        try await docker([kind, "inspect", "--format", format, name]).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static let imported: Swift.Result<String, any Error> = Swift.Result { () throws -> String in
        guard (try? runNow(["version", "--format", "{{.Server.Version}}"]))?.status == 0 else {
            throw WarrenError(.unavailable, "no Docker engine at /var/run/docker.sock: apt-get install docker.io and start dockerd")
        }
        let name = "warren-test/probe:latest"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", "tar -C \"$1\" -c . | \"$2\" import - \"$3\" >/dev/null", "sh", try TestRootfs.path(), cli, name]
        try p.run()
        p.waitForExit()
        guard p.terminationStatus == 0 else { throw WarrenError(.internalError, "docker import of the test rootfs failed") }
        return name
    }

    /// The test rootfs (busybox and the security probe) imported into Docker once per
    /// test process: nothing comes from the internet.
    public static func testImage() async throws -> String { try await runBlocking { try imported.get() } }

    /// Removes every container and network carrying `label` (a test's leftovers).
    public static func removeLabelled(_ label: String) {
        if let ids = try? runNow(["ps", "-aq", "--filter", "label=\(label)"]).stdout {
            let list = ids.split(separator: "\n").map(String.init)
            if !list.isEmpty { _ = try? runNow(["rm", "-f"] + list) }
        }
        if let ids = try? runNow(["network", "ls", "-q", "--filter", "label=\(label)"]).stdout {
            let list = ids.split(separator: "\n").map(String.init)
            if !list.isEmpty { _ = try? runNow(["network", "rm"] + list) }
        }
    }
}
