/* The serving proxy's fast lane: the common HTTP/1.1 exchange relayed without the interpreter.
 *
 * Loaded into the proxy process with ctypes (`fastlane.py`); one thread of its own, one epoll, no Python.
 * The proxy gives it its REST listeners and, whenever readiness or routes change, a table of the replicas
 * each listener may send to (with traffic-split weights). Per client connection the lane relays requests that
 * arrive whole in one read with a Content-Length or no body (no Expect, no Upgrade, no chunked body), picks a
 * replica per request (the proxy's smooth weighted round-robin), keeps idle keep-alive connections to the
 * replicas, and relays every kind of answer (Content-Length, chunked, until close, no body, 1xx) with
 * back-pressure both ways. (A 101 can only answer an Upgrade, and those go to the proxy: here it is a bad
 * answer.)
 *
 * Anything else goes back to the proxy at a request boundary: the lane stops watching the connection and
 * hands its descriptor and the bytes it has read but not relayed (a request and whatever follows it) to the
 * Python relay, which then owns the connection for good. So does a request whose replica refuses, resets or
 * closes before the first byte of its answer: Python retries it (and takes the replica out) as it always did.
 *
 * Commands come in on a socket, one per line:  L fd key | U fd | D key | T ... E (a table) | B seq | Q.
 * Hand-offs go out on another:                 H fd key n\n followed by n bytes.
 * Table:  K port...\n (replica ports still routed: idle connections to others close)
 *         R key weighted nversions\n, then per version  V weight nports port...\n;  E\n ends it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAXFD 65536
#define HEAD_LIMIT (64 * 1024)
#define READ_SIZE (64 * 1024)
#define OUT_LIMIT (256 * 1024) /* unsent bytes to one side above which its source stops being read */
#define MAXKEYS 4096
#define MAXVERS 64
#define MAXBACK 256
#define LINE_LIMIT 4096

enum { F_NONE, F_LISTEN, F_CLIENT, F_UP, F_CMD };
enum { U_CONNECTING, U_HEAD, U_LENGTH, U_CHUNKED, U_UNTIL_CLOSE, U_TUNNEL, U_IDLE };

typedef struct buf { char *p; size_t len, off, cap; } buf;

typedef struct up {
    int fd, port, state, keep, started, reused, paused, head_method;
    long long left;               /* LENGTH: body bytes to come */
    int ch_left_crlf; long long ch_left; int ch_trailers; buf ch_line; /* CHUNKED scanner */
    buf in;                       /* HEAD: the head read so far */
    buf out;                      /* request bytes not yet written */
    struct client *down;
    struct up *next_idle;
} up;

typedef struct client {
    int fd, key, keep, eof, paused, closing;
    int method_head;
    buf in;                       /* the request in flight (kept for a hand-off) and what follows it */
    size_t req_len;               /* bytes of `in` that are the request in flight (0: none) */
    buf out;                      /* answer bytes not yet written */
    up *u;
} client;

typedef struct version { int weight, current, rr, n; int ports[MAXBACK]; } version;
typedef struct route { int present, weighted, nv, rr; version v[MAXVERS]; } route;

static int kind[MAXFD];
static void *obj[MAXFD];
static int listen_key[MAXFD];
static route *routes[MAXKEYS];
static up *idle[65536];
static unsigned char kept[65536];
static int ep = -1, cmd_fd = -1, out_fd = -1;
static char *cmdbuf; static size_t cmdlen, cmdcap;

/* ---- buffers ------------------------------------------------------------------------------------- */
static int buf_add(buf *b, const char *p, size_t n) {
    if (b->off && b->off == b->len) b->off = b->len = 0;
    if (b->len + n > b->cap) {
        if (b->off) { memmove(b->p, b->p + b->off, b->len - b->off); b->len -= b->off; b->off = 0; }
        if (b->len + n > b->cap) {
            size_t cap = b->cap ? b->cap : 4096;
            while (cap < b->len + n) cap *= 2;
            char *q = realloc(b->p, cap);
            if (!q) return -1;
            b->p = q; b->cap = cap;
        }
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
    return 0;
}
static size_t buf_size(buf *b) { return b->len - b->off; }
static void buf_free(buf *b) { free(b->p); b->p = NULL; b->len = b->off = b->cap = 0; }

/* ---- epoll --------------------------------------------------------------------------------------- */
static void watch(int fd, uint32_t events, int mod) {
    struct epoll_event ev = {.events = events, .data.fd = fd};
    epoll_ctl(ep, mod ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev);
}
static void forget(int fd) { epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL); kind[fd] = F_NONE; obj[fd] = NULL; }

