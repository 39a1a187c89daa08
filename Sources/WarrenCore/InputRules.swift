/// The rules every value from outside passes where it enters, the same for the API and
/// the CLI: strings carry no NUL (C would cut them short) and have a size, numbers are
/// finite and in range. Each failure is an `invalidArgument` naming the field.
public enum InputRules {
    /// Bytes of argv plus environment a process may be given (a quarter of Linux's usual ARG_MAX).
    public static let maxArgumentBytes = 512 << 10
    public static let maxPathBytes = 4096
    public static let maxListCount = 256

    /// `value` has no NUL and at most `maxBytes` UTF-8 bytes.
    public static func text(_ value: String, _ field: String, maxBytes: Int = 4096, allowEmpty: Bool = true) throws {
        if !allowEmpty && value.isEmpty { throw WarrenError(.invalidArgument, "\(field) must not be empty") }
        if value.utf8.count > maxBytes {
            throw WarrenError(.invalidArgument, "\(field) is longer than \(maxBytes) bytes")
        }
        if value.utf8.contains(0) { throw WarrenError(.invalidArgument, "\(field) contains a NUL byte") }
    }

    /// An absolute path without NUL, no longer than PATH_MAX.
    public static func absolutePath(_ value: String, _ field: String) throws {
        try text(value, field, maxBytes: maxPathBytes)
        guard value.hasPrefix("/") else { throw WarrenError(.invalidArgument, "\(field) '\(value)' must be an absolute path") }
    }

    /// A list of at most `maxCount` entries.
    public static func count<C: Collection>(_ list: C, _ field: String, max maxCount: Int = maxListCount) throws {
        if list.count > maxCount { throw WarrenError(.invalidArgument, "\(field) has more than \(maxCount) entries") }
    }

    /// A finite number in `range`.
    public static func number(_ value: Double, _ field: String, in range: ClosedRange<Double>) throws {
        guard value.isFinite, range.contains(value) else {
            throw WarrenError(.invalidArgument, "\(field) must be a number from \(shown(range.lowerBound)) to \(shown(range.upperBound))")
        }
    }

    public static func number<T: BinaryInteger>(_ value: T, _ field: String, in range: ClosedRange<T>) throws {
        guard range.contains(value) else {
            throw WarrenError(.invalidArgument, "\(field) must be from \(range.lowerBound) to \(range.upperBound)")
        }
    }

    /// A duration in seconds, as a `Duration` that cannot overflow.
    public static func seconds(_ value: Double, _ field: String, max: Double) throws -> Duration {
        try number(value, field, in: 0...max)
        return .milliseconds(Int64((value * 1000).rounded()))
    }

    /// A process's argv and environment: no NUL, together within `maxArgumentBytes`.
    public static func argumentsAndEnvironment(_ command: [String], _ env: [String]) throws {
        var total = 0
        for (i, arg) in command.enumerated() {
            try text(arg, "command argument \(i)", maxBytes: maxArgumentBytes)
            total += arg.utf8.count + 1
        }
        for entry in env {
            try text(entry, "environment entry", maxBytes: maxArgumentBytes)
            guard let eq = entry.firstIndex(of: "="), eq != entry.startIndex else {
                throw WarrenError(.invalidArgument, "environment entry '\(entry.prefix(64))' must be KEY=VALUE")
            }
            total += entry.utf8.count + 1
        }
        if total > maxArgumentBytes {
            throw WarrenError(.invalidArgument, "command and environment together are longer than \(maxArgumentBytes) bytes")
        }
    }

    /// A host name as /etc/hosts and uname take it: 1 to 64 characters of letters,
    /// digits, `-` and `.`, not beginning with either of those two.
    public static func hostname(_ value: String) throws {
        let ok = !value.isEmpty && value.utf8.count <= 64
            && value.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "-" || $0 == ".") }
            && !value.hasPrefix("-") && !value.hasPrefix(".")
        if !ok { throw WarrenError(.invalidArgument, "hostname must be 1 to 64 letters, digits, '-' or '.', starting with a letter or digit") }
    }

    /// `uid[:gid]` or `name[:group]`: no NUL, no newline, at most 256 bytes.
    public static func user(_ value: String) throws {
        try text(value, "user", maxBytes: 256, allowEmpty: false)
        if value.contains(where: { $0.isNewline }) || value.split(separator: ":", omittingEmptySubsequences: false).count > 2 {
            throw WarrenError(.invalidArgument, "user '\(value)' must be uid[:gid] or name[:group]")
        }
    }

    private static func shown(_ d: Double) -> String {
        d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : String(d)
    }
}

/// Labels as the CLI takes them: `KEY=VALUE` (or `KEY` for an empty value).
public enum Labels {
    public static func parse(_ entries: [String]) throws -> [String: String] {
        var labels: [String: String] = [:]
        for entry in entries {
            let key = String(entry.prefix { $0 != "=" })
            let value = entry.count > key.count ? String(entry.dropFirst(key.count + 1)) : ""
            labels[key] = value
        }
        try validate(labels)
        return labels
    }

    public static func validate(_ labels: [String: String]) throws {
        try InputRules.count(labels, "labels")
        for (key, value) in labels {
            try InputRules.text(key, "label key", maxBytes: 256, allowEmpty: false)
            try InputRules.text(value, "label '\(key)'", maxBytes: 4096)
        }
    }
}
