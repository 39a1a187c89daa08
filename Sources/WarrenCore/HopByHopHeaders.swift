/// Headers that describe one connection, not the message: a proxy never passes them on
/// (RFC 9110 §7.6.1), nor any header a `Connection` header names.
public enum HopByHopHeaders {
    public static let names: Set<String> = [
        "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection", "te", "trailer",
        "trailers", "transfer-encoding", "upgrade",
    ]

    /// Every lower-cased header name to drop from a message whose `Connection` headers
    /// have these values.
    public static func dropped(connection values: some Sequence<some StringProtocol>) -> Set<String> {
        var dropped = names
        for value in values {
            for token in value.split(separator: ",") {
                let name = token.trimmingCharacters(in: .whitespaces).lowercased()
                if !name.isEmpty { dropped.insert(name) }
            }
        }
        return dropped
    }
}
