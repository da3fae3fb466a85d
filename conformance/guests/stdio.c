/* The standard streams: read all of stdin (raw fd_read, small buffers, then libc), write to
 * stdout and stderr through fd_write and through libc, and the calls that make no sense on
 * a stream. argv[1] selects a mode: "raw" (default) or "libc" or "lines". */
#include "common.h"

static void raw_mode(void) {
    static char data[1 << 16];
    u32 total = 0, n = 0, calls = 0;
    for (;;) {
        /* deliberately small reads: 7 bytes at a time */
        iov_t iov = {P(data + total), 7};
        if (total + 7 > sizeof data) break;
        i32 e = w_fd_read(0, P(&iov), 1, P(&n));
        calls++;
        if (e) { printf("fd_read stdin: %s\n", en(e)); break; }
        if (n == 0) break;
        total += n;
    }
    printf("stdin bytes=%u\n", total);
    printf("stdin content: ");
    print_bytes(data, total);
    putchar('\n');
    u32 after = 99;
    check("fd_read after EOF", read_buf(0, data, 10, &after));
    printf("  n=%u\n", after);
    u64 pos = 0;
    check("fd_seek stdin", w_fd_seek(0, 0, WH_CUR, P(&pos)));
    check("fd_tell stdout", w_fd_tell(1, P(&pos)));
    check("fd_write stdin", write_str(0, "x", &n));
    check("fd_read stdout", read_buf(1, data, 4, &n));
    check("fd_pread stdin", w_fd_pread(0, P((&(iov_t){P(data), 4})), 1, 0, P(&n)));
    check("fd_pwrite stdout", w_fd_pwrite(1, P((&(iov_t){P("zz"), 2})), 1, 0, P(&n)));
    check("fd_datasync stdout", w_fd_datasync(1));
    check("fd_sync stdout", w_fd_sync(1));
    check("fd_fdstat_set_flags stdout NONBLOCK", w_fd_fdstat_set_flags(1, FD_NONBLOCK));
    check("fd_fdstat_set_flags stdout 0", w_fd_fdstat_set_flags(1, 0));
    check("fd_filestat_set_times stdout", w_fd_filestat_set_times(1, 0, 0, FST_MTIM_NOW));
    /* raw fd_write with several iovecs to stdout and stderr */
    const char *a = "gathered ", *b = "stdout ", *c = "line\n";
    iov_t out[3] = {{P(a), (u32)strlen(a)}, {P(b), (u32)strlen(b)}, {P(c), (u32)strlen(c)}};
    fflush(stdout);
    u32 w = 0, sum = 0;
    /* loop as a libc would: a host may write fewer bytes than asked */
    u32 want = (u32)(strlen(a) + strlen(b) + strlen(c));
    i32 e = w_fd_write(1, P(out), 3, P(&w));
    sum += w;
    while (!e && sum < want && w > 0) {
        /* finish the rest byte-exactly */
        char rest[64];
        snprintf(rest, sizeof rest, "%s%s%s", a, b, c);
        iov_t r = {P(rest + sum), want - sum};
        e = w_fd_write(1, P(&r), 1, P(&w));
        sum += w;
    }
    printf("fd_write 3 iovecs to stdout: %s total=%u\n", en(e), sum);
    const char *msg = "to stderr\n";
    e = w_fd_write(2, P((&(iov_t){P(msg), (u32)strlen(msg)})), 1, P(&w));
    printf("fd_write stderr: %s n=%u\n", en(e), w);
}

static void libc_mode(void) {
    char line[256];
    int count = 0;
    size_t bytes = 0;
    while (fgets(line, sizeof line, stdin)) {
        count++;
        bytes += strlen(line);
        size_t l = strlen(line);
        if (l && line[l - 1] == '\n') line[--l] = 0;
        printf("%d: [%s]\n", count, line);
        fprintf(stderr, "err %d\n", count);
    }
    printf("lines=%d bytes=%zu eof=%d error=%d\n", count, bytes, feof(stdin), ferror(stdin));
    fputs("unbuffered stderr ", stderr);
    fputs("and more\n", stderr);
    /* a big write through stdio */
    for (int i = 0; i < 2000; i++) printf("%04d%c", i, i % 20 == 19 ? '\n' : ' ');
}

static void lines_mode(void) {
    /* byte-at-a-time getchar and a big binary stdin */
    int c;
    unsigned long sum = 0, n = 0;
    while ((c = getchar()) != EOF) { sum = sum * 31 + (unsigned)c; n++; }
    printf("getchar bytes=%lu hash=%lu\n", n, sum);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *mode = argc > 1 ? argv[1] : "raw";
    if (strcmp(mode, "raw") == 0) raw_mode();
    else if (strcmp(mode, "libc") == 0) libc_mode();
    else if (strcmp(mode, "lines") == 0) lines_mode();
    else { fprintf(stderr, "unknown mode %s\n", mode); return 2; }
    return 0;
}
