import Foundation
import ImageStore
import LinuxSupport
import Testing
import WarrenCore
import WarrenTestSupport

/// Images through the real CLI and daemon, with umoci and skopeo as peers.
@Suite("Images end to end", .serialized)
struct ImageCLITests {
    /// An OCI layout umoci builds from the test rootfs, with a config a sandbox must honour.
    static func umociLayout(in dir: String, name: String = "layout", files: [String: String] = [:]) throws -> String {
        let layout = dir + "/" + name
        let bundle = dir + "/bundle-" + name
        _ = try TestRootfs.run(blocking: "/usr/bin/umoci", ["init", "--layout", layout])
        _ = try TestRootfs.run(blocking: "/usr/bin/umoci", ["new", "--image", layout + ":latest"])
        _ = try TestRootfs.run(blocking: "/usr/bin/umoci", ["unpack", "--image", layout + ":latest", bundle])
        _ = try TestRootfs.run(blocking: "/bin/cp", ["-a", try TestRootfs.path() + "/.", bundle + "/rootfs/"])
        for (path, text) in files { try text.write(toFile: bundle + "/rootfs/" + path, atomically: true, encoding: .utf8) }
        _ = try TestRootfs.run(blocking: "/usr/bin/umoci", ["repack", "--image", layout + ":latest", bundle])
        _ = try TestRootfs.run(blocking: "/usr/bin/umoci", [
            "config", "--image", layout + ":latest", "--config.entrypoint", "/bin/sh", "--config.cmd", "-c",
            "--config.cmd", "echo $GREETING from $(pwd) as $(id -un)", "--config.env", "GREETING=hello",
            "--config.workingdir", "/home/agent", "--config.user", "agent"])
        return layout
    }

    @Test("import, images, run IMAGE with its config, rmi refused while in use, prune removes everything")
    func lifecycle() async throws {
        let d = try await DaemonHarness.launch()
        defer { d.cleanUp() }
        let layout = try Self.umociLayout(in: d.dir)
        let noName = try await d.cli(["image", "import", layout])
        #expect(noName.status != 0 && noName.stderr.contains("give --tag"), "\(noName.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: d.dataRoot + "/content/blobs/sha256").isEmpty,
                "a refused import left blobs")
        let imported = try await d.cli(["image", "import", "--tag", "agent:1", layout])
        #expect(imported.stdout == "Loaded image: docker.io/library/agent:1\n", "\(imported.stderr)")

        let list = try WarrenJSON.decoder().decode([ImageSummary].self, from: Data(try await d.cli(["images", "--json"]).stdout.utf8))
        #expect(list.count == 1 && list[0].tags == ["docker.io/library/agent:1"])
        #expect(try await d.cli(["images"]).stdout.contains("agent        1"))
        let aliased = try await d.cli(["image", "ls", "--digests"])
        #expect(aliased.status == 0 && aliased.stdout.contains(list[0].digest), "image ls is images: \(aliased.stderr)")
        #expect(try await d.cli(["image", "import", "--tag", "agent:extra", layout]).status == 0)
        #expect(try await d.cli(["image", "rm", "agent:extra"]).stdout == "Untagged: docker.io/library/agent:extra\n",
                "image rm is rmi: one of two tags goes, the content stays")

        let run = try await d.cli(["run", "--rm", "agent:1"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout == "hello from /home/agent as agent\n")
        let overridden = try await d.cli(["run", "--rm", "-e", "GREETING=hi", "-u", "root", "-w", "/", "agent:1", "--", "-c", "echo $GREETING $(pwd) $(id -u)"])
        #expect(overridden.stdout == "hi / 0\n", "\(overridden.stderr)")

        let bg = try await d.cli(["run", "-d", "agent:1", "--", "-c", "sleep 100"])
        #expect(bg.status == 0, "\(bg.stderr)")
        let refused = try await d.cli(["rmi", "agent:1"])
        #expect(refused.status != 0 && refused.stderr.contains("is used by a sandbox"))
        let forced = try await d.cli(["rmi", "-f", "agent:1"])
        #expect(forced.stdout == "Untagged: docker.io/library/agent:1\n", "\(forced.stdout) \(forced.stderr)")
        let blobs = d.dataRoot + "/content/blobs/sha256"
        #expect(try FileManager.default.contentsOfDirectory(atPath: blobs).count == 3, "an untagged image in use keeps its content")
        #expect(try await d.cli(["rm", "-f", bg.stdout.trimmingCharacters(in: .whitespacesAndNewlines)]).status == 0)
        let pruned = try await d.cli(["image", "prune"])
        #expect(pruned.stdout.contains("Deleted layer: sha256:"), "\(pruned.stdout)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: blobs).isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: d.dataRoot + "/layers").isEmpty)
        let missing = try await d.cli(["run", "--rm", "agent:1"])
        #expect(missing.status == 125 && missing.stderr.contains("not in the store"))
    }

    @Test("skopeo copies out of Warren's store and umoci unpacks the same tree Warren made; export is a layout skopeo reads")
    func interop() async throws {
        let d = try await DaemonHarness.launch()
        defer { d.cleanUp() }
        let layout = try Self.umociLayout(in: d.dir)
        #expect(try await d.cli(["image", "import", "--tag", "example.com/agent:2", layout]).status == 0)
        _ = try await TestRootfs.run("/usr/bin/skopeo", ["copy", "oci:\(d.dataRoot)/content:example.com/agent:2", "oci:\(d.dir)/copy:x"])
        _ = try await TestRootfs.run("/usr/bin/umoci", ["raw", "unpack", "--image", d.dir + "/copy:x", d.dir + "/peer"])
        let layers = try FileManager.default.contentsOfDirectory(atPath: d.dataRoot + "/layers")
        #expect(layers.count == 1)
        let diff = try await TestRootfs.run("/bin/sh", ["-c", "diff -r --no-dereference \(d.dir)/peer \(d.dataRoot)/layers/\(layers[0]) && echo same"])
        #expect(diff == "same\n")

        #expect(try await d.cli(["image", "export", "example.com/agent:2", d.dir + "/exported"]).status == 0)
        let inspect = try await TestRootfs.run("/usr/bin/skopeo", ["inspect", "--raw", "oci:\(d.dir)/exported:example.com/agent:2"])
        let image = try WarrenJSON.decoder().decode(ImageDetails.self, from: Data(try await d.cli(["image", "inspect", "example.com/agent:2"]).stdout.utf8))
        #expect(Digest.of(Array(inspect.utf8)).description == image.summary.digest)
    }
}
