#if canImport(Glibc)
import Glibc
#endif
import CCap
import CLinux
import LinuxSupport

/// Capability handling: every capability dropped from all five sets unless asked for.
public enum Capabilities {
    static let prCapbsetDrop: Int32 = 24
    static let prCapAmbient: Int32 = 47
    static let prCapAmbientRaise: UInt = 2
    static let prCapAmbientClearAll: UInt = 4
    static let prSetKeepCaps: Int32 = 8

    /// Resolves `NET_BIND_SERVICE` / `CAP_NET_BIND_SERVICE` / `cap_net_bind_service` to its number.
    public static func number(of name: String) throws -> Int32 {
        var n = name.lowercased()
        if !n.hasPrefix("cap_") { n = "cap_" + n }
        var value: cap_value_t = 0
        guard cap_from_name(n, &value) == 0 else {
            throw SandboxSetupError("unknown capability '\(name)'")
        }
        return value
    }

    /// The highest capability number the kernel knows.
    static var lastCap: Int32 {
        let text = String(decoding: readFileIfPresent("/proc/sys/kernel/cap_last_cap") ?? [], as: UTF8.self)
        return Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 40
    }

    /// Removes everything but `keep` from the bounding set and clears the ambient set.
    /// Needs CAP_SETPCAP, so it runs before the effective set is reduced.
    public static func limitBoundingSet(keep: Set<Int32>) throws {
        for cap in 0...lastCap where !keep.contains(cap) {
            if warren_prctl(prCapbsetDrop, UInt(cap), 0, 0, 0) != 0 && errno != EINVAL {
                throw SyscallError("prctl(PR_CAPBSET_DROP)", errno: errno, "cap \(cap)")
            }
        }
        _ = warren_prctl(prCapAmbient, prCapAmbientClearAll, 0, 0, 0)
    }

    /// Sets effective, permitted and inheritable to exactly `keep`, and raises the
    /// ambient set to `keep` so a non-root user keeps them across execve.
    public static func apply(keep: Set<Int32>) throws {
        guard let caps = cap_init() else { throw SyscallError("cap_init", errno: errno) }
        defer { cap_free(UnsafeMutableRawPointer(caps)) }
        var list = keep.sorted().map { cap_value_t($0) }
        if !list.isEmpty {
            for flag in [CAP_EFFECTIVE, CAP_PERMITTED, CAP_INHERITABLE] {
                guard cap_set_flag(caps, flag, Int32(list.count), &list, CAP_SET) == 0 else {
                    throw SyscallError("cap_set_flag", errno: errno)
                }
            }
        }
        guard cap_set_proc(caps) == 0 else { throw SyscallError("cap_set_proc", errno: errno) }
        for cap in keep {
            if warren_prctl(prCapAmbient, prCapAmbientRaise, UInt(cap), 0, 0) != 0 {
                throw SyscallError("prctl(PR_CAP_AMBIENT_RAISE)", errno: errno, "cap \(cap)")
            }
        }
    }

    /// Keep permitted capabilities across the coming setuid to a non-root user.
    public static func keepAcrossSetuid() {
        _ = warren_prctl(prSetKeepCaps, 1, 0, 0, 0)
    }
}

import Foundation
