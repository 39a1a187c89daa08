import Foundation
import LinuxSupport
import Testing
import WarrenCore
import WarrenTestSupport

/// A daemon run by a normal user: sandbox root is that user's own uid, nothing else
/// is mapped, and no cgroup is available. Driven through the real CLI (as root, which
/// the daemon's socket admits beside its own uid).
@Suite("Rootless daemon", .serialized)
struct RootlessDaemonTests {
    /// No passwd entry needed: the daemon only needs a uid that owns its directories.
    static let uid: UInt32 = 47_011

    /// A copy of the test rootfs owned by the daemon's user, as its own unpacked images are.
    static func ownedRootfs(_ d: DaemonHarness) throws -> String {
        let dest = d.dir + "/rootfs"
        try TestRootfs.run(blocking: "/bin/cp", ["-a", try TestRootfs.path(), dest])
        try TestRootfs.run(blocking: "/bin/chown", ["-R", "\(uid):\(uid)", dest])
        return dest
    }

    @Test("info reports rootless mode truthfully: own uid, no cgroup limits, pids by rlimit")
    func capabilityReport() async throws {
        let d = try await DaemonHarness.launch(user: Self.uid)
        defer { d.cleanUp() }
        let r = try await d.cli(["info", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let info = try WarrenJSON.decoder().decode(DaemonInfo.self, from: Data(r.stdout.utf8))
        let native = try #require(info.drivers.first { $0.name == "native" })
        #expect(native.available, "\(native)")
        let dims = native.capabilities.dimensions
        func status(_ name: String) -> CapabilityReport.Status? { dims.first { $0.name == name }?.status }
        func detail(_ name: String) -> String { dims.first { $0.name == name }?.detail ?? "" }
        #expect(detail("user_namespace").contains("own uid \(Self.uid)"), "\(dims)")
        #expect(status("memory_limit") == .unsupported)
        #expect(status("cpu_limit") == .unsupported)
        #expect(status("pids_limit") == .enforced)
        #expect(detail("pids_limit").contains("RLIMIT_NPROC"))
    }

    @Test("sandbox root is the daemon's uid on the host; the probe's dangerous rows are denied")
    func ownUIDAndProbe() async throws {
        let d = try await DaemonHarness.launch(user: Self.uid)
        defer { d.cleanUp() }
        let rootfs = try Self.ownedRootfs(d)
        let out = d.dir + "/out"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        chown(out, Self.uid, Self.uid)
        let r = try await d.cli(["run", "--rm", "--rootfs", rootfs, "--mount", out + ":/out", "--",
                           "/bin/sh", "-c", "id -u; grep -E '^Cap(Eff|Bnd)' /proc/self/status; echo hi > /out/made; echo x > /etc/written && echo wrote"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.hasPrefix("0\n"), "\(r.stdout)")
        #expect(r.stdout.contains("CapEff:\t0000000000000000"))
        #expect(r.stdout.contains("CapBnd:\t0000000000000000"))
        #expect(r.stdout.contains("wrote"))
        var st = stat()
        #expect(stat(out + "/made", &st) == 0)
        #expect(st.st_uid == Self.uid && st.st_gid == Self.uid, "a file made by sandbox root belongs to the daemon's user")
        #expect(access(rootfs + "/etc/written", F_OK) != 0, "the rootfs source must not change")

        let probe = try await d.cli(["run", "--rm", "--rootfs", rootfs, "--", "/bin/warren-probe"])
        #expect(probe.status == 0, "\(probe.stderr)")
        let rows = probe.stdout.split(separator: "\n").map(String.init)
        #expect(rows.last == "probe-done")
        #expect(rows.count >= 31)
        for row in rows.dropLast() { #expect(row.contains(" DENIED"), "rootless sandbox allowed: \(row)") }
    }

    @Test("a root-owned rootfs is copied, so sandbox root can still write its own files")
    func rootOwnedRootfsIsCopied() async throws {
        let d = try await DaemonHarness.launch(user: Self.uid)
        defer { d.cleanUp() }
        let source = try TestRootfs.path()
        let r = try await d.cli(["run", "--rm", "--rootfs", source, "--", "/bin/sh", "-c",
                           "echo data > /etc/agent-note && cat /etc/agent-note && stat -c %u /bin/busybox"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "data\n0\n")
        #expect(access(source + "/etc/agent-note", F_OK) != 0)
    }

    @Test("exec and exec -t join a running rootless sandbox; kill -9 of the daemon loses nothing")
    func execAndReadoption() async throws {
        let d = try await DaemonHarness.launch(user: Self.uid)
        defer { d.cleanUp() }
        let rootfs = try Self.ownedRootfs(d)
        let run = try await d.cli(["run", "-d", "--name", "rl", "--rootfs", rootfs, "--", "/bin/sh", "-c", "echo up; sleep 1000"])
        #expect(run.status == 0, "\(run.stderr)")
        let id = run.stdout.trimmingCharacters(in: .whitespacesAndNewlines)

        let exec = try await d.cli(["exec", "rl", "--", "/bin/sh", "-c", "ps -o pid,comm | grep -c sleep; grep CapEff /proc/self/status; exit 5"])
        #expect(exec.status == 5, "\(exec.stderr)")
        #expect(exec.stdout.hasPrefix("1\n"), "exec must see the sandbox's own processes: \(exec.stdout)")
        #expect(exec.stdout.contains("CapEff:\t0000000000000000"))

        let tty = try await d.cli(["exec", "-t", "rl", "--", "/bin/tty"])
        #expect(tty.stdout.hasPrefix("/dev/pts/"), "a terminal from the sandbox's own devpts: \(tty.stdout) \(tty.stderr)")

        try await runBlocking { d.crash() }
        try await d.restart()
        let again = try await d.cli(["exec", "rl", "--", "/bin/sh", "-c", "echo still here"])
        #expect(again.stdout == "still here\n", "\(again.stderr)")
        #expect(try await d.cli(["rm", "-f", "rl"]).status == 0)
        #expect(!FileManager.default.fileExists(atPath: d.dataRoot + "/sandboxes/" + id))
        #expect(Self.processes(mentioning: "sandboxes/" + id).isEmpty, "processes outlived rm")
    }

    /// Pids whose command line contains `text`.
    static func processes(mentioning text: String) -> [String] {
        let pids = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return pids.filter { pid in
            guard pid.allSatisfy(\.isNumber), let raw = readFileIfPresent("/proc/\(pid)/cmdline") else { return false }
            return String(decoding: raw.map { $0 == 0 ? 32 : $0 }, as: UTF8.self).contains(text)
        }
    }

    @Test("limits: --pids-limit holds through RLIMIT_NPROC; --memory, --cpus and unmapped users are refused clearly")
    func limits() async throws {
        let d = try await DaemonHarness.launch(user: Self.uid)
        defer { d.cleanUp() }
        let rootfs = try Self.ownedRootfs(d)
        let bomb = try await d.cli(["run", "--rm", "--pids-limit", "16", "--rootfs", rootfs, "--", "/bin/sh", "-c",
                              "i=0; while [ $i -lt 40 ]; do sleep 30 & i=$((i+1)); done; echo all forked"])
        #expect(!bomb.stdout.contains("all forked"), "40 processes under a limit of 16: \(bomb.stdout)")
        #expect(bomb.stderr.contains("can't fork"), "\(bomb.stderr)")
        #expect(try await d.cli(["version"]).status == 0, "the daemon stays responsive")

        let memory = try await d.cli(["run", "--rm", "--memory", "64m", "--rootfs", rootfs, "--", "/bin/true"])
        #expect(memory.status == 125)
        #expect(memory.stderr == "warren: --memory needs a cgroup, which a rootless daemon does not have: run the daemon as root\n")
        let cpus = try await d.cli(["run", "--rm", "--cpus", "0.5", "--rootfs", rootfs, "--", "/bin/true"])
        #expect(cpus.status == 125)
        #expect(cpus.stderr.contains("--cpus needs a cgroup"))
        let user = try await d.cli(["run", "--rm", "--user", "agent", "--rootfs", rootfs, "--", "/bin/true"])
        #expect(user.status != 0)
        #expect(user.stderr.contains("is not mapped: a rootless daemon maps only sandbox uid and gid 0"), "\(user.stderr)")
    }
}
