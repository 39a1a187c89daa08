/// Resource limits of a sandbox. Nil means the daemon's default.
public struct ResourceLimits: Codable, Sendable, Equatable {
    public var memoryBytes: Int64?
    /// CPUs as a fraction (1.5 = one and a half CPUs).
    public var cpus: Double?
    public var pids: Int?
    public var openFiles: Int?
    public var fileSizeBytes: Int64?
    /// Wall-clock limit; the sandbox is killed when it passes.
    public var timeoutSeconds: Double?
    /// Most bytes of output the sandbox's log keeps (its last ones; see `LogRecord`).
    public var logBytes: Int64?
    /// Most bytes the sandbox's writable layer may hold, enforced by the kernel.
    public var diskBytes: Int64?

    public init(memoryBytes: Int64? = nil, cpus: Double? = nil, pids: Int? = nil, openFiles: Int? = nil,
                fileSizeBytes: Int64? = nil, timeoutSeconds: Double? = nil, logBytes: Int64? = nil, diskBytes: Int64? = nil) {
        self.memoryBytes = memoryBytes; self.cpus = cpus; self.pids = pids
        self.openFiles = openFiles; self.fileSizeBytes = fileSizeBytes; self.timeoutSeconds = timeoutSeconds
        self.logBytes = logBytes; self.diskBytes = diskBytes
    }

    /// The log cap when neither the spec nor the daemon names one: 64 MiB, as Docker's
    /// json-file with max-size 32m and max-file 2.
    public static let defaultLogBytes: Int64 = 64 << 20

    /// Defaults applied when the spec leaves a limit unset: safe for an untrusted agent.
    public static let defaults = ResourceLimits(
        memoryBytes: 2 << 30, cpus: nil, pids: 1024, openFiles: 4096, fileSizeBytes: nil, timeoutSeconds: nil,
        logBytes: defaultLogBytes)

    /// Fills unset fields from `defaults`.
    public func withDefaults(_ defaults: ResourceLimits = .defaults) -> ResourceLimits {
        ResourceLimits(
            memoryBytes: memoryBytes ?? defaults.memoryBytes, cpus: cpus ?? defaults.cpus,
            pids: pids ?? defaults.pids, openFiles: openFiles ?? defaults.openFiles,
            fileSizeBytes: fileSizeBytes ?? defaults.fileSizeBytes,
            timeoutSeconds: timeoutSeconds ?? defaults.timeoutSeconds,
            logBytes: logBytes ?? defaults.logBytes, diskBytes: diskBytes ?? defaults.diskBytes)
    }

    /// The ranges each limit must fall in (the same for the API and the CLI).
    public enum Range {
        public static let memoryBytes: ClosedRange<Int64> = (4 << 20)...(1 << 50)
        public static let cpus: ClosedRange<Double> = 0.001...1024
        public static let pids: ClosedRange<Int> = 1...4_194_304
        public static let openFiles: ClosedRange<Int> = 16...1_048_576
        public static let fileSizeBytes: ClosedRange<Int64> = 1...(1 << 50)
        /// Up to a year.
        public static let timeoutSeconds: ClosedRange<Double> = 0.001...31_536_000
        public static let logBytes: ClosedRange<Int64> = (1 << 20)...(1 << 40)
        public static let diskBytes: ClosedRange<Int64> = (16 << 20)...(1 << 50)
    }

    public func validate() throws {
        if let m = memoryBytes { try InputRules.number(m, "memory limit (bytes)", in: Range.memoryBytes) }
        if let c = cpus { try InputRules.number(c, "cpus", in: Range.cpus) }
        if let p = pids { try InputRules.number(p, "pids limit", in: Range.pids) }
        if let f = openFiles { try InputRules.number(f, "open files limit", in: Range.openFiles) }
        if let f = fileSizeBytes { try InputRules.number(f, "file size limit (bytes)", in: Range.fileSizeBytes) }
        if let t = timeoutSeconds { try InputRules.number(t, "timeout (seconds)", in: Range.timeoutSeconds) }
        if let l = logBytes { try InputRules.number(l, "log limit (bytes)", in: Range.logBytes) }
        if let d = diskBytes { try InputRules.number(d, "disk limit (bytes)", in: Range.diskBytes) }
    }
}

/// Parses sizes like `512m`, `2g`, `1048576`, `64k` (binary units, as Docker does).
public enum ByteSize {
    public static func parse(_ text: String) throws -> Int64 {
        let t = text.lowercased().trimmingCharacters(in: .whitespaces)
        var digits = t
        var mult: Int64 = 1
        if let last = t.last, last.isLetter {
            var unit = String(last)
            digits = String(t.dropLast())
            if unit == "b", let prev = digits.last, prev.isLetter { unit = String(prev); digits = String(digits.dropLast()) }
            switch unit {
            case "b": mult = 1
            case "k": mult = 1 << 10
            case "m": mult = 1 << 20
            case "g": mult = 1 << 30
            case "t": mult = 1 << 40
            default: throw WarrenError(.invalidArgument, "size '\(text)' has an unknown unit")
            }
        }
        guard let n = Double(digits), n.isFinite, n >= 0 else {
            throw WarrenError(.invalidArgument, "size '\(text)' is not a number")
        }
        let bytes = (n * Double(mult)).rounded(.down)
        // 2^63 is the first Double an Int64 cannot hold.
        guard bytes < 9_223_372_036_854_775_808.0 else {
            throw WarrenError(.invalidArgument, "size '\(text)' is too large")
        }
        return Int64(bytes)
    }
}

import Foundation
