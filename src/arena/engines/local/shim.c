/* arena-shim: the per-replica shim of Arena's local engine, in C.
 *
 * The same shim as shim.py's `main` (read its docstring for what it guarantees: one shim per replica by the
 * lock, the replica's exit is its main process's, every descendant found and ended, bounded logs), with the
 * same files, formats and texts, so that the daemon cannot tell which of the two ran a replica. What differs:
 *  - it is exec'd by the spawner (posix_spawn) instead of forked from it: no interpreter to copy or run (its
 *    own work is about half a millisecond of CPU, beyond what any exec costs);
 *  - `--cwd DIR`: the replica's working directory, entered after the lock and the exit-file check; where it
 *    cannot be entered the replica is recorded as not started, as spawnd.py's `_unstartable` does (relative
 *    paths among the options still mean the directory the shim started in);
 *  - the replica is started with fork + exec, its path searched as posix_spawnp searches it (no /bin/sh for a
 *    file that is no program); the child joins the replica's cgroup itself, so the shim never enters it, and
 *    starts with every signal default and none blocked, whatever the shim inherited;
 *  - one thread: the output pipe and a signalfd (SIGCHLD, SIGTERM, SIGINT, SIGHUP) polled in one loop; those
 *    signals are blocked from the start, so one that comes before the replica starts is never lost;
 *  - what the Python shim dies of is handled: bad usage is refused (exit 2) before anything is touched, an
 *    empty command name is a command not found, a CPU number too large for Python's C long is logged as any
 *    other reason not to pin, and a log that cannot be written (or rotated) never stops the output's reading.
 *
 * Usage: arena-shim --lock F --pid F --exit F --log F [--log-bytes N] [--cgroup DIR] [--marker TAG]
 *                   [--cwd DIR] -- ARGV...
 * Build: cc -O2 -std=gnu11 -Wall -Wextra -Werror -o arena-shim shim.c   (Linux, libc only)
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define MARKER "ARENA_REPLICA_UID"        /* inherited by every descendant of a replica: "<job uid>/<key>" */
#define AFFINITY "ARENA_CPU_AFFINITY"     /* the cores the replica is pinned to ("0,1") */
#define PIECE (64 * 1024)                 /* shim.py's LINE_MAX: a longer line is cut into pieces of this size */
#define LEFTOVER_WAIT_NS 5000000000LL     /* to end what the main process left behind before reporting anyway */
#define STEP_NS 10000000LL                /* between two rounds of ending leftovers */
#define GONE_STEP_NS 1000000LL            /* between two looks at a killed cgroup's emptiness */
#define DRAIN_MIN_NS 500000000LL          /* the least time given to the output's end after the leftovers */
#define USAGE "arena-shim --lock F --pid F --exit F --log F [--log-bytes N] [--cgroup DIR] [--marker TAG] " \
              "[--cwd DIR] -- ARGV..."

/* ---- growable strings ------------------------------------------------------------------------------ */
typedef struct {
    char *p;
    size_t n, cap;
} str_t;

static void oom(void) {
    static const char msg[] = "arena-shim: out of memory\n";
    if (write(2, msg, sizeof msg - 1) < 0) {
        /* nothing more to say */
    }
    _exit(1);
}

static void s_reserve(str_t *s, size_t more) {
    if (more > SIZE_MAX / 2 - s->n) oom();
    size_t need = s->n + more + 1;
    if (need <= s->cap) return;
    size_t cap = s->cap ? s->cap : 64;
    while (cap < need) cap *= 2;
    char *p = realloc(s->p, cap);
    if (p == NULL) oom();
    s->p = p;
    s->cap = cap;
}

static void s_add(str_t *s, const void *data, size_t n) {
    s_reserve(s, n);
    if (n) memcpy(s->p + s->n, data, n);
    s->n += n;
    s->p[s->n] = '\0';
}

static void s_cat(str_t *s, const char *z) { s_add(s, z, strlen(z)); }
static void s_chr(str_t *s, char c) { s_add(s, &c, 1); }

