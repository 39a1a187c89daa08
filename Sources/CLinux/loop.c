#if defined(__linux__)
#define _GNU_SOURCE
#include "warren_linux.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/loop.h>

int warren_loop_attach(int backing_fd, char *path_out, int path_len) {
    int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
    if (ctl < 0) return -1;
    for (int attempt = 0; attempt < 16; attempt++) {
        int n = ioctl(ctl, LOOP_CTL_GET_FREE);
        if (n < 0) { int e = errno; close(ctl); errno = e; return -1; }
        char path[64];
        snprintf(path, sizeof(path), "/dev/loop%d", n);
        int dev = open(path, O_RDWR | O_CLOEXEC);
        if (dev < 0) { if (errno == ENOENT || errno == EBUSY) continue; int e = errno; close(ctl); errno = e; return -1; }
        struct loop_config config;
        memset(&config, 0, sizeof(config));
        config.fd = (unsigned int)backing_fd;
        config.info.lo_flags = LO_FLAGS_AUTOCLEAR;
        if (ioctl(dev, LOOP_CONFIGURE, &config) == 0) {
            close(ctl);
            snprintf(path_out, (size_t)path_len, "%s", path);
            return dev;
        }
        int e = errno;
        close(dev);
        if (e != EBUSY) { close(ctl); errno = e; return -1; }
    }
    close(ctl);
    errno = EBUSY;
    return -1;
}
#endif
