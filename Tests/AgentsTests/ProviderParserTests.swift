import Agents
import Testing
import WarrenCore

/// The CLIs' output lines (shapes as Claude Code 2.1 and Codex 0.163 print them) become
/// the one event schema.
@Suite("Agent output parsers")
struct ProviderParserTests {
    func parse(_ provider: String, _ lines: [String], exit: Int32 = 0) throws -> (events: [AgentEvent], conversation: String?) {
        var parser = try AgentProviders.named(provider).makeParser()
        var events: [AgentEvent] = []
        var conversation: String?
        for line in lines {
            let out = parser.parse(line: line)
            events += out.events
            conversation = out.conversationID ?? conversation
        }
        events += parser.finish(exitCode: exit, stderrTail: "")
        return (events, conversation)
    }

    @Test("Claude Code: init, text, a tool call and its result by id, usage and the result")
    func claude() throws {
        let (events, conversation) = try parse("claude", [
            #"{"type":"system","subtype":"init","cwd":"/workspace","session_id":"s-1","tools":["Bash","Write"]}"#,
            #"{"type":"assistant","message":{"id":"m1","content":[{"type":"text","text":"Writing it."}]},"session_id":"s-1"}"#,
            #"{"type":"assistant","message":{"id":"m1","content":[{"type":"tool_use","id":"toolu_1","name":"Write","input":{"file_path":"/workspace/a.txt","content":"hi"}}]}}"#,
            #"{"type":"user","message":{"content":[{"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"File created"}]}]}}"#,
            #"{"type":"user","message":{"content":[{"type":"tool_result","tool_use_id":"toolu_2","content":"Exit code 2\nls: nope","is_error":true}]}}"#,
            "not json at all",
            #"{"type":"result","subtype":"success","is_error":false,"result":"done","duration_ms":177,"usage":{"input_tokens":10,"cache_read_input_tokens":5,"output_tokens":7},"session_id":"s-1"}"#,
        ])
        #expect(conversation == "s-1")
        #expect(events.map(\.type) == [.assistantText, .toolCall, .toolResult, .toolResult, .usage, .turnCompleted])
        #expect(events[1].tool == "Write" && events[1].input?["file_path"]?.stringValue == "/workspace/a.txt")
        #expect(events[2].tool == "Write" && events[2].ok == true && events[2].excerpt == "File created")
        #expect(events[3].ok == false && events[3].excerpt == "Exit code 2\nls: nope")
        #expect(events[4].inputTokens == 15 && events[4].outputTokens == 7)
        #expect(events[5].ok == true && events[5].result == "done" && events[5].durationMs == 177)
    }

    @Test("Claude Code: a 429 result with subtype success is a failed turn with the CLI's reason")
    func claudeRefused() throws {
        let (events, _) = try parse("claude", [
            #"{"type":"result","subtype":"success","is_error":true,"result":"API Error: Request rejected (429) · budget","api_error_status":429}"#,
        ], exit: 1)
        #expect(events.map(\.type) == [.error, .turnCompleted])
        #expect(events[0].text == "API Error: Request rejected (429) · budget" && events[1].ok == false)
    }

    @Test("a CLI that dies without its final line: an error and a failed turn")
    func crashed() throws {
        for provider in ["claude", "codex"] {
            let (events, _) = try parse(provider, [], exit: 137)
            #expect(events.map(\.type) == [.error, .turnCompleted] && events[1].ok == false, "\(provider)")
            #expect(events[0].text?.contains("exited with 137") == true)
        }
    }

    @Test("Codex: thread id, a command's call and result, a message, usage and the turn")
    func codex() throws {
        let (events, conversation) = try parse("codex", [
            #"{"type":"thread.started","thread_id":"01a2"}"#,
            #"{"type":"turn.started"}"#,
            #"{"type":"item.started","item":{"id":"item_0","type":"command_execution","command":"/bin/bash -lc 'ls'","aggregated_output":"","exit_code":null,"status":"in_progress"}}"#,
            #"{"type":"item.completed","item":{"id":"item_0","type":"command_execution","command":"/bin/bash -lc 'ls'","aggregated_output":"a.txt\n","exit_code":0,"status":"completed"}}"#,
            #"{"type":"item.completed","item":{"id":"item_1","type":"command_execution","command":"false","aggregated_output":"","exit_code":1,"status":"failed"}}"#,
            #"{"type":"item.completed","item":{"id":"item_2","type":"agent_message","text":"done: wrote a.txt"}}"#,
            #"{"type":"turn.completed","usage":{"input_tokens":30,"cached_input_tokens":0,"output_tokens":9}}"#,
        ])
        #expect(conversation == "01a2")
        #expect(events.map(\.type) == [.toolCall, .toolResult, .toolResult, .assistantText, .usage, .turnCompleted])
        #expect(events[0].tool == "shell" && events[0].input?["command"]?.stringValue == "/bin/bash -lc 'ls'")
        #expect(events[1].ok == true && events[1].excerpt == "a.txt\n" && events[2].ok == false)
        #expect(events[5].ok == true && events[5].result == "done: wrote a.txt")
    }

    @Test("Codex: retries and a failed turn after a 429")
    func codexRefused() throws {
        let (events, _) = try parse("codex", [
            #"{"type":"error","message":"Reconnecting... 1/5 (last status: 429 Too Many Requests)"}"#,
            #"{"type":"turn.failed","error":{"message":"exceeded retry limit, last status: 429 Too Many Requests"}}"#,
        ], exit: 1)
        #expect(events.map(\.type) == [.error, .error, .turnCompleted] && events[2].ok == false)
        #expect(events[1].text == "exceeded retry limit, last status: 429 Too Many Requests")
    }

    @Test("invocations: resume ids, the model, the prompt after --, the facade as Codex's provider")
    func invocations() throws {
        let first = ClaudeCodeProvider().invocation(for: AgentTurn(number: 1, prompt: "-rf /", model: "m", maxTurns: 3))
        #expect(first.arguments.suffix(2) == ["--", "-rf /"] && !first.arguments.contains("--resume"))
        #expect(first.environment.contains("IS_SANDBOX=1"))
        let again = ClaudeCodeProvider().invocation(for: AgentTurn(number: 2, prompt: "more", conversationID: "s-1"))
        #expect(again.arguments.firstIndex(of: "--resume").map { again.arguments[$0 + 1] } == "s-1")
        let codex = CodexProvider().invocation(for: AgentTurn(number: 2, prompt: "more", conversationID: "t-1"))
        #expect(Array(codex.arguments.prefix(3)) == ["codex", "exec", "resume"])
        #expect(codex.arguments.suffix(3) == ["t-1", "--", "more"])
        #expect(codex.arguments.contains("model_providers.warren.base_url=\"http://127.0.0.1:9400/v1\""))
        #expect(codex.arguments.contains("model_providers.warren.stream_max_retries=0"))
    }
}