static void client_interest(client *c) {
    uint32_t ev = EPOLLRDHUP;
    if (!c->paused && !c->eof) ev |= EPOLLIN;
    if (buf_size(&c->out)) ev |= EPOLLOUT;
    watch(c->fd, ev, 1);
}
static void up_interest(up *u) {
    uint32_t ev = 0;
    if (u->state == U_CONNECTING || buf_size(&u->out)) ev |= EPOLLOUT;
    if (u->state != U_CONNECTING && !u->paused) ev |= EPOLLIN;
    watch(u->fd, ev | EPOLLRDHUP, 1);
}

/* ---- writing with back-pressure ------------------------------------------------------------------ */
/* Write to fd, queueing what does not fit; -1 when the peer is gone. */
static int send_or_queue(int fd, buf *q, const char *p, size_t n) {
    if (!buf_size(q)) {
        while (n) {
            ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
            if (w < 0) {
                if (errno == EINTR) continue;
                if (errno == EAGAIN) break;
                return -1;
            }
            p += w; n -= w;
        }
    }
    return n ? buf_add(q, p, n) : 0;
}
static int flush(int fd, buf *q) {
    while (buf_size(q)) {
        ssize_t w = send(fd, q->p + q->off, buf_size(q), MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) return 0;
            return -1;
        }
        q->off += w;
    }
    q->off = q->len = 0;
    return 0;
}

/* ---- closing ------------------------------------------------------------------------------------- */
static int connecting; /* connects in progress: the loop wakes to time them out */

static void up_close(up *u) {
    if (u->state == U_CONNECTING) connecting--;
    if (kind[u->fd] == F_UP && obj[u->fd] == u) forget(u->fd);
    close(u->fd);
    buf_free(&u->in); buf_free(&u->out); buf_free(&u->ch_line);
    free(u);
}
static void client_close(client *c) {
    if (c->u) { c->u->down = NULL; up_close(c->u); c->u = NULL; }
    forget(c->fd);
    close(c->fd);
    buf_free(&c->in); buf_free(&c->out);
    free(c);
}
static void idle_remove(up *u) {
    for (up **pp = &idle[u->port]; *pp; pp = &(*pp)->next_idle)
        if (*pp == u) { *pp = u->next_idle; return; }
}

/* The connection goes back to the proxy: n bytes it read and did not relay go with it. */
static void hand_off(client *c) {
    if (c->u) { c->u->down = NULL; up_close(c->u); c->u = NULL; }
    forget(c->fd);
    char head[64];
    size_t n = buf_size(&c->in);
    int h = snprintf(head, sizeof head, "H %d %d %zu\n", c->fd, c->key, n);
    buf all = {0};
    size_t left = 1;
    if (buf_add(&all, head, h) == 0 && (n == 0 || buf_add(&all, c->in.p + c->in.off, n) == 0)) {
        const char *p = all.p;
        left = all.len;
        while (left) { /* blocking: the proxy reads these as they come */
            ssize_t w = write(out_fd, p, left);
            if (w < 0) { if (errno == EINTR) continue; break; }
            p += w; left -= w;
        }
    }
    buf_free(&all);
    if (left) close(c->fd); /* not handed over (no memory, or the proxy is gone): not leaked either */
    buf_free(&c->in); buf_free(&c->out);
    free(c);
}

/* ---- HTTP framing (as http1.framing) --------------------------------------------------------------- */
static int strcasestr_n(const char *v, size_t n, const char *needle) {
    size_t m = strlen(needle);
    for (size_t i = 0; i + m <= n; i++)
        if (!strncasecmp(v + i, needle, m)) return 1;
    return 0;
}

