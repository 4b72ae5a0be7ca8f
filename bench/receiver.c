/* receiver.c - the fan-out benchmark's WebSocket receivers in one C process (epoll, libc only).
 *
 * It does what bench/loadgen.py's CondoRecv / SioRecv do, without being the bottleneck: the
 * Python receivers saturate their core at ~70-85k deliveries/s, below what the server can send.
 * Built at run time by bench/creceiver.py:  gcc -O2 -o <tmpdir>/receiver bench/receiver.c
 *
 * Protocols
 *   condo  GET /ws?v=1 (no Origin), masked text {"type":"hello","v":1,"token":"<jwt>"[,"features":
 *          ["batch"]]}, wait for {"type":"welcome",...} (its "head" starts the seq check); then
 *          {"type":"ping"} -> {"type":"pong"}; event frames (alone or inside a batch array)
 *          {"type":"event","seq":N,"event":"new_message","data":{"clientCode":"C",...
 *          "body":"bx:<tenant>:<k>:<stamp>"...}.
 *   sio    GET /socket.io/?EIO=4&transport=websocket; `0{...}` -> `40{"tenant":"C"}`; `40...` is the
 *          connect ack; `2` -> `3`; 42["new_message",{"clientCode":"C",..."body":"bx:..."...}].
 * Byte patterns are the ones loadgen.py's fast path uses: in JSON text a quote inside a string is
 * always escaped, so patterns with bare quotes can only match structure. A new_message frame the
 * patterns cannot read is counted as unparsed (the Python side fails the run).
 *
 * Bookkeeping per socket: one byte per message of its tenant (seen / not), seq strictly
 * increasing (condo), latency = CLOCK_MONOTONIC now (us) - stamp (the Python injector stamps with
 * time.monotonic_ns() // 1000, the same clock), read once per recv() like loadgen.py.
 *
 * Interface: lines on stdin, one JSON object per line on stdout.
 *   config (before `go`):  port P | mode condo|sio | batch 0|1 | n N (messages per tenant)
 *                          tenant IDX CODE TOKEN (TOKEN "-" for sio) | sock IDX (one per socket)
 *                          concurrency K | connect_timeout S | max_life S | go
 *   -> {"kind":"ready",...} once every socket got its welcome / connect ack (or failed)
 *   stats                  -> {"kind":"stats",...} counters so far
 *   acked IDX 0101...      the messages of tenant IDX the server acknowledged (char k = message k)
 *   stop S                 drain: wait until every acked message was seen by every open socket of
 *                          its tenant (or S seconds), then -> {"kind":"report",...}
 *   reset N                new phase: N messages per tenant, bitmaps and counters cleared
 *   quit / end of input    close every socket (close frame 1000) and exit; end of input before
 *                          any report drains (10 s) and reports first.
 * Every loop is bounded: connect_timeout, the drain timeout, max_life (default 3600 s).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_TENANTS 64
#define MAX_ERRORS 20
#define READ_CHUNK (1 << 20)
#define MAX_MESSAGE (64u << 20) /* a single WebSocket message larger than this is an error */
#define HIST_SUB 1024           /* latency histogram: exact below 2048 us, then 1/1024 steps */
#define HIST_BUCKETS (2 * HIST_SUB + 44 * HIST_SUB)

enum { M_CONDO, M_SIO };
enum { S_NEW, S_CONNECTING, S_UPGRADING, S_HANDSHAKE, S_LIVE, S_GONE };

typedef struct {
    uint8_t *p;
    size_t len, cap;
} Buf;

typedef struct {
    int fd;
    int tenant;
    int state;
    int failed;        /* never became ready */
    int close_code;    /* 0 = none seen */
    int sio_sent_connect;
    int64_t last_seq;
    int64_t t0, t_ready;
    uint8_t *seen;     /* n bytes */
    Buf in;            /* unparsed bytes (partial frame, or the HTTP response) */
    Buf out;           /* bytes the kernel did not take yet */
    Buf frag;          /* fragmented message being assembled */
    int want_out;
} Sock;

typedef struct {
    char code[128];
    char token[4096];
    int code_len;
    uint8_t *acked;
    int sockets_live;
    int64_t unique;
} Tenant;

typedef struct {
    int64_t unique, dup, seq_regress, cross, unparsed, bad_index, warm, other, frames, pings,
        ws_pings, bytes_in, msgs_in, last_recv, first_recv;
    int64_t lat_n, lat_max, lat_sum;
} Counters;

static int g_port, g_mode = M_CONDO, g_batch, g_concurrency = 200;
static double g_connect_timeout = 120, g_max_life = 3600;
static int64_t g_n;
static int g_ntenants;
static Tenant g_tenants[MAX_TENANTS];
static Sock *g_socks;
static int g_nsocks, g_cap_socks;
static int g_epfd;
static Counters C;
static uint64_t *g_hist;
static char *g_errors[MAX_ERRORS];
static int g_nerrors;
static int g_closes[256][2], g_nclose_kinds; /* close code -> count */
static int g_ready, g_failed, g_connecting, g_next_connect;
static int g_live_phase;           /* after the ready line: socket loss is an error */
static int g_draining;
static int64_t g_owed;             /* (socket, acked message) pairs not yet seen while draining */
static int64_t g_drain_deadline;
static int g_reported;
static int g_stdin_eof;
static uint8_t *g_rbuf;
static uint64_t g_rng = 0x9E3779B97F4A7C15ull;
static Buf g_stdin;

/* ---------------------------------------------------------------------------------------------- */

static int64_t now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "receiver: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(2);
}

