import Foundation
import WarrenCore

/// Where the daemon listens, as clients name it: `unix:///path` or `http://host:port`.
public enum DaemonHost: Sendable, Equatable, CustomStringConvertible {
    case unix(path: String)
    case tcp(host: String, port: Int)

    /// Parses `unix:///run/warren/warren.sock`, a bare absolute socket path, or `http://host:port`.
    public init(parsing text: String) throws {
        if text.hasPrefix("unix://") {
            let path = String(text.dropFirst("unix://".count))
            guard path.hasPrefix("/") else {
                throw WarrenError(.invalidArgument, "host '\(text)' must be unix:///absolute/path")
            }
            self = .unix(path: path)
        } else if text.hasPrefix("/") {
            self = .unix(path: text)
        } else if text.hasPrefix("http://") || text.hasPrefix("tcp://") {
            guard let url = URL(string: text.hasPrefix("tcp://") ? "http://" + text.dropFirst(6) : text),
                  let host = url.host, !host.isEmpty else {
                throw WarrenError(.invalidArgument, "host '\(text)' must be http://HOST:PORT")
            }
            let path = url.path
            guard path.isEmpty || path == "/" else {
                throw WarrenError(.invalidArgument, "host '\(text)' must not have a path")
            }
            self = .tcp(host: host, port: url.port ?? 80)
        } else {
            throw WarrenError(.invalidArgument, "host '\(text)' must be unix:///path or http://HOST:PORT")
        }
    }

    /// `WARREN_HOST` when set, else the default socket for this user.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws -> DaemonHost {
        if let text = environment["WARREN_HOST"], !text.isEmpty { return try DaemonHost(parsing: text) }
        return .unix(path: defaultSocketPath(environment: environment))
    }

    /// `/run/warren/warren.sock` for root, else `$XDG_RUNTIME_DIR/warren.sock` (as the daemon chooses).
    public static func defaultSocketPath(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if geteuid() == 0 { return "/run/warren/warren.sock" }
        if let dir = environment["XDG_RUNTIME_DIR"], !dir.isEmpty { return dir + "/warren.sock" }
        return "/tmp/warren-\(getuid())/warren.sock"
    }

    public var description: String {
        switch self {
        case .unix(let path): "unix://\(path)"
        case .tcp(let host, let port): host.contains(":") ? "http://[\(host)]:\(port)" : "http://\(host):\(port)"
        }
    }

    /// The AsyncHTTPClient URL of `uri` (path and query) on this host:
    /// `http+unix://<percent-encoded socket path><uri>` for a Unix socket.
    func url(_ uri: String) -> String {
        switch self {
        case .unix(let path):
            var allowed = CharacterSet.urlHostAllowed
            allowed.remove(charactersIn: "/%:")
            return "http+unix://\(path.addingPercentEncoding(withAllowedCharacters: allowed) ?? path)\(uri)"
        case .tcp:
            return description + uri
        }
    }
}
