import Foundation
import GRDB
import Logging
import WarrenCore

/// The daemon's SQLite database (`warren.db`, WAL mode) and its repositories.
///
/// Backed by a GRDB `DatabasePool`, which is safe to share between tasks: reads run
/// concurrently, writes are serialised by SQLite. Every multi-step change (a state
/// transition and its event) runs in one write transaction.
public final class WarrenStore: Sendable {
    /// Sandbox rows.
    public let sandboxes: SandboxRepository
    /// The append-only event log.
    public let events: EventRepository
    /// LLM facade tokens, usage and call audit.
    public let llm: LLMRepository
    /// Agent sessions and their events.
    public let agents: AgentRepository
    /// The egress audit and byte totals.
    public let egress: EgressRepository

    let writer: any DatabaseWriter
    let logger: Logger

    /// Opens (creating when needed) the database at `path` and runs pending migrations.
    public convenience init(path: String, logger: Logger) throws {
        var config = Configuration()
        config.busyMode = .timeout(5)
        config.label = "warren.db"
        // WAL with synchronous=NORMAL: a crashed or killed daemon loses nothing committed;
        // only a power cut may lose the last transitions. It saves an fsync per commit,
        // and a sandbox start commits several.
        config.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = NORMAL") }
        let pool: DatabasePool
        do {
            pool = try DatabasePool(path: path, configuration: config)
        } catch {
            throw WarrenError(.internalError, "cannot open database \(path): \(error)")
        }
        try self.init(writer: pool, logger: logger)
    }

    /// Wraps an already opened database (a `DatabaseQueue` in memory for tests) and migrates it.
    public init(writer: any DatabaseWriter, logger: Logger) throws {
        self.writer = writer
        self.logger = logger
        do {
            try Self.migrator.migrate(writer)
        } catch {
            throw WarrenError(.internalError, "database migration failed: \(error)")
        }
        self.sandboxes = SandboxRepository(writer: writer)
        self.events = EventRepository(writer: writer)
        self.llm = LLMRepository(writer: writer)
        self.agents = AgentRepository(writer: writer)
        self.egress = EgressRepository(writer: writer)
        logger.debug("database ready", metadata: ["migrations": "\(Self.migrator.migrations)"])
    }

    /// An in-memory store, for tests.
    public static func inMemory(logger: Logger) throws -> WarrenStore {
        try WarrenStore(writer: DatabaseQueue(), logger: logger)
    }

    /// Names of the migrations applied so far, in order.
    public func appliedMigrations() async throws -> [String] {
        try await writer.read { db in try Self.migrator.appliedMigrations(db) }
    }

    // MARK: - Transitions

    /// Moves a sandbox to `next`, applying `mutate` and appending an event, in one transaction.
    ///
    /// Throws `notFound` when there is no such row and `invalidState` when the state
    /// machine forbids the move (the row is left unchanged).
    @discardableResult
    public func transition(
        id: String, to next: SandboxState, eventType: String, detail: String? = nil,
        time: Date = Date(), _ mutate: @escaping @Sendable (inout SandboxInfo) -> Void = { _ in }
    ) async throws -> (SandboxInfo, SandboxEvent) {
        try await mapErrors {
            try await writer.write { db in
                guard var info = try SandboxRepository.fetch(db, id: id) else {
                    throw WarrenError(.notFound, "no such sandbox: \(id)")
                }
                info.state = try info.state.transition(to: next)
                mutate(&info)
                try SandboxRepository.update(db, info)
                let event = try EventRepository.append(
                    db, sandboxID: id, type: eventType, state: next, detail: detail, time: time)
                return (info, event)
            }
        }
    }

    /// Inserts a new sandbox and its `create` event in one transaction.
    @discardableResult
    public func insert(_ info: SandboxInfo, time: Date = Date()) async throws -> SandboxEvent {
        try await mapErrors {
            try await writer.write { db in
                try SandboxRepository.insert(db, info)
                return try EventRepository.append(
                    db, sandboxID: info.id, type: "create", state: info.state, detail: info.name, time: time)
            }
        }
    }
}

// MARK: - Error mapping

/// Turns SQLite errors into `WarrenError`s at the module edge.
func mapErrors<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let error as WarrenError {
        throw error
    } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE {
        throw WarrenError(.alreadyExists, "the name is already in use by another sandbox")
    } catch let error as DatabaseError where error.resultCode == .SQLITE_FULL {
        throw WarrenError(.insufficientStorage, "the disk under the daemon's database is full: \(error.message ?? "SQLITE_FULL")")
    } catch {
        throw WarrenError(.internalError, "database: \(error)")
    }
}
