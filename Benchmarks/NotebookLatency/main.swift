// Notebook proxy latency: HTTP requests and WebSocket round trips to a real Jupyter
// Server in a native notebook sandbox, straight to its socket, through Warren's
// /notebooks/ proxy, and through nginx set up as the usual reverse proxy for Jupyter, all
// in one run with one client. Not a test: it prints p50/p99 and Warren's ratio to nginx.
// Needs root, nginx (Debian's nginx-light) and the guest image tar (guest-images/jupyter).
//
//     warren-bench-notebook [--runs N] [--image TAR]   N per series (default 2000)
#if canImport(Glibc)
import Glibc
#endif
import BenchSupport
import Foundation

let bench = Bench(name: "warren-bench-notebook", defaultRuns: 2000)
let args = CommandLine.arguments
let image = args.firstIndex(of: "--image").map { args[$0 + 1] } ?? "/tmp/warren-jupyter.tar"
guard geteuid() == 0 else { bench.fail("run as root (the native driver needs a root daemon)") }
guard FileManager.default.fileExists(atPath: "/usr/sbin/nginx") else { bench.fail("install nginx (apt-get install nginx-light)") }
guard FileManager.default.fileExists(atPath: image) else { bench.fail("no guest image at \(image): run guest-images/jupyter/build.sh \(image)") }
defer { try? FileManager.default.removeItem(atPath: bench.work) }

func freePort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
    }
    return Int(UInt16(bigEndian: address.sin_port))
}

// MARK: - A daemon, a notebook sandbox, nginx

let token = "bench-" + UUID().uuidString
try token.write(toFile: bench.work + "/token", atomically: true, encoding: .utf8)
let warrenPort = freePort(), nginxPort = freePort()
let (daemon, client) = try bench.startDaemon(["--listen", "127.0.0.1:\(warrenPort)", "--token-file", bench.work + "/token"])

func cli(_ arguments: [String]) -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: bench.warren)
    p.arguments = arguments
    p.environment = Dictionary(uniqueKeysWithValues: client.map { ($0.split(separator: "=", maxSplits: 1).map(String.init)) }.map { ($0[0], $0[1]) })
    let out = Pipe()
    p.standardOutput = out
    try? p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
}

_ = cli(["image", "import", image, "--tag", "warren-jupyter:bench"])
let id = cli(["run", "-d", "--notebook", "warren-jupyter:bench"])
var nginx: Process?

/// Ends what the run started (the sandbox, nginx, the daemon), then fails with `message`.
@MainActor func stopAll() {
    if id.count == 64 { _ = cli(["rm", "-f", id]) }
    nginx?.terminate()
    nginx?.waitUntilExit()
    daemon.terminate()
    daemon.waitUntilExit()
}
@MainActor func fail(_ message: String) -> Never {
    stopAll()
    bench.fail(message)
}

guard id.count == 64 else { fail("run --notebook failed") }
guard cli(["notebook", id]).hasPrefix("http://") else { fail("the notebook did not come up") }
let prefix = "/notebooks/\(id)/"
let socketPath = bench.work + "/data/notebooks/\(id.prefix(24))/jupyter.sock"

/// Jupyter's token, read from the server's environment (the daemon derives it).
func jupyterToken() -> String? {
    for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] where Int(entry) != nil {
        guard let environ = FileManager.default.contents(atPath: "/proc/\(entry)/environ") else { continue }
        let vars = environ.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        guard vars.contains("WARREN_NOTEBOOK_BASE_URL=\(prefix)") else { continue }
        if let t = vars.first(where: { $0.hasPrefix("JUPYTER_TOKEN=") }) { return String(t.dropFirst("JUPYTER_TOKEN=".count)) }
    }
    return nil
}
guard let jupyter = jupyterToken() else { fail("cannot find the notebook server's token") }

