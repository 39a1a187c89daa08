import Foundation
import GRDB
import WarrenCore

/// The egress audit: every connection a sandbox's proxy saw (the newest `kept` per
/// sandbox), and the bytes each sandbox moved in all, which its budget is checked against.
public struct EgressRepository: Sendable {
    let writer: any DatabaseWriter
    /// Connections kept per sandbox; older ones are dropped as new ones come (the byte
    /// total still counts them).
    public static let kept = 10_000

    /// Records connections of one or more sandboxes, in one transaction.
    public func record(_ entries: [(sandboxID: String, record: EgressRecord)]) async throws {
        guard !entries.isEmpty else { return }
        try await mapErrors {
            try await writer.write { db in
                let insert = try db.cachedStatement(sql: """
                    INSERT INTO egress_connections (sandbox_id, time, host, port, address, allowed, reason, bytes_out, bytes_in, via)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """)
                let total = try db.cachedStatement(sql: """
                    INSERT INTO egress_usage (sandbox_id, bytes, connections, denied) VALUES (?, ?, 1, ?)
                    ON CONFLICT (sandbox_id) DO UPDATE SET bytes = bytes + excluded.bytes,
                        connections = connections + 1, denied = denied + excluded.denied
                    """)
                for (id, r) in entries {
                    try insert.execute(arguments: [id, r.time.timeIntervalSince1970, r.host, r.port, r.address, r.allowed,
                                                   r.reason, r.bytesOut, r.bytesIn, r.via])
                    try total.execute(arguments: [id, r.bytesOut + r.bytesIn, r.allowed ? 0 : 1])
                }
                for id in Set(entries.map(\.sandboxID)) {
                    try db.execute(sql: """
                        DELETE FROM egress_connections WHERE sandbox_id = ? AND id <= (
                            SELECT id FROM egress_connections WHERE sandbox_id = ? ORDER BY id DESC LIMIT 1 OFFSET ?)
                        """, arguments: [id, id, Self.kept])
                }
            }
        }
    }

    /// A sandbox's newest connections, oldest of them first.
    public func connections(sandboxID: String, limit: Int = kept) async throws -> [EgressRecord] {
        try await mapErrors {
            try await writer.read { db in
                try Row.fetchAll(db, sql: "SELECT * FROM egress_connections WHERE sandbox_id = ? ORDER BY id DESC LIMIT ?",
                                 arguments: [sandboxID, limit]).reversed().map { row in
                    EgressRecord(time: Date(timeIntervalSince1970: row["time"]), host: row["host"], port: row["port"],
                                 address: row["address"], allowed: row["allowed"], reason: row["reason"],
                                 bytesOut: row["bytes_out"], bytesIn: row["bytes_in"], via: row["via"])
                }
            }
        }
    }

    /// The bytes a sandbox moved through its proxy, both ways, over its life.
    public func bytesUsed(sandboxID: String) async throws -> Int64 {
        try await mapErrors {
            try await writer.read { db in
                try Int64.fetchOne(db, sql: "SELECT bytes FROM egress_usage WHERE sandbox_id = ?", arguments: [sandboxID]) ?? 0
            }
        }
    }
}