static void buf_reserve(Buf *b, size_t extra) {
    if (b->len + extra <= b->cap) return;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra) cap *= 2;
    uint8_t *p = realloc(b->p, cap);
    if (!p) die("out of memory");
    b->p = p;
    b->cap = cap;
}

static void buf_add(Buf *b, const void *data, size_t n) {
    buf_reserve(b, n);
    memcpy(b->p + b->len, data, n);
    b->len += n;
}

static void buf_free(Buf *b) {
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

static void buf_printf(Buf *b, const char *fmt, ...) {
    va_list ap;
    for (;;) {
        size_t room = b->cap - b->len;
        va_start(ap, fmt);
        int n = vsnprintf((char *)b->p + b->len, room, fmt, ap);
        va_end(ap);
        if (n < 0) die("vsnprintf");
        if ((size_t)n < room) {
            b->len += (size_t)n;
            return;
        }
        buf_reserve(b, (size_t)n + 1);
    }
}

static void buf_json_str(Buf *b, const char *s, size_t n) {
    buf_add(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            buf_add(b, e, 2);
        } else if (c < 0x20 || c >= 0x7f) {
            char e[8];
            snprintf(e, sizeof e, "\\u%04x", c);
            buf_add(b, e, 6);
        } else {
            buf_add(b, &s[i], 1);
        }
    }
    buf_add(b, "\"", 1);
}

static void note_error(const char *fmt, ...) {
    if (g_nerrors >= MAX_ERRORS) return;
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    g_errors[g_nerrors++] = strdup(tmp);
}

static void note_close(int code) {
    for (int i = 0; i < g_nclose_kinds; i++)
        if (g_closes[i][0] == code) {
            g_closes[i][1]++;
            return;
        }
    if (g_nclose_kinds < 256) {
        g_closes[g_nclose_kinds][0] = code;
        g_closes[g_nclose_kinds][1] = 1;
        g_nclose_kinds++;
    }
}

static uint32_t rnd32(void) {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (uint32_t)(g_rng >> 16);
}

static void write_all_stdout(const uint8_t *p, size_t n) {
    while (n) {
        ssize_t w = write(1, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) { /* stdout is blocking; be safe anyway */
                struct timespec ts = {0, 1000000};
                nanosleep(&ts, NULL);
                continue;
            }
            exit(3); /* parent gone */
        }
        p += w;
        n -= (size_t)w;
    }
}

/* -- latency histogram -------------------------------------------------------------------------- */

static int hist_index(int64_t v) {
    if (v < 0) v = 0;
    if (v < 2 * HIST_SUB) return (int)v;
    int e = 63 - __builtin_clzll((uint64_t)v) - 10; /* >= 1 */
    int idx = 2 * HIST_SUB + (e - 1) * HIST_SUB + (int)((v >> e) - HIST_SUB);
    return idx < HIST_BUCKETS ? idx : HIST_BUCKETS - 1;
}

static int64_t hist_value(int idx) { /* the middle of the bucket */
    if (idx < 2 * HIST_SUB) return idx;
    int e = (idx - 2 * HIST_SUB) / HIST_SUB + 1;
    int64_t sub = (idx - 2 * HIST_SUB) % HIST_SUB + HIST_SUB;
    return (sub << e) + ((int64_t)1 << (e - 1));
}

/* -- sockets ------------------------------------------------------------------------------------ */

static void sock_update_events(Sock *s) {
    struct epoll_event ev = {.events = EPOLLIN | (s->want_out ? EPOLLOUT : 0), .data.ptr = s};
    epoll_ctl(g_epfd, EPOLL_CTL_MOD, s->fd, &ev);
}

static void sock_send_raw(Sock *s, const uint8_t *p, size_t n) {
    if (s->state == S_GONE || s->fd < 0) return;
    if (s->out.len == 0) {
        while (n) {
            ssize_t w = send(s->fd, p, n, MSG_NOSIGNAL);
            if (w < 0) {
                if (errno == EINTR) continue;
                if (errno == EAGAIN) break;
                return; /* the read side will see the error */
            }
            p += w;
            n -= (size_t)w;
        }
        if (!n) return;
    }
    buf_add(&s->out, p, n);
    if (!s->want_out) {
        s->want_out = 1;
        sock_update_events(s);
    }
}

static void sock_flush_out(Sock *s) {
    size_t off = 0;
    while (off < s->out.len) {
        ssize_t w = send(s->fd, s->out.p + off, s->out.len - off, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR) continue;
            break;
        }
        off += (size_t)w;
    }
    memmove(s->out.p, s->out.p + off, s->out.len - off);
    s->out.len -= off;
    if (s->out.len == 0 && s->want_out) {
        s->want_out = 0;
        sock_update_events(s);
    }
}

/* A masked, final client frame (RFC 6455 5.3). */
static void ws_send(Sock *s, int opcode, const void *payload, size_t n) {
    uint8_t stackbuf[1024];
    uint8_t *f = n + 14 <= sizeof stackbuf ? stackbuf : malloc(n + 14);
    if (!f) die("out of memory");
    size_t h = 0;
    f[h++] = (uint8_t)(0x80 | opcode);
    if (n < 126) {
        f[h++] = (uint8_t)(0x80 | n);
    } else if (n < 65536) {
        f[h++] = 0x80 | 126;
        f[h++] = (uint8_t)(n >> 8);
        f[h++] = (uint8_t)n;
    } else {
        f[h++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--) f[h++] = (uint8_t)((uint64_t)n >> (8 * i));
    }
    uint32_t key = rnd32();
    uint8_t k[4];
    memcpy(k, &key, 4);
    memcpy(f + h, k, 4);
    h += 4;
    const uint8_t *src = payload;
    for (size_t i = 0; i < n; i++) f[h + i] = src[i] ^ k[i & 3];
    sock_send_raw(s, f, h + n);
    if (f != stackbuf) free(f);
}

