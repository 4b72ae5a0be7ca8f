/* receiver_protocols.c - the text messages of the two protocols, read with loadgen.py's byte
 * patterns: Condorito /ws?v=1 (hello, welcome, ping -> pong, error, events alone or in a batch
 * array) and Socket.IO v5 over a plain WebSocket (0 -> 40{auth}, 40 ack, 2 -> 3, 42 events). */
#include "receiver.h"

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

/* A new_message found by its byte patterns: data.clientCode's value starts at a, the body is the
 * first "body":"b... after it; end = end of the whole message. Unreadable: counted as unparsed. */
static void deliver_at(Sock *s, const uint8_t *a, const uint8_t *end, int64_t now) {
    const uint8_t *b = memchr(a, '"', (size_t)(end - a));
    const uint8_t *c = b ? memmem(b, (size_t)(end - b), LIT(BODY)) : NULL;
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
    deliver_at(s, j + sizeof(NM) - 1, end, now);
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
        deliver_at(s, p + sizeof(SIO_NM) - 1, end, now);
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

void proto_text(Sock *s, const uint8_t *p, size_t n, int64_t now) {
    C.msgs_in++;
    if (g_mode == M_CONDO) condo_text(s, p, n, now);
    else sio_text(s, p, n, now);
}

void proto_open(Sock *s) {
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
