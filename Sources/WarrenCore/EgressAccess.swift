import Foundation

/// The egress a sandbox asks for (`warren run --allow-host ...`): which hosts its proxy
/// lets it reach, names the proxy resolves to fixed addresses, and a byte budget.
public struct EgressAccess: Codable, Sendable, Equatable {
    /// Allow patterns: `pypi.org`, `*.pythonhosted.org`, `github.com:443`, `10.1.0.0/16`.
    public var allow: [String]
    /// Patterns refused even when an allow pattern matches (`warren network deny`).
    public var deny: [String]
    /// Named presets of the daemon's config; the daemon adds their patterns to `allow`
    /// when the sandbox is created.
    public var presets: [String]
    /// `NAME:ADDRESS` pairs the proxy resolves before asking DNS (`--add-host`).
    public var hosts: [String]
    /// Bytes, both ways together, the sandbox may move through its proxy; nil: no cap.
    public var budgetBytes: Int64?
    /// Secrets of the daemon's config whose headers the proxy adds to the sandbox's
    /// requests to their hosts (the sandbox never holds them); their hosts are allowed.
    public var secrets: [String]

    public init(allow: [String] = [], deny: [String] = [], presets: [String] = [], hosts: [String] = [],
                budgetBytes: Int64? = nil, secrets: [String] = []) {
        self.allow = allow; self.deny = deny; self.presets = presets; self.hosts = hosts; self.budgetBytes = budgetBytes
        self.secrets = secrets
    }

    enum CodingKeys: String, CodingKey { case allow, deny, presets, hosts, budgetBytes, secrets }

    /// Every field may be left out.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        allow = try c.decodeIfPresent([String].self, forKey: .allow) ?? []
        deny = try c.decodeIfPresent([String].self, forKey: .deny) ?? []
        presets = try c.decodeIfPresent([String].self, forKey: .presets) ?? []
        hosts = try c.decodeIfPresent([String].self, forKey: .hosts) ?? []
        budgetBytes = try c.decodeIfPresent(Int64.self, forKey: .budgetBytes)
        secrets = try c.decodeIfPresent([String].self, forKey: .secrets) ?? []
    }

    /// The guest loopback port the egress proxy answers on inside a sandbox.
    public static let guestPort: UInt16 = 9401

    /// The policy its patterns make (a 400 naming the first bad one).
    public func policy() throws -> EgressPolicy {
        var policy = try EgressPolicy(parsing: allow)
        try InputRules.count(deny, "denied hosts", max: 1024)
        policy.denied = try deny.map(EgressRule.init(parsing:))
        return policy
    }

    /// The fixed name-to-address map of `hosts` (a 400 naming the first bad pair).
    public func hostMap() throws -> [String: IPAddress] {
        try InputRules.count(hosts, "added hosts", max: 256)
        var map: [String: IPAddress] = [:]
        for pair in hosts {
            try InputRules.text(pair, "added host", maxBytes: 300, allowEmpty: false)
            guard let colon = pair.firstIndex(of: ":"), let address = IPAddress(EgressPolicy.unbracketed(String(pair[pair.index(after: colon)...]))),
                  case .host(let name) = try? EgressRule(parsing: String(pair[..<colon])).target else {
                throw WarrenError(.invalidArgument, "added host '\(pair.prefix(300))' is not NAME:ADDRESS")
            }
            map[name] = address
        }
        return map
    }

    /// Checks every field; a 400 names the first problem.
    public func validate() throws {
        _ = try policy()
        _ = try hostMap()
        try InputRules.count(presets, "egress presets", max: 64)
        try InputRules.count(secrets, "egress secrets", max: 64)
        if let budgetBytes, budgetBytes <= 0 { throw WarrenError(.invalidArgument, "--egress-budget must be positive") }
    }

    /// What the guest's environment gets: the proxy for every scheme, in both cases, and
    /// the loopback (where the facade answers) left out of it.
    public static var environment: [String] {
        let proxy = "http://127.0.0.1:\(guestPort)"
        let none = "localhost,127.0.0.1,::1"
        return ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"].map { "\($0)=\(proxy)" }
            + ["ALL_PROXY=socks5h://127.0.0.1:\(guestPort)", "all_proxy=socks5h://127.0.0.1:\(guestPort)",
               "NO_PROXY=\(none)", "no_proxy=\(none)"]
    }

    /// Where a sandbox with secrets finds the daemon's egress CA: the system's roots with
    /// it (`ca-certificates.crt`) and the CA alone (`warren-egress-ca.crt`).
    public static let trustDirectory = "/run/warren-egress"
    /// The system's CA bundle (Debian, Ubuntu, Alpine), which a sandbox with secrets gets
    /// as the host's roots plus the daemon's CA.
    public static let systemBundle = "/etc/ssl/certs/ca-certificates.crt"

    /// What a sandbox with secrets gets besides `environment`: every common TLS stack
    /// pointed at the bundle that trusts the daemon's CA.
    public static var trustEnvironment: [String] {
        let bundle = trustDirectory + "/ca-certificates.crt"
        return ["SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "GIT_SSL_CAINFO", "PIP_CERT"].map { "\($0)=\(bundle)" }
            + ["NODE_EXTRA_CA_CERTS=\(trustDirectory)/warren-egress-ca.crt"]
    }

    /// `allow` with `patterns` added (and taken out of `deny`).
    public func allowing(_ patterns: [String]) -> EgressAccess { moving(patterns, into: \.allow, outOf: \.deny) }

    /// `deny` with `patterns` added (and taken out of `allow`).
    public func denying(_ patterns: [String]) -> EgressAccess { moving(patterns, into: \.deny, outOf: \.allow) }

    /// Moves `patterns` into one list and out of the other, matching rules rather than
    /// spellings; each pattern is parsed once, so a long list costs no more than its length.
    private func moving(_ patterns: [String], into: WritableKeyPath<EgressAccess, [String]>,
                        outOf: WritableKeyPath<EgressAccess, [String]>) -> EgressAccess {
        var next = self
        let moved = Set(patterns.compactMap { try? EgressRule(parsing: $0) })
        next[keyPath: outOf].removeAll { (try? EgressRule(parsing: $0)).map(moved.contains) ?? false }
        var present = Set(next[keyPath: into].compactMap { try? EgressRule(parsing: $0) })
        for p in patterns {
            guard let rule = try? EgressRule(parsing: p) else { next[keyPath: into].append(p); continue }
            if present.insert(rule).inserted { next[keyPath: into].append(p) }
        }
        return next
    }

    /// Whether two patterns are the same rule (`PyPI.org.` and `pypi.org` are).
    public static func same(_ a: String, _ b: String) -> Bool {
        guard let ra = try? EgressRule(parsing: a), let rb = try? EgressRule(parsing: b) else { return false }
        return ra == rb
    }
}

