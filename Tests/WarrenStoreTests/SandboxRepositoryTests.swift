import Foundation
import Testing
import WarrenCore
@testable import WarrenStore

@Suite("Sandbox repository")
struct SandboxRepositoryTests {
    @Test func migrationsApplyAndDatabaseIsWAL() async throws {
        let (store, dir) = try makeStore()
        #expect(try await store.appliedMigrations() == ["v1-sandboxes-events", "v2-llm-facade", "v3-agents", "v4-agent-raw-lines", "v5-egress"])
        // Opening the same file again runs no migration twice and keeps the data.
        try await store.sandboxes.insert(sandbox("a1"))
        let reopened = try WarrenStore(path: dir + "/warren.db", logger: .init(label: "test"))
        #expect(try await reopened.sandboxes.get(id: "a1") != nil)
        let mode = try await store.writer.read { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") }
        #expect(mode == "wal")
    }

    @Test func insertGetUpdateRoundTripsEveryField() async throws {
        let (store, _) = try makeStore()
        var info = sandbox(name: "web")
        info.spec.limits = ResourceLimits(memoryBytes: 64 << 20, cpus: 1.5)
        try await store.sandboxes.insert(info)
        #expect(try await store.sandboxes.get(id: info.id)?.spec == info.spec)

        info.state = .running
        info.startedAt = Date(timeIntervalSince1970: 1_700_000_000.25)
        info.finishedAt = Date(timeIntervalSince1970: 1_700_000_100.5)
        info.exitCode = 137
        info.reason = "killed"
        info.error = "boom"
        info.pid = 4242
        try await store.sandboxes.update(info)
        let got = try #require(try await store.sandboxes.get(id: info.id))
        #expect(got.state == .running)
        #expect(got.exitCode == 137)
        #expect(got.reason == "killed")
        #expect(got.error == "boom")
        #expect(got.pid == 4242)
        #expect(got.name == "web")
        #expect(abs(got.startedAt!.timeIntervalSince1970 - 1_700_000_000.25) < 0.001)
        #expect(abs(got.createdAt.timeIntervalSince(info.createdAt)) < 0.001)
    }

    @Test func updatingAMissingRowIsNotFound() async throws {
        let (store, _) = try makeStore()
        await #expect(throws: WarrenError(.notFound, "no such sandbox: nope")) {
            try await store.sandboxes.update(sandbox("nope"))
        }
    }

    @Test func namesAreUniqueAmongSandboxesThatAreNotRemoved() async throws {
        let (store, _) = try makeStore()
        let first = sandbox(name: "agent", state: .exited)
        try await store.sandboxes.insert(first)
        let error = await #expect(throws: WarrenError.self) {
            try await store.sandboxes.insert(sandbox(name: "agent"))
        }
        #expect(error?.code == .alreadyExists)

        // Once removed, the name is free again, and the old row is kept as history.
        try await store.transition(id: first.id, to: .removed, eventType: "remove")
        try await store.sandboxes.insert(sandbox(name: "agent"))
        #expect(try await store.sandboxes.list(includeRemoved: true).count == 2)
        #expect(try await store.sandboxes.list().count == 1)
    }

    @Test func uniqueIndexHoldsEvenBehindTheRepository() async throws {
        let (store, _) = try makeStore()
        try await store.sandboxes.insert(sandbox("x1", name: "n"))
        try await store.sandboxes.insert(sandbox("x2"))
        // Renaming x2 to a live name through a plain update must hit the partial unique index.
        var second = try #require(try await store.sandboxes.get(id: "x2"))
        second.name = "n"
        let error = await #expect(throws: WarrenError.self) { try await store.sandboxes.update(second) }
        #expect(error?.code == .alreadyExists)
    }

    @Test func resolveByIdNameAndUniquePrefix() async throws {
        let (store, _) = try makeStore()
        try await store.sandboxes.insert(sandbox("abc123", name: "alpha"))
        try await store.sandboxes.insert(sandbox("abd456", name: "beta"))
        #expect(try await store.sandboxes.resolve("abc123").name == "alpha")
        #expect(try await store.sandboxes.resolve("beta").id == "abd456")
        #expect(try await store.sandboxes.resolve("abc").id == "abc123")
        #expect(try await store.sandboxes.resolve("ABD4").id == "abd456")
        let ambiguous = await #expect(throws: WarrenError.self) { try await store.sandboxes.resolve("ab") }
        #expect(ambiguous?.code == .invalidArgument)
        let missing = await #expect(throws: WarrenError.self) { try await store.sandboxes.resolve("zzz") }
        #expect(missing?.code == .notFound)
        // A removed sandbox is no longer found by any reference, and stops making prefixes ambiguous.
        try await store.transition(id: "abd456", to: .removed, eventType: "remove")
        #expect(try await store.sandboxes.resolve("ab").id == "abc123")
        await #expect(throws: WarrenError.self) { try await store.sandboxes.resolve("beta") }
        await #expect(throws: WarrenError.self) { try await store.sandboxes.resolve("abd456") }
    }

    @Test func listIsNewestFirstAndCountsByState() async throws {
        let (store, _) = try makeStore()
        try await store.sandboxes.insert(sandbox("old", state: .exited, created: Date(timeIntervalSince1970: 10)))
        try await store.sandboxes.insert(sandbox("new", state: .running, created: Date(timeIntervalSince1970: 20)))
        try await store.sandboxes.insert(sandbox("gone", state: .removed, created: Date(timeIntervalSince1970: 30)))
        #expect(try await store.sandboxes.list().map(\.id) == ["new", "old"])
        #expect(try await store.sandboxes.list(includeRemoved: true).map(\.id) == ["gone", "new", "old"])
        #expect(try await store.sandboxes.list(states: [.running]).map(\.id) == ["new"])
        #expect(try await store.sandboxes.countByState() == ["exited": 1, "running": 1])
    }

    @Test func deleteRemovesTheRow() async throws {
        let (store, _) = try makeStore()
        try await store.sandboxes.insert(sandbox("d1"))
        #expect(try await store.sandboxes.delete(id: "d1"))
        #expect(try await store.sandboxes.get(id: "d1") == nil)
        #expect(try await store.sandboxes.delete(id: "d1") == false)
    }
}
