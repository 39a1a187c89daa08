// Pull + unpack wall time of a ~400 MB, 3-layer image from a local registry (Debian's
// docker-registry): `warren pull` beside `skopeo copy` + `umoci raw unpack`, interleaved
// in one run. Not a test: it prints min/median/max and the ratio. Needs root,
// docker-registry, skopeo, umoci and python3.
//
//     warren-bench-pull [--runs N] [--megabytes A,B,C]
#if canImport(Glibc)
import Glibc
#endif
import Foundation

let args = CommandLine.arguments
let runs = args.firstIndex(of: "--runs").flatMap { Int(args[$0 + 1]) } ?? 3
let sizes = args.firstIndex(of: "--megabytes").map { args[$0 + 1] } ?? "200,170,140"
let binDir = URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? args[0])
    .deletingLastPathComponent().path
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
let warren = binDir + "/warren"
let work = "/tmp/warren-bench-pull-\(getpid())"
let port = 20000 + Int(getpid() % 20000)
let registry = "127.0.0.1:\(port)"
let image = "\(registry)/bench/big:1"

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("warren-bench-pull: \(message)\n".utf8))
    exit(1)
}

/// Runs argv with output to a log; returns its exit code and wall time in seconds.
@discardableResult
func run(_ argv: [String], env: [String: String] = [:]) -> (Int32, Double) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: argv[0])
    p.arguments = Array(argv.dropFirst())
    p.environment = ProcessInfo.processInfo.environment.merging(env) { $1 }
    let log = FileHandle(forWritingAtPath: work + "/commands.log")!
    log.seekToEndOfFile()
    p.standardOutput = log
    p.standardError = log
    let start = ContinuousClock.now
    do { try p.run() } catch { fail("cannot start \(argv[0]): \(error)") }
    p.waitUntilExit()
    let elapsed = ContinuousClock.now - start
    return (p.terminationStatus, Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
}

func mustRun(_ argv: [String], env: [String: String] = [:]) {
    let (status, _) = run(argv, env: env)
    if status != 0 { fail("\(argv.joined(separator: " ")) failed (see \(work)/commands.log)") }
}

func background(_ argv: [String]) -> Process {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: argv[0])
    p.arguments = Array(argv.dropFirst())
    p.standardOutput = FileHandle(forWritingAtPath: work + "/commands.log")
    p.standardError = FileHandle(forWritingAtPath: work + "/commands.log")
    do { try p.run() } catch { fail("cannot start \(argv[0]): \(error)") }
    return p
}

func median(_ xs: [Double]) -> Double { let s = xs.sorted(); return s[s.count / 2] }

// MARK: - Set-up

try? FileManager.default.removeItem(atPath: work)
try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
_ = FileManager.default.createFile(atPath: work + "/commands.log", contents: nil)
try """
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: \(work)/registry
http:
  addr: \(registry)
""".write(toFile: work + "/registry.yml", atomically: true, encoding: .utf8)
let registryProcess = background(["/usr/bin/docker-registry", "serve", work + "/registry.yml"])
try "{}".write(toFile: work + "/daemon.json", atomically: true, encoding: .utf8)
let daemon = background([warren, "daemon", "--socket", work + "/warren.sock", "--data-root", work + "/data",
                         "--config", work + "/daemon.json", "--insecure-registry", registry, "--log-level", "warning"])
defer {
    daemon.terminate(); daemon.waitUntilExit()
    registryProcess.terminate(); registryProcess.waitUntilExit()
    try? FileManager.default.removeItem(atPath: work)
}
let cli = ["WARREN_HOST": "unix://\(work)/warren.sock"]

print("building a \(sizes) MB (uncompressed) 3-layer image and pushing it to \(registry)…")
let (made, _) = run(["/usr/bin/python3", packageRoot + "/Benchmarks/PullThroughput/make-image.py", work + "/layout", "big"]
                    + sizes.split(separator: ",").map(String.init))
if made != 0 { fail("make-image.py failed") }
usleep(500_000)
mustRun(["/usr/bin/skopeo", "copy", "--quiet", "--dest-tls-verify=false", "oci:\(work)/layout:big", "docker://\(image)"])
try? FileManager.default.removeItem(atPath: work + "/layout")
let compressed = (try? FileManager.default.subpathsOfDirectory(atPath: work + "/registry"))?.compactMap {
    (try? FileManager.default.attributesOfItem(atPath: work + "/registry/" + $0))?[.size] as? Int
}.reduce(0, +) ?? 0
print(String(format: "image: %.0f MB compressed in the registry", Double(compressed) / 1e6))

// MARK: - Runs, interleaved

var ours: [Double] = []
var peer: [Double] = []
for i in 1...runs {
    let (status, t) = run([warren, "pull", "-q", image], env: cli)
    if status != 0 { fail("warren pull failed (see \(work)/commands.log)") }
    ours.append(t)
    mustRun([warren, "rmi", image], env: cli)

    let (s1, copy) = run(["/usr/bin/skopeo", "copy", "--quiet", "--src-tls-verify=false", "docker://\(image)", "oci:\(work)/peer:x"])
    let (s2, unpack) = run(["/usr/bin/umoci", "raw", "unpack", "--image", work + "/peer:x", work + "/peer-rootfs"])
    if s1 != 0 || s2 != 0 { fail("skopeo or umoci failed (see \(work)/commands.log)") }
    peer.append(copy + unpack)
    mustRun(["/bin/rm", "-rf", work + "/peer", work + "/peer-rootfs"])
    print(String(format: "run %d: warren %.2f s, skopeo+umoci %.2f s (copy %.2f + unpack %.2f)", i, ours.last!, peer.last!, copy, unpack))
}

print(String(format: "warren pull:            min %.2f s  median %.2f s  max %.2f s", ours.min()!, median(ours), ours.max()!))
print(String(format: "skopeo copy + umoci:    min %.2f s  median %.2f s  max %.2f s", peer.min()!, median(peer), peer.max()!))
print(String(format: "ratio warren / peer (median): %.2fx   (target <= 0.50x)", median(ours) / median(peer)))
