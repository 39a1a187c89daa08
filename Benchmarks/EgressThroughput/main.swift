// What the egress proxy costs: a download and a small request from a test host in a
// network namespace of its own (a veth pair, a public-looking address), straight from
// the host and through a sandbox's egress proxy (its socket, which the guest's loopback
// relay connects to: a CONNECT tunnel, the name resolved and checked by the proxy), in
// one run, interleaved. Not a test: it prints throughput, time to first byte and ratios.
// Needs root, iproute2, python3 and busybox-static.
//
//     warren-bench-egress [--runs N]     N downloads and 50×N small requests per side (default 10)
#if canImport(Glibc)
import Glibc
#endif
import BenchSupport
import Foundation

let bench = Bench(name: "warren-bench-egress", defaultRuns: 10)
guard geteuid() == 0 else { bench.fail("run as root (network namespaces and the native driver)") }

func sh(_ command: String) {
    if bench.timed(["/bin/sh", "-c", command]).0 != 0 { bench.fail("failed: \(command); see \(bench.work)/stderr.log") }
}

// MARK: - The test host: a namespace serving a 256 MiB file and a small one

let namespace = "wbench-\(getpid())", address = "11.98.\(getpid() % 200 + 1).2"
let hostSide = address.replacingOccurrences(of: ".2", with: ".1", options: .backwards, range: address.range(of: ".2", options: .backwards))
let files = bench.work + "/files"
try FileManager.default.createDirectory(atPath: files, withIntermediateDirectories: true)
sh("head -c 268435456 /dev/urandom > \(files)/big.bin && echo hello > \(files)/hello.txt")
sh("ip netns add \(namespace) && ip link add wb\(getpid()) type veth peer name wn\(getpid()) && ip link set wn\(getpid()) netns \(namespace)"
   + " && ip addr add \(hostSide)/30 dev wb\(getpid()) && ip link set wb\(getpid()) up"
   + " && ip -n \(namespace) addr add \(address)/30 dev wn\(getpid()) && ip -n \(namespace) link set wn\(getpid()) up"
   + " && ip -n \(namespace) link set lo up")
let server = Process()
server.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
server.arguments = ["netns", "exec", namespace, "/usr/bin/python3", "-m", "http.server", "8080", "--bind", address, "--directory", files]
server.standardError = FileHandle(forWritingAtPath: "/dev/null")
server.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
try server.run()
/// The daemon and its sandbox, once started: removed by `cleanUp`.
nonisolated(unsafe) var daemonProcess: Process?
nonisolated(unsafe) var sandboxID: String?
func cleanUp() {
    if let daemon = daemonProcess {
        if let sandboxID {
            _ = bench.timed([bench.warren, "rm", "-f", sandboxID], environment: ["WARREN_HOST=unix://" + bench.work + "/warren.sock"])
        }
        daemon.terminate()
        while daemon.isRunning { usleep(10_000) }
        daemonProcess = nil
    }
    kill(server.processIdentifier, SIGKILL)
    _ = bench.timed(["/usr/sbin/ip", "netns", "del", namespace])
    try? FileManager.default.removeItem(atPath: bench.work)
}
/// Fails the run after removing the namespace and the files.
func die(_ message: String) -> Never {
    cleanUp()
    bench.fail(message)
}

// MARK: - A daemon and a sandbox allowed to reach the test host by name

let rootfs = bench.work + "/rootfs"
bench.makeBusyboxRootfs(rootfs, applets: ["sh", "sleep"])
let (daemon, client) = try bench.startDaemon()
daemonProcess = daemon
func cli(_ args: [String]) -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: bench.warren)
    p.arguments = args
    p.environment = Dictionary(uniqueKeysWithValues: client.map { ($0.split(separator: "=", maxSplits: 1).map(String.init)[0],
                                                                   $0.split(separator: "=", maxSplits: 1).map(String.init)[1]) })
    let out = Pipe()
    p.standardOutput = out
    try? p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    while p.isRunning { usleep(1000) }
    return String(decoding: data, as: UTF8.self)
}
let id = cli(["run", "-d", "--rootfs", rootfs, "--allow-host", "bench.test:8080", "--add-host", "bench.test:\(address)",
              "--", "/bin/sleep", "100000"]).trimmingCharacters(in: .whitespacesAndNewlines)
sandboxID = id
let proxySocket = bench.work + "/data/egress/" + id.prefix(24) + ".sock"
guard FileManager.default.fileExists(atPath: proxySocket) else { die("no egress socket at \(proxySocket)") }

// MARK: - Clients: plain blocking sockets, the same code both ways but for the way in