/* Of the head in p[0..end): body length (>= 0), -1 chunked, -2 undeclared; -3 malformed length. */
static long long framing(const char *p, size_t end, int http11, int *keep, int *expect, int *upgrade) {
    long long length = -2;
    int chunked = 0;
    *keep = http11; *expect = 0; if (upgrade) *upgrade = 0;
    const char *line = memchr(p, '\n', end);
    while (line && (size_t)(line - p) + 1 < end) {
        const char *s = line + 1;
        const char *e = memchr(s, '\n', end - (s - p));
        if (!e) break;
        const char *colon = memchr(s, ':', e - s);
        if (colon) {
            size_t nlen = colon - s;
            while (nlen && (s[nlen - 1] == ' ' || s[nlen - 1] == '\t')) nlen--;
            const char *v = colon + 1, *ve = e;
            while (v < ve && (*v == ' ' || *v == '\t')) v++;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t')) ve--;
            size_t vlen = ve - v;
            if (nlen == 14 && !strncasecmp(s, "content-length", 14)) {
                if (!vlen) return -3;
                long long n = 0;
                for (size_t i = 0; i < vlen; i++) {
                    if (v[i] < '0' || v[i] > '9' || n > (1LL << 50)) return -3;
                    n = n * 10 + (v[i] - '0');
                }
                length = n;
            } else if (nlen == 17 && !strncasecmp(s, "transfer-encoding", 17)) {
                chunked = strcasestr_n(v, vlen, "chunked");
            } else if (nlen == 10 && !strncasecmp(s, "connection", 10)) {
                if (http11) *keep = !strcasestr_n(v, vlen, "close");
                else *keep = strcasestr_n(v, vlen, "keep-alive");
                if (upgrade && strcasestr_n(v, vlen, "upgrade")) *upgrade = 1;
            } else if (nlen == 6 && !strncasecmp(s, "expect", 6)) {
                *expect = 1;
            } else if (upgrade && nlen == 7 && !strncasecmp(s, "upgrade", 7)) {
                *upgrade = 1;
            }
        }
        line = e;
    }
    return chunked ? -1 : length;
}

/* ---- chunked answers (as http1.Chunks) ------------------------------------------------------------- */
/* Offset just past the body's end in p[start..n), -1 when it goes on, -2 when malformed. */
static long chunk_feed(up *u, const char *p, size_t n, size_t i) {
    while (i < n) {
        if (u->ch_left) {
            size_t step = (size_t)u->ch_left < n - i ? (size_t)u->ch_left : n - i;
            i += step;
            u->ch_left -= step;
            continue;
        }
        const char *nl = memchr(p + i, '\n', n - i);
        if (!nl) {
            if (buf_add(&u->ch_line, p + i, n - i) < 0 || buf_size(&u->ch_line) > LINE_LIMIT) return -2;
            return -1;
        }
        size_t j = nl - p + 1;
        if (buf_add(&u->ch_line, p + i, j - i) < 0) return -2;
        const char *line = u->ch_line.p + u->ch_line.off;
        size_t len = buf_size(&u->ch_line);
        i = j;
        if (u->ch_trailers) {
            int blank = 1;
            for (size_t k = 0; k < len; k++)
                if (line[k] != '\r' && line[k] != '\n' && line[k] != ' ' && line[k] != '\t') { blank = 0; break; }
            u->ch_line.off = u->ch_line.len = 0;
            if (blank) return (long)i;
            continue;
        }
        long long size = 0;
        size_t k = 0;
        while (k < len && (line[k] == ' ' || line[k] == '\t')) k++;
        size_t digits = 0;
        for (; k < len; k++, digits++) {
            char ch = line[k];
            int v = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
                    : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
            if (v < 0) break;
            if (size > (1LL << 50)) return -2;
            size = size * 16 + v;
        }
        if (!digits) return -2;
        for (; k < len; k++)
            if (line[k] == ';') break;
            else if (line[k] != ' ' && line[k] != '\t' && line[k] != '\r' && line[k] != '\n') return -2;
        u->ch_line.off = u->ch_line.len = 0;
        if (size == 0) u->ch_trailers = 1;
        else u->ch_left = size + 2;
    }
    return -1;
}

/* ---- picking a replica (the proxy's smooth weighted round-robin) ----------------------------------- */
static long long suspect_until[65536];
static long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}
static int usable(int port, long long now) { return suspect_until[port] <= now; }

static int pick(route *r) {
    long long now = now_ms();
    if (r->weighted) {
        int total = 0;
        version *best = NULL;
        for (int i = 0; i < r->nv; i++) {
            version *v = &r->v[i];
            int n = 0;
            for (int k = 0; k < v->n; k++) n += usable(v->ports[k], now);
            if (!v->weight || !n) continue;
            v->current += v->weight;
            total += v->weight;
            if (!best || v->current > best->current) best = v;
        }
        if (!best) return -1;
        best->current -= total;
        best->rr++;
        int n = 0;
        for (int k = 0; k < best->n; k++) n += usable(best->ports[k], now);
        int want = best->rr % n;
        for (int k = 0; k < best->n; k++)
            if (usable(best->ports[k], now) && want-- == 0) return best->ports[k];
        return -1;
    }
    int n = 0;
    for (int i = 0; i < r->nv; i++)
        for (int k = 0; k < r->v[i].n; k++) n += usable(r->v[i].ports[k], now);
    if (!n) return -1;
    r->rr++;
    int want = r->rr % n;
    for (int i = 0; i < r->nv; i++)
        for (int k = 0; k < r->v[i].n; k++)
            if (usable(r->v[i].ports[k], now) && want-- == 0) return r->v[i].ports[k];
    return -1;
}

