/// Which hosts a sandbox may reach through its egress proxy: an allow-list of rules, empty
/// by default (no egress).
///
/// A rule names a host (`pypi.org`), every host below a domain (`*.pythonhosted.org`, not
/// the domain itself), either of them on one port (`github.com:443`), or a block of
/// addresses (`10.1.0.0/16`, `192.0.2.7`, `2001:db8::/32`). A name is checked before it
/// is resolved; every address connected to is checked again, so a name that resolves to
/// the host's own, loopback, link-local (cloud metadata), private, shared, multicast or
/// reserved addresses is refused unless an address rule names that block — DNS cannot
/// rebind a sandbox into the host's networks.
public struct EgressPolicy: Codable, Sendable, Equatable {
    public var rules: [EgressRule]
    /// Rules that refuse what they match, before any allow rule is looked at.
    public var denied: [EgressRule]

    public init(rules: [EgressRule] = [], denied: [EgressRule] = []) { self.rules = rules; self.denied = denied }

    /// Parses each of `patterns` (a 400 naming the first bad one).
    public init(parsing patterns: [String]) throws {
        try InputRules.count(patterns, "allowed hosts", max: 1024)
        rules = try patterns.map(EgressRule.init(parsing:))
        denied = []
    }

    /// Whether a connection to `host` (a name or an address literal) on `port` may be
    /// attempted at all.
    public func allows(host: String, port: Int) -> Bool {
        if let address = IPAddress(Self.unbracketed(host)) { return allows(address: address, port: port, named: nil) }
        let name = EgressRule.normalized(host)
        if denied.contains(where: { $0.matches(name: name, port: port) }) { return false }
        return rules.contains { $0.matches(name: name, port: port) }
    }

    /// Whether the address actually connected to is allowed: for a name the rules
    /// allowed (`named`), any public address; any address a block rule contains; and
    /// never a special-purpose address, nor one of the host's own (`hostAddresses`), but
    /// through a block rule that names it.
    public func allows(address: IPAddress, port: Int, named: String?, hostAddresses: Set<IPAddress> = []) -> Bool {
        if denied.contains(where: { $0.matches(address: address, port: port) }) { return false }
        if let named, denied.contains(where: { $0.matches(name: EgressRule.normalized(named), port: port) }) { return false }
        if rules.contains(where: { $0.matches(address: address, port: port) }) { return true }
        guard let named, EgressAddresses.specialPurpose(address) == nil, !hostAddresses.contains(address) else { return false }
        return rules.contains { $0.matches(name: EgressRule.normalized(named), port: port) }
    }

    /// `host` without the brackets of an IPv6 literal.
    public static func unbracketed(_ host: String) -> String {
        host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
    }
}

/// One allow rule.
public struct EgressRule: Codable, Sendable, Hashable, CustomStringConvertible {
    public enum Target: Codable, Sendable, Hashable {
        /// Exactly this host name.
        case host(String)
        /// Every name below this domain (not the domain itself).
        case below(String)
        case network(String)
    }

    public var target: Target
    /// Any port when nil.
    public var port: Int?

