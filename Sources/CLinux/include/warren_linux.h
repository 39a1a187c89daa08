#ifndef WARREN_LINUX_H
#define WARREN_LINUX_H
#include <stdint.h>
#include <sys/types.h>

/// Raw system calls Swift cannot reach through Glibc, each returning -1 and setting errno on failure.
int warren_pivot_root(const char *new_root, const char *put_old);
int warren_open_tree(int dfd, const char *path, unsigned int flags);
int warren_move_mount(int from_dfd, const char *from_path, int to_dfd, const char *to_path, unsigned int flags);
/// Applies an id-mapping (userns_fd >= 0) and mount attributes to a detached mount tree.
int warren_mount_setattr_idmap(int mount_fd, int userns_fd, uint64_t attr_set, uint64_t attr_clr, int recursive);
/// openat2 with RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS (plus extra resolve flags).
int warren_openat2_in_root(int root_fd, const char *path, uint64_t flags, uint64_t mode, uint64_t extra_resolve);
int warren_close_range(unsigned int first, unsigned int last, unsigned int flags);
int warren_pidfd_open(pid_t pid);
int warren_pidfd_send_signal(int pidfd, int sig);
/// fork-like clone(2) with namespace flags: returns 0 in the child, the child's pid in the parent.
pid_t warren_clone_fork(uint64_t flags);
int warren_prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5);
int warren_ioctl_int(int fd, unsigned long request, int value);
int warren_set_ctty(int fd);
int warren_set_winsize(int fd, unsigned short rows, unsigned short cols);

/// Constants that are macros or absent from older headers.
extern const uint64_t WARREN_MOUNT_ATTR_RDONLY;
extern const uint64_t WARREN_MOUNT_ATTR_NOSUID;
extern const uint64_t WARREN_MOUNT_ATTR_NODEV;
extern const uint64_t WARREN_MOUNT_ATTR_IDMAP;
extern const unsigned int WARREN_OPEN_TREE_CLONE;
extern const unsigned int WARREN_AT_RECURSIVE;
extern const unsigned int WARREN_MOVE_MOUNT_F_EMPTY_PATH;
extern const unsigned int WARREN_MOVE_MOUNT_T_EMPTY_PATH;
extern const uint64_t WARREN_RESOLVE_NO_SYMLINKS;
extern const uint64_t WARREN_RESOLVE_NO_XDEV;
#endif