/* ---- requests ------------------------------------------------------------------------------------- */
static void up_failed(up *u);
static void start_request(client *c);
static int send_to(client *c, int port, int pooled);

static void client_done(client *c) { /* nothing in flight, nothing to send: what next */
    if (c->closing) { client_close(c); return; }
    if (buf_size(&c->in)) { start_request(c); return; }
    if (c->eof) { client_close(c); return; }
    client_interest(c);
}

/* Send the request in flight to `port`, on an idle connection when `pooled` and there is one; 0 when c went
 * back to the proxy instead. */
static int send_to(client *c, int port, int pooled) {
    up *u = pooled ? idle[port] : NULL;
    if (u) {
        idle[port] = u->next_idle;
        u->next_idle = NULL;
        u->reused = 1;
    } else {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0 || fd >= MAXFD) { if (fd >= 0) close(fd); hand_off(c); return 0; }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        u = calloc(1, sizeof *u);
        if (!u) { close(fd); hand_off(c); return 0; }
        u->fd = fd;
        u->port = port;
        kind[fd] = F_UP;
        obj[fd] = u;
        int rc = connect(fd, (struct sockaddr *)&a, sizeof a);
        if (rc < 0 && errno != EINPROGRESS) {
            watch(fd, 0, 0);
            u->state = U_HEAD;
            u->down = c;
            c->u = u;
            up_failed(u);
            return 0;
        }
        u->state = U_CONNECTING;
        u->left = now_ms() + 2000; /* the proxy's CONNECT_TIMEOUT */
        connecting++;
        watch(fd, EPOLLOUT, 0);
    }
    u->down = c;
    c->u = u;
    u->started = 0;
    u->keep = 0;
    u->head_method = c->method_head;
    u->ch_left = 0; u->ch_trailers = 0; u->ch_line.off = u->ch_line.len = 0;
    u->in.off = u->in.len = 0;
    if (u->state == U_CONNECTING) {
        if (buf_add(&u->out, c->in.p + c->in.off, c->req_len) < 0) { up_failed(u); return 0; }
        return 1;
    }
    u->state = U_HEAD;
    if (send_or_queue(u->fd, &u->out, c->in.p + c->in.off, c->req_len) < 0) { up_failed(u); return 0; }
    up_interest(u);
    return 1;
}

/* Send the request in flight to a replica the table allows; 0 when c went back to the proxy instead. */
static int dispatch(client *c) {
    route *r = c->key >= 0 && c->key < MAXKEYS ? routes[c->key] : NULL;
    int port = r && r->present ? pick(r) : -1;
    if (port <= 0) { hand_off(c); return 0; } /* the proxy answers: no ready replica, or deleted */
    return send_to(c, port, 1);
}

/* A request arrived whole in the buffer, alone, in the usual shape: relay it; anything else: the proxy. */
static void start_request(client *c) {
    if (c->req_len || buf_size(&c->out)) return; /* one at a time; the last answer is still going out */
    const char *p = c->in.p + c->in.off;
    size_t n = buf_size(&c->in);
    const char *hend = n >= 4 ? memmem(p, n, "\r\n\r\n", 4) : NULL;
    if (!hend) { hand_off(c); return; }
    size_t head_end = hend - p + 4;
    const char *eol = memchr(p, '\r', head_end);
    const char *sp1 = memchr(p, ' ', eol - p);
    const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', eol - sp1 - 1) : NULL;
    if (!sp1 || sp1 == p || !sp2 || memchr(sp2 + 1, ' ', eol - sp2 - 1)) { hand_off(c); return; }
    size_t vlen = eol - sp2 - 1;
    int http11 = vlen == 8 && !memcmp(sp2 + 1, "HTTP/1.1", 8);
    if (!http11 && !(vlen == 8 && !memcmp(sp2 + 1, "HTTP/1.0", 8))) { hand_off(c); return; }
    int keep, expect, upgrade;
    long long length = framing(p, head_end, http11, &keep, &expect, &upgrade);
    if (length == -3 || length == -1 || expect || upgrade) { hand_off(c); return; }
    if (length < 0) length = 0;
    if ((unsigned long long)n != head_end + (unsigned long long)length) { hand_off(c); return; }
    c->req_len = n;
    c->keep = keep;
    c->method_head = (sp1 - p == 4 && !memcmp(p, "HEAD", 4));
    if (dispatch(c)) client_interest(c);
}