/// One egress connection as the proxy saw it, for the audit (`warren egress`).
public struct EgressRecord: Codable, Sendable, Equatable {
    public var time: Date
    public var host: String
    public var port: Int
    /// The address connected to; nil when refused before connecting.
    public var address: String?
    public var allowed: Bool
    /// Why it was refused or failed.
    public var reason: String?
    public var bytesOut: Int64
    public var bytesIn: Int64
    /// `http` (a proxied request), `connect` (a tunnel) or `socks`.
    public var via: String

    public init(time: Date = Date(), host: String, port: Int, address: String? = nil, allowed: Bool = false,
                reason: String? = nil, bytesOut: Int64 = 0, bytesIn: Int64 = 0, via: String) {
        self.time = time; self.host = host; self.port = port; self.address = address; self.allowed = allowed
        self.reason = reason; self.bytesOut = bytesOut; self.bytesIn = bytesIn; self.via = via
    }
}

/// A sandbox's egress: its access as it stands and the connections recorded.
public struct SandboxEgress: Codable, Sendable, Equatable {
    public var id: String
    public var name: String?
    public var access: EgressAccess?
    /// Bytes moved so far, both ways.
    public var bytesUsed: Int64
    /// Newest last; the oldest are dropped past the kept number.
    public var connections: [EgressRecord]
    public init(id: String, name: String?, access: EgressAccess?, bytesUsed: Int64, connections: [EgressRecord]) {
        self.id = id; self.name = name; self.access = access; self.bytesUsed = bytesUsed; self.connections = connections
    }
}

/// A change of a running sandbox's egress (`warren network allow|deny`).
public struct EgressChange: Codable, Sendable, Equatable {
    public var allow: [String]
    public var deny: [String]
    public init(allow: [String] = [], deny: [String] = []) { self.allow = allow; self.deny = deny }

    enum CodingKeys: String, CodingKey { case allow, deny }
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        allow = try c.decodeIfPresent([String].self, forKey: .allow) ?? []
        deny = try c.decodeIfPresent([String].self, forKey: .deny) ?? []
    }
}
