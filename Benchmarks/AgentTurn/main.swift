// Per-turn time of the real Claude Code and Codex CLIs as Warren agent sessions (native
// sandbox, LLM facade, events stored) against the same CLI binaries run directly on the
// host, against the same local scripted upstream (Tests/Fixtures/agent-upstream.py), in
// one interleaved run. Two turns are compared: a session's first (Warren makes the
// sandbox and workspace, then runs the turn: what it adds at session start) and a
// follow-up that resumes the conversation. Every turn asks for one file write, so each is
// two model calls and one tool run. Targets: ≤ 1.2× per turn, ≤ 300 ms added at start.
// Not a test: it prints medians and ratios. Needs root, python3 and the agent image tar
// (guest-images/agent/build.sh, which the tests also build at /tmp/warren-agent.tar).
//
//     warren-bench-agent [--runs N] [--image TAR] [--cli-dir DIR]
//
// The host runs use `claude` and `codex` from --cli-dir; without one they are taken from
// the same pinned PyPI wheels the image is built from (downloaded once into /tmp).
#if canImport(Glibc)
import Glibc
#endif
import Agents
import BenchSupport
import Foundation
import WarrenCore

let bench = Bench(name: "warren-bench-agent", defaultRuns: 5)
guard geteuid() == 0 else { bench.fail("run as root (the native driver needs a root daemon)") }
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path
func option(_ name: String) -> String? {
    let a = CommandLine.arguments
    return a.firstIndex(of: name).flatMap { $0 + 1 < a.count ? a[$0 + 1] : nil }
}
let imageTar = option("--image") ?? "/tmp/warren-agent.tar"
guard FileManager.default.fileExists(atPath: imageTar) else {
    bench.fail("no agent image at \(imageTar): build it with guest-images/agent/build.sh \(imageTar)")
}
defer { try? FileManager.default.removeItem(atPath: bench.work) }

/// Runs argv to its end and returns its stdout (stderr to the bench's log).
func capture(_ argv: [String], environment: [String: String]) -> (Int32, String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: argv[0])
    p.arguments = Array(argv.dropFirst())
    p.environment = environment
    let out = Pipe()
    p.standardOutput = out
    p.standardError = FileHandle(forWritingAtPath: bench.work + "/stderr.log") ?? FileHandle.nullDevice
    do { try p.run() } catch { bench.fail("cannot run \(argv[0]): \(error)") }
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: data, as: UTF8.self))
}
_ = FileManager.default.createFile(atPath: bench.work + "/stderr.log", contents: nil)

// MARK: - The CLIs for the host runs

let cliDir = option("--cli-dir") ?? "/tmp/warren-bench-agent-cli"
if !FileManager.default.isExecutableFile(atPath: cliDir + "/claude") || !FileManager.default.isExecutableFile(atPath: cliDir + "/codex") {
    let recipe = (try? String(contentsOfFile: packageRoot + "/guest-images/agent/build.sh", encoding: .utf8)) ?? ""
    func pinned(_ name: String) -> String {
        recipe.split(separator: "\n").first { $0.hasPrefix("\(name)=${\(name):-") }
            .map { String($0.split(separator: "-").last?.dropLast() ?? "") } ?? ""
    }
    let script = """
        set -e; d=$(mktemp -d); mkdir -p "$1"
        python3 -m pip download --quiet --no-deps --dest "$d" --only-binary=:all: --platform manylinux_2_17_x86_64 \
            "claude-agent-sdk==$2" "openai-codex-cli-bin==$3"
        python3 - "$d" "$1" <<'PY'
        import glob, os, shutil, sys, zipfile
        src, dest = sys.argv[1], sys.argv[2]
        for pattern, member, name in (("claude_agent_sdk-*.whl", "claude_agent_sdk/_bundled/claude", "claude"),
                                      ("openai_codex_cli_bin-*.whl", "codex_cli_bin/bin/codex", "codex")):
            with zipfile.ZipFile(glob.glob(os.path.join(src, pattern))[0]) as z, z.open(member) as f, open(os.path.join(dest, name), "wb") as out:
                shutil.copyfileobj(f, out)
            os.chmod(os.path.join(dest, name), 0o755)
        PY
        rm -rf "$d"
        """
    print("fetching the pinned CLIs for the host runs into \(cliDir)")
    let (code, _) = capture(["/bin/sh", "-c", script, "sh", cliDir, pinned("CLAUDE_AGENT_SDK_VERSION"), pinned("CODEX_CLI_VERSION")],
                            environment: ProcessInfo.processInfo.environment)
    guard code == 0 else { bench.fail("cannot fetch the CLIs; see \(bench.work)/stderr.log or give --cli-dir") }
}

// MARK: - Upstream and daemon

let keys = (openai: "sk-bench-\(getpid())", anthropic: "sk-ant-bench-\(getpid())")
let upstream = Process()
upstream.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
upstream.arguments = [packageRoot + "/Tests/Fixtures/agent-upstream.py", "--port-file", bench.work + "/upstream.port",
                      "--record", "/dev/null", "--openai-key", keys.openai, "--anthropic-key", keys.anthropic]
