/* poll_oneoff: clocks (relative, absolute, past), fd readiness of regular files, stdin and
 * stdout, bad descriptors, a ready fd suppressing a clock, and nsubscriptions == 0.
 * Tree: data.txt = 10 bytes. stdin: "stdin-bytes\n" (a file under wasmtime). */
#include "common.h"

typedef struct {
    u64 userdata;
    uint8_t tag;
    uint8_t pad[7];
    union {
        struct { u32 id; u32 pad; u64 timeout; u64 precision; uint16_t flags; } clock;
        struct { u32 fd; } rw;
        uint8_t raw[32];
    } u;
} sub_t;
typedef struct {
    u64 userdata;
    uint16_t error;
    uint8_t type;
    uint8_t pad[5];
    u64 nbytes;
    uint16_t flags;
    uint8_t pad2[6];
} event_t;
_Static_assert(sizeof(sub_t) == 48, "subscription layout");
_Static_assert(sizeof(event_t) == 32, "event layout");

enum { EV_CLOCK = 0, EV_READ = 1, EV_WRITE = 2 };

static sub_t clock_sub(u64 ud, u32 id, u64 timeout, uint16_t flags) {
    sub_t s;
    memset(&s, 0, sizeof s);
    s.userdata = ud;
    s.tag = EV_CLOCK;
    s.u.clock.id = id;
    s.u.clock.timeout = timeout;
    s.u.clock.precision = 0;
    s.u.clock.flags = flags;
    return s;
}

static sub_t fd_sub(u64 ud, uint8_t tag, u32 fd) {
    sub_t s;
    memset(&s, 0, sizeof s);
    s.userdata = ud;
    s.tag = tag;
    s.u.rw.fd = fd;
    return s;
}

static int by_ud(const void *a, const void *b) {
    u64 x = ((const event_t *)a)->userdata, y = ((const event_t *)b)->userdata;
    return x < y ? -1 : x > y;
}

/* show_nbytes: print nbytes of fd events (how much is ready is host-specific for some
 * kinds of streams, so callers choose). */
