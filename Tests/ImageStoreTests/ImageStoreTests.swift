import Foundation
@testable import ImageStore
import LinuxSupport
import Logging
import Testing
import WarrenCore
import WarrenTestSupport

/// OCI layouts and docker-archives made by hand, imported, resolved and removed.
@Suite("Image store", .serialized)
struct ImageStoreTests {
    /// Writes blobs and index.json of an OCI layout.
    struct Layout {
        let dir: String
        init(_ dir: String) throws {
            self.dir = dir
            try makeDirectories(dir + "/blobs/sha256")
            try writeFileAtomically(dir + "/oci-layout", Array(#"{"imageLayoutVersion":"1.0.0"}"#.utf8))
        }
        @discardableResult
        func blob(_ bytes: [UInt8], _ mediaType: String) throws -> Descriptor {
            let d = Digest.of(bytes)
            try writeFileAtomically(dir + "/blobs/sha256/" + d.hex, bytes)
            return Descriptor(mediaType: mediaType, digest: d, size: Int64(bytes.count))
        }
        func image(layers: [String], diffIDs: [Digest]? = nil, cmd: [String] = ["/bin/true"], platform: Platform = .host) throws -> Descriptor {
            let blobs = layers.map { readFileIfPresent($0)! }
            let layerDescs = try blobs.map { try blob($0, MediaType.ociLayer) }
            var config = ImageConfiguration(rootfs: .init(diffIDs: diffIDs ?? blobs.map { Digest.of($0) }))
            config.os = platform.os
            config.architecture = platform.architecture
            config.config = ImageConfiguration.RunConfig()
            config.config?.Cmd = cmd
            let configDesc = try blob(Array(try JSONEncoder().encode(config)), MediaType.ociConfig)
            var m = try blob(Array(try JSONEncoder().encode(ImageManifest(config: configDesc, layers: layerDescs))), MediaType.ociManifest)
            m.platform = platform
            return m
        }
        func index(_ entries: [Descriptor]) throws {
            try writeFileAtomically(dir + "/index.json", Array(try JSONEncoder().encode(ImageIndex(manifests: entries))))
        }
    }

    static func named(_ d: Descriptor, _ name: String) -> Descriptor {
        var d = d
        d.annotations = [Descriptor.refNameKey: name]
        return d
    }

    @Test("an OCI layout imports, resolves by tag and id, and rmi removes every blob and layer")
    func importAndRemove() async throws {
        let f = try LayerFixture()
        defer { f.cleanUp() }
        let store = try ImageStore(dataRoot: f.dir + "/data", logger: Logger(label: "test"))
        let layout = try Layout(f.dir + "/layout")
        let manifest = try layout.image(layers: [try f.layer([["name": "bin/x", "data": "1"]]),
                                                  try f.layer([["name": "bin/y", "data": "2"]])])
        try layout.index([Self.named(manifest, "example.com/team/agent:v1")])
        #expect(try await store.importImage(path: layout.dir, tag: nil) == ["example.com/team/agent:v1"])
        let image = try await store.resolve("example.com/team/agent:v1")
        #expect(try await store.resolve(String(image.configDigest.hex.prefix(8))).manifestDescriptor == image.manifestDescriptor)
        let layers = try await store.unpack(image)
        #expect(layers.count == 2 && readFileIfPresent(layers[0] + "/bin/y") == Array("2".utf8))
        #expect(store.content.allBlobs().count == 4)

        await #expect(throws: WarrenError.self) { let digest = image.manifestDescriptor.digest
            _ = try await store.remove("example.com/team/agent:v1", force: false) { [digest] }
        }
        let lines = try await store.remove("example.com/team/agent:v1", force: false) { [] }
        #expect(lines.first == "Untagged: example.com/team/agent:v1")
        #expect(store.content.allBlobs().isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: store.layersDir).isEmpty)
    }

