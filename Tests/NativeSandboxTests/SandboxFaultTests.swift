#if canImport(Glibc)
import Glibc
#endif
import Foundation
import LinuxSupport
import NativeDriver
import RuntimeDriver
import Testing
import WarrenCore
import WarrenTestSupport

/// What happens to a sandbox when its monitor is killed or stopped, or the disk fills.
@Suite("Native sandbox faults", .serialized)
struct SandboxFaultTests {
    @Test("a killed monitor takes its whole sandbox with it, and the exit says it was lost")
    func monitorKilled() async throws {
        let f = DriverFixture()
        defer { f.cleanUp() }
        let id = SandboxID.generate()
        try await f.driver.create(id: id, spec: try f.spec(["/bin/sh", "-c", "sleep 1000 & sleep 1000"]))
        _ = try await f.driver.start(id: id)
        let state = try f.helperState(id)
        let start = processStartTime(state.initPID) ?? 0
        #expect(kill(state.helperPID, SIGKILL) == 0)
        let exit = try await f.driver.wait(id: id)
        #expect(exit.reason == "lost")
        #expect(await f.eventually { !processIsAlive(state.initPID, startTime: start) }, "the sandbox outlived its monitor")
        if let layout = CgroupLayout.detect() {
            let cg = SandboxCgroup(layout: layout, relativePath: NativeDriver.cgroupParent(dataRoot: f.dataRoot) + "/" + id)
            #expect(cg.pids().isEmpty, "processes left in the cgroup: \(cg.pids())")
        }
        try await f.driver.remove(id: id)
    }

    @Test("a stopped monitor holds up neither stop nor removal")
    func monitorStopped() async throws {
        let f = DriverFixture()
        defer { f.cleanUp() }
        var ids: [String] = []
        for _ in 0..<2 {
            let id = SandboxID.generate()
            try await f.driver.create(id: id, spec: try f.spec(["/bin/sleep", "1000"]))
            _ = try await f.driver.start(id: id)
            #expect(kill(try f.helperState(id).helperPID, SIGSTOP) == 0)
            ids.append(id)
        }
        let clock = ContinuousClock()
        let stopTook = try await clock.measure { try await f.driver.stop(id: ids[0], grace: .seconds(1)) }
        // Bounded, not fast: the whole suite may be loading both cores (a stopped monitor
        // used to make stop wait for ever).
        #expect(stopTook < .seconds(30), "stop took \(stopTook)")
        let exit = try await f.driver.wait(id: ids[0])
        #expect(exit.exitCode == 137)
        let init0 = try f.helperState(ids[0]).initPID
        #expect(await f.eventually { kill(init0, 0) != 0 })
        for id in ids {
            let removeTook = try await clock.measure { try await f.driver.remove(id: id) }
            #expect(removeTook < .seconds(30), "remove took \(removeTook)")
            #expect(!FileManager.default.fileExists(atPath: f.dataRoot + "/sandboxes/" + id))
        }
    }

    @Test("an exit on a full disk is recorded, and a follower of its log ends")
    func exitOnFullDisk() async throws {
        let root = NSTemporaryDirectory() + "warren-full-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        #expect(mount("tmpfs", root, "tmpfs", 0, "size=24m,mode=0711") == 0)
        defer { umount2(root, Int32(MNT_DETACH)); rmdir(root) }
        let f = DriverFixture(dataRoot: root + "/data")
        let id = SandboxID.generate()
        try await f.driver.create(id: id, spec: try f.spec(["/bin/sh", "-c", "dd if=/dev/zero of=/fill bs=64k 2>/dev/null; df -k / | tail -1; exit 3"]))
        _ = try await f.driver.start(id: id)
        let follower = Task { () -> Int in
            var n = 0
            for try await record in try await f.driver.logs(id: id, follow: true) { n += record.payload.count }
            return n
        }
        let exit = try await f.driver.wait(id: id)
        #expect(exit.exitCode == 3 && exit.reason == "exited", "\(exit)")
        _ = try await follower.value
        try await f.driver.remove(id: id)
    }

