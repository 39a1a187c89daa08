#if canImport(Glibc)
import Glibc
#endif
import CLinux
import LinuxSupport
import WarrenCore

/// A sandbox's writable layer on a file system of its own size (`--disk`), so the kernel
/// refuses writes past it: an ext4 file system in a sparse file of the bundle, on a loop
/// device that detaches itself once the sandbox's mount namespaces are gone.
enum WritableLayerQuota {
    /// Makes and mounts the file system (in the calling process's mount namespace) at
    /// `bundle.diskMount`, with room for `bytes`.
    static func mount(_ bundle: SandboxBundle, bytes: Int64) throws {
        guard let mke2fs = DiskQuotaSupport.mke2fs else { throw SandboxSetupError("--disk needs mke2fs (e2fsprogs), which is not installed") }
        let image = bundle.diskImage
        let fd = try syscallRetrying("open", image) { open(image, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600) }
        defer { close(fd) }
        try syscallRetrying("ftruncate", image) { ftruncate(fd, off_t(bytes)) }
        // No journal (the layer dies with the sandbox), no blocks reserved for host root.
        let pid = try ProcessSpawner.spawn(
            mke2fs, [mke2fs, "-q", "-F", "-t", "ext4", "-m", "0", "-O", "^has_journal", "-E", "nodiscard", image],
            environment: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
            actions: [.open(fd: 0, path: "/dev/null", flags: O_RDONLY, mode: 0),
                      .open(fd: 1, path: "/dev/null", flags: O_WRONLY, mode: 0), .dup(source: 2, fd: 2)],
            newSession: false)
        let status = ProcessSpawner.waitForExit(pid)
        guard status == 0 else { throw SandboxSetupError("mke2fs for the sandbox's --disk layer failed (exit \(status))") }
        var device = [CChar](repeating: 0, count: 64)
        let loop = try syscallRetrying("loop attach", image) { warren_loop_attach(fd, &device, Int32(device.count)) }
        defer { close(loop) }
        try makeDirectories(bundle.diskMount, mode: 0o700)
        try syscallRetrying("mount(ext4)", bundle.diskMount) {
            Glibc.mount(device, bundle.diskMount, "ext4", UInt(MS_NODEV | MS_NOSUID), nil)
        }
    }
}
