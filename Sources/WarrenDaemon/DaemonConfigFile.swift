import EgressProxy
import Foundation
import WarrenCore

/// The daemon's configuration file (`/etc/warren/daemon.json` for root): JSON with the
/// settings a command line would give, named as the flags are. Flags win over the file;
/// lists from both are joined.
///
/// ```json
/// {"insecure-registries": ["127.0.0.1:5000"], "registry-config": "/root/.docker/config.json"}
/// ```
public struct DaemonConfigFile: Decodable, Sendable, Equatable {
    public var insecureRegistries: [String]?
    public var registryConfig: String?
    public var dataRoot: String?
    public var socket: String?
    public var dockerHost: String?
    /// Provider keys and upstreams: `{"OPENAI_API_KEY": "...", "WARREN_OPENAI_BASE_URL": "..."}`.
    public var llm: [String: String]?
    /// Host paths clients may bind although they are protected (`MountPolicy`).
    public var allowMountSources: [String]?
    /// Free space the data root keeps, as a size (`512m`, `2g`).
    public var minFreeSpace: String?
    /// Named sets of egress allow patterns: `{"python": ["pypi.org", "files.pythonhosted.org"]}`.
    public var egressPresets: [String: [String]]?
    /// Headers the egress proxy adds for hosts: `{"github": {"hosts": ["github.com"], "headers": {"Authorization": "Bearer ..."}}}`.
    /// Keep a file with secrets readable by root only.
    public var egressSecrets: [String: EgressSecret]?
    /// Extra CA certificates (PEM) trusted for origins whose TLS the proxy terminates.
    public var egressTrust: String?

    enum CodingKeys: String, CodingKey {
        case insecureRegistries = "insecure-registries"
        case registryConfig = "registry-config"
        case dataRoot = "data-root"
        case socket
        case dockerHost = "docker-host"
        case llm
        case allowMountSources = "allow-mount-sources"
        case minFreeSpace = "min-free-space"
        case egressPresets = "egress-presets"
        case egressSecrets = "egress-secrets"
        case egressTrust = "egress-trust"
    }

    public init(insecureRegistries: [String]? = nil, registryConfig: String? = nil, dataRoot: String? = nil, socket: String? = nil,
                dockerHost: String? = nil) {
        self.insecureRegistries = insecureRegistries; self.registryConfig = registryConfig
        self.dataRoot = dataRoot; self.socket = socket; self.dockerHost = dockerHost
    }

    /// Reads `path`; a missing file is an empty configuration unless `required`.
    public static func load(_ path: String, required: Bool) throws -> DaemonConfigFile {
        guard let data = FileManager.default.contents(atPath: path) else {
            if required { throw WarrenError(.invalidArgument, "daemon config file \(path) cannot be read") }
            return DaemonConfigFile()
        }
        let decoder = JSONDecoder()
        do { return try decoder.decode(DaemonConfigFile.self, from: data) } catch {
            throw WarrenError(.invalidArgument, "daemon config file \(path) is not valid: \(error)")
        }
    }

    /// Checks every insecure registry is `HOST[:PORT]` with nothing else around it.
    public static func validateRegistries(_ names: [String]) throws {
        for name in names where name.isEmpty || name.contains("/") || name.contains(" ") || name.hasPrefix("http") {
            throw WarrenError(.invalidArgument, "insecure registry '\(name)' must be HOST[:PORT], without a scheme or path")
        }
    }
}