static int64_t owed_of(Sock *s) {
    const uint8_t *acked = g_tenants[s->tenant].acked;
    int64_t owed = 0;
    for (int64_t k = 0; k < g_n; k++) owed += acked[k] && !s->seen[k];
    return owed;
}

static void launch_connects(void);

/* The socket is gone (close frame, EOF, error, refusal). */
static void sock_gone(Sock *s, int code, const char *why) {
    if (s->state == S_GONE) return;
    int was_live = s->state == S_LIVE;
    if (s->state != S_LIVE) {
        /* still connecting: a failed set-up */
        if (!s->failed) {
            s->failed = 1;
            g_failed++;
            if (s->state != S_NEW) g_connecting--;
            note_error("socket %d (tenant %d) failed before ready: %s (close code %d)",
                       (int)(s - g_socks), s->tenant, why, code);
        }
    } else {
        g_tenants[s->tenant].sockets_live--;
        if (g_draining) g_owed -= owed_of(s);
    }
    s->close_code = code;
    note_close(code ? code : 1006);
    if (was_live && g_live_phase) note_error("socket lost during the run (close code %d): %s", code, why);
    if (s->fd >= 0) {
        epoll_ctl(g_epfd, EPOLL_CTL_DEL, s->fd, NULL);
        close(s->fd);
        s->fd = -1;
    }
    s->state = S_GONE;
    buf_free(&s->in);
    buf_free(&s->out);
    buf_free(&s->frag);
    if (!g_live_phase) launch_connects();
}

static void sock_ready(Sock *s) {
    s->state = S_LIVE;
    s->t_ready = now_us();
    g_ready++;
    g_connecting--;
    g_tenants[s->tenant].sockets_live++;
    launch_connects();
}

/* -- message handling --------------------------------------------------------------------------- */

#define LIT(s) (s), (sizeof(s) - 1)
static const char EV[] = "{\"type\":\"event\",\"seq\":";
static const char NM[] = "\"event\":\"new_message\",\"data\":{\"clientCode\":\"";
static const char NM_ANY[] = "\"event\":\"new_message\"";
static const char BODY[] = "\"body\":\"b";
static const char TYPE[] = "{\"type\":\"";
static const char SIO_NM[] = "42[\"new_message\",{\"clientCode\":\"";
static const char SIO_NM_ANY[] = "42[\"new_message\"";
static const char PONG[] = "{\"type\":\"pong\"}";

static int starts(const uint8_t *p, const uint8_t *end, const char *lit, size_t n) {
    return (size_t)(end - p) >= n && memcmp(p, lit, n) == 0;
}

static int parse_u64(const uint8_t *p, const uint8_t *end, int64_t *out) {
    if (p >= end || end - p > 18) return 0;
    int64_t v = 0;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9') return 0;
        v = v * 10 + (*p - '0');
    }
    *out = v;
    return 1;
}

static void check_complete(void);

/* One new_message: `code` is data.clientCode, `body` the message body text. */
static void deliver(Sock *s, const uint8_t *code, size_t code_len, const uint8_t *body, size_t blen,
                    int64_t now) {
    if (blen < 3 || body[0] != 'b' || body[2] != ':' || (body[1] != 'x' && body[1] != 'w')) {
        C.unparsed++;
        return;
    }
    if (body[1] == 'w') {
        C.warm++;
        return;
    }
    const uint8_t *end = body + blen, *f[3];
    const uint8_t *q = body + 3;
    int parts = 0;
    for (int i = 0; i < 3; i++) {
        f[i] = q;
        const uint8_t *c = memchr(q, ':', (size_t)(end - q));
        if (i < 2) {
            if (!c) break;
            q = c + 1;
            parts++;
        } else {
            if (c) parts = -1; /* too many parts */
            else parts++;
        }
    }
    int64_t ti, k, stamp;
    if (parts != 3 || !parse_u64(f[0], f[1] - 1, &ti) || !parse_u64(f[1], f[2] - 1, &k) ||
        !parse_u64(f[2], end, &stamp)) {
        C.unparsed++;
        return;
    }
    Tenant *t = &g_tenants[s->tenant];
    if (ti != s->tenant || code_len != (size_t)t->code_len || memcmp(code, t->code, code_len) != 0) {
        C.cross++;
        return;
    }
    if (k >= g_n) {
        C.bad_index++;
        return;
    }
    if (s->seen[k]) {
        C.dup++;
        return;
    }
    s->seen[k] = 1;
    int64_t lat = now - stamp;
    if (lat < 0) lat = 0;
    g_hist[hist_index(lat)]++;
    C.lat_n++;
    C.lat_sum += lat;
    if (lat > C.lat_max) C.lat_max = lat;
    C.last_recv = now;
    if (!C.first_recv) C.first_recv = now;
    C.unique++;
    t->unique++;
    if (g_draining && t->acked[k] && s->state == S_LIVE) {
        g_owed--;
        if (g_owed <= 0) check_complete();
    }
}

