/// A remote git repository an agent works on, `URL[@REF]`: `https://`, `http://`,
/// `ssh://`, `git://`, or scp-like `user@host:path`. The daemon clones and pushes it
/// with the host's git credentials; a URL that carries a password is refused, since the
/// request (and so the URL) is stored and shown.
public struct RepositoryURL: Sendable, Equatable {
    public var url: String
    /// The branch, tag or commit the agent's branch begins at; nil for the remote's HEAD.
    public var ref: String?

    public static let schemes = ["https", "http", "ssh", "git"]
    public static let maxBytes = 2048

    /// Whether `text` names a remote repository rather than a host path.
    public static func isRemote(_ text: String) -> Bool {
        if text.hasPrefix("/") { return false }
        if text.contains("://") { return true }
        // scp-like: `host:path` or `user@host:path`, the colon before any slash.
        guard let colon = text.firstIndex(of: ":") else { return false }
        return !text[..<colon].contains("/") && colon != text.startIndex
    }

    /// Parses and checks `text`; throws a 400 naming what is wrong.
    public init(parsing text: String) throws {
        try InputRules.text(text, "repo", maxBytes: Self.maxBytes, allowEmpty: false)
        guard !text.hasPrefix("-"), !text.contains(where: { $0.isWhitespace || $0 == "\\" }) else {
            throw WarrenError(.invalidArgument, "repo URL '\(text.prefix(200))' has a leading dash, a space or a backslash")
        }
        // Where the path begins: after the authority of a URL, after the colon of scp-like.
        let pathStart: String.Index
        if let sep = text.range(of: "://") {
            let scheme = text[..<sep.lowerBound].lowercased()
            guard Self.schemes.contains(scheme) else {
                throw WarrenError(.invalidArgument, "repo URL scheme '\(scheme.prefix(20))' is not one of \(Self.schemes.joined(separator: ", ")); a host repository is an absolute path")
            }
            let authorityEnd = text[sep.upperBound...].firstIndex(of: "/") ?? text.endIndex
            let authority = text[sep.upperBound..<authorityEnd]
            if let at = authority.lastIndex(of: "@"), authority[..<at].contains(":") {
                throw WarrenError(.invalidArgument, "repo URL carries a password: give it to the host's git credential helper, never in a request")
            }
            guard authority.split(separator: "@").last?.isEmpty == false else {
                throw WarrenError(.invalidArgument, "repo URL '\(text.prefix(200))' names no host")
            }
            pathStart = authorityEnd
        } else {
            guard let colon = text.firstIndex(of: ":"), colon != text.startIndex, !text[..<colon].contains("/") else {
                throw WarrenError(.invalidArgument, "repo '\(text.prefix(200))' is neither an absolute path nor a repository URL")
            }
            pathStart = text.index(after: colon)
        }
        var url = text
        if let at = text[pathStart...].lastIndex(of: "@") {
            let ref = String(text[text.index(after: at)...])
            url = String(text[..<at])
            if !ref.isEmpty {
                guard !ref.hasPrefix("-"), !ref.contains(".."), ref.allSatisfy({ $0.isASCII && !$0.isNewline && $0 != "~" && $0 != "^" && $0 != ":" }) else {
                    throw WarrenError(.invalidArgument, "repo ref '\(ref.prefix(200))' is not a branch, tag or commit name")
                }
                self.ref = ref
            }
        }
        guard url.index(after: url.startIndex) < url.endIndex, pathStart < url.endIndex else {
            throw WarrenError(.invalidArgument, "repo URL '\(text.prefix(200))' names no repository")
        }
        self.url = url
    }
}
