import WarrenCore

/// Any program: the prompt is its last argument, each line it prints is assistant text,
/// and its exit code is the turn's outcome.
public struct CommandProvider: AgentProvider {
    public let name = "command"
    public let llmProviders: [String] = []
    public init() {}

    public func validate(_ spec: AgentSpec) throws {
        guard !spec.command.isEmpty else {
            throw WarrenError(.invalidArgument, "the command provider needs a command (\"command\": [PROGRAM, ARG...])")
        }
    }

    public func invocation(for turn: AgentTurn) -> AgentInvocation {
        AgentInvocation(arguments: turn.command + [turn.prompt], environment: ["WARREN_AGENT_TURN=\(turn.number)"])
    }

    /// The program on a terminal, with the prompt as its last argument when there is one.
    public func interactiveInvocation(for turn: AgentTurn) -> AgentInvocation {
        AgentInvocation(arguments: turn.command + (turn.prompt.isEmpty ? [] : [turn.prompt]),
                        environment: ["WARREN_AGENT_TURN=\(turn.number)"])
    }

    public func makeParser() -> any AgentOutputParser { Parser() }

    struct Parser: AgentOutputParser {
        var lastLine: String?

        mutating func parse(line: String) -> ParsedOutput {
            lastLine = line
            return ParsedOutput(events: [.text(.assistantText, Excerpt.of(line, max: 16_000))])
        }

        mutating func finish(exitCode: Int32, stderrTail: String) -> [AgentEvent] {
            var events: [AgentEvent] = []
            if exitCode != 0 {
                events.append(.text(.error, "the command exited with \(exitCode)" + (stderrTail.isEmpty ? "" : ": \(stderrTail)")))
            }
            var done = AgentEvent(type: .turnCompleted)
            done.ok = exitCode == 0
            done.result = lastLine
            events.append(done)
            return events
        }
    }
}