/* The answer went out whole (or is queued): the next request, or the end of the connection. */
static void answered(client *c, int keep) {
    c->u = NULL;
    c->in.off += c->req_len;
    c->req_len = 0;
    c->paused = 0;
    if (!(keep && c->keep)) c->closing = 1;
    if (buf_size(&c->out)) { client_interest(c); return; } /* client_done when it has drained */
    client_done(c);
}

/* Relay answer bytes to u's client; 0 when the client is gone (and u with it). */
static int relay(up *u, const char *p, size_t n) {
    client *c = u->down;
    if (send_or_queue(c->fd, &c->out, p, n) < 0) { client_close(c); return 0; }
    if (buf_size(&c->out) > OUT_LIMIT && !u->paused) { u->paused = 1; up_interest(u); }
    if (buf_size(&c->out)) client_interest(c);
    return 1;
}

/* Failed before the first byte of its answer. A kept-alive connection the replica had closed: once more on
 * a new one, as the Python relay does. Otherwise the proxy retries the request (its Python relay), and the
 * lane leaves the replica alone for a second (the proxy's table, once it has taken it out, is newer). */
static void up_failed(up *u) {
    client *c = u->down;
    int port = u->port, reused = u->reused;
    if (!reused) suspect_until[port] = now_ms() + 1000;
    u->down = NULL;
    up_close(u);
    if (!c) return;
    c->u = NULL;
    if (reused) {
        if (send_to(c, port, 0)) client_interest(c);
        return;
    }
    hand_off(c);
}

static void bad_answer(up *u) {
    client *c = u->down;
    u->down = NULL;
    up_close(u);
    c->u = NULL;
    static const char body[] = "malformed answer from the replica\n";
    char msg[256];
    int n = snprintf(msg, sizeof msg, "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n%s", sizeof body - 1, body);
    c->in.off += c->req_len;
    c->req_len = 0;
    c->closing = 1;
    if (send_or_queue(c->fd, &c->out, msg, n) < 0 || !buf_size(&c->out)) { client_close(c); return; }
    client_interest(c);
}

static void body(up *u, const char *p, size_t n, size_t start) {
    long end;
    if (u->state == U_LENGTH) {
        if ((long long)(n - start) >= u->left) { end = (long)(start + u->left); u->left = 0; }
        else { u->left -= n - start; end = -1; }
    } else if (u->state == U_CHUNKED) {
        end = chunk_feed(u, p, n, start);
        if (end == -2) { /* relayed as it came; the cut is the client's */
            client *c = u->down;
            if (!relay(u, p, n)) return;
            u->down = NULL; up_close(u); c->u = NULL;
            c->closing = 1;
            if (!buf_size(&c->out)) client_close(c);
            return;
        }
    } else end = -1;
    client *c = u->down;
    if (end < 0) { relay(u, p, n); return; }
    if (!relay(u, p, end)) return; /* the client is gone: so is u */
    int reusable = u->keep && (size_t)end == n;
    int keep = u->keep;
    u->down = NULL;
    u->state = U_IDLE;
    u->paused = 0;
    if (reusable) {
        u->next_idle = idle[u->port];
        idle[u->port] = u;
        watch(u->fd, EPOLLIN, 1);
    } else up_close(u);
    answered(c, keep);
}

