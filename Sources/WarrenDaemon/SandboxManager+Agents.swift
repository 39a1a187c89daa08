import Foundation
import RuntimeDriver
import WarrenCore

/// What the agent sessions need of their sandboxes beyond the public API.
extension SandboxManager {
    /// The sandbox's output records as the driver keeps them, from the start; with
    /// `follow`, until the sandbox ends.
    func outputRecords(_ id: String, follow: Bool) async throws -> AsyncThrowingStream<LogRecord.Decoded, any Error> {
        let info = try await current(id)
        return try await driver(for: info).logs(id: id, follow: follow)
    }

    /// The host ids the sandbox's root writes as where no id is handed over.
    func hostRootIdentity(_ id: String) async throws -> (uid: UInt32, gid: UInt32) {
        try await driver(for: try await current(id)).hostRootIdentity(id: id)
    }

    /// Whether the driver `name` (the default when nil) maps ids on bind mounts.
    func driverMapsBindOwners(_ name: String?) throws -> Bool {
        try drivers.driver(named: name).mapsBindOwners
    }

    /// Runs `command` in the sandbox to its end; its exit code and its output, bounded.
    func run(_ id: String, _ request: ExecRequest) async throws -> (code: Int32, output: String) {
        let session = try await exec(id, request: request)
        var code: Int32 = -1
        var output: [UInt8] = []
        for try await chunk in session.output {
            if let exit = chunk.exitCode, chunk.stream == "exit" { code = exit } else if output.count < 64 << 10 { output += chunk.bytes }
        }
        return (code, String(decoding: output, as: UTF8.self))
    }
}
