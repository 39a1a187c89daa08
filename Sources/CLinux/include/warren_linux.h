#ifndef WARREN_LINUX_H
#define WARREN_LINUX_H
#include <stdint.h>
#include <sys/types.h>
#include <sys/xattr.h>

/// Raw system calls Swift cannot reach through Glibc, each returning -1 and setting errno on failure.
int warren_pivot_root(const char *new_root, const char *put_old);
int warren_open_tree(int dfd, const char *path, unsigned int flags);
int warren_move_mount(int from_dfd, const char *from_path, int to_dfd, const char *to_path, unsigned int flags);
/// Applies an id-mapping (userns_fd >= 0) and mount attributes to a detached mount tree.
int warren_mount_setattr_idmap(int mount_fd, int userns_fd, uint64_t attr_set, uint64_t attr_clr, int recursive);
/// openat2 with RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS (plus extra resolve flags).
int warren_openat2_in_root(int root_fd, const char *path, uint64_t flags, uint64_t mode, uint64_t extra_resolve);
/// openat2 of an absolute path that refuses any symlink on the way (ELOOP).
int warren_openat2_no_symlinks(const char *path, uint64_t flags);
int warren_close_range(unsigned int first, unsigned int last, unsigned int flags);
int warren_pidfd_open(pid_t pid);
int warren_pidfd_send_signal(int pidfd, int sig);
/// fork-like clone(2) with namespace flags: returns 0 in the child, the child's pid in the parent.
pid_t warren_clone_fork(uint64_t flags);
int warren_prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5);
int warren_ioctl_int(int fd, unsigned long request, int value);
int warren_set_ctty(int fd);
int warren_set_winsize(int fd, unsigned short rows, unsigned short cols);
/// Reads a terminal's size; returns -1 when fd is not a terminal.
int warren_get_winsize(int fd, unsigned short *rows, unsigned short *cols);
int warren_loopback_up(void);
int warren_setns_pidfd(int pidfd, int nstype);

/// GNU extensions the Glibc Swift module does not expose.
int warren_pipe2(int fds[2], int flags);
int warren_unshare(int flags);
int warren_setresuid(uid_t r, uid_t e, uid_t s);
int warren_setresgid(gid_t r, gid_t e, gid_t s);
/// A signalfd for the given signals (which the caller must block), close-on-exec.
int warren_signalfd(const int *signals, int count, int nonblock);
/// Reads one signal from a signalfd: its number, 0 when none is pending (nonblocking), -1 on error.
int warren_signalfd_read(int fd);
/// Blocks (how=0) or unblocks (how=1) signals, or sets the mask to exactly them (how=2).
int warren_sigmask(int how, const int *signals, int count);
/// Opens a new pty in the devpts instance behind `ptmx` (refusing anything that is not
/// devpts): returns the master, stores the slave (got through TIOCGPTPEER, no path).
int warren_open_devpts_pty(const char *ptmx, int *slave);
/// Passes `fd` over a Unix socket (SCM_RIGHTS); 0 on success.
int warren_send_fd(int sock, int fd);
/// Receives one fd sent by warren_send_fd (close-on-exec); -1 with ENODATA at end of stream.
int warren_recv_fd(int sock);
/// A close-on-exec TCP socket listening on 127.0.0.1:`port` in this thread's network namespace.
int warren_listen_loopback(uint16_t port);
/// The same, in the network namespace at `netns_path` (done on a short-lived thread).
int warren_listen_loopback_in_netns(const char *netns_path, uint16_t port);
/// Accepts on `listen_fd` on a thread of its own and relays every connection to the
/// Unix socket `name` in `directory`; owns `listen_fd` from then on. 0 on success.
int warren_relay_start(int listen_fd, const char *directory, const char *name);
/// Ends a relay's accept loop (open connections finish on their own).
int warren_relay_stop(int listen_fd);

/// A UDP socket bound to 127.0.0.1:53 in the caller's network namespace.
int warren_dns_socket(void);
/// The same, in the network namespace at `netns_path` (done on a short-lived thread).
int warren_dns_socket_in_netns(const char *netns_path);
/// Ends a name server started by warren_dns_refuser_start (its thread closes the socket).
int warren_dns_refuser_stop(int fd);
/// Answers every DNS query on `fd` with NXDOMAIN, on a detached thread of its own, until
/// the socket is shut down (then the thread closes it).
int warren_dns_refuser_start(int fd);
/// The NXDOMAIN answer to `query` in `answer` (512 bytes); its length, or 0 for no answer.
size_t warren_dns_answer(const uint8_t *query, size_t length, uint8_t *answer);
/// A close-on-exec AF_UNIX stream socket pair.
int warren_socketpair(int fds[2]);
/// Opens a new pty pair: returns master, stores the slave fd.
int warren_openpty(int *slave);
/// Attaches `backing_fd` to a free loop device that detaches itself once nothing uses it
/// (LO_FLAGS_AUTOCLEAR); returns the device's fd and writes its path to `path_out`.
int warren_loop_attach(int backing_fd, char *path_out, int path_len);
/// posix_spawn file action closing every fd from `low` up (glibc's closefrom action).
int warren_spawn_add_closefrom(void *file_actions, int low);
extern const int WARREN_O_PATH;
extern const int WARREN_CLOSE_RANGE_CLOEXEC;

/// Constants that are macros or absent from older headers.
extern const uint64_t WARREN_MOUNT_ATTR_RDONLY;
extern const uint64_t WARREN_MOUNT_ATTR_NOSUID;
extern const uint64_t WARREN_MOUNT_ATTR_NODEV;
extern const uint64_t WARREN_MOUNT_ATTR_IDMAP;
extern const unsigned int WARREN_OPEN_TREE_CLONE;
extern const unsigned int WARREN_AT_RECURSIVE;
extern const unsigned int WARREN_AT_EMPTY_PATH;
extern const unsigned int WARREN_MOVE_MOUNT_F_EMPTY_PATH;
extern const unsigned int WARREN_MOVE_MOUNT_T_EMPTY_PATH;
extern const uint64_t WARREN_RESOLVE_NO_SYMLINKS;
extern const uint64_t WARREN_RESOLVE_NO_XDEV;
#endif
