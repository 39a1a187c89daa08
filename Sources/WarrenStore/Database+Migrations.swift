import GRDB

// MARK: - Schema

extension WarrenStore {
    /// Versioned schema migrations. Never edit a registered migration; append a new one.
    static let migrator: DatabaseMigrator = {
        var m = DatabaseMigrator()

        m.registerMigration("v1-sandboxes-events") { db in
            try db.create(table: "sandboxes") { t in
                t.primaryKey("id", .text)
                t.column("name", .text)
                t.column("driver", .text).notNull()
                t.column("state", .text).notNull()
                t.column("spec", .text).notNull()
                t.column("created_at", .double).notNull()
                t.column("started_at", .double)
                t.column("finished_at", .double)
                t.column("exit_code", .integer)
                t.column("reason", .text)
                t.column("error", .text)
                t.column("pid", .integer)
            }
            // A name belongs to at most one sandbox that is not removed.
            try db.execute(sql: """
                CREATE UNIQUE INDEX sandboxes_live_name ON sandboxes(name)
                WHERE name IS NOT NULL AND state != 'removed'
                """)
            try db.create(index: "sandboxes_state", on: "sandboxes", columns: ["state"])

            try db.create(table: "events") { t in
                t.autoIncrementedPrimaryKey("seq")
                t.column("time", .double).notNull()
                t.column("sandbox_id", .text).notNull()
                t.column("type", .text).notNull()
                t.column("state", .text)
                t.column("detail", .text)
            }
            try db.create(index: "events_sandbox", on: "events", columns: ["sandbox_id", "seq"])
        }
        return m
    }()
}
