import Agents
import Foundation
import LinuxSupport
import Testing
import WarrenCore

@Suite("Agent runner scripts")
struct AgentRunnerTests {
    /// Runs `script` with /bin/sh and returns what it printed.
    func sh(_ script: String, env: [String] = ["PATH=/usr/bin:/bin"]) async throws -> String {
        try await HostCommand.run(["/bin/sh", "-c", script], environment: env).stdout
    }

    @Test("any argument survives quoting byte for byte: quotes, newlines, \\$(...), backticks, a leading dash")
    func quoting() async throws {
        let nasty = ["it's", "a \"b\" $(touch /tmp/warren-pwned) `id`", "line\nbreak", "-rf", "", "'''", "\\ \\\\"]
        let script = "for a in " + nasty.map(AgentRunner.quote).joined(separator: " ") + "; do printf '%s\\0' \"$a\"; done"
        let out = try await sh(script)
        #expect(out.split(separator: "\0", omittingEmptySubsequences: false).dropLast().map(String.init) == nasty)
        #expect(!FileManager.default.fileExists(atPath: "/tmp/warren-pwned"))
    }

    @Test("a turn script enters the workdir, exports the provider's environment and execs the CLI with its arguments")
    func turnScript() async throws {
        let dir = NSTemporaryDirectory() + "warren-turn-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let inv = AgentInvocation(arguments: ["/bin/sh", "-c", "pwd; echo \"$GREETING\"; printf '%s\\n' \"$1\"", "x", "it's $(id)"],
                                  environment: ["GREETING=hello 'world'"])
        let out = try await sh(AgentRunner.turnScript(inv, workdir: dir))
        #expect(out == "\(dir)\nhello 'world'\nit's $(id)\n")
        let missing = try await HostCommand.run(["/bin/sh", "-c", AgentRunner.turnScript(inv, workdir: dir + "/nope")],
                                                environment: ["PATH=/usr/bin:/bin"])
        #expect(missing.status == 71)
    }

    @Test("a host command past its time limit is killed with its whole process group, and says so")
    func hostCommandTimeout() async throws {
        let marker = NSTemporaryDirectory() + "warren-timeout-\(UUID().uuidString.prefix(8))"
        let error = await #expect(throws: WarrenError.self) {
            // Not killed, this would return after 30 s with status 0; the child outlives its
            // parent shell unless the whole group is killed.
            try await HostCommand.run(["/bin/sh", "-c", "(sleep 3; touch \(marker)) & sleep 30"], environment: ["PATH=/usr/bin:/bin"],
                                      timeout: .milliseconds(300))
        }
        #expect(error?.code == .timeout && error?.message.contains("was killed") == true, "\(String(describing: error))")
        try await Task.sleep(for: .seconds(4))
        #expect(!FileManager.default.fileExists(atPath: marker), "the group's other process was killed too")
    }

    @Test("markers: start and end with the exit code; anything else is output")
    func markers() {
        #expect(AgentRunner.Marker(line: "\u{1E}warren-turn 3 start") == .start(turn: 3))
        #expect(AgentRunner.Marker(line: "\u{1E}warren-turn 3 end 130") == .end(turn: 3, exitCode: 130))
        #expect(AgentRunner.Marker(line: "warren-turn 3 start") == nil)
        #expect(AgentRunner.Marker(line: "\u{1E}warren-turn x start") == nil)
        #expect(AgentRunner.Marker(line: "\u{1E}warren-turn 3 end") == nil)
    }

    @Test("lines: split across chunks, an overlong line cut and marked, invalid UTF-8 kept readable")
    func lines() {
        var s = LineSplitter(maxLine: 8)
        #expect(s.feed(Array("ab".utf8)).isEmpty)
        #expect(s.feed(Array("c\nde\n".utf8)) == ["abc", "de"])
        #expect(s.feed(Array("0123456789abc\nz\n".utf8)) == ["01234567…", "z"])
        #expect(s.feed([0xff, 0x41, 0x0a]) == ["\u{FFFD}A"])
    }

    @Test("unknown providers are refused naming the known ones; command needs a command, the CLIs take none")
    func providers() throws {
        #expect(throws: WarrenError(.invalidArgument, "unknown agent provider \"gemini\": use one of claude, codex, command")) {
            try AgentProviders.named("gemini")
        }
        var spec = AgentSpec(provider: "command", prompt: "hi")
        #expect(throws: WarrenError.self) { try AgentProviders.named("command").validate(spec) }
        spec.command = ["/bin/echo"]
        try AgentProviders.named("command").validate(spec)
        #expect(throws: WarrenError.self) { try AgentProviders.named("claude").validate(spec) }
    }
}
