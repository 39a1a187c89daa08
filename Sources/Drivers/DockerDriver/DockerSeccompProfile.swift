import Foundation
import WarrenCore

/// Warren's seccomp policy (`SeccompPolicy`) in the format of Docker's `--security-opt
/// seccomp=PROFILE`, sent inline with each container: a Docker sandbox refuses the same
/// calls as a native one, whatever the engine's own default profile allows.
public enum DockerSeccompProfile {
    struct Profile: Encodable {
        var defaultAction = "SCMP_ACT_ERRNO"
        var defaultErrnoRet = 1  // EPERM
        var architectures: [String]
        var syscalls: [Rule]
    }

    struct Rule: Encodable {
        var names: [String]
        var action: String
        var errnoRet: Int?
        var args: [Arg]?
    }

    struct Arg: Encodable {
        var index: Int
        var value: UInt64
        var valueTwo: UInt64
        var op: String
    }

    /// The libseccomp name of this machine's architecture; calls of any other ABI are refused.
    static var architecture: String {
        #if arch(x86_64)
        return "SCMP_ARCH_X86_64"
        #elseif arch(arm64)
        return "SCMP_ARCH_AARCH64"
        #else
        return "SCMP_ARCH_NATIVE"
        #endif
    }

    /// The profile as JSON.
    public static func json() -> String {
        let allow = "SCMP_ACT_ALLOW"
        var rules = [Rule(names: SeccompPolicy.allowed.filter { $0 != "ioctl" }, action: allow)]
        // clone only without namespace flags; clone3 answers ENOSYS so libcs fall back.
        rules.append(Rule(names: ["clone"], action: allow,
                          args: [Arg(index: 0, value: SeccompPolicy.cloneNamespaceFlags, valueTwo: 0, op: "SCMP_CMP_MASKED_EQ")]))
        rules.append(Rule(names: ["clone3"], action: "SCMP_ACT_ERRNO", errnoRet: Int(SeccompPolicy.clone3Errno)))
        for p in SeccompPolicy.allowedPersonalities {
            rules.append(Rule(names: ["personality"], action: allow, args: [Arg(index: 0, value: p, valueTwo: 0, op: "SCMP_CMP_EQ")]))
        }
        // ioctl is allowed for every request but the refused ones. A Docker profile joins
        // the conditions of one rule with AND only across arguments, so the allowed set is
        // a union of single masked comparisons on the request's low 32 bits (which is all
        // the kernel reads of it).
        for (mask, value) in allowedIoctlMasks() {
            rules.append(Rule(names: ["ioctl"], action: allow, args: [Arg(index: 1, value: mask, valueTwo: value, op: "SCMP_CMP_MASKED_EQ")]))
        }
        let profile = Profile(architectures: [architecture], syscalls: rules)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: (try? encoder.encode(profile)) ?? Data(), as: UTF8.self)
    }

    /// `(mask, value)` pairs whose union is every 32-bit request except the two refused
    /// ones: a bit where both refused values agree, flipped, excludes both; otherwise a
    /// request differs from each of them at one of the bits where they disagree, and
    /// since it cannot differ from both at the same such bit (those sets are disjoint),
    /// a pair of bits (one against each value) covers it.
    public static func allowedIoctlMasks() -> [(mask: UInt64, value: UInt64)] {
        let a = SeccompPolicy.refusedIoctls[0] & 0xffff_ffff, b = SeccompPolicy.refusedIoctls[1] & 0xffff_ffff
        var out: [(UInt64, UInt64)] = []
        var differing: [UInt64] = []
        for bit in 0..<32 {
            let m = UInt64(1) << UInt64(bit)
            if (a & m) == (b & m) {
                out.append((m, (a & m) ^ m))
            } else {
                differing.append(m)
            }
        }
        for x in differing {
            for y in differing where x != y {
                out.append((x | y, ((a & x) ^ x) | ((b & y) ^ y)))
            }
        }
        return out
    }
}
