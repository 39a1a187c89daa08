import Foundation
import LinuxSupport
import NativeDriver
import Testing
import WarrenCore
import WarrenTestSupport

/// The docker driver against a real dockerd, through the real CLI and daemon; `docker`
/// itself checks what Warren made.
@Suite("Docker driver", .serialized)
struct DockerDriverTests {
    /// A daemon and the label on everything it makes in Docker.
    static func daemon(_ arguments: [String] = []) async throws -> (DaemonHarness, String) {
        _ = try await TestDocker.testImage()
        let d = try await runBlocking { try DaemonHarness(daemonArguments: arguments) }
        return (d, "warren.owner=" + NativeDriver.cgroupParent(dataRoot: d.dataRoot))
    }

    static func sandboxID(_ d: DaemonHarness, _ name: String) async throws -> String {
        let info = try WarrenJSON.decoder().decode(SandboxInfo.self, from: Data(try await d.cli(["inspect", name]).stdout.utf8))
        return info.id
    }

    static func info(_ d: DaemonHarness, _ name: String) async throws -> SandboxInfo {
        try WarrenJSON.decoder().decode(SandboxInfo.self, from: Data(try await d.cli(["inspect", name]).stdout.utf8))
    }

    /// Containers and networks Docker holds for a sandbox.
    static func dockerObjects(_ id: String) async throws -> (containers: String, networks: String) {
        (try await TestDocker.docker(["ps", "-aq", "--filter", "label=warren.sandbox=\(id)"]),
         try await TestDocker.docker(["network", "ls", "-q", "--filter", "label=warren.sandbox=\(id)"]))
    }

    @Test("run --driver docker: output, exit code, and docker inspect shows every hardening field")
    func hardenedContainer() async throws {
        let (d, owner) = try await Self.daemon()
        defer { TestDocker.removeLabelled(owner); d.cleanUp() }
        let image = try await TestDocker.testImage()
        let script = "grep -E '^(Cap|NoNewPrivs|Seccomp:)' /proc/self/status; id -u; echo A=$A; touch /etc/x 2>&1; "
            + "touch /tmp/y && echo tmp-ok; ulimit -n; cat /proc/net/dev | tail -n +3 | cut -d: -f1; echo err >&2; exit 5"
        let r = try await d.cli(["run", "--driver", "docker", "--name", "hard", "--memory", "96m", "--cpus", "0.5",
                           "--pids-limit", "64", "--nofile", "256", "--read-only", "-u", "1000:1000", "-e", "A=b",
                           image, "--", "/bin/sh", "-c", script])
        #expect(r.status == 5, "exit code as Docker reports it: \(r.stderr)")
        for set in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
            #expect(r.stdout.contains("\(set):\t0000000000000000"), "\(set) not empty: \(r.stdout)")
        }
        #expect(r.stdout.contains("NoNewPrivs:\t1"))
        #expect(r.stdout.contains("Seccomp:\t2"), "Docker's default seccomp profile is not applied: \(r.stdout)")
        let lines = r.stdout.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        #expect(lines.contains("1000") && lines.contains("A=b") && lines.contains("tmp-ok") && lines.contains("256"), "\(r.stdout)")
        #expect(r.stdout.contains("Read-only file system"))
        #expect(lines.contains("lo") && !lines.contains("eth0"), "network none has loopback only: \(r.stdout)")
        #expect(r.stderr.contains("err"))

