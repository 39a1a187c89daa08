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

    public init(memoryBytes: Int64? = nil, cpus: Double? = nil, pids: Int? = nil, openFiles: Int? = nil,
                fileSizeBytes: Int64? = nil, timeoutSeconds: Double? = nil) {
        self.memoryBytes = memoryBytes; self.cpus = cpus; self.pids = pids
        self.openFiles = openFiles; self.fileSizeBytes = fileSizeBytes; self.timeoutSeconds = timeoutSeconds
    }

    /// Defaults applied when the spec leaves a limit unset: safe for an untrusted agent.
    public static let defaults = ResourceLimits(
        memoryBytes: 2 << 30, cpus: nil, pids: 1024, openFiles: 4096, fileSizeBytes: nil, timeoutSeconds: nil)

    /// Fills unset fields from `defaults`.
    public func withDefaults(_ defaults: ResourceLimits = .defaults) -> ResourceLimits {
        ResourceLimits(
            memoryBytes: memoryBytes ?? defaults.memoryBytes, cpus: cpus ?? defaults.cpus,
            pids: pids ?? defaults.pids, openFiles: openFiles ?? defaults.openFiles,
            fileSizeBytes: fileSizeBytes ?? defaults.fileSizeBytes,
            timeoutSeconds: timeoutSeconds ?? defaults.timeoutSeconds)
    }

    public func validate() throws {
        if let m = memoryBytes, m < 4 << 20 {
            throw WarrenError(.invalidArgument, "memory limit must be at least 4MiB")
        }
        if let c = cpus, !(c > 0 && c <= 1024) {
            throw WarrenError(.invalidArgument, "cpus must be greater than 0")
        }
        if let p = pids, p < 1 { throw WarrenError(.invalidArgument, "pids limit must be at least 1") }
        if let f = openFiles, f < 16 { throw WarrenError(.invalidArgument, "open files limit must be at least 16") }
        if let f = fileSizeBytes, f < 1 { throw WarrenError(.invalidArgument, "file size limit must be positive") }
        if let t = timeoutSeconds, !(t > 0) { throw WarrenError(.invalidArgument, "timeout must be positive") }
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
        guard let n = Double(digits), n >= 0 else {
            throw WarrenError(.invalidArgument, "size '\(text)' is not a number")
        }
        return Int64(n * Double(mult))
    }
}

import Foundation
