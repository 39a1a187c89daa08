#if canImport(Glibc)
import Glibc
#endif
import Foundation
import LinuxSupport
import NativeDriver
import Testing
import WarrenCore
import WarrenTestSupport

/// A hostile agent against a real daemon: what it leaves, what it writes and what it
/// asks to mount must not take the host or the daemon with it.
@Suite("Hostile agents against the daemon", .serialized)
struct HostileAgentTests {
    static func info(_ d: DaemonHarness, _ name: String) async throws -> SandboxInfo {
        try WarrenJSON.decoder().decode(SandboxInfo.self, from: Data(try await d.cli(["inspect", name]).stdout.utf8))
    }

    static func rows(_ d: DaemonHarness) async throws -> [SandboxInfo] {
        try WarrenJSON.decoder().decode([SandboxInfo].self, from: Data(try await d.cli(["ps", "-a", "--json"]).stdout.utf8))
    }

    /// Resident memory of a process, in bytes.
    static func rss(_ pid: Int32) -> Int {
        let status = String(decoding: readFileIfPresent("/proc/\(pid)/status") ?? [], as: UTF8.self)
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return (Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0) * 1024
    }

    @Test("mount sources and root filesystems that expose the host are refused, and leave no row")
    func hostPathsRefused() async throws {
        let d = try await DaemonHarness.launch()
        defer { d.cleanUp() }
        let rootfs = try TestRootfs.path()
        for source in ["/proc", "/", "/sys/fs/cgroup", "/dev", d.dataRoot, d.dir, d.socket, "/var/run/docker.sock"] {
            let r = try await d.cli(["run", "--rm", "--mount", source + ":/x", "--rootfs", rootfs, "--", "true"])
            #expect(r.status == 125 && r.stderr.contains("is refused: it exposes"), "\(source): \(r.stderr)")
        }
        let root = try await d.cli(["run", "--rm", "--rootfs", "/", "--", "true"])
        #expect(root.status == 125 && root.stderr.contains("refused"), "\(root.stderr)")
        #expect(try await Self.rows(d).isEmpty, "a refused create left a row")
        // The daemon's configuration can allow one.
        try await runBlocking { d.stop() }
        try #"{"allow-mount-sources": ["/proc/self"]}"#.write(toFile: d.dir + "/daemon.json", atomically: true, encoding: .utf8)
        try await d.restart()
        let allowed = try await d.cli(["run", "--rm", "--mount", "/proc/self:/host-self:ro", "--rootfs", rootfs, "--", "true"])
        #expect(allowed.status == 0, "\(allowed.stderr)")
    }

    @Test("rm -f removes whatever a sandbox left; a removal that fails is reported and retried at the next start")
    func removalAlwaysCompletes() async throws {
        let d = try await DaemonHarness.launch()
        defer { d.cleanUp() }
        let long = String(repeating: "d", count: 200)
        let script = """
            touch "/bad$(printf '\\377')name"
            d=$(for i in $(seq 1 15); do printf '%s/' \(long); done)
            mkdir -p /deep/$d /deep2/$d && mv /deep2 /deep/$d && chmod 000 /deep/$d /deep
            echo ready; sleep 1000
            """
        let run = try await d.cli(["run", "-d", "--name", "messy", "--rootfs", try TestRootfs.path(), "--", "/bin/sh", "-c", script])
        #expect(run.status == 0, "\(run.stderr)")
        let id = run.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        for _ in 0..<100 where !(try await d.cli(["logs", id]).stdout.contains("ready")) { try await Task.sleep(for: .microseconds(50_000)) }
        let rm = try await d.cli(["rm", "-f", "messy"])
        #expect(rm.status == 0, "\(rm.stderr)")
        #expect(!FileManager.default.fileExists(atPath: d.dataRoot + "/sandboxes/" + id))

        // A file the daemon cannot delete (immutable): rm reports it, the row is removed,
        // and the next start-up removes what was left once it can be.
        let second = try await d.cli(["run", "-d", "--rootfs", try TestRootfs.path(), "--", "/bin/sh", "-c", "echo x > /stuck; echo ready; sleep 1000"])
        let id2 = second.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        for _ in 0..<100 where !(try await d.cli(["logs", id2]).stdout.contains("ready")) { try await Task.sleep(for: .microseconds(50_000)) }
        let stuck = d.dataRoot + "/sandboxes/\(id2)/upper/stuck"
        #expect(FileManager.default.fileExists(atPath: stuck))
        try await TestRootfs.run("/usr/bin/chattr", ["+i", stuck])
        let failed = try await d.cli(["rm", "-f", id2])
        #expect(failed.status != 0 && failed.stderr.contains("tries again at its next start"), "\(failed.stderr)")
        #expect(try await Self.rows(d).isEmpty, "the row stays listed")
        #expect(FileManager.default.fileExists(atPath: d.dataRoot + "/sandboxes/" + id2))
        try await TestRootfs.run("/usr/bin/chattr", ["-i", stuck])
        try await runBlocking { d.stop() }
        try await d.restart()
        #expect(!FileManager.default.fileExists(atPath: d.dataRoot + "/sandboxes/" + id2), "the next start did not finish the removal")
    }

