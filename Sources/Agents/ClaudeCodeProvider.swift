import WarrenCore

/// Claude Code, headless: `claude -p` with `stream-json` output, resumed by session id.
/// It reaches Anthropic through the facade (`ANTHROPIC_BASE_URL` and the session's token
/// in the sandbox's environment).
public struct ClaudeCodeProvider: AgentProvider {
    public let name = "claude"
    public let llmProviders = ["anthropic"]
    public init() {}

    public func invocation(for turn: AgentTurn) -> AgentInvocation {
        AgentInvocation(arguments: ["claude", "-p", "--output-format", "stream-json", "--verbose"] + options(turn)
                            + ["--", turn.prompt], environment: Self.environment)
    }

    /// Claude Code's own terminal interface, resuming the conversation. Its first-run
    /// screens (theme, the bypass-permissions warning, trusting the folder, using the
    /// key it finds, which is the facade's session token) are answered
    /// in its settings first: the session already chose to run it sandboxed, unattended.
    public func interactiveInvocation(for turn: AgentTurn) -> AgentInvocation {
        AgentInvocation(arguments: ["/bin/sh", "-c", Self.onboarded + "\nexec claude \"$@\"", "claude"] + options(turn)
                            + (turn.prompt.isEmpty ? [] : ["--", turn.prompt]),
                        environment: Self.environment)
    }

    /// Marks `~/.claude.json` onboarded, trusting the working directory (python3 merges it
    /// into what is there; without python3 it is written only when missing).
    static let onboarded = #"""
        f="$HOME/.claude.json"; d="$(pwd)"
        if command -v python3 >/dev/null 2>&1; then
        python3 - "$f" "$d" <<'PY' || true
        import json, os, sys
        path, cwd = sys.argv[1], sys.argv[2]
        try:
            with open(path) as fh: settings = json.load(fh)
        except (OSError, ValueError):
            settings = {}
        settings.update(hasCompletedOnboarding=True, bypassPermissionsModeAccepted=True, theme=settings.get("theme", "dark"))
        settings.setdefault("projects", {}).setdefault(cwd, {})["hasTrustDialogAccepted"] = True
        key = os.environ.get("ANTHROPIC_API_KEY", "")
        if key:  # the facade's session token: Claude Code asks once whether to use a key it finds
            responses = settings.setdefault("customApiKeyResponses", {"approved": [], "rejected": []})
            if key[-20:] not in responses.setdefault("approved", []): responses["approved"].append(key[-20:])
        with open(path + ".warren", "w") as fh: json.dump(settings, fh)
        os.replace(path + ".warren", path)
        PY
        elif [ ! -e "$f" ]; then
        printf '{"hasCompletedOnboarding":true,"bypassPermissionsModeAccepted":true,"theme":"dark","projects":{"%s":{"hasTrustDialogAccepted":true}}}' "$d" > "$f"
        fi
        """#

    func options(_ turn: AgentTurn) -> [String] {
        var args = ["--dangerously-skip-permissions"]
        if let model = turn.model { args += ["--model", model] }
        if let maxTurns = turn.maxTurns { args += ["--max-turns", String(maxTurns)] }
        if let system = turn.systemPrompt { args += ["--append-system-prompt", system] }
        if let conversation = turn.conversationID { args += ["--resume", conversation] }
        return args
    }

    static let environment = [
        // Root in a sandbox may skip permission prompts only when it says it is sandboxed.
        "IS_SANDBOX=1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1",
        "DISABLE_AUTOUPDATER=1",
        "CLAUDE_CODE_MAX_RETRIES=0",
    ]

    public func makeParser() -> any AgentOutputParser { Parser() }

    struct Parser: AgentOutputParser {
        var toolNames: [String: String] = [:]
        var completed = false

        mutating func parse(line: String) -> ParsedOutput {
            guard let json = JSONValue.parse(line), let type = json["type"]?.stringValue else {
                return ParsedOutput()
            }
            var out = ParsedOutput()
            switch type {
            case "system":
                out.conversationID = json["session_id"]?.stringValue
            case "assistant":
                for block in json["message"]?["content"]?.arrayValue ?? [] {
                    switch block["type"]?.stringValue {
                    case "text":
                        if let text = block["text"]?.stringValue, !text.isEmpty { out.events.append(.text(.assistantText, text)) }
                    case "tool_use":
                        var e = AgentEvent(type: .toolCall)
                        e.tool = block["name"]?.stringValue
                        e.callID = block["id"]?.stringValue
                        e.input = block["input"]
                        if let id = e.callID, let name = e.tool { toolNames[id] = name }
                        out.events.append(e)
                    default:
                        break
                    }
                }
            case "user":
                for block in json["message"]?["content"]?.arrayValue ?? [] where block["type"]?.stringValue == "tool_result" {
                    var e = AgentEvent(type: .toolResult)
                    e.callID = block["tool_use_id"]?.stringValue
                    e.tool = e.callID.flatMap { toolNames[$0] }
                    e.ok = !(block["is_error"]?.boolValue ?? false)
                    e.excerpt = Excerpt.of(Self.text(of: block["content"]))
                    out.events.append(e)
                }
            case "result":
                completed = true
                let failed = json["is_error"]?.boolValue ?? (json["subtype"]?.stringValue != "success")
                if let usage = json["usage"] {
                    var u = AgentEvent(type: .usage)
                    u.inputTokens = (usage["input_tokens"]?.intValue ?? 0) + (usage["cache_read_input_tokens"]?.intValue ?? 0)
                        + (usage["cache_creation_input_tokens"]?.intValue ?? 0)
                    u.outputTokens = usage["output_tokens"]?.intValue ?? 0
                    out.events.append(u)
                }
                let result = json["result"]?.stringValue
                if failed {
                    out.events.append(.text(.error, result ?? json["subtype"]?.stringValue ?? "the turn failed"))
                }
                var done = AgentEvent(type: .turnCompleted)
                done.ok = !failed
                done.result = result
                done.durationMs = json["duration_ms"]?.intValue
                out.events.append(done)
                out.conversationID = json["session_id"]?.stringValue
            default:
                break
            }
            return out
        }

        mutating func finish(exitCode: Int32, stderrTail: String) -> [AgentEvent] {
            completed ? [] : AgentEvent.unfinishedTurn("claude", exitCode: exitCode, stderrTail: stderrTail)
        }

        /// A tool result's content: a string, or text blocks.
        static func text(of content: JSONValue?) -> String {
            switch content {
            case .string(let s): return s
            case .array(let blocks): return blocks.compactMap { $0["text"]?.stringValue }.joined(separator: "\n")
            default: return ""
            }
        }
    }
}
