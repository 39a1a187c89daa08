import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import WarrenClient
import WarrenCore

/// `warren agent run|send|attach|ls|logs|inspect|diff|push|stop|rm`.
struct AgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent", abstract: "Run agent CLIs (Claude Code, Codex, any command) on a workspace.",
        subcommands: [Run.self, Send.self, Attach.self, List.self, Logs.self, Inspect.self, Diff.self, Push.self, Stop.self, Remove.self])

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Start an agent session and its first turn; follow it until the turn ends.",
            usage: "warren agent run [--provider claude|codex] [--repo PATH[@REF] | --repo URL[@REF] | --workspace DIR] PROMPT\n       warren agent run --provider command [OPTIONS] PROMPT -- COMMAND [ARG...]")
        @OptionGroup var client: ClientOptions
        @Option(help: "claude, codex or command.") var provider = "claude"
        @Option(help: "The model the CLI asks for.") var model: String?
        @Option(help: "A git repository PATH[@REF], or URL[@REF] cloned by the daemon with the host's git credentials: the agent works on branch warren/<session>, committed after each turn.")
        var repo: String?
        @Option(help: "A host directory mounted read-write at /workspace.") var workspace: String?
        @Option(help: "Image to run (default warren-agent:latest).") var image: String?
        @Option(help: "Host directory to use as the root filesystem instead of an image.") var rootfs: String?
        @Option(help: "Driver to use (default: the daemon's).") var driver: String?
        @Option(help: "Name of the session.") var name: String?
        @Option(name: .customLong("system-prompt"), help: "Added to the CLI's system prompt.") var systemPrompt: String?
        @Option(name: .customLong("max-turns"), help: "Most model round trips per prompt (Claude Code).") var maxTurns: Int?
        @Option(name: [.customShort("e"), .customLong("env")], help: "Set an environment variable (KEY=VALUE).") var env: [String] = []
        @Option(name: .customLong("label"), help: "Label KEY=VALUE.") var labels: [String] = []
        @Option(help: "Memory limit, e.g. 2g.") var memory: String?
        @Option(help: "Kill the session's sandbox after this many seconds.") var timeout: Double?
        @Option(name: .customLong("llm-models"), help: "Models the agent may use, comma-separated (default: any).") var llmModels: String?
        @Option(name: .customLong("llm-budget-tokens"), help: "Input plus output tokens the session may use in all.") var llmBudgetTokens: Int64?
        @Option(name: .customLong("llm-budget-requests"), help: "Model calls the session may make in all.") var llmBudgetRequests: Int64?
        @Option(name: .customLong("llm-rpm"), help: "Model calls per minute.") var llmRPM: Int?
        @OptionGroup(title: "Egress") var egress: EgressOptions
        @Flag(name: .shortAndLong, help: "Start in the background and print the session id.") var detach = false
        @Flag(help: "Print events as NDJSON.") var json = false
        @Flag(name: .customLong("interactive"),
              help: "Turns are the CLI's own terminal (agent attach); this attaches at once, the prompt its first message.")
        var interactive = false
        @Argument(help: "The first prompt (optional with --interactive).") var prompt: String = ""
        @Argument(parsing: .postTerminator, help: "The command provider's program, after --.") var command: [String] = []

        func run() async throws {
            var spec = AgentSpec(provider: provider, prompt: prompt, model: model, name: name)
            spec.repo = try repo.map { RepositoryURL.isRemote($0) ? $0 : try Self.absolute($0) }
            spec.workspace = try workspace.map(Self.absolute)
            spec.image = image
            spec.rootfs = try rootfs.map(Self.absolute)
            spec.driver = driver
            spec.systemPrompt = systemPrompt
            spec.maxTurns = maxTurns
            spec.env = env
            spec.labels = try Labels.parse(labels)
            spec.command = command
            spec.limits = ResourceLimits(memoryBytes: try memory.map(ByteSize.parse), timeoutSeconds: timeout)
            spec.egress = try egress.access()
            if llmModels != nil || llmBudgetTokens != nil || llmBudgetRequests != nil || llmRPM != nil {
                spec.llm = LLMAccess(providers: [], models: llmModels?.split(separator: ",").map(String.init) ?? [],
                                     budgetTokens: llmBudgetTokens, budgetRequests: llmBudgetRequests, requestsPerMinute: llmRPM)
            }
            spec.interactive = interactive
            try spec.validate()
            if interactive && !detach && !Terminal.isTerminal(STDIN_FILENO) {
                throw WarrenError(.invalidArgument, "the input device is not a TTY: --interactive needs a terminal (or -d, then agent attach)")
            }
            let warren = try client.client()
            let info = try await warren.createAgent(spec)
            if detach { return Output.line(info.id) }
            if interactive {
                Output.error("agent session \(info.id.prefix(12))" + (info.branch.map { " on branch \($0.name)" } ?? ""))
                throw ExitCode(try await attachTerminal(warren, info.id))
            }
            if !json { Output.error("agent session \(info.id.prefix(12))" + (info.branch.map { " on branch \($0.name)" } ?? "")) }
            try await follow(warren, info.id, since: 0, turn: 1, json: json)
        }

        /// `PATH[@REF]` or a directory made absolute against the current directory.
        static func absolute(_ path: String) throws -> String {
            path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        }
    }

    struct Send: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Run a follow-up turn in a session's conversation.")
        @OptionGroup var client: ClientOptions
        @Flag(name: .shortAndLong, help: "Do not follow the turn.") var detach = false
        @Flag(help: "Print events as NDJSON.") var json = false
        @Argument(help: "Session id, id prefix or name.") var session: String
        @Argument(help: "The prompt.") var prompt: String

        func run() async throws {
            try AgentSpec.validatePrompt(prompt)
            let warren = try client.client()
            let info = try await warren.sendAgent(session, prompt: prompt)
            if detach { return }
            try await follow(warren, info.id, since: max(0, info.lastEvent - 1), turn: info.turns, json: json)
        }
    }

    struct Attach: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Open an idle session's CLI on this terminal, resuming its conversation; exits with the CLI's code.")
        @OptionGroup var client: ClientOptions
        @Argument(help: "Session id, id prefix or name.") var session: String
        func run() async throws {
            guard Terminal.isTerminal(STDIN_FILENO) else {
                throw WarrenError(.invalidArgument, "the input device is not a TTY: agent attach needs a terminal")
            }
            throw ExitCode(try await attachTerminal(try client.client(), session))
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List agent sessions.")
        @OptionGroup var client: ClientOptions
        @Flag(name: .shortAndLong, help: "Only print ids.") var quiet = false
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let agents = try await client.client().listAgents()
            if json { return try Output.json(agents) }
            if quiet { return agents.forEach { Output.line(String($0.id.prefix(12))) } }
            Output.table(["SESSION", "NAME", "PROVIDER", "STATE", "TURNS", "BRANCH", "CREATED"], agents.map { a in
                [String(a.id.prefix(12)), a.name ?? "-", a.provider, a.state.rawValue, String(a.turns), a.branch?.name ?? "-",
                 Output.age(a.createdAt)]
            })
        }
    }

    struct Logs: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a session's events.")
        @OptionGroup var client: ClientOptions
        @Flag(name: .shortAndLong, help: "Keep following until the session ends.") var follow = false
        @Option(help: "Only events after this sequence number.") var since: Int64 = 0
        @Flag(help: "Print events as NDJSON.") var json = false
        @Flag(help: "Print the CLI's own output lines as it printed them (kept up to 4 MiB per session).") var raw = false
        @Argument(help: "Session id, id prefix or name.") var session: String

        func run() async throws {
            if raw {
                for try await line in try await client.client().agentRawLines(session) {
                    if json { try Output.jsonLine(line) } else { Output.line(line.text) }
                }
                return
            }
            for try await e in try await client.client().agentEvents(session, since: since, follow: follow) {
                try print(e, json: json)
            }
        }
    }

    struct Inspect: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a session as JSON.")
        @OptionGroup var client: ClientOptions
        @Argument(help: "Session id, id prefix or name.") var session: String
        func run() async throws { try Output.json(try await client.client().inspectAgent(session)) }
    }

    struct Diff: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a session's changes from where its branch began.")
        @OptionGroup var client: ClientOptions
        @Argument(help: "Session id, id prefix or name.") var session: String
        func run() async throws { FileHandle.standardOutput.write(Data(try await client.client().agentDiff(session).utf8)) }
    }

    struct Push: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Push a session's branch to the remote repository it was cloned from (with the host's git credentials).")
        @OptionGroup var client: ClientOptions
        @Flag(help: "Print the session as JSON.") var json = false
        @Argument(help: "Session id, id prefix or name.") var session: String
        func run() async throws {
            let info = try await client.client().pushAgent(session)
            if json { return try Output.json(info) }
            Output.line("pushed \(info.branch?.name ?? "") at \(info.branch?.pushed?.prefix(12) ?? "") to \(info.branch?.remote ?? "")")
        }
    }

    struct Stop: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "End sessions; their history, usage and branches stay.")
        @OptionGroup var client: ClientOptions
        @Argument(help: "Session ids, id prefixes or names.") var sessions: [String]
        func run() async throws {
            let warren = try client.client()
            try await eachReference(sessions) { _ = try await warren.stopAgent($0) }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove sessions and their worktrees.")
        @OptionGroup var client: ClientOptions
        @Flag(name: .customLong("delete-branch"), help: "Delete the session's branch too.") var deleteBranch = false
        @Argument(help: "Session ids, id prefixes or names.") var sessions: [String]
        func run() async throws {
            let warren = try client.client()
            try await eachReference(sessions) { try await warren.removeAgent($0, deleteBranch: deleteBranch) }
        }
    }
}