    @Test("layers unpack side by side, yet an entry through a lower layer's symlink still fails the image")
    func symlinkInLowerLayerWhileUnpackingInParallel() async throws {
        let f = try LayerFixture()
        defer { f.cleanUp() }
        let store = try ImageStore(dataRoot: f.dir + "/data", logger: Logger(label: "test"))
        let layout = try Layout(f.dir + "/layout")
        // The lower layer is large so that the upper one is unpacked before it is done.
        var lower: [[String: Any]] = (0..<400).map { ["name": "bulk/f\($0)", "data": String(repeating: "x", count: 20_000)] }
        lower.append(["name": "etc", "type": "symlink", "target": "/etc"])
        let manifest = try layout.image(layers: [try f.layer(lower), try f.layer([["name": "etc/evil", "data": "owned"]])])
        try layout.index([Self.named(manifest, "example.com/evil:1")])
        await #expect(throws: (any Error).self) { try await store.importImage(path: layout.dir, tag: nil) }
        #expect(try await store.images().isEmpty)
        let left = try FileManager.default.contentsOfDirectory(atPath: store.layersDir)
        #expect(left.count <= 1 && !left.contains { $0.hasPrefix(".tmp-") }, "at most the harmless lower layer stays: \(left)")
        #expect(!FileManager.default.fileExists(atPath: "/etc/evil"))
    }

    @Test("a full disk fails the import with a clear error and leaves the store as it was")
    func fullDisk() async throws {
        let f = try LayerFixture()
        defer { f.cleanUp() }
        let small = f.dir + "/small"
        try makeDirectories(small)
        _ = try await TestRootfs.run("/bin/mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", small])
        defer { _ = try? TestRootfs.run(blocking: "/bin/umount", ["-l", small]) }
        let store = try ImageStore(dataRoot: small + "/data", logger: Logger(label: "test"))
        let fits = try Layout(f.dir + "/fits")
        try fits.index([Self.named(try fits.image(layers: [try f.layer([["name": "a", "data": "1"]])]), "example.com/fits:1")])
        #expect(try await store.importImage(path: fits.dir, tag: nil) == ["example.com/fits:1"])

