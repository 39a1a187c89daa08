#if canImport(Glibc)
import Glibc
#endif
import CLinux
import LinuxSupport

/// Mounts made by the sandbox's init inside its own namespaces, then `pivot_root`.
enum GuestFilesystem {
    /// OCI's default masked paths: hidden behind /dev/null or an empty read-only tmpfs.
    static let maskedPaths = [
        "/proc/acpi", "/proc/asound", "/proc/interrupts", "/proc/kcore", "/proc/keys",
        "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
        "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
    ]
    /// OCI's default read-only paths.
    static let readOnlyPaths = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
    static let devices = ["null", "zero", "full", "random", "urandom", "tty"]

    /// `onlyRootMapped`: a rootless sandbox, where the tty group (gid 5) does not exist.
    static func setUp(rootfs: String, readOnly: Bool, onlyRootMapped: Bool = false) throws {
        let r = rootfs
        // The overlay was mounted before this namespace existed, so here it is locked
        // and cannot be pivoted to; a bind of it made here can.
        try mnt(r, r, nil, MS_BIND | MS_REC, nil)
        try mnt("proc", r + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nil)
        try mnt("sysfs", r + "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY, nil)
        try mnt("tmpfs", r + "/dev", "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k")
        for d in devices {
            let target = r + "/dev/" + d
            let fd = open(target, O_CREAT | O_WRONLY | O_CLOEXEC, 0o666)
            if fd >= 0 { close(fd) }
            try mnt("/dev/" + d, target, nil, MS_BIND, nil)
        }
        try makeDirectories(r + "/dev/pts")
        try mnt("devpts", r + "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
                "newinstance,ptmxmode=0666,mode=0620" + (onlyRootMapped ? "" : ",gid=5"))
        symlink("pts/ptmx", r + "/dev/ptmx")
        try makeDirectories(r + "/dev/shm")
        try mnt("shm", r + "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k")
        try makeDirectories(r + "/dev/mqueue")
        for (name, target) in [("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                               ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2"), ("core", "/proc/kcore")] {
            symlink(target, r + "/dev/" + name)
        }
        try mnt("tmpfs", r + "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777")

        for p in maskedPaths { try mask(r + p) }
        for p in readOnlyPaths { try makeReadOnly(r + p) }

        try syscallRetrying("chdir", r) { chdir(r) }
        try syscallRetrying("pivot_root", r) { warren_pivot_root(".", ".") }
        try syscallRetrying("umount2", "old root") { umount2(".", Int32(MNT_DETACH)) }
        try syscallRetrying("chdir", "/") { chdir("/") }
        if readOnly {
            let fd = try syscallRetrying("open", "/") { open("/", WARREN_O_PATH | O_DIRECTORY | O_CLOEXEC) }
            defer { close(fd) }
            try syscallRetrying("mount_setattr(ro)", "/") { warren_mount_setattr_idmap(fd, -1, WARREN_MOUNT_ATTR_RDONLY, 0, 0) }
        }
    }

    private static func mnt(_ src: String, _ target: String, _ type: String?, _ flags: Int, _ data: String?) throws {
        try syscallRetrying("mount", target) { mount(src, target, type, UInt(flags), data) }
    }

    private static func mask(_ path: String) throws {
        var st = stat()
        guard lstat(path, &st) == 0 else { return }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            try mnt("tmpfs", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0")
        } else {
            try mnt("/dev/null", path, nil, MS_BIND, nil)
        }
    }

    private static func makeReadOnly(_ path: String) throws {
        guard access(path, F_OK) == 0 else { return }
        let tree = try syscallRetrying("open_tree", path) {
            warren_open_tree(AT_FDCWD, path, WARREN_OPEN_TREE_CLONE | WARREN_AT_RECURSIVE)
        }
        defer { close(tree) }
        try syscallRetrying("mount_setattr(ro)", path) {
            warren_mount_setattr_idmap(tree, -1, WARREN_MOUNT_ATTR_RDONLY | WARREN_MOUNT_ATTR_NOSUID | WARREN_MOUNT_ATTR_NODEV, 0, 1)
        }
        try syscallRetrying("move_mount", path) { warren_move_mount(tree, "", AT_FDCWD, path, WARREN_MOVE_MOUNT_F_EMPTY_PATH) }
    }
}
