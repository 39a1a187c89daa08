import Foundation
import Testing
import WarrenCore
import WarrenStore

@Suite("Event log and transitions")
struct EventRepositoryTests {
    @Test func eventsAreOrderedBySequenceAndFilteredBySince() async throws {
        let (store, _) = try makeStore()
        var seqs: [Int64] = []
        for i in 0..<5 {
            seqs.append(try await store.events.append(sandboxID: "s\(i % 2)", type: "t\(i)").seq)
        }
        #expect(seqs == seqs.sorted())
        #expect(Set(seqs).count == 5)
        #expect(try await store.events.events().map(\.type) == ["t0", "t1", "t2", "t3", "t4"])
        #expect(try await store.events.events(since: seqs[2]).map(\.type) == ["t3", "t4"])
        #expect(try await store.events.events(sandboxID: "s1").map(\.type) == ["t1", "t3"])
        #expect(try await store.events.events(limit: 2).map(\.type) == ["t0", "t1"])
        #expect(try await store.events.lastSequence() == seqs.last)
    }

    @Test func insertWritesACreateEvent() async throws {
        let (store, _) = try makeStore()
        let info = sandbox(name: "n1")
        let event = try await store.insert(info)
        #expect(event.type == "create")
        #expect(event.state == .created)
        #expect(try await store.events.events().map(\.sandboxID) == [info.id])
    }

    @Test func transitionPersistsStateAndEventTogether() async throws {
        let (store, _) = try makeStore()
        let info = sandbox()
        try await store.insert(info)
        let (moved, event) = try await store.transition(id: info.id, to: .starting, eventType: "start", detail: "d") {
            $0.pid = 7
        }
        #expect(moved.state == .starting)
        #expect(event.state == .starting)
        #expect(event.detail == "d")
        let row = try #require(try await store.sandboxes.get(id: info.id))
        #expect(row.state == .starting)
        #expect(row.pid == 7)
        #expect(try await store.events.events().map(\.type) == ["create", "start"])
    }

    @Test func illegalTransitionChangesNothing() async throws {
        let (store, _) = try makeStore()
        let info = sandbox()
        try await store.insert(info)
        let error = await #expect(throws: WarrenError.self) {
            try await store.transition(id: info.id, to: .exited, eventType: "exit") { $0.exitCode = 1 }
        }
        #expect(error?.code == .invalidState)
        let row = try #require(try await store.sandboxes.get(id: info.id))
        #expect(row.state == .created)
        #expect(row.exitCode == nil)
        #expect(try await store.events.events().count == 1)
    }

    @Test func transitionOfAnUnknownSandboxIsNotFound() async throws {
        let (store, _) = try makeStore()
        let error = await #expect(throws: WarrenError.self) {
            try await store.transition(id: "missing", to: .starting, eventType: "start")
        }
        #expect(error?.code == .notFound)
    }
}
