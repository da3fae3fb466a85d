/*
 * seqread <dir> <mib>: sequential read(2) of a <mib> MiB file in 4 KiB, 64 KiB
 * and 1 MiB blocks. The file is written first, outside the timed region.
 */
#include "bench.h"

int main(int argc, char **argv) {
    if (argc < 3) bench_fail("usage: seqread <dir> <mib>");
    const char *dir = argv[1];
    long mib = bench_arg(argc, argv, 2, "mib");
    uint64_t size = (uint64_t)mib << 20;
    char path[1024];
    bench_join(path, sizeof path, dir, "seqread.dat");

    char *buf = malloc(1 << 20);
    if (!buf) bench_fail("out of memory");
    for (size_t i = 0; i < (1u << 20); i++) buf[i] = (char)(i * 131u + 7u);

    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) bench_die("open", path);
    for (long i = 0; i < mib; i++) bench_write_all(fd, buf, 1u << 20, path);
    if (close(fd) != 0) bench_die("close", path);

    static const struct { const char *metric; size_t block; } passes[] = {
        {"read_4k", 4096}, {"read_64k", 65536}, {"read_1m", 1u << 20},
    };
    for (size_t p = 0; p < sizeof passes / sizeof passes[0]; p++) {
        fd = open(path, O_RDONLY);
        if (fd < 0) bench_die("open", path);
        uint64_t total = 0;
        uint64_t t0 = bench_now_ns();
        for (;;) {
            ssize_t n = read(fd, buf, passes[p].block);
            if (n < 0) bench_die("read", path);
            if (n == 0) break;
            total += (uint64_t)n;
        }
        uint64_t t1 = bench_now_ns();
        if (close(fd) != 0) bench_die("close", path);
        if (total != size) bench_fail("read returned the wrong number of bytes");
        bench_report(passes[p].metric, total, t1 - t0);
    }
    free(buf);
    return 0;
}