static void s_fmt(str_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void s_fmt(str_t *s, const char *fmt, ...) {
    va_list ap;
    s_reserve(s, 64);
    size_t room = s->cap - s->n;
    va_start(ap, fmt);
    int n = vsnprintf(s->p + s->n, room, fmt, ap);
    va_end(ap);
    if (n < 0) oom();
    if ((size_t)n >= room) { /* it did not fit: again, with room for it */
        s_reserve(s, (size_t)n);
        va_start(ap, fmt);
        n = vsnprintf(s->p + s->n, (size_t)n + 1, fmt, ap);
        va_end(ap);
        if (n < 0) oom();
    }
    s->n += (size_t)n;
}

static char *s_join(const char *a, const char *b) {
    str_t s = {0};
    s_cat(&s, a);
    s_cat(&s, b);
    return s.p;
}

/* ---- Python's texts: repr(str), str(OSError), json.dumps, repr(float) --------------------------------- */
/* The next code point of UTF-8 text as Python decodes a path or an argument (surrogateescape: a byte that
 * starts no valid sequence becomes U+DC80..U+DCFF). */
static uint32_t u8_next(const unsigned char *s, size_t n, size_t *i) {
    unsigned c = s[*i];
    if (c < 0x80) {
        (*i)++;
        return c;
    }
    size_t len;
    uint32_t cp;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        cp = c & 0x0F;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        cp = c & 0x07;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else {
        goto bad;
    }
    if (n - *i < len) goto bad;
    for (size_t k = 1; k < len; k++) {
        unsigned d = s[*i + k];
        if (d < (k == 1 ? lo : 0x80) || d > (k == 1 ? hi : 0xBF)) goto bad;
        cp = (cp << 6) | (d & 0x3F);
    }
    *i += len;
    return cp;
bad:
    (*i)++;
    return 0xDC00 + c;
}

static void s_u8(str_t *s, uint32_t c) {
    char b[4];
    if (c < 0x80) {
        s_chr(s, (char)c);
        return;
    }
    if (c < 0x800) {
        b[0] = (char)(0xC0 | (c >> 6));
        b[1] = (char)(0x80 | (c & 0x3F));
        s_add(s, b, 2);
    } else if (c < 0x10000) {
        b[0] = (char)(0xE0 | (c >> 12));
        b[1] = (char)(0x80 | ((c >> 6) & 0x3F));
        b[2] = (char)(0x80 | (c & 0x3F));
        s_add(s, b, 3);
    } else {
        b[0] = (char)(0xF0 | (c >> 18));
        b[1] = (char)(0x80 | ((c >> 12) & 0x3F));
        b[2] = (char)(0x80 | ((c >> 6) & 0x3F));
        b[3] = (char)(0x80 | (c & 0x3F));
        s_add(s, b, 4);
    }
}

/* Python's str.isprintable for one code point: exact for ASCII, Latin-1 and every control, format, separator,
 * surrogate, private-use and noncharacter code point (Unicode 14, Python 3.11); of the unassigned ones, the
 * large blocks (a small unassigned gap inside a script counts as printable here). */
static const uint32_t NOT_PRINTABLE[][2] = {
    {0x80, 0xa0}, {0xad, 0xad}, {0x600, 0x605}, {0x61c, 0x61c}, {0x6dd, 0x6dd}, {0x70f, 0x70f},
    {0x890, 0x891}, {0x8e2, 0x8e2}, {0x1680, 0x1680}, {0x180e, 0x180e}, {0x2000, 0x200f}, {0x2028, 0x202f},
    {0x205f, 0x2064}, {0x2066, 0x206f}, {0x3000, 0x3000}, {0xd800, 0xf8ff}, {0xfdd0, 0xfdef}, {0xfeff, 0xfeff},
    {0xfff9, 0xfffb}, {0x10d3a, 0x10e5f}, {0x110bd, 0x110bd}, {0x110cd, 0x110cd}, {0x11af9, 0x11bff},
    {0x11daa, 0x11edf}, {0x12544, 0x12f8f}, {0x13430, 0x143ff}, {0x14647, 0x167ff}, {0x16b90, 0x16e3f},
    {0x18d09, 0x1afef}, {0x1b2fc, 0x1bbff}, {0x1bca0, 0x1ceff}, {0x1d173, 0x1d17a}, {0x1dab0, 0x1deff},
    {0x1e150, 0x1e28f}, {0x1e300, 0x1e7df}, {0x1e960, 0x1ec70}, {0x1eef2, 0x1efff}, {0x1fbfa, 0x1ffff},
    {0x2ebe1, 0x2f7ff}, {0x2fa1e, 0x2ffff}, {0x3134b, 0xe0001}, {0xe0020, 0xe007f}, {0xe01f0, 0x10ffff},
};

static int printable(uint32_t c) {
    if (c < 0x20 || c == 0x7f) return 0;
    if (c < 0x7f) return 1;
    if ((c & 0xFFFE) == 0xFFFE) return 0;
    for (size_t i = 0; i < sizeof NOT_PRINTABLE / sizeof NOT_PRINTABLE[0]; i++)
        if (c >= NOT_PRINTABLE[i][0] && c <= NOT_PRINTABLE[i][1]) return 0;
    return 1;
}

/* repr() of the str Python makes of these bytes (UTF-8 out). */
static void s_repr(str_t *out, const char *z) {
    const unsigned char *s = (const unsigned char *)z;
    size_t n = strlen(z);
    char q = memchr(s, '\'', n) && !memchr(s, '"', n) ? '"' : '\'';
    s_chr(out, q);
    for (size_t i = 0; i < n;) {
        uint32_t c = u8_next(s, n, &i);
        if (c == (uint32_t)(unsigned char)q || c == '\\') {
            s_chr(out, '\\');
            s_chr(out, (char)c);
        } else if (c == '\t') {
            s_cat(out, "\\t");
        } else if (c == '\n') {
            s_cat(out, "\\n");
        } else if (c == '\r') {
            s_cat(out, "\\r");
        } else if (printable(c)) {
            s_u8(out, c);
        } else if (c <= 0xff) {
            s_fmt(out, "\\x%02x", (unsigned)c);
        } else if (c <= 0xffff) {
            s_fmt(out, "\\u%04x", (unsigned)c);
        } else {
            s_fmt(out, "\\U%08x", (unsigned)c);
        }
    }
    s_chr(out, q);
}

/* Keep the first `keep` code points of UTF-8 text (PyUnicode_FromFormat's "%.200R"). */
static void s_keep_chars(str_t *s, size_t keep) {
    size_t i = 0, k = 0;
    while (i < s->n && k < keep) {
        u8_next((const unsigned char *)s->p, s->n, &i);
        k++;
    }
    s->n = i;
    s->p[i] = '\0';
}

/* str(OSError(err, strerror(err), filename)): "[Errno N] <strerror>" and ": '<filename>'" when there is one. */
static void s_oserror(str_t *out, int err, const char *filename) {
    s_fmt(out, "[Errno %d] %s", err, strerror(err));
    if (filename != NULL) {
        s_cat(out, ": ");
        s_repr(out, filename);
    }
}

/* json.dumps of a str (ensure_ascii). */
static void s_json(str_t *out, const char *z) {
    const unsigned char *s = (const unsigned char *)z;
    size_t n = strlen(z);
    s_chr(out, '"');
    for (size_t i = 0; i < n;) {
        uint32_t c = u8_next(s, n, &i);
        switch (c) {
        case '"': s_cat(out, "\\\""); break;
        case '\\': s_cat(out, "\\\\"); break;
        case '\n': s_cat(out, "\\n"); break;
        case '\r': s_cat(out, "\\r"); break;
        case '\t': s_cat(out, "\\t"); break;
        case '\b': s_cat(out, "\\b"); break;
        case '\f': s_cat(out, "\\f"); break;
        default:
            if (c >= ' ' && c <= '~') {
                s_chr(out, (char)c);
            } else if (c < 0x10000) {
                s_fmt(out, "\\u%04x", (unsigned)c);
            } else {
                c -= 0x10000;
                s_fmt(out, "\\u%04x\\u%04x", (unsigned)(0xD800 | (c >> 10)), (unsigned)(0xDC00 | (c & 0x3FF)));
            }
        }
    }
    s_chr(out, '"');
}

/* repr(float): the shortest digits that read back as `x`, laid out as Python lays them out. */
static void s_pyfloat(str_t *out, double x) {
    char tmp[64];
    for (int p = 1; p <= 17; p++) {
        snprintf(tmp, sizeof tmp, "%.*e", p - 1, x);
        if (strtod(tmp, NULL) == x) break;
    }
    const char *s = tmp;
    if (*s == '-') {
        s_chr(out, '-');
        s++;
    }
    char digits[32];
    int nd = 0;
    for (; *s && *s != 'e'; s++)
        if (*s >= '0' && *s <= '9' && nd < (int)sizeof digits) digits[nd++] = *s;
    int exp = *s == 'e' ? atoi(s + 1) : 0;
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    int decpt = exp + 1;
    if (decpt <= -4 || decpt > 16) {
        s_chr(out, digits[0]);
        if (nd > 1) {
            s_chr(out, '.');
            s_add(out, digits + 1, (size_t)nd - 1);
        }
        s_fmt(out, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    } else if (decpt <= 0) {
        s_cat(out, "0.");
        for (int i = 0; i < -decpt; i++) s_chr(out, '0');
        s_add(out, digits, (size_t)nd);
    } else if (decpt >= nd) {
        s_add(out, digits, (size_t)nd);
        for (int i = nd; i < decpt; i++) s_chr(out, '0');
        s_cat(out, ".0");
    } else {
        s_add(out, digits, (size_t)decpt);
        s_chr(out, '.');
        s_add(out, digits + decpt, (size_t)(nd - decpt));
    }
}

/* ---- clocks ----------------------------------------------------------------------------------------- */
/* time.time(): the realtime clock in nanoseconds, made a float as CPython makes it. */
static double py_time(void) {
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0) return 0.0;
    long long ns = (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
    if (ns % 1000000000LL == 0) return (double)(ns / 1000000000LL);
    volatile double d = (double)ns;
    d /= 1e9;
    return d;
}

static long long mono_ns(void) {
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) return 0;
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* shim.py's `_stamp`: "YYYY-MM-DDTHH:MM:SS.ffffffZ " for now (UTC; the microseconds truncated as
 * `int(now % 1 * 1e6)` truncates them). */
static void s_stamp(str_t *out) {
    double now = py_time();
    double whole = (double)(long long)now;
    if (whole > now) whole -= 1.0; /* floor */
    time_t secs = (time_t)whole;
    long us = (long)((now - whole) * 1e6);
    struct tm tm;
    if (gmtime_r(&secs, &tm) == NULL) memset(&tm, 0, sizeof tm);
    s_fmt(out, "%d-%02d-%02dT%02d:%02d:%02d.%06ldZ ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
          tm.tm_min, tm.tm_sec, us);
}

/* ---- files ------------------------------------------------------------------------------------------ */
/* Close a descriptor whose work is done: Linux closes it whatever close() returns, and a read end or a file
 * whose content was checked already has nothing left to report. */
static void discard(int fd) {
    if (close(fd) != 0) {
        /* nothing to undo */
    }
}

static void done_with(DIR *d) {
    if (closedir(d) != 0) {
        /* as discard() */
    }
}

/* Sleep `ns` nanoseconds (the signals that matter are blocked: an interruption only resumes the sleep). */
static void sleep_ns(long long ns) {
    struct timespec ts = {(time_t)(ns / 1000000000LL), (long)(ns % 1000000000LL)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static int write_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* The whole file into `out` (replaced); -1 when it cannot be read. */
static int read_file(const char *path, str_t *out) {
    out->n = 0;
    s_reserve(out, 0);
    out->p[0] = '\0';
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    for (;;) {
        s_reserve(out, 4096);
        ssize_t r = read(fd, out->p + out->n, out->cap - out->n - 1);
        if (r < 0) {
            if (errno == EINTR) continue;
            discard(fd);
            return -1;
        }
        if (r == 0) break;
        out->n += (size_t)r;
    }
    out->p[out->n] = '\0';
    discard(fd);
    return 0;
}

/* shim.py's `_write_atomic`: `<path>.tmp` written whole, then renamed over `path`. */
static int write_atomic(const char *path, const char *data, size_t n) {
    char *tmp = s_join(path, ".tmp");
    int rc = -1;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd >= 0) {
        int bad = write_all(fd, data, n);
        int err = errno;
        if (close(fd) != 0 && !bad) {
            bad = -1;
            err = errno;
        }
        if (!bad && rename(tmp, path) == 0) rc = 0;
        else if (bad) errno = err;
    }
    free(tmp);
    return rc;
}

/* Open for writing as Python's open(path, "w") does, write `data`, close: best effort. */
static int write_small(const char *path, const char *data) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) return -1;
    int rc = write_all(fd, data, strlen(data));
    if (close(fd) != 0) rc = -1;
    return rc;
}

