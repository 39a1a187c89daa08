import Foundation
import DockerDriver
import Testing
import WarrenCore

@Suite("Docker container plan")
struct DockerContainerPlanTests {
    let id = String(repeating: "a1", count: 32)

    @Test("every container is hardened whatever the spec: no capabilities, no new privileges, init, no network")
    func hardenedDefaults() {
        let spec = SandboxSpec(image: "busybox", command: ["sh"], limits: ResourceLimits.defaults)
        let config = DockerContainerPlan.containerConfig(id: id, spec: spec, image: "sha256:abc", owner: "warren", network: "none")
        let host = try! #require(config.HostConfig)
        #expect(host.CapDrop == ["ALL"] && host.CapAdd == nil)
        #expect(host.SecurityOpt?.first == "no-new-privileges:true" && host.SecurityOpt?.count == 2)
        #expect(host.SecurityOpt?.last?.hasPrefix("seccomp={") == true, "Warren's profile, not the engine's default")
        #expect(host.Privileged == false && host.Init == true && host.IpcMode == "private")
        #expect(host.NetworkMode == "none")
        #expect(host.Memory == 2 << 30 && host.MemorySwap == 2 << 30 && host.PidsLimit == 1024)
        #expect(host.Ulimits == [DockerUlimit("nofile", 4096)])
        #expect(host.ReadonlyRootfs == false && host.Tmpfs?["/tmp"] != nil)
        #expect(host.LogConfig?.Config?["max-size"] == "\(32 << 20)" && host.LogConfig?.Config?["max-file"] == "2")
        #expect(config.Image == "sha256:abc" && config.Cmd == ["sh"] && config.Hostname == String(id.prefix(12)))
        #expect(config.Labels == ["warren.sandbox": id, "warren.owner": "warren"])
        #expect(config.OpenStdin == false && config.StdinOnce == false && config.Tty == false)
    }

    @Test("the Docker profile is Warren's allow-list: the same calls as native, refused ioctls only")
    func seccompProfile() throws {
        let json = DockerSeccompProfile.json()
        let profile = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        #expect(profile["defaultAction"] as? String == "SCMP_ACT_ERRNO" && profile["defaultErrnoRet"] as? Int == 1)
        let rules = try #require(profile["syscalls"] as? [[String: Any]])
        let unconditional = Set(rules.filter { $0["args"] == nil && $0["action"] as? String == "SCMP_ACT_ALLOW" }
            .flatMap { $0["names"] as? [String] ?? [] })
        #expect(unconditional == Set(SeccompPolicy.allowed).subtracting(["ioctl"]))
        for refused in ["io_uring_setup", "io_uring_enter", "unshare", "setns", "bpf", "keyctl", "mount", "ptrace_attach", "ioctl"] {
            #expect(!unconditional.contains(refused), "\(refused) allowed without condition")
        }
        #expect(rules.contains { ($0["names"] as? [String]) == ["clone3"] && $0["errnoRet"] as? Int == 38 })

        // The ioctl rules' union: every request but TIOCSTI and TIOCLINUX, whatever the
        // high 32 bits (the kernel reads only the low ones).
        let masks = DockerSeccompProfile.allowedIoctlMasks()
        func allowed(_ request: UInt64) -> Bool { masks.contains { request & $0.mask == $0.value } }
        #expect(!allowed(0x5412) && !allowed(0x541C) && !allowed(0x1_0000_5412) && !allowed(0xffff_ffff_0000_541C))
        var rng = SystemRandomNumberGenerator()
        for request: UInt64 in [0, 0x5401, 0x5413, 0x541B, 0x541D, 0x5410, 0x8004_5430, 0xffff_ffff] {
            #expect(allowed(request), "\(String(request, radix: 16)) refused")
        }
        for _ in 0..<20_000 {
            let r = UInt64(rng.next() as UInt32) | (UInt64(rng.next() as UInt32) << 32)
            let low = r & 0xffff_ffff
            #expect(allowed(r) == (low != 0x5412 && low != 0x541C))
        }
    }