    public init(parsing text: String) throws {
        try InputRules.text(text, "allowed host", maxBytes: 300, allowEmpty: false)
        let bad = { (why: String) in WarrenError(.invalidArgument, "allowed host '\(text.prefix(300))' \(why)") }
        // An address block (or one address), IPv6 ones bracketed when a port follows.
        var body = Substring(text), port: Int?
        if body.hasPrefix("["), let close = body.firstIndex(of: "]") {
            let rest = body[body.index(after: close)...]
            if rest.hasPrefix(":") { port = try Self.port(rest.dropFirst(), bad) } else if !rest.isEmpty { throw bad("is not HOST[:PORT] or a CIDR") }
            body = body[body.index(after: body.startIndex)..<close]
        } else if body.filter({ $0 == ":" }).count == 1, let colon = body.lastIndex(of: ":") {
            port = try Self.port(body[body.index(after: colon)...], bad)
            body = body[..<colon]
        }
        if let network = IPNetwork(String(body)) {
            target = .network(network.description)
        } else if body.contains(":") || body.contains("/") || IPAddress(String(body.split(separator: "/").first ?? "")) != nil {
            throw bad("is not a valid address or CIDR block")
        } else {
            var name = Self.normalized(String(body))
            var wildcard = false
            if name.hasPrefix("*.") { wildcard = true; name.removeFirst(2) }
            let labels = name.split(separator: ".", omittingEmptySubsequences: false)
            guard !name.isEmpty, name.utf8.count <= 253,
                  labels.allSatisfy({ !$0.isEmpty && $0.utf8.count <= 63 && !$0.hasPrefix("-") && !$0.hasSuffix("-")
                                      && $0.allSatisfy { ($0.isASCII && ($0.isLetter || $0.isNumber)) || $0 == "-" || $0 == "_" } }) else {
                throw bad("is not a host name, *.domain, HOST:PORT or a CIDR block")
            }
            // A name whose last label is all digits is a mistyped address, not a host.
            guard !(labels.last?.allSatisfy(\.isASCIIDigit) ?? false) else { throw bad("is not a valid address or host name") }
            // `*` alone or `*.com` would open nearly everything: a block rule says so plainly.
            guard !wildcard || labels.count >= 2 else {
                throw bad("is too wide: a wildcard needs a domain of two labels or more (0.0.0.0/0 allows every public IPv4 address)")
            }
            target = wildcard ? .below(name) : .host(name)
        }
        self.port = port
    }

    static func port(_ text: Substring, _ bad: (String) -> WarrenError) throws -> Int {
        guard !text.isEmpty, text.count <= 5, text.allSatisfy(\.isASCIIDigit), let p = Int(text), (1...65_535).contains(p) else {
            throw bad("has no valid port (1-65535)")
        }
        return p
    }

    /// Lowercased, without a trailing dot.
    static func normalized(_ name: String) -> String {
        let lower = name.lowercased()
        return lower.hasSuffix(".") ? String(lower.dropLast()) : lower
    }

    func matches(name: String, port: Int) -> Bool {
        guard self.port == nil || self.port == port else { return false }
        switch target {
        case .host(let h): return name == h
        case .below(let domain): return name.hasSuffix("." + domain)
        case .network: return false
        }
    }

    func matches(address: IPAddress, port: Int) -> Bool {
        guard self.port == nil || self.port == port, case .network(let text) = target, let network = IPNetwork(text) else { return false }
        return network.contains(address)
    }

    public var description: String {
        let base: String
        switch target {
        case .host(let h): base = h
        case .below(let d): base = "*." + d
        case .network(let n): base = port != nil && n.contains(":") ? "[\(n)]" : n
        }
        return port.map { "\(base):\($0)" } ?? base
    }
}

/// Address blocks no egress reaches unless a rule names them (IANA special-purpose
/// registries, and the blocks a host's own networks live in).
public enum EgressAddresses {
    static let blocks: [(IPNetwork, String)] = [
        ("0.0.0.0/8", "this network"), ("10.0.0.0/8", "private"), ("100.64.0.0/10", "shared (carrier-grade NAT)"),
        ("127.0.0.0/8", "loopback"), ("169.254.0.0/16", "link-local (cloud metadata)"), ("172.16.0.0/12", "private"),
        ("192.0.0.0/24", "IETF protocol assignments"), ("192.0.2.0/24", "documentation"), ("192.88.99.0/24", "6to4 relay"),
        ("192.168.0.0/16", "private"), ("198.18.0.0/15", "benchmarking"), ("198.51.100.0/24", "documentation"),
        ("203.0.113.0/24", "documentation"), ("224.0.0.0/4", "multicast"), ("240.0.0.0/4", "reserved"),
        ("::/128", "unspecified"), ("::1/128", "loopback"), ("64:ff9b::/96", "IPv4/IPv6 translation"),
        ("100::/64", "discard"), ("2001::/23", "IETF protocol assignments"), ("2001:db8::/32", "documentation"),
        ("2002::/16", "6to4"), ("fc00::/7", "unique local (private)"), ("fe80::/10", "link-local"), ("ff00::/8", "multicast"),
    ].map { (IPNetwork($0.0)!, $0.1) }

    /// What kind of special-purpose address `address` is, or nil for a public one.
    public static func specialPurpose(_ address: IPAddress) -> String? {
        blocks.first { $0.0.contains(address) }?.1
    }
}