static void fatal(const char *what, const char *path) __attribute__((noreturn));
static void fatal(const char *what, const char *path) {
    int err = errno;
    str_t m = {0};
    s_fmt(&m, "arena-shim: %s", what);
    if (path != NULL) {
        s_chr(&m, ' ');
        s_repr(&m, path);
    }
    s_fmt(&m, ": %s\n", strerror(err));
    if (write_all(2, m.p, m.n) != 0) {
        /* stderr is gone: the exit status says it */
    }
    exit(1);
}

/* ---- the log ---------------------------------------------------------------------------------------- */
/* shim.py's `Log`: rotated past `limit` bytes (the newest half stays, the older half moves to `<log>.1`) with
 * a line saying so. One write() per line on an O_APPEND file. */
typedef struct {
    const char *path;
    long long limit, size;
    int fd;
    str_t line; /* the line being written, reused */
} log_t;

static int make_dirs(const char *path);

/* The folder `path` is in, made as make_dirs does; 0 when it is there (or `path` names none), else -1 with errno. */
static int make_parent(const char *path) {
    char *parent = strdup(path);
    if (parent == NULL) oom();
    char *slash = strrchr(parent, '/');
    int rc = 0;
    if (slash != NULL && slash != parent) {
        *slash = '\0';
        rc = make_dirs(parent);
    }
    int err = errno;
    free(parent);
    errno = err;
    return rc;
}

/* os.makedirs(path, exist_ok=True): its missing parents first. */
static int make_dirs(const char *path) {
    if (mkdir(path, 0777) == 0 || errno == EEXIST) return 0;
    if (errno != ENOENT || make_parent(path) != 0) return -1;
    return mkdir(path, 0777) == 0 || errno == EEXIST ? 0 : -1;
}

static int log_open(log_t *log, const char *path, long long limit) {
    log->path = path;
    log->limit = limit;
    log->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
    if (log->fd < 0 && errno == ENOENT && make_parent(path) == 0) /* `logs/`: the job's first replica makes it */
        log->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
    if (log->fd < 0) return -1;
    off_t end = lseek(log->fd, 0, SEEK_END);
    log->size = end < 0 ? 0 : (long long)end;
    return 0;
}

