/// One image in `GET /v1/images`.
public struct ImageSummary: Codable, Sendable, Equatable {
    /// The config digest, as Docker shows image ids.
    public var id: String
    /// The manifest digest.
    public var digest: String
    public var tags: [String]
    /// Compressed size of config and layers.
    public var size: Int64
    public var created: String?
    public var platform: String?
    public init(id: String, digest: String, tags: [String], size: Int64, created: String?, platform: String?) {
        self.id = id; self.digest = digest; self.tags = tags; self.size = size; self.created = created; self.platform = platform
    }
}

/// `GET /v1/images/{ref}`: the summary with what a sandbox gets from the image.
public struct ImageDetails: Codable, Sendable {
    public var summary: ImageSummary
    public var layers: [ImageLayer]
    public var user: String?
    public var env: [String]
    public var entrypoint: [String]?
    public var cmd: [String]?
    public var workingDir: String?
    public init(summary: ImageSummary, layers: [ImageLayer], user: String?, env: [String], entrypoint: [String]?,
                cmd: [String]?, workingDir: String?) {
        self.summary = summary; self.layers = layers; self.user = user; self.env = env
        self.entrypoint = entrypoint; self.cmd = cmd; self.workingDir = workingDir
    }
}

public struct ImageLayer: Codable, Sendable {
    public var digest: String
    public var diffID: String
    public var mediaType: String
    public var size: Int64
    public init(digest: String, diffID: String, mediaType: String, size: Int64) {
        self.digest = digest; self.diffID = diffID; self.mediaType = mediaType; self.size = size
    }
}

/// `POST /v1/images/import`: a path on the daemon's host.
public struct ImageImportRequest: Codable, Sendable {
    public var path: String
    public var tag: String?
    public var platform: String?
    public init(path: String, tag: String? = nil, platform: String? = nil) { self.path = path; self.tag = tag; self.platform = platform }
}

/// `POST /v1/images/{ref}/export`: an OCI layout directory to write on the daemon's host.
public struct ImageExportRequest: Codable, Sendable {
    public var path: String
    public init(path: String) { self.path = path }
}

/// What import, remove and prune did, one line per tag or blob.
public struct ImageChanges: Codable, Sendable {
    public var tags: [String]
    public var lines: [String]
    public init(tags: [String] = [], lines: [String] = []) { self.tags = tags; self.lines = lines }
}

/// `POST /v1/images/pull`. Registry credentials come from the daemon's docker
/// `config.json`, or from `auth` (the caller's, for this pull only).
public struct ImagePullRequest: Codable, Sendable {
    public var reference: String
    public var platform: String?
    public var auth: PullCredential?
    public init(reference: String, platform: String? = nil, auth: PullCredential? = nil) {
        self.reference = reference; self.platform = platform; self.auth = auth
    }
}

public struct PullCredential: Codable, Sendable {
    public var username: String
    public var password: String
    public init(username: String, password: String) { self.username = username; self.password = password }
}

/// One line of a pull's NDJSON progress stream.
///
/// `resolved` names the manifest and lists the layers; then each layer moves through
/// `waiting` → `downloading` (with `current`/`total` bytes) → `extracting` →
/// `complete`, or is `exists` at once; the stream ends with `done`, or with an
/// `{"error": {code, message}}` line.
public struct PullProgress: Codable, Sendable, Equatable {
    public enum Status: String, Codable, Sendable {
        case resolved, waiting, downloading, extracting, complete, exists, done
    }
    public var status: Status
    /// The layer's blob digest, on layer events.
    public var layer: String?
    public var current: Int64?
    public var total: Int64?
    /// `resolved` and `done`: the reference as stored, the manifest digest, the image id.
    public var reference: String?
    public var digest: String?
    public var id: String?
    public var layers: [String]?

    public init(status: Status, layer: String? = nil, current: Int64? = nil, total: Int64? = nil, reference: String? = nil,
                digest: String? = nil, id: String? = nil, layers: [String]? = nil) {
        self.status = status; self.layer = layer; self.current = current; self.total = total
        self.reference = reference; self.digest = digest; self.id = id; self.layers = layers
    }
}
