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
const unsigned int WARREN_AT_EMPTY_PATH = AT_EMPTY_PATH;
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

int warren_openat2_no_symlinks(const char *path, uint64_t flags) {
    struct open_how how;
    memset(&how, 0, sizeof(how));
    how.flags = flags | O_CLOEXEC;
    how.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    int fd;
    do {
        fd = (int)syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof(how));
    } while (fd < 0 && (errno == EINTR || errno == EAGAIN));
    return fd;
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

int warren_get_winsize(int fd, unsigned short *rows, unsigned short *cols) {
    struct winsize ws;
    memset(&ws, 0, sizeof(ws));
    if (ioctl(fd, TIOCGWINSZ, &ws) < 0) return -1;
    *rows = ws.ws_row;
    *cols = ws.ws_col;
    return 0;
}
#endif

#if defined(__linux__)
#include <net/if.h>
#include <sys/socket.h>

int warren_loopback_up(void) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) { int e = errno; close(fd); errno = e; return -1; }
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    int rc = ioctl(fd, SIOCSIFFLAGS, &ifr);
    int e = errno;
    close(fd);
    errno = e;
    return rc;
}

int warren_setns_pidfd(int pidfd, int nstype) { return (int)syscall(SYS_setns, pidfd, nstype); }
#endif

#if defined(__linux__)
#include <stdlib.h>
#include <sys/signalfd.h>
#include <spawn.h>

const int WARREN_O_PATH = O_PATH;
const int WARREN_CLOSE_RANGE_CLOEXEC = 4;

int warren_pipe2(int fds[2], int flags) { return pipe2(fds, flags); }
int warren_unshare(int flags) { return unshare(flags); }
int warren_setresuid(uid_t r, uid_t e, uid_t s) { return setresuid(r, e, s); }
int warren_setresgid(gid_t r, gid_t e, gid_t s) { return setresgid(r, e, s); }

static void fill_set(sigset_t *set, const int *signals, int count) {
    sigemptyset(set);
    for (int i = 0; i < count; i++) sigaddset(set, signals[i]);
}

int warren_signalfd(const int *signals, int count, int nonblock) {
    sigset_t set;
    fill_set(&set, signals, count);
    return signalfd(-1, &set, SFD_CLOEXEC | (nonblock ? SFD_NONBLOCK : 0));
}

int warren_signalfd_read(int fd) {
    struct signalfd_siginfo info;
    for (;;) {
        ssize_t n = read(fd, &info, sizeof(info));
        if (n == (ssize_t)sizeof(info)) return (int)info.ssi_signo;
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) return 0;
        return -1;
    }
}

int warren_sigmask(int how, const int *signals, int count) {
    sigset_t set;
    fill_set(&set, signals, count);
    int h = how == 0 ? SIG_BLOCK : (how == 1 ? SIG_UNBLOCK : SIG_SETMASK);
    return sigprocmask(h, &set, NULL);
}

int warren_openpty(int *slave) {
    int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0) return -1;
    char name[128];
    if (grantpt(master) < 0 || unlockpt(master) < 0 || ptsname_r(master, name, sizeof(name)) != 0) {
        int e = errno; close(master); errno = e; return -1;
    }
    int s = open(name, O_RDWR | O_NOCTTY);
    if (s < 0) { int e = errno; close(master); errno = e; return -1; }
    *slave = s;
    return master;
}
#endif

#if defined(__linux__)
int warren_spawn_add_closefrom(void *file_actions, int low) {
    return posix_spawn_file_actions_addclosefrom_np((posix_spawn_file_actions_t *)file_actions, low);
}
#endif

#if defined(__linux__)
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/vfs.h>
#include <sys/stat.h>

#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif
#define WARREN_DEVPTS_MAGIC 0x1cd1

int warren_open_devpts_pty(const char *ptmx, int *slave) {
    int master = open(ptmx, O_RDWR | O_NOCTTY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (master < 0) return -1;
    struct statfs sfs;
    if (fstatfs(master, &sfs) < 0 || sfs.f_type != WARREN_DEVPTS_MAGIC) {
        close(master); errno = EPERM; return -1;
    }
    int flags = fcntl(master, F_GETFL);
    fcntl(master, F_SETFL, flags & ~O_NONBLOCK);
    if (unlockpt(master) < 0) { int e = errno; close(master); errno = e; return -1; }
    int s = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY);
    if (s < 0) { int e = errno; close(master); errno = e; return -1; }
    *slave = s;
    return master;
}

int warren_send_fd(int sock, int fd) {
    char byte = 'F';
    struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
    char control[CMSG_SPACE(sizeof(int))];
    memset(control, 0, sizeof(control));
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof(control) };
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
    ssize_t n;
    do { n = sendmsg(sock, &msg, MSG_NOSIGNAL); } while (n < 0 && errno == EINTR);
    return n == 1 ? 0 : -1;
}

int warren_recv_fd(int sock) {
    char byte;
    struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
    char control[CMSG_SPACE(sizeof(int))];
    memset(control, 0, sizeof(control));
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof(control) };
    ssize_t n;
    do { n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC); } while (n < 0 && errno == EINTR);
    if (n <= 0) { if (n == 0) errno = ENODATA; return -1; }
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    if (!c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) { errno = EPROTO; return -1; }
    int fd;
    memcpy(&fd, CMSG_DATA(c), sizeof(int));
    return fd;
}

int warren_socketpair(int fds[2]) {
    return socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds);
}
#endif
