import Foundation
import WarrenCore

/// Where the Docker Engine listens: a Unix socket, from `DOCKER_HOST=unix://…` or the
/// default `/var/run/docker.sock`. Warren talks to a local engine only: the sandboxes'
/// host pids, bind mounts and networks must be this host's.
public struct DockerEndpoint: Sendable, Equatable, CustomStringConvertible {
    public static let defaultSocketPath = "/var/run/docker.sock"

    public var socketPath: String

    public init(socketPath: String = DockerEndpoint.defaultSocketPath) { self.socketPath = socketPath }

    /// Parses `DOCKER_HOST`; only `unix://` is accepted.
    public init(dockerHost text: String) throws {
        guard text.hasPrefix("unix://") else {
            throw WarrenError(.invalidArgument, "DOCKER_HOST '\(text)' is not a local engine: Warren needs unix:///path/to/docker.sock")
        }
        let path = String(text.dropFirst("unix://".count))
        guard path.hasPrefix("/") else {
            throw WarrenError(.invalidArgument, "DOCKER_HOST '\(text)' must be unix:///absolute/path")
        }
        socketPath = path
    }

    /// `DOCKER_HOST` when set and not empty, else the default socket.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws -> DockerEndpoint {
        if let host = environment["DOCKER_HOST"], !host.isEmpty { return try DockerEndpoint(dockerHost: host) }
        return DockerEndpoint()
    }

    public var description: String { "unix://\(socketPath)" }

    /// The AsyncHTTPClient URL of `uri` on this socket.
    func url(_ uri: String) -> String {
        var allowed = CharacterSet.urlHostAllowed
        allowed.remove(charactersIn: "/%:")
        let host = socketPath.addingPercentEncoding(withAllowedCharacters: allowed) ?? socketPath
        return "http+unix://\(host)\(uri)"
    }
}

/// API versions this client speaks: it uses the engine's own version up to `maximum`.
public enum DockerAPIVersion {
    /// Docker 19.03: HostConfig.Init, PidsLimit, NanoCpus, Mounts, conditions on wait.
    public static let minimum = "1.40"
    /// Docker 25: the newest API whose fields this client knows.
    public static let maximum = "1.44"

    /// The version to use with an engine that offers `server` and accepts no older than `serverMinimum`.
    public static func negotiate(server: String, serverMinimum: String?) throws -> String {
        if compare(server, minimum) < 0 {
            throw WarrenError(.unavailable, "the Docker engine speaks API \(server); Warren needs \(minimum) or newer (Docker 19.03+)")
        }
        if let serverMinimum, compare(serverMinimum, maximum) > 0 {
            throw WarrenError(.unavailable, "the Docker engine no longer speaks API \(maximum) (its oldest is \(serverMinimum))")
        }
        return compare(server, maximum) < 0 ? server : maximum
    }

    /// Compares dotted versions numerically: -1, 0 or 1.
    public static func compare(_ a: String, _ b: String) -> Int {
        let x = a.split(separator: ".").map { Int($0) ?? 0 }
        let y = b.split(separator: ".").map { Int($0) ?? 0 }
        for i in 0..<max(x.count, y.count) {
            let l = i < x.count ? x[i] : 0, r = i < y.count ? y[i] : 0
            if l != r { return l < r ? -1 : 1 }
        }
        return 0
    }
}