static void head(up *u) {
    for (;;) {
        const char *p = u->in.p + u->in.off;
        size_t n = buf_size(&u->in);
        const char *hend = n >= 4 ? memmem(p, n, "\r\n\r\n", 4) : NULL;
        if (!hend) { if (n > HEAD_LIMIT) bad_answer(u); return; }
        size_t head_end = hend - p + 4;
        if (n >= 12 && p[9] == '1' && !(p[10] == '0' && p[11] == '1')) { /* 1xx: not the answer yet */
            u->in.off += head_end;
            continue;
        }
        /* 101 to a request that asked for no upgrade (those go to the proxy): a replica not speaking HTTP */
        if (n >= 12 && p[9] == '1') { bad_answer(u); return; }
        int status = n >= 12 && p[9] >= '0' && p[9] <= '9' && p[10] >= '0' && p[10] <= '9' && p[11] >= '0'
                     && p[11] <= '9' ? (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0') : 0;
        if (n < 12 || memcmp(p, "HTTP/1.", 7) || !status) { bad_answer(u); return; }
        int keep, expect;
        long long length = framing(p, head_end, p[7] == '1', &keep, &expect, NULL);
        if (length == -3) { bad_answer(u); return; }
        u->keep = keep;
        u->started = 1;
        if (u->head_method || status == 204 || status == 304 || status < 200) { u->state = U_LENGTH; u->left = 0; }
        else if (length >= 0) { u->state = U_LENGTH; u->left = length; }
        else if (length == -1) { u->state = U_CHUNKED; }
        else { u->state = U_UNTIL_CLOSE; u->keep = 0; }
        /* the head and what came after it, from a buffer of our own: `body` may free or reuse u */
        buf all = u->in;
        u->in = (buf){0};
        body(u, all.p + all.off, all.len - all.off, head_end);
        buf_free(&all);
        return;
    }
}

static void up_readable(up *u) {
    char tmp[READ_SIZE];
    ssize_t n;
    do n = recv(u->fd, tmp, sizeof tmp, 0); while (n < 0 && errno == EINTR);
    if (n < 0 && errno == EAGAIN) return;
    client *c = u->down;
    if (!c) { /* idle in the pool: closed by the replica, or bytes nobody asked for */
        idle_remove(u);
        up_close(u);
        return;
    }
    if (n <= 0) {
        if (!u->started) { up_failed(u); return; }
        if (u->state == U_UNTIL_CLOSE) { /* the close ends this answer */
            u->down = NULL; up_close(u); answered(c, 0); return;
        }
        u->down = NULL; up_close(u); c->u = NULL; /* cut short: the client sees it as it came */
        c->closing = 1;
        if (!buf_size(&c->out)) client_close(c); else client_interest(c);
        return;
    }
    if (u->state == U_HEAD) {
        if (buf_add(&u->in, tmp, n) < 0) { bad_answer(u); return; }
        head(u);
        return;
    }
    body(u, tmp, n, 0);
}

static void up_writable(up *u) {
    if (u->state == U_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(u->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) { up_failed(u); return; } /* counts the connect as ended */
        connecting--;
        u->state = U_HEAD;
    }
    if (flush(u->fd, &u->out) < 0) { up_failed(u); return; }
    up_interest(u);
}

static void client_readable(client *c) {
    char tmp[READ_SIZE];
    ssize_t n;
    do n = recv(c->fd, tmp, sizeof tmp, 0); while (n < 0 && errno == EINTR);
    if (n < 0 && errno == EAGAIN) return;
    if (n <= 0) {
        c->eof = 1;
        if (n < 0 || (!c->req_len && !buf_size(&c->out))) { client_close(c); return; }
        client_interest(c); /* the answer in flight still goes back */
        return;
    }
    if (buf_add(&c->in, tmp, n) < 0) { client_close(c); return; }
    if (c->req_len || buf_size(&c->out)) { /* in flight: what follows waits, within limits */
        if (buf_size(&c->in) - c->req_len > OUT_LIMIT) { c->paused = 1; client_interest(c); }
        return;
    }
    start_request(c);
}

static void client_writable(client *c) {
    if (flush(c->fd, &c->out) < 0) { client_close(c); return; }
    if (buf_size(&c->out)) return;
    if (c->u) { /* an answer still coming: read it again */
        if (c->u->paused) { c->u->paused = 0; up_interest(c->u); }
        client_interest(c);
        return;
    }
    client_done(c);
}

/* ---- listeners and commands ---------------------------------------------------------------------- */
static void accept_all(int lfd) {
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) return; /* EAGAIN, or out of descriptors: the rest wait in the backlog */
        if (fd >= MAXFD) { close(fd); continue; }
        client *c = calloc(1, sizeof *c);
        if (!c) { close(fd); continue; }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        c->fd = fd;
        c->key = listen_key[lfd];
        kind[fd] = F_CLIENT;
        obj[fd] = c;
        watch(fd, EPOLLIN, 0);
    }
}

static route *pending[MAXKEYS];
static int pending_key = -1;
static pthread_mutex_t sync_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sync_cv = PTHREAD_COND_INITIALIZER;
static long long done_seq;

