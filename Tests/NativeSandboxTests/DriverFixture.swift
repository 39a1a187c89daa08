import Foundation
import LinuxSupport
import Logging
import Testing
import NativeDriver
import RuntimeDriver
import WarrenCore
import WarrenTestSupport

/// A native driver over a fresh data root, removed when the test ends.
struct DriverFixture {
    let dataRoot: String
    let driver: NativeDriver

    init(rootfsMode: RootfsMode = .auto, dataRoot: String? = nil) {
        self.dataRoot = dataRoot ?? NSTemporaryDirectory() + "warren-test-\(UUID().uuidString.prefix(8))"
        driver = NativeDriver(dataRoot: self.dataRoot, helperPath: BuiltProducts.helper, rootfsMode: rootfsMode, logger: Logger(label: "test"))
    }

    /// What the sandbox's monitor recorded about itself once it ran.
    func helperState(_ id: String) throws -> HelperState {
        let data = try #require(readFileIfPresent(dataRoot + "/sandboxes/\(id)/state.json"))
        return try WarrenJSON.decoder().decode(HelperState.self, from: Data(data))
    }

    /// The id range the sandbox's bundle was given.
    func idMap(_ id: String) throws -> IDMap {
        let data = try #require(readFileIfPresent(dataRoot + "/sandboxes/\(id)/config.json"))
        return try WarrenJSON.decoder().decode(HelperLaunchConfig.self, from: Data(data)).idMap
    }

    /// Waits up to `seconds` for `condition`.
    func eventually(_ seconds: Double = 5, _ condition: () -> Bool) async -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return condition()
    }

    func spec(_ command: [String], configure: (inout SandboxSpec) -> Void = { _ in }) throws -> SandboxSpec {
        var s = SandboxSpec(rootfs: try TestRootfs.path(), command: command, limits: ResourceLimits.defaults)
        configure(&s)
        return s
    }

    /// Creates, starts and waits for a sandbox; returns its exit and its output.
    func runToEnd(_ spec: SandboxSpec, id: String = SandboxID.generate()) async throws -> (exit: DriverExit, stdout: String, stderr: String) {
        try await driver.create(id: id, spec: spec)
        _ = try await driver.start(id: id)
        let exit = try await driver.wait(id: id)
        let (out, err) = try await output(id)
        try await driver.remove(id: id)
        return (exit, out, err)
    }

    func output(_ id: String) async throws -> (String, String) {
        var out = [UInt8](), err = [UInt8]()
        for try await r in try await driver.logs(id: id, follow: false) {
            if r.stream == .stdout { out += r.payload } else { err += r.payload }
        }
        return (String(decoding: out, as: UTF8.self), String(decoding: err, as: UTF8.self))
    }

    func cleanUp() { try? removeTree(dataRoot) }
}
