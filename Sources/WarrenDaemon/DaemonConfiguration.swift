import Foundation
import DockerDriver
import EgressProxy
import ImageStore
import WarrenCore

/// Everything `warren daemon` can be told on its command line.
public struct DaemonConfiguration: Sendable, Equatable {
    /// Path of the Unix socket the API listens on.
    public var socketPath: String
    /// Directory holding `warren.db` and per-sandbox state.
    public var dataRoot: String
    /// Optional TCP listener, `HOST:PORT`; needs `tokenFile` unless the host is loopback.
    public var listen: HostPort?
    /// File whose first line is the bearer token TCP clients must present.
    public var tokenFile: String?
    /// Driver used when a spec names none.
    public var defaultDriver: String
    /// The `warren-sandbox` helper executable the native driver spawns.
    public var helperPath: String
    /// How the native driver assembles root filesystems.
    public var rootfsMode: RootfsMode
    /// Registries (`HOST:PORT`) spoken to in plain HTTP; all others are HTTPS only.
    public var insecureRegistries: [String]
    /// The docker `config.json` whose `auths` log the daemon in to registries.
    public var registryConfigPath: String
    /// The Docker engine the docker driver uses: `unix:///path`; nil means `DOCKER_HOST`,
    /// else `/var/run/docker.sock`.
    public var dockerHost: String?
    /// LLM provider settings from the config file's `llm` object (`OPENAI_API_KEY`,
    /// `WARREN_OPENAI_BASE_URL`, ...); the daemon's environment wins over them.
    public var llmSettings: [String: String]
    /// Host paths clients may bind into sandboxes although `MountPolicy` protects them.
    public var allowedMountSources: [String]
    /// Free space the data root keeps: creates are refused below it.
    public var minimumFreeBytes: Int64
    /// Timeouts and per-peer caps of both listeners' connections.
    public var connectionLimits: ConnectionLimits = .standard
    /// Named sets of egress allow patterns (`--egress-preset NAME`); the config file's
    /// `egress-presets` add to and replace the built-in ones.
    public var egressPresets: [String: [String]] = EgressService.defaultPresets
    /// Named header sets the egress proxy adds for hosts (`--egress-secret NAME`).
    public var egressSecrets: [String: EgressSecret] = [:]
    /// Extra CA certificates (PEM) the egress proxy trusts for origins it terminates TLS to.
    public var egressTrustFile: String?

    public init(socketPath: String? = nil, dataRoot: String? = nil, listen: HostPort? = nil,
                tokenFile: String? = nil, defaultDriver: String = "native", helperPath: String? = nil,
                rootfsMode: RootfsMode = .auto, insecureRegistries: [String] = [], registryConfigPath: String? = nil,
                dockerHost: String? = nil, llmSettings: [String: String] = [:], allowedMountSources: [String] = [],
                minimumFreeBytes: Int64 = StorageFloor.defaultMinimumFreeBytes) {
        self.socketPath = socketPath ?? Self.defaultSocketPath()
        self.dataRoot = dataRoot ?? Self.defaultDataRoot()
        self.listen = listen
        self.tokenFile = tokenFile
        self.defaultDriver = defaultDriver
        self.helperPath = helperPath ?? Self.defaultHelperPath()
        self.rootfsMode = rootfsMode
        self.insecureRegistries = insecureRegistries
        self.registryConfigPath = registryConfigPath ?? RegistryCredentialStore.defaultDockerConfigPath
        self.dockerHost = dockerHost
        self.llmSettings = llmSettings
        self.allowedMountSources = allowedMountSources
        self.minimumFreeBytes = minimumFreeBytes
    }

    /// What clients may mount: everything but the protected host paths, this daemon's
    /// data root, socket and Docker engine socket among them.
    public var mountPolicy: MountPolicy {
        let docker = (try? dockerHost.map(DockerEndpoint.init(dockerHost:)) ?? DockerEndpoint.fromEnvironment())?.socketPath
        return MountPolicy(dataRoot: dataRoot, socketPath: socketPath, dockerSocket: docker ?? DockerEndpoint.defaultSocketPath,
                           allowed: allowedMountSources)
    }

