import Foundation
import LinuxSupport
import Logging
import NativeDriver
import RuntimeDriver
import Testing
import WarrenCore
import WarrenTestSupport

@Suite("Native driver lifecycle", .serialized)
struct NativeDriverLifecycleTests {
    @Test("exit codes, stdout and stderr come back separately")
    func exitAndOutput() async throws {
        let f = DriverFixture()
        defer { f.cleanUp() }
        let r = try await f.runToEnd(try f.spec(["/bin/sh", "-c", "echo out; echo err >&2; exit 7"]))
        #expect(r.exit.exitCode == 7)
        #expect(r.exit.reason == "exited")
        #expect(r.stdout == "out\n")
        #expect(r.stderr == "err\n")
    }

    @Test("env, workdir and user are applied")
    func processSettings() async throws {
        let f = DriverFixture()
        defer { f.cleanUp() }
        let r = try await f.runToEnd(try f.spec(["/bin/sh", "-c", "echo $GREETING; pwd; id -u; id -g; echo $HOME"]) {
            $0.env = ["GREETING=hello"]; $0.workdir = "/work/dir"; $0.user = "agent"
        })
        #expect(r.stdout == "hello\n/work/dir\n1000\n1000\n/home/agent\n", "\(r.stderr)")
    }

    @Test("a missing program is a failed start with a clear error and leaves nothing")
    func missingProgram() async throws {
        let f = DriverFixture()
        defer { f.cleanUp() }
        let id = SandboxID.generate()
        try await f.driver.create(id: id, spec: try f.spec(["/no/such/program"]))
        await #expect(throws: WarrenError.self) { _ = try await f.driver.start(id: id) }
        try await f.driver.remove(id: id)
        #expect(!FileManager.default.fileExists(atPath: f.dataRoot + "/sandboxes/" + id))
        #expect(!FileManager.default.fileExists(atPath: "/sys/fs/cgroup/memory/" + NativeDriver.cgroupParent(dataRoot: f.dataRoot) + "/" + id))
    }

    @Test("a bad rootfs or mount source fails create and leaves no bundle")
    func badCreate() async throws {
        let f = DriverFixture()
        defer { f.cleanUp() }
        let id = SandboxID.generate()
        var s = try f.spec(["true"])
        s.rootfs = "/definitely/missing"
        await #expect(throws: WarrenError.self) { try await f.driver.create(id: id, spec: s) }
        s = try f.spec(["true"]) { $0.mounts = [MountSpec(source: "/missing/src", destination: "/w")] }
        await #expect(throws: WarrenError.self) { try await f.driver.create(id: id, spec: s) }
        #expect(!FileManager.default.fileExists(atPath: f.dataRoot + "/sandboxes/" + id))
    }

    @Test("stop: SIGTERM, then everything killed after the grace period")
    func stopWithGrace() async throws {
        let f = DriverFixture()
        defer { f.cleanUp() }
        let id = SandboxID.generate()
        try await f.driver.create(id: id, spec: try f.spec(["/bin/sh", "-c", "trap '' TERM; sleep 1000 & while true; do sleep 0.1; done"]))
        _ = try await f.driver.start(id: id)
        let clock = ContinuousClock()
        let t0 = clock.now
        try await f.driver.stop(id: id, grace: .milliseconds(300))
        let exit = try await f.driver.wait(id: id)
        #expect(clock.now - t0 < .seconds(10))
        #expect(exit.exitCode == 137)
        let leftover = SandboxCgroup(layout: CgroupLayout.detect()!, relativePath: NativeDriver.cgroupParent(dataRoot: f.dataRoot) + "/" + id)
        #expect(leftover.pids().isEmpty)
        try await f.driver.remove(id: id)
        #expect(!leftover.exists)
        #expect(try await f.driver.inspect(id: id) == .missing)
    }

    @Test("timeout kills the sandbox and says so")
    func timeout() async throws {
        let f = DriverFixture()
        defer { f.cleanUp() }
        let r = try await f.runToEnd(try f.spec(["/bin/sleep", "1000"]) { $0.limits.timeoutSeconds = 0.5 })
        #expect(r.exit.reason == "timeout")
        #expect(r.exit.exitCode == 137)
    }

    @Test("memory and pids limits are written to the sandbox's cgroup")
    func cgroupLimits() async throws {
        let f = DriverFixture()
        defer { f.cleanUp() }
        let id = SandboxID.generate()
        try await f.driver.create(id: id, spec: try f.spec(["/bin/sleep", "1000"]) {
            $0.limits.memoryBytes = 64 << 20; $0.limits.pids = 50
        })
        _ = try await f.driver.start(id: id)
        let cg = SandboxCgroup(layout: CgroupLayout.detect()!, relativePath: NativeDriver.cgroupParent(dataRoot: f.dataRoot) + "/" + id)
        let memFile: String, pidsFile: String
        switch cg.layout {
        case .v1(let c):
            memFile = c["memory"]! + "/\(cg.relativePath)/memory.limit_in_bytes"; pidsFile = c["pids"]! + "/\(cg.relativePath)/pids.max"
        case .v2(let root):
            memFile = root + "/\(cg.relativePath)/memory.max"; pidsFile = root + "/\(cg.relativePath)/pids.max"
        }
        #expect(try String(contentsOfFile: memFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines) == "\(64 << 20)")
        #expect(try String(contentsOfFile: pidsFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines) == "50")
        #expect(!cg.pids().isEmpty)
        try await f.driver.remove(id: id)
        #expect(!cg.exists)
    }

