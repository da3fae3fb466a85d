/*
 * readfiles <dir> <count>: read <count> existing files of a tree made by the harness,
 * <dir>/files/f000000 ... (1 KiB each), as a program reading its fixtures does.
 * Phases, each timed on its own:
 *   readdir  one opendir/readdir pass over <dir>/files (entries/s)
 *   stat     stat() of each path (files/s)
 *   read     open(O_RDONLY) + read to the end + close (files/s)
 * Nothing is written: the tree may be on a read-only mount (an archive).
 */
#include <dirent.h>

#include "bench.h"

#define NAME_CAP 256

int main(int argc, char **argv) {
    if (argc < 3) bench_fail("usage: readfiles <dir> <count>");
    const char *dir = argv[1];
    long count = bench_arg(argc, argv, 2, "count");
    if (count < 1) bench_fail("count must be positive");
    char sub[1024];
    bench_join(sub, sizeof sub, dir, "files");
    char *paths = malloc((size_t)count * NAME_CAP);
    if (!paths) bench_fail("out of memory");
    for (long i = 0; i < count; i++) {
        int n = snprintf(paths + (size_t)i * NAME_CAP, NAME_CAP, "%s/f%06ld", sub, i);
        if (n < 0 || n >= NAME_CAP) bench_fail("path too long");
    }
#define PATH(i) (paths + (size_t)(i) * NAME_CAP)
    char buf[4096];
    struct stat st;
    uint64_t t0, t1;

    t0 = bench_now_ns();
    DIR *d = opendir(sub);
    if (!d) bench_die("opendir", sub);
    long seen = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] != '.') seen++;
    }
    closedir(d);
    t1 = bench_now_ns();
    if (seen != count) bench_fail("readdir: wrong number of entries");
    bench_report("readdir", (uint64_t)seen, t1 - t0);

    t0 = bench_now_ns();
    for (long i = 0; i < count; i++) {
        if (stat(PATH(i), &st) != 0) bench_die("stat", PATH(i));
    }
    t1 = bench_now_ns();
    bench_report("stat", (uint64_t)count, t1 - t0);

    uint64_t total = 0;
    t0 = bench_now_ns();
    for (long i = 0; i < count; i++) {
        int fd = open(PATH(i), O_RDONLY);
        if (fd < 0) bench_die("open", PATH(i));
        for (;;) {
            ssize_t n = read(fd, buf, sizeof buf);
            if (n < 0) bench_die("read", PATH(i));
            if (n == 0) break;
            total += (uint64_t)n;
        }
        if (close(fd) != 0) bench_die("close", PATH(i));
    }
    t1 = bench_now_ns();
    if (total != (uint64_t)count * 1024) bench_fail("read: wrong number of bytes");
    bench_report("read", (uint64_t)count, t1 - t0);
    return 0;
}
