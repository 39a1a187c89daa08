import Foundation
import Logging
import RuntimeDriver
import WarrenCore

// MARK: - Waiting for exits

extension SandboxManager {
    /// Starts the background task that waits for the sandbox's main process and records its exit.
    func startWaiter(_ id: String, driver: any RuntimeDriver) {
        waiters[id]?.cancel()
        waiters[id] = Task {
            let outcome: Result<DriverExit, any Error>
            do {
                outcome = .success(try await driver.wait(id: id))
            } catch {
                outcome = .failure(error)
            }
            // Cancelled at shutdown or by a removal: the sandbox is re-adopted or gone.
            if Task.isCancelled { return }
            await self.finish(id, outcome: outcome)
        }
    }

    /// Records how a sandbox ended, then honours `autoRemove`.
    func finish(_ id: String, outcome: Result<DriverExit, any Error>) async {
        defer { waiters[id] = nil }
        let log = logger.with(id)
        guard let info = try? await store.sandboxes.get(id: id), info.state.isActive else { return }
        let stopped = stopRequested.remove(id) != nil
        if info.spec.llm != nil { await facade?.revoke(id) }
        if info.spec.egress != nil { await egress?.close(id) }
        if info.spec.notebook { await notebooks?.close(id) }
        // An exit that cannot be written (a full disk under the store) is written once it
        // can be: tried again with a growing pause until it is, or the daemon stops (the
        // next start-up's reconciliation records it then).
        var attempt = 0
        while true {
            do {
                try await record(id, outcome: outcome, stopped: stopped)
                break
            } catch let error as WarrenError where error.code == .invalidState || error.code == .notFound {
                log.debug("the sandbox moved on before its exit was recorded", metadata: ["error": "\(error.message)"])
                return
            } catch {
                attempt += 1
                log.error("cannot record the sandbox's exit; trying again", metadata: ["error": "\(error)", "attempt": "\(attempt)"])
                if isShuttingDown || Task.isCancelled { return }
                try? await Task.sleep(for: .seconds(min(attempt, 10)))
                if isShuttingDown || Task.isCancelled { return }
            }
        }
        // Our own entry goes first so that the removal does not cancel this very task.
        waiters[id] = nil
        if info.spec.autoRemove, let driver = try? driver(for: info) {
            do {
                try await removeNow(id, driver: driver)
            } catch {
                log.warning("auto-remove failed", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Writes how the sandbox ended: its row and the exit or fail event.
    private func record(_ id: String, outcome: Result<DriverExit, any Error>, stopped: Bool) async throws {
        switch outcome {
        case .success(let exit):
            let failed = exit.reason == "failed"
            let reason = stopped && exit.reason != "timeout" && !failed ? "stopped" : exit.reason
            if failed { metrics.sandboxesFailed.increment() }
            try await move(id, to: failed ? .failed : .exited, event: failed ? "fail" : "exit",
                           detail: "exit code \(exit.exitCode), \(reason)") {
                $0.exitCode = exit.exitCode
                $0.reason = reason
                $0.error = exit.error
                $0.finishedAt = Date()
                $0.pid = nil
            }
        case .failure(let error):
            let message = WarrenError.wrap(error).message
            logger.with(id).error("waiting for the sandbox failed", metadata: ["error": "\(message)"])
            metrics.sandboxesFailed.increment()
            try await move(id, to: .failed, event: "fail", detail: message) {
                $0.reason = "lost"
                $0.error = message
                $0.finishedAt = Date()
                $0.pid = nil
            }
        }
    }

    /// Waits until the sandbox's waiter has recorded its exit, at most `timeout`.
    func awaitExit(_ id: String, timeout: Duration) async {
        guard let task = waiters[id] else { return }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await task.value }
            group.addTask { try? await Task.sleep(for: timeout) }
            await group.next()
            group.cancelAll()
        }
    }
}

// MARK: - Stop and remove

extension SandboxManager {
    /// Stops a running sandbox: SIGTERM, then after `grace` (default 10s) SIGKILL.
    ///
    /// Returns the sandbox after its exit was recorded. Stopping one that already
    /// ended returns it unchanged.
    public func stop(_ reference: String, grace: Duration? = nil) async throws -> SandboxInfo {
        let info = try await store.sandboxes.resolve(reference)
        let grace = grace ?? defaultStopGrace
        switch info.state {
        case .starting, .running:
            stopRequested.insert(info.id)
            try await move(info.id, to: .stopping, event: "stop", detail: "grace \(grace)")
        case .stopping:
            stopRequested.insert(info.id)
        case .created, .exited, .failed, .removed:
            return info
        }
        try await driver(for: info).stop(id: info.id, grace: grace)
        await awaitExit(info.id, timeout: grace + .seconds(10))
        return try await current(info.id)
    }

    /// Removes a sandbox and everything its driver holds for it.
    ///
    /// An active sandbox is refused with `conflict` unless `force`, which kills it
    /// first (zero grace). The row stays as `removed` for history and is no longer listed.
    public func remove(_ reference: String, force: Bool = false) async throws {
        let info = try await store.sandboxes.resolve(reference)
        let driver = try driver(for: info)
        if info.state.isActive {
            guard force else {
                throw WarrenError(.conflict, "sandbox \(info.shortID) is \(info.state.rawValue): stop it first or force the removal")
            }
            stopRequested.insert(info.id)
            if info.state != .stopping {
                _ = try? await move(info.id, to: .stopping, event: "stop", detail: "forced removal")
            }
            do {
                try await driver.stop(id: info.id, grace: .zero)
            } catch {
                logger.with(info.id).warning("kill before removal failed", metadata: ["error": "\(error)"])
            }
            await awaitExit(info.id, timeout: .seconds(10))
        }
        try await removeNow(info.id, driver: driver)
    }

    /// Removes the driver's resources, then marks the row `removed`.
    ///
    /// When the driver cannot remove everything (files it cannot delete), the row is
    /// still `removed`, the event says the cleanup is pending, the error is thrown, and
    /// the driver keeps listing the leftovers, so the next start-up retries them.
    func removeNow(_ id: String, driver: any RuntimeDriver) async throws {
        waiters.removeValue(forKey: id)?.cancel()
        await facade?.revoke(id)
        await egress?.close(id)
        await notebooks?.close(id)
        var cleanupError: WarrenError?
        do {
            try await driver.remove(id: id)
        } catch {
            cleanupError = WarrenError.wrap(error)
            logger.with(id).error("removing the sandbox's resources failed; retried at the next start",
                                  metadata: ["error": "\(cleanupError!.message)"])
        }
        let info = try await current(id)
        if info.state == .removed { return }
        if info.state.isActive || info.state == .created {
            // Its exit was never recorded (killed during removal, or never started).
            try await move(id, to: .failed, event: "fail", detail: "removed while \(info.state.rawValue)") {
                $0.reason = "killed"
                $0.finishedAt = $0.finishedAt ?? Date()
                $0.pid = nil
            }
        }
        do {
            try await move(id, to: .removed, event: "remove",
                           detail: cleanupError.map { "cleanup pending: \($0.message)" }) { $0.pid = nil }
        } catch let error as WarrenError where error.code == .invalidState {
            // A concurrent removal got there first.
            if try await current(id).state != .removed { throw error }
        }
        stopRequested.remove(id)
        if let cleanupError {
            throw WarrenError(.internalError, "sandbox \(info.shortID) is removed, but not all its files could be: \(cleanupError.message); the daemon tries again at its next start")
        }
    }
}
