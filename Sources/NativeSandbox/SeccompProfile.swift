#if canImport(Glibc)
import Glibc
#endif
import CSeccomp
import CSeccompSystem
import LinuxSupport
import WarrenCore

/// Loads `SeccompPolicy` (Warren's allow-list, shared with the Docker driver) into the
/// calling thread with libseccomp. Calls from foreign ABIs (i386, x32) kill the process.
public enum SeccompProfile {
    static let allowed = SeccompPolicy.allowed
    static let allowedPersonalities = SeccompPolicy.allowedPersonalities
    static let namespaceFlags = SeccompPolicy.cloneNamespaceFlags
    static let tiocsti = SeccompPolicy.refusedIoctls[0]
    static let tioclinux = SeccompPolicy.refusedIoctls[1]

    // libseccomp comparison operators (enum scmp_compare).
    static let cmpEQ: Int32 = 4
    static let cmpMaskedEQ: Int32 = 7

    /// Builds the filter and loads it into the calling thread. Call last before execve.
    public static func install() throws {
        guard let ctx = seccomp_init(warren_seccomp_act_errno(UInt16(EPERM))) else {
            throw SyscallError("seccomp_init", errno: ENOMEM)
        }
        defer { seccomp_release(ctx) }
        try check("seccomp_attr_set", seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, warren_seccomp_act_kill_process()))
        try check("seccomp_attr_set", seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 1))
        let allow = warren_seccomp_act_allow()

        for name in allowed {
            let nr = seccomp_syscall_resolve_name(name)
            if nr == __NR_SCMP_ERROR { continue }  // not on this architecture
            try check("seccomp_rule_add \(name)", warren_seccomp_rule_add0(ctx, allow, nr))
        }
        let clone = seccomp_syscall_resolve_name("clone")
        try check("seccomp_rule_add clone", warren_seccomp_rule_add1(ctx, allow, clone, 0, cmpMaskedEQ, namespaceFlags, 0))
        let clone3 = seccomp_syscall_resolve_name("clone3")
        if clone3 != __NR_SCMP_ERROR {
            try check("seccomp_rule_add clone3", warren_seccomp_rule_add0(ctx, warren_seccomp_act_errno(UInt16(ENOSYS)), clone3))
        }
        let personality = seccomp_syscall_resolve_name("personality")
        for p in allowedPersonalities {
            try check("seccomp_rule_add personality", warren_seccomp_rule_add1(ctx, allow, personality, 0, cmpEQ, p, 0))
        }
        try check("seccomp_load", seccomp_load(ctx))
        try installTerminalInjectionFilter()
    }

    /// A second, stacked filter that refuses the ioctls injecting input into a terminal.
    /// libseccomp cannot add a conditional refusal next to the unconditional `ioctl`
    /// allow above; stacked filters combine to the strictest answer. The mask covers
    /// only the low 32 bits the kernel reads, so high garbage bits cannot slip past.
    private static func installTerminalInjectionFilter() throws {
        guard let ctx = seccomp_init(warren_seccomp_act_allow()) else { throw SyscallError("seccomp_init", errno: ENOMEM) }
        defer { seccomp_release(ctx) }
        try check("seccomp_attr_set", seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, warren_seccomp_act_kill_process()))
        let ioctlNr = seccomp_syscall_resolve_name("ioctl")
        for cmd in [tiocsti, tioclinux] {
            try check("seccomp_rule_add ioctl", warren_seccomp_rule_add1(
                ctx, warren_seccomp_act_errno(UInt16(EPERM)), ioctlNr, 1, cmpMaskedEQ, 0xffff_ffff, cmd))
        }
        try check("seccomp_load", seccomp_load(ctx))
    }

    private static func check(_ what: String, _ rc: Int32) throws {
        if rc < 0 { throw SyscallError(what, errno: -rc) }
    }
}
