import Foundation
import LinuxSupport
import NativeDriver
import Testing
import WarrenCore
import WarrenTestSupport

/// The real CLI against a real daemon running real native sandboxes.
@Suite("CLI end to end", .serialized)
struct CLIEndToEndTests {
    @Test("run streams stdout and stderr and exits with the sandboxed process's code")
    func runExitCode() async throws {
        let d = try await DaemonHarness.launch()
        defer { d.cleanUp() }
        let r = try await d.cli(["run", "--rm", "--rootfs", try TestRootfs.path(), "-e", "WHO=agent", "--", "/bin/sh", "-c", "echo hi $WHO; echo oops >&2; exit 42"])
        #expect(r.status == 42)
        #expect(r.stdout == "hi agent\n")
        #expect(r.stderr == "oops\n")
        let ps = try await d.cli(["ps", "-a", "--json"])
        #expect(ps.status == 0)
        #expect(ps.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "[\n\n]" || ps.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "[]", "--rm left: \(ps.stdout)")
    }

    @Test("detached run, exec, logs, stop, inspect and rm; nothing is left afterwards")
    func detachedLifecycle() async throws {
        let d = try await DaemonHarness.launch()
        defer { d.cleanUp() }
        let run = try await d.cli(["run", "-d", "--name", "agent1", "--memory", "128m", "--pids-limit", "64",
                             "--rootfs", try TestRootfs.path(), "--", "/bin/sh", "-c", "echo started; sleep 1000"])
        #expect(run.status == 0, "\(run.stderr)")
        let id = run.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(id.count == 64)

        let exec = try await d.cli(["exec", "agent1", "--", "/bin/sh", "-c", "cat /proc/self/status | grep CapEff; exit 3"])
        #expect(exec.status == 3)
        #expect(exec.stdout.contains("CapEff:\t0000000000000000"))

        let ps = try await d.cli(["ps", "--json"])
        let list = try WarrenJSON.decoder().decode([SandboxInfo].self, from: Data(ps.stdout.utf8))
        #expect(list.first { $0.id == id }?.state == .running)
        #expect(list.first { $0.id == id }?.spec.limits.memoryBytes == 128 << 20)

        #expect(try await d.cli(["rm", "agent1"]).status != 0, "a running sandbox must not be removed without -f")
        #expect(try await d.cli(["stop", "-t", "1", "agent1"]).status == 0)
        let inspect = try await d.cli(["inspect", "agent1"])
        let info = try WarrenJSON.decoder().decode(SandboxInfo.self, from: Data(inspect.stdout.utf8))
        #expect(info.state == .exited)
        #expect(info.exitCode == 143 || info.exitCode == 137)
        #expect(try await d.cli(["logs", "agent1"]).stdout == "started\n")

        #expect(try await d.cli(["rm", "agent1"]).status == 0)
        #expect(!FileManager.default.fileExists(atPath: d.dataRoot + "/sandboxes/" + id))
        if let layout = CgroupLayout.detect() {
            #expect(!SandboxCgroup(layout: layout, relativePath: NativeDriver.cgroupParent(dataRoot: d.dataRoot) + "/" + id).exists)
        }
        let missing = try await d.cli(["inspect", "agent1"])
        #expect(missing.status != 0)
        #expect(missing.stderr.hasPrefix("warren: "))
    }

    @Test("stop delivers SIGTERM to a workload running as another user, which exits on its own terms")
    func stopReachesUnprivilegedWorkload() async throws {
        let d = try await DaemonHarness.launch()
        defer { d.cleanUp() }
        let run = try await d.cli(["run", "-d", "--user", "1000:1000", "--rootfs", try TestRootfs.path(), "--", "/bin/sh", "-c",
                             "trap 'echo got TERM; exit 7' TERM; echo ready; while :; do sleep 0.1; done"])
        #expect(run.status == 0, "\(run.stderr)")
        let id = run.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        for _ in 0..<50 where try await d.cli(["logs", id]).stdout.isEmpty { try await Task.sleep(for: .microseconds(100_000)) }
        #expect(try await d.cli(["stop", "-t", "20", id]).status == 0)
        let info = try WarrenJSON.decoder().decode(SandboxInfo.self, from: Data(try await d.cli(["inspect", id]).stdout.utf8))
        #expect(info.exitCode == 7, "the trap's exit code, not a SIGKILL after the grace period")
        #expect(try await d.cli(["logs", id]).stdout == "ready\ngot TERM\n")
    }

