import Foundation
import ImageStore
import LinuxSupport
import Testing
import WarrenCore
import WarrenTestSupport

/// `warren pull` against a real registry (Debian's docker-registry), images pushed by
/// skopeo, and skopeo and umoci as peers reading what Warren pulled.
@Suite("Pull from a registry", .serialized)
struct RegistryPullTests {
    // MARK: - Fixtures

    /// A daemon that may speak plain HTTP to `registries`.
    static func daemon(insecure registries: [String]) async throws -> DaemonHarness {
        try await DaemonHarness.launch(daemonArguments: registries.flatMap { ["--insecure-registry", $0] })
    }

    /// An OCI layout holding an index with an amd64 and an arm64 image that differ in /etc/platform.
    static func multiPlatformLayout(in dir: String) throws -> String {
        let amd = try ImageCLITests.umociLayout(in: dir, name: "amd", files: ["etc/platform": "amd64\n"])
        let arm = try ImageCLITests.umociLayout(in: dir, name: "arm", files: ["etc/platform": "arm64\n"])
        let multi = dir + "/multi"
        try FileManager.default.createDirectory(atPath: multi + "/blobs/sha256", withIntermediateDirectories: true)
        _ = try TestRootfs.run(blocking: "/bin/sh", ["-c", "cp -n \(amd)/blobs/sha256/* \(arm)/blobs/sha256/* \(multi)/blobs/sha256/"])
        func manifest(_ layout: String, _ platform: [String: String]) throws -> [String: Any] {
            let index = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: layout + "/index.json"))) as! [String: Any]
            var entry = (index["manifests"] as! [[String: Any]])[0]
            entry["annotations"] = nil
            entry["platform"] = platform
            return entry
        }
        let nested: [String: Any] = ["schemaVersion": 2, "mediaType": MediaType.ociIndex, "manifests": [
            try manifest(amd, ["os": "linux", "architecture": "amd64"]),
            try manifest(arm, ["os": "linux", "architecture": "arm64", "variant": "v8"]),
        ]]
        let bytes = try JSONSerialization.data(withJSONObject: nested, options: [.sortedKeys])
        let digest = Digest.of(Array(bytes))
        try bytes.write(to: URL(fileURLWithPath: multi + "/blobs/sha256/" + digest.hex))
        let top: [String: Any] = ["schemaVersion": 2, "manifests": [[
            "mediaType": MediaType.ociIndex, "digest": digest.description, "size": bytes.count,
            "annotations": [Descriptor.refNameKey: "multi"]]]]
        try JSONSerialization.data(withJSONObject: top).write(to: URL(fileURLWithPath: multi + "/index.json"))
        try #"{"imageLayoutVersion":"1.0.0"}"#.write(toFile: multi + "/oci-layout", atomically: true, encoding: .utf8)
        return multi
    }

    /// `layout`'s image with its layers recompressed with zstd (skopeo keeps them so).
    static func zstdLayout(from layout: String, in dir: String) throws -> String {
        let out = dir + "/zstd"
        _ = try TestRootfs.run(blocking: "/bin/cp", ["-a", layout, out])
        let blobs = out + "/blobs/sha256/"
        func load(_ digest: String) throws -> [String: Any] {
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: blobs + digest.dropFirst(7)))) as! [String: Any]
        }
        func store(_ object: [String: Any]) throws -> (String, Int) {
            let bytes = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            let digest = Digest.of(Array(bytes))
            try bytes.write(to: URL(fileURLWithPath: blobs + digest.hex))
            return (digest.description, bytes.count)
        }
        var index = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/index.json"))) as! [String: Any]
        var entries = index["manifests"] as! [[String: Any]]
        var manifest = try load(entries[0]["digest"] as! String)
        var layers = manifest["layers"] as! [[String: Any]]
        for i in layers.indices {
            let gz = blobs + (layers[i]["digest"] as! String).dropFirst(7)
            _ = try TestRootfs.run(blocking: "/bin/sh", ["-c", "gzip -dc \(gz) | zstd -q -o \(out)/layer.zst"])
            let bytes = try Data(contentsOf: URL(fileURLWithPath: out + "/layer.zst"))
            let digest = Digest.of(Array(bytes))
            try bytes.write(to: URL(fileURLWithPath: blobs + digest.hex))
            layers[i]["digest"] = digest.description
            layers[i]["size"] = bytes.count
            layers[i]["mediaType"] = MediaType.ociLayerZstd
        }
        try? FileManager.default.removeItem(atPath: out + "/layer.zst")
        manifest["layers"] = layers
        let (digest, size) = try store(manifest)
        entries[0]["digest"] = digest
        entries[0]["size"] = size
        index["manifests"] = entries
        try JSONSerialization.data(withJSONObject: index).write(to: URL(fileURLWithPath: out + "/index.json"))
        return out
    }

    /// A one-layer image with `megabytes` of random data in /data.bin (incompressible).
    static func bigLayout(in dir: String, megabytes: Int) throws -> String {
        let layout = try ImageCLITests.umociLayout(in: dir, name: "big")
        let bundle = dir + "/bundle-big2"
        _ = try TestRootfs.run(blocking: "/usr/bin/umoci", ["unpack", "--image", layout + ":latest", bundle])
        _ = try TestRootfs.run(blocking: "/bin/dd", ["if=/dev/urandom", "of=\(bundle)/rootfs/data.bin", "bs=1M", "count=\(megabytes)"])
        _ = try TestRootfs.run(blocking: "/usr/bin/umoci", ["repack", "--image", layout + ":latest", bundle])
        return layout
    }

    /// Every blob in the store hashes to its name, and no download is left in ingest.
    static func storeIsSound(_ d: DaemonHarness) throws -> Bool {
        let blobs = d.dataRoot + "/content/blobs/sha256"
        for name in try FileManager.default.contentsOfDirectory(atPath: blobs) {
            let sum = try TestRootfs.run(blocking: "/usr/bin/sha256sum", [blobs + "/" + name])
            if !sum.hasPrefix(name) { return false }
        }
        return true
    }

    static func blobNames(_ d: DaemonHarness) -> Set<String> {
        Set((try? FileManager.default.contentsOfDirectory(atPath: d.dataRoot + "/content/blobs/sha256")) ?? [])
    }

    static func inspect(_ d: DaemonHarness, _ ref: String) async throws -> ImageDetails {
        try WarrenJSON.decoder().decode(ImageDetails.self, from: Data(try await d.cli(["image", "inspect", ref]).stdout.utf8))
    }

    static func events(_ stdout: String) throws -> [PullProgress] {
        try stdout.split(separator: "\n").map { try WarrenJSON.decoder().decode(PullProgress.self, from: Data($0.utf8)) }
    }

    static func writeLogins(_ path: String, registry: String, user: String, password: String) throws {
        let auth = Data("\(user):\(password)".utf8).base64EncodedString()
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try #"{"auths":{"\#(registry)":{"auth":"\#(auth)"}}}"#.write(toFile: path, atomically: true, encoding: .utf8)
    }

    // MARK: - Tests

    @Test("pull streams progress, runs with the image config, is up to date the second time; skopeo and umoci agree with the store")
    func pullRunInterop() async throws {
        let registry = try await runBlocking { try TestRegistry() }
        defer { registry.cleanUp() }
        let d = try await Self.daemon(insecure: [registry.address])
        defer { d.cleanUp() }
        try registry.push("oci:\(try ImageCLITests.umociLayout(in: d.dir)):latest", as: "team/agent:1")
        let ref = "\(registry.address)/team/agent:1"

        let pulled = try await d.cli(["pull", "--json", ref])
        #expect(pulled.status == 0, "\(pulled.stderr)")
        let events = try Self.events(pulled.stdout)
        #expect(events.first?.status == .resolved && events.last?.status == .done)
        #expect(events.last?.reference == ref)
        let layer = try #require(events.first?.layers?.first)
        #expect(events.contains { $0.layer == layer && $0.status == .extracting })
        #expect(events.contains { $0.layer == layer && $0.status == .complete })

        let run = try await d.cli(["run", "--rm", ref])
        #expect(run.stdout == "hello from /home/agent as agent\n", "\(run.stderr)")

        let again = try await d.cli(["pull", ref])
        #expect(again.status == 0 && again.stdout.contains("Already exists") && again.stdout.contains("Image is up to date"), "\(again.stdout)")

        // skopeo reads the pulled image out of Warren's store; umoci unpacks the same tree.
        _ = try await TestRootfs.run("/usr/bin/skopeo", ["copy", "--quiet", "oci:\(d.dataRoot)/content:\(ref)", "oci:\(d.dir)/copy:x"])
        _ = try await TestRootfs.run("/usr/bin/umoci", ["raw", "unpack", "--image", d.dir + "/copy:x", d.dir + "/peer"])
        let layers = try FileManager.default.contentsOfDirectory(atPath: d.dataRoot + "/layers")
        #expect(layers.count == 1)
        let diff = try await TestRootfs.run("/bin/sh", ["-c", "diff -r --no-dereference \(d.dir)/peer \(d.dataRoot)/layers/\(layers[0]) && echo same"])
        #expect(diff == "same\n")

        let missing = try await d.cli(["pull", "\(registry.address)/team/agent:nope"])
        #expect(missing.status != 0 && missing.stderr.contains("not found in registry"), "\(missing.stderr)")
        // Without --insecure-registry the daemon speaks only HTTPS, which this registry does not.
        let strict = try await DaemonHarness.launch()
        defer { strict.cleanUp() }
        let refused = try await strict.cli(["pull", ref])
        #expect(refused.status != 0 && refused.stderr.contains("--insecure-registry"), "\(refused.stderr)")
        #expect(Self.blobNames(strict).isEmpty)
    }

    @Test("on a terminal, pull draws a bar per layer and redraws it in place")
    func progressBars() async throws {
        let registry = try await runBlocking { try TestRegistry() }
        defer { registry.cleanUp() }
        let slow = try TestRegistryProxy(upstream: registry, options: ["--rate", "\(4 << 20)"])
        defer { slow.stop() }
        let d = try await Self.daemon(insecure: [slow.address])
        defer { d.cleanUp() }
        try registry.push("oci:\(try Self.bigLayout(in: d.dir, megabytes: 6)):latest", as: "team/big:1")
        let t = try TerminalSession(BuiltProducts.cli, ["pull", "\(slow.address)/team/big:1"],
                                    environment: ["WARREN_HOST=unix://" + d.socket, "DOCKER_CONFIG=" + d.dir + "/none", "PATH=/usr/bin:/bin"])
        defer { t.close() }
        #expect(await t.waitForExit(seconds: 60) == 0, "\(t.text)")
        let screen = t.text
        #expect(screen.contains("Downloading [=") && screen.contains("MB/"), "a bar with byte counts: \(screen)")
        #expect(screen.contains("\u{1B}[2A"), "the two layer lines are redrawn in place: \(screen)")
        #expect(screen.contains("Pull complete") && screen.contains("Status: Downloaded newer image"), "\(screen)")
    }

    @Test("a multi-platform index gives the host's image, --platform picks another, an absent platform is a clear error; zstd layers and Docker schema 2 pull")
    func platformsAndZstd() async throws {
        let registry = try await runBlocking { try TestRegistry() }
        defer { registry.cleanUp() }
        let d = try await Self.daemon(insecure: [registry.address])
        defer { d.cleanUp() }
        try registry.push("oci:\(try Self.multiPlatformLayout(in: d.dir)):multi", as: "team/multi:1", extra: ["--all"])
        let ref = "\(registry.address)/team/multi:1"

        #expect(try await d.cli(["pull", "-q", ref]).status == 0)
        #expect(try await d.cli(["run", "--rm", ref, "--", "-c", "cat /etc/platform"]).stdout == "amd64\n")
        #expect(try await d.cli(["pull", "-q", "--platform", "linux/arm64", ref]).status == 0)
        #expect(try await d.cli(["run", "--rm", ref, "--", "-c", "cat /etc/platform"]).stdout == "arm64\n",
                "the tag now names the arm64 image")
        let absent = try await d.cli(["pull", "--platform", "linux/s390x", ref])
        #expect(absent.status != 0 && absent.stderr.contains("no image for platform linux/s390x"), "\(absent.stderr)")

        try registry.push("oci:\(try Self.zstdLayout(from: d.dir + "/amd", in: d.dir)):latest", as: "team/zstd:1")
        let zref = "\(registry.address)/team/zstd:1"
        #expect(try await d.cli(["pull", "-q", zref]).status == 0)
        let details = try await Self.inspect(d, zref)
        #expect(details.layers.map(\.mediaType) == [MediaType.ociLayerZstd])
        #expect(try await d.cli(["run", "--rm", zref, "--", "-c", "cat /etc/platform"]).stdout == "amd64\n")

        // Docker's schema 2 manifest and layer types, as `docker push` writes them.
        try registry.push("oci:\(d.dir)/amd:latest", as: "team/v2s2:1", extra: ["--format", "v2s2"])
        let dref = "\(registry.address)/team/v2s2:1"
        #expect(try await d.cli(["pull", "-q", dref]).status == 0)
        let docker = try await Self.inspect(d, dref)
        #expect(docker.layers.map(\.mediaType) == [MediaType.dockerLayerGzip])
        #expect(try await d.cli(["run", "--rm", dref, "--", "-c", "cat /etc/platform"]).stdout == "amd64\n")
    }

    @Test("basic auth: refused without a login, works with the daemon's config.json or the caller's own, wrong password refused")
    func basicAuth() async throws {
        let registry = try await runBlocking { try TestRegistry(auth: .htpasswd(user: "bob", password: "hunter2")) }
        defer { registry.cleanUp() }
        let d = try await Self.daemon(insecure: [registry.address])
        defer { d.cleanUp() }
        try registry.push("oci:\(try ImageCLITests.umociLayout(in: d.dir)):latest", as: "private/agent:1")
        let ref = "\(registry.address)/private/agent:1"

        let anonymous = try await d.cli(["pull", ref])
        #expect(anonymous.status != 0 && anonymous.stderr.contains("requires a login"), "\(anonymous.stderr)")

        try Self.writeLogins(d.dir + "/cli-docker-config/config.json", registry: registry.address, user: "bob", password: "wrong")
        let wrong = try await d.cli(["pull", ref])
        #expect(wrong.status != 0 && wrong.stderr.contains("authentication required"), "\(wrong.stderr)")

        try Self.writeLogins(d.dir + "/cli-docker-config/config.json", registry: "http://\(registry.address)", user: "bob", password: "hunter2")
        #expect(try await d.cli(["pull", "-q", ref]).stdout == ref + "\n", "the CLI sends the caller's login")

        try? removeTree(d.dir + "/cli-docker-config")
        try Self.writeLogins(d.registryLogins, registry: registry.address, user: "bob", password: "hunter2")
        #expect(try await d.cli(["rmi", ref]).status == 0)
        let daemonLogin = try await d.cli(["pull", "-q", ref])
        #expect(daemonLogin.status == 0, "the daemon's own config.json: \(daemonLogin.stderr)")
    }

    @Test("bearer tokens: fetched with the login from the token server, cached across pulls, refused without a login")
    func bearerToken() async throws {
        let registry = try await runBlocking { try TestRegistry(auth: .token(user: "alice", password: "s3cret")) }
        defer { registry.cleanUp() }
        let d = try await Self.daemon(insecure: [registry.address])
        defer { d.cleanUp() }
        let layout = try ImageCLITests.umociLayout(in: d.dir)
        try registry.push("oci:\(layout):latest", as: "team/agent:1")
        try registry.push("oci:\(layout):latest", as: "team/agent:2")
        let pushes = registry.tokenRequests().count

        let anonymous = try await d.cli(["pull", "\(registry.address)/team/agent:1"])
        #expect(anonymous.status != 0 && anonymous.stderr.contains("refused an anonymous request"), "\(anonymous.stderr)")

        try Self.writeLogins(d.registryLogins, registry: registry.address, user: "alice", password: "s3cret")
        #expect(try await d.cli(["pull", "-q", "\(registry.address)/team/agent:1"]).status == 0)
        #expect(try await d.cli(["pull", "-q", "\(registry.address)/team/agent:2"]).status == 0)
        let ours = registry.tokenRequests().dropFirst(pushes).filter { ($0["auth"] as? Bool) == true }
        #expect(ours.count == 1, "one token serves both pulls of the repository: \(ours)")
        #expect((ours.first?["scope"] as? [String]) == ["repository:team/agent:pull"], "\(ours)")
    }

    @Test("5xx answers and a download cut mid-blob are retried; the cut blob resumes with a Range request")
    func retriesAndResume() async throws {
        let registry = try await runBlocking { try TestRegistry() }
        defer { registry.cleanUp() }
        let flaky = try TestRegistryProxy(upstream: registry, options: ["--fail-first", "3"])
        defer { flaky.stop() }
        let cut = try TestRegistryProxy(upstream: registry, options: ["--cut-blob-once"])
        defer { cut.stop() }
        let d2 = try await Self.daemon(insecure: [flaky.address, cut.address])
        defer { d2.cleanUp() }
        try registry.push("oci:\(try Self.bigLayout(in: d2.dir, megabytes: 8)):latest", as: "team/big:1")

        let first = try await d2.cli(["pull", "-q", "\(flaky.address)/team/big:1"])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(flaky.requests().prefix(3).allSatisfy { ($0["status"] as? Int) == 503 })

        let second = try await d2.cli(["pull", "-q", "\(cut.address)/team/big:1"])
        #expect(second.status == 0, "\(second.stderr)")
        let blobGets = cut.requests().filter { ($0["path"] as? String)?.contains("/blobs/") == true }
        #expect(blobGets.contains { ($0["injected"] as? String)?.hasPrefix("cut") == true })
        #expect(blobGets.contains { ($0["range"] as? String)?.hasPrefix("bytes=") == true && ($0["status"] as? Int) == 206 },
                "resumed where the cut left off: \(blobGets)")
        #expect(try await d2.cli(["run", "--rm", "\(cut.address)/team/big:1", "--", "-c", "wc -c < /data.bin"]).stdout == "\(8 << 20)\n")
        #expect(try Self.storeIsSound(d2))
    }

    @Test("a redirect to another origin does not carry the registry's Authorization")
    func redirectDropsAuthorization() async throws {
        let registry = try await runBlocking { try TestRegistry(auth: .htpasswd(user: "bob", password: "hunter2")) }
        defer { registry.cleanUp() }
        let proxy = try TestRegistryProxy(upstream: registry, options: ["--redirect-blobs", "--blob-auth", "bob:hunter2"])
        defer { proxy.stop() }
        let d = try await Self.daemon(insecure: [proxy.address])
        defer { d.cleanUp() }
        try registry.push("oci:\(try ImageCLITests.umociLayout(in: d.dir)):latest", as: "team/agent:1")
        try Self.writeLogins(d.registryLogins, registry: proxy.address, user: "bob", password: "hunter2")

        let pulled = try await d.cli(["pull", "-q", "\(proxy.address)/team/agent:1"])
        #expect(pulled.status == 0, "\(pulled.stderr)")
        let log = proxy.requests()
        let redirected = log.filter { ($0["listener"] as? String) == "blob" }
        #expect(!redirected.isEmpty, "blobs came from the other origin")
        #expect(redirected.allSatisfy { ($0["authorization"] as? Bool) == false }, "\(redirected)")
        #expect(log.contains { ($0["listener"] as? String) == "main" && ($0["authorization"] as? Bool) == true },
                "the registry itself did get the login")
    }

    @Test("a pull killed with the daemon or cut by the network leaves no partial blob, and the next pull completes")
    func interruptedPulls() async throws {
        let registry = try await runBlocking { try TestRegistry() }
        defer { registry.cleanUp() }
        let slow = try TestRegistryProxy(upstream: registry, options: ["--rate", "\(4 << 20)"])
        defer { slow.stop() }
        let d = try await Self.daemon(insecure: [slow.address, registry.address])
        defer { d.cleanUp() }
        try registry.push("oci:\(try Self.bigLayout(in: d.dir, megabytes: 24)):latest", as: "team/big:1")
        let ingest = d.dataRoot + "/content/ingest"

        // SIGKILL of the daemon mid-download.
        let pull = d.cliProcess(["pull", "-q", "\(slow.address)/team/big:1"])
        pull.standardOutput = FileHandle.nullDevice
        pull.standardError = FileHandle.nullDevice
        try pull.run()
        var partial = false
        for _ in 0..<400 where !partial {
            try await Task.sleep(for: .microseconds(25_000))
            let sizes = try await TestRootfs.run("/bin/sh", ["-c", "find \(ingest) -name data -size +1024k | wc -l"])
            partial = sizes.trimmingCharacters(in: .whitespacesAndNewlines) != "0"
        }
        #expect(partial, "the download was under way")
        try await runBlocking { d.crash() }
        try await runBlocking { pull.waitForExit() }
        let before = Self.blobNames(d)
        #expect(try Self.storeIsSound(d))
        try await d.restart()
        #expect(try FileManager.default.contentsOfDirectory(atPath: ingest).isEmpty, "the next start clears unfinished downloads")
        let layerDirs = (try? FileManager.default.contentsOfDirectory(atPath: d.dataRoot + "/layers")) ?? []
        #expect(layerDirs.allSatisfy { !$0.hasPrefix(".tmp-") })

        // The network goes away mid-download: an error after the retries, nothing half-stored.
        let pull2 = d.cliProcess(["pull", "-q", "\(slow.address)/team/big:1"])
        let err = Pipe()
        pull2.standardOutput = FileHandle.nullDevice
        pull2.standardError = err
        try pull2.run()
        try await Task.sleep(for: .microseconds(1_500_000))
        slow.stop()
        let message = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        try await runBlocking { pull2.waitForExit() }
        #expect(pull2.terminationStatus != 0 && message.contains("unreachable"), "\(message)")
        #expect(try Self.storeIsSound(d))
        #expect(Self.blobNames(d).count <= before.count + 1, "at most the config arrived")

        let direct = try await d.cli(["pull", "-q", "\(registry.address)/team/big:1"])
        #expect(direct.status == 0, "\(direct.stderr)")
        #expect(try await d.cli(["run", "--rm", "\(registry.address)/team/big:1", "--", "-c", "wc -c < /data.bin"]).stdout == "\(24 << 20)\n")
        #expect(try Self.storeIsSound(d))
    }

    @Test("a blob whose content does not match its digest fails the pull, naming the blob, and is not stored")
    func digestMismatch() async throws {
        let registry = try await runBlocking { try TestRegistry() }
        defer { registry.cleanUp() }
        let d = try await Self.daemon(insecure: [registry.address])
        defer { d.cleanUp() }
        try registry.push("oci:\(try ImageCLITests.umociLayout(in: d.dir)):latest", as: "team/agent:1")
        let ref = "\(registry.address)/team/agent:1"
        #expect(try await d.cli(["pull", "-q", ref]).status == 0)
        let layer = try #require(try await Self.inspect(d, ref).layers.first?.digest)
        #expect(try await d.cli(["rmi", ref]).status == 0)
        #expect(Self.blobNames(d).isEmpty)

        // Same size, other bytes, in the registry's own storage.
        let hex = String(layer.dropFirst(7))
        let stored = registry.storage + "/docker/registry/v2/blobs/sha256/\(hex.prefix(2))/\(hex)/data"
        let size = try FileManager.default.attributesOfItem(atPath: stored)[.size] as! Int
        _ = try await TestRootfs.run("/bin/dd", ["if=/dev/urandom", "of=\(stored)", "bs=\(size)", "count=1"])

        let failed = try await d.cli(["pull", ref])
        #expect(failed.status != 0 && failed.stderr.contains(layer), "\(failed.stderr)")
        #expect(!Self.blobNames(d).contains(hex))
        #expect(try FileManager.default.contentsOfDirectory(atPath: d.dataRoot + "/layers").isEmpty)
        #expect(try await d.cli(["images", "-q"]).stdout.isEmpty)
    }

    @Test("concurrent pulls of one image share each blob's download; pull racing rmi leaves a sound store")
    func concurrency() async throws {
        let registry = try await runBlocking { try TestRegistry() }
        defer { registry.cleanUp() }
        let slow = try TestRegistryProxy(upstream: registry, options: ["--rate", "\(8 << 20)"])
        defer { slow.stop() }
        let d = try await Self.daemon(insecure: [slow.address])
        defer { d.cleanUp() }
        try registry.push("oci:\(try Self.bigLayout(in: d.dir, megabytes: 8)):latest", as: "team/big:1")
        let ref = "\(slow.address)/team/big:1"

        let pulls = (0..<3).map { _ in d.cliProcess(["pull", "-q", ref]) }
        for p in pulls { p.standardOutput = FileHandle.nullDevice; try p.run() }
        for p in pulls { p.waitForExit() }
        #expect(pulls.allSatisfy { $0.terminationStatus == 0 })
        let details = try await Self.inspect(d, ref)
        let gets = slow.requests().filter { ($0["method"] as? String) == "GET" }.compactMap { $0["path"] as? String }
        for layer in details.layers {
            #expect(gets.filter { $0.hasSuffix("/blobs/" + layer.digest) }.count == 1, "layer \(layer.digest) downloaded once: \(gets)")
        }

        for _ in 0..<3 {
            let pull = d.cliProcess(["pull", "-q", ref])
            let rmi = d.cliProcess(["rmi", ref])
            for p in [pull, rmi] { p.standardOutput = FileHandle.nullDevice; p.standardError = FileHandle.nullDevice }
            try pull.run()
            try await Task.sleep(for: .microseconds(100_000))
            try rmi.run()
            try await runBlocking { pull.waitForExit() }
            try await runBlocking { rmi.waitForExit() }
            #expect(pull.terminationStatus == 0)
            #expect(try Self.storeIsSound(d))
            let tagged = try await d.cli(["images", "-q"]).stdout.isEmpty == false
            if tagged {
                #expect(try await d.cli(["run", "--rm", ref, "--", "-c", "wc -c < /data.bin"]).stdout == "\(8 << 20)\n")
            }
            _ = try await d.cli(["rmi", ref])
        }
    }
}