    @Test("a stalled reader of a 1 GB log keeps the daemon's memory within 64 MB")
    func stalledLogReader() async throws {
        let d = try await DaemonHarness.launch()
        defer { d.cleanUp() }
        let run = try await d.cli(["run", "-d", "--log-max", "2g", "--rootfs", try TestRootfs.path(), "--", "/bin/sh", "-c",
                                   "yes 0123456789abcdefghijklmnopqrstuvwxyz | head -c 1000000000; echo; echo written; sleep 1000"])
        #expect(run.status == 0, "\(run.stderr)")
        let id = run.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let logs = d.dataRoot + "/sandboxes/\(id)/logs/output.log"
        var size = 0
        for _ in 0..<1200 {
            var st = stat()
            if stat(logs, &st) == 0 { size = Int(st.st_size) }
            if size > 1_000_000_000 { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(size > 1_000_000_000, "the log holds only \(size) bytes")
        let pid = try #require(d.process?.processIdentifier)
        let baseline = Self.rss(pid)
        // A client that asks for the whole log and then reads no more.
        let fd = try UnixSockets.connect(to: d.socket)
        defer { close(fd) }
        try writeAll(fd, "GET /v1/sandboxes/\(id)/logs HTTP/1.1\r\nHost: warren\r\n\r\n")
        var buffer = [UInt8](repeating: 0, count: 65536)
        #expect(read(fd, &buffer, buffer.count) > 0)
        var peak = baseline
        for _ in 0..<30 {
            try await Task.sleep(for: .milliseconds(200))
            peak = max(peak, Self.rss(pid))
        }
        #expect(peak - baseline < 64 << 20, "daemon RSS grew from \(baseline >> 20) MB to \(peak >> 20) MB")
        // The daemon still answers everyone else.
        #expect(try await d.cli(["ps"]).status == 0)
        _ = try await d.cli(["rm", "-f", id])
    }

    @Test("a create below the data root's free-space floor is refused with 507 and leaves no row")
    func freeSpaceFloor() async throws {
        let d = try await DaemonHarness.launch(daemonArguments: ["--min-free-space", "100000t"])
        defer { d.cleanUp() }
        let r = try await d.cli(["run", "--rm", "--rootfs", try TestRootfs.path(), "--", "true"])
        #expect(r.status == 125 && r.stderr.contains("below its floor"), "\(r.stderr)")
        #expect(try await Self.rows(d).isEmpty)
        let fd = try UnixSockets.connect(to: d.socket)
        defer { close(fd) }
        let body = #"{"rootfs":"\#(try TestRootfs.path())","command":["true"]}"#
        try writeAll(fd, "POST /v1/sandboxes HTTP/1.1\r\nHost: w\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)")
        let answer = String(decoding: try readAll(fd), as: UTF8.self)
        #expect(answer.hasPrefix("HTTP/1.1 507") && answer.contains("insufficient_storage"), "\(answer.prefix(200))")
    }

    @Test("stop and rm -f finish when the sandbox's monitor is stopped; the exit is recorded")
    func stoppedMonitor() async throws {
        let d = try await DaemonHarness.launch()
        defer { d.cleanUp() }
        let run = try await d.cli(["run", "-d", "--name", "frozen", "--rootfs", try TestRootfs.path(), "--", "/bin/sleep", "1000"])
        let id = run.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let state = try WarrenJSON.decoder().decode(HelperState.self, from: Data(contentsOf: URL(fileURLWithPath: d.dataRoot + "/sandboxes/\(id)/state.json")))
        #expect(kill(state.helperPID, SIGSTOP) == 0)
        let started = Date()
        #expect(try await d.cli(["stop", "-t", "1", "frozen"]).status == 0)
        #expect(Date().timeIntervalSince(started) < 30, "a bounded stop, not a fast one")
        var info = try await Self.info(d, "frozen")
        for _ in 0..<100 where info.state != .exited { try await Task.sleep(for: .microseconds(50_000)); info = try await Self.info(d, "frozen") }
        #expect(info.state == .exited && info.exitCode == 137 && info.reason == "stopped", "\(info)")
        #expect(try await d.cli(["rm", "frozen"]).status == 0)
    }

    @Test("the daemon removes its empty cgroup parent at shutdown and after a crash")
    func cgroupParentsRemoved() async throws {
        guard let layout = CgroupLayout.detect() else { return }
        let d = try await DaemonHarness.launch()
        defer { d.cleanUp() }
        let parent = NativeDriver.cgroupParent(dataRoot: d.dataRoot)
        let dirs = SandboxCgroup(layout: layout, relativePath: parent).directories
        #expect(try await d.cli(["run", "--rm", "--rootfs", try TestRootfs.path(), "--", "true"]).status == 0)
        #expect(dirs.contains { access($0, F_OK) == 0 }, "the parent was never made")
        try await runBlocking { d.stop() }
        #expect(!dirs.contains { access($0, F_OK) == 0 }, "shutdown left \(dirs)")
        try await d.restart()
        #expect(try await d.cli(["run", "--rm", "--rootfs", try TestRootfs.path(), "--", "true"]).status == 0)
        try await runBlocking { d.crash() }
        #expect(dirs.contains { access($0, F_OK) == 0 })
        try await d.restart()
        #expect(!dirs.contains { access($0, F_OK) == 0 }, "reconciliation left \(dirs)")
    }

    @Test("a sandbox flooding its facade port holds at most 256 of the daemon's descriptors")
    func facadeConnectionFlood() async throws {
        let d = try await DaemonHarness.launch(daemonEnvironment: ["OPENAI_API_KEY": "sk-flood", "WARREN_OPENAI_BASE_URL": "http://127.0.0.1:9"])
        defer { d.cleanUp() }
        let pid = try #require(d.process?.processIdentifier)
        _ = try await d.cli(["ps"])
        let baseline = openDescriptors(pid)
        let run = try await d.cli(["run", "-d", "--llm", "openai", "--rootfs", try TestRootfs.path(), "--",
                                   "/bin/warren-probe", "flood", "\(LLMAccess.guestPort)", "1000"])
        #expect(run.status == 0, "\(run.stderr)")
        let id = run.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        for _ in 0..<200 where !(try await d.cli(["logs", id]).stdout.contains("connected")) {
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(try await d.cli(["logs", id]).stdout.contains("connected"))
        try await Task.sleep(for: .milliseconds(500))
        let held = openDescriptors(pid) - baseline
        #expect(held <= 256 + 16, "the daemon holds \(held) more descriptors for one sandbox")
        // The facade still answers others, and the daemon everyone.
        #expect(try await d.cli(["ps"]).status == 0)
        _ = try await d.cli(["rm", "-f", id])
    }
}