/* An event frame at p (which starts with EV); end = end of the whole message. */
static void condo_event(Sock *s, const uint8_t *p, const uint8_t *end, int64_t now) {
    C.frames++;
    const uint8_t *q = p + sizeof(EV) - 1;
    const uint8_t *j = memchr(q, ',', (size_t)(end - q));
    if (!j) {
        C.unparsed++;
        return;
    }
    if (!((size_t)(j - q) == 4 && memcmp(q, "null", 4) == 0)) {
        int64_t seq;
        if (!parse_u64(q, j, &seq)) {
            C.unparsed++;
            return;
        }
        if (seq <= s->last_seq) C.seq_regress++;
        else s->last_seq = seq;
    }
    j++;
    if (!starts(j, end, LIT(NM))) {
        if (starts(j, end, LIT(NM_ANY))) C.unparsed++;
        else C.other++;
        return;
    }
    const uint8_t *a = j + sizeof(NM) - 1;
    const uint8_t *b = memchr(a, '"', (size_t)(end - a));
    if (!b) {
        C.unparsed++;
        return;
    }
    const uint8_t *c = memmem(b, (size_t)(end - b), LIT(BODY));
    if (!c) {
        C.unparsed++;
        return;
    }
    c += sizeof(BODY) - 2; /* at the body's first character, the 'b' */
    const uint8_t *e = memchr(c, '"', (size_t)(end - c));
    if (!e) {
        C.unparsed++;
        return;
    }
    deliver(s, a, (size_t)(b - a), c, (size_t)(e - c), now);
}

static void condo_welcome(Sock *s, const uint8_t *p, const uint8_t *end) {
    if (s->state == S_LIVE) return;
    const uint8_t *h = memmem(p, (size_t)(end - p), LIT("\"head\":"));
    int64_t head = 0;
    if (h) {
        h += 7;
        const uint8_t *e = h;
        while (e < end && *e >= '0' && *e <= '9') e++;
        parse_u64(h, e, &head);
    }
    s->last_seq = head;
    sock_ready(s);
}

static void condo_error(Sock *s, const uint8_t *p, const uint8_t *end) {
    const uint8_t *c = memmem(p, (size_t)(end - p), LIT("\"code\":\""));
    char code[64] = "?";
    if (c) {
        c += 8;
        size_t i = 0;
        while (c + i < end && c[i] != '"' && i < sizeof code - 1) {
            code[i] = (char)c[i];
            i++;
        }
        code[i] = 0;
    }
    note_error("error frame %s", code);
    if (s->state != S_LIVE) sock_gone(s, 0, "refused with an error frame");
}

static void condo_text(Sock *s, const uint8_t *p, size_t n, int64_t now) {
    const uint8_t *end = p + n;
    if (s->state == S_LIVE && starts(p, end, LIT(EV))) {
        condo_event(s, p, end, now);
        return;
    }
    /* a batch array, or a control frame: look at every {"type":"...  */
    const uint8_t *q = p;
    int pinged = 0;
    while (q < end && s->state != S_GONE) {
        const uint8_t *t = memmem(q, (size_t)(end - q), LIT(TYPE));
        if (!t) break;
        const uint8_t *r = t + sizeof(TYPE) - 1;
        if (starts(t, end, LIT(EV))) {
            condo_event(s, t, end, now);
        } else if (starts(r, end, LIT("ping\"}"))) {
            C.pings++;
            if (!pinged) ws_send(s, 1, LIT(PONG)); /* one pong per message, as loadgen.py */
            pinged = 1;
        } else if (starts(r, end, LIT("welcome\""))) {
            condo_welcome(s, t, end);
        } else if (starts(r, end, LIT("error\""))) {
            condo_error(s, t, end);
        }
        q = r;
    }
}

static void sio_text(Sock *s, const uint8_t *p, size_t n, int64_t now) {
    const uint8_t *end = p + n;
    if (starts(p, end, LIT(SIO_NM))) {
        C.frames++;
        const uint8_t *a = p + sizeof(SIO_NM) - 1;
        const uint8_t *b = memchr(a, '"', (size_t)(end - a));
        const uint8_t *c = b ? memmem(b, (size_t)(end - b), LIT(BODY)) : NULL;
        if (!c) {
            C.unparsed++;
            return;
        }
        c += sizeof(BODY) - 2;
        const uint8_t *e = memchr(c, '"', (size_t)(end - c));
        if (!e) {
            C.unparsed++;
            return;
        }
        deliver(s, a, (size_t)(b - a), c, (size_t)(e - c), now);
        return;
    }
    if (n == 1 && p[0] == '2') {
        C.pings++;
        ws_send(s, 1, "3", 1);
    } else if (n >= 1 && p[0] == '0') {
        if (!s->sio_sent_connect) {
            Tenant *t = &g_tenants[s->tenant];
            char msg[256];
            int m = snprintf(msg, sizeof msg, "40{\"tenant\":\"%s\"}", t->code);
            ws_send(s, 1, msg, (size_t)m);
            s->sio_sent_connect = 1;
        }
    } else if (starts(p, end, LIT("40"))) {
        if (s->state != S_LIVE) sock_ready(s);
    } else if (starts(p, end, LIT("44"))) {
        note_error("connect refused: %.*s", (int)(n < 120 ? n : 120), p);
        if (s->state != S_LIVE) sock_gone(s, 0, "socket.io connect refused");
    } else if (starts(p, end, LIT("42"))) {
        C.frames++;
        if (starts(p, end, LIT(SIO_NM_ANY))) C.unparsed++;
        else C.other++;
    } else if (starts(p, end, LIT("41")) || (n == 1 && p[0] == '1')) {
        note_error("server disconnected the socket");
    }
}

static void on_text(Sock *s, const uint8_t *p, size_t n, int64_t now) {
    C.msgs_in++;
    if (g_mode == M_CONDO) condo_text(s, p, n, now);
    else sio_text(s, p, n, now);
}

