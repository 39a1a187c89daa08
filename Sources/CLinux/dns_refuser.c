#if defined(__linux__)
#define _GNU_SOURCE
#include "warren_linux.h"
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>

// The name server of a sandbox without a network: it answers every query at once with
// "no such name" (NXDOMAIN), so a lookup fails now instead of after a resolver's timeout
// (musl's resolver waits its full timeout, 5 s by default, for a server it cannot reach).

int warren_dns_socket(void) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons(53) };
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&address, sizeof address) < 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

/* The length of the header and question section of `query`, or 0 when it is malformed. */
static size_t question_end(const uint8_t *query, size_t length) {
    size_t offset = 12;
    unsigned questions = (unsigned)query[4] << 8 | query[5];
    for (unsigned q = 0; q < questions; q++) {
        for (;;) {
            if (offset >= length) return 0;
            uint8_t label = query[offset];
            if (label == 0) { offset += 1; break; }
            if ((label & 0xC0) == 0xC0) { offset += 2; break; }
            if (label & 0xC0) return 0;
            offset += 1 + label;
        }
        offset += 4; /* type and class */
        if (offset > length) return 0;
    }
    return offset;
}

size_t warren_dns_answer(const uint8_t *query, size_t length, uint8_t *answer) {
    if (length < 12 || length > 512 || (query[2] & 0x80)) return 0; /* too short, too long, or a response */
    size_t end = question_end(query, length);
    if (end == 0) return 0;
    memcpy(answer, query, end);
    uint8_t opcode = (query[2] >> 3) & 0x0F;
    answer[2] = (uint8_t)(0x80 | (query[2] & 0x79));           /* QR, the opcode and RD kept */
    answer[3] = (uint8_t)(0x80 | (opcode == 0 ? 3 : 4));        /* RA; NXDOMAIN, or NOTIMP for other opcodes */
    memset(answer + 6, 0, 6);                                     /* no answer, authority or additional records */
    return end;
}

static void *dns_refuser_loop(void *arg) {
    int fd = (int)(intptr_t)arg;
    uint8_t query[512], answer[512];
    for (;;) {
        struct sockaddr_storage peer;
        socklen_t peer_length = sizeof peer;
        ssize_t n = recvfrom(fd, query, sizeof query, 0, (struct sockaddr *)&peer, &peer_length);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break; /* shut down */
        size_t length = warren_dns_answer(query, (size_t)n, answer);
        if (length > 0) (void)sendto(fd, answer, length, MSG_NOSIGNAL, (struct sockaddr *)&peer, peer_length);
    }
    close(fd);
    return NULL;
}

struct netns_dns { const char *path; int fd; int error; };

static void *netns_dns_thread(void *arg) {
    struct netns_dns *job = arg;
    int ns = open(job->path, O_RDONLY | O_CLOEXEC);
    if (ns < 0) { job->error = errno; return NULL; }
    /* Only this short-lived thread changes namespace; the socket keeps the one it was made in. */
    if (setns(ns, CLONE_NEWNET) < 0) { job->error = errno; close(ns); return NULL; }
    close(ns);
    job->fd = warren_dns_socket();
    if (job->fd < 0) job->error = errno;
    return NULL;
}

int warren_dns_socket_in_netns(const char *netns_path) {
    struct netns_dns job = { .path = netns_path, .fd = -1, .error = 0 };
    pthread_t thread;
    int rc = pthread_create(&thread, NULL, netns_dns_thread, &job);
    if (rc != 0) { errno = rc; return -1; }
    pthread_join(thread, NULL);
    if (job.fd < 0) errno = job.error;
    return job.fd;
}

int warren_dns_refuser_stop(int fd) {
    /* Wakes the thread's recvfrom with 0; the thread then closes the socket. */
    return shutdown(fd, SHUT_RDWR) < 0 && errno != ENOTCONN ? -1 : 0;
}

int warren_dns_refuser_start(int fd) {
    pthread_t thread;
    pthread_attr_t attributes;
    pthread_attr_init(&attributes);
    pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attributes, 64 * 1024);
    int rc = pthread_create(&thread, &attributes, dns_refuser_loop, (void *)(intptr_t)fd);
    pthread_attr_destroy(&attributes);
    if (rc != 0) { errno = rc; return -1; }
    return 0;
}
#endif
