import Foundation
import GRDB
import WarrenCore

/// Agent sessions (`agents`), what they did (`agent_events`, numbered per session) and
/// their CLIs' own output lines (`agent_raw_lines`).
///
/// A session's row carries, beside its info, the daemon's private record of how far its
/// turn has been read (`runtime`); events and that record are written in one
/// transaction, so a restart resumes exactly after the last event stored.
public struct AgentRepository: Sendable {
    let writer: any DatabaseWriter

    public struct Row: Sendable {
        public var info: AgentInfo
        public var runtime: Data
    }

    /// Stores a new session. Throws `alreadyExists` when its name is taken.
    public func insert(_ info: AgentInfo, runtime: Data) async throws {
        try await mapErrors {
            try await writer.write { db in
                if let name = info.name,
                   try Bool.fetchOne(db, sql: "SELECT EXISTS(SELECT 1 FROM agents WHERE name = ?)", arguments: [name]) ?? false {
                    throw WarrenError(.alreadyExists, "the name '\(name)' is already in use by another agent session")
                }
                try db.execute(sql: "INSERT INTO agents (id, name, state, info, runtime, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                               arguments: [info.id, info.name, info.state.rawValue, try Self.text(info), runtime,
                                           info.createdAt.timeIntervalSince1970])
            }
        }
    }

    /// Writes the session and appends `events` (numbered after the last one); returns them numbered.
    @discardableResult
    public func update(_ info: AgentInfo, runtime: Data, appending events: [AgentEvent] = [],
                       raw: [AgentRawLine] = []) async throws -> [AgentEvent] {
        try await mapErrors {
            try await writer.write { db in
                var seq = try Int64.fetchOne(db, sql: "SELECT MAX(seq) FROM agent_events WHERE agent_id = ?",
                                             arguments: [info.id]) ?? 0
                var info = info
                info.lastEvent = seq + Int64(events.count)
                try db.execute(sql: "UPDATE agents SET state = ?, info = ?, runtime = ? WHERE id = ?",
                               arguments: [info.state.rawValue, try Self.text(info), runtime, info.id])
                if db.changesCount == 0 { throw WarrenError(.notFound, "no such agent session: \(info.id)") }
                var numbered: [AgentEvent] = []
                for var event in events {
                    seq += 1
                    event.seq = seq
                    event.session = info.id
                    try db.execute(sql: "INSERT INTO agent_events (agent_id, seq, body) VALUES (?, ?, ?)",
                                   arguments: [info.id, seq, try Self.text(event)])
                    numbered.append(event)
                }
                for line in raw {
                    try db.execute(sql: "INSERT OR IGNORE INTO agent_raw_lines (agent_id, turn, line, text) VALUES (?, ?, ?, ?)",
                                   arguments: [info.id, line.turn, line.line, line.text])
                }
                return numbered
            }
        }
    }

    public func get(id: String) async throws -> Row? {
        try await mapErrors {
            try await writer.read { db in
                try GRDB.Row.fetchOne(db, sql: "SELECT * FROM agents WHERE id = ?", arguments: [id]).map(Self.decode)
            }
        }
    }

    /// By full id, name, or unique id prefix.
    public func resolve(_ reference: String) async throws -> Row {
        guard !reference.isEmpty else { throw WarrenError(.invalidArgument, "empty agent reference") }
        return try await mapErrors {
            try await writer.read { db in
                for sql in ["SELECT * FROM agents WHERE id = ?", "SELECT * FROM agents WHERE name = ?"] {
                    if let row = try GRDB.Row.fetchOne(db, sql: sql, arguments: [reference]) { return try Self.decode(row) }
                }
                let rows = try GRDB.Row.fetchAll(db, sql: "SELECT * FROM agents WHERE substr(id, 1, ?) = ? LIMIT 2",
                                                 arguments: [reference.count, reference.lowercased()])
                switch rows.count {
                case 0: throw WarrenError(.notFound, "no such agent session: \(reference.prefix(100))")
                case 1: return try Self.decode(rows[0])
                default: throw WarrenError(.invalidArgument, "agent reference '\(reference.prefix(100))' is ambiguous: use more characters")
                }
            }
        }
    }

    /// Sessions, newest first.
    public func list() async throws -> [Row] {
        try await mapErrors {
            try await writer.read { db in
                try GRDB.Row.fetchAll(db, sql: "SELECT * FROM agents ORDER BY created_at DESC, id").map(Self.decode)
            }
        }
    }

    /// A session's events after `since`, oldest first.
    public func events(_ id: String, since: Int64 = 0, limit: Int = 1_000) async throws -> [AgentEvent] {
        try await mapErrors {
            try await writer.read { db in
                try String.fetchAll(db, sql: "SELECT body FROM agent_events WHERE agent_id = ? AND seq > ? ORDER BY seq LIMIT ?",
                                    arguments: [id, since, limit])
                    .map { try WarrenJSON.decoder().decode(AgentEvent.self, from: Data($0.utf8)) }
            }
        }
    }

    /// A session's raw lines, in order: turn, then line.
    public func rawLines(_ id: String, limit: Int = 1_000_000) async throws -> [AgentRawLine] {
        try await mapErrors {
            try await writer.read { db in
                try GRDB.Row.fetchAll(db, sql: "SELECT turn, line, text FROM agent_raw_lines WHERE agent_id = ? ORDER BY turn, line LIMIT ?",
                                      arguments: [id, limit])
                    .map { AgentRawLine(turn: $0["turn"], line: $0["line"], text: $0["text"]) }
            }
        }
    }

    /// Deletes a session, its events and its raw lines.
    public func delete(id: String) async throws {
        try await mapErrors {
            try await writer.write { db in
                try db.execute(sql: "DELETE FROM agent_raw_lines WHERE agent_id = ?", arguments: [id])
                try db.execute(sql: "DELETE FROM agent_events WHERE agent_id = ?", arguments: [id])
                try db.execute(sql: "DELETE FROM agents WHERE id = ?", arguments: [id])
            }
        }
    }

    static func text(_ value: some Encodable) throws -> String {
        String(decoding: try WarrenJSON.encoder().encode(value), as: UTF8.self)
    }

    static func decode(_ row: GRDB.Row) throws -> Row {
        let info: String = row["info"]
        return Row(info: try WarrenJSON.decoder().decode(AgentInfo.self, from: Data(info.utf8)), runtime: row["runtime"])
    }
}
