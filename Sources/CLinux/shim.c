#if defined(__linux__)
#define _GNU_SOURCE
#include "warren_linux.h"
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>
#include <linux/mount.h>
#include <linux/openat2.h>

#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_move_mount
#define SYS_move_mount 429
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

const uint64_t WARREN_MOUNT_ATTR_RDONLY = MOUNT_ATTR_RDONLY;
const uint64_t WARREN_MOUNT_ATTR_NOSUID = MOUNT_ATTR_NOSUID;
const uint64_t WARREN_MOUNT_ATTR_NODEV = MOUNT_ATTR_NODEV;
const uint64_t WARREN_MOUNT_ATTR_IDMAP = 0x00100000;
const unsigned int WARREN_OPEN_TREE_CLONE = 1;
const unsigned int WARREN_AT_RECURSIVE = 0x8000;
const unsigned int WARREN_MOVE_MOUNT_F_EMPTY_PATH = 0x00000004;
const unsigned int WARREN_MOVE_MOUNT_T_EMPTY_PATH = 0x00000040;
const uint64_t WARREN_RESOLVE_NO_SYMLINKS = RESOLVE_NO_SYMLINKS;
const uint64_t WARREN_RESOLVE_NO_XDEV = RESOLVE_NO_XDEV;

struct warren_mount_attr {
    uint64_t attr_set;
    uint64_t attr_clr;
    uint64_t propagation;
    uint64_t userns_fd;
};

int warren_pivot_root(const char *new_root, const char *put_old) {
    return (int)syscall(SYS_pivot_root, new_root, put_old);
}

int warren_open_tree(int dfd, const char *path, unsigned int flags) {
    return (int)syscall(SYS_open_tree, dfd, path, flags | O_CLOEXEC);
}

int warren_move_mount(int from_dfd, const char *from_path, int to_dfd, const char *to_path, unsigned int flags) {
    return (int)syscall(SYS_move_mount, from_dfd, from_path, to_dfd, to_path, flags);
}

int warren_mount_setattr_idmap(int mount_fd, int userns_fd, uint64_t attr_set, uint64_t attr_clr, int recursive) {
    struct warren_mount_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.attr_set = attr_set;
    attr.attr_clr = attr_clr;
    if (userns_fd >= 0) {
        attr.attr_set |= WARREN_MOUNT_ATTR_IDMAP;
        attr.userns_fd = (uint64_t)userns_fd;
    }
    unsigned int flags = AT_EMPTY_PATH | (recursive ? WARREN_AT_RECURSIVE : 0);
    return (int)syscall(SYS_mount_setattr, mount_fd, "", flags, &attr, sizeof(attr));
}

int warren_openat2_in_root(int root_fd, const char *path, uint64_t flags, uint64_t mode, uint64_t extra_resolve) {
    struct open_how how;
    memset(&how, 0, sizeof(how));
    how.flags = flags | O_CLOEXEC;
    how.mode = mode;
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | extra_resolve;
    int fd;
    do {
        fd = (int)syscall(SYS_openat2, root_fd, path, &how, sizeof(how));
    } while (fd < 0 && (errno == EINTR || errno == EAGAIN));
    return fd;
}

int warren_close_range(unsigned int first, unsigned int last, unsigned int flags) {
    return (int)syscall(SYS_close_range, first, last, flags);
}

int warren_pidfd_open(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }

int warren_pidfd_send_signal(int pidfd, int sig) {
    return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
}

pid_t warren_clone_fork(uint64_t flags) {
    return (pid_t)syscall(SYS_clone, (unsigned long)(flags | SIGCHLD), NULL, NULL, NULL, 0UL);
}

int warren_prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5) {
    return prctl(option, a2, a3, a4, a5);
}

int warren_ioctl_int(int fd, unsigned long request, int value) { return ioctl(fd, request, value); }

int warren_set_ctty(int fd) { return ioctl(fd, TIOCSCTTY, 0); }

int warren_set_winsize(int fd, unsigned short rows, unsigned short cols) {
    struct winsize ws;
    memset(&ws, 0, sizeof(ws));
    ws.ws_row = rows;
    ws.ws_col = cols;
    return ioctl(fd, TIOCSWINSZ, &ws);
}
#endif
