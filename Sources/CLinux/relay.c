#if defined(__linux__)
#define _GNU_SOURCE
#include "warren_linux.h"
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <arpa/inet.h>

// A loopback TCP listener that forwards each connection to a Unix socket, one thread
// per connection. It is how a guest reaches a daemon service (the LLM facade) through
// its own loopback while having no network at all.

int warren_listen_loopback(uint16_t port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons(port) };
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&address, sizeof address) < 0 || listen(fd, 256) < 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

struct netns_listen { const char *path; uint16_t port; int fd; int error; };

static void *netns_listen_thread(void *arg) {
    struct netns_listen *job = arg;
    int ns = open(job->path, O_RDONLY | O_CLOEXEC);
    if (ns < 0) { job->error = errno; return NULL; }
    // Only this short-lived thread changes namespace; the socket keeps the one it was made in.
    if (setns(ns, CLONE_NEWNET) < 0) { job->error = errno; close(ns); return NULL; }
    close(ns);
    job->fd = warren_listen_loopback(job->port);
    if (job->fd < 0) job->error = errno;
    return NULL;
}

int warren_listen_loopback_in_netns(const char *netns_path, uint16_t port) {
    struct netns_listen job = { .path = netns_path, .port = port, .fd = -1, .error = 0 };
    pthread_t thread;
    int rc = pthread_create(&thread, NULL, netns_listen_thread, &job);
    if (rc != 0) { errno = rc; return -1; }
    pthread_join(thread, NULL);
    if (job.fd < 0) errno = job.error;
    return job.fd;
}

/* Connections one relay carries at once: a sandbox cannot hold more of the daemon's
 * descriptors (or of its monitor's threads) than this. Further ones are closed. */
#define WARREN_RELAY_MAX_CONNECTIONS 256

/* Shared by a relay's accept loop and its connections; freed by the last of them. */
struct relay_count { atomic_int active; atomic_int refs; };
struct relay { int listen_fd; int dir_fd; char name[256]; struct relay_count *count; };
struct relay_pair { int client; int upstream; struct relay_count *count; };

static void relay_count_release(struct relay_count *count) {
    if (atomic_fetch_sub(&count->refs, 1) == 1) free(count);
}

static int write_all(int fd, const char *buffer, ssize_t count) {
    while (count > 0) {
        ssize_t n = write(fd, buffer, (size_t)count);
        if (n < 0) { if (errno == EINTR) continue; return -1; }
        buffer += n; count -= n;
    }
    return 0;
}

static void *relay_connection(void *arg) {
    struct relay_pair pair = *(struct relay_pair *)arg;
    free(arg);
    struct pollfd fds[2] = { { .fd = pair.client, .events = POLLIN }, { .fd = pair.upstream, .events = POLLIN } };
    int open_directions = 2;
    char buffer[65536];
    while (open_directions > 0) {
        if (poll(fds, 2, -1) < 0) { if (errno == EINTR) continue; break; }
        int failed = 0;
        for (int i = 0; i < 2; i++) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            int to = i == 0 ? pair.upstream : pair.client;
            ssize_t n = read(fds[i].fd, buffer, sizeof buffer);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) {
                // End of one direction: pass the half-close on, keep the other direction.
                shutdown(to, SHUT_WR);
                fds[i].fd = -1;
                open_directions--;
                if (n < 0) failed = 1;
            } else if (write_all(to, buffer, n) < 0) {
                failed = 1;
            }
        }
        if (failed) break;
    }
    close(pair.client);
    close(pair.upstream);
    atomic_fetch_sub(&pair.count->active, 1);
    relay_count_release(pair.count);
    return NULL;
}

static int connect_relay_target(const struct relay *relay) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct sockaddr_un address = { .sun_family = AF_UNIX };
    snprintf(address.sun_path, sizeof address.sun_path, "/proc/self/fd/%d/%s", relay->dir_fd, relay->name);
    if (connect(fd, (struct sockaddr *)&address, sizeof address) < 0) { close(fd); return -1; }
    return fd;
}

static void *relay_accept_loop(void *arg) {
    struct relay *relay = arg;
    pthread_attr_t attributes;
    pthread_attr_init(&attributes);
    pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attributes, 256 * 1024);
    for (;;) {
        int client = accept4(relay->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (client < 0) {
            if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE || errno == ENFILE) {
                if (errno == EMFILE || errno == ENFILE) usleep(10000);
                continue;
            }
            break;  // shut down (warren_relay_stop) or the listener is gone
        }
        if (atomic_load(&relay->count->active) >= WARREN_RELAY_MAX_CONNECTIONS) { close(client); continue; }
        int one = 1;
        setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        int upstream = connect_relay_target(relay);
        if (upstream < 0) { close(client); continue; }
        struct relay_pair *pair = malloc(sizeof *pair);
        pthread_t thread;
        if (pair == NULL) { close(client); close(upstream); continue; }
        pair->client = client; pair->upstream = upstream; pair->count = relay->count;
        atomic_fetch_add(&relay->count->active, 1);
        atomic_fetch_add(&relay->count->refs, 1);
        if (pthread_create(&thread, &attributes, relay_connection, pair) != 0) {
            atomic_fetch_sub(&relay->count->active, 1);
            relay_count_release(relay->count);
            free(pair); close(client); close(upstream);
        }
    }
    pthread_attr_destroy(&attributes);
    close(relay->listen_fd);
    close(relay->dir_fd);
    relay_count_release(relay->count);
    free(relay);
    return NULL;
}

int warren_relay_start(int listen_fd, const char *directory, const char *name) {
    if (strlen(name) >= sizeof(((struct relay *)0)->name)) { errno = ENAMETOOLONG; return -1; }
    struct relay *relay = calloc(1, sizeof *relay);
    if (relay == NULL) return -1;
    relay->count = calloc(1, sizeof *relay->count);
    if (relay->count == NULL) { free(relay); return -1; }
    atomic_init(&relay->count->active, 0);
    atomic_init(&relay->count->refs, 1);
    relay->dir_fd = open(directory, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (relay->dir_fd < 0) { int saved = errno; free(relay->count); free(relay); errno = saved; return -1; }
    relay->listen_fd = listen_fd;
    strcpy(relay->name, name);
    pthread_attr_t attributes;
    pthread_attr_init(&attributes);
    pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
    pthread_t thread;
    int rc = pthread_create(&thread, &attributes, relay_accept_loop, relay);
    pthread_attr_destroy(&attributes);
    if (rc != 0) { close(relay->dir_fd); free(relay->count); free(relay); errno = rc; return -1; }
    return 0;
}

int warren_relay_stop(int listen_fd) {
    return shutdown(listen_fd, SHUT_RDWR);
}
#endif