func now() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) * 1000 + Double(t.tv_nsec) / 1e6
}

func sendAll(_ fd: Int32, _ text: String) {
    let bytes = Array(text.utf8)
    var sent = 0
    while sent < bytes.count {
        let n = bytes[sent...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        if n <= 0 { die("write failed") }
        sent += n
    }
}

func direct() -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = in_port_t(UInt16(8080).bigEndian)
    inet_pton(AF_INET, address, &addr.sin_addr)
    let ok = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
    }
    if !ok { die("cannot connect to \(address):8080") }
    return fd
}

func proxied() -> Int32 {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    var addr = sockaddr_un()
    addr.sun_family = sa_family_t(AF_UNIX)
    let path = Array(proxySocket.utf8CString)
    withUnsafeMutableBytes(of: &addr.sun_path) { dst in
        path.withUnsafeBytes { src in dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: src.prefix(dst.count))) }
    }
    let ok = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) == 0 }
    }
    if !ok { die("cannot connect to the proxy") }
    sendAll(fd, "CONNECT bench.test:8080 HTTP/1.1\r\nHost: bench.test:8080\r\n\r\n")
    var head: [UInt8] = [], byte: UInt8 = 0
    while !head.suffix(4).elementsEqual([13, 10, 13, 10]) {
        guard read(fd, &byte, 1) == 1 else { die("the proxy closed the tunnel") }
        head.append(byte)
    }
    if !String(decoding: head, as: UTF8.self).hasPrefix("HTTP/1.1 200") { die("the proxy refused: \(String(decoding: head, as: UTF8.self))") }
    return fd
}

/// GETs `path` on a fresh connection; returns ms to the first byte, ms in all and bytes.
func fetch(_ open: () -> Int32, _ path: String) -> (first: Double, total: Double, bytes: Int) {
    var buffer = [UInt8](repeating: 0, count: 1 << 20)
    let start = now()
    let fd = open()
    defer { close(fd) }
    sendAll(fd, "GET /\(path) HTTP/1.0\r\nHost: bench.test\r\n\r\n")
    var first = 0.0, bytes = 0
    while true {
        let n = read(fd, &buffer, buffer.count)
        if n <= 0 { break }
        if bytes == 0 { first = now() - start }
        bytes += n
    }
    return (first, now() - start, bytes)
}

func percentile(_ values: [Double], _ p: Double) -> Double {
    let sorted = values.sorted()
    return sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
}

// MARK: - Measure

let ways: [(String, () -> Int32)] = [("direct", direct), ("through the proxy", proxied)]
for (_, open) in ways { _ = fetch(open, "big.bin"); for _ in 0..<20 { _ = fetch(open, "hello.txt") } }
var throughput: [String: [Double]] = [:], firstByte: [String: [Double]] = [:]
for _ in 0..<bench.runs {
    for (name, open) in ways {
        let r = fetch(open, "big.bin")
        if r.bytes < 268_435_456 { die("\(name): short download (\(r.bytes) bytes)") }
        throughput[name, default: []].append(Double(r.bytes) / 1_048_576 / (r.total / 1000))
    }
    for _ in 0..<50 {
        for (name, open) in ways { firstByte[name, default: []].append(fetch(open, "hello.txt").first) }
    }
}

print("\nDownload of 256 MiB from a test host in its own network namespace (\(bench.runs) runs each, interleaved; MiB/s)")
for (name, _) in ways {
    let s = throughput[name]!
    print("  " + name.padding(toLength: 20, withPad: " ", startingAt: 0) + String(format: "  median %8.1f   min %8.1f   max %8.1f", percentile(s, 0.5), s.min()!, s.max()!))
}
let ratio = percentile(throughput["through the proxy"]!, 0.5) / percentile(throughput["direct"]!, 0.5)
print(String(format: "  ratio proxy / direct: %.2fx   target >= 0.8x: %@", ratio, ratio >= 0.8 ? "met" : "NOT met"))

print("\nConnect and first byte of a small GET (\(firstByte["direct"]!.count) requests each, interleaved; ms)")
for (name, _) in ways {
    let s = firstByte[name]!
    print("  " + name.padding(toLength: 20, withPad: " ", startingAt: 0) + String(format: "  p50 %7.3f   p99 %7.3f", percentile(s, 0.5), percentile(s, 0.99)))
}
let added = percentile(firstByte["through the proxy"]!, 0.5) - percentile(firstByte["direct"]!, 0.5)
print(String(format: "  added by the proxy p50 %.3f ms   target < 1 ms: %@", added, added < 1 ? "met" : "NOT met"))

cleanUp()
