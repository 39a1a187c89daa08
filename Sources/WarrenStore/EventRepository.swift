import Foundation
import GRDB
import WarrenCore

/// The append-only `events` table: every lifecycle transition, in order.
public struct EventRepository: Sendable {
    let writer: any DatabaseWriter

    // MARK: - Public API

    /// Appends one event and returns it with its sequence number.
    @discardableResult
    public func append(sandboxID: String, type: String, state: SandboxState? = nil,
                       detail: String? = nil, time: Date = Date()) async throws -> SandboxEvent {
        try await mapErrors {
            try await writer.write { db in
                try Self.append(db, sandboxID: sandboxID, type: type, state: state, detail: detail, time: time)
            }
        }
    }

    /// Events with a sequence number greater than `seq`, oldest first, optionally for one sandbox.
    public func events(since seq: Int64 = 0, sandboxID: String? = nil, limit: Int = 10_000) async throws -> [SandboxEvent] {
        try await mapErrors {
            try await writer.read { db in
                let rows: [Row]
                if let sandboxID {
                    rows = try Row.fetchAll(db, sql: """
                        SELECT * FROM events WHERE seq > ? AND sandbox_id = ? ORDER BY seq LIMIT ?
                        """, arguments: [seq, sandboxID, limit])
                } else {
                    rows = try Row.fetchAll(db, sql: "SELECT * FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
                                            arguments: [seq, limit])
                }
                return rows.map(Self.decode)
            }
        }
    }

    /// The highest sequence number so far (0 when the log is empty).
    public func lastSequence() async throws -> Int64 {
        try await mapErrors {
            try await writer.read { db in try Int64.fetchOne(db, sql: "SELECT MAX(seq) FROM events") ?? 0 }
        }
    }

    // MARK: - Inside a transaction

    static func append(_ db: Database, sandboxID: String, type: String, state: SandboxState?,
                       detail: String?, time: Date) throws -> SandboxEvent {
        try db.execute(sql: """
            INSERT INTO events (time, sandbox_id, type, state, detail) VALUES (?, ?, ?, ?, ?)
            """, arguments: [time.timeIntervalSince1970, sandboxID, type, state?.rawValue, detail])
        return SandboxEvent(seq: db.lastInsertedRowID, time: time, sandboxID: sandboxID, type: type,
                            state: state, detail: detail)
    }

    static func decode(_ row: Row) -> SandboxEvent {
        SandboxEvent(
            seq: row["seq"], time: Date(timeIntervalSince1970: row["time"]), sandboxID: row["sandbox_id"],
            type: row["type"], state: (row["state"] as String?).flatMap(SandboxState.init(rawValue:)),
            detail: row["detail"])
    }
}
