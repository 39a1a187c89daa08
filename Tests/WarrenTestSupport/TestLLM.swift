import Foundation
import LinuxSupport
import WarrenCore

/// The local upstream the LLM facade forwards to in tests (`Tests/Fixtures/llm-upstream.py`):
/// it speaks both providers' protocols and records every request it receives.
public final class TestLLMUpstream: @unchecked Sendable {
    public let openAIKey = "sk-test-openai-" + UUID().uuidString.prefix(8)
    public let anthropicKey = "sk-ant-test-" + UUID().uuidString.prefix(8)
    public let port: Int
    let dir: String
    let process: Process

    /// Starts `script` (a fixture speaking both providers' protocols): `llm-upstream.py`, or
    /// `agent-upstream.py`, which scripts the tool calls of real agent CLIs.
    public init(script: String = "llm-upstream.py") throws {
        dir = "/tmp/warren-llm-upstream-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        p.arguments = [Fixture.path(script), "--port-file", dir + "/port", "--record", dir + "/requests.jsonl",
                       "--openai-key", openAIKey, "--anthropic-key", anthropicKey]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try p.run()
        process = p
        var port = 0
        for _ in 0..<200 {
            if let text = try? String(contentsOfFile: dir + "/port", encoding: .utf8), let value = Int(text) { port = value; break }
            usleep(25_000)
        }
        guard port > 0 else { p.terminate(); throw WarrenError(.unavailable, "the LLM test upstream did not start") }
        self.port = port
    }

    public var baseURL: String { "http://127.0.0.1:\(port)" }

    /// The daemon environment pointing the facade here with the real keys.
    public var daemonEnvironment: [String: String] {
        ["OPENAI_API_KEY": openAIKey, "ANTHROPIC_API_KEY": anthropicKey,
         "WARREN_OPENAI_BASE_URL": baseURL, "WARREN_ANTHROPIC_BASE_URL": baseURL]
    }

    /// One request as the upstream received it.
    public struct Received: Sendable {
        public var method: String
        public var path: String
        public var headers: [String: String]
        /// The JSON body as text.
        public var body: String
    }

    /// Every request received so far, oldest first.
    public func received() -> [Received] {
        guard let text = try? String(contentsOfFile: dir + "/requests.jsonl", encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { line in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return nil }
            let body = object["body"].flatMap { $0 is NSNull ? nil : try? JSONSerialization.data(withJSONObject: $0) }
            return Received(method: object["method"] as? String ?? "", path: object["path"] as? String ?? "",
                            headers: object["headers"] as? [String: String] ?? [:],
                            body: body.map { String(decoding: $0, as: UTF8.self) } ?? "")
        }
    }

    /// Every byte received, headers and bodies, to search for what must never arrive.
    public func everythingReceived() -> String {
        (try? String(contentsOfFile: dir + "/requests.jsonl", encoding: .utf8)) ?? ""
    }

    public func stop() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitForExit() }
        try? removeTree(dir)
    }
}

/// The official `openai` and `anthropic` Python SDKs, from PyPI, in a venv made once per
/// machine (`/tmp/warren-llm-venv`) from Debian's python3 so sandboxes can run it too.
public enum PythonSDKs {
    public static let venv = "/tmp/warren-llm-venv"
    static let shared: Result<String, any Error> = Result { try install() }

    /// The venv's directory once both SDKs import.
    public static func path() throws -> String { try shared.get() }

    static func install() throws -> String {
        let python = venv + "/bin/python"
        if (try? TestRootfs.run(blocking: python, ["-c", "import openai, anthropic, requests, websocket"])) != nil { return venv }
        try? removeTree(venv)
        _ = try TestRootfs.run(blocking: "/usr/bin/python3", ["-m", "venv", venv])
        _ = try TestRootfs.run(blocking: venv + "/bin/pip", ["install", "--quiet", "--disable-pip-version-check", "openai", "anthropic", "requests", "websocket-client"])
        _ = try TestRootfs.run(blocking: python, ["-c", "import openai, anthropic, requests, websocket"])
        return venv
    }

    /// A root filesystem for a native sandbox that runs the venv: the host's /usr (mounted
    /// read-only by the sandbox, with the venv at /venv and the fixtures at /fixtures).
    public static func sandboxRootfs() throws -> (rootfs: String, mounts: [String]) {
        let venv = try path()
        let root = "/tmp/warren-llm-rootfs"
        let fm = FileManager.default
        if !fm.fileExists(atPath: root + "/fixtures") {
            try? removeTree(root)
            for dir in ["usr", "etc", "tmp", "venv", "fixtures"] {
                try fm.createDirectory(atPath: root + "/" + dir, withIntermediateDirectories: true)
            }
            for link in ["bin", "lib", "lib64", "sbin"] {
                try fm.createSymbolicLink(atPath: root + "/" + link, withDestinationPath: "usr/" + link)
            }
        }
        return (root, ["--mount", "/usr:/usr:ro", "--mount", venv + ":/venv:ro",
                       "--mount", Fixture.path("") + ":/fixtures:ro"])
    }
}
