#if canImport(Glibc)
import Glibc
#endif
import CSeccomp
import CSeccompSystem
import LinuxSupport

/// The sandbox's seccomp filter: an allow-list modelled on Docker's default profile
/// for an unprivileged container, tightened further.
///
/// Everything not listed fails with EPERM. On top of Docker's defaults: `clone3`
/// answers ENOSYS so libcs fall back to `clone`, whose namespace flags are refused;
/// no `unshare`/`setns`, no io_uring, no `TIOCSTI`/`TIOCLINUX` ioctls, and calls
/// from foreign ABIs (i386, x32) kill the process.
public enum SeccompProfile {
    /// Syscalls allowed without conditions.
    public static let allowed: [String] = [
        "accept", "accept4", "access", "adjtimex", "alarm", "arch_prctl", "bind", "brk", "cachestat",
        "capget", "capset", "chdir", "chmod", "chown", "clock_adjtime", "clock_getres", "clock_gettime",
        "clock_nanosleep", "close", "close_range", "connect", "copy_file_range", "creat", "dup", "dup2",
        "dup3", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_pwait",
        "epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2", "execve", "execveat",
        "exit", "exit_group", "faccessat", "faccessat2", "fadvise64", "fallocate", "fanotify_mark",
        "fchdir", "fchmod", "fchmodat", "fchmodat2", "fchown", "fchownat", "fcntl", "fdatasync",
        "fgetxattr", "flistxattr", "flock", "fork", "fremovexattr", "fsetxattr", "fstat", "fstatfs",
        "fsync", "ftruncate", "futex", "futex_requeue", "futex_wait", "futex_waitv", "futex_wake",
        "futimesat", "getcpu", "getcwd", "getdents", "getdents64", "getegid", "geteuid", "getgid",
        "getgroups", "getitimer", "getpeername", "getpgid", "getpgrp", "getpid", "getppid",
        "getpriority", "getrandom", "getresgid", "getresuid", "getrlimit", "get_robust_list",
        "getrusage", "getsid", "getsockname", "getsockopt", "get_thread_area", "gettid",
        "gettimeofday", "getuid", "getxattr", "inotify_add_watch", "inotify_init", "inotify_init1",
        "inotify_rm_watch", "io_cancel", "ioctl", "io_destroy", "io_getevents", "io_pgetevents",
        "ioprio_get", "ioprio_set", "io_setup", "io_submit", "kill", "landlock_add_rule",
        "landlock_create_ruleset", "landlock_restrict_self", "lchown", "lgetxattr", "link", "linkat",
        "listen", "listxattr", "llistxattr", "lremovexattr", "lseek", "lsetxattr", "lstat", "madvise",
        "map_shadow_stack", "membarrier", "memfd_create", "memfd_secret", "mincore", "mkdir", "mkdirat",
        "mknod", "mknodat", "mlock", "mlock2", "mlockall", "mmap", "modify_ldt", "mprotect",
        "mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive", "mq_timedsend", "mq_unlink",
        "mremap", "msgctl", "msgget", "msgrcv", "msgsnd", "msync", "munlock", "munlockall", "munmap",
        "name_to_handle_at", "nanosleep", "newfstatat", "open", "openat", "openat2", "pause",
        "pidfd_open", "pidfd_send_signal", "pipe", "pipe2", "pkey_alloc", "pkey_free", "pkey_mprotect",
        "poll", "ppoll", "prctl", "pread64", "preadv", "preadv2", "prlimit64", "process_mrelease",
        "process_vm_readv", "process_vm_writev", "pselect6", "ptrace", "pwrite64", "pwritev",
        "pwritev2", "read", "readahead", "readlink", "readlinkat", "readv", "recvfrom", "recvmmsg",
        "recvmsg", "remap_file_pages", "removexattr", "rename", "renameat", "renameat2",
        "restart_syscall", "rmdir", "rseq", "rt_sigaction", "rt_sigpending", "rt_sigprocmask",
        "rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait", "rt_tgsigqueueinfo",
        "sched_getaffinity", "sched_getattr", "sched_getparam", "sched_get_priority_max",
        "sched_get_priority_min", "sched_getscheduler", "sched_rr_get_interval", "sched_setaffinity",
        "sched_setattr", "sched_setparam", "sched_setscheduler", "sched_yield", "seccomp", "select",
        "semctl", "semget", "semop", "semtimedop", "sendfile", "sendmmsg", "sendmsg", "sendto",
        "setfsgid", "setfsuid", "setgid", "setgroups", "setitimer", "setpgid", "setpriority",
        "setregid", "setresgid", "setresuid", "setreuid", "setrlimit", "set_robust_list", "setsid",
        "setsockopt", "set_thread_area", "set_tid_address", "setuid", "setxattr", "shmat", "shmctl",
        "shmdt", "shmget", "shutdown", "sigaltstack", "signalfd", "signalfd4", "socket", "socketpair",
        "splice", "stat", "statfs", "statx", "symlink", "symlinkat", "sync", "sync_file_range",
        "syncfs", "sysinfo", "tee", "tgkill", "time", "timer_create", "timer_delete",
        "timer_getoverrun", "timer_gettime", "timer_settime", "timerfd_create", "timerfd_gettime",
        "timerfd_settime", "times", "tkill", "truncate", "umask", "uname", "unlink", "unlinkat",
        "utime", "utimensat", "utimes", "vfork", "vmsplice", "wait4", "waitid", "write", "writev",
    ]

    /// `personality` values Docker permits (Linux, and the 32-bit/ADDR_NO_RANDOMIZE queries).
    static let allowedPersonalities: [UInt64] = [0x0, 0x8, 0x20000, 0x20008, 0xffff_ffff]

    /// Namespace flags refused in `clone` (arg 0).
    static let namespaceFlags: UInt64 = UInt64(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER
        | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP) | 0x80 /* CLONE_NEWTIME */

    static let tiocsti: UInt64 = 0x5412
    static let tioclinux: UInt64 = 0x541C

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
