import Foundation
import Testing
import WarrenCore
@testable import WarrenDaemon

@Suite("Mount sources that expose the host")
struct MountPolicyTests {
    let base = NSTemporaryDirectory() + "warren-policy-\(UUID().uuidString.prefix(8))"

    func policy(allowed: [String] = []) throws -> MountPolicy {
        for d in ["data", "run", "docker", "work/project"] {
            try FileManager.default.createDirectory(atPath: base + "/" + d, withIntermediateDirectories: true)
        }
        return MountPolicy(dataRoot: base + "/data", socketPath: base + "/run/warren.sock",
                           dockerSocket: base + "/docker/docker.sock", allowed: allowed)
    }

    func refused(_ p: MountPolicy, _ source: String) -> WarrenError? {
        do { _ = try p.check([MountSpec(source: source, destination: "/x")]); return nil } catch { return error as? WarrenError }
    }

    @Test("the host's root, kernel trees, the data root, the sockets, and what contains or lies inside them are refused")
    func refusals() throws {
        let p = try policy()
        defer { try? FileManager.default.removeItem(atPath: base) }
        try FileManager.default.createSymbolicLink(atPath: base + "/work/proc-link", withDestinationPath: "/proc")
        for source in ["/", "/proc", "/proc/self", "/sys", "/sys/fs/cgroup", "/dev", "/dev/shm", base, base + "/data",
                       base + "/data/..", base + "/run", base + "/work/proc-link", NSTemporaryDirectory()] {
            let e = refused(p, source)
            #expect(e?.code == .forbidden, "\(source) was not refused")
            #expect(e?.message.contains("refused: it exposes") == true)
        }
        _ = FileManager.default.createFile(atPath: base + "/docker/docker.sock", contents: nil)
        #expect(refused(p, base + "/docker/docker.sock")?.code == .forbidden)
        #expect(refused(p, base + "/docker")?.code == .forbidden)
        #expect(refused(p, base + "/missing")?.code == .invalidArgument)
    }

    @Test("an ordinary directory is allowed and resolved; the configuration can allow a protected path")
    func allowed() throws {
        let p = try policy()
        defer { try? FileManager.default.removeItem(atPath: base) }
        let checked = try p.check([MountSpec(source: base + "/work/project/../project", destination: "/w", managed: true)])
        #expect(checked.first?.source == base + "/work/project")
        #expect(checked.first?.managed == nil, "a client cannot claim a daemon-managed mount")
        let open = try policy(allowed: ["/dev/shm"])
        #expect(refused(open, "/dev/shm") == nil)
        #expect(refused(open, "/dev") != nil)
        #expect(throws: WarrenError.self) { _ = try p.checkRootfs("/") }
        #expect(throws: WarrenError.self) { _ = try p.checkRootfs(base) }
        #expect(try p.checkRootfs(base + "/work") == base + "/work")
    }
}
