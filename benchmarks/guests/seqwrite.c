/*
 * seqwrite <dir> <mib>: sequential write(2) of <mib> MiB into a new file, in
 * 4 KiB blocks and then in 1 MiB blocks (a separate file each). The timed
 * region is the write loop; open and close are outside it.
 */
#include "bench.h"

static void pass(const char *dir, const char *name, const char *metric, const char *buf,
                 size_t block, uint64_t size) {
    char path[1024];
    bench_join(path, sizeof path, dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) bench_die("open", path);
    uint64_t t0 = bench_now_ns();
    for (uint64_t done = 0; done < size; done += block) bench_write_all(fd, buf, block, path);
    uint64_t t1 = bench_now_ns();
    if (close(fd) != 0) bench_die("close", path);
    struct stat st;
    if (stat(path, &st) != 0) bench_die("stat", path);
    if ((uint64_t)st.st_size != size) bench_fail("written file has the wrong size");
    bench_report(metric, size, t1 - t0);
}

int main(int argc, char **argv) {
    if (argc < 3) bench_fail("usage: seqwrite <dir> <mib>");
    const char *dir = argv[1];
    long mib = bench_arg(argc, argv, 2, "mib");
    char *buf = malloc(1 << 20);
    if (!buf) bench_fail("out of memory");
    for (size_t i = 0; i < (1u << 20); i++) buf[i] = (char)(i * 131u + 7u);
    pass(dir, "seqwrite_4k.dat", "write_4k", buf, 4096, (uint64_t)mib << 20);
    pass(dir, "seqwrite_1m.dat", "write_1m", buf, 1u << 20, (uint64_t)mib << 20);
    free(buf);
    return 0;
}
