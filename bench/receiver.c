/* receiver.c - the fan-out benchmark's WebSocket receivers in one C process (epoll, libc only).
 *
 * It does what bench/loadgen.py's CondoRecv / SioRecv do, without being the bottleneck: the
 * Python receivers saturate their core at ~70-85k deliveries/s, below what the server can send.
 * Built at run time by bench/creceiver.py:
 *     gcc -O2 -o <tmpdir>/receiver bench/receiver.c bench/receiver_*.c
 * This file holds the job on stdin, the epoll loop and main; receiver.h lists the other parts.
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
#include "receiver.h"

int g_port, g_mode = M_CONDO, g_batch, g_concurrency = 200;
int64_t g_n;
int g_ntenants;
Tenant g_tenants[MAX_TENANTS];
Sock *g_socks;
int g_nsocks;
int g_epfd;
Counters C;
uint64_t *g_hist;
int g_ready, g_failed, g_connecting, g_next_connect;
int g_live_phase;
int g_draining;
int64_t g_owed;
int64_t g_drain_deadline;
int g_reported;
uint8_t *g_rbuf;

static double g_connect_timeout = 120, g_max_life = 3600;
static int g_cap_socks;
static int g_stdin_eof;
static Buf g_stdin;
static int g_go;

/* quit, end of input after the report, or max_life: close frames 1000 on every socket, exit. */
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

/* Run the complete lines read so far; with stop_at_go, stop after `go` (the rest is read by the
 * event loop). */
static void run_lines(int stop_at_go) {
    size_t start = 0;
    for (size_t i = 0; i < g_stdin.len; i++) {
        if (g_stdin.p[i] == '\n') {
            g_stdin.p[i] = 0;
            command((char *)g_stdin.p + start);
            start = i + 1;
            if (stop_at_go && g_go) break;
        }
    }
    memmove(g_stdin.p, g_stdin.p + start, g_stdin.len - start);
    g_stdin.len -= start;
}

/* Read what stdin has; run complete lines. Returns 0 at end of input. */
static int read_stdin(int blocking) {
    char tmp[65536];
    ssize_t r = read(0, tmp, sizeof tmp);
    if (r < 0) return (errno == EAGAIN || errno == EINTR) ? 1 : 0;
    if (r == 0) return 0;
    buf_add(&g_stdin, tmp, (size_t)r);
    run_lines(blocking);
    return 1;
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
    ws_seed((uint64_t)now_us() * 0x2545F4914F6CDD1Dull ^ (uint64_t)getpid());
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
    run_lines(0);

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
