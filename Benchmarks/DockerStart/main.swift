// Start→exit→removal of a Docker sandbox through Warren beside plain `docker run --rm`,
// on the same locally made image, interleaved in one run. Not a test: it prints medians
// and the ratio. Needs root, a running dockerd and busybox-static.
//
//     warren-bench-docker [--runs N]
#if canImport(Glibc)
import Glibc
#endif
import BenchSupport
import Foundation

let bench = Bench(name: "warren-bench-docker", defaultRuns: 20)
guard geteuid() == 0 else { bench.fail("run as root") }
guard FileManager.default.isExecutableFile(atPath: bench.warren) else { bench.fail("\(bench.warren) not found: build first") }
guard let docker = ["/usr/bin/docker", "/usr/local/bin/docker"].first(where: FileManager.default.isExecutableFile(atPath:)) else {
    bench.fail("the docker CLI is not installed (apt-get install docker.io)")
}
defer { try? FileManager.default.removeItem(atPath: bench.work) }

// A busybox image made here and imported: nothing comes from the internet.
let image = "warren-bench/busybox:latest"
let rootfs = bench.work + "/rootfs"
try FileManager.default.createDirectory(atPath: rootfs + "/bin", withIntermediateDirectories: true)
guard let busybox = ["/bin/busybox", "/usr/bin/busybox"].first(where: FileManager.default.isExecutableFile(atPath:)) else {
    bench.fail("busybox-static is not installed")
}
try FileManager.default.copyItem(atPath: busybox, toPath: rootfs + "/bin/busybox")
try FileManager.default.createSymbolicLink(atPath: rootfs + "/bin/true", withDestinationPath: "busybox")
guard bench.timed(["/bin/sh", "-c", "tar -C \(rootfs) -c . | \(docker) import - \(image)"]).0 == 0 else {
    bench.fail("docker import failed: is dockerd running? see \(bench.work)/stderr.log")
}

let (daemon, client) = try bench.startDaemon()
var series = [
    Series(name: "warren run --driver docker", argv: [bench.warren, "run", "--rm", "--driver", "docker", image, "--", "/bin/true"],
           environment: client),
    Series(name: "docker run --rm", argv: [docker, "run", "--rm", image, "/bin/true"]),
]
bench.measure(&series)
bench.report("Run /bin/true in a new container, wait for it, remove it", series, baseline: "docker run --rm")
print(String(format: "  target: warren median <= 1.0x docker run: %@", series[0].median <= series[1].median ? "met" : "NOT met"))

daemon.terminate()
daemon.waitUntilExit()
