import Agents
import Foundation
import LinuxSupport
import Logging
import WarrenCore
import WarrenStore

/// Agent sessions: an agent CLI on a workspace, in a sandbox of its own, turn by turn.
///
/// A session's sandbox runs `AgentRunner`'s loop; a turn is a script handed to it. What
/// the CLI prints goes to the sandbox's log, which this actor reads (`AgentManager+Output`)
/// into events stored with how far it has read, so a daemon restarted mid-turn picks up
/// after the last event it stored: nothing lost, nothing twice.
public actor AgentManager {
    let store: WarrenStore
    let sandboxes: SandboxManager
    let logger: Logger

    /// Each session's row as last written: this actor is its only writer.
    var rows: [String: (info: AgentInfo, runtime: AgentRuntime)] = [:]
    /// Per session, the task reading its sandbox's output.
    var readers: [String: Task<Void, Never>] = [:]
    /// Per session, what reading its output needs in memory.
    var live: [String: LiveTurn] = [:]
    /// Live event subscribers, per session.
    var subscribers: [String: [UUID: AsyncStream<AgentEvent>.Continuation]] = [:]
    var isShuttingDown = false
    /// Sessions being ended: their sandbox's end is theirs, not a loss.
    var ending: Set<String> = []

    /// Where the daemon keeps its clones of remote repositories, one per session.
    let clonesDirectory: String

    public init(store: WarrenStore, sandboxes: SandboxManager, clonesDirectory: String, logger: Logger) {
        self.store = store
        self.sandboxes = sandboxes
        self.clonesDirectory = clonesDirectory
        self.logger = logger
    }

    // MARK: - Create

    /// Validates `spec`, makes the workspace and the sandbox, and begins the first turn.
    /// A refused or failed create leaves nothing: no row, worktree, branch or sandbox.
    public func create(_ spec: AgentSpec) async throws -> AgentInfo {
        guard !isShuttingDown else { throw WarrenError(.unavailable, "the daemon is shutting down") }
        try spec.validate()
        let provider = try AgentProviders.named(spec.provider)
        try provider.validate(spec)
        let id = SandboxID.generate()
        var info = AgentInfo(id: id, name: spec.name, spec: spec, state: .starting, createdAt: Date())
        var runtime = AgentRuntime(workdir: spec.workspace != nil || spec.repo != nil ? AgentSpec.workspacePath : "/")
        try await store.agents.insert(info, runtime: try runtime.encoded())
        do {
            if let repo = spec.repo {
                var source = repo
                var remote: RepositoryURL?
                if RepositoryURL.isRemote(repo) {
                    // The daemon's own clone, made with the host's credentials; the sandbox sees its worktree only.
                    remote = try RepositoryURL(parsing: repo)
                    try FileManager.default.createDirectory(atPath: clonesDirectory, withIntermediateDirectories: true,
                                                            attributes: [.posixPermissions: 0o700])
                    runtime.clone = clonesDirectory + "/" + id
                    source = try await RemoteClone.clone(remote!, into: clonesDirectory + "/" + id)
                }
                let ws = try await GitWorkspace.create(from: source, session: String(id.prefix(12)))
                runtime.workspace = ws
                info.branch = AgentBranch(repository: remote?.url ?? ws.repository, name: ws.branch, base: ws.base, head: ws.base)
                info.branch?.remote = remote?.url
            }
            // Where the driver maps no ids, the agent runs as the workspace's owner, never root.
            let user = try await sandboxes.driverMapsBindOwners(spec.driver)
                ? nil : try AgentIdentity.unmappedUser(repository: runtime.workspace, directory: spec.workspace)
            var sandboxSpec = try sandboxSpec(id, spec, provider, workspace: runtime.workspace, user: user)
            var daemonMounts: [MountSpec] = []
            if runtime.clone != nil { (daemonMounts, sandboxSpec.mounts) = (sandboxSpec.mounts, []) }
            let sandbox = try await sandboxes.create(sandboxSpec, daemonMounts: daemonMounts)
            info.sandboxID = sandbox.id
            if let ws = runtime.workspace, ws.ownerUID == nil {
                // A root-owned repository: its worktree goes to the sandbox's own root (or
                // its unprivileged user), never host root to it.
                let owner = if let user { user } else { try await sandboxes.hostRootIdentity(sandbox.id) }
                try ws.handOver(uid: owner.uid, gid: owner.gid)
            }
        } catch {
            if let sandboxID = info.sandboxID { try? await sandboxes.remove(sandboxID, force: true) }
            try? await runtime.workspace?.remove(deleteBranch: true)
            if let clone = runtime.clone { try? removeTree(clone) }
            try? await store.agents.delete(id: id)
            throw error
        }
        rows[id] = (info, runtime)
        var started = AgentEvent(type: .sessionStarted)
        started.text = "\(spec.provider) in sandbox \(info.sandboxID?.prefix(12) ?? "")"
            + (info.branch.map { " on branch \($0.name)" } ?? spec.workspace.map { " on \($0)" } ?? "")
        try await write(id, events: [started])
        logger.info("agent session created", metadata: ["agent": "\(id.prefix(12))", "provider": "\(spec.provider)"])
        startReader(id)
        if spec.interactive {
            // Its turns come from a terminal: it waits, idle, for the first attach.
            try await write(id) { info, _ in info.state = try info.state.transition(to: .idle) }
        } else {
            try await beginTurn(id, prompt: spec.prompt)
        }
        return try row(id).info
    }

    /// The sandbox a session runs in.
    func sandboxSpec(_ id: String, _ spec: AgentSpec, _ provider: any AgentProvider, workspace: GitWorkspace?,
                     user: (uid: UInt32, gid: UInt32)?) throws -> SandboxSpec {
        var s = SandboxSpec(rootfs: spec.rootfs, image: spec.rootfs == nil ? spec.image ?? AgentSpec.defaultImage : nil,
                            command: AgentRunner.command, env: spec.env, driver: spec.driver, limits: spec.limits,
                            network: spec.network, labels: spec.labels.merging(["warren.agent": id]) { _, new in new })
        if let user { s.user = "\(user.uid):\(user.gid)" }
        s.egress = spec.egress
        if let source = workspace?.path ?? spec.workspace {
            s.mounts = [MountSpec(source: source, destination: AgentSpec.workspacePath)]
        }
        var providers = provider.llmProviders
        for p in spec.llm?.providers ?? [] where !providers.contains(p) { providers.append(p) }
        if !providers.isEmpty {
            var access = spec.llm ?? LLMAccess(providers: providers)
            access.providers = providers
            s.llm = access
        }
        return s
    }

    // MARK: - Turns

    /// A follow-up turn in the same conversation; the session must be idle.
    public func send(_ reference: String, prompt: String) async throws -> AgentInfo {
        try AgentSpec.validatePrompt(prompt)
        let id = try await resolve(reference)
        let state = try row(id).info.state
        guard state == .idle else {
            throw WarrenError(.invalidState, "agent session \(id.prefix(12)) is \(state.rawValue): a follow-up needs it idle")
        }
        return try await beginTurn(id, prompt: prompt)
    }

    /// Records the turn and hands its script to the sandbox's runner. Returns the session
    /// as of its `turn_started` event (its `lastEvent`), so a client that follows from
    /// there misses none of the turn's output, however soon that comes.
    @discardableResult
    func beginTurn(_ id: String, prompt: String) async throws -> AgentInfo {
        let (info, runtime) = try row(id)
        let provider = try AgentProviders.named(info.provider)
        guard let sandboxID = info.sandboxID else { throw WarrenError(.invalidState, "agent session \(id.prefix(12)) has no sandbox") }
        var started = AgentEvent(type: .turnStarted)
        started.text = prompt
        started.turn = info.turns + 1
        try await write(id, events: [started]) { info, _ in
            info.state = try info.state.transition(to: .running)
            info.turns += 1
        }
        let number = started.turn
        let asStarted = try row(id).info
        let turn = AgentTurn(number: number, prompt: prompt, model: info.spec.model, systemPrompt: info.spec.systemPrompt,
                             maxTurns: info.spec.maxTurns, conversationID: info.conversationID, command: info.spec.command)
        let script = AgentRunner.turnScript(provider.invocation(for: turn), workdir: runtime.workdir)
        let delivered: (code: Int32, output: String)
        do {
            delivered = try await sandboxes.run(sandboxID, ExecRequest(command: AgentRunner.deliver(script: script, turn: number)))
        } catch {
            delivered = (-1, "\(error)")
        }
        guard delivered.code == 0 else {
            let why = "turn \(number) could not be started (exit \(delivered.code)): "
                + delivered.output.prefix(300).split(whereSeparator: \.isNewline).joined(separator: " | ")
            try await finish(id, state: .failed, because: why)
            throw WarrenError(.internalError, "agent session \(id.prefix(12)): \(why)")
        }
        return asStarted
    }

    // MARK: - Stop and remove

    /// Ends the session: its sandbox is stopped and removed; history, usage and branch stay.
    public func stop(_ reference: String) async throws -> AgentInfo {
        let id = try await resolve(reference)
        let state = try row(id).info.state
        guard !state.isFinal else { return try row(id).info }
        try await finish(id, state: state == .idle ? .completed : .stopped, because: state == .idle ? nil : "stopped by request")
        return try row(id).info
    }

    /// Removes the session and its worktree; the branch stays unless `deleteBranch`.
    public func remove(_ reference: String, deleteBranch: Bool = false) async throws {
        let id = try await resolve(reference)
        if !(try row(id).info.state.isFinal) { _ = try await stop(id) }
        let (info, runtime) = try row(id)
        try await runtime.workspace?.remove(deleteBranch: deleteBranch)
        // A clone goes with its session once its branch is asked gone or pushed as it is.
        if let clone = runtime.clone, deleteBranch || (info.branch?.pushed != nil && info.branch?.pushed == info.branch?.head) {
            try removeTree(clone)
        }
        try await store.agents.delete(id: id)
        rows[id] = nil
        live[id] = nil
        for c in subscribers[id]?.values ?? [:].values { c.finish() }
        subscribers[id] = nil
    }

    /// Moves the session to a final state: the usage is kept, the sandbox removed.
    func finish(_ id: String, state: AgentState, because reason: String?) async throws {
        let info = try row(id).info
        guard !info.state.isFinal, !ending.contains(id) else { return }
        ending.insert(id)
        defer { ending.remove(id) }
        var usage = info.usage
        if let sandboxID = info.sandboxID {
            usage = (try? await sandboxes.usage(sandboxID).usage) ?? usage
            _ = try? await sandboxes.stop(sandboxID, grace: .seconds(5))
            try? await sandboxes.remove(sandboxID, force: true)
        }
        guard !(try row(id).info.state.isFinal) else { return }
        var ended = AgentEvent(type: .sessionEnded)
        ended.state = state
        ended.text = reason
        ended.turn = info.turns
        try await write(id, events: [ended]) { info, _ in
            info.usage = usage
            info.sandboxID = nil
            info.state = state
            if let reason { info.error = reason }
        }
        logger.info("agent session \(state.rawValue)", metadata: ["agent": "\(id.prefix(12))", "reason": "\(reason ?? "")"])
    }

    // MARK: - Queries

    public func inspect(_ reference: String) async throws -> AgentInfo {
        try row(try await resolve(reference)).info
    }

    public func list() async throws -> [AgentInfo] {
        try await store.agents.list().map { rows[$0.info.id]?.info ?? $0.info }
    }

    /// Pushes the session's branch to the remote repository it was cloned from.
    public func push(_ reference: String) async throws -> AgentInfo {
        let id = try await resolve(reference)
        let (info, runtime) = try row(id)
        guard let clone = runtime.clone, let remote = info.branch?.remote, let branch = info.branch?.name else {
            throw WarrenError(.invalidArgument, "agent session \(id.prefix(12)) works on a host repository: its branch is already there; push needs a --repo URL")
        }
        let pushed = try await RemoteClone.push(branch: branch, clone: clone, remote: remote)
        try await write(id) { info, _ in info.branch?.pushed = pushed }
        logger.info("agent branch pushed", metadata: ["agent": "\(id.prefix(12))", "branch": "\(branch)", "commit": "\(pushed)"])
        return try row(id).info
    }

    /// The session's changes from where its branch began.
    public func diff(_ reference: String) async throws -> String {
        let id = try await resolve(reference)
        guard let ws = try row(id).runtime.workspace else {
            throw WarrenError(.invalidArgument, "agent session \(id.prefix(12)) has no repository: diff needs --repo")
        }
        return try await ws.diff()
    }

    // MARK: - Rows

    func resolve(_ reference: String) async throws -> String {
        if rows[reference] != nil { return reference }
        let found = try await store.agents.resolve(reference)
        if rows[found.info.id] == nil { rows[found.info.id] = (found.info, try AgentRuntime.decode(found.runtime)) }
        return found.info.id
    }

    func row(_ id: String) throws -> (info: AgentInfo, runtime: AgentRuntime) {
        guard let r = rows[id] else { throw WarrenError(.notFound, "no such agent session: \(id.prefix(100))") }
        return r
    }

    /// Changes the session's cached row with `change` (at once, so no other change falls
    /// in between), writes it with `events`, then hands them to subscribers.
    func write(_ id: String, events: [AgentEvent] = [], raw: [AgentRawLine] = [],
               _ change: (inout AgentInfo, inout AgentRuntime) throws -> Void = { _, _ in }) async throws {
        var current = try row(id)
        try change(&current.info, &current.runtime)
        current.info.updatedAt = Date()
        current.info.lastEvent += Int64(events.count)
        rows[id] = current
        let numbered = try await store.agents.update(current.info, runtime: try current.runtime.encoded(), appending: events, raw: raw)
        for event in numbered { for c in subscribers[id]?.values ?? [:].values { c.yield(event) } }
    }
}

/// What the daemon keeps of a session beside its info: the worktree, and how far the
/// sandbox's output has been read into events.
struct AgentRuntime: Codable, Sendable {
    var workspace: GitWorkspace?
    /// The daemon's bare clone the worktree belongs to, for a remote repository.
    var clone: String?
    var workdir: String
    /// The last line stored: its turn and its number in that turn.
    var turnRead = 0
    var lineRead = 0
    /// The last turn whose end was handled.
    var ended = 0
    /// The CLI's `turn_completed`, held until the turn's end (after the commit).
    var completion: AgentEvent?
    /// The turn under way on a terminal (`attach`), which no marker line ends.
    var interactiveTurn: Int?
    /// Bytes of raw lines stored so far; past the cap, only its marker was.
    var rawBytes: Int?
    /// The CLI's last running token totals (input, output), for a CLI that reports those.
    var usageTotals: [Int64]?

    init(workdir: String) { self.workdir = workdir }

    func encoded() throws -> Data { try WarrenJSON.encoder().encode(self) }
    static func decode(_ data: Data) throws -> AgentRuntime { try WarrenJSON.decoder().decode(AgentRuntime.self, from: data) }
}
