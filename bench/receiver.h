/* receiver.h - what the parts of bench/receiver.c share: limits, the socket / tenant / counter
 * records, the process-wide state, and each part's entry points.
 *
 *   receiver.c             the job on stdin, the epoll loop, main (the interface is described there)
 *   receiver_buf.c         growable byte buffers, JSON strings, stdout, die()
 *   receiver_sockets.c     non-blocking TCP sockets in epoll: connect, read, write, gone
 *   receiver_ws.c          the WebSocket client side: upgrade request and response, frames in and out
 *   receiver_protocols.c   Condorito /ws?v=1 and Socket.IO v5 text messages: hello, pongs, events
 *   receiver_bookkeeping.c seen bitmaps, latency histogram, errors, close codes, the JSON lines
 */
#ifndef RECEIVER_H
#define RECEIVER_H

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

/* -- process-wide state (defined in receiver.c) ------------------------------------------------- */

extern int g_port, g_mode, g_batch, g_concurrency;
extern int64_t g_n;                /* messages per tenant in this phase */
extern int g_ntenants;
extern Tenant g_tenants[MAX_TENANTS];
extern Sock *g_socks;
extern int g_nsocks;
extern int g_epfd;
extern Counters C;
extern uint64_t *g_hist;           /* HIST_BUCKETS latency counts */
extern int g_ready, g_failed, g_connecting, g_next_connect;
extern int g_live_phase;           /* after the ready line: socket loss is an error */
extern int g_draining;
extern int64_t g_owed;             /* (socket, acked message) pairs not yet seen while draining */
extern int64_t g_drain_deadline;
extern int g_reported;
extern uint8_t *g_rbuf;            /* READ_CHUNK bytes, one recv() at a time */

/* -- small helpers ------------------------------------------------------------------------------ */

#define LIT(s) (s), (sizeof(s) - 1)

static inline int64_t now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static inline int parse_u64(const uint8_t *p, const uint8_t *end, int64_t *out) {
    if (p >= end || end - p > 18) return 0;
    int64_t v = 0;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9') return 0;
        v = v * 10 + (*p - '0');
    }
    *out = v;
    return 1;
}

/* -- receiver_buf.c ----------------------------------------------------------------------------- */

void die(const char *fmt, ...);
void buf_add(Buf *b, const void *data, size_t n);
void buf_free(Buf *b);
void buf_printf(Buf *b, const char *fmt, ...);
void buf_json_str(Buf *b, const char *s, size_t n);
void write_all_stdout(const uint8_t *p, size_t n);

/* -- receiver_sockets.c ------------------------------------------------------------------------- */

void sock_send_raw(Sock *s, const uint8_t *p, size_t n);
void sock_gone(Sock *s, int code, const char *why);
void sock_ready(Sock *s);
void sock_readable(Sock *s);
void sock_writable(Sock *s);
void launch_connects(void);

/* -- receiver_ws.c ------------------------------------------------------------------------------ */

void ws_seed(uint64_t entropy);
void ws_send(Sock *s, int opcode, const void *payload, size_t n);
void ws_send_upgrade(Sock *s);
void ws_data(Sock *s, uint8_t *data, size_t n, int64_t now);

/* -- receiver_protocols.c ----------------------------------------------------------------------- */

void proto_open(Sock *s);
void proto_text(Sock *s, const uint8_t *p, size_t n, int64_t now);

/* -- receiver_bookkeeping.c --------------------------------------------------------------------- */

void note_error(const char *fmt, ...);
void note_close(int code);
int64_t owed_of(Sock *s);
void deliver(Sock *s, const uint8_t *code, size_t code_len, const uint8_t *body, size_t blen,
             int64_t now);
void print_stats(void);
void print_ready(int64_t wall_us);
void print_report(int complete);
void start_drain(double timeout_s);
void reset_phase(int64_t n);

#endif