/* Parse WebSocket frames in [p, p+n); returns the bytes consumed (a partial frame stays). */
static size_t ws_frames(Sock *s, uint8_t *p, size_t n, int64_t now) {
    size_t pos = 0;
    while (n - pos >= 2 && s->state != S_GONE) {
        uint8_t b0 = p[pos], b1 = p[pos + 1];
        uint64_t ln = b1 & 0x7F;
        size_t hdr = 2;
        if (ln == 126) {
            if (n - pos < 4) break;
            ln = ((uint64_t)p[pos + 2] << 8) | p[pos + 3];
            hdr = 4;
        } else if (ln == 127) {
            if (n - pos < 10) break;
            ln = 0;
            for (int i = 0; i < 8; i++) ln = (ln << 8) | p[pos + 2 + i];
            hdr = 10;
        }
        int masked = b1 & 0x80;
        if (masked) hdr += 4;
        if (ln > MAX_MESSAGE) {
            note_error("frame of %llu bytes", (unsigned long long)ln);
            sock_gone(s, 1009, "frame too big");
            return n;
        }
        if (n - pos < hdr + ln) break; /* the rest arrives later (kept in s->in) */
        uint8_t *pl = p + pos + hdr;
        if (masked) { /* servers never mask; be correct anyway */
            uint8_t *k = p + pos + hdr - 4;
            for (uint64_t i = 0; i < ln; i++) pl[i] ^= k[i & 3];
        }
        int op = b0 & 0x0F, fin = b0 & 0x80;
        if (op == 1 && fin && s->frag.len == 0) {
            on_text(s, pl, ln, now);
        } else if (op == 0 || op == 1 || op == 2) {
            buf_add(&s->frag, pl, ln);
            if (fin) {
                on_text(s, s->frag.p, s->frag.len, now);
                if (s->state != S_GONE) s->frag.len = 0;
            }
        } else if (op == 8) {
            int code = ln >= 2 ? (pl[0] << 8) | pl[1] : 1005;
            ws_send(s, 8, pl, ln >= 2 ? 2 : 0);
            sock_gone(s, code, "close frame");
            return n;
        } else if (op == 9) {
            C.ws_pings++;
            ws_send(s, 10, pl, ln);
        }
        pos += hdr + ln;
    }
    return pos;
}

static void sock_send_upgrade(Sock *s) {
    char req[512];
    uint8_t raw[16];
    for (int i = 0; i < 4; i++) {
        uint32_t r = rnd32();
        memcpy(raw + 4 * i, &r, 4);
    }
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char key[25];
    int o = 0;
    for (int i = 0; i < 15; i += 3) {
        uint32_t v = (uint32_t)raw[i] << 16 | (uint32_t)raw[i + 1] << 8 | raw[i + 2];
        key[o++] = b64[v >> 18];
        key[o++] = b64[(v >> 12) & 63];
        key[o++] = b64[(v >> 6) & 63];
        key[o++] = b64[v & 63];
    }
    uint32_t v = (uint32_t)raw[15] << 16;
    key[o++] = b64[v >> 18];
    key[o++] = b64[(v >> 12) & 63];
    key[o++] = '=';
    key[o++] = '=';
    key[o] = 0;
    const char *path = g_mode == M_CONDO ? "/ws?v=1" : "/socket.io/?EIO=4&transport=websocket";
    int m = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
                     path, g_port, key);
    sock_send_raw(s, (const uint8_t *)req, (size_t)m);
    s->state = S_UPGRADING;
}

static void sock_on_open(Sock *s) {
    s->state = S_HANDSHAKE;
    if (g_mode == M_CONDO) {
        Tenant *t = &g_tenants[s->tenant];
        Buf b = {0};
        buf_printf(&b, "{\"type\":\"hello\",\"v\":1,\"token\":\"%s\"%s}", t->token,
                   g_batch ? ",\"features\":[\"batch\"]" : "");
        ws_send(s, 1, b.p, b.len);
        buf_free(&b);
    }
}

/* Bytes arrived (data, n); `now` read once per recv. */
static void sock_data(Sock *s, uint8_t *data, size_t n, int64_t now) {
    C.bytes_in += (int64_t)n;
    uint8_t *p = data;
    size_t len = n;
    if (s->in.len) { /* a partial frame (or HTTP head) from before: append */
        buf_add(&s->in, data, n);
        p = s->in.p;
        len = s->in.len;
    }
    size_t pos = 0;
    if (s->state == S_UPGRADING) {
        uint8_t *e = memmem(p, len, "\r\n\r\n", 4);
        if (!e) {
            if (p != s->in.p) buf_add(&s->in, p, len);
            return;
        }
        if (len < 12 || memcmp(p, "HTTP/1.1 101", 12) != 0) {
            uint8_t *eol = memmem(p, len, "\r\n", 2);
            note_error("upgrade refused: %.*s", (int)(eol - p > 200 ? 200 : eol - p), p);
            sock_gone(s, 0, "upgrade refused");
            return;
        }
        pos = (size_t)(e + 4 - p);
        sock_on_open(s);
        if (s->state == S_GONE) return;
    }
    pos += ws_frames(s, p + pos, len - pos, now);
    if (s->state == S_GONE) return;
    if (p == s->in.p) {
        memmove(s->in.p, s->in.p + pos, len - pos);
        s->in.len = len - pos;
    } else if (pos < len) {
        buf_add(&s->in, p + pos, len - pos);
    }
}