// The worker runs as root only to reach Jupyter's socket, which the daemon keeps 0600.
let nginxConfig = """
user root;
worker_processes 1;
pid \(bench.work)/nginx.pid;
error_log \(bench.work)/nginx-error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    # nginx closes a keep-alive connection after 1000 requests by default: not in a run.
    keepalive_requests 1000000;
    map $http_upgrade $connection_upgrade { default upgrade; '' ''; }
    upstream jupyter { server unix:\(socketPath); keepalive 16; keepalive_requests 1000000; }
    server {
        listen 127.0.0.1:\(nginxPort);
        location / {
            proxy_pass http://jupyter;
            proxy_http_version 1.1;
            proxy_set_header Host $host;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_buffering off;
            proxy_request_buffering off;
            proxy_read_timeout 1h;
        }
    }
}
"""
try nginxConfig.write(toFile: bench.work + "/nginx.conf", atomically: true, encoding: .utf8)
let proxy = Process()
proxy.executableURL = URL(fileURLWithPath: "/usr/sbin/nginx")
proxy.arguments = ["-c", bench.work + "/nginx.conf", "-p", bench.work, "-g", "daemon off;"]
do { try proxy.run() } catch { fail("nginx did not start: \(error)") }
nginx = proxy
usleep(300_000)

// MARK: - Measure

struct Target {
    let name: String
    let connect: () throws -> RawClient
    let host: String
    let auth: String
}
let targets = [
    Target(name: "direct to Jupyter", connect: { try RawClient(unixSocket: socketPath) }, host: "localhost",
           auth: "Authorization: token \(jupyter)"),
    Target(name: "through Warren", connect: { try RawClient(port: warrenPort) }, host: "127.0.0.1:\(warrenPort)",
           auth: "Authorization: Bearer \(token)"),
    Target(name: "through nginx", connect: { try RawClient(port: nginxPort) }, host: "127.0.0.1:\(nginxPort)",
           auth: "Authorization: token \(jupyter)"),
]

func milliseconds(_ body: () throws -> Void) rethrows -> Double {
    let start = ContinuousClock.now
    try body()
    let d = ContinuousClock.now - start
    return Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15
}

func percentile(_ sorted: [Double], _ p: Double) -> Double { sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))] }

var http: [String: [Double]] = [:], ws: [String: [Double]] = [:]
do {
    let clients = try targets.map { try $0.connect() }
    let sockets = try targets.map { target -> RawClient in
        let c = try target.connect()
        try c.openWebSocket(prefix + "api/events/subscribe", host: target.host, headers: [target.auth])
        return c
    }
    // Interleaved, one request per target per round, after a warm-up.
    for round in 0..<(bench.runs + 50) {
        for (i, target) in targets.enumerated() {
            let h = try milliseconds {
                do {
                    let status = try clients[i].get(prefix + "api/status", host: target.host, headers: [target.auth])
                    if status != 200 { throw RawClientError("GET answered \(status)") }
                } catch { throw RawClientError("\(target.name), round \(round), GET: \(error)") }
            }
            let w = try milliseconds {
                do { try sockets[i].ping() } catch { throw RawClientError("\(target.name), round \(round), ping: \(error)") }
            }
            if round >= 50 {
                http[target.name, default: []].append(h)
                ws[target.name, default: []].append(w)
            }
        }
    }
} catch {
    fail("\(error)")
}

for (title, samples) in [("HTTP GET api/status, keep-alive", http), ("WebSocket ping/pong round trip", ws)] {
    print("\n\(title), \(bench.runs) each, interleaved (ms)")
    for target in targets {
        let sorted = samples[target.name, default: []].sorted()
        print("  " + target.name.padding(toLength: 20, withPad: " ", startingAt: 0)
              + String(format: "  p50 %7.3f   p99 %7.3f", percentile(sorted, 0.5), percentile(sorted, 0.99)))
    }
    let warren = percentile(samples["through Warren", default: []].sorted(), 0.5)
    let nginxP50 = percentile(samples["through nginx", default: []].sorted(), 0.5)
    print(String(format: "  ratio Warren / nginx, p50: %.2fx (target <= 1.3x: %@)", warren / nginxP50,
                 warren / nginxP50 <= 1.3 ? "met" : "NOT met"))
}

stopAll()