    @Test("kill -9 of the daemon loses no running sandbox; a restart re-adopts it")
    func daemonCrashReadoption() async throws {
        let d = try await DaemonHarness.launch()
        defer { d.cleanUp() }
        // The workload waits for the test's word, not for a time that load could outlast.
        let gate = d.dir + "/gate"
        try FileManager.default.createDirectory(atPath: gate, withIntermediateDirectories: true)
        let run = try await d.cli(["run", "-d", "--name", "survivor", "--mount", gate + ":/gate:ro", "--rootfs", try TestRootfs.path(), "--",
                             "/bin/sh", "-c", "until [ -e /gate/go ]; do sleep 0.05; done; echo after-crash; exit 9"])
        #expect(run.status == 0, "\(run.stderr)")
        // The helper must hold none of the daemon's sockets, or a crashed daemon's
        // socket would keep accepting connections nobody serves. Its one socket is the
        // sandbox's own name server, a UDP socket in the sandbox's network namespace.
        let id = run.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let state = try WarrenJSON.decoder().decode(HelperState.self, from: Data(contentsOf: URL(fileURLWithPath: d.dataRoot + "/sandboxes/\(id)/state.json")))
        let sandboxUDP = (try? String(contentsOfFile: "/proc/\(state.initPID)/net/udp", encoding: .utf8)) ?? ""
        let nameServer = sandboxUDP.split(separator: "\n").dropFirst().compactMap { line -> String? in
            let f = line.split(separator: " ")
            return f.count > 9 && f[1] == "0100007F:0035" ? String(f[9]) : nil
        }
        #expect(nameServer.count == 1, "the sandbox's name server listens on 127.0.0.1:53: \(sandboxUDP)")
        let fds = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(state.helperPID)/fd")
        for fd in fds {
            let target = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(state.helperPID)/fd/\(fd)")) ?? ""
            #expect(!target.hasPrefix("socket:") || nameServer.contains { target == "socket:[\($0)]" }, "helper holds a socket: fd \(fd) \(target)")
        }
        try await runBlocking { d.crash() }
        try await d.restart()
        let info = try WarrenJSON.decoder().decode(SandboxInfo.self, from: Data(try await d.cli(["inspect", "survivor"]).stdout.utf8))
        #expect(info.state == .running, "re-adopted sandbox should still run: \(info)")
        _ = FileManager.default.createFile(atPath: gate + "/go", contents: nil)
        let logs = try await d.cli(["logs", "-f", "survivor"])
        #expect(logs.stdout == "after-crash\n")
        var final = info
        for _ in 0..<100 where final.state != .exited {
            try await Task.sleep(for: .microseconds(50_000))
            final = try WarrenJSON.decoder().decode(SandboxInfo.self, from: Data(try await d.cli(["inspect", "survivor"]).stdout.utf8))
        }
        #expect(final.state == .exited)
        #expect(final.exitCode == 9)
        #expect(try await d.cli(["rm", "survivor"]).status == 0)
        #expect((try? FileManager.default.contentsOfDirectory(atPath: d.dataRoot + "/sandboxes")) ?? [] == [])
    }

    @Test("one-line errors: missing rootfs, bad flag, daemon down")
    func errors() async throws {
        let d = try await DaemonHarness.launch()
        defer { d.cleanUp() }
        let noRootfs = try await d.cli(["run", "--rootfs", "/does/not/exist", "--", "true"])
        #expect(noRootfs.status == 125)
        #expect(noRootfs.stderr.split(separator: "\n").count == 1)
        #expect(noRootfs.stderr.contains("/does/not/exist"))
        let badMemory = try await d.cli(["run", "--memory", "lots", "--rootfs", try TestRootfs.path(), "--", "true"])
        #expect(badMemory.status != 0)
        #expect(badMemory.stderr.contains("lots"))
        try await runBlocking { d.stop() }
        let down = try await d.cli(["ps"])
        #expect(down.status != 0)
        #expect(down.stderr.split(separator: "\n").count == 1)
        #expect(down.stderr.contains("cannot reach the warren daemon"))
    }

    @Test("info shows the native driver's capability report")
    func info() async throws {
        let d = try await DaemonHarness.launch()
        defer { d.cleanUp() }
        let r = try await d.cli(["info", "--json"])
        let info = try WarrenJSON.decoder().decode(DaemonInfo.self, from: Data(r.stdout.utf8))
        let native = info.drivers.first { $0.name == "native" }
        #expect(native?.available == true)
        #expect(native?.capabilities["seccomp"]?.status == .enforced)
    }
}