static void sock_readable(Sock *s) {
    for (int rounds = 0; rounds < 4 && s->state != S_GONE; rounds++) {
        ssize_t r = recv(s->fd, g_rbuf, READ_CHUNK, 0);
        if (r < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) return;
            sock_gone(s, 0, strerror(errno));
            return;
        }
        if (r == 0) {
            sock_gone(s, 0, "connection closed without a close frame");
            return;
        }
        sock_data(s, g_rbuf, (size_t)r, now_us());
        if (r < READ_CHUNK) return;
    }
}

static void sock_connect(Sock *s) {
    s->t0 = now_us();
    s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->fd < 0) {
        g_connecting++;
        s->state = S_CONNECTING;
        sock_gone(s, 0, strerror(errno));
        return;
    }
    int one = 1;
    setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g_port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    s->state = S_CONNECTING;
    g_connecting++;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = s};
    s->want_out = 1;
    if (epoll_ctl(g_epfd, EPOLL_CTL_ADD, s->fd, &ev) < 0) die("epoll_ctl: %s", strerror(errno));
    if (connect(s->fd, (struct sockaddr *)&a, sizeof a) < 0 && errno != EINPROGRESS)
        sock_gone(s, 0, strerror(errno));
}

static void launch_connects(void) {
    while (g_connecting < g_concurrency && g_next_connect < g_nsocks) sock_connect(&g_socks[g_next_connect++]);
}

static void sock_writable(Sock *s) {
    if (s->state == S_CONNECTING) {
        int err = 0;
        socklen_t l = sizeof err;
        getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &l);
        if (err) {
            sock_gone(s, 0, strerror(err));
            return;
        }
        s->want_out = 0;
        sock_update_events(s);
        sock_send_upgrade(s);
        return;
    }
    sock_flush_out(s);
}

/* -- reports ------------------------------------------------------------------------------------ */

static void counters_json(Buf *b) {
    buf_printf(b,
               "\"unique\":%lld,\"dup\":%lld,\"seq_regress\":%lld,\"cross\":%lld,\"unparsed\":%lld,"
               "\"bad_index\":%lld,\"warm\":%lld,\"other\":%lld,\"frames\":%lld,\"pings\":%lld,"
               "\"ws_pings\":%lld,\"bytes_in\":%lld,\"msgs_in\":%lld,\"last_recv\":%lld,"
               "\"first_recv\":%lld,\"lat_n\":%lld,\"lat_max\":%lld,\"lat_sum\":%lld,"
               "\"ready\":%d,\"failed\":%d",
               (long long)C.unique, (long long)C.dup, (long long)C.seq_regress, (long long)C.cross,
               (long long)C.unparsed, (long long)C.bad_index, (long long)C.warm, (long long)C.other,
               (long long)C.frames, (long long)C.pings, (long long)C.ws_pings, (long long)C.bytes_in,
               (long long)C.msgs_in, (long long)C.last_recv, (long long)C.first_recv,
               (long long)C.lat_n, (long long)C.lat_max, (long long)C.lat_sum, g_ready, g_failed);
    int gone = 0;
    for (int i = 0; i < g_nsocks; i++) gone += g_socks[i].state == S_GONE && !g_socks[i].failed;
    buf_printf(b, ",\"gone\":%d", gone);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    buf_printf(b, ",\"utime\":%.6f,\"stime\":%.6f,\"maxrss_kb\":%ld",
               ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6,
               ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6, ru.ru_maxrss);
    buf_add(b, ",\"errors\":[", 11);
    for (int i = 0; i < g_nerrors; i++) {
        if (i) buf_add(b, ",", 1);
        buf_json_str(b, g_errors[i], strlen(g_errors[i]));
    }
    buf_add(b, "],\"close_codes\":{", 17);
    for (int i = 0; i < g_nclose_kinds; i++)
        buf_printf(b, "%s\"%d\":%d", i ? "," : "", g_closes[i][0], g_closes[i][1]);
    buf_add(b, "}", 1);
}

static void emit(Buf *b) {
    buf_add(b, "}\n", 2);
    write_all_stdout(b->p, b->len);
    buf_free(b);
}

static void print_stats(void) {
    Buf b = {0};
    buf_printf(&b, "{\"kind\":\"stats\",");
    counters_json(&b);
    emit(&b);
}

static void print_ready(int64_t wall_us) {
    Buf b = {0};
    buf_printf(&b, "{\"kind\":\"ready\",\"ready\":%d,\"failed\":%d,\"connect_wall_us\":%lld,"
               "\"connect_us\":[", g_ready, g_failed, (long long)wall_us);
    int first = 1;
    for (int i = 0; i < g_nsocks; i++) {
        Sock *s = &g_socks[i];
        if (s->failed || !s->t_ready) continue;
        buf_printf(&b, "%s%lld", first ? "" : ",", (long long)(s->t_ready - s->t0));
        first = 0;
    }
    buf_add(&b, "],", 2);
    counters_json(&b);
    emit(&b);
}