static void log_rotate(log_t *log) {
    char *older = s_join(log->path, ".1");
    int moved = rename(log->path, older) == 0;
    free(older);
    if (!moved) { /* the log stays as it is, unbounded rather than lost */
        log->limit = 0;
        return;
    }
    if (log->fd >= 0) discard(log->fd);
    log->fd = open(log->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
    const char *slash = strrchr(log->path, '/');
    str_t m = {0};
    s_stamp(&m);
    s_fmt(&m, "arena: log rotated at %lld bytes (limits.log_bytes_per_replica %lld): the previous part is in %s.1, "
          "older output was dropped\n", log->size, log->limit, slash ? slash + 1 : log->path);
    log->size = 0;
    if (log->fd >= 0 && write_all(log->fd, m.p, m.n) == 0) {
        off_t pos = lseek(log->fd, 0, SEEK_CUR);
        log->size = pos < 0 ? (long long)m.n : (long long)pos;
    }
    free(m.p);
}

/* One line: its stamp, `text`, and a newline when `newline`. -1 when it could not be written. */
static int log_write(log_t *log, const char *text, size_t n, int newline) {
    str_t *line = &log->line;
    line->n = 0;
    s_stamp(line);
    s_add(line, text, n);
    if (newline) s_chr(line, '\n');
    long long len = (long long)line->n;
    long long half = log->limit / 2 > 1 ? log->limit / 2 : 1;
    if (log->limit && log->size + len > half && log->size) log_rotate(log);
    int rc = log->fd >= 0 ? write_all(log->fd, line->p, line->n) : -1;
    log->size += len;
    return rc;
}

static void log_close(log_t *log) {
    if (log->fd >= 0) discard(log->fd);
    log->fd = -1;
}

/* ---- options ---------------------------------------------------------------------------------------- */
static struct {
    const char *lock, *pid, *exit, *log, *cgroup, *marker, *cwd;
    long long log_bytes;
    char **cmd;
} opt;

static void usage(const char *why, const char *arg) __attribute__((noreturn));
static void usage(const char *why, const char *arg) {
    str_t m = {0};
    s_fmt(&m, "arena-shim: %s", why);
    if (arg != NULL) {
        s_chr(&m, ' ');
        s_repr(&m, arg); /* one line, whatever the argument holds */
    }
    s_cat(&m, "\nusage: " USAGE "\n");
    if (write_all(2, m.p, m.n) != 0) {
        /* the exit status says it */
    }
    exit(2);
}

/* A number of bytes in decimal; one past what a file can hold is as good as no limit. */
static int parse_size(const char *s, long long *out) {
    long long v = 0;
    if (*s == '\0') return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return -1;
        v = v > (LLONG_MAX - (*s - '0')) / 10 ? LLONG_MAX : v * 10 + (*s - '0');
    }
    *out = v;
    return 0;
}

/* `--name value` pairs up to the first `--` (shim.py's `_options` splits there too), then the command. */
static void parse(int argc, char **argv) {
    int split = 1;
    while (split < argc && strcmp(argv[split], "--") != 0) split++;
    if (split >= argc) usage("no -- before the replica's command", NULL);
    const char *log_bytes = NULL;
    for (int i = 1; i < split; i += 2) {
        const char *name = argv[i];
        if (i + 1 >= split) usage("an option without its value:", name);
        const char *value = argv[i + 1];
        if (strcmp(name, "--lock") == 0) opt.lock = value;
        else if (strcmp(name, "--pid") == 0) opt.pid = value;
        else if (strcmp(name, "--exit") == 0) opt.exit = value;
        else if (strcmp(name, "--log") == 0) opt.log = value;
        else if (strcmp(name, "--log-bytes") == 0) log_bytes = value;
        else if (strcmp(name, "--cgroup") == 0) opt.cgroup = value;
        else if (strcmp(name, "--marker") == 0) opt.marker = value;
        else if (strcmp(name, "--cwd") == 0) opt.cwd = value;
        else usage("unknown option", name);
    }
    if (opt.lock == NULL) usage("missing --lock", NULL);
    if (opt.pid == NULL) usage("missing --pid", NULL);
    if (opt.exit == NULL) usage("missing --exit", NULL);
    if (opt.log == NULL) usage("missing --log", NULL);
    if (log_bytes != NULL && parse_size(log_bytes, &opt.log_bytes) != 0)
        usage("--log-bytes is not a number of bytes:", log_bytes);
    if (opt.cgroup != NULL && *opt.cgroup == '\0') opt.cgroup = NULL; /* "" is none, as in shim.py */
    if (opt.marker != NULL && *opt.marker == '\0') opt.marker = NULL;
    opt.cmd = argv + split + 1;
    if (opt.cmd[0] == NULL) usage("no command after --", NULL);
}

/* With --cwd, a relative path among the options means the directory the shim started in, as without it. */
static const char *absolute(const char *path, const char *base) {
    if (path == NULL || base == NULL || *path == '\0' || *path == '/') return path;
    str_t s = {0};
    s_cat(&s, base);
    s_chr(&s, '/');
    s_cat(&s, path);
    return s.p;
}

/* ---- process helpers (shim.py's, the same walks) ---------------------------------------------------- */
static str_t scratch; /* file contents read by the walks, reused */

typedef struct {
    pid_t *v;
    size_t n, cap;
} pids_t;

static void pids_add(pids_t *s, pid_t p) {
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i] == p) return;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        pid_t *v = realloc(s->v, cap * sizeof *v);
        if (v == NULL) oom();
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = p;
}

static int numeric(const char *name) {
    if (*name == '\0') return 0;
    for (; *name; name++)
        if (*name < '0' || *name > '9') return 0;
    return 1;
}

/* True for a process that has exited and waits to be reaped (or is gone). */
static int zombie(pid_t pid) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    if (read_file(path, &scratch) != 0) return 1;
    const char *close_paren = NULL;
    for (size_t i = 0; i < scratch.n; i++)
        if (scratch.p[i] == ')') close_paren = scratch.p + i;
    if (close_paren == NULL || close_paren + 2 >= scratch.p + scratch.n) return 0;
    char state = close_paren[2];
    return state == 'Z' || state == 'X';
}

/* `dir`/`name`, allocated. */
static char *child_path(const char *dir, const char *name) {
    str_t s = {0};
    s_cat(&s, dir);
    s_chr(&s, '/');
    s_cat(&s, name);
    return s.p;
}

/* The names of the directories in `dir` (not followed through symbolic links, as os.walk), NUL-separated in
 * `subs`; -1 when `dir` cannot be listed (os.walk then skips it whole). */
static int subdirs(const char *dir, str_t *subs) {
    DIR *d = opendir(dir);
    if (d == NULL) return -1;
    s_reserve(subs, 0);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        int is_dir = e->d_type == DT_DIR;
        if (e->d_type == DT_UNKNOWN) {
            struct stat st;
            char *q = child_path(dir, e->d_name);
            is_dir = lstat(q, &st) == 0 && S_ISDIR(st.st_mode);
            free(q);
        }
        if (is_dir) s_add(subs, e->d_name, strlen(e->d_name) + 1);
    }
    done_with(d);
    return 0;
}

/* The pids listed in the cgroup and its children (top-down, as os.walk), zombies included. */
static void members_walk(const char *dir, pids_t *out) {
    str_t subs = {0};
    if (subdirs(dir, &subs) != 0) return;
    char *procs = s_join(dir, "/cgroup.procs");
    if (read_file(procs, &scratch) == 0) {
        char *save = NULL;
        for (char *tok = strtok_r(scratch.p, " \t\n\r\v\f", &save); tok; tok = strtok_r(NULL, " \t\n\r\v\f", &save)) {
            if (!numeric(tok)) break; /* int() raised: the rest of this file is not read */
            pids_add(out, (pid_t)atol(tok));
        }
    }
    free(procs);
    for (size_t i = 0; i < subs.n; i += strlen(subs.p + i) + 1) {
        char *q = child_path(dir, subs.p + i);
        members_walk(q, out);
        free(q);
    }
    free(subs.p);
}