static void table_line(char *line) {
    if (line[0] == 'K') { /* ports still routed: idle connections to any other close */
        memset(kept, 0, sizeof kept);
        char *s = line + 1;
        for (;;) {
            char *e;
            long port = strtol(s, &e, 10);
            if (e == s) break;
            if (port > 0 && port < 65536) kept[port] = 1;
            s = e;
        }
    } else if (line[0] == 'R') {
        int key, weighted, nv;
        if (sscanf(line + 1, "%d %d %d", &key, &weighted, &nv) != 3 || key < 0 || key >= MAXKEYS) return;
        route *r = pending[key] ? pending[key] : calloc(1, sizeof *r);
        if (!r) return;
        memset(r, 0, sizeof *r);
        r->present = 1;
        r->weighted = weighted;
        pending[key] = r;
        pending_key = key;
    } else if (line[0] == 'V' && pending_key >= 0) {
        route *r = pending[pending_key];
        if (r->nv >= MAXVERS) return;
        version *v = &r->v[r->nv++];
        char *s = line + 1, *e;
        v->weight = (int)strtol(s, &e, 10); s = e;
        int n = (int)strtol(s, &e, 10); s = e;
        for (int i = 0; i < n && v->n < MAXBACK; i++) {
            long port = strtol(s, &e, 10);
            if (e == s) break;
            s = e;
            if (port > 0 && port < 65536) v->ports[v->n++] = (int)port;
        }
    }
}

static void table_end(void) {
    for (int k = 0; k < MAXKEYS; k++) {
        route *old = routes[k];
        if (pending[k]) {
            /* the round-robin goes on where it was while the versions stay the same */
            if (old && old->present && old->nv == pending[k]->nv) {
                pending[k]->rr = old->rr;
                for (int i = 0; i < old->nv; i++) {
                    pending[k]->v[i].rr = old->v[i].rr;
                    pending[k]->v[i].current = old->v[i].current;
                }
            }
            routes[k] = pending[k];
            pending[k] = old;
            if (pending[k]) memset(pending[k], 0, sizeof *pending[k]);
        } else if (old) {
            old->present = 0;
        }
    }
    pending_key = -1;
    for (int port = 1; port < 65536; port++) {
        if (kept[port]) continue;
        while (idle[port]) {
            up *u = idle[port];
            idle[port] = u->next_idle;
            up_close(u);
        }
    }
    memset(suspect_until, 0, sizeof suspect_until); /* the proxy's readiness is newer */
}

static int command(char *line) {
    int fd, key;
    if (line[0] == 'L' && sscanf(line + 1, "%d %d", &fd, &key) == 2 && fd >= 0 && fd < MAXFD) {
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        kind[fd] = F_LISTEN;
        listen_key[fd] = key;
        watch(fd, EPOLLIN, 0);
    } else if (line[0] == 'U' && sscanf(line + 1, "%d", &fd) == 1 && fd >= 0 && fd < MAXFD && kind[fd] == F_LISTEN) {
        forget(fd);
        close(fd);
    } else if (line[0] == 'D' && sscanf(line + 1, "%d", &key) == 1) {
        for (int i = 0; i < MAXFD; i++)
            if (kind[i] == F_CLIENT && ((client *)obj[i])->key == key) client_close(obj[i]);
    } else if (line[0] == 'T') {
        pending_key = -1;
    } else if (line[0] == 'E') {
        table_end();
    } else if (line[0] == 'B') { /* a barrier: every command before it is done */
        pthread_mutex_lock(&sync_mu);
        done_seq = strtoll(line + 1, NULL, 10);
        pthread_cond_broadcast(&sync_cv);
        pthread_mutex_unlock(&sync_mu);
    } else if (line[0] == 'Q') {
        return 1;
    } else {
        table_line(line);
    }
    return 0;
}

static int commands(void) {
    char tmp[65536];
    ssize_t n;
    do n = read(cmd_fd, tmp, sizeof tmp); while (n < 0 && errno == EINTR);
    if (n < 0) return errno == EAGAIN ? 0 : 1;
    if (n == 0) return 1; /* the proxy is gone */
    if (cmdlen + n > cmdcap) {
        size_t cap = cmdcap ? cmdcap : 65536;
        while (cap < cmdlen + n) cap *= 2;
        char *q = realloc(cmdbuf, cap);
        if (!q) return 1;
        cmdbuf = q; cmdcap = cap;
    }
    memcpy(cmdbuf + cmdlen, tmp, n);
    cmdlen += n;
    size_t start = 0;
    for (;;) {
        char *nl = memchr(cmdbuf + start, '\n', cmdlen - start);
        if (!nl) break;
        *nl = 0;
        if (command(cmdbuf + start)) return 1;
        start = nl - cmdbuf + 1;
    }
    memmove(cmdbuf, cmdbuf + start, cmdlen - start);
    cmdlen -= start;
    return 0;
}

