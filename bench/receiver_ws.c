/* receiver_ws.c - the WebSocket client side (RFC 6455): the upgrade request and its 101 answer,
 * masked client frames out, server frames in (7-, 16- and 64-bit lengths, fragments, close, ping),
 * each complete text message handed to the protocol layer. */
#include "receiver.h"

static uint64_t g_rng = 0x9E3779B97F4A7C15ull;

static uint32_t rnd32(void) {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (uint32_t)(g_rng >> 16);
}

/* Mix the process's entropy into the mask / key generator. */
void ws_seed(uint64_t entropy) { g_rng ^= entropy; }

/* A masked, final client frame (RFC 6455 5.3). */
void ws_send(Sock *s, int opcode, const void *payload, size_t n) {
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
            proto_text(s, pl, ln, now);
        } else if (op == 0 || op == 1 || op == 2) {
            buf_add(&s->frag, pl, ln);
            if (fin) {
                proto_text(s, s->frag.p, s->frag.len, now);
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

void ws_send_upgrade(Sock *s) {
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

/* Bytes arrived (data, n); `now` read once per recv. */
void ws_data(Sock *s, uint8_t *data, size_t n, int64_t now) {
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
        proto_open(s);
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
