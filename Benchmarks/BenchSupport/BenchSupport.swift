// What Warren's start-latency benchmarks share: timing a command from spawn to exit,
// interleaved series of samples, and a report of medians and ratios.
#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// One benchmark run: its scratch directory (commands' stderr goes to `stderr.log`) and its options.
public struct Bench: Sendable {
    public let name: String
    public let work: String
    /// Samples per series (`--runs N`, default `defaultRuns`).
    public let runs: Int
    /// The directory holding this executable and the `warren` built beside it.
    public let binDir: String

    public init(name: String, defaultRuns: Int) {
        self.name = name
        let args = CommandLine.arguments
        runs = args.firstIndex(of: "--runs").flatMap { $0 + 1 < args.count ? Int(args[$0 + 1]) : nil } ?? defaultRuns
        work = "/tmp/\(name)-\(getpid())"
        binDir = URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? args[0])
            .deletingLastPathComponent().path
        try? FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        chmod(work, 0o755)
    }

    public var warren: String { binDir + "/warren" }

    public func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data("\(name): \(message)\n".utf8))
        exit(1)
    }

    /// Runs argv to completion with output discarded; returns its exit code and wall time in ms.
    public func timed(_ argv: [String], environment: [String] = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]) -> (Int32, Double) {
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

    /// Runs every series `runs` times, interleaved, after `warmUp` rounds that are not counted.
    public func measure(_ series: inout [Series], warmUp: Int = 2) {
        for round in 0..<(runs + warmUp) {
            for i in series.indices {
                let (code, ms) = timed(series[i].argv, environment: series[i].environment)
                if code != 0 { fail("\(series[i].name) exited \(code); see \(work)/stderr.log") }
                if round >= warmUp { series[i].samples.append(ms) }
            }
        }
    }

    /// Prints min, median and max of each series and each one's ratio to `baseline`.
    public func report(_ title: String, _ series: [Series], baseline: String) {
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

    /// A busybox root filesystem at `rootfs` with `applets` linked.
    public func makeBusyboxRootfs(_ rootfs: String, applets: [String]) {
        let fm = FileManager.default
        for d in ["bin", "etc", "proc", "dev", "sys", "tmp", "root"] {
            try? fm.createDirectory(atPath: rootfs + "/" + d, withIntermediateDirectories: true)
        }
        guard let busybox = ["/bin/busybox", "/usr/bin/busybox"].first(where: fm.isExecutableFile(atPath:)) else {
            fail("busybox-static is not installed")
        }
        try? fm.copyItem(atPath: busybox, toPath: rootfs + "/bin/busybox")
        for applet in applets { try? fm.createSymbolicLink(atPath: rootfs + "/bin/" + applet, withDestinationPath: "busybox") }
        try? "root:x:0:0:root:/root:/bin/sh\n".write(toFile: rootfs + "/etc/passwd", atomically: true, encoding: .utf8)
        try? "root:x:0:\n".write(toFile: rootfs + "/etc/group", atomically: true, encoding: .utf8)
    }

    /// Starts `warren daemon` on a socket in the scratch directory; returns it and the
    /// environment that points the CLI at it.
    public func startDaemon(_ extra: [String] = []) throws -> (Process, [String]) {
        let socket = work + "/warren.sock"
        let daemon = Process()
        daemon.executableURL = URL(fileURLWithPath: warren)
        daemon.arguments = ["daemon", "--socket", socket, "--data-root", work + "/data", "--log-level", "warning",
                            "--config", work + "/daemon.json"] + extra
        _ = FileManager.default.createFile(atPath: work + "/daemon.json", contents: Data("{}".utf8))
        daemon.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try daemon.run()
        let client = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "WARREN_HOST=unix://" + socket]
        for _ in 0..<200 {
            if timed([warren, "version"], environment: client).0 == 0 { return (daemon, client) }
            usleep(50_000)
        }
        fail("the daemon did not start")
    }
}

/// Samples of one command.
public struct Series: Sendable {
    public var name: String
    public var argv: [String]
    public var environment: [String]
    public var samples: [Double] = []

    public init(name: String, argv: [String], environment: [String] = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]) {
        self.name = name; self.argv = argv; self.environment = environment
    }

    public var median: Double {
        let s = samples.sorted()
        return s.isEmpty ? .nan : s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }
}
