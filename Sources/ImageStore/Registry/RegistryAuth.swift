import Foundation
import WarrenCore

/// A user name and password (or token) for one registry.
public struct RegistryCredential: Sendable, Equatable, Codable {
    public var username: String
    public var password: String

    public init(username: String, password: String) {
        self.username = username
        self.password = password
    }

    /// `Basic <base64(user:password)>`.
    var basicHeader: String { "Basic " + Data("\(username):\(password)".utf8).base64EncodedString() }
}

/// Credentials by registry host, as a docker `config.json` holds them under `auths`.
///
/// Keys there are written many ways (`registry:5000`, `https://registry:5000`,
/// `https://index.docker.io/v1/`); they are normalised to the host (and port) a
/// reference names, with Docker Hub's legacy keys mapped to `docker.io`.
public struct RegistryCredentialStore: Sendable, Equatable {
    public var entries: [String: RegistryCredential]

    public init(_ entries: [String: RegistryCredential] = [:]) { self.entries = entries }

    public func credential(for registry: String) -> RegistryCredential? { entries[registry] }

    /// Reads `auths` from a docker config file; a missing file is an empty store.
    /// Credential helpers (`credsStore`, `credHelpers`) are not run.
    public static func dockerConfig(at path: String) throws -> RegistryCredentialStore {
        guard let data = FileManager.default.contents(atPath: path) else { return RegistryCredentialStore() }
        struct File: Decodable { var auths: [String: Entry]? }
        struct Entry: Decodable { var auth: String?; var username: String?; var password: String? }
        let file: File
        do { file = try JSONDecoder().decode(File.self, from: data) } catch {
            throw WarrenError(.invalidArgument, "registry credentials file \(path) is not valid JSON: \(error)")
        }
        var store = RegistryCredentialStore()
        for (key, entry) in file.auths ?? [:] {
            var credential: RegistryCredential?
            if let user = entry.username, let password = entry.password {
                credential = RegistryCredential(username: user, password: password)
            } else if let auth = entry.auth, let decoded = Data(base64Encoded: auth).flatMap({ String(data: $0, encoding: .utf8) }),
                      let colon = decoded.firstIndex(of: ":") {
                credential = RegistryCredential(username: String(decoded[..<colon]), password: String(decoded[decoded.index(after: colon)...]))
            }
            if let credential { store.entries[normalisedHost(key)] = credential }
        }
        return store
    }

    /// The default docker config: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
    public static var defaultDockerConfigPath: String {
        let env = ProcessInfo.processInfo.environment
        if let dir = env["DOCKER_CONFIG"], !dir.isEmpty { return dir + "/config.json" }
        return (env["HOME"] ?? NSHomeDirectory()) + "/.docker/config.json"
    }

    static func normalisedHost(_ key: String) -> String {
        var host = Substring(key)
        for scheme in ["https://", "http://"] where host.hasPrefix(scheme) { host = host.dropFirst(scheme.count) }
        if let slash = host.firstIndex(of: "/") { host = host[..<slash] }
        switch host {
        case "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com": return ImageReference.dockerHub
        default: return String(host)
        }
    }
}

/// One `WWW-Authenticate` challenge: `Basic realm="…"` or
/// `Bearer realm="…",service="…",scope="…"`.
struct AuthChallenge: Equatable, Sendable {
    enum Scheme: Sendable { case basic, bearer }
    var scheme: Scheme
    var parameters: [String: String]

    /// The first challenge of a scheme we speak, or nil.
    static func parse(_ header: String) -> AuthChallenge? {
        let text = header.trimmingCharacters(in: .whitespaces)
        guard let space = text.firstIndex(of: " ") else {
            return text.lowercased() == "basic" ? AuthChallenge(scheme: .basic, parameters: [:]) : nil
        }
        let scheme: Scheme
        switch text[..<space].lowercased() {
        case "basic": scheme = .basic
        case "bearer": scheme = .bearer
        default: return nil
        }
        return AuthChallenge(scheme: scheme, parameters: parameters(text[text.index(after: space)...]))
    }

    /// `key=value` or `key="quoted, \"escaped\" value"`, comma-separated; keys lowercased.
    static func parameters(_ text: Substring) -> [String: String] {
        var result: [String: String] = [:]
        var i = text.startIndex
        func skip(_ set: Set<Character>) { while i < text.endIndex, set.contains(text[i]) { i = text.index(after: i) } }
        while i < text.endIndex {
            skip([" ", ","])
            let keyStart = i
            while i < text.endIndex, text[i] != "=", text[i] != "," { i = text.index(after: i) }
            let key = text[keyStart..<i].trimmingCharacters(in: .whitespaces).lowercased()
            guard i < text.endIndex, text[i] == "=" else { continue }
            i = text.index(after: i)
            skip([" "])
            var value = ""
            if i < text.endIndex, text[i] == "\"" {
                i = text.index(after: i)
                while i < text.endIndex, text[i] != "\"" {
                    if text[i] == "\\", text.index(after: i) < text.endIndex { i = text.index(after: i) }
                    value.append(text[i])
                    i = text.index(after: i)
                }
                if i < text.endIndex { i = text.index(after: i) }
            } else {
                let start = i
                while i < text.endIndex, text[i] != "," { i = text.index(after: i) }
                value = text[start..<i].trimmingCharacters(in: .whitespaces)
            }
            if !key.isEmpty { result[key] = value }
        }
        return result
    }
}

/// Bearer tokens by realm, service, scope and user, kept until shortly before expiry.
actor TokenCache {
    /// `user` is the whole credential, so a token never serves another password.
    struct Key: Hashable { var realm: String; var service: String; var scope: String; var user: String }
    private var tokens: [Key: (token: String, expires: ContinuousClock.Instant)] = [:]

    func token(_ key: Key) -> String? {
        guard let hit = tokens[key] else { return nil }
        if hit.expires <= .now { tokens[key] = nil; return nil }
        return hit.token
    }

    /// Drops the tokens of a realm whose registry just refused one.
    func forget(realm: String) { tokens = tokens.filter { $0.key.realm != realm } }

    /// Stores a token valid for `lifetime` seconds (the spec's default is 60), less a margin.
    func store(_ token: String, for key: Key, lifetime: Int) {
        let seconds = max(lifetime, 60) - 10
        tokens[key] = (token, .now + .seconds(seconds))
    }
}
