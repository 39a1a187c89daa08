import WarrenCore

/// One turn of an agent session, as a provider turns it into a command line.
public struct AgentTurn: Sendable, Equatable {
    public var number: Int
    public var prompt: String
    public var model: String?
    public var systemPrompt: String?
    public var maxTurns: Int?
    /// The CLI's conversation to continue; nil on the first turn.
    public var conversationID: String?
    /// The `command` provider's program.
    public var command: [String]

    public init(number: Int, prompt: String, model: String? = nil, systemPrompt: String? = nil, maxTurns: Int? = nil,
                conversationID: String? = nil, command: [String] = []) {
        self.number = number; self.prompt = prompt; self.model = model; self.systemPrompt = systemPrompt
        self.maxTurns = maxTurns; self.conversationID = conversationID; self.command = command
    }
}

/// A program run for one turn: its arguments (argv[0] included) and what it adds to the
/// sandbox's environment.
public struct AgentInvocation: Sendable, Equatable {
    public var arguments: [String]
    public var environment: [String]
    public init(arguments: [String], environment: [String] = []) {
        self.arguments = arguments; self.environment = environment
    }
}

/// An agent CLI Warren drives headless: how a turn is started, and how its output lines
/// become `AgentEvent`s.
public protocol AgentProvider: Sendable {
    var name: String { get }
    /// The facade providers the CLI calls (its session's LLM access).
    var llmProviders: [String] { get }
    /// Refuses what the provider cannot do with `spec`.
    func validate(_ spec: AgentSpec) throws
    func invocation(for turn: AgentTurn) -> AgentInvocation
    /// The CLI on a terminal, for a person: its own interactive interface, resuming the
    /// session's conversation, with the turn's prompt (when not empty) as its first message.
    func interactiveInvocation(for turn: AgentTurn) -> AgentInvocation
    /// A parser for one turn's output.
    func makeParser() -> any AgentOutputParser
    /// Whether the CLI's usage is its conversation's running total rather than the turn's.
    var reportsRunningTotalUsage: Bool { get }
}

extension AgentProvider {
    public var reportsRunningTotalUsage: Bool { false }

    public func validate(_ spec: AgentSpec) throws {
        guard spec.command.isEmpty else {
            throw WarrenError(.invalidArgument, "command is for the command provider; \(name) runs its own CLI")
        }
    }
}

/// What one line of a CLI's output said.
public struct ParsedOutput: Sendable, Equatable {
    public var events: [AgentEvent] = []
    /// The CLI's conversation id, when the line names it.
    public var conversationID: String?
    public init(events: [AgentEvent] = [], conversationID: String? = nil) {
        self.events = events; self.conversationID = conversationID
    }
}

/// Turns a CLI's stdout, line by line, into events. One per turn; it may begin halfway
/// through a turn (a daemon restarted mid-turn), so no line depends on one before it
/// for more than a name.
public protocol AgentOutputParser: Sendable {
    mutating func parse(line: String) -> ParsedOutput
    /// The turn's program exited with `exitCode`; what is left to say (a turn that ended
    /// without its CLI's final line gets its `turn_completed` here).
    mutating func finish(exitCode: Int32, stderrTail: String) -> [AgentEvent]
}

/// The providers Warren knows.
public enum AgentProviders {
    public static let all: [any AgentProvider] = [ClaudeCodeProvider(), CodexProvider(), CommandProvider()]

    public static func named(_ name: String) throws -> any AgentProvider {
        guard let p = all.first(where: { $0.name == name }) else {
            throw WarrenError(.invalidArgument, "unknown agent provider \"\(name.prefix(64))\": use one of \(all.map(\.name).joined(separator: ", "))")
        }
        return p
    }
}

/// Shortening for what events carry of a tool's output.
public enum Excerpt {
    public static let maxBytes = 2_000

    public static func of(_ text: String, max: Int = maxBytes) -> String {
        guard text.utf8.count > max else { return text }
        var cut = text.utf8.prefix(max)
        while !cut.isEmpty, String(cut) == nil { cut = cut.dropLast() }
        return (String(cut) ?? "") + "…"
    }
}

extension AgentEvent {
    /// What a turn whose CLI exited before its final line says: why, and that it failed.
    public static func unfinishedTurn(_ cli: String, exitCode: Int32, stderrTail: String) -> [AgentEvent] {
        var done = AgentEvent(type: .turnCompleted)
        done.ok = false
        let why = "\(cli) exited with \(exitCode) before finishing the turn" + (stderrTail.isEmpty ? "" : ": \(stderrTail)")
        return [.text(.error, why), done]
    }
}