static void poll_and_show(const char *label, sub_t *subs, u32 n, int show_nbytes) {
    event_t evs[8];
    memset(evs, 0xCC, sizeof evs);
    u32 nev = 999;
    i32 e = w_poll_oneoff(P(subs), P(evs), n, P(&nev));
    printf("%s: %s", label, en(e));
    if (e) { putchar('\n'); return; }
    printf(" nevents=%u\n", nev);
    if (nev > 8) return;
    qsort(evs, nev, sizeof evs[0], by_ud);
    for (u32 i = 0; i < nev; i++) {
        printf("  userdata=%llu type=%u error=%s", (unsigned long long)evs[i].userdata,
               evs[i].type, en(evs[i].error));
        if (evs[i].type != EV_CLOCK) {
            printf(" hangup=%u", evs[i].flags & 1);
            if (show_nbytes) printf(" nbytes=%llu", (unsigned long long)evs[i].nbytes);
        }
        putchar('\n');
    }
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    sub_t subs[8];
    u32 nev = 0;
    event_t ev[2];

    check("poll 0 subscriptions", w_poll_oneoff(P(subs), P(ev), 0, P(&nev)));

    u64 t0 = 0, t1 = 0;
    (void)w_clock_time_get(1, 0, P(&t0));
    subs[0] = clock_sub(7, 1, 20000000ull, 0); /* 20 ms relative, monotonic */
    poll_and_show("relative monotonic 20ms", subs, 1, 0);
    (void)w_clock_time_get(1, 0, P(&t1));
    printf("  slept at least 20ms: %d\n", t1 - t0 >= 20000000ull);

    subs[0] = clock_sub(8, 0, 1000000ull, 0); /* 1 ms relative, realtime */
    poll_and_show("relative realtime 1ms", subs, 1, 0);

    subs[0] = clock_sub(9, 1, 0, 0);
    poll_and_show("relative timeout 0", subs, 1, 0);

    (void)w_clock_time_get(1, 0, P(&t0));
    subs[0] = clock_sub(10, 1, t0 + 10000000ull, 1); /* absolute, 10 ms from now */
    poll_and_show("absolute monotonic +10ms", subs, 1, 0);
    (void)w_clock_time_get(1, 0, P(&t1));
    printf("  reached the deadline: %d\n", t1 >= t0 + 10000000ull);

    subs[0] = clock_sub(11, 1, 1, 1); /* absolute, long past */
    poll_and_show("absolute monotonic in the past", subs, 1, 0);
    subs[0] = clock_sub(12, 0, 1, 1);
    poll_and_show("absolute realtime in the past", subs, 1, 0);

    /* two clocks: only the earlier one fires */
    subs[0] = clock_sub(13, 1, 5000000000ull, 0);
    subs[1] = clock_sub(14, 1, 1000000ull, 0);
    poll_and_show("two clocks 5s and 1ms", subs, 2, 0);

    /* regular files are always ready, and a ready fd suppresses a pending clock */
    u32 fd;
    check("open data.txt", open_rw("data.txt", 0, 0, &fd));
    subs[0] = fd_sub(20, EV_READ, fd);
    poll_and_show("file read-ready", subs, 1, 0);
    subs[0] = fd_sub(21, EV_WRITE, fd);
    poll_and_show("file write-ready", subs, 1, 0);
    subs[0] = fd_sub(22, EV_READ, fd);
    subs[1] = fd_sub(23, EV_WRITE, fd);
    subs[2] = clock_sub(24, 1, 5000000000ull, 0);
    {
        /* how many of the ready events one call reports is up to the host: print only
         * what every host must satisfy */
        event_t evs[3];
        u32 nev3 = 0;
        i32 e = w_poll_oneoff(P(subs), P(evs), 3, P(&nev3));
        int fd_events = 0, clock_events = 0, ok = 1;
        for (u32 i = 0; i < nev3 && i < 3; i++) {
            if (evs[i].type == EV_CLOCK) clock_events++;
            else fd_events++;
            if (evs[i].error != 0) ok = 0;
            if (evs[i].userdata == 22 && evs[i].type != EV_READ) ok = 0;
            if (evs[i].userdata == 23 && evs[i].type != EV_WRITE) ok = 0;
        }
        printf("file read+write+5s clock: %s fd events>=1: %d clock suppressed: %d "
               "events consistent: %d\n", en(e), fd_events >= 1, clock_events == 0, ok);
    }
    u64 pos;
    (void)w_fd_seek(fd, 4, WH_SET, P(&pos));
    subs[0] = fd_sub(25, EV_READ, fd);
    poll_and_show("file read-ready at offset 4", subs, 1, 0);
    (void)w_fd_seek(fd, 0, WH_END, P(&pos));
    poll_and_show("file read-ready at EOF", subs, 1, 0);

    /* stdout is writable */
    subs[0] = fd_sub(30, EV_WRITE, 1);
    subs[1] = clock_sub(31, 1, 5000000000ull, 0);
    poll_and_show("stdout write-ready + 5s clock", subs, 2, 0);

    /* bad descriptors give an event with an error, not a failed call */
    subs[0] = fd_sub(40, EV_READ, 999);
    poll_and_show("read on unknown fd", subs, 1, 0);
    subs[0] = fd_sub(41, EV_WRITE, 999);
    subs[1] = clock_sub(42, 1, 1000000ull, 0);
    poll_and_show("write on unknown fd + 1ms clock", subs, 2, 0);
    subs[0] = fd_sub(43, EV_READ, DIRFD);
    poll_and_show("read on a directory", subs, 1, 0);

    /* stdin is ready (data, then end of file) */
    subs[0] = fd_sub(50, EV_READ, 0);
    poll_and_show("stdin read-ready", subs, 1, 0);
    char buf[64];
    u32 n = 0;
    (void)read_buf(0, buf, sizeof buf, &n);
    printf("  read stdin: ");
    print_bytes(buf, n);
    putchar('\n');
    poll_and_show("stdin read-ready at EOF", subs, 1, 0);

    /* output buffer reuse: the same subscription array twice */
    subs[0] = clock_sub(60, 1, 0, 0);
    subs[1] = clock_sub(61, 1, 0, 0);
    poll_and_show("two zero timeouts", subs, 2, 0);
    check("sched_yield", w_sched_yield());
    return 0;
}