/// The session's CLI on this terminal until it exits; its exit code.
private func attachTerminal(_ warren: WarrenClient, _ session: String) async throws -> Int32 {
    let term = ProcessInfo.processInfo.environment["TERM"].flatMap { $0.isEmpty ? nil : $0 }
    let connection = try await warren.attachAgent(session, AgentAttachRequest(consoleSize: Terminal.size(), term: term))
    guard let code = try await InteractiveRelay.run(connection, stdin: true, tty: true) else {
        throw WarrenError(.internalError, "the CLI's exit code was not reported")
    }
    return code
}

/// Follows a session's events from `since` until turn `turn` completes or the session
/// ends; a failed turn exits 1.
private func follow(_ warren: WarrenClient, _ id: String, since: Int64, turn: Int, json: Bool) async throws {
    var failed = false
    for try await e in try await warren.agentEvents(id, since: since, follow: true) {
        try print(e, json: json)
        if e.type == .turnCompleted && e.turn >= turn { failed = e.ok == false; if !failed { return } }
        if e.type == .sessionEnded { failed = failed || e.state != .completed; break }
    }
    if failed { throw ExitCode(1) }
}

private func print(_ e: AgentEvent, json: Bool) throws {
    if json { return try Output.jsonLine(e) }
    if let line = AgentEventFormat.line(e) { Output.line(line) }
}
