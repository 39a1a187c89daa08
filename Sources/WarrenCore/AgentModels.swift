import Foundation

/// What `POST /v1/agents` asks for: an agent CLI (a provider) on a workspace, in a
/// sandbox of its own, with a first prompt.
public struct AgentSpec: Codable, Sendable, Equatable {
    public var name: String?
    /// `claude`, `codex` or `command`.
    public var provider: String
    public var model: String?
    public var prompt: String
    public var systemPrompt: String?
    /// Most model turns (tool round trips) the CLI takes per prompt.
    public var maxTurns: Int?
    /// The program of the `command` provider; the prompt is its last argument.
    public var command: [String]
    /// A host directory mounted read-write at `/workspace`.
    public var workspace: String?
    /// A host git repository, `PATH[@REF]`, or a remote one, `URL[@REF]` (cloned by the
    /// daemon with the host's credentials): the agent works on a worktree of its own on
    /// branch `warren/<session>`, committed at the end of each turn.
    public var repo: String?
    /// The image the sandbox runs (default `warren-agent:latest`), or a root filesystem.
    public var image: String?
    public var rootfs: String?
    public var driver: String?
    /// Budgets and limits of the session's LLM access; its providers follow the agent's.
    public var llm: LLMAccess?
    /// Hosts the agent may reach through its sandbox's egress proxy; nil gives none.
    public var egress: EgressAccess?
    public var limits: ResourceLimits
    public var network: NetworkMode
    public var env: [String]
    public var labels: [String: String]
    /// The session begins without a headless turn: its turns are the CLI's own terminal
    /// (`POST /v1/agents/{id}/attach`), the prompt (which may be empty) its first message.
    public var interactive: Bool

    public init(provider: String = "claude", prompt: String, model: String? = nil, name: String? = nil) {
        self.provider = provider; self.prompt = prompt; self.model = model; self.name = name
        command = []; limits = ResourceLimits(); network = .none; env = []; labels = [:]; interactive = false
    }

    enum CodingKeys: String, CodingKey {
        case name, provider, model, prompt, systemPrompt, maxTurns, command, workspace, repo, image, rootfs, driver
        case llm, egress, limits, network, env, labels, interactive
    }

    /// Only `prompt` is required (and not for an interactive session); `provider` defaults to `claude`.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decodeIfPresent(String.self, forKey: .name)
        provider = try c.decodeIfPresent(String.self, forKey: .provider) ?? "claude"
        model = try c.decodeIfPresent(String.self, forKey: .model)
        interactive = try c.decodeIfPresent(Bool.self, forKey: .interactive) ?? false
        prompt = interactive ? try c.decodeIfPresent(String.self, forKey: .prompt) ?? "" : try c.decode(String.self, forKey: .prompt)
        systemPrompt = try c.decodeIfPresent(String.self, forKey: .systemPrompt)
        maxTurns = try c.decodeIfPresent(Int.self, forKey: .maxTurns)
        command = try c.decodeIfPresent([String].self, forKey: .command) ?? []
        workspace = try c.decodeIfPresent(String.self, forKey: .workspace)
        repo = try c.decodeIfPresent(String.self, forKey: .repo)
        image = try c.decodeIfPresent(String.self, forKey: .image)
        rootfs = try c.decodeIfPresent(String.self, forKey: .rootfs)
        driver = try c.decodeIfPresent(String.self, forKey: .driver)
        llm = try c.decodeIfPresent(LLMAccess.self, forKey: .llm)
        egress = try c.decodeIfPresent(EgressAccess.self, forKey: .egress)
        limits = try c.decodeIfPresent(ResourceLimits.self, forKey: .limits) ?? ResourceLimits()
        network = try c.decodeIfPresent(NetworkMode.self, forKey: .network) ?? .none
        env = try c.decodeIfPresent([String].self, forKey: .env) ?? []
        labels = try c.decodeIfPresent([String: String].self, forKey: .labels) ?? [:]
    }

    /// The image an agent runs when it names none.
    public static let defaultImage = "warren-agent:latest"
    /// Where the workspace is mounted in the sandbox.
    public static let workspacePath = "/workspace"
    /// The most bytes of one prompt.
    public static let maxPromptBytes = 256 << 10
}

/// Opens a session's CLI on a terminal: the first line of `POST /v1/agents/{id}/attach`,
/// after which the client streams `AttachInput` lines as for `exec`.
public struct AgentAttachRequest: Codable, Sendable, Equatable {
    public var consoleSize: TerminalSize?
    /// The client's `TERM` (default `xterm-256color`).
    public var term: String?
    public init(consoleSize: TerminalSize? = nil, term: String? = nil) { self.consoleSize = consoleSize; self.term = term }

