/*
 * warren-probe: tries things an escaped or misbehaving agent would try, one row
 * each, and prints "<row> DENIED <errno>" or "<row> ALLOWED". Sandboxes must deny
 * every row. Built statically so it runs in any rootfs, in any driver's sandbox.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <linux/capability.h>
#include <unistd.h>

static void row(const char *name, long rc) {
    if (rc < 0) printf("%s DENIED %s\n", name, strerror(errno));
    else printf("%s ALLOWED\n", name);
    fflush(stdout);
}

/* Runs fn in a child; a child killed by a signal counts as denied. */
static void row_in_child(const char *name, long (*fn)(void)) {
    fflush(stdout);
    pid_t p = fork();
    if (p == 0) { long rc = fn(); _exit(rc < 0 ? 1 : 0); }
    int st = 0;
    waitpid(p, &st, 0);
    if (WIFSIGNALED(st)) printf("%s DENIED killed by signal %d\n", name, WTERMSIG(st));
    else if (WEXITSTATUS(st) != 0) printf("%s DENIED\n", name);
    else printf("%s ALLOWED\n", name);
    fflush(stdout);
}

static long x32_getpid(void) { return syscall(0x40000000 | 39); }
static long i386_getpid(void) {
    long ret;
    __asm__ volatile("int $0x80" : "=a"(ret) : "a"(20) : "memory");
    return ret < 0 ? (errno = (int)-ret, -1) : ret;
}

/* `warren-probe flood PORT N`: holds up to N connections to 127.0.0.1:PORT open and
 * prints how many were accepted (a refused or closed one does not count), then waits. */
static int flood(int port, int count) {
    int held = 0;
    for (int i = 0; i < count; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0) break;
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((unsigned short)port) };
        a.sin_addr.s_addr = htonl(0x7f000001);
        if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0) held++; else close(fd);
    }
    printf("connected %d\n", held);
    fflush(stdout);
    pause();
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "flood") == 0) return flood(atoi(argv[2]), atoi(argv[3]));
    row("mount_tmpfs", mount("none", "/tmp", "tmpfs", 0, NULL));
    row("umount_proc", umount2("/proc", MNT_DETACH));
    row("unshare_user", unshare(CLONE_NEWUSER));
    row("unshare_net", unshare(CLONE_NEWNET));
    row("clone_newuser", syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0) == 0 ? (_exit(0), 0) : (errno == 0 ? 0 : -1));
    errno = 0;
    long c3 = syscall(435 /* clone3 */, NULL, 0);
    printf("clone3 %s %s\n", (c3 < 0 && errno == ENOSYS) ? "DENIED" : "ALLOWED", strerror(errno));
    row("setns", syscall(SYS_setns, 0, 0));
    /* A valid setup, so only a refusal (not EFAULT on a bad argument) counts as denied. */
    unsigned char uring_params[120];
    memset(uring_params, 0, sizeof uring_params);
    row("io_uring_setup", syscall(425, 8, uring_params));
    row("keyctl", syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3, 0));
    row("add_key", syscall(SYS_add_key, "user", "k", "v", 1, -3));
    row("bpf", syscall(SYS_bpf, 0, NULL, 0));
    row("perf_event_open", syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0));
    row("userfaultfd", syscall(SYS_userfaultfd, 0));
    row("kexec_load", syscall(SYS_kexec_load, 0, 0, NULL, 0));
    row("init_module", syscall(SYS_init_module, NULL, 0, ""));
    row("open_by_handle_at", syscall(SYS_open_by_handle_at, AT_FDCWD, NULL, 0));
    row("personality_linux32", syscall(SYS_personality, 0x0008 | 0x0400000));
    int tty = open("/dev/tty", O_RDWR);
    char ch = 'x';
    row("ioctl_tiocsti", ioctl(tty >= 0 ? tty : 0, TIOCSTI, &ch));
    long traced = ptrace(PTRACE_ATTACH, 1, 0, 0);
    row("ptrace_attach_init", traced);
    if (traced == 0) {
        /* Let init go again, or the sandbox could never reap its processes. */
        waitpid(1, NULL, __WALL);
        ptrace(PTRACE_DETACH, 1, 0, 0);
    }
    row("chroot", chroot("/tmp"));
    row("sethostname", sethostname("escaped", 7));
    row("mknod_device", mknod("/tmp/sda", S_IFBLK | 0600, makedev(8, 0)));
    row("raw_socket", socket(AF_INET, SOCK_RAW, IPPROTO_ICMP));
    struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct d[2] = {{ 1u << CAP_SYS_ADMIN, 1u << CAP_SYS_ADMIN, 0 }, { 0, 0, 0 }};
    row("capset_sys_admin", syscall(SYS_capset, &h, d));
    int f = open("/proc/sys/kernel/hostname", O_WRONLY);
    row("write_proc_sys", f < 0 ? -1 : write(f, "x", 1));
    int k = open("/proc/kcore", O_RDONLY);
    char buf[16];
    row("read_proc_kcore", k < 0 ? -1 : (read(k, buf, sizeof buf) > 0 ? 0 : (errno = EPERM, -1)));
    row("no_new_privs_clear", prctl(PR_SET_NO_NEW_PRIVS, 0, 0, 0, 0));
    row("reboot", syscall(SYS_reboot, 0xfee1dead, 672274793, 0x1234567, NULL));
    row_in_child("x32_syscall", x32_getpid);
    row_in_child("i386_syscall", i386_getpid);
    printf("probe-done\n");
    return 0;
}