        let id = try await Self.sandboxID(d, "hard")
        let format = [
            "{{json .HostConfig.CapDrop}}", "{{index .HostConfig.SecurityOpt 0}}", "{{.HostConfig.PidsLimit}}",
            "{{.HostConfig.Memory}}", "{{.HostConfig.MemorySwap}}", "{{.HostConfig.NanoCpus}}",
            "{{.HostConfig.ReadonlyRootfs}}", "{{.HostConfig.Init}}", "{{.Config.User}}", "{{.HostConfig.NetworkMode}}",
            "{{.HostConfig.Privileged}}", "{{.HostConfig.IpcMode}}", "{{range .HostConfig.Ulimits}}{{.Name}}={{.Soft}}/{{.Hard}}{{end}}",
            "{{index .Config.Labels \"warren.sandbox\"}}", "{{.State.ExitCode}}",
        ].joined(separator: "|")
        let fields = try await TestDocker.inspect("warren-\(id)", format).split(separator: "|").map(String.init)
        #expect(fields == [
            "[\"ALL\"]", "no-new-privileges:true", "64", "\(96 << 20)", "\(96 << 20)", "500000000", "true", "true",
            "1000:1000", "none", "false", "private", "nofile=256/256", id, "5",
        ])
        // Warren's own seccomp profile, sent with the container, in place of the engine's default.
        let profile = try await TestDocker.inspect("warren-\(id)", "{{index .HostConfig.SecurityOpt 1}}")
        #expect(profile.hasPrefix("seccomp={") && profile.contains("\"defaultAction\":\"SCMP_ACT_ERRNO\""), "\(profile.prefix(200))")
        #expect(!profile.contains("io_uring"), "the profile allows io_uring")

        let report = try JSONSerialization.jsonObject(with: Data(try await d.cli(["info", "--json"]).stdout.utf8)) as? [String: Any]
        let docker = (report?["drivers"] as? [[String: Any]])?.first { $0["name"] as? String == "docker" }
        #expect(docker?["available"] as? Bool == true, "\(String(describing: docker))")

        #expect(try await d.cli(["rm", "hard"]).status == 0)
        let left = try await Self.dockerObjects(id)
        #expect(left.containers.isEmpty && left.networks.isEmpty, "rm left \(left)")
    }

    @Test("the security probe runs in a Docker sandbox: every dangerous row is denied")
    func securityProbe() async throws {
        let (d, owner) = try await Self.daemon()
        defer { TestDocker.removeLabelled(owner); d.cleanUp() }
        let r = try await d.cli(["run", "--rm", "--driver", "docker", try await TestDocker.testImage(), "--", "/bin/warren-probe"])
        #expect(r.status == 0, "probe failed: \(r.stderr)")
        let rows = r.stdout.split(separator: "\n").map(String.init)
        #expect(rows.last == "probe-done")
        #expect(rows.count >= 30)
        let allowed = Set(rows.dropLast().filter { !$0.contains(" DENIED") }.map { String($0.split(separator: " ")[0]) })
        // Warren's own profile, not the engine's default (Docker 20.10's allows io_uring and
        // the i386 ABI): the only row let through is tracing init, which has no more
        // privilege than the workload, as the capability report says.
        #expect(allowed == ["ptrace_attach_init"], "\(r.stdout)")
        #expect(rows.contains("io_uring_setup DENIED Operation not permitted"), "\(r.stdout)")
        #expect(rows.contains("clone3 DENIED Function not implemented"))
        #expect(rows.contains("ioctl_tiocsti DENIED Operation not permitted"), "\(r.stdout)")
        #expect(rows.contains { $0.hasPrefix("unshare_user DENIED") } && rows.contains { $0.hasPrefix("mount_tmpfs DENIED") })
        let info = try await d.cli(["info"]).stdout
        #expect(info.contains("Warren's allow-list sent as each container's profile") && info.contains("which may trace it"))
        #expect(try await TestDocker.docker(["ps", "-aq", "--filter", "label=\(owner)"]).isEmpty, "--rm left a container")
    }

    @Test("memory and process limits are enforced; an OOM kill is reported as such")
    func limits() async throws {
        let (d, owner) = try await Self.daemon()
        defer { TestDocker.removeLabelled(owner); d.cleanUp() }
        let image = try await TestDocker.testImage()
        let pids = try await d.cli(["run", "--rm", "--driver", "docker", "--pids-limit", "12", image, "--",
                              "/bin/sh", "-c", "for i in $(seq 1 30); do sleep 20 & done 2>&1 | head -1; echo forked"])
        #expect(pids.stdout.contains("can't fork") || pids.stderr.contains("can't fork"), "pids limit not enforced: \(pids.stdout) \(pids.stderr)")

        let oom = try await d.cli(["run", "--driver", "docker", "--name", "oom", "--memory", "32m", image, "--",
                             "/bin/sh", "-c", "head -c 200000000 /dev/zero | tail > /dev/null"])
        #expect(oom.status == 137, "\(oom.stdout) \(oom.stderr)")
        let info = try await Self.info(d, "oom")
        #expect(info.reason == "killed" && info.error?.contains("out of memory") == true, "\(info)")
    }

    @Test("network internal: its own network, no route out, no host address reachable; none without the flag")
    func internalNetwork() async throws {
        let (d, owner) = try await Self.daemon()
        defer { TestDocker.removeLabelled(owner); d.cleanUp() }
        let image = try await TestDocker.testImage()
        let port = try TestRegistry.freePort()
        let listener = Process()
        listener.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        listener.arguments = ["-m", "http.server", "\(port)", "--bind", "0.0.0.0"]
        listener.standardOutput = FileHandle.nullDevice
        listener.standardError = FileHandle.nullDevice
        try listener.run()
        defer { kill(listener.processIdentifier, SIGKILL); listener.waitForExit() }
        for _ in 0..<50 where !TestRegistry.accepts(port) { try await Task.sleep(for: .milliseconds(100)) }

        // Every IPv4 address of the host, the default bridge's among them.
        let hostAddresses = try await TestRootfs.run("/bin/sh", ["-c", "ip -4 -o addr show | awk '{print $4}' | cut -d/ -f1"])
            .split(separator: "\n").map(String.init).filter { !$0.hasPrefix("127.") }
        #expect(hostAddresses.contains("172.17.0.1"))
        // The probe works: a plain container on Docker's default bridge reaches the host.
        let control = try await TestDocker.run(["run", "--rm", image, "/bin/sh", "-c", "nc -w 2 172.17.0.1 \(port) </dev/null && echo reachable"])
        #expect(control.stdout.contains("reachable"), "control probe failed: \(control.stderr)")

        let targets = (hostAddresses + ["1.1.1.1"]).joined(separator: " ")
        let script = "ip -4 -o addr show eth0 | wc -l; ip route; gw=$(ip route | awk '/default/ {print $3}'); "
            + "for t in $gw \(targets); do nc -w 1 $t \(port) </dev/null && echo \"$t reachable\" || echo \"$t blocked\"; done"
        let r = try await d.cli(["run", "-d", "--driver", "docker", "--network", "internal", "--name", "net", image, "--",
                           "/bin/sh", "-c", script + "; sleep 1000"])
        #expect(r.status == 0, "\(r.stderr)")
        let id = try await Self.sandboxID(d, "net")
        var output = ""
        for _ in 0..<100 {
            output = try await d.cli(["logs", "net"]).stdout
            if output.contains("1.1.1.1 ") { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(output.hasPrefix("1\n"), "the sandbox has an interface on its network: \(output)")
        #expect(!output.contains("reachable"), "an internal sandbox reached the host or beyond: \(output)")
        #expect(output.contains("1.1.1.1 blocked") && output.contains("172.17.0.1 blocked"), "\(output)")

        let network = try await TestDocker.inspect("network", "warren-\(id)", "{{.Internal}}|{{index .Options \"com.docker.network.bridge.inhibit_ipv4\"}}|{{index .Options \"com.docker.network.bridge.enable_icc\"}}|{{index .Labels \"warren.sandbox\"}}")
        #expect(network == "true|true|false|\(id)")
        #expect(try await TestDocker.inspect("warren-\(id)", "{{.HostConfig.NetworkMode}}") == "warren-\(id)")

        #expect(try await d.cli(["rm", "-f", "net"]).status == 0)
        let left = try await Self.dockerObjects(id)
        #expect(left.containers.isEmpty && left.networks.isEmpty, "rm left \(left)")
    }

    @Test("a failed create leaves no container and no network; a missing image or mount source is a clear error")
    func failedCreate() async throws {
        let (d, owner) = try await Self.daemon()
        defer { TestDocker.removeLabelled(owner); d.cleanUp() }
        let bad = try await d.cli(["run", "--driver", "docker", "--network", "internal", "--mount", "/nonexistent-\(UUID().uuidString):/data",
                             try await TestDocker.testImage(), "--", "true"])
        #expect(bad.status == 125 && bad.stderr.contains("does not exist") && bad.stderr.contains("nonexistent"), "\(bad.stderr)")
        let missing = try await d.cli(["run", "--driver", "docker", "127.0.0.1:9/nowhere/image:1", "--", "true"])
        #expect(missing.status != 0 && missing.stderr.contains("neither Docker's store nor Warren's"), "\(missing.stderr)")
        #expect(try await TestDocker.docker(["ps", "-aq", "--filter", "label=\(owner)"]).isEmpty)
        #expect(try await TestDocker.docker(["network", "ls", "-q", "--filter", "label=\(owner)"]).isEmpty)
        let ps = try await d.cli(["ps", "-a"]).stdout
        // The missing source is refused before anything is made, so it leaves no row;
        // the missing image is found missing by the driver, and its sandbox is failed.
        #expect(ps.lowercased().components(separatedBy: "failed").count - 1 == 1, "\(ps)")
    }

    @Test("binds: refused to a root workload (Docker maps no ids), a non-root one writes as itself; --disk refused where Docker cannot cap")
    func bindsAndDisk() async throws {
        let (d, owner) = try await Self.daemon()
        defer { TestDocker.removeLabelled(owner); d.cleanUp() }
        let image = try await TestDocker.testImage()
        let work = d.dir + "/work"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        chown(work, 1000, 1000)
        let asRoot = try await d.cli(["run", "--rm", "--driver", "docker", "--mount", work + ":/work", image, "--", "touch", "/work/x"])
        #expect(asRoot.status == 125 && asRoot.stderr.contains("Docker maps no user ids"), "\(asRoot.stderr)")
        #expect(!FileManager.default.fileExists(atPath: work + "/x"))
        let asUser = try await d.cli(["run", "--rm", "--driver", "docker", "-u", "1000:1000", "--mount", work + ":/work", image, "--",
                                      "/bin/sh", "-c", "echo hi > /work/made && chmod 4755 /work/made"])
        #expect(asUser.status == 0, "\(asUser.stderr)")
        var st = stat()
        #expect(stat(work + "/made", &st) == 0 && st.st_uid == 1000, "owned by \(st.st_uid)")
        let protected = try await d.cli(["run", "--rm", "--driver", "docker", "-u", "1000:1000", "--mount", "/var/run/docker.sock:/s", image, "--", "true"])
        #expect(protected.status == 125 && protected.stderr.contains("is refused: it exposes"), "\(protected.stderr)")
        let disk = try await d.cli(["run", "--rm", "--driver", "docker", "--disk", "64m", image, "--", "true"])
        let info = try await d.cli(["info", "--json"]).stdout
        if info.contains("\"disk_quota\"") && info.contains("Docker caps a container's writable layer only") {
            #expect(disk.status == 125 && disk.stderr.contains("--disk cannot be enforced"), "\(disk.stderr)")
        }
        #expect(try await d.cli(["ps", "-a", "-q"]).stdout.isEmpty, "a refused create left a row")
    }
}