    public func validate() throws {
        if let term {
            try InputRules.text(term, "term", maxBytes: 64, allowEmpty: false)
            guard term.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.+".contains($0)) }) else {
                throw WarrenError(.invalidArgument, "term '\(term.prefix(64))' is not a terminal type name")
            }
        }
    }
}

/// A follow-up turn: `POST /v1/agents/{id}/turns`.
public struct AgentTurnRequest: Codable, Sendable, Equatable {
    public var prompt: String
    public init(prompt: String) { self.prompt = prompt }
}

/// The git branch an agent session works on.
public struct AgentBranch: Codable, Sendable, Equatable {
    /// The host repository (its top directory).
    public var repository: String
    /// `warren/<session>`.
    public var name: String
    /// The commit the branch began at.
    public var base: String
    /// The branch's newest commit.
    public var head: String?
    /// The remote repository's URL, for a session on a clone of one.
    public var remote: String?
    /// The commit last pushed to the remote's branch of the same name.
    public var pushed: String?
    public init(repository: String, name: String, base: String, head: String? = nil) {
        self.repository = repository; self.name = name; self.base = base; self.head = head
    }
}

/// An agent session as the API shows it.
public struct AgentInfo: Codable, Sendable, Equatable {
    public var id: String
    public var name: String?
    public var provider: String
    public var model: String?
    public var state: AgentState
    /// The sandbox the session runs in; nil once it is removed.
    public var sandboxID: String?
    public var spec: AgentSpec
    public var branch: AgentBranch?
    /// Turns begun so far.
    public var turns: Int
    /// The CLI's own conversation id, which follow-up turns resume.
    public var conversationID: String?
    /// The last turn's final answer.
    public var result: String?
    /// Why the session failed or stopped.
    public var error: String?
    public var createdAt: Date
    public var updatedAt: Date
    /// What the session used through the LLM facade, kept after its sandbox is gone.
    public var usage: [LLMUsage]
    /// The sequence number of its newest event.
    public var lastEvent: Int64 = 0

    public init(id: String, name: String?, spec: AgentSpec, state: AgentState, createdAt: Date) {
        self.id = id; self.name = name; self.provider = spec.provider; self.model = spec.model; self.state = state
        self.spec = spec; self.turns = 0; self.createdAt = createdAt; self.updatedAt = createdAt; self.usage = []
    }
}

/// A line the CLI printed, as it printed it (`GET /v1/agents/{id}/raw`), kept up to
/// `maxBytesPerSession` per session; what lies beyond is marked by one last line.
public struct AgentRawLine: Codable, Sendable, Equatable {
    public var turn: Int
    /// From 1 within its turn.
    public var line: Int
    public var text: String
    public init(turn: Int, line: Int, text: String) { self.turn = turn; self.line = line; self.text = text }

    public static let maxBytesPerSession = 4 << 20
    public static let capped = "(warren: the CLI's further raw output is not kept: over 4 MiB)"
}

/// One thing an agent did, in one schema for every provider.
public struct AgentEvent: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable, CaseIterable {
        case sessionStarted = "session_started"
        case turnStarted = "turn_started"
        case assistantText = "assistant_text"
        case toolCall = "tool_call"
        case toolResult = "tool_result"
        case usage
        case turnCompleted = "turn_completed"
        case error
        case sessionEnded = "session_ended"
    }

    /// Per session, from 1, without gaps.
    public var seq: Int64
    public var session: String
    public var time: Date
    public var turn: Int
    public var type: Kind
    /// Assistant text, a prompt (turn started), or an error message.
    public var text: String?
    /// A tool's name.
    public var tool: String?
    /// The CLI's id of a tool call, which its result names too.
    public var callID: String?
    public var input: JSONValue?
    public var ok: Bool?
    /// The start of a tool's result.
    public var excerpt: String?
    /// A turn's final answer.
    public var result: String?
    public var durationMs: Int64?
    public var inputTokens: Int64?
    public var outputTokens: Int64?
    /// A session's final state (session ended).
    public var state: AgentState?

    public init(seq: Int64 = 0, session: String = "", time: Date = Date(), turn: Int = 0, type: Kind) {
        self.seq = seq; self.session = session; self.time = time; self.turn = turn; self.type = type
    }

    public static func text(_ kind: Kind, _ text: String) -> AgentEvent {
        var e = AgentEvent(type: kind)
        e.text = text
        return e
    }
}
