/// The id ranges of regular (login) accounts on this host, from `/etc/login.defs`
/// (`UID_MIN`/`UID_MAX`, `GID_MIN`/`GID_MAX`; 1000–60000 when unset, as Debian ships).
///
/// Ids below are system accounts (root among them); ids above belong to subordinate
/// ranges of containers and sandboxes. Neither may be handed to a sandbox.
public struct RegularAccounts: Sendable, Equatable {
    public var uids: ClosedRange<UInt32>
    public var gids: ClosedRange<UInt32>

    public static let debianDefault = RegularAccounts(uids: 1000...60000, gids: 1000...60000)

    public init(uids: ClosedRange<UInt32>, gids: ClosedRange<UInt32>) {
        self.uids = uids; self.gids = gids
    }

    /// Reads `path`; missing or malformed values keep the defaults, and root is never regular.
    public static func load(_ path: String = "/etc/login.defs") -> RegularAccounts {
        guard let bytes = readFileIfPresent(path) else { return debianDefault }
        return parse(String(decoding: bytes, as: UTF8.self))
    }

    public static func parse(_ text: String) -> RegularAccounts {
        var values: [String: UInt32] = [:]
        for line in text.split(separator: "\n") {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count >= 2, !fields[0].hasPrefix("#"), let n = UInt32(fields[1]) else { continue }
            values[String(fields[0])] = n
        }
        func range(_ lo: String, _ hi: String, _ fallback: ClosedRange<UInt32>) -> ClosedRange<UInt32> {
            let low = max(1, values[lo] ?? fallback.lowerBound)
            let high = values[hi] ?? fallback.upperBound
            return low <= high ? low...high : fallback
        }
        return RegularAccounts(uids: range("UID_MIN", "UID_MAX", debianDefault.uids),
                               gids: range("GID_MIN", "GID_MAX", debianDefault.gids))
    }
}
