#if canImport(Glibc)
import Glibc
#endif
import Foundation
import LinuxSupport
import Testing
import WarrenCore
import WarrenTestSupport

/// schemathesis (PyPI) drives every operation of `api/openapi.yaml` against a daemon of
/// its own: no response may be a server error, none may break the document, and the
/// daemon must still be running at the end.
@Suite("API schema fuzzing", .serialized)
struct APIFuzzTests {
    static let venv = "/tmp/warren-fuzz-venv"
    static let version = "4.32.5"

    static func schemathesis() throws -> String {
        let tool = venv + "/bin/schemathesis"
        if (try? TestRootfs.run(blocking: tool, ["--version"]))?.contains(version) == true { return tool }
        try? removeTree(venv)
        _ = try TestRootfs.run(blocking: "/usr/bin/python3", ["-m", "venv", venv])
        _ = try TestRootfs.run(blocking: venv + "/bin/pip", ["install", "--quiet", "--disable-pip-version-check", "schemathesis==\(version)"])
        return tool
    }

    @Test("schemathesis against every operation: no 5xx, no response off the schema, the daemon stays up")
    func fuzz() async throws {
        let tool = try await runBlocking { try Self.schemathesis() }
        let registry = try await runBlocking { try TestRegistry() }
        defer { registry.cleanUp() }
        let port = freeLocalPort()
        let d = try await DaemonHarness.launch(
            daemonArguments: ["--listen", "127.0.0.1:\(port)", "--insecure-registry", registry.address, "--header-timeout", "60"],
            daemonEnvironment: ["OPENAI_API_KEY": "sk-fuzz", "ANTHROPIC_API_KEY": "sk-ant-fuzz",
                                "WARREN_OPENAI_BASE_URL": "http://127.0.0.1:9", "WARREN_ANTHROPIC_BASE_URL": "http://127.0.0.1:9"])
        defer { d.cleanUp() }
        let world = d.dir + "/fuzz"
        try FileManager.default.createDirectory(atPath: world, withIntermediateDirectories: true)
        let daemonPID = try #require(d.process?.processIdentifier)
        // Something for the operations on one sandbox or image to act on.
        let sandbox = try await d.cli(["run", "-d", "-i", "--name", "fuzz-target", "--rootfs", try TestRootfs.path(), "--", "/bin/sleep", "1000"])
        #expect(sandbox.status == 0, "\(sandbox.stderr)")
        let layout = try ImageCLITests.umociLayout(in: d.dir)
        #expect(try await d.cli(["image", "import", "--tag", "fuzz/image:1", layout]).status == 0)

        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = [
            "run", TestRootfs.packageRoot + "/api/openapi.yaml", "--url", "http://127.0.0.1:\(port)",
            "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
            "--phases", "examples,coverage,fuzzing", "--max-examples", "40", "--workers", "1",
            "--request-timeout", "20", "--continue-on-failure", "--suppress-health-check", "all",
        ]
        var env = ProcessInfo.processInfo.environment
        env["SCHEMATHESIS_HOOKS"] = "fuzz_hooks"
        env["PYTHONPATH"] = Fixture.path("")
        env["WARREN_FUZZ_DIR"] = world
        env["WARREN_FUZZ_ROOTFS"] = try TestRootfs.path()
        env["WARREN_FUZZ_REGISTRY"] = registry.address
        env["WARREN_FUZZ_SANDBOX"] = "fuzz-target"
        env["WARREN_FUZZ_IMAGE"] = "fuzz%2Fimage:1"
        env["WARREN_FUZZ_URL"] = "http://127.0.0.1:\(port)"
        p.environment = env
        // Its cache goes with the test's directory, not into the repository.
        p.currentDirectoryURL = URL(fileURLWithPath: world)
        // The report goes to a file (readable while it runs), not a pipe a stray child could hold open.
        let report = "/tmp/warren-fuzz-report.txt"
        _ = FileManager.default.createFile(atPath: report, contents: nil)
        let log = try #require(FileHandle(forWritingAtPath: report))
        p.standardOutput = log
        p.standardError = log
        p.standardInput = FileHandle.nullDevice
        try p.run()
        try await runBlocking { p.waitForExit() }
        try log.close()
        let output = (try? String(contentsOfFile: report, encoding: .utf8)) ?? ""
        #expect(p.terminationStatus == 0, "schemathesis found problems:\n\(output.suffix(6000))")
        #expect(kill(daemonPID, 0) == 0 && d.process?.isRunning == true, "the daemon exited during the fuzz")
        #expect(try await d.cli(["version"]).status == 0)
        // Clean up what the fuzz made.
        for id in (try await d.cli(["ps", "-aq"]).stdout.split(separator: "\n")) { _ = try? await d.cli(["rm", "-f", String(id)]) }
    }
}
