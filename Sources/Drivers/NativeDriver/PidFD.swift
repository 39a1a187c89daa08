import CLinux

/// pidfd_open(2), or -1 when the process is gone or the kernel lacks it.
func pidfdOpen(_ pid: Int32) -> Int32 { warren_pidfd_open(pid) }
