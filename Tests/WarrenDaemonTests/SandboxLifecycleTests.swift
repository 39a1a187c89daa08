import Foundation
import RuntimeDriver
import Testing
import WarrenCore
@testable import WarrenDaemon
import WarrenStore

@Suite("Sandbox lifecycle in the manager")
struct SandboxLifecycleTests {
    @Test func createRunsThenExitIsRecordedWithEvents() async throws {
        let h = try Harness()
        let info = try await h.manager.create(testSpec(name: "job"))
        #expect(info.state == .running)
        #expect(info.pid == 4242)
        #expect(info.startedAt != nil)
        #expect(info.spec.limits == ResourceLimits().withDefaults())
        #expect(await h.driver.calls == ["create \(info.id)", "start \(info.id)"])

        await h.driver.exit(info.id, code: 3)
        let ended = try await h.waitFor(info.id, .exited)
        #expect(ended.exitCode == 3)
        #expect(ended.reason == "exited")
        #expect(ended.pid == nil)
        #expect(ended.finishedAt != nil)

        let events = try await h.store.events.events(sandboxID: info.id)
        #expect(events.map(\.state) == [.created, .starting, .running, .exited])
        #expect(events.map(\.type) == ["create", "start", "running", "exit"])
    }

    @Test func illegalTransitionsAreRejected() async throws {
        let h = try Harness()
        let info = try await h.manager.create(testSpec())
        await h.driver.exit(info.id, code: 0)
        _ = try await h.waitFor(info.id, .exited)
        let error = await #expect(throws: WarrenError.self) {
            try await h.manager.move(info.id, to: .running, event: "running")
        }
        #expect(error?.code == .invalidState)
        #expect(try await h.store.sandboxes.get(id: info.id)?.state == .exited)
        // Exec into a sandbox that is not running is refused the same way.
        let execError = await #expect(throws: WarrenError.self) {
            _ = try await h.manager.exec(info.id, request: ExecRequest(command: ["/bin/true"]))
        }
        #expect(execError?.code == .invalidState)
    }

    @Test func stopUsesGraceAndRecordsStoppedExit() async throws {
        let h = try Harness()
        let info = try await h.manager.create(testSpec())
        let stopped = try await h.manager.stop(info.id, grace: .seconds(2))
        #expect(stopped.state == .exited)
        #expect(stopped.reason == "stopped")
        #expect(stopped.exitCode == 143)
        #expect(await h.driver.stopGraces[info.id] == .seconds(2))
        let states = try await h.store.events.events(sandboxID: info.id).compactMap(\.state)
        #expect(states == [.created, .starting, .running, .stopping, .exited])
        // Stopping again changes nothing.
        #expect(try await h.manager.stop(info.id).state == .exited)
        #expect(await h.driver.calls("stop").count == 1)
    }

    @Test func removeRefusesActiveSandboxUnlessForced() async throws {
        let h = try Harness()
        let info = try await h.manager.create(testSpec(name: "busy"))
        let error = await #expect(throws: WarrenError.self) { try await h.manager.remove("busy") }
        #expect(error?.code == .conflict)
        #expect(await h.driver.calls("remove").isEmpty)

        try await h.manager.remove("busy", force: true)
        #expect(await h.driver.stopGraces[info.id] == .zero)
        #expect(await h.driver.calls("remove") == [info.id])
        #expect(try await h.store.sandboxes.get(id: info.id)?.state == .removed)
        #expect(try await h.manager.list(all: true).isEmpty)
        // The name is free again.
        _ = try await h.manager.create(testSpec(name: "busy"))
    }

    @Test func removeOfAnExitedSandboxNeedsNoForce() async throws {
        let h = try Harness()
        let info = try await h.manager.create(testSpec())
        await h.driver.exit(info.id, code: 0)
        _ = try await h.waitFor(info.id, .exited)
        try await h.manager.remove(String(info.id.prefix(8)))
        #expect(await h.driver.calls("remove") == [info.id])
        let last = try await h.store.events.events(sandboxID: info.id).last
        #expect(last?.state == .removed)
    }

    @Test func autoRemoveRemovesAfterExit() async throws {
        let h = try Harness()
        let info = try await h.manager.create(testSpec(autoRemove: true))
        await h.driver.exit(info.id, code: 0)
        let gone = try await h.waitFor(info.id, .removed)
        #expect(gone.exitCode == 0)
        #expect(await h.driver.calls("remove") == [info.id])
    }

    @Test func failedDriverCreateLeavesNothingActiveAndCallsRemove() async throws {
        let h = try Harness()
        await h.driver.set(failCreate: WarrenError(.internalError, "no space left"))
        let error = await #expect(throws: WarrenError.self) { _ = try await h.manager.create(testSpec(name: "x")) }
        #expect(error?.message == "no space left")
        let rows = try await h.store.sandboxes.list(includeRemoved: true)
        #expect(rows.count == 1)
        #expect(rows[0].state == .failed)
        #expect(rows[0].error == "no space left")
        #expect(await h.driver.calls("remove") == [rows[0].id])
        #expect(await h.driver.calls("start").isEmpty)
    }

    @Test func failedDriverStartIsMarkedFailedAndCleanedUp() async throws {
        let h = try Harness()
        await h.driver.set(failStart: WarrenError(.unsupported, "no user namespaces"))
        let error = await #expect(throws: WarrenError.self) { _ = try await h.manager.create(testSpec()) }
        #expect(error?.code == .unsupported)
        let row = try #require(try await h.store.sandboxes.list(includeRemoved: true).first)
        #expect(row.state == .failed)
        #expect(await h.driver.calls("remove") == [row.id])
        #expect(try await h.store.events.events(sandboxID: row.id).compactMap(\.state) == [.created, .starting, .failed])
    }

    @Test func processThatExitsImmediatelyIsStillRecorded() async throws {
        let h = try Harness()
        await h.driver.set(exitOnStart: DriverExit(exitCode: 9, reason: "exited"))
        let info = try await h.manager.create(testSpec())
        let ended = try await h.waitFor(info.id, .exited)
        #expect(ended.exitCode == 9)
    }

    @Test func liveEventsReachSubscribers() async throws {
        let h = try Harness()
        let stream = try await h.manager.events(since: 0, follow: true)
        let info = try await h.manager.create(testSpec())
        await h.driver.exit(info.id, code: 0)
        var states: [SandboxState] = []
        for try await event in stream {
            if let state = event.state { states.append(state) }
            if event.state == .exited { break }
        }
        #expect(states == [.created, .starting, .running, .exited])
    }

    @Test(arguments: [
        SandboxSpec(rootfs: "/", command: []),
        SandboxSpec(rootfs: "/", command: [""]),
        SandboxSpec(name: "bad name!", rootfs: "/", command: ["/bin/true"]),
        SandboxSpec(command: ["/bin/true"]),
        SandboxSpec(rootfs: "/definitely/not/here", command: ["/bin/true"]),
        SandboxSpec(rootfs: "relative", command: ["/bin/true"]),
        SandboxSpec(rootfs: "/", command: ["/bin/true"], env: ["NOEQUALS"]),
        SandboxSpec(rootfs: "/", command: ["/bin/true"], env: ["=value"]),
        SandboxSpec(rootfs: "/", command: ["/bin/true"], limits: ResourceLimits(memoryBytes: 1024)),
        SandboxSpec(rootfs: "/", command: ["/bin/true"], limits: ResourceLimits(cpus: 0)),
        SandboxSpec(rootfs: "/", command: ["/bin/true"], workdir: "tmp"),
        SandboxSpec(rootfs: "/", command: ["/bin/true"], env: ["OPENAI_API_KEY=sk-live"]),
        SandboxSpec(rootfs: "/", command: ["/bin/true"], env: ["A=b", "ANTHROPIC_API_KEY=sk-ant"]),
        SandboxSpec(rootfs: "/", command: ["/bin/true"], env: ["ANTHROPIC_AUTH_TOKEN=x"]),
    ])
    func invalidSpecsAreRejectedBeforeAnythingIsPersisted(spec: SandboxSpec) async throws {
        let h = try Harness()
        let error = await #expect(throws: WarrenError.self) { _ = try await h.manager.create(spec) }
        #expect(error?.code == .invalidArgument)
        #expect(try await h.store.sandboxes.list(includeRemoved: true).isEmpty)
        #expect(await h.driver.calls.isEmpty)
    }

    @Test func providerKeysAreRefusedWithoutRepeatingThem() async throws {
        let h = try Harness()
        let error = await #expect(throws: WarrenError.self) {
            _ = try await h.manager.create(SandboxSpec(rootfs: "/tmp", command: ["/bin/true"], env: ["OPENAI_API_KEY=sk-secret-123"]))
        }
        #expect(error?.message.contains("OPENAI_API_KEY") == true && error?.message.contains("sk-secret") == false)
        let info = try await h.manager.create(SandboxSpec(rootfs: "/tmp", command: ["/bin/true"], env: ["MY_OPENAI_API_KEY_NAME=ok"]))
        let execError = await #expect(throws: WarrenError.self) {
            _ = try await h.manager.exec(info.id, request: ExecRequest(command: ["/bin/true"], env: ["ANTHROPIC_API_KEY=k"]))
        }
        #expect(execError?.message.contains("ANTHROPIC_API_KEY carries a provider key") == true, "\(String(describing: execError))")
    }
}
