// Start→exit latency of a native Warren sandbox beside bubblewrap and unshare on the
// same root filesystem, interleaved in one run, and of `warren exec` beside nsenter.
// Not a test: it prints min/median/max and ratios. Needs root, bwrap and unshare.
//
//     warren-bench-start [--runs N]
#if canImport(Glibc)
import Glibc
#endif
import Foundation

let runs = CommandLine.arguments.firstIndex(of: "--runs").flatMap { Int(CommandLine.arguments[$0 + 1]) } ?? 30
let binDir = URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0])
    .deletingLastPathComponent().path
let warren = binDir + "/warren"
let work = "/tmp/warren-bench-\(getpid())"
let rootfs = work + "/rootfs"
let socket = work + "/warren.sock"

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("warren-bench-start: \(message)\n".utf8))
    exit(1)
}

/// Runs argv to completion with output discarded; returns its exit code and wall time in ms.
func timed(_ argv: [String], environment: [String] = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]) -> (Int32, Double) {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 2, work + "/stderr.log", O_WRONLY | O_CREAT | O_APPEND, 0o644)
    let cargs = argv.map { strdup($0) } + [nil]
    let cenv = environment.map { strdup($0) } + [nil]
    defer { cargs.forEach { free($0) }; cenv.forEach { free($0) } }
    var start = timespec(), end = timespec()
    clock_gettime(CLOCK_MONOTONIC, &start)
    var pid: pid_t = 0
    guard posix_spawn(&pid, argv[0], &actions, nil, cargs, cenv) == 0 else { fail("cannot start \(argv[0])") }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    clock_gettime(CLOCK_MONOTONIC, &end)
    let ms = Double(end.tv_sec - start.tv_sec) * 1000 + Double(end.tv_nsec - start.tv_nsec) / 1e6
    return ((status >> 8) & 0xff, ms)
}

func makeRootfs() {
    let fm = FileManager.default
    for d in ["bin", "etc", "proc", "dev", "sys", "tmp", "root"] {
        try? fm.createDirectory(atPath: rootfs + "/" + d, withIntermediateDirectories: true)
    }
    guard let busybox = ["/bin/busybox", "/usr/bin/busybox"].first(where: fm.isExecutableFile(atPath:)) else {
        fail("busybox-static is not installed")
    }
    try? fm.copyItem(atPath: busybox, toPath: rootfs + "/bin/busybox")
    for applet in ["true", "sh", "sleep"] { try? fm.createSymbolicLink(atPath: rootfs + "/bin/" + applet, withDestinationPath: "busybox") }
    try? "root:x:0:0:root:/root:/bin/sh\n".write(toFile: rootfs + "/etc/passwd", atomically: true, encoding: .utf8)
    try? "root:x:0:\n".write(toFile: rootfs + "/etc/group", atomically: true, encoding: .utf8)
}

struct Series {
    var name: String
    var argv: [String]
    var environment: [String] = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]
    var samples: [Double] = []
    var median: Double { let s = samples.sorted(); return s.isEmpty ? .nan : s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2 }
}

/// Runs every series `runs` times, interleaved, after two warm-up rounds.
func measure(_ series: inout [Series]) {
    for round in 0..<(runs + 2) {
        for i in series.indices {
            let (code, ms) = timed(series[i].argv, environment: series[i].environment)
            if code != 0 { fail("\(series[i].name) exited \(code); see \(work)/stderr.log") }
            if round >= 2 { series[i].samples.append(ms) }
        }
    }
}

func report(_ title: String, _ series: [Series], baseline: String) {
    print("\n\(title) (\(runs) runs each, interleaved)")
    print("  " + "name".padding(toLength: 26, withPad: " ", startingAt: 0) + "     min   median      max  (ms)")
    for s in series {
        let sorted = s.samples.sorted()
        print("  " + s.name.padding(toLength: 26, withPad: " ", startingAt: 0)
              + String(format: " %8.2f %8.2f %8.2f", sorted.first ?? .nan, s.median, sorted.last ?? .nan))
    }
    guard let base = series.first(where: { $0.name == baseline }) else { return }
    for s in series where s.name != baseline {
        print(String(format: "  ratio %@ / %@: %.2fx", s.name, baseline, s.median / base.median))
    }
}

// MARK: - Setup

guard geteuid() == 0 else { fail("run as root (the native driver needs a root daemon)") }
guard FileManager.default.isExecutableFile(atPath: warren) else { fail("\(warren) not found: build first") }
try? FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
chmod(work, 0o755)
makeRootfs()
defer { try? FileManager.default.removeItem(atPath: work) }

let daemon = Process()
daemon.executableURL = URL(fileURLWithPath: warren)
daemon.arguments = ["daemon", "--socket", socket, "--data-root", work + "/data", "--log-level", "warning"]
daemon.standardError = FileHandle(forWritingAtPath: "/dev/null")
try daemon.run()
let client = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "WARREN_HOST=unix://" + socket]
var up = false
for _ in 0..<200 where !up {
    up = timed([warren, "version"], environment: client).0 == 0
    if !up { usleep(50_000) }
}
guard up else { fail("the daemon did not start") }

// MARK: - Start to exit

var start = [
    Series(name: "warren run --rm", argv: [warren, "run", "--rm", "--rootfs", rootfs, "--", "/bin/true"], environment: client),
    Series(name: "bwrap", argv: ["/usr/bin/bwrap", "--unshare-all", "--uid", "0", "--gid", "0", "--ro-bind", rootfs, "/",
                                  "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--die-with-parent", "/bin/true"]),
    Series(name: "unshare", argv: ["/usr/bin/unshare", "--user", "--map-root-user", "--mount", "--pid", "--fork", "--net",
                                    "--ipc", "--uts", "--cgroup", "--root=" + rootfs, "/bin/true"]),
]
measure(&start)
report("Start to exit of /bin/true in a fresh sandbox", start, baseline: "bwrap")
if let w = start.first, let b = start.dropFirst().first {
    print(String(format: "  target: warren median <= 1.5x bwrap: %@", w.median <= 1.5 * b.median ? "met" : "NOT met"))
}

// MARK: - Exec

if timed([warren, "run", "-d", "--name", "bench-exec", "--rootfs", rootfs, "--", "/bin/sleep", "100000"], environment: client).0 != 0 {
    fail("cannot start the sandbox to exec into; see \(work)/stderr.log")
}
let inspect = Process()
inspect.executableURL = URL(fileURLWithPath: warren)
inspect.arguments = ["inspect", "bench-exec"]
inspect.environment = ["WARREN_HOST": "unix://" + socket]
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
measure(&exec)
report("Exec of /bin/true into a running sandbox", exec, baseline: "nsenter (no confinement)")
print(String(format: "  target: warren exec median <= 10 ms: %@", exec[0].median <= 10 ? "met" : "NOT met"))

_ = timed([warren, "rm", "-f", "bench-exec"], environment: client)
daemon.terminate()
daemon.waitUntilExit()