static void print_report(int complete) {
    Buf b = {0};
    buf_printf(&b, "{\"kind\":\"report\",\"complete\":%s,", complete ? "true" : "false");
    counters_json(&b);
    /* loss per socket against the acked bitmap; owed = acked x open sockets (loadgen's target) */
    int64_t lost = 0, expected = 0;
    int64_t t_lost[MAX_TENANTS] = {0}, t_acked[MAX_TENANTS] = {0};
    for (int t = 0; t < g_ntenants; t++)
        for (int64_t k = 0; k < g_n; k++) t_acked[t] += g_tenants[t].acked[k] != 0;
    for (int i = 0; i < g_nsocks; i++) {
        Sock *s = &g_socks[i];
        if (s->failed) continue;
        int64_t l = owed_of(s);
        lost += l;
        t_lost[s->tenant] += l;
        if (s->state == S_LIVE) expected += t_acked[s->tenant];
    }
    buf_printf(&b, ",\"lost\":%lld,\"expected\":%lld,\"tenants\":[", (long long)lost, (long long)expected);
    for (int t = 0; t < g_ntenants; t++)
        buf_printf(&b, "%s{\"sockets\":%d,\"acked\":%lld,\"unique\":%lld,\"lost\":%lld}", t ? "," : "",
                   g_tenants[t].sockets_live, (long long)t_acked[t], (long long)g_tenants[t].unique,
                   (long long)t_lost[t]);
    buf_add(&b, "],\"lat_hist\":[", 14);
    int first = 1;
    for (int i = 0; i < HIST_BUCKETS; i++)
        if (g_hist[i]) {
            buf_printf(&b, "%s[%lld,%llu]", first ? "" : ",", (long long)hist_value(i),
                       (unsigned long long)g_hist[i]);
            first = 0;
        }
    buf_add(&b, "]", 1);
    emit(&b);
    g_reported = 1;
}

static void check_complete(void) {
    if (g_draining && g_owed <= 0) {
        g_draining = 0;
        print_report(1);
    }
}

static void start_drain(double timeout_s) {
    g_owed = 0;
    for (int i = 0; i < g_nsocks; i++)
        if (g_socks[i].state == S_LIVE) g_owed += owed_of(&g_socks[i]);
    g_draining = 1;
    g_drain_deadline = now_us() + (int64_t)(timeout_s * 1e6);
    check_complete();
}

static void reset_phase(int64_t n) {
    g_n = n;
    for (int t = 0; t < g_ntenants; t++) {
        free(g_tenants[t].acked);
        g_tenants[t].acked = calloc((size_t)(n ? n : 1), 1);
        g_tenants[t].unique = 0;
    }
    for (int i = 0; i < g_nsocks; i++) {
        free(g_socks[i].seen);
        g_socks[i].seen = calloc((size_t)(n ? n : 1), 1);
        if (!g_socks[i].seen) die("out of memory");
    }
    int64_t bytes = C.bytes_in, msgs = C.msgs_in;
    memset(&C, 0, sizeof C);
    C.bytes_in = bytes; /* wire counters stay cumulative */
    C.msgs_in = msgs;
    memset(g_hist, 0, sizeof(uint64_t) * HIST_BUCKETS);
    for (int i = 0; i < g_nerrors; i++) free(g_errors[i]);
    g_nerrors = 0;
    g_nclose_kinds = 0;
    g_draining = 0;
    g_reported = 0;
}

static void quit_all(void) {
    g_live_phase = 0;
    for (int i = 0; i < g_nsocks; i++) {
        Sock *s = &g_socks[i];
        if (s->fd >= 0) {
            if (s->state == S_LIVE || s->state == S_HANDSHAKE) {
                uint8_t code[2] = {1000 >> 8, 1000 & 0xFF};
                ws_send(s, 8, code, 2);
            }
            close(s->fd);
            s->fd = -1;
        }
    }
    exit(0);
}

/* -- stdin commands ----------------------------------------------------------------------------- */

static int g_go;

static void command(char *line) {
    char *save = NULL;
    char *cmd = strtok_r(line, " \t\r", &save);
    if (!cmd) return;
    char *a1 = strtok_r(NULL, " \t\r", &save);
    char *a2 = strtok_r(NULL, " \t\r", &save);
    char *a3 = strtok_r(NULL, " \t\r", &save);
    if (!strcmp(cmd, "port") && a1) g_port = atoi(a1);
    else if (!strcmp(cmd, "mode") && a1) g_mode = !strcmp(a1, "sio") ? M_SIO : M_CONDO;
    else if (!strcmp(cmd, "batch") && a1) g_batch = atoi(a1);
    else if (!strcmp(cmd, "n") && a1) g_n = atoll(a1);
    else if (!strcmp(cmd, "concurrency") && a1) g_concurrency = atoi(a1) > 0 ? atoi(a1) : 1;
    else if (!strcmp(cmd, "connect_timeout") && a1) g_connect_timeout = atof(a1);
    else if (!strcmp(cmd, "max_life") && a1) g_max_life = atof(a1);
    else if (!strcmp(cmd, "tenant") && a1 && a2 && a3) {
        int i = atoi(a1);
        if (i < 0 || i >= MAX_TENANTS) die("tenant index %d out of range", i);
        if (strlen(a2) >= sizeof g_tenants[i].code || strlen(a3) >= sizeof g_tenants[i].token)
            die("tenant code or token too long");
        strcpy(g_tenants[i].code, a2);
        g_tenants[i].code_len = (int)strlen(a2);
        strcpy(g_tenants[i].token, a3);
        if (i + 1 > g_ntenants) g_ntenants = i + 1;
    } else if (!strcmp(cmd, "sock") && a1) {
        if (g_nsocks == g_cap_socks) {
            g_cap_socks = g_cap_socks ? g_cap_socks * 2 : 1024;
            g_socks = realloc(g_socks, sizeof(Sock) * (size_t)g_cap_socks);
            if (!g_socks) die("out of memory");
        }
        Sock *s = &g_socks[g_nsocks++];
        memset(s, 0, sizeof *s);
        s->fd = -1;
        s->tenant = atoi(a1);
    } else if (!strcmp(cmd, "go")) g_go = 1;
    else if (!strcmp(cmd, "stats")) print_stats();
    else if (!strcmp(cmd, "acked") && a1 && a2) {
        int t = atoi(a1);
        if (t < 0 || t >= g_ntenants) die("acked: bad tenant %d", t);
        size_t m = strlen(a2);
        for (size_t k = 0; k < m && (int64_t)k < g_n; k++) g_tenants[t].acked[k] = a2[k] == '1';
    } else if (!strcmp(cmd, "stop")) start_drain(a1 ? atof(a1) : 30.0);
    else if (!strcmp(cmd, "reset") && a1) reset_phase(atoll(a1));
    else if (!strcmp(cmd, "quit")) quit_all();
    else die("unknown command: %s", cmd);
}