/* shim.py's `cgroup_members`: the live pids in the cgroup and its children, added to `out`; how many. */
static size_t cgroup_members(const char *cgroup, pids_t *out) {
    pids_t all = {0};
    members_walk(cgroup, &all);
    size_t found = 0;
    for (size_t i = 0; i < all.n; i++) {
        if (!zombie(all.v[i])) {
            pids_add(out, all.v[i]);
            found++;
        }
    }
    free(all.v);
    return found;
}

/* SIGKILL every process of the cgroup at once (`cgroup.kill`, Linux 5.14+). */
static int cgroup_kill(const char *cgroup) {
    char *path = s_join(cgroup, "/cgroup.kill");
    int r = write_small(path, "1"); /* fails on an older kernel: each process is then signalled on its own */
    free(path);
    return r;
}

/* SIGKILL every process of the cgroup: at once where the kernel can, else one by one. */
static void kill_members(const char *cgroup) {
    if (cgroup_kill(cgroup) == 0) return;
    pids_t members = {0};
    cgroup_members(cgroup, &members);
    for (size_t i = 0; i < members.n; i++)
        if (kill(members.v[i], SIGKILL) != 0) {
            /* gone already */
        }
    free(members.v);
}

/* rmdir bottom-up (os.walk(topdown=False)): what is empty goes, a populated cgroup stays. 0 when `dir` is gone,
 * else the errno of its rmdir. */
static int remove_tree(const char *dir) {
    str_t subs = {0};
    if (subdirs(dir, &subs) != 0) return errno == ENOENT ? 0 : errno;
    for (size_t i = 0; i < subs.n; i += strlen(subs.p + i) + 1) {
        char *q = child_path(dir, subs.p + i);
        remove_tree(q);
        free(q);
    }
    free(subs.p);
    return rmdir(dir) == 0 || errno == ENOENT ? 0 : errno; /* populated: it stays */
}

/* Remove the (empty) cgroup and its empty children; a populated one stays. 0 when it is gone, else the errno of
 * its own rmdir (EBUSY: populated). */
static int cgroup_remove(const char *cgroup) {
    if (rmdir(cgroup) == 0 || errno == ENOENT) return 0;
    return remove_tree(cgroup);
}

/* shim.py's `fresh_cgroup`: the replica's cgroup, made here (by the one shim that holds the replica's lock, off
 * the daemon's path) and empty: what an earlier run left in it is ended first. NULL when it cannot be made:
 * the marker then finds the replica's processes. */
static const char *fresh_cgroup(const char *cgroup) {
    if (mkdir(cgroup, 0777) == 0) return cgroup; /* the usual case: its job's cgroup is there, its own is not */
    if (errno == EEXIST) {
        /* SIGKILL lands as each process next runs, and the cgroup empties a moment later: the replica starts
         * once they are gone (else their exit could outlast the replica's and keep its cgroup). */
        long long deadline = mono_ns() + LEFTOVER_WAIT_NS;
        for (;;) {
            kill_members(cgroup);
            if (cgroup_remove(cgroup) != EBUSY || mono_ns() >= deadline) break;
            sleep_ns(GONE_STEP_NS);
        }
    } else if (errno != ENOENT) {
        return NULL;
    }
    return make_dirs(cgroup) == 0 ? cgroup : NULL;
}

/* One walk of /proc: the live processes (but `skip`) of process group `pgid` (when not 0) and those whose
 * environment carries the replica's marker `tag` (when not NULL). */
static void proc_walk(const char *tag, pid_t pgid, pid_t skip, pids_t *out) {
    DIR *d = opendir("/proc");
    if (d == NULL) return;
    str_t needle = {0};
    if (tag != NULL) {
        s_chr(&needle, '\0');
        s_cat(&needle, MARKER "=");
        s_cat(&needle, tag);
        s_chr(&needle, '\0');
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!numeric(e->d_name)) continue;
        pid_t pid = (pid_t)atol(e->d_name);
        if (pid == skip) continue;
        int match = 0;
        if (pgid != 0) {
            pid_t g = getpgid(pid);
            match = g >= 0 && g == pgid;
        }
        if (!match && tag != NULL) {
            char path[64];
            snprintf(path, sizeof path, "/proc/%d/environ", (int)pid);
            if (read_file(path, &scratch) == 0) {
                /* the needle in "\0" + environ */
                match = (scratch.n >= needle.n - 1 && memcmp(scratch.p, needle.p + 1, needle.n - 1) == 0) ||
                        memmem(scratch.p, scratch.n, needle.p, needle.n) != NULL;
            }
        }
        if (match && !zombie(pid)) pids_add(out, pid);
    }
    done_with(d);
    free(needle.p);
}

/* shim.py's `end_all` with SIGKILL: every process of the replica but `me` (its cgroup, else its marker; and
 * its process group), each process group whole first (never the caller's own), then each process. Returns
 * how many were signalled (0: nothing of it is left). */
static size_t end_all(const char *cgroup, const char *tag, pid_t pgid, pid_t me) {
    pids_t targets = {0};
    size_t members = cgroup != NULL ? cgroup_members(cgroup, &targets) : 0;
    if (members) cgroup_kill(cgroup);
    proc_walk(members ? NULL : tag, pgid, me, &targets);
    pids_t groups = {0};
    pid_t own = getpgid(0);
    size_t n = 0;
    for (size_t i = 0; i < targets.n; i++) {
        if (targets.v[i] == me) continue;
        targets.v[n++] = targets.v[i];
    }
    targets.n = n;
    for (size_t i = 0; i < targets.n; i++) {
        pid_t g = getpgid(targets.v[i]);
        if (g >= 0) pids_add(&groups, g);
    }
    for (size_t i = 0; i < groups.n; i++)
        if (groups.v[i] != own && groups.v[i] != 0 && groups.v[i] != 1 && killpg(groups.v[i], SIGKILL) != 0) {
            /* gone already */
        }
    for (size_t i = 0; i < targets.n; i++)
        if (kill(targets.v[i], SIGKILL) != 0) {
            /* gone already */
        }
    free(groups.v);
    free(targets.v);
    return n;
}

/* ---- the replica's main process --------------------------------------------------------------------- */
static pid_t child = -1;
static int main_done, main_status;

/* Reap what has exited (noting the main process's status); 1 when no child is left at all. */
static int reap(void) {
    for (;;) {
        int status;
        pid_t got = waitpid(-1, &status, WNOHANG);
        if (got < 0) {
            if (errno == EINTR) continue;
            return errno == ECHILD;
        }
        if (got == 0) return 0;
        if (got == child && !main_done) {
            main_done = 1;
            main_status = status;
        }
    }
}

/* posix_spawnp's path search (glibc's execvp without its fallback to /bin/sh for a file that is no
 * executable format: that fails with ENOEXEC, as `os.posix_spawnp` fails). Returns only on failure. */
