import Foundation
import WarrenCore

/// The head of a request to the egress proxy, as a sandbox's HTTP client sends it: a
/// `CONNECT host:port` tunnel (HTTPS, git, anything over TLS), or a plain-HTTP request in
/// absolute form (`GET http://host[:port]/path`), which is forwarded in origin form with
/// the proxy's own headers taken out and the connection closed after it.
public enum ProxyRequestHead: Equatable, Sendable {
    case tunnel(host: String, port: Int)
    /// `head` is what goes to the origin server.
    case forward(host: String, port: Int, head: [UInt8])

    /// The host and port asked for.
    public var target: (host: String, port: Int) {
        switch self {
        case .tunnel(let host, let port), .forward(let host, let port, _): (host, port)
        }
    }

    /// The longest head accepted.
    public static let maxBytes = 16 << 10

    /// Where the head ends in `bytes` (just past its blank line), or nil while it is incomplete.
    public static func end(in bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for i in 3..<bytes.count where bytes[i] == 10 && bytes[i - 1] == 13 && bytes[i - 2] == 10 && bytes[i - 3] == 13 {
            return i + 1
        }
        return nil
    }

    /// Parses a complete head (through its blank line).
    public init(parsing head: [UInt8]) throws {
        guard let text = String(validating: head, as: UTF8.self) else { throw Self.bad("the request head is not UTF-8") }
        var lines = text.components(separatedBy: "\r\n")
        guard lines.count >= 3, lines.suffix(2) == ["", ""] else { throw Self.bad("the request head does not end in a blank line") }
        lines.removeLast(2)
        let request = lines.removeFirst().split(separator: " ", omittingEmptySubsequences: false)
        guard request.count == 3, request[2] == "HTTP/1.1" || request[2] == "HTTP/1.0", !request[0].isEmpty,
              request[0].allSatisfy({ $0.isASCII && $0.isUppercase }) else {
            throw Self.bad("the request line is not METHOD TARGET HTTP/1.x")
        }
        let method = String(request[0]), target = String(request[1])
        if method == "CONNECT" {
            let (host, port) = try Self.authority(Substring(target), defaultPort: nil)
            self = .tunnel(host: host, port: port)
            return
        }
        guard target.lowercased().hasPrefix("http://") else {
            throw Self.bad(target.lowercased().hasPrefix("https://")
                ? "an https:// URL goes through CONNECT (set HTTPS_PROXY), not as a plain request"
                : "a plain-HTTP request to the proxy needs an absolute http:// URL")
        }
        let rest = target.dropFirst("http://".count)
        let slash = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex
        let (host, port) = try Self.authority(rest[..<slash], defaultPort: 80)
        var path = String(rest[slash...])
        if path.isEmpty { path = "/" } else if path.hasPrefix("?") { path = "/" + path }
        var out = "\(method) \(path) \(request[2])\r\n"
        var sawHost = false
        for line in lines {
            guard let colon = line.firstIndex(of: ":"), colon != line.startIndex else { throw Self.bad("a header line has no name") }
            let name = line[..<colon].lowercased()
            // The proxy's own headers and hop-by-hop ones stay here; the origin gets one request and a close.
            if name.hasPrefix("proxy-") || name == "connection" || name == "keep-alive" { continue }
            if name == "host" { sawHost = true }
            out += line + "\r\n"
        }
        if !sawHost { out += "Host: \(Self.hostHeader(host, port))\r\n" }
        out += "Connection: close\r\n\r\n"
        self = .forward(host: host, port: port, head: Array(out.utf8))
    }

    /// `host:port` (IPv6 bracketed), the port required unless `defaultPort`.
    static func authority(_ text: Substring, defaultPort: Int?) throws -> (String, Int) {
        var host = text, portText: Substring?
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw bad("the target's IPv6 address has no closing bracket") }
            host = text[text.index(after: text.startIndex)..<close]
            let after = text[text.index(after: close)...]
            if after.hasPrefix(":") { portText = after.dropFirst() } else if !after.isEmpty { throw bad("the target is not HOST:PORT") }
        } else if let colon = text.lastIndex(of: ":") {
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        }
        guard !host.isEmpty, host.utf8.count <= 253, !host.contains(where: { $0.isWhitespace || $0 == "@" || $0 == "/" }) else {
            throw bad("the target has no valid host")
        }
        let port: Int
        if let portText {
            guard !portText.isEmpty, portText.count <= 5, portText.allSatisfy({ $0.isASCII && $0.isNumber }),
                  let p = Int(portText), (1...65_535).contains(p) else { throw bad("the target's port is not 1-65535") }
            port = p
        } else if let defaultPort {
            port = defaultPort
        } else {
            throw bad("CONNECT needs HOST:PORT")
        }
        return (String(host).lowercased(), port)
    }

    static func hostHeader(_ host: String, _ port: Int) -> String {
        let h = host.contains(":") ? "[\(host)]" : host
        return port == 80 ? h : "\(h):\(port)"
    }

    static func bad(_ why: String) -> WarrenError { WarrenError(.invalidArgument, why) }
}
