import Foundation
import RuntimeDriver
import Testing
import WarrenCore
@testable import WarrenDaemon
import WarrenStore

@Suite("Start-up reconciliation")
struct ReconciliationTests {
    /// Puts a row straight into the store, as a previous daemon would have left it.
    func seed(_ h: Harness, _ id: String, _ state: SandboxState, name: String? = nil) async throws {
        try await h.store.sandboxes.insert(SandboxInfo(
            id: id, name: name, driver: "fake", state: state, spec: testSpec(), createdAt: Date(), pid: 11))
    }

    @Test func activeRowsFollowWhatTheDriverSays() async throws {
        let h = try Harness()
        try await seed(h, "aexited", .running)
        await h.driver.set(status: .exited(DriverExit(exitCode: 7, reason: "exited")), for: "aexited")
        try await seed(h, "blive", .running)
        await h.driver.hold("blive")
        await h.driver.set(status: .running(pid: 55), for: "blive")
        try await seed(h, "cmissing", .starting)
        try await seed(h, "dstopping", .stopping)
        await h.driver.set(status: .created, for: "dstopping")

        let report = await h.manager.reconcile()
        #expect(report.exited == ["aexited"])
        #expect(report.readopted == ["blive"])
        #expect(Set(report.lost) == ["cmissing", "dstopping"])

        let exited = try #require(try await h.store.sandboxes.get(id: "aexited"))
        #expect(exited.state == .exited)
        #expect(exited.exitCode == 7)
        #expect(exited.reason == "exited")

        let live = try #require(try await h.store.sandboxes.get(id: "blive"))
        #expect(live.state == .running)
        #expect(live.pid == 55)

        for id in ["cmissing", "dstopping"] {
            let lost = try #require(try await h.store.sandboxes.get(id: id))
            #expect(lost.state == .failed)
            #expect(lost.reason == "lost")
        }
    }

    @Test func readoptedSandboxIsWaitedOn() async throws {
        let h = try Harness()
        try await seed(h, "live", .running)
        await h.driver.hold("live")
        await h.manager.reconcile()
        await h.driver.exit("live", code: 4)
        let ended = try await h.waitFor("live", .exited)
        #expect(ended.exitCode == 4)
    }

    @Test func orphansWithoutALiveRowAreRemoved() async throws {
        let h = try Harness()
        await h.driver.hold("orphan")
        try await seed(h, "gone", .removed)
        await h.driver.hold("gone")
        // An exited sandbox keeps its resources (its logs) until `rm`.
        try await seed(h, "kept", .exited)
        await h.driver.hold("kept")
        await h.driver.set(status: .exited(DriverExit(exitCode: 0, reason: "exited")), for: "kept")

        let report = await h.manager.reconcile()
        #expect(Set(report.orphansRemoved) == ["orphan", "gone"])
        #expect(Set(await h.driver.calls("remove")) == ["orphan", "gone"])
        #expect(await h.driver.held == ["kept"])
    }

    @Test func strayProcessOfAFinishedSandboxIsKilled() async throws {
        let h = try Harness()
        try await seed(h, "stray", .failed)
        await h.driver.hold("stray")
        let report = await h.manager.reconcile()
        #expect(report.strayKilled == ["stray"])
        #expect(await h.driver.stopGraces["stray"] == .zero)
        #expect(await h.driver.held == ["stray"])
    }

    @Test("a row a crash left 'created' is failed and its driver's leftovers removed")
    func crashMidCreate() async throws {
        let h = try Harness()
        try await seed(h, "halfmade", .created)
        await h.driver.hold("halfmade")
        await h.driver.set(status: .created, for: "halfmade")
        let report = await h.manager.reconcile()
        #expect(report.lost == ["halfmade"])
        let row = try #require(try await h.store.sandboxes.get(id: "halfmade"))
        #expect(row.state == .failed && row.reason == "lost")
        #expect(await h.driver.calls("remove") == ["halfmade"])
    }

    @Test func rowsOfAnUnknownDriverAreLost() async throws {
        let h = try Harness()
        try await h.store.sandboxes.insert(SandboxInfo(
            id: "other", name: nil, driver: "docker", state: .running, spec: testSpec(), createdAt: Date()))
        let report = await h.manager.reconcile()
        #expect(report.lost == ["other"])
        #expect(try await h.store.sandboxes.get(id: "other")?.state == .failed)
    }
}
