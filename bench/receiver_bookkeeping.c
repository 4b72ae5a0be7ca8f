/* receiver_bookkeeping.c - what the sockets saw: one byte per message of the tenant (seen / not),
 * the latency histogram, counters, errors and close codes; what is still owed while draining; and
 * the JSON lines on stdout (ready, stats, report). */
#include "receiver.h"

static char *g_errors[MAX_ERRORS];
static int g_nerrors;
static int g_closes[256][2], g_nclose_kinds; /* close code -> count */

static void check_complete(void);

void note_error(const char *fmt, ...) {
    if (g_nerrors >= MAX_ERRORS) return;
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    g_errors[g_nerrors++] = strdup(tmp);
}

void note_close(int code) {
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

/* -- deliveries --------------------------------------------------------------------------------- */

int64_t owed_of(Sock *s) {
    const uint8_t *acked = g_tenants[s->tenant].acked;
    int64_t owed = 0;
    for (int64_t k = 0; k < g_n; k++) owed += acked[k] && !s->seen[k];
    return owed;
}

/* One new_message: `code` is data.clientCode, `body` the message body text. */
void deliver(Sock *s, const uint8_t *code, size_t code_len, const uint8_t *body, size_t blen,
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

void print_stats(void) {
    Buf b = {0};
    buf_printf(&b, "{\"kind\":\"stats\",");
    counters_json(&b);
    emit(&b);
}

void print_ready(int64_t wall_us) {
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

void print_report(int complete) {
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

void start_drain(double timeout_s) {
    g_owed = 0;
    for (int i = 0; i < g_nsocks; i++)
        if (g_socks[i].state == S_LIVE) g_owed += owed_of(&g_socks[i]);
    g_draining = 1;
    g_drain_deadline = now_us() + (int64_t)(timeout_s * 1e6);
    check_complete();
}

void reset_phase(int64_t n) {
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