    @Test("no two sandboxes on the host share an id range, whichever daemon made them")
    func distinctRangesAcrossDaemons() async throws {
        let a = DriverFixture(), b = DriverFixture()
        defer { a.cleanUp(); b.cleanUp() }
        var maps: [UInt32] = []
        var made: [(DriverFixture, String)] = []
        for f in [a, b, a, b] {
            let id = SandboxID.generate()
            try await f.driver.create(id: id, spec: try f.spec(["/bin/sleep", "1000"]))
            _ = try await f.driver.start(id: id)
            maps.append(try f.idMap(id).hostID)
            made.append((f, id))
        }
        #expect(Set(maps).count == maps.count, "shared ranges: \(maps)")
        for (f, id) in made { try await f.driver.remove(id: id) }
        // A range is free again once its sandbox is removed. Other suites' daemons create
        // sandboxes meanwhile and may take some of the four first: one of four new ones gets one.
        var again: [String] = []
        for _ in 0..<4 {
            let id = SandboxID.generate()
            try await a.driver.create(id: id, spec: try a.spec(["/bin/true"]))
            again.append(id)
        }
        let reused = try again.map { try a.idMap($0).hostID }
        #expect(reused.contains { maps.contains($0) }, "no freed range was given again: \(maps) then \(reused)")
        for id in again { try await a.driver.remove(id: id) }
    }

    @Test("--disk caps the writable layer in the kernel, on an overlay and on a copy",
          arguments: [RootfsMode.overlay, .copy])
    func diskQuota(mode: RootfsMode) async throws {
        let f = DriverFixture(rootfsMode: mode)
        defer { f.cleanUp() }
        let r = try await f.runToEnd(try f.spec(["/bin/sh", "-c", """
            for i in 1 2 3 4 5 6; do dd if=/dev/zero of=/f$i bs=1M count=10 2>/dev/null || echo full; done
            du -sk / -x 2>/dev/null | cut -f1
            """]) { $0.limits.diskBytes = 32 << 20 })
        let lines = r.stdout.split(separator: "\n")
        #expect(lines.contains("full"), "wrote 60 MB into a 32 MB layer: \(r.stdout) \(r.stderr)")
        #expect((lines.last.flatMap { Int($0) } ?? .max) < 33 * 1024, "\(r.stdout)")
    }

    @Test("the log keeps its last --log-max bytes in two files, and readers get the latest output")
    func logCap() async throws {
        let f = DriverFixture()
        defer { f.cleanUp() }
        let id = SandboxID.generate()
        try await f.driver.create(id: id, spec: try f.spec(["/bin/sh", "-c", "yes | head -c 20000000; echo; echo LAST-LINE"]) {
            $0.limits.logBytes = 1 << 20
        })
        _ = try await f.driver.start(id: id)
        // A follower from the start sees the records in order, whatever rotation does.
        var followed = 0
        var lastPayload: [UInt8] = []
        for try await r in try await f.driver.logs(id: id, follow: true) {
            followed += r.payload.count
            lastPayload = r.payload
        }
        #expect(String(decoding: lastPayload, as: UTF8.self).hasSuffix("LAST-LINE\n"))
        let exit = try await f.driver.wait(id: id)
        #expect(exit.exitCode == 0)
        let logs = f.dataRoot + "/sandboxes/\(id)/logs/"
        var onDisk = 0
        for name in ["output.log", "output.log.1"] {
            var st = stat()
            if stat(logs + name, &st) == 0 { onDisk += Int(st.st_size) }
        }
        #expect(onDisk <= (1 << 20) + (80 << 10), "the log holds \(onDisk) bytes")
        #expect(onDisk > 256 << 10, "the log kept almost nothing: \(onDisk)")
        let (out, _) = try await f.output(id)
        #expect(out.hasSuffix("y\ny\n\nLAST-LINE\n") && out.utf8.count <= onDisk, "\(out.suffix(40))")
        try await f.driver.remove(id: id)
    }
}