    @Test("the pids limit stops a fork bomb")
    func pidsLimitEnforced() async throws {
        let f = DriverFixture()
        defer { f.cleanUp() }
        let r = try await f.runToEnd(try f.spec(["/bin/sh", "-c", "for i in $(seq 1 60); do sleep 5 & done; wait"]) {
            $0.limits.pids = 20; $0.limits.timeoutSeconds = 3
        })
        #expect(r.stderr.contains("can't fork") || r.stderr.contains("Resource temporarily unavailable"), "\(r.stderr)")
    }

    @Test("bind mounts: rw reaches the host, ro refuses, symlinks cannot escape the rootfs")
    func bindMounts() async throws {
        let f = DriverFixture()
        defer { f.cleanUp() }
        let host = NSTemporaryDirectory() + "warren-mount-\(getpid())-\(UUID().uuidString.prefix(6))"
        let fm = FileManager.default
        try fm.createDirectory(atPath: host + "/rw", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: host + "/ro", withIntermediateDirectories: true)
        // A regular user's directory, as a workspace is: sandbox root writes there as that user.
        chown(host + "/rw", 1000, 1000)
        defer { try? fm.removeItem(atPath: host) }
        let r = try await f.runToEnd(try f.spec(["/bin/sh", "-c", "echo hi > /w/made && touch /r/x 2>&1; echo done"]) {
            $0.mounts = [MountSpec(source: host + "/rw", destination: "/w"), MountSpec(source: host + "/ro", destination: "/r", readOnly: true)]
        })
        #expect(r.stdout.contains("Read-only file system"))
        #expect(try String(contentsOfFile: host + "/rw/made", encoding: .utf8) == "hi\n")
        #expect(!fm.fileExists(atPath: host + "/ro/x"))

        // A rootfs whose /escape points at a host directory: the mount lands inside the rootfs.
        let evilRoot = host + "/evilroot"
        try await TestRootfs.run("/bin/cp", ["-a", try TestRootfs.path(), evilRoot])
        // The link points at a host path that must never be created by the mount.
        let target = "/var/tmp/warren-escape-\(UUID().uuidString.prefix(8))"
        try fm.createSymbolicLink(atPath: evilRoot + "/escape", withDestinationPath: target)
        let e = try await f.runToEnd(try f.spec(["/bin/sh", "-c", "ls /escape/inner/made && ls " + target + "/inner/made"]) {
            $0.rootfs = evilRoot
            $0.mounts = [MountSpec(source: host + "/rw", destination: "/escape/inner")]
        })
        #expect(e.exit.exitCode == 0, "\(e.exit) \(e.stderr) \(e.stdout)")
        #expect(!fm.fileExists(atPath: target + "/inner"), "a mount target escaped the rootfs")
    }

    @Test("exec joins a running sandbox with the same confinement")
    func exec() async throws {
        let f = DriverFixture()
        defer { f.cleanUp() }
        let id = SandboxID.generate()
        try await f.driver.create(id: id, spec: try f.spec(["/bin/sleep", "1000"]) { $0.hostname = "execbox" })
        _ = try await f.driver.start(id: id)
        let session = try await f.driver.exec(id: id, request: ExecRequest(command: ["/bin/sh", "-c", "hostname; grep -E 'CapEff|Seccomp:' /proc/self/status; echo oops >&2; exit 3"]))
        var out = "", err = "", code: Int32?
        for try await c in session.output {
            switch c.stream {
            case "stdout": out += String(decoding: c.bytes, as: UTF8.self)
            case "stderr": err += String(decoding: c.bytes, as: UTF8.self)
            default: code = c.exitCode
            }
        }
        #expect(code == 3)
        #expect(out.hasPrefix("execbox\n"))
        #expect(out.contains("CapEff:\t0000000000000000"))
        #expect(out.contains("Seccomp:\t2"))
        #expect(err == "oops\n")
        try await f.driver.remove(id: id)
    }

    @Test("a new driver instance re-adopts a running sandbox and collects its exit")
    func readoption() async throws {
        let f = DriverFixture()
        defer { f.cleanUp() }
        let id = SandboxID.generate()
        // The workload ends when the test says so, not after a time load could outlast.
        let gate = f.dataRoot + "-gate"
        try FileManager.default.createDirectory(atPath: gate, withIntermediateDirectories: true)
        defer { try? removeTree(gate) }
        try await f.driver.create(id: id, spec: try f.spec(["/bin/sh", "-c", "until [ -e /gate/go ]; do sleep 0.05; done; echo late; exit 4"]) {
            $0.mounts = [MountSpec(source: gate, destination: "/gate", readOnly: true)]
        })
        _ = try await f.driver.start(id: id)
        let restarted = NativeDriver(dataRoot: f.dataRoot, helperPath: BuiltProducts.helper, logger: Logger(label: "test"))
        guard case .running = try await restarted.inspect(id: id) else {
            Issue.record("not running after restart"); return
        }
        #expect(try await restarted.list().contains(id))
        _ = FileManager.default.createFile(atPath: gate + "/go", contents: nil)
        let exit = try await restarted.wait(id: id)
        #expect(exit.exitCode == 4)
        var out = [UInt8]()
        for try await r in try await restarted.logs(id: id, follow: true) { out += r.payload }
        #expect(String(decoding: out, as: UTF8.self) == "late\n")
        try await restarted.remove(id: id)
    }

    @Test("capability report states what is enforced")
    func capabilityReport() async throws {
        let f = DriverFixture()
        let report = await f.driver.capabilities()
        for dim in ["user_namespace", "capabilities", "seccomp", "no_new_privs", "network_policy"] {
            #expect(report[dim]?.status == .enforced, "\(dim)")
        }
        #expect(report["read_only_root"]?.status == .optional)
    }
}