        let big = try Layout(f.dir + "/big")
        let filler = String(repeating: "x", count: 3_000_000)  // the layer is a plain tar: 3 MB on disk
        try big.index([Self.named(try big.image(layers: [try f.layer([["name": "big", "data": filler]])]), "example.com/big:1")])
        await #expect { try await store.importImage(path: big.dir, tag: nil) } throws: { error in
            (error as? WarrenError)?.message.contains("no space left") == true
        }
        #expect(try await store.images().map(\.tags) == [["example.com/fits:1"]])
        for digest in store.content.allBlobs() { _ = try store.content.read(digest, limit: 1 << 30) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: small + "/data/content/ingest").isEmpty)
        #expect(try await store.unpack(try await store.resolve("example.com/fits:1")).count == 1)
    }

    @Test("a layer that does not match the config's diff id fails the import and leaves no layer or tag")
    func diffIDMismatch() async throws {
        let f = try LayerFixture()
        defer { f.cleanUp() }
        let store = try ImageStore(dataRoot: f.dir + "/data", logger: Logger(label: "test"))
        let layout = try Layout(f.dir + "/layout")
        let wrong = Digest.of(Array("not this layer".utf8))
        let manifest = try layout.image(layers: [try f.layer([["name": "x", "data": "1"]])], diffIDs: [wrong])
        try layout.index([Self.named(manifest, "example.com/bad:1")])
        await #expect(throws: WarrenError.self) { try await store.importImage(path: layout.dir, tag: nil) }
        #expect(try await store.images().isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: store.layersDir).isEmpty)
    }

    @Test("a blob whose bytes do not match its name is refused, naming the blob; nothing half-written stays")
    func digestMismatch() async throws {
        let f = try LayerFixture()
        defer { f.cleanUp() }
        let store = try ImageStore(dataRoot: f.dir + "/data", logger: Logger(label: "test"))
        let layout = try Layout(f.dir + "/layout")
        let manifest = try layout.image(layers: [try f.layer([["name": "x", "data": "1"]])])
        try layout.index([Self.named(manifest, "example.com/tampered:1")])
        let image = try ImageManifest.decode(readFileIfPresent(layout.dir + "/blobs/sha256/" + manifest.digest.hex)!)
        try writeFileAtomically(layout.dir + "/blobs/sha256/" + image.layers[0].digest.hex, Array("tampered".utf8))
        do {
            _ = try await store.importImage(path: layout.dir, tag: nil)
            Issue.record("a tampered blob was accepted")
        } catch let error as WarrenError {
            #expect(error.message.contains(image.layers[0].digest.description), "\(error.message)")
        }
        #expect(!store.content.contains(image.layers[0].digest))
        #expect(try FileManager.default.contentsOfDirectory(atPath: store.content.ingestDir).isEmpty)
    }

    @Test("a multi-platform index gives the host's image, or the one --platform names")
    func platformSelection() async throws {
        let f = try LayerFixture()
        defer { f.cleanUp() }
        let store = try ImageStore(dataRoot: f.dir + "/data", logger: Logger(label: "test"))
        let layout = try Layout(f.dir + "/layout")
        let amd = try layout.image(layers: [try f.layer([["name": "arch", "data": "amd64"]])], platform: Platform(os: "linux", architecture: "amd64"))
        let arm = try layout.image(layers: [try f.layer([["name": "arch", "data": "arm64"]])], platform: Platform(os: "linux", architecture: "arm64", variant: "v8"))
        let nested = try layout.blob(Array(try JSONEncoder().encode(ImageIndex(manifests: [arm, amd]))), MediaType.ociIndex)
        try layout.index([Self.named(nested, "example.com/multi:1")])
        _ = try await store.importImage(path: layout.dir, tag: nil, platform: Platform(os: "linux", architecture: "amd64"))
        #expect(try await store.resolve("example.com/multi:1").manifestDescriptor.digest == amd.digest)
        _ = try await store.importImage(path: layout.dir, tag: "example.com/multi:arm", platform: try Platform(parsing: "linux/arm64"))
        #expect(try await store.resolve("example.com/multi:arm").manifestDescriptor.digest == arm.digest)
        await #expect(throws: WarrenError.self) {
            try await store.importImage(path: layout.dir, tag: "x/y:z", platform: try Platform(parsing: "linux/s390x"))
        }
    }

    @Test("prune racing imports never takes content an import is about to tag")
    func pruneDuringImport() async throws {
        let f = try LayerFixture()
        defer { f.cleanUp() }
        let store = try ImageStore(dataRoot: f.dir + "/data", logger: Logger(label: "test"))
        let layout = try Layout(f.dir + "/layout")
        let manifest = try layout.image(layers: [try f.layer([["name": "big", "data": String(repeating: "x", count: 2 << 20)]])])
        try layout.index([Self.named(manifest, "example.com/race:1")])
        for round in 0..<5 {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { _ = try await store.importImage(path: layout.dir, tag: nil) }
                for _ in 0..<3 { group.addTask { _ = try await store.prune { [] } } }
                try await group.waitForAll()
            }
            let image = try await store.resolve("example.com/race:1")
            for layer in image.manifest.layers { #expect(store.content.contains(layer.digest), "round \(round)") }
            #expect(access(store.layerPath(image.config.rootfs.diff_ids[0]) + "/big", F_OK) == 0, "round \(round)")
            _ = try await store.remove("example.com/race:1", force: false) { [] }
        }
    }

    @Test("a docker save tar imports under its RepoTags")
    func dockerArchive() async throws {
        let f = try LayerFixture()
        defer { f.cleanUp() }
        let store = try ImageStore(dataRoot: f.dir + "/data", logger: Logger(label: "test"))
        let save = f.dir + "/save"
        try makeDirectories(save + "/abc")
        let layer = try f.layer([["name": "hello", "data": "from docker"]])
        try FileManager.default.copyItem(atPath: layer, toPath: save + "/abc/layer.tar")
        var config = ImageConfiguration(rootfs: .init(diffIDs: [Digest.of(readFileIfPresent(layer)!)]))
        config.os = "linux"; config.architecture = "amd64"
        let configBytes = Array(try JSONEncoder().encode(config))
        try writeFileAtomically(save + "/\(Digest.of(configBytes).hex).json", configBytes)
        try writeFileAtomically(save + "/manifest.json", Array(#"[{"Config":"\#(Digest.of(configBytes).hex).json","RepoTags":["saved/app:2"],"Layers":["abc/layer.tar"]}]"#.utf8))
        try writeFileAtomically(save + "/repositories", Array("{}".utf8))
        _ = try TestShell.run("tar -C \(save) -cf \(f.dir)/save.tar .")
        #expect(try await store.importImage(path: f.dir + "/save.tar", tag: nil) == ["docker.io/saved/app:2"])
        let image = try await store.resolve("saved/app:2")
        #expect(image.configDigest == Digest.of(configBytes))
        let layers = try await store.unpack(image)
        #expect(readFileIfPresent(layers[0] + "/hello") == Array("from docker".utf8))
    }
}

extension ImageManifest {
    static func decode(_ bytes: [UInt8]) throws -> ImageManifest { try JSONDecoder().decode(ImageManifest.self, from: Data(bytes)) }
}