    @Test("bind mounts need a non-root workload: Docker maps no ids, so container root is host root on a bind")
    func bindsNeedANonRootUser() {
        let bind = [MountSpec(source: "/home/a/work", destination: "/work")]
        for (user, image) in [(nil, nil), (nil, "root"), ("0", "1000"), ("root:root", nil), ("0:1000", nil), (nil, "")] as [(String?, String?)] {
            let spec = SandboxSpec(image: "img", user: user, mounts: bind)
            #expect(DockerContainerPlan.bindRefusal(spec: spec, imageUser: image)?.contains("/home/a/work") == true,
                    "user \(user ?? "-") image user \(image ?? "-") was allowed a bind")
        }
        for (user, image) in [("1000:1000", nil), (nil, "1000"), ("agent", "root")] as [(String?, String?)] {
            #expect(DockerContainerPlan.bindRefusal(spec: SandboxSpec(image: "img", user: user, mounts: bind), imageUser: image) == nil)
        }
        #expect(DockerContainerPlan.bindRefusal(spec: SandboxSpec(image: "img"), imageUser: nil) == nil, "no bind, no refusal")
        let managed = SandboxSpec(image: "img", mounts: [MountSpec(source: "/var/lib/warren/notebooks/x", destination: "/n", managed: true)])
        #expect(DockerContainerPlan.bindRefusal(spec: managed, imageUser: nil) == nil, "the daemon's own socket directory")
    }

    @Test("the spec's choices map to Docker's fields; users cannot forge Warren's labels")
    func specFields() {
        var spec = SandboxSpec(image: "busybox", command: [], env: ["A=b"], workdir: "/w", user: "1000:1000",
                               mounts: [MountSpec(source: "/src", destination: "/dst", readOnly: true)],
                               limits: ResourceLimits(memoryBytes: 64 << 20, cpus: 1.5, pids: 10, openFiles: 100,
                                                      fileSizeBytes: 1 << 20, timeoutSeconds: 30),
                               readOnlyRootfs: true, capAdd: ["net_bind_service", "CAP_CHOWN"], tty: true, stdin: true,
                               hostname: "agent", labels: ["team": "a", "warren.sandbox": "forged", "warren.owner": "x"])
        spec.network = .internal
        let config = DockerContainerPlan.containerConfig(id: id, spec: spec, image: "img", owner: "me", network: "warren-\(id)")
        let host = try! #require(config.HostConfig)
        #expect(config.Cmd == nil, "no command: the image's own")
        #expect(config.Env == ["A=b"] && config.WorkingDir == "/w" && config.User == "1000:1000" && config.Hostname == "agent")
        #expect(config.Labels == ["team": "a", "warren.sandbox": id, "warren.owner": "me", "warren.timeout": "30.0"])
        #expect(config.Tty == true && config.OpenStdin == true && config.StdinOnce == true)
        #expect(host.CapAdd == ["CAP_NET_BIND_SERVICE", "CAP_CHOWN"] && host.CapDrop == ["ALL"])
        #expect(host.NanoCpus == 1_500_000_000 && host.Memory == 64 << 20 && host.PidsLimit == 10)
        #expect(host.Ulimits == [DockerUlimit("nofile", 100), DockerUlimit("fsize", 1 << 20)])
        #expect(host.Mounts == [DockerMount(source: "/src", target: "/dst", readOnly: true)])
        #expect(host.ReadonlyRootfs == true && host.NetworkMode == "warren-\(id)")
    }

    @Test("a sandbox with relays (LLM access, egress): a locked-down holder owns the network namespace, the workload joins it")
    func netnsHolder() throws {
        var spec = SandboxSpec(image: "busybox", command: ["sh"], limits: ResourceLimits.defaults, hostname: "agent")
        let relays = [GuestRelay(port: 8765, socketPath: "/data/llm/abc.sock"), GuestRelay(port: 8766, socketPath: "/data/egress/abc.sock")]
        spec.relays = relays
        let holder = DockerContainerPlan.netnsHolderConfig(id: id, spec: spec, image: "sha256:abc", owner: "me",
                                                           network: "none", pause: "/data/docker/pause")
        let host = try! #require(holder.HostConfig)
        #expect(holder.Image == "sha256:abc", "the sandbox's own image: nothing else need exist on the engine")
        #expect(holder.Entrypoint == ["/.warren-pause"] && holder.Cmd == [] && holder.User == "65534:65534")
        #expect(holder.Hostname == "agent" && holder.Labels?["warren.role"] == "netns")
        #expect(holder.Labels?["warren.sandbox"] == id && holder.Labels?["warren.owner"] == "me")
        #expect(holder.Labels?["warren.relays"] == nil, "the relays are found through the workload only")
        #expect(host.CapDrop == ["ALL"] && host.SecurityOpt == DockerContainerPlan.securityOptions && host.Privileged == false)
        #expect(host.ReadonlyRootfs == true && host.NetworkMode == "none" && host.PidsLimit == 4 && host.Memory == 16 << 20)
        #expect(host.Mounts == [DockerMount(source: "/data/docker/pause", target: "/.warren-pause", readOnly: true)])

        let workload = DockerContainerPlan.containerConfig(id: id, spec: spec, image: "sha256:abc", owner: "me",
                                                           network: "container:warren-\(id)-net")
        #expect(workload.HostConfig?.NetworkMode == "container:warren-\(id)-net")
        #expect(workload.Hostname == nil, "Docker refuses a hostname for a container in another's namespace")
        let label = try #require(workload.Labels?["warren.relays"])
        #expect(try WarrenJSON.decoder().decode([GuestRelay].self, from: Data(label.utf8)) == relays)
        #expect(workload.HostConfig?.Mounts?.contains(DockerMount(source: "/data/llm/resolv.conf", target: "/etc/resolv.conf", readOnly: true)) == true,
                "no network: its resolv.conf names the loopback name server")
        #expect(DockerContainerPlan.holderName(id) == "warren-\(id)-net")
    }

    @Test("a sandbox's network is internal, has no host address, no traffic between members, and is labelled")
    func network() {
        let n = DockerContainerPlan.networkConfig(id: id, owner: "me")
        #expect(n.Name == "warren-\(id)" && n.Internal && n.Driver == "bridge" && !n.EnableIPv6 && !n.Attachable)
        #expect(n.Options["com.docker.network.bridge.inhibit_ipv4"] == "true")
        #expect(n.Options["com.docker.network.bridge.enable_icc"] == "false")
        #expect(n.Labels == ["warren.sandbox": id, "warren.owner": "me"])
    }

    @Test("DOCKER_HOST: unix sockets only; API version: the engine's, capped at ours, refused when too old")
    func endpointAndVersion() throws {
        #expect(try DockerEndpoint.fromEnvironment([:]).socketPath == "/var/run/docker.sock")
        #expect(try DockerEndpoint.fromEnvironment(["DOCKER_HOST": "unix:///run/d.sock"]).socketPath == "/run/d.sock")
        #expect(throws: WarrenError.self) { try DockerEndpoint.fromEnvironment(["DOCKER_HOST": "tcp://10.0.0.1:2375"]) }
        #expect(throws: WarrenError.self) { try DockerEndpoint(dockerHost: "unix://relative") }
        #expect(try DockerAPIVersion.negotiate(server: "1.41", serverMinimum: "1.12") == "1.41")
        #expect(try DockerAPIVersion.negotiate(server: "1.50", serverMinimum: "1.24") == DockerAPIVersion.maximum)
        #expect(throws: WarrenError.self) { try DockerAPIVersion.negotiate(server: "1.39", serverMinimum: "1.12") }
        #expect(throws: WarrenError.self) { try DockerAPIVersion.negotiate(server: "1.60", serverMinimum: "1.50") }
        #expect(DockerAPIVersion.compare("1.9", "1.10") < 0 && DockerAPIVersion.compare("1.41", "1.41") == 0)
    }
}