static void exec_search(char **argv) {
    const char *file = argv[0];
    if (*file == '\0') {
        errno = ENOENT;
        return;
    }
    if (strchr(file, '/') != NULL) {
        execve(file, argv, environ);
        return;
    }
    const char *path = getenv("PATH");
    if (path == NULL) path = "/bin:/usr/bin";
    size_t file_len = strnlen(file, NAME_MAX + 1) + 1;
    size_t path_len = strnlen(path, PATH_MAX - 1) + 1;
    if (file_len - 1 > NAME_MAX) {
        errno = ENAMETOOLONG;
        return;
    }
    char *buf = malloc(path_len + file_len + 1);
    if (buf == NULL) {
        errno = ENOMEM;
        return;
    }
    int eacces = 0, last = ENOENT;
    for (const char *p = path, *sub;; p = sub) {
        sub = strchrnul(p, ':');
        if ((size_t)(sub - p) >= path_len) { /* longer than PATH_MAX: skipped */
            if (*sub == '\0') break;
            continue;
        }
        memcpy(buf, p, (size_t)(sub - p));
        char *end = buf + (sub - p);
        *end = '/';
        memcpy(end + (p < sub), file, file_len);
        execve(buf, argv, environ);
        switch (last = errno) {
        case EACCES:
            eacces = 1;
            /* fall through */
        case ENOENT:
        case ESTALE:
        case ENOTDIR:
        case ENODEV:
        case ETIMEDOUT:
            break;
        default:
            free(buf);
            return;
        }
        if (*sub++ == '\0') break;
    }
    free(buf);
    errno = eacces ? EACCES : last;
}

/* A signal's default disposition back. libc refuses the signals it keeps for itself (32 and 33 in glibc), yet
 * glibc's posix_spawn leaves them ignored in what it starts, and an ignored signal stays ignored across exec:
 * those are set by the system call itself. */
static void default_disposition(int sig) {
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    if (sigaction(sig, &dfl, NULL) == 0 || errno != EINVAL) return;
#if defined(SYS_rt_sigaction) && !defined(__mips__)
    struct { /* the kernel's struct sigaction: the handler first, then (zero) flags, restorer and mask */
        void (*handler)(int);
        unsigned long flags;
        void (*restorer)(void);
        unsigned long long mask[2];
    } k;
    memset(&k, 0, sizeof k);
    k.handler = SIG_DFL;
    if (syscall(SYS_rt_sigaction, sig, &k, NULL, (size_t)8) != 0) {
        /* not a signal on this kernel */
    }
#endif
}

/* In the forked child: into the replica's cgroup (best effort), stdin from /dev/null, stdout and stderr into
 * the pipe, every signal's default back and none blocked, then the command. Whatever fails goes to the parent
 * as an errno on the error pipe. */
static void run_child(const char *procs, int out, int errpipe) __attribute__((noreturn));
static void run_child(const char *procs, int out, int errpipe) {
    if (procs != NULL && write_small(procs, "0") != 0) {
        /* best effort: the marker still finds it */
    }
    int null = open("/dev/null", O_RDONLY);
    if (null < 0) goto fail;
    if (null != 0) {
        if (dup2(null, 0) < 0) goto fail;
        discard(null);
    }
    if (dup2(out, 1) < 0 || dup2(out, 2) < 0) goto fail;
    for (int s = 1; s < NSIG; s++)
        if (s != SIGKILL && s != SIGSTOP) default_disposition(s);
    sigset_t none;
    sigemptyset(&none);
    if (sigprocmask(SIG_SETMASK, &none, NULL) != 0) goto fail;
    exec_search(opt.cmd);
fail:;
    int err = errno;
    if (write_all(errpipe, (const char *)&err, sizeof err) != 0) {
        /* the parent sees the exit without an exec */
    }
    _exit(127);
}

/* Start the replica's main process; its pid and the read end of its output, or -1 with why in `err`. */
static int start(int *out, str_t *err) {
    int pipefd[2], errpipe[2];
    if (pipe2(pipefd, O_CLOEXEC) != 0) {
        s_oserror(err, errno, NULL);
        return -1;
    }
    if (pipe2(errpipe, O_CLOEXEC) != 0) {
        int e = errno;
        discard(pipefd[0]);
        discard(pipefd[1]);
        s_oserror(err, e, NULL);
        return -1;
    }
    char *procs = opt.cgroup != NULL ? s_join(opt.cgroup, "/cgroup.procs") : NULL;
    pid_t pid = fork();
    if (pid == 0) run_child(procs, pipefd[1], errpipe[1]);
    int fork_err = errno;
    free(procs);
    discard(pipefd[1]);
    discard(errpipe[1]);
    if (pid < 0) {
        discard(pipefd[0]);
        discard(errpipe[0]);
        s_oserror(err, fork_err, opt.cmd[0]);
        return -1;
    }
    int code = 0;
    ssize_t r;
    do r = read(errpipe[0], &code, sizeof code);
    while (r < 0 && errno == EINTR);
    discard(errpipe[0]);
    if (r == (ssize_t)sizeof code) { /* it never ran: reaped here, as posix_spawn reaps it */
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
        }
        discard(pipefd[0]);
        s_oserror(err, code, opt.cmd[0]);
        return -1;
    }
    child = pid;
    *out = pipefd[0];
    return 0;
}

/* shim.py's `_holds`: the pid listed in the cgroup's cgroup.procs. */
static int holds(const char *cgroup, pid_t pid) {
    char *path = s_join(cgroup, "/cgroup.procs");
    int found = 0;
    if (read_file(path, &scratch) == 0) {
        char want[32];
        snprintf(want, sizeof want, "%d", (int)pid);
        char *save = NULL;
        for (char *tok = strtok_r(scratch.p, " \t\n\r\v\f", &save); tok && !found;
             tok = strtok_r(NULL, " \t\n\r\v\f", &save))
            found = strcmp(tok, want) == 0;
    }
    free(path);
    return found;
}

/* ---- the replica's output --------------------------------------------------------------------------- */
static struct {
    int fd;      /* the pipe's read end, -1 at its end */
    char *buf;   /* what was read and not written yet: less than a piece once written out */
    size_t n;
} pump = {-1, NULL, 0};

/* Write out every whole line (and every piece of PIECE bytes without a newline), as `readline(LINE_MAX)`. */
static void pump_lines(log_t *log) {
    size_t off = 0;
    for (;;) {
        size_t avail = pump.n - off;
        char *nl = memchr(pump.buf + off, '\n', avail < PIECE ? avail : PIECE);
        if (nl != NULL) {
            size_t len = (size_t)(nl - (pump.buf + off)) + 1;
            log_write(log, pump.buf + off, len, 0);
            off += len;
        } else if (avail >= PIECE) {
            log_write(log, pump.buf + off, PIECE, 1);
            off += PIECE;
        } else {
            break;
        }
    }
    if (off) {
        memmove(pump.buf, pump.buf + off, pump.n - off);
        pump.n -= off;
    }
}

