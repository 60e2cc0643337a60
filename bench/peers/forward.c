/* The floor of one more user-space TCP hop, a peer for bench/bench_serving.py: one thread, epoll, read and
 * write, no parsing, no per-request choice of replica, one upstream connection per client connection.
 *
 *     forward LISTEN_PORT TO_PORT        (both on 127.0.0.1)
 *
 * Nothing a proxy could do per request costs less; what it measures is the kernel's share of a hop. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAXFD 65536
static int peer[MAXFD];

static int tcp_socket(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static void close_pair(int ep, int fd) {
    int other = peer[fd];
    epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
    close(fd);
    if (other >= 0) {
        epoll_ctl(ep, EPOLL_CTL_DEL, other, NULL);
        close(other);
        peer[other] = -1;
    }
    peer[fd] = -1;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: forward LISTEN_PORT TO_PORT\n");
        return 2;
    }
    struct sockaddr_in la = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[1]))};
    struct sockaddr_in ta = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
    inet_pton(AF_INET, "127.0.0.1", &la.sin_addr);
    inet_pton(AF_INET, "127.0.0.1", &ta.sin_addr);
    int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(ls, (struct sockaddr *)&la, sizeof la) || listen(ls, 512)) {
        perror("listen");
        return 1;
    }
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = ls}, evs[64];
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
    static char buf[1 << 16];
    for (;;) {
        int n = epoll_wait(ep, evs, 64, -1);
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == ls) {
                int c = accept(ls, NULL, NULL);
                if (c < 0 || c >= MAXFD) { if (c >= 0) close(c); continue; }
                setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                int u = tcp_socket();  /* blocking connect: loopback answers at once */
                if (u < 0 || u >= MAXFD || connect(u, (struct sockaddr *)&ta, sizeof ta)) {
                    close(c);
                    if (u >= 0) close(u);
                    continue;
                }
                peer[c] = u;
                peer[u] = c;
                struct epoll_event a = {.events = EPOLLIN, .data.fd = c}, b = {.events = EPOLLIN, .data.fd = u};
                epoll_ctl(ep, EPOLL_CTL_ADD, c, &a);
                epoll_ctl(ep, EPOLL_CTL_ADD, u, &b);
                continue;
            }
            ssize_t got = read(fd, buf, sizeof buf);
            if (got <= 0) {
                if (got < 0 && errno == EAGAIN) continue;
                close_pair(ep, fd);
                continue;
            }
            /* answers this small fit the socket's buffer: a blocking write completes at once */
            for (ssize_t off = 0; off < got;) {
                ssize_t w = write(peer[fd], buf + off, got - off);
                if (w <= 0) { close_pair(ep, fd); break; }
                off += w;
            }
        }
    }
}