    /// A TCP address `host:port` (`[::1]:2375` for IPv6).
    public struct HostPort: Sendable, Equatable, CustomStringConvertible {
        public var host: String
        public var port: Int

        public init(host: String, port: Int) { self.host = host; self.port = port }

        /// Parses `HOST:PORT`, `[V6]:PORT` or `:PORT` (loopback).
        public init(parsing text: String) throws {
            var hostPart: Substring
            var portPart: Substring
            if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
                hostPart = text[text.index(after: text.startIndex)..<close]
                let rest = text[text.index(after: close)...]
                guard rest.hasPrefix(":") else { throw WarrenError(.invalidArgument, "listen address '\(text)' needs :PORT") }
                portPart = rest.dropFirst()
            } else {
                guard let colon = text.lastIndex(of: ":") else {
                    throw WarrenError(.invalidArgument, "listen address '\(text)' must be HOST:PORT")
                }
                hostPart = text[..<colon]
                portPart = text[text.index(after: colon)...]
            }
            if hostPart.isEmpty { hostPart = "127.0.0.1" }
            guard let port = Int(portPart), (1...65535).contains(port) else {
                throw WarrenError(.invalidArgument, "listen address '\(text)' has an invalid port")
            }
            self.host = String(hostPart)
            self.port = port
        }

        /// `http://HOST:PORT` for links to this listener; a wildcard host becomes loopback.
        public var baseURL: String {
            let shown = host == "0.0.0.0" ? "127.0.0.1" : host == "::" ? "::1" : host
            return "http://" + (shown.contains(":") ? "[\(shown)]" : shown) + ":\(port)"
        }

        /// Whether only this host can reach the address.
        public var isLoopback: Bool {
            host == "localhost" || host == "::1" || host.hasPrefix("127.")
        }

        public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
    }

    // MARK: - Defaults

    /// Whether the daemon runs as root (and so uses the system-wide paths).
    public static var isRoot: Bool { geteuid() == 0 }

    /// `/run/warren/warren.sock` for root, else `$XDG_RUNTIME_DIR/warren.sock`.
    public static func defaultSocketPath(environment: [String: String] = ProcessInfo.processInfo.environment,
                                         root: Bool = isRoot) -> String {
        if root { return "/run/warren/warren.sock" }
        if let dir = environment["XDG_RUNTIME_DIR"], !dir.isEmpty { return dir + "/warren.sock" }
        return "/tmp/warren-\(getuid())/warren.sock"
    }

    /// `/var/lib/warren` for root, else `$XDG_DATA_HOME/warren` (`~/.local/share/warren`).
    public static func defaultDataRoot(environment: [String: String] = ProcessInfo.processInfo.environment,
                                       root: Bool = isRoot) -> String {
        if root { return "/var/lib/warren" }
        if let dir = environment["XDG_DATA_HOME"], !dir.isEmpty { return dir + "/warren" }
        let home = environment["HOME"] ?? NSHomeDirectory()
        return home + "/.local/share/warren"
    }

    /// `/etc/warren/daemon.json` for root, else `$XDG_CONFIG_HOME/warren/daemon.json`.
    public static func defaultConfigFilePath(environment: [String: String] = ProcessInfo.processInfo.environment,
                                             root: Bool = isRoot) -> String {
        if root { return "/etc/warren/daemon.json" }
        if let dir = environment["XDG_CONFIG_HOME"], !dir.isEmpty { return dir + "/warren/daemon.json" }
        return (environment["HOME"] ?? NSHomeDirectory()) + "/.config/warren/daemon.json"
    }

    /// The `warren-sandbox` binary next to the running executable.
    public static func defaultHelperPath() -> String {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? CommandLine.arguments.first ?? "warren"
        return URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("warren-sandbox").path
    }
}
