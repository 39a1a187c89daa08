import WarrenCore

/// Codex, headless: `codex exec --json`, resumed by thread id. Codex takes no base URL
/// from the environment, so Warren names the facade as a provider of its own that
/// speaks the Responses API with the session's token (`OPENAI_API_KEY` in the sandbox).
public struct CodexProvider: AgentProvider {
    public let name = "codex"
    public let llmProviders = ["openai"]
    public static let defaultModel = "gpt-5.5"
    /// `turn.completed` carries the thread's token totals so far.
    public let reportsRunningTotalUsage = true
    public init() {}

    public func invocation(for turn: AgentTurn) -> AgentInvocation {
        var args = ["codex", "exec"]
        if turn.conversationID != nil { args.append("resume") }
        args += ["--json", "--skip-git-repo-check", "--dangerously-bypass-approvals-and-sandbox"] + options(turn)
        if let conversation = turn.conversationID { args.append(conversation) }
        return AgentInvocation(arguments: args + ["--", turn.prompt])
    }

    /// Codex's own terminal interface, resuming the thread.
    public func interactiveInvocation(for turn: AgentTurn) -> AgentInvocation {
        var args = ["codex"]
        if turn.conversationID != nil { args.append("resume") }
        args += ["--dangerously-bypass-approvals-and-sandbox"] + options(turn)
        if let conversation = turn.conversationID { args.append(conversation) }
        return AgentInvocation(arguments: args + (turn.prompt.isEmpty ? [] : ["--", turn.prompt]))
    }

    /// The facade as a Responses provider of its own, the system prompt and the model.
    func options(_ turn: AgentTurn) -> [String] {
        var args: [String] = []
        for setting in [
            "model_providers.warren.name=\"warren\"",
            "model_providers.warren.base_url=\"http://127.0.0.1:\(LLMAccess.guestPort)/v1\"",
            "model_providers.warren.env_key=\"OPENAI_API_KEY\"",
            "model_providers.warren.wire_api=\"responses\"",
            "model_providers.warren.request_max_retries=0",
            "model_providers.warren.stream_max_retries=0",
            "model_provider=\"warren\"",
        ] { args += ["-c", setting] }
        if let system = turn.systemPrompt { args += ["-c", "developer_instructions=\(Self.tomlString(system))"] }
        return args + ["-m", turn.model ?? Self.defaultModel]
    }

    public func makeParser() -> any AgentOutputParser { Parser() }

    /// A TOML basic string.
    static func tomlString(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 || u.value == 0x7f { out += String(format: "\\u%04X", u.value) } else { out.unicodeScalars.append(u) }
            }
        }
        return out + "\""
    }

    struct Parser: AgentOutputParser {
        var completed = false
        var lastMessage: String?

        mutating func parse(line: String) -> ParsedOutput {
            guard let json = JSONValue.parse(line), let type = json["type"]?.stringValue else { return ParsedOutput() }
            var out = ParsedOutput()
            switch type {
            case "thread.started":
                out.conversationID = json["thread_id"]?.stringValue
            case "item.started":
                if let item = json["item"], let call = Self.toolCall(item) { out.events.append(call) }
            case "item.completed":
                guard let item = json["item"] else { break }
                switch item["type"]?.stringValue {
                case "agent_message":
                    if let text = item["text"]?.stringValue {
                        lastMessage = text
                        out.events.append(.text(.assistantText, text))
                    }
                case "error":
                    out.events.append(.text(.error, item["message"]?.stringValue ?? "error"))
                case "command_execution", "file_change", "mcp_tool_call", "web_search":
                    // A file change is reported once, when done: its call and result together.
                    if item["type"]?.stringValue == "file_change", let call = Self.toolCall(item) { out.events.append(call) }
                    var e = AgentEvent(type: .toolResult)
                    e.callID = item["id"]?.stringValue
                    e.tool = Self.toolName(item)
                    let status = item["status"]?.stringValue
                    let exit = item["exit_code"]?.intValue
                    e.ok = status != "failed" && status != "declined" && (exit == nil || exit == 0)
                    e.excerpt = Excerpt.of(item["aggregated_output"]?.stringValue ?? item["result"]?.compactText ?? status ?? "")
                    out.events.append(e)
                default:
                    break
                }
            case "turn.completed":
                completed = true
                if let usage = json["usage"] {
                    var u = AgentEvent(type: .usage)
                    u.inputTokens = usage["input_tokens"]?.intValue ?? 0
                    u.outputTokens = usage["output_tokens"]?.intValue ?? 0
                    out.events.append(u)
                }
                var done = AgentEvent(type: .turnCompleted)
                done.ok = true
                done.result = lastMessage
                out.events.append(done)
            case "turn.failed":
                completed = true
                out.events.append(.text(.error, json["error"]?["message"]?.stringValue ?? "the turn failed"))
                var done = AgentEvent(type: .turnCompleted)
                done.ok = false
                out.events.append(done)
            case "error":
                out.events.append(.text(.error, json["message"]?.stringValue ?? "error"))
            default:
                break
            }
            return out
        }

        mutating func finish(exitCode: Int32, stderrTail: String) -> [AgentEvent] {
            completed ? [] : AgentEvent.unfinishedTurn("codex", exitCode: exitCode, stderrTail: stderrTail)
        }

        static func toolName(_ item: JSONValue) -> String {
            switch item["type"]?.stringValue {
            case "command_execution": "shell"
            case "file_change": "apply_patch"
            case "web_search": "web_search"
            default: item["tool"]?.stringValue ?? item["type"]?.stringValue ?? "tool"
            }
        }

        static func toolCall(_ item: JSONValue) -> AgentEvent? {
            var e = AgentEvent(type: .toolCall)
            e.callID = item["id"]?.stringValue
            e.tool = toolName(item)
            switch item["type"]?.stringValue {
            case "command_execution": e.input = .object(["command": item["command"] ?? .null])
            case "file_change": e.input = .object(["changes": item["changes"] ?? .null])
            case "mcp_tool_call": e.input = item["arguments"] ?? .null
            case "web_search": e.input = .object(["query": item["query"] ?? .null])
            default: return nil
            }
            return e
        }
    }
}
