// Added latency of the LLM facade: the same chat-completion call straight to a local
// upstream and through the facade (a sandbox's token, the real key swapped in, usage
// metered and recorded), sequentially and at concurrency 64, in one run. The facade is
// reached two ways: the sandbox's own facade socket (what the guest's loopback relay
// connects to) and `/llm` on the daemon's API socket (the host's way in).
// Not a test: it prints p50/p99 and what the facade adds. Needs root and busybox-static.
//
//     warren-bench-llm [--runs N]     N requests per series (default 2000)
#if canImport(Glibc)
import Glibc
#endif
import AsyncHTTPClient
import BenchSupport
import Foundation
import Hummingbird
import NIOCore

let bench = Bench(name: "warren-bench-llm", defaultRuns: 2000)
let key = "sk-bench-\(getpid())"
let answer = #"{"id":"c1","object":"chat.completion","model":"bench","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}"#
let request = #"{"model":"bench","messages":[{"role":"user","content":"hi"}]}"#

guard geteuid() == 0 else { bench.fail("run as root (the native driver needs a root daemon)") }

// MARK: - Upstream: a Hummingbird server that checks the key and answers at once

let router = Router()
router.post("/v1/chat/completions") { req, _ -> Response in
    guard req.headers[.authorization] == "Bearer \(key)" else { return Response(status: .unauthorized) }
    _ = try await req.body.collect(upTo: 1 << 20)
    return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: answer)))
}
let portStream = AsyncStream<Int>.makeStream()
let upstream = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                           onServerRunning: { portStream.continuation.yield($0.localAddress?.port ?? 0) })
let upstreamTask = Task { try await upstream.runService() }
var port = 0
for await p in portStream.stream { port = p; break }

// MARK: - Daemon and a sandbox with LLM access

setenv("OPENAI_API_KEY", key, 1)
setenv("WARREN_OPENAI_BASE_URL", "http://127.0.0.1:\(port)", 1)
let rootfs = bench.work + "/rootfs"
bench.makeBusyboxRootfs(rootfs, applets: ["sh", "sleep"])
defer { try? FileManager.default.removeItem(atPath: bench.work) }
let (daemon, client) = try bench.startDaemon()
let socket = bench.work + "/warren.sock"
let warren = bench.warren
func cli(_ args: [String]) -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: warren)
    p.arguments = args
    p.environment = ["WARREN_HOST": "unix://" + socket, "PATH": "/usr/bin:/bin"]
    let out = Pipe()
    p.standardOutput = out
    try? p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return String(decoding: data, as: UTF8.self)
}
_ = cli(["run", "-d", "--name", "bench-llm", "--rootfs", rootfs, "--llm", "openai", "--", "/bin/sh", "-c", "echo $OPENAI_API_KEY; sleep 100000"])
var token = ""
for _ in 0..<100 where token.isEmpty {
    token = cli(["logs", "bench-llm"]).split(separator: "\n").first { $0.hasPrefix("wrn_llm_") }.map(String.init) ?? ""
    usleep(50_000)
}
guard !token.isEmpty else { bench.fail("the sandbox printed no token") }
let inspected = try JSONSerialization.jsonObject(with: Data(cli(["inspect", "bench-llm", "--json"]).utf8)) as? [String: Any]
let sandboxID = inspected?["id"] as? String ?? ""
let sandboxSocket = bench.work + "/data/llm/" + sandboxID.prefix(24) + ".sock"
guard FileManager.default.fileExists(atPath: sandboxSocket) else { bench.fail("no facade socket at \(sandboxSocket)") }

// MARK: - Measure

let http = HTTPClient(eventLoopGroupProvider: .singleton,
                      configuration: .init(connectionPool: .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 128)))
let direct = "http://127.0.0.1:\(port)/v1/chat/completions"
func unixURL(_ path: String, _ route: String) -> String {
    "http+unix://\(path.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")\(route)"
}
let paths = [("the sandbox's facade socket", unixURL(sandboxSocket, "/v1/chat/completions")),
             ("the daemon socket's /llm", unixURL(socket, "/llm/v1/chat/completions"))]

func call(_ url: String, bearer: String) async throws -> Double {
    var r = HTTPClientRequest(url: url)
    r.method = .POST
    r.headers.add(name: "authorization", value: "Bearer \(bearer)")
    r.headers.add(name: "content-type", value: "application/json")
    r.body = .bytes(ByteBuffer(string: request))
    let start = ContinuousClock.now
    let response = try await http.execute(r, timeout: .seconds(30))
    _ = try await response.body.collect(upTo: 1 << 20)
    guard response.status == .ok else { bench.fail("\(url) answered \(response.status)") }
    let d = ContinuousClock.now - start
    return Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15
}

func series(_ url: String, bearer: String, total: Int, concurrency: Int) async throws -> [Double] {
    try await withThrowingTaskGroup(of: [Double].self) { group in
        for _ in 0..<concurrency {
            group.addTask {
                var samples: [Double] = []
                for _ in 0..<(total / concurrency) { samples.append(try await call(url, bearer: bearer)) }
                return samples
            }
        }
        var all: [Double] = []
        for try await part in group { all += part }
        return all.sorted()
    }
}

func percentile(_ sorted: [Double], _ p: Double) -> Double { sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))] }

for concurrency in [1, 64] {
    for (name, facade) in paths {
        _ = try await series(direct, bearer: key, total: 200, concurrency: min(concurrency, 200))
        _ = try await series(facade, bearer: token, total: 200, concurrency: min(concurrency, 200))
        var straight: [Double] = [], through: [Double] = []
        // Interleaved halves, so drift hits both alike.
        for _ in 0..<2 {
            straight += try await series(direct, bearer: key, total: bench.runs / 2, concurrency: concurrency)
            through += try await series(facade, bearer: token, total: bench.runs / 2, concurrency: concurrency)
        }
        straight.sort(); through.sort()
        let (d50, d99) = (percentile(straight, 0.5), percentile(straight, 0.99))
        let (f50, f99) = (percentile(through, 0.5), percentile(through, 0.99))
        print("\nChat completion through \(name), concurrency \(concurrency), \(straight.count) requests each (ms)")
        print(String(format: "  direct to the upstream   p50 %7.3f   p99 %7.3f", d50, d99))
        print(String(format: "  through the facade       p50 %7.3f   p99 %7.3f", f50, f99))
        print(String(format: "  added by the facade      p50 %7.3f   p99 %7.3f   ratio p50 %.2fx", f50 - d50, f99 - d99, f50 / d50))
        if concurrency == 1 {
            print("  target p50 added < 0.5 ms: \(f50 - d50 < 0.5 ? "met" : "NOT met"); p99 added < 2 ms: \(f99 - d99 < 2 ? "met" : "NOT met")")
        }
    }
}

_ = cli(["rm", "-f", "bench-llm"])
try await Task { try await http.shutdown() }.value
daemon.terminate()
daemon.waitUntilExit()
upstreamTask.cancel()
_ = client
