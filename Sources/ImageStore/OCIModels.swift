import Foundation
import WarrenCore

/// Media types of the OCI image spec and their Docker schema 2 equivalents.
public enum MediaType {
    public static let ociIndex = "application/vnd.oci.image.index.v1+json"
    public static let ociManifest = "application/vnd.oci.image.manifest.v1+json"
    public static let ociConfig = "application/vnd.oci.image.config.v1+json"
    public static let ociLayer = "application/vnd.oci.image.layer.v1.tar"
    public static let ociLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip"
    public static let ociLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd"
    public static let dockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
    public static let dockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
    public static let dockerSchema1 = "application/vnd.docker.distribution.manifest.v1+json"
    public static let dockerSchema1Signed = "application/vnd.docker.distribution.manifest.v1+prettyjws"
    public static let dockerConfig = "application/vnd.docker.container.image.v1+json"
    public static let dockerLayerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip"
    public static let dockerForeignLayer = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"

    public static let indexes: Set<String> = [ociIndex, dockerManifestList]
    public static let manifests: Set<String> = [ociManifest, dockerManifest]
    public static let layers: Set<String> = [ociLayer, ociLayerGzip, ociLayerZstd, dockerLayerGzip, dockerForeignLayer,
                                             "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"]
}

/// A reference to content: its type, digest and size.
public struct Descriptor: Codable, Sendable, Equatable {
    public var mediaType: String
    public var digest: Digest
    public var size: Int64
    public var urls: [String]?
    public var annotations: [String: String]?
    public var platform: Platform?

    public init(mediaType: String, digest: Digest, size: Int64, annotations: [String: String]? = nil, platform: Platform? = nil) {
        self.mediaType = mediaType; self.digest = digest; self.size = size
        self.annotations = annotations; self.platform = platform
    }

    /// The annotation an OCI layout's index.json names an image by.
    public static let refNameKey = "org.opencontainers.image.ref.name"
}

public struct Platform: Codable, Sendable, Equatable, CustomStringConvertible {
    public var architecture: String
    public var os: String
    public var variant: String?
    public var osVersion: String?

    enum CodingKeys: String, CodingKey {
        case architecture, os, variant
        case osVersion = "os.version"
    }

    public init(os: String, architecture: String, variant: String? = nil) {
        self.os = os; self.architecture = architecture; self.variant = variant
    }

    /// `os/arch[/variant]`, as `--platform` takes it.
    public init(parsing text: String) throws {
        let parts = text.split(separator: "/").map(String.init)
        guard parts.count == 2 || parts.count == 3, !parts.contains(where: \.isEmpty) else {
            throw WarrenError(.invalidArgument, "platform '\(text)' must be os/arch[/variant], e.g. linux/amd64")
        }
        self.init(os: parts[0], architecture: parts[1], variant: parts.count == 3 ? parts[2] : nil)
    }

    public var description: String { [os, architecture, variant].compactMap { $0 }.joined(separator: "/") }

    /// This host's platform in OCI's terms.
    public static var host: Platform {
        #if arch(x86_64)
        Platform(os: "linux", architecture: "amd64")
        #elseif arch(arm64)
        Platform(os: "linux", architecture: "arm64", variant: "v8")
        #else
        Platform(os: "linux", architecture: "unknown")
        #endif
    }

    /// Whether an image built for `candidate` runs here; arm64's variant is optional.
    public func accepts(_ candidate: Platform) -> Bool {
        guard candidate.os == os, candidate.architecture == architecture else { return false }
        guard let want = variant, let have = candidate.variant else { return true }
        return want == have
    }
}

public struct ImageIndex: Codable, Sendable {
    public var schemaVersion: Int
    public var mediaType: String?
    public var manifests: [Descriptor]
    public var annotations: [String: String]?

    public init(manifests: [Descriptor], mediaType: String? = MediaType.ociIndex) {
        self.schemaVersion = 2; self.mediaType = mediaType; self.manifests = manifests
    }
}

extension ImageIndex {
    /// The entry for an image that runs on `platform`; `name` says whose index it is in the error.
    public func manifest(for platform: Platform, in name: String = "the index") throws -> Descriptor {
        if let pick = manifests.first(where: { $0.platform.map(platform.accepts) ?? false }) { return pick }
        let offered = manifests.compactMap { $0.platform?.description }.joined(separator: ", ")
        throw WarrenError(.notFound, "no image for platform \(platform) in \(name) (it offers \(offered.isEmpty ? "none" : offered))")
    }
}

public struct ImageManifest: Codable, Sendable {
    public var schemaVersion: Int
    public var mediaType: String?
    public var config: Descriptor
    public var layers: [Descriptor]
    public var annotations: [String: String]?

    public init(config: Descriptor, layers: [Descriptor], mediaType: String = MediaType.ociManifest) {
        self.schemaVersion = 2; self.mediaType = mediaType; self.config = config; self.layers = layers
    }
}

/// The parts of an image's config a sandbox uses.
public struct ImageConfiguration: Codable, Sendable {
    public var architecture: String?
    public var os: String?
    public var variant: String?
    public var created: String?
    public var config: RunConfig?
    public var rootfs: RootFS

    public struct RunConfig: Codable, Sendable, Equatable {
        public var User: String?
        public var Env: [String]?
        public var Entrypoint: [String]?
        public var Cmd: [String]?
        public var WorkingDir: String?
        public var Labels: [String: String]?
        public var StopSignal: String?
        public init() {}
    }

    public struct RootFS: Codable, Sendable {
        public var type: String
        public var diff_ids: [Digest]
        public init(diffIDs: [Digest]) { type = "layers"; diff_ids = diffIDs }
    }
}

/// Decodes a manifest or index blob, refusing schema 1 with a clear message.
public enum ManifestDocument {
    case index(ImageIndex)
    case manifest(ImageManifest)

    public static func parse(_ data: Data, mediaType: String?) throws -> ManifestDocument {
        struct Probe: Decodable { var schemaVersion: Int?; var mediaType: String?; var manifests: [Descriptor]?; var config: Descriptor? }
        let probe: Probe
        do { probe = try JSONDecoder().decode(Probe.self, from: data) } catch {
            throw WarrenError(.invalidArgument, "manifest is not valid JSON: \(error)")
        }
        let type = probe.mediaType ?? mediaType
        if probe.schemaVersion == 1 || type == MediaType.dockerSchema1 || type == MediaType.dockerSchema1Signed {
            throw WarrenError(.unsupported, "image manifest schema 1 is deprecated and not supported: push the image again with a current client")
        }
        do {
            if probe.manifests != nil || MediaType.indexes.contains(type ?? "") {
                return .index(try JSONDecoder().decode(ImageIndex.self, from: data))
            }
            if probe.config != nil {
                return .manifest(try JSONDecoder().decode(ImageManifest.self, from: data))
            }
        } catch {
            throw WarrenError(.invalidArgument, "malformed image manifest: \(error)")
        }
        throw WarrenError(.unsupported, "unsupported manifest media type \(type ?? "(none)")")
    }
}
