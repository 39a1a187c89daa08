import Foundation
import LinuxSupport
import Testing
import WarrenCore
import WarrenTestSupport

/// What the daemon does with Docker containers across its own restarts and behind its back,
/// and where Docker sandboxes' images come from.
@Suite("Docker sandboxes, reconciliation and images", .serialized)
struct DockerReconcileTests {
    func waitForState(_ d: DaemonHarness, _ name: String, _ state: SandboxState) async throws -> SandboxInfo {
        var info = try await DockerDriverTests.info(d, name)
        for _ in 0..<100 where info.state != state {
            try await Task.sleep(for: .milliseconds(100))
            info = try await DockerDriverTests.info(d, name)
        }
        return info
    }

    @Test("after a daemon crash: running containers are re-adopted, removed ones exited, orphans removed, others' untouched")
    func restart() async throws {
        let (d, owner) = try await DockerDriverTests.daemon()
        defer { TestDocker.removeLabelled(owner); d.cleanUp() }
        let image = try await TestDocker.testImage()
        for name in ["kept", "gone"] {
            #expect(try await d.cli(["run", "-d", "--driver", "docker", "--name", name, image, "--", "sleep", "1000"]).status == 0)
        }
        #expect(try await d.cli(["run", "-d", "--driver", "docker", "--network", "internal", "--name", "netted", image, "--", "sleep", "1000"]).status == 0)
        let kept = try await DockerDriverTests.sandboxID(d, "kept")
        let gone = try await DockerDriverTests.sandboxID(d, "gone")
        let netted = try await DockerDriverTests.sandboxID(d, "netted")

        try await runBlocking { d.crash() }
        try await TestDocker.docker(["rm", "-f", "warren-\(gone)"])
        let orphanID = String(repeating: "ab", count: 32)
        try await TestDocker.docker(["create", "--name", "warren-\(orphanID)", "--label", owner, "--label", "warren.sandbox=\(orphanID)", image, "true"])
        let foreign = "warren-test-foreign-\(UUID().uuidString.prefix(8))"
        try await TestDocker.docker(["create", "--name", foreign, "--label", "warren.owner=someone-else", "--label", "warren.sandbox=\(orphanID)", image, "true"])
        defer { _ = try? TestDocker.runNow(["rm", "-f", foreign]) }
        try await runBlocking { try d.start() }

        let keptInfo = try await DockerDriverTests.info(d, "kept")
        #expect(keptInfo.state == .running, "not re-adopted: \(keptInfo)")
        #expect(try await TestDocker.inspect("warren-\(kept)", "{{.State.Running}}") == "true", "re-adoption touched the container")
        let goneInfo = try await DockerDriverTests.info(d, "gone")
        #expect(goneInfo.state == .exited && goneInfo.error?.contains("removed outside Warren") == true, "\(goneInfo)")
        #expect(try await TestDocker.run(["inspect", "warren-\(orphanID)"]).status != 0, "orphan container survived")
        #expect(try await TestDocker.run(["inspect", foreign]).status == 0, "another daemon's container was removed")

        // The re-adopted sandbox is watched again: its exit is recorded.
        #expect(try await d.cli(["stop", "kept"]).status == 0)
        #expect(try await DockerDriverTests.info(d, "kept").exitCode == 143)

        // Removed behind Warren's back while the daemon runs: the sandbox is marked exited.
        try await TestDocker.docker(["rm", "-f", "warren-\(netted)"])
        let nettedInfo = try await waitForState(d, "netted", .exited)
        #expect(nettedInfo.state == .exited && nettedInfo.error?.contains("removed outside Warren") == true, "\(nettedInfo)")
        #expect(try await d.cli(["rm", "netted"]).status == 0)
        #expect(try await TestDocker.docker(["network", "ls", "-q", "--filter", "label=warren.sandbox=\(netted)"]).isEmpty,
                "rm left the sandbox's network")

        for name in ["kept", "gone"] { #expect(try await d.cli(["rm", name]).status == 0) }
        #expect(try await TestDocker.docker(["ps", "-aq", "--filter", "label=\(owner)"]).isEmpty, "containers outlived warren rm")
    }

    @Test("an image only in Warren's store is loaded into Docker with its config; one in neither is pulled by Docker")
    func imagesFromWarrenAndRegistry() async throws {
        let registry = try await runBlocking { try TestRegistry() }
        defer { registry.cleanUp() }
        let (d, owner) = try await DockerDriverTests.daemon(["--insecure-registry", registry.address])
        defer { TestDocker.removeLabelled(owner); d.cleanUp() }
        try registry.push("oci:\(try ImageCLITests.umociLayout(in: d.dir)):latest", as: "team/agent:1")
        let suffix = UUID().uuidString.prefix(8).lowercased()
        try registry.push("oci:\(try ImageCLITests.umociLayout(in: d.dir, name: "other")):latest", as: "team/other-\(suffix):1")

        // Pulled into Warren's store (gzip layers), not in Docker's.
        let ref = "\(registry.address)/team/agent:1"
        _ = try? await TestDocker.run(["rmi", "-f", ref])
        #expect(try await d.cli(["pull", "-q", ref]).status == 0)
        let run = try await d.cli(["run", "--rm", "--driver", "docker", ref])
        #expect(run.stdout == "hello from /home/agent as agent\n", "\(run.stdout) \(run.stderr)")
        let warrenID = try WarrenJSON.decoder().decode([ImageSummary].self, from: Data(try await d.cli(["images", "--json"]).stdout.utf8))
            .first { $0.tags.contains(ref) }?.id
        let dockerID = try await TestDocker.inspect(ref, "{{.Id}}")
        #expect(warrenID != nil && dockerID == warrenID, "Docker's copy is Warren's image")
        defer { _ = try? TestDocker.runNow(["rmi", "-f", ref]) }

        // In neither store: Docker pulls it from the registry itself.
        let other = "\(registry.address)/team/other-\(suffix):1"
        let pulled = try await d.cli(["run", "--rm", "--driver", "docker", other, "--", "-c", "echo pulled-by-docker"])
        #expect(pulled.stdout == "pulled-by-docker\n", "\(pulled.stderr)")
        #expect(try await TestDocker.run(["image", "inspect", other]).status == 0)
        #expect(try await d.cli(["images", "-q"]).stdout.split(separator: "\n").count == 1, "Warren's store was not used for it")
        _ = try? await TestDocker.run(["rmi", "-f", other])
    }
}
