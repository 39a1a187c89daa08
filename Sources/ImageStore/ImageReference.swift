import WarrenCore

/// An image reference, `[registry/]path[:tag][@digest]`, normalised as Docker does:
/// no registry means `docker.io`, and a single path component there means `library/`.
public struct ImageReference: Hashable, Sendable, CustomStringConvertible {
    public var registry: String
    public var repository: String
    public var tag: String?
    public var digest: Digest?

    public static let dockerHub = "docker.io"

    public init(parsing text: String) throws {
        var rest = Substring(text)
        guard !rest.isEmpty, rest.count <= 1024 else { throw Self.invalid(text, "it is empty or too long") }
        if let at = rest.firstIndex(of: "@") {
            digest = try Digest(parsing: String(rest[rest.index(after: at)...]))
            rest = rest[..<at]
        }
        // A tag is after the last colon that follows the last slash (a port comes before it).
        let lastSlash = rest.lastIndex(of: "/")
        if let colon = rest.lastIndex(of: ":"), lastSlash.map({ colon > $0 }) ?? true {
            let t = String(rest[rest.index(after: colon)...])
            guard Self.validTag(t) else { throw Self.invalid(text, "tag '\(t)' is not valid") }
            tag = t
            rest = rest[..<colon]
        }
        var parts = rest.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        if parts.count > 1, parts[0].contains(".") || parts[0].contains(":") || parts[0] == "localhost" {
            registry = parts.removeFirst()
            if registry == "index.docker.io" || registry == "registry-1.docker.io" { registry = Self.dockerHub }
        } else {
            registry = Self.dockerHub
        }
        if registry == Self.dockerHub && parts.count == 1 { parts.insert("library", at: 0) }
        guard !parts.isEmpty, parts.allSatisfy(Self.validComponent) else {
            throw Self.invalid(text, "repository names are lowercase letters, digits and separators (. _ -)")
        }
        repository = parts.joined(separator: "/")
        if tag == nil && digest == nil { tag = "latest" }
    }

    /// `registry/repository[:tag][@digest]`, in full.
    public var description: String {
        var s = registry + "/" + repository
        if let tag { s += ":" + tag }
        if let digest { s += "@" + digest.description }
        return s
    }

    /// The name without tag or digest, in full.
    public var name: String { registry + "/" + repository }

    /// Docker's short form: `ubuntu:22.04` for `docker.io/library/ubuntu:22.04`.
    public var familiar: String {
        var n = name
        if registry == Self.dockerHub {
            n = repository.hasPrefix("library/") ? String(repository.dropFirst(8)) : repository
        }
        if let tag { n += ":" + tag }
        if let digest { n += "@" + digest.description }
        return n
    }

    /// Where the registry's API answers: Docker Hub's API host is not its name.
    public var apiHost: String { registry == Self.dockerHub ? "registry-1.docker.io" : registry }

    static func validComponent(_ c: String) -> Bool {
        guard let first = c.utf8.first, let last = c.utf8.last, c.utf8.count <= 255 else { return false }
        func alnum(_ b: UInt8) -> Bool { (b >= 97 && b <= 122) || (b >= 48 && b <= 57) }
        guard alnum(first), alnum(last) else { return false }
        return c.utf8.allSatisfy { alnum($0) || $0 == 46 || $0 == 95 || $0 == 45 }
    }

    static func validTag(_ t: String) -> Bool {
        guard let first = t.utf8.first, t.utf8.count <= 128 else { return false }
        func word(_ b: UInt8) -> Bool { (b >= 97 && b <= 122) || (b >= 65 && b <= 90) || (b >= 48 && b <= 57) || b == 95 }
        return word(first) && t.utf8.allSatisfy { word($0) || $0 == 46 || $0 == 45 }
    }

    static func invalid(_ text: String, _ why: String) -> WarrenError {
        WarrenError(.invalidArgument, "invalid image reference '\(text)': \(why)")
    }
}
