import Foundation
import GRDB
import WarrenCore

/// Reads and writes rows of the `sandboxes` table.
///
/// Removed sandboxes keep their row (state `removed`) for history; lookups by
/// reference and default listings skip them, and their name becomes free again.
public struct SandboxRepository: Sendable {
    let writer: any DatabaseWriter

    // MARK: - Public API

    /// Inserts a new row. Throws `alreadyExists` when the id or a live name is taken.
    public func insert(_ info: SandboxInfo) async throws {
        try await mapErrors { try await writer.write { db in try Self.insert(db, info) } }
    }

    /// Overwrites every column of an existing row. Throws `notFound` when there is none.
    public func update(_ info: SandboxInfo) async throws {
        try await mapErrors { try await writer.write { db in try Self.update(db, info) } }
    }

    /// Reads the row, changes it with `mutate` and writes it back in one transaction
    /// (nothing else's change to it is lost); returns the row as written.
    public func modify(id: String, _ mutate: @escaping @Sendable (inout SandboxInfo) throws -> Void) async throws -> SandboxInfo {
        try await mapErrors {
            try await writer.write { db in
                guard var info = try Self.fetch(db, id: id) else { throw WarrenError(.notFound, "no such sandbox: \(id)") }
                try mutate(&info)
                try Self.update(db, info)
                return info
            }
        }
    }

    /// The row with exactly this id, removed or not.
    public func get(id: String) async throws -> SandboxInfo? {
        try await mapErrors { try await writer.read { db in try Self.fetch(db, id: id) } }
    }

    /// Finds a sandbox that is not removed by full id, name, or unique id prefix (in that order).
    ///
    /// Throws `notFound` when nothing matches and `invalidArgument` when a prefix is ambiguous.
    public func resolve(_ reference: String) async throws -> SandboxInfo {
        try await mapErrors {
            try await writer.read { db in try Self.resolve(db, reference) }
        }
    }

    /// Sandboxes ordered newest first; removed ones only when `includeRemoved`.
    public func list(includeRemoved: Bool = false) async throws -> [SandboxInfo] {
        try await mapErrors {
            try await writer.read { db in
                let sql = includeRemoved
                    ? "SELECT * FROM sandboxes ORDER BY created_at DESC, id"
                    : "SELECT * FROM sandboxes WHERE state != 'removed' ORDER BY created_at DESC, id"
                return try Row.fetchAll(db, sql: sql).map(Self.decode)
            }
        }
    }

    /// Sandboxes in any of `states`.
    public func list(states: Set<SandboxState>) async throws -> [SandboxInfo] {
        try await list(includeRemoved: states.contains(.removed)).filter { states.contains($0.state) }
    }

    /// Number of sandboxes per state (removed ones excluded).
    public func countByState() async throws -> [String: Int] {
        try await mapErrors {
            try await writer.read { db in
                var counts: [String: Int] = [:]
                let rows = try Row.fetchAll(db, sql: "SELECT state, COUNT(*) AS n FROM sandboxes WHERE state != 'removed' GROUP BY state")
                for row in rows { counts[row["state"]] = row["n"] }
                return counts
            }
        }
    }

    /// Deletes the row for good. Returns whether one existed.
    @discardableResult
    public func delete(id: String) async throws -> Bool {
        try await mapErrors {
            try await writer.write { db in
                try db.execute(sql: "DELETE FROM sandboxes WHERE id = ?", arguments: [id])
                return db.changesCount > 0
            }
        }
    }

    // MARK: - Inside a transaction

    static func insert(_ db: Database, _ info: SandboxInfo) throws {
        if let name = info.name {
            let taken = try Bool.fetchOne(db, sql: """
                SELECT EXISTS(SELECT 1 FROM sandboxes WHERE name = ? AND state != 'removed')
                """, arguments: [name]) ?? false
            if taken { throw WarrenError(.alreadyExists, "the name '\(name)' is already in use by another sandbox") }
        }
        try db.execute(sql: """
            INSERT INTO sandboxes (id, name, driver, state, spec, created_at, started_at, finished_at,
                                   exit_code, reason, error, pid)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: try arguments(info))
    }

    static func update(_ db: Database, _ info: SandboxInfo) throws {
        var args = try arguments(info)
        args += [info.id]
        try db.execute(sql: """
            UPDATE sandboxes SET id = ?, name = ?, driver = ?, state = ?, spec = ?, created_at = ?,
                started_at = ?, finished_at = ?, exit_code = ?, reason = ?, error = ?, pid = ?
            WHERE id = ?
            """, arguments: args)
        if db.changesCount == 0 { throw WarrenError(.notFound, "no such sandbox: \(info.id)") }
    }

    static func fetch(_ db: Database, id: String) throws -> SandboxInfo? {
        try Row.fetchOne(db, sql: "SELECT * FROM sandboxes WHERE id = ?", arguments: [id]).map(decode)
    }

    static func resolve(_ db: Database, _ reference: String) throws -> SandboxInfo {
        guard !reference.isEmpty else { throw WarrenError(.invalidArgument, "empty sandbox reference") }
        let live = "state != 'removed'"
        if let row = try Row.fetchOne(db, sql: "SELECT * FROM sandboxes WHERE id = ? AND \(live)", arguments: [reference]) {
            return try decode(row)
        }
        if let row = try Row.fetchOne(db, sql: "SELECT * FROM sandboxes WHERE name = ? AND \(live)", arguments: [reference]) {
            return try decode(row)
        }
        let rows = try Row.fetchAll(db, sql: """
            SELECT * FROM sandboxes WHERE substr(id, 1, ?) = ? AND \(live) LIMIT 2
            """, arguments: [reference.count, reference.lowercased()])
        switch rows.count {
        case 0: throw WarrenError(.notFound, "no such sandbox: \(reference)")
        case 1: return try decode(rows[0])
        default: throw WarrenError(.invalidArgument, "sandbox reference '\(reference)' is ambiguous: use more characters")
        }
    }

    // MARK: - Row mapping

    private static func arguments(_ info: SandboxInfo) throws -> StatementArguments {
        let spec = String(decoding: try WarrenJSON.encoder().encode(info.spec), as: UTF8.self)
        return [
            info.id, info.name, info.driver, info.state.rawValue, spec,
            info.createdAt.timeIntervalSince1970, info.startedAt?.timeIntervalSince1970,
            info.finishedAt?.timeIntervalSince1970, info.exitCode.map { Int64($0) }, info.reason,
            info.error, info.pid.map { Int64($0) },
        ]
    }

    static func decode(_ row: Row) throws -> SandboxInfo {
        let stateText: String = row["state"]
        guard let state = SandboxState(rawValue: stateText) else {
            throw WarrenError(.internalError, "sandbox row has unknown state '\(stateText)'")
        }
        let specText: String = row["spec"]
        let spec = try WarrenJSON.decoder().decode(SandboxSpec.self, from: Data(specText.utf8))
        func date(_ column: String) -> Date? {
            (row[column] as Double?).map(Date.init(timeIntervalSince1970:))
        }
        return SandboxInfo(
            id: row["id"], name: row["name"], driver: row["driver"], state: state, spec: spec,
            createdAt: date("created_at") ?? Date(timeIntervalSince1970: 0),
            startedAt: date("started_at"), finishedAt: date("finished_at"),
            exitCode: (row["exit_code"] as Int64?).map { Int32(truncatingIfNeeded: $0) },
            reason: row["reason"], error: row["error"],
            pid: (row["pid"] as Int64?).map { Int32(truncatingIfNeeded: $0) })
    }
}