/* Read what stdin has; run complete lines. Returns 0 at end of input. */
static int read_stdin(int blocking) {
    char tmp[65536];
    ssize_t r = read(0, tmp, sizeof tmp);
    if (r < 0) return (errno == EAGAIN || errno == EINTR) ? 1 : 0;
    if (r == 0) return 0;
    buf_add(&g_stdin, tmp, (size_t)r);
    size_t start = 0;
    for (size_t i = 0; i < g_stdin.len; i++) {
        if (g_stdin.p[i] == '\n') {
            g_stdin.p[i] = 0;
            command((char *)g_stdin.p + start);
            start = i + 1;
            if (blocking && g_go) break; /* the rest is read by the event loop */
        }
    }
    memmove(g_stdin.p, g_stdin.p + start, g_stdin.len - start);
    g_stdin.len -= start;
    return 1;
}

static void run_pending_lines(void) {
    size_t start = 0;
    for (size_t i = 0; i < g_stdin.len; i++)
        if (g_stdin.p[i] == '\n') {
            g_stdin.p[i] = 0;
            command((char *)g_stdin.p + start);
            start = i + 1;
        }
    memmove(g_stdin.p, g_stdin.p + start, g_stdin.len - start);
    g_stdin.len -= start;
}

/* -- main loop ---------------------------------------------------------------------------------- */

static void event_loop_once(int timeout_ms) {
    struct epoll_event evs[1024];
    int n = epoll_wait(g_epfd, evs, 1024, timeout_ms);
    if (n < 0) {
        if (errno == EINTR) return;
        die("epoll_wait: %s", strerror(errno));
    }
    for (int i = 0; i < n; i++) {
        Sock *s = evs[i].data.ptr;
        if (!s) {
            if (!read_stdin(0)) {
                g_stdin_eof = 1;
                epoll_ctl(g_epfd, EPOLL_CTL_DEL, 0, NULL);
            }
            continue;
        }
        if (s->state == S_GONE) continue;
        if (evs[i].events & EPOLLOUT) sock_writable(s);
        if (s->state != S_GONE && evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
            if (s->state == S_CONNECTING) {
                sock_writable(s); /* connect finished or failed */
                if (s->state == S_GONE) continue;
            }
            sock_readable(s);
        }
    }
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    g_rng ^= (uint64_t)now_us() * 0x2545F4914F6CDD1Dull ^ (uint64_t)getpid();
    g_rbuf = malloc(READ_CHUNK);
    g_hist = calloc(HIST_BUCKETS, sizeof(uint64_t));
    if (!g_rbuf || !g_hist) die("out of memory");
    int64_t born = now_us();

    /* configuration, blocking */
    while (!g_go) {
        if (!read_stdin(1)) die("end of input before go");
    }
    if (!g_port || !g_nsocks || !g_ntenants) die("need port, tenant and sock lines before go");
    for (int i = 0; i < g_nsocks; i++)
        if (g_socks[i].tenant < 0 || g_socks[i].tenant >= g_ntenants) die("sock with a bad tenant");
    reset_phase(g_n);

    g_epfd = epoll_create1(EPOLL_CLOEXEC);
    if (g_epfd < 0) die("epoll_create1: %s", strerror(errno));
    fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
    struct epoll_event sev = {.events = EPOLLIN, .data.ptr = NULL};
    if (epoll_ctl(g_epfd, EPOLL_CTL_ADD, 0, &sev) < 0) die("stdin must be a pipe: %s", strerror(errno));

    /* connect everything (bounded concurrency), then say ready */
    int64_t connect_start = now_us();
    int64_t deadline = connect_start + (int64_t)(g_connect_timeout * 1e6);
    launch_connects();
    while (g_ready + g_failed < g_nsocks) {
        int64_t left = deadline - now_us();
        if (left <= 0) {
            g_next_connect = g_nsocks; /* launch nothing more */
            for (int i = 0; i < g_nsocks; i++)
                if (g_socks[i].state != S_LIVE && g_socks[i].state != S_GONE)
                    sock_gone(&g_socks[i], 0, "connect timeout");
            break;
        }
        event_loop_once((int)(left / 1000 > 200 ? 200 : left / 1000 + 1));
        if (g_stdin_eof) die("end of input while connecting");
    }
    g_live_phase = 1;
    print_ready(now_us() - connect_start);
    run_pending_lines();

    for (;;) {
        int64_t now = now_us();
        if (now - born > (int64_t)(g_max_life * 1e6)) {
            if (!g_reported) {
                note_error("receiver reached max_life %.0f s", g_max_life);
                g_draining = 0;
                print_report(0);
            }
            quit_all();
        }
        if (g_draining && now >= g_drain_deadline) {
            g_draining = 0;
            print_report(0);
        }
        if (g_stdin_eof) {
            if (!g_reported && !g_draining) start_drain(10.0);
            if (g_reported && !g_draining) quit_all();
        }
        int timeout = 200;
        if (g_draining) {
            int64_t left = (g_drain_deadline - now) / 1000 + 1;
            if (left < timeout) timeout = (int)left;
        }
        event_loop_once(timeout);
    }
}
