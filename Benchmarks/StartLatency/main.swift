// Start→exit latency of a native Warren sandbox beside bubblewrap and unshare on the
// same root filesystem, interleaved in one run, and of `warren exec` beside nsenter.
// Not a test: it prints min/median/max and ratios. Needs root, bwrap and unshare.
//
//     warren-bench-start [--runs N]
#if canImport(Glibc)
import Glibc
#endif
import BenchSupport
import Foundation

let bench = Bench(name: "warren-bench-start", defaultRuns: 30)
let warren = bench.warren
let work = bench.work
let rootfs = work + "/rootfs"
func fail(_ message: String) -> Never { bench.fail(message) }

// MARK: - Setup

guard geteuid() == 0 else { fail("run as root (the native driver needs a root daemon)") }
guard FileManager.default.isExecutableFile(atPath: warren) else { fail("\(warren) not found: build first") }
bench.makeBusyboxRootfs(rootfs, applets: ["true", "sh", "sleep"])
defer { try? FileManager.default.removeItem(atPath: work) }
let (daemon, client) = try bench.startDaemon()

// MARK: - Start to exit

var start = [
    Series(name: "warren run --rm", argv: [warren, "run", "--rm", "--rootfs", rootfs, "--", "/bin/true"], environment: client),
    Series(name: "bwrap", argv: ["/usr/bin/bwrap", "--unshare-all", "--uid", "0", "--gid", "0", "--ro-bind", rootfs, "/",
                                  "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--die-with-parent", "/bin/true"]),
    Series(name: "unshare", argv: ["/usr/bin/unshare", "--user", "--map-root-user", "--mount", "--pid", "--fork", "--net",
                                    "--ipc", "--uts", "--cgroup", "--root=" + rootfs, "/bin/true"]),
]
bench.measure(&start)
bench.report("Start to exit of /bin/true in a fresh sandbox", start, baseline: "bwrap")
if let w = start.first, let b = start.dropFirst().first {
    print(String(format: "  target: warren median <= 1.5x bwrap: %@", w.median <= 1.5 * b.median ? "met" : "NOT met"))
}

// MARK: - Exec

if bench.timed([warren, "run", "-d", "--name", "bench-exec", "--rootfs", rootfs, "--", "/bin/sleep", "100000"], environment: client).0 != 0 {
    fail("cannot start the sandbox to exec into; see \(work)/stderr.log")
}
let inspect = Process()
inspect.executableURL = URL(fileURLWithPath: warren)
inspect.arguments = ["inspect", "bench-exec"]
inspect.environment = ["WARREN_HOST": client[1].replacingOccurrences(of: "WARREN_HOST=", with: "")]
let pipe = Pipe()
inspect.standardOutput = pipe
try inspect.run()
let data = pipe.fileHandleForReading.readDataToEndOfFile()
inspect.waitUntilExit()
let helperPID = (try? JSONSerialization.jsonObject(with: data) as? [String: Any])?["pid"] as? Int ?? 0
// The sandbox's init is the helper's only child.
let initPID = (try? String(contentsOfFile: "/proc/\(helperPID)/task/\(helperPID)/children", encoding: .utf8))?
    .split(separator: " ").first.map(String.init) ?? ""
var exec = [Series(name: "warren exec", argv: [warren, "exec", "bench-exec", "--", "/bin/true"], environment: client)]
if !initPID.isEmpty {
    exec.append(Series(name: "nsenter (no confinement)", argv: ["/usr/bin/nsenter", "-t", initPID, "-a", "/bin/true"]))
}
bench.measure(&exec)
bench.report("Exec of /bin/true into a running sandbox", exec, baseline: "nsenter (no confinement)")
print(String(format: "  target: warren exec median <= 10 ms: %@", exec[0].median <= 10 ? "met" : "NOT met"))

_ = bench.timed([warren, "rm", "-f", "bench-exec"], environment: client)
daemon.terminate()
daemon.waitUntilExit()