upstream.standardError = FileHandle.nullDevice
try upstream.run()
defer { upstream.terminate() }
var port = ""
for _ in 0..<100 where port.isEmpty {
    port = (try? String(contentsOfFile: bench.work + "/upstream.port", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
    usleep(50_000)
}
guard !port.isEmpty else { bench.fail("the scripted upstream did not start") }
let upstreamURL = "http://127.0.0.1:\(port)"

setenv("ANTHROPIC_API_KEY", keys.anthropic, 1)
setenv("OPENAI_API_KEY", keys.openai, 1)
setenv("WARREN_ANTHROPIC_BASE_URL", upstreamURL, 1)
setenv("WARREN_OPENAI_BASE_URL", upstreamURL, 1)
let (daemon, client) = try bench.startDaemon()
defer { daemon.terminate(); daemon.waitUntilExit() }
/// `KEY=VALUE` entries as a dictionary.
func dictionary(_ entries: [String]) -> [String: String] {
    Dictionary(entries.map { entry -> (String, String) in
        let kv = entry.split(separator: "=", maxSplits: 1)
        return (String(kv[0]), kv.count > 1 ? String(kv[1]) : "")
    }) { _, last in last }
}
let clientEnv = dictionary(client)
func warren(_ args: [String]) -> (Int32, String) { capture([bench.warren] + args, environment: clientEnv) }
guard warren(["image", "import", "--tag", "warren-agent:latest", imageTar]).0 == 0 else { bench.fail("cannot import \(imageTar)") }

/// A directory any sandbox id can write (the native driver's root writes as its own id there).
func workspace(_ name: String) -> String {
    let dir = bench.work + "/" + name
    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    chmod(dir, 0o777)
    return dir
}

// MARK: - One CLI

/// The CLI's command line and environment on the host, as Warren builds them in the sandbox.
func hostTurn(_ provider: any AgentProvider, _ prompt: String, conversation: String?, home: String) -> ([String], [String]) {
    let inv = provider.invocation(for: AgentTurn(number: 1, prompt: prompt, conversationID: conversation))
    var args = inv.arguments
    args[0] = cliDir + "/" + args[0]
    args = args.map { $0.hasPrefix("model_providers.warren.base_url=") ? "model_providers.warren.base_url=\"\(upstreamURL)/v1\"" : $0 }
    let env = inv.environment + ["PATH=/usr/local/bin:/usr/bin:/bin", "HOME=\(home)", "CODEX_HOME=\(home)/.codex",
                                 "ANTHROPIC_BASE_URL=\(upstreamURL)", "ANTHROPIC_API_KEY=\(keys.anthropic)",
                                 "OPENAI_API_KEY=\(keys.openai)"]
    return (["/bin/sh", "-c", "cd \"$0\" && exec \"$@\"", home + "/ws"] + args, env)
}

func waitIdle(_ name: String) {
    for _ in 0..<600 {
        let (_, out) = warren(["agent", "inspect", name])
        if out.contains("\"state\" : \"idle\"") || out.contains("\"state\":\"idle\"") { return }
        if out.contains("\"failed\"") { bench.fail("session \(name) failed: \(out.prefix(2000))") }
        usleep(50_000)
    }
    bench.fail("session \(name) never became idle")
}

for provider in [ClaudeCodeProvider(), CodexProvider()] as [any AgentProvider] {
    let name = provider.name
    let home = workspace("home-\(name)")
    _ = workspace("home-\(name)/ws")
    try? FileManager.default.createDirectory(atPath: home + "/.codex", withIntermediateDirectories: true)
    // The host's conversation for follow-ups, begun like the session's.
    let (first, firstEnv) = hostTurn(provider, "write notes.txt: hello", conversation: nil, home: home)
    let (code, out) = capture(first, environment: dictionary(firstEnv))
    var parser = provider.makeParser()
    let conversation = out.split(separator: "\n").compactMap { parser.parse(line: String($0)).conversationID }.last
    guard code == 0, let conversation else { bench.fail("\(name) on the host failed (exit \(code)); see \(bench.work)/stderr.log") }
    // The session's conversation for follow-ups.
    let follow = "follow-\(name)"
    guard warren(["agent", "run", "-d", "--name", follow, "--provider", name, "--workspace", workspace("ws-\(follow)"),
                  "write notes.txt: hello"]).0 == 0 else { bench.fail("cannot start session \(follow)") }
    waitIdle(follow)

    var series = [Series(name: "\(name) host, first turn", argv: []), Series(name: "\(name) warren, first turn", argv: []),
                  Series(name: "\(name) host, follow-up", argv: []), Series(name: "\(name) warren, follow-up", argv: [])]
    for round in 0..<(bench.runs + 1) {
        let prompt = "write notes-\(round).txt: more"
        let (hostFirst, env1) = hostTurn(provider, prompt, conversation: nil, home: home)
        let (hostFollow, env2) = hostTurn(provider, prompt, conversation: conversation, home: home)
        let session = "first-\(name)-\(round)"
        let runs: [([String], [String])] = [
            (hostFirst, env1),
            ([bench.warren, "agent", "run", "--name", session, "--provider", name, "--workspace", workspace("ws-\(session)"), prompt], client),
            (hostFollow, env2),
            ([bench.warren, "agent", "send", follow, prompt], client),
        ]
        for (i, run) in runs.enumerated() {
            let (status, ms) = bench.timed(run.0, environment: run.1)
            if status != 0 { bench.fail("\(series[i].name) exited \(status); see \(bench.work)/stderr.log") }
            if round > 0 { series[i].samples.append(ms) }
        }
        _ = warren(["agent", "rm", session])
    }
    _ = warren(["agent", "rm", follow])
    bench.report("\(name): a turn of one file write (two model calls, one tool run)", series, baseline: "\(name) host, first turn")
    let added = series[1].median - series[0].median
    print(String(format: "  %@ first turn: Warren adds %.0f ms (target ≤ 300 ms); follow-up ratio %.2fx (target ≤ 1.20x)",
                 name, added, series[3].median / series[2].median))
}
