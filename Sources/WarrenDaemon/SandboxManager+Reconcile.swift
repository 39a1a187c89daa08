import Foundation
import Logging
import RuntimeDriver
import WarrenCore

// MARK: - Start-up reconciliation

extension SandboxManager {
    /// What one reconciliation pass did, for logs and tests.
    public struct ReconcileReport: Sendable, Equatable {
        public var readopted: [String] = []
        public var exited: [String] = []
        public var lost: [String] = []
        public var orphansRemoved: [String] = []
        public var strayKilled: [String] = []
        /// Leftovers of removed sandboxes that still could not be removed.
        public var cleanupFailed: [String] = []
    }

    /// Brings the database and the drivers back in agreement after a (re)start.
    ///
    /// Rows in an active state are checked with their driver: still running → re-adopted
    /// (a waiter is started), exited → recorded, unknown → `failed` with reason `lost`.
    /// Then every sandbox a driver holds without a live row is an orphan and removed;
    /// a process still running for a row already marked finished is killed (its logs stay).
    @discardableResult
    public func reconcile() async -> ReconcileReport {
        var report = ReconcileReport()
        let rows: [SandboxInfo]
        do {
            rows = try await store.sandboxes.list()
        } catch {
            logger.error("reconciliation cannot read sandboxes", metadata: ["error": "\(error)"])
            return report
        }
        for row in rows where row.state.isActive || row.state == .created {
            await reconcile(row, into: &report)
        }
        for name in drivers.names {
            guard let driver = drivers.drivers[name] else { continue }
            await collectOrphans(driver, into: &report)
            await driver.pruneShared()
        }
        logger.info("reconciliation done", metadata: [
            "readopted": "\(report.readopted.count)", "exited": "\(report.exited.count)",
            "lost": "\(report.lost.count)", "orphans": "\(report.orphansRemoved.count)",
            "cleanupFailed": "\(report.cleanupFailed.count)",
        ])
        return report
    }

    private func reconcile(_ row: SandboxInfo, into report: inout ReconcileReport) async {
        let log = logger.with(row.id)
        guard let driver = try? driver(for: row) else {
            await markLost(row, because: "driver \(row.driver) is not configured", into: &report)
            return
        }
        let status: DriverStatus
        do {
            status = try await driver.inspect(id: row.id)
        } catch {
            log.warning("reconciliation cannot inspect sandbox; leaving it as is", metadata: ["error": "\(error)"])
            return
        }
        switch status {
        case .running(let pid):
            if row.state == .created || row.state == .starting {
                if row.state == .created { _ = try? await move(row.id, to: .starting, event: "start") }
                _ = try? await move(row.id, to: .running, event: "running", detail: "re-adopted, pid \(pid)") {
                    $0.pid = pid
                    $0.startedAt = $0.startedAt ?? Date()
                }
            } else {
                if row.state == .running { running.insert(row.id) }
                if row.pid != pid {
                    var updated = row
                    updated.pid = pid
                    try? await store.sandboxes.update(updated)
                }
            }
            metrics.sandboxesRunning.record(running.count)
            if row.spec.llm != nil, let facade {
                do { try await facade.listen(row.id) } catch {
                    log.error("cannot serve the LLM facade to a re-adopted sandbox", metadata: ["error": "\(error)"])
                }
            }
            if let access = row.spec.egress, let egress {
                do { try await egress.listen(row.id, access: access) } catch {
                    log.error("cannot serve the egress proxy to a re-adopted sandbox", metadata: ["error": "\(error)"])
                }
            }
            if row.spec.notebook { await notebooks?.opened(row.id) }
            startWaiter(row.id, driver: driver)
            report.readopted.append(row.id)
            log.info("re-adopted running sandbox", metadata: ["pid": "\(pid)"])
        case .exited(let exit):
            if row.state == .created {
                await markLost(row, because: "exited before it was recorded as started", into: &report)
                return
            }
            await finish(row.id, outcome: .success(exit))
            report.exited.append(row.id)
            log.info("sandbox exited while the daemon was away", metadata: ["exitCode": "\(exit.exitCode)"])
        case .created:
            // Sandboxes are created and started in one request: the daemon stopped in
            // between. Nothing ran; nothing of it is kept but the failed row.
            await markLost(row, because: "the daemon stopped before the sandbox started", into: &report)
            do { try await driver.remove(id: row.id) } catch {
                log.warning("cannot remove a sandbox that never started", metadata: ["error": "\(WarrenError.wrap(error).message)"])
            }
        case .missing:
            await markLost(row, because: "the driver no longer holds this sandbox", into: &report)
        }
    }

    private func markLost(_ row: SandboxInfo, because message: String, into report: inout ReconcileReport) async {
        do {
            try await move(row.id, to: .failed, event: "fail", detail: "lost: \(message)") {
                $0.reason = "lost"
                $0.error = message
                $0.finishedAt = Date()
                $0.pid = nil
            }
            report.lost.append(row.id)
            logger.with(row.id).warning("sandbox lost", metadata: ["detail": "\(message)"])
        } catch {
            logger.with(row.id).error("cannot mark sandbox lost", metadata: ["error": "\(error)"])
        }
    }

    private func collectOrphans(_ driver: any RuntimeDriver, into report: inout ReconcileReport) async {
        let ids: [String]
        do {
            ids = try await driver.list()
        } catch {
            logger.warning("reconciliation cannot list driver sandboxes", metadata: ["driver": "\(driver.name)", "error": "\(error)"])
            return
        }
        for id in ids {
            let row = try? await store.sandboxes.get(id: id)
            let log = logger.with(id)
            if row == nil || row?.state == .removed || row?.driver != driver.name {
                do {
                    try await driver.remove(id: id)
                    report.orphansRemoved.append(id)
                    log.info("removed orphan", metadata: ["driver": "\(driver.name)"])
                } catch {
                    report.cleanupFailed.append(id)
                    log.error("cannot remove the leftovers of a sandbox; tried again at the next start",
                              metadata: ["driver": "\(driver.name)", "error": "\(WarrenError.wrap(error).message)"])
                }
            } else if let row, row.state == .exited || row.state == .failed,
                      case .running = (try? await driver.inspect(id: id)) ?? .missing {
                do {
                    try await driver.stop(id: id, grace: .zero)
                    report.strayKilled.append(id)
                    log.warning("killed a process still running for a finished sandbox")
                } catch {
                    log.error("cannot kill stray sandbox process", metadata: ["error": "\(error)"])
                }
            }
        }
    }
}