/* One read of the pipe; at its end the last partial line is written (with a newline) and the pipe closed. */
static void pump_read(log_t *log) {
    ssize_t r = read(pump.fd, pump.buf + pump.n, 2 * PIECE - pump.n);
    if (r < 0 && (errno == EINTR || errno == EAGAIN)) return;
    if (r > 0) {
        pump.n += (size_t)r;
        pump_lines(log);
        return;
    }
    if (pump.n) log_write(log, pump.buf, pump.n, 1);
    pump.n = 0;
    discard(pump.fd);
    pump.fd = -1;
}

/* Read the output until `until` (monotonic ns) or its end (`stop_at_end`); 1 when it has ended. */
static int pump_until(log_t *log, long long until, int stop_at_end) {
    for (;;) {
        long long left = until - mono_ns();
        if (pump.fd < 0 && stop_at_end) return 1;
        if (left <= 0) return pump.fd < 0;
        if (pump.fd < 0) {
            sleep_ns(left);
            continue;
        }
        struct timespec ts = {(time_t)(left / 1000000000LL), (long)(left % 1000000000LL)};
        struct pollfd p = {pump.fd, POLLIN, 0};
        int r = ppoll(&p, 1, &ts, NULL);
        if (r > 0) pump_read(log);
        else if (r < 0 && errno != EINTR) sleep_ns(1000000);
    }
}

/* ---- the shim --------------------------------------------------------------------------------------- */
static int write_exit(int code, const char *error) {
    str_t j = {0};
    s_fmt(&j, "{\"code\": %d, \"ts\": ", code);
    s_pyfloat(&j, py_time());
    if (error != NULL) {
        s_cat(&j, ", \"error\": ");
        s_json(&j, error);
    }
    s_chr(&j, '}');
    int rc = write_atomic(opt.exit, j.p, j.n);
    free(j.p);
    return rc;
}

/* Record a replica that cannot start, as shim.py does (a line in its log, the error in its exit file). */
static int not_started(log_t *log, const char *why) {
    str_t line = {0};
    s_cat(&line, "arena: cannot start replica: ");
    s_cat(&line, why);
    s_chr(&line, '\n');
    int wrote = log_write(log, line.p, line.n, 0);
    free(line.p);
    log_close(log);
    return wrote;
}

/* spawnd.py's `_unstartable` for the working directory: a line in the log (never rotated), exit 127. */
static int unstartable_cwd(int err) {
    str_t why = {0};
    s_cat(&why, "cannot start replica: ");
    s_oserror(&why, err, opt.cwd);
    log_t log = {0};
    if (log_open(&log, opt.log, 0) == 0) {
        str_t line = {0};
        s_cat(&line, "arena: ");
        s_cat(&line, why.p);
        s_chr(&line, '\n');
        int wrote = log_write(&log, line.p, line.n, 0);
        log_close(&log);
        if (wrote == 0 && write_exit(127, why.p) != 0) {
            /* as `_unstartable`: an OSError ends it with 127 all the same */
        }
    }
    return 127;
}

/* A Python int() of one comma-separated piece: 0 when it is one, with its sign and size. */
static int py_int(const char *s, size_t n, int *negative, int *huge, unsigned long long *value) {
    while (n && strchr(" \t\n\v\f\r", s[0]) && s[0]) s++, n--;
    while (n && strchr(" \t\n\v\f\r", s[n - 1]) && s[n - 1]) n--;
    *negative = 0;
    *huge = 0;
    *value = 0;
    if (n && (*s == '+' || *s == '-')) {
        *negative = *s == '-';
        s++, n--;
    }
    if (n == 0) return -1;
    int digit_before = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '_') {
            if (!digit_before || i + 1 == n) return -1;
            digit_before = 0;
            continue;
        }
        if (s[i] < '0' || s[i] > '9') return -1;
        digit_before = 1;
        unsigned d = (unsigned)(s[i] - '0');
        if (*value > (ULLONG_MAX - d) / 10) *huge = 1;
        else *value = *value * 10 + d;
    }
    /* beyond a C long: PyLong_AsLong's OverflowError */
    if (*value > (unsigned long long)LONG_MAX + (*negative ? 1 : 0)) *huge = 1;
    return 0;
}

/* shim.py's `_pin`: this shim, and so the replica, pinned to `cores`; what fails is logged and the replica
 * runs unpinned. */
static void pin(const char *cores, log_t *log) {
    str_t why = {0};
    size_t len = strlen(cores);
    /* the pieces first, all of them (the list comprehension), then the CPU numbers (sched_setaffinity) */
    for (size_t a = 0; a <= len && why.n == 0;) {
        size_t b = a;
        while (b < len && cores[b] != ',') b++;
        int neg, huge;
        unsigned long long v;
        if (py_int(cores + a, b - a, &neg, &huge, &v) != 0) {
            char *piece = strndup(cores + a, b - a);
            if (piece == NULL) oom();
            s_cat(&why, "invalid literal for int() with base 10: ");
            str_t r = {0};
            s_repr(&r, piece);
            s_keep_chars(&r, 200);
            s_add(&why, r.p, r.n);
            free(r.p);
            free(piece);
        }
        a = b + 1;
    }
    cpu_set_t *set = NULL;
    size_t ncpus = 64;
    if (why.n == 0) {
        set = CPU_ALLOC(ncpus);
        if (set == NULL) oom();
        CPU_ZERO_S(CPU_ALLOC_SIZE(ncpus), set);
        for (size_t a = 0; a <= len && why.n == 0;) {
            size_t b = a;
            while (b < len && cores[b] != ',') b++;
            int neg, huge;
            unsigned long long v;
            py_int(cores + a, b - a, &neg, &huge, &v);
            if (huge) s_cat(&why, "Python int too large to convert to C long");
            else if (neg && v) s_cat(&why, "negative CPU number");
            else if (v > (unsigned long long)INT_MAX - 1) s_cat(&why, "CPU number too large");
            else {
                if (v >= ncpus) {
                    size_t grown = ncpus;
                    while (grown <= v) grown = grown > (size_t)INT_MAX / 2 ? (size_t)v + 1 : grown * 2;
                    cpu_set_t *bigger = CPU_ALLOC(grown);
                    if (bigger == NULL) oom();
                    CPU_ZERO_S(CPU_ALLOC_SIZE(grown), bigger);
                    memcpy(bigger, set, CPU_ALLOC_SIZE(ncpus));
                    CPU_FREE(set);
                    set = bigger;
                    ncpus = grown;
                }
                CPU_SET_S((size_t)v, CPU_ALLOC_SIZE(ncpus), set);
            }
            a = b + 1;
        }
    }
    if (why.n == 0 && sched_setaffinity(0, CPU_ALLOC_SIZE(ncpus), set) != 0) s_oserror(&why, errno, NULL);
    if (set != NULL) CPU_FREE(set);
    if (why.n) {
        str_t line = {0};
        s_fmt(&line, "arena: cannot pin the replica to CPUs %s: %s\n", cores, why.p);
        log_write(log, line.p, line.n, 0);
        free(line.p);
    }
    free(why.p);
}