static void sweep_connects(void) {
    long long now = now_ms();
    for (int i = 0; i < MAXFD && connecting > 0; i++)
        if (kind[i] == F_UP && ((up *)obj[i])->state == U_CONNECTING && ((up *)obj[i])->left < now)
            up_failed(obj[i]);
}

/* Everything the lane owns closed and forgotten, so that a later `fl_start` begins afresh. */
static void teardown(void) {
    for (int fd = 0; fd < MAXFD; fd++) {
        switch (kind[fd]) {
        case F_CLIENT: client_close(obj[fd]); break;
        case F_LISTEN: forget(fd); close(fd); break;
        default: break;
        }
    }
    for (int fd = 0; fd < MAXFD; fd++) {
        if (kind[fd] == F_UP) { up *u = obj[fd]; u->down = NULL; up_close(u); }
    }
    memset(idle, 0, sizeof idle);
    for (int k = 0; k < MAXKEYS; k++) { free(routes[k]); routes[k] = NULL; free(pending[k]); pending[k] = NULL; }
    pending_key = -1;
    connecting = 0;
    memset(suspect_until, 0, sizeof suspect_until);
    close(cmd_fd); close(out_fd); close(ep);
    kind[cmd_fd] = F_NONE;
    cmd_fd = out_fd = ep = -1;
    free(cmdbuf); cmdbuf = NULL; cmdlen = cmdcap = 0;
}

static void *lane(void *arg) {
    (void)arg;
    struct epoll_event evs[128];
    for (;;) {
        int n = epoll_wait(ep, evs, 128, connecting ? 250 : -1);
        if (n < 0 && errno != EINTR) { teardown(); break; }
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            uint32_t e = evs[i].events;
            switch (kind[fd]) {
            case F_CMD:
                if (commands()) { teardown(); return NULL; }
                break;
            case F_LISTEN:
                accept_all(fd);
                break;
            case F_CLIENT: {
                client *c = obj[fd];
                if (e & EPOLLOUT) client_writable(c);
                if (kind[fd] != F_CLIENT || obj[fd] != c) break;
                if (e & (EPOLLIN | EPOLLHUP | EPOLLERR)) client_readable(c);
                break;
            }
            case F_UP: {
                up *u = obj[fd];
                if (e & EPOLLOUT) up_writable(u);
                if (kind[fd] != F_UP || obj[fd] != u) break;
                if (e & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                    if (u->state == U_CONNECTING) up_writable(u); /* a refused connect */
                    else up_readable(u);
                }
                break;
            }
            default:
                break;
            }
        }
        if (connecting) sweep_connects();
    }
    return NULL;
}

/* ---- the proxy's side ---------------------------------------------------------------------------- */
/* Start the lane: it reads commands from `commands_fd` and writes hand-offs to `handoff_fd`. 0 on success. */
static pthread_t thread;
static int running;

int fl_start(int commands_fd, int handoff_fd) {
    if (running) return -1;
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) return -1;
    cmd_fd = commands_fd;
    out_fd = handoff_fd;
    fcntl(cmd_fd, F_SETFL, fcntl(cmd_fd, F_GETFL) | O_NONBLOCK);
    kind[cmd_fd] = F_CMD;
    watch(cmd_fd, EPOLLIN, 0);
    if (pthread_create(&thread, NULL, lane, NULL)) {
        close(ep);
        ep = -1;
        kind[cmd_fd] = F_NONE;
        return -1;
    }
    running = 1;
    return 0;
}

/* Wait (at most `timeout_ms`) until the lane has carried out barrier `seq` (`B seq`, sent after the commands
 * to wait for): 0 when it has. */
int fl_sync(long long seq, int timeout_ms) {
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) { deadline.tv_sec++; deadline.tv_nsec -= 1000000000L; }
    int rc = 0;
    pthread_mutex_lock(&sync_mu);
    while (done_seq < seq && rc == 0) rc = pthread_cond_timedwait(&sync_cv, &sync_mu, &deadline);
    int ok = done_seq >= seq;
    pthread_mutex_unlock(&sync_mu);
    return ok ? 0 : -1;
}

/* Wait until the lane, told to stop (`Q`, or its command socket closed), has closed everything it owned. */
int fl_join(void) {
    if (!running) return -1;
    pthread_join(thread, NULL);
    running = 0;
    return 0;
}
