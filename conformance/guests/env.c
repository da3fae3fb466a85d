/* args_*, environ_*, clock_*, random_get, sched_yield, and the sock_* calls (no socket is
 * ever preopened, so these only have error paths to show). */
#include "common.h"

static void show_args(void) {
    u32 argc = 0, size = 0;
    check("args_sizes_get", w_args_sizes_get(P(&argc), P(&size)));
    printf("argc=%u argv_buf_size=%u\n", argc, size);
    char **argv = calloc(argc + 1, sizeof(char *));
    char *buf = malloc(size + 1);
    memset(buf, '#', size + 1);
    check("args_get", w_args_get(P(argv), P(buf)));
    u32 used = 0;
    for (u32 i = 0; i < argc; i++) {
        size_t len = strlen(argv[i]);
        printf("argv[%u] at +%ld len=%zu: ", i, (long)(argv[i] - buf), len);
        print_bytes(argv[i], len);
        putchar('\n');
        used += (u32)len + 1;
    }
    printf("argv bytes used=%u, byte past the buffer untouched=%d\n", used, buf[size] == '#');
    free(argv);
    free(buf);
}

static void show_environ(void) {
    u32 count = 0, size = 0;
    check("environ_sizes_get", w_environ_sizes_get(P(&count), P(&size)));
    printf("environc=%u environ_buf_size=%u\n", count, size);
    char **envp = calloc(count + 1, sizeof(char *));
    char *buf = malloc(size + 1);
    memset(buf, '#', size + 1);
    check("environ_get", w_environ_get(P(envp), P(buf)));
    for (u32 i = 0; i < count; i++) {
        printf("environ[%u] at +%ld: ", i, (long)(envp[i] - buf));
        print_bytes(envp[i], strlen(envp[i]));
        putchar('\n');
    }
    printf("byte past the environ buffer untouched=%d\n", buf[size] == '#');
    /* libc's view of the same environment */
    const char *v = getenv("GREETING");
    printf("getenv(GREETING)=%s\n", v ? v : "(null)");
    printf("getenv(MISSING)=%s\n", getenv("MISSING") ? "set" : "(null)");
    free(envp);
    free(buf);
}

static void show_clocks(void) {
    static const char *const names[] = {"realtime", "monotonic", "process_cputime",
                                        "thread_cputime"};
    for (u32 id = 0; id < 4; id++) {
        u64 res = 0, t1 = 0, t2 = 0;
        char label[64];
        snprintf(label, sizeof label, "clock_res_get %s", names[id]);
        if (check(label, w_clock_res_get(id, P(&res))) == 0)
            printf("  resolution in (0, 1s]: %d\n", res > 0 && res <= 1000000000ull);
        snprintf(label, sizeof label, "clock_time_get %s", names[id]);
        if (check(label, w_clock_time_get(id, 1, P(&t1))) == 0) {
            (void)w_clock_time_get(id, 1, P(&t2));
            printf("  nonzero=%d non-decreasing=%d\n", t1 != 0, t2 >= t1);
        }
    }
    u64 now = 0;
    (void)w_clock_time_get(0, 0, P(&now));
    printf("realtime after 2020 and before 2200: %d\n",
           now > 1577836800000000000ull && now < 7258118400000000000ull);
    u64 x = 0;
    check("clock_time_get monotonic precision=max",
          w_clock_time_get(1, 0xffffffffffffffffull, P(&x)));
}

static void show_random(void) {
    unsigned char a[64], b[64];
    memset(a, 0, sizeof a);
    memset(b, 0, sizeof b);
    check("random_get len=0", w_random_get(P(a), 0));
    check("random_get 64", w_random_get(P(a), sizeof a));
    check("random_get 64 again", w_random_get(P(b), sizeof b));
    int nonzero = 0;
    for (size_t i = 0; i < sizeof a; i++) nonzero |= a[i];
    printf("random bytes nonzero=%d differ=%d\n", nonzero != 0, memcmp(a, b, sizeof a) != 0);
    static unsigned char big[100000];
    check("random_get 100000", w_random_get(P(big), sizeof big));
    unsigned hist = 0;
    for (size_t i = 0; i < sizeof big; i++) hist += big[i] == 0;
    printf("zero bytes in 100000 plausible: %d\n", hist > 100 && hist < 1000);
}

static void show_sockets(void) {
    u32 fd = 0, n = 0;
    uint16_t flags = 0;
    char data[4] = "abc";
    iov_t iov = {P(data), 3};
    static const u32 fds[] = {99, 0, 1, DIRFD};
    static const char *const what[] = {"unknown fd 99", "stdin", "stdout", "preopen dir"};
    for (int i = 0; i < 4; i++) {
        char label[80];
        snprintf(label, sizeof label, "sock_accept %s", what[i]);
        check(label, w_sock_accept(fds[i], 0, P(&fd)));
        snprintf(label, sizeof label, "sock_recv %s", what[i]);
        check(label, w_sock_recv(fds[i], P(&iov), 1, 0, P(&n), P(&flags)));
        snprintf(label, sizeof label, "sock_send %s", what[i]);
        check(label, w_sock_send(fds[i], P(&iov), 1, 0, P(&n)));
        snprintf(label, sizeof label, "sock_shutdown %s", what[i]);
        check(label, w_sock_shutdown(fds[i], 3));
    }
    u32 file;
    if (check("open hello.txt", open_rw("hello.txt", 0, 0, &file)) == 0) {
        check("sock_accept regular file", w_sock_accept(file, 0, P(&fd)));
        check("sock_recv regular file", w_sock_recv(file, P(&iov), 1, 0, P(&n), P(&flags)));
        check("sock_send regular file", w_sock_send(file, P(&iov), 1, 0, P(&n)));
        check("sock_shutdown regular file", w_sock_shutdown(file, 1));
        (void)w_fd_close(file);
    }
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    show_args();
    show_environ();
    show_clocks();
    show_random();
    check("sched_yield", w_sched_yield());
    check("sched_yield again", w_sched_yield());
    show_sockets();
    return 0;
}