/* Signals read from the signalfd: SIGCHLD reaps; the others are passed on to the main process while it runs
 * (the daemon signals every process of the replica; this reaches a child that left the group). The first
 * stop signal read is returned. */
static int signals(int sfd, int started) {
    int first = 0;
    struct signalfd_siginfo si[16];
    for (;;) {
        ssize_t r = read(sfd, si, sizeof si);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        for (size_t i = 0; i < (size_t)r / sizeof si[0]; i++) {
            int sig = (int)si[i].ssi_signo;
            if (sig == SIGCHLD) {
                if (started) reap();
                continue;
            }
            if (!first) first = sig;
            if (started && !main_done && kill(child, sig) != 0) {
                /* it is exiting */
            }
        }
    }
    return first;
}

int main(int argc, char **argv) {
    parse(argc, argv);
    for (int fd = 0; fd <= 2; fd++) /* a closed standard fd would be taken by a pipe below */
        if (fcntl(fd, F_GETFD) < 0 && errno == EBADF && open("/dev/null", O_RDWR) < 0)
            fatal("cannot open", "/dev/null");
    /* The stop signals and SIGCHLD are read from a signalfd: blocked from the start, so one that comes before
     * the replica starts is seen (it then never starts), never lost; as handlers would, defaults here. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    if (sigprocmask(SIG_BLOCK, &set, NULL) != 0) fatal("cannot block its signals", NULL);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = SIG_DFL; /* an ignored signal is never pending: the signalfd would not see it */
    int dfl[] = {SIGCHLD, SIGTERM, SIGINT, SIGHUP};
    for (size_t i = 0; i < sizeof dfl / sizeof dfl[0]; i++)
        if (sigaction(dfl[i], &sa, NULL) != 0) fatal("cannot set its signals", NULL);
    sa.sa_handler = SIG_IGN; /* as Python ignores them: a write error, not death */
    if (sigaction(SIGPIPE, &sa, NULL) != 0 || sigaction(SIGXFSZ, &sa, NULL) != 0)
        fatal("cannot set its signals", NULL);

    if (opt.cwd != NULL) {
        char *here = getcwd(NULL, 0);
        opt.lock = absolute(opt.lock, here);
        opt.pid = absolute(opt.pid, here);
        opt.exit = absolute(opt.exit, here);
        opt.log = absolute(opt.log, here);
        opt.cgroup = absolute(opt.cgroup, here);
        free(here);
    }
    /* One shim per replica: the lock (a POSIX record lock, what `lock_holder` probes), held for life. */
    int lock = open(opt.lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock < 0) fatal("cannot open the lock file", opt.lock);
    if (lockf(lock, F_TLOCK, 0) != 0) return 0; /* another shim runs this replica: it writes the files */
    struct stat st;
    if (stat(opt.exit, &st) == 0) return 0; /* this start has run already (a spawn resent) */
    pid_t me = getpid();
    if (setsid() < 0) {
        /* already a session leader (the spawner starts it so) */
    }
    if (opt.cwd != NULL && chdir(opt.cwd) != 0) return unstartable_cwd(errno);
    char pidtext[32];
    int n = snprintf(pidtext, sizeof pidtext, "%d", (int)me);
    if (write_atomic(opt.pid, pidtext, (size_t)n) != 0) fatal("cannot write the pid file", opt.pid);
    if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) {
        /* orphans then go to the next subreaper up: the walks below still find them */
    }
    int sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sfd < 0) fatal("cannot make a signalfd", NULL);
    log_t log = {0};
    if (log_open(&log, opt.log, opt.log_bytes) != 0) { /* as shim.py: the exit file says why */
        str_t why = {0};
        s_cat(&why, "cannot open the log: ");
        s_oserror(&why, errno, opt.log);
        if (write_exit(127, why.p) != 0) fatal("cannot write the exit file", opt.exit);
        return 127;
    }
    const char *cores = getenv(AFFINITY);
    if (cores != NULL && *cores) pin(cores, &log);
    int stopped = signals(sfd, 0);
    if (stopped) { /* stopped before it started: nothing to run */
        log_close(&log);
        if (write_exit(128 + stopped, NULL) != 0) fatal("cannot write the exit file", opt.exit);
        return 0;
    }
    if (opt.cgroup != NULL) opt.cgroup = fresh_cgroup(opt.cgroup);
    str_t err = {0};
    if (start(&pump.fd, &err) != 0) {
        if (opt.cgroup != NULL) cgroup_remove(opt.cgroup);
        not_started(&log, err.p);
        if (write_exit(127, err.p) != 0) fatal("cannot write the exit file", opt.exit);
        return 127;
    }
    /* In its cgroup, every descendant is found there; else by the marker (a walk over every environment). */
    int joined = opt.cgroup != NULL && holds(opt.cgroup, child);
    pump.buf = malloc(2 * PIECE);
    if (pump.buf == NULL) oom();

    while (!main_done) {
        struct pollfd p[2] = {{sfd, POLLIN, 0}, {pump.fd, POLLIN, 0}};
        int r = poll(p, pump.fd >= 0 ? 2 : 1, -1);
        if (r < 0) {
            if (errno != EINTR) sleep_ns(1000000); /* out of memory for a moment: not a busy loop */
            continue;
        }
        if (pump.fd >= 0 && p[1].revents) pump_read(&log);
        if (p[0].revents) signals(sfd, 1);
    }
    int code = WIFEXITED(main_status)     ? WEXITSTATUS(main_status)
               : WIFSIGNALED(main_status) ? 128 + WTERMSIG(main_status)
                                          : 0; /* killed: as a shell reports it */

    /* The main process is gone: end what it left behind, as a container's end does, then drain its output.
     * A subreaper with no child left has no descendant left (orphans are re-parented here). */
    pid_t pgid = getpgid(0);
    long long deadline = mono_ns() + LEFTOVER_WAIT_NS;
    while (!reap() && end_all(opt.cgroup, joined ? NULL : opt.marker, pgid, me) && mono_ns() < deadline)
        pump_until(&log, mono_ns() + STEP_NS, 0);
    long long left = deadline - mono_ns();
    int drained = pump_until(&log, mono_ns() + (left > DRAIN_MIN_NS ? left : DRAIN_MIN_NS), 1);
    reap();
    if (opt.cgroup != NULL) cgroup_remove(opt.cgroup);
    if (drained) log_close(&log);
    if (write_exit(code, NULL) != 0) fatal("cannot write the exit file", opt.exit);
    return 0;
}
