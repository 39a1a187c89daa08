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

        m.registerMigration("v2-llm-facade") { db in
            // Facade tokens by hash only; the grant (providers, models, budgets) as JSON.
            try db.create(table: "llm_tokens") { t in
                t.primaryKey("token_hash", .text)
                t.column("sandbox_id", .text).notNull()
                t.column("grant", .text).notNull()
                t.column("created_at", .double).notNull()
                t.column("expires_at", .double).notNull()
                t.column("revoked_at", .double)
            }
            try db.create(index: "llm_tokens_sandbox", on: "llm_tokens", columns: ["sandbox_id"])
            try db.create(table: "llm_usage") { t in
                t.column("sandbox_id", .text).notNull()
                t.column("provider", .text).notNull()
                t.column("model", .text).notNull()
                t.column("requests", .integer).notNull()
                t.column("input_tokens", .integer).notNull()
                t.column("output_tokens", .integer).notNull()
                t.primaryKey(["sandbox_id", "provider", "model"])
            }
            try db.create(table: "llm_calls") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("time", .double).notNull()
                t.column("sandbox_id", .text).notNull()
                t.column("provider", .text).notNull()
                t.column("model", .text).notNull()
                t.column("endpoint", .text).notNull()
                t.column("status", .integer).notNull()
                t.column("input_tokens", .integer).notNull()
                t.column("output_tokens", .integer).notNull()
                t.column("latency_ms", .double).notNull()
            }
            try db.create(index: "llm_calls_sandbox", on: "llm_calls", columns: ["sandbox_id", "id"])
        }
        m.registerMigration("v3-agents") { db in
            // A session's info as JSON, and the daemon's own record of where its turn
            // stands (the worktree, how far the sandbox's output has been read).
            try db.create(table: "agents") { t in
                t.primaryKey("id", .text)
                t.column("name", .text)
                t.column("state", .text).notNull()
                t.column("info", .text).notNull()
                t.column("runtime", .blob).notNull()
                t.column("created_at", .double).notNull()
            }
            try db.execute(sql: "CREATE UNIQUE INDEX agents_name ON agents(name) WHERE name IS NOT NULL")
            try db.create(table: "agent_events") { t in
                t.column("agent_id", .text).notNull()
                t.column("seq", .integer).notNull()
                t.column("body", .text).notNull()
                t.primaryKey(["agent_id", "seq"])
            }
        }
        m.registerMigration("v4-agent-raw-lines") { db in
            // The CLIs' own output lines, bounded per session, kept after the sandbox goes.
            try db.create(table: "agent_raw_lines") { t in
                t.column("agent_id", .text).notNull()
                t.column("turn", .integer).notNull()
                t.column("line", .integer).notNull()
                t.column("text", .text).notNull()
                t.primaryKey(["agent_id", "turn", "line"])
            }
        }
        m.registerMigration("v5-egress") { db in
            // Each egress connection (the newest per sandbox), and each sandbox's totals.
            try db.create(table: "egress_connections") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("sandbox_id", .text).notNull()
                t.column("time", .double).notNull()
                t.column("host", .text).notNull()
                t.column("port", .integer).notNull()
                t.column("address", .text)
                t.column("allowed", .boolean).notNull()
                t.column("reason", .text)
                t.column("bytes_out", .integer).notNull()
                t.column("bytes_in", .integer).notNull()
                t.column("via", .text).notNull()
            }
            try db.create(index: "egress_connections_sandbox", on: "egress_connections", columns: ["sandbox_id", "id"])
            try db.create(table: "egress_usage") { t in
                t.primaryKey("sandbox_id", .text)
                t.column("bytes", .integer).notNull()
                t.column("connections", .integer).notNull()
                t.column("denied", .integer).notNull()
            }
        }
        return m
    }()
}
