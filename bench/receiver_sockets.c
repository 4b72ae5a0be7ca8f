/* receiver_sockets.c - the non-blocking TCP sockets in epoll: connect (bounded concurrency),
 * read into the WebSocket layer, write what the kernel did not take, and the end of a socket. */
#include "receiver.h"

static void sock_update_events(Sock *s) {
    struct epoll_event ev = {.events = EPOLLIN | (s->want_out ? EPOLLOUT : 0), .data.ptr = s};
    epoll_ctl(g_epfd, EPOLL_CTL_MOD, s->fd, &ev);
}

void sock_send_raw(Sock *s, const uint8_t *p, size_t n) {
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

/* The socket is gone (close frame, EOF, error, refusal). */
void sock_gone(Sock *s, int code, const char *why) {
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

void sock_ready(Sock *s) {
    s->state = S_LIVE;
    s->t_ready = now_us();
    g_ready++;
    g_connecting--;
    g_tenants[s->tenant].sockets_live++;
    launch_connects();
}

void sock_readable(Sock *s) {
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
        ws_data(s, g_rbuf, (size_t)r, now_us());
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

void launch_connects(void) {
    while (g_connecting < g_concurrency && g_next_connect < g_nsocks) sock_connect(&g_socks[g_next_connect++]);
}

void sock_writable(Sock *s) {
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
        ws_send_upgrade(s);
        return;
    }
    sock_flush_out(s);
}
