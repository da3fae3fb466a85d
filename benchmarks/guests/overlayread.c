/*
 * overlayread <dir> <count>: reads <count> files of 1 KiB that already exist, as
 * <dir>/files/f000000 ... (the harness makes them before the run, in whatever backend the
 * column measures). Phases, each timed on its own:
 *   stat     stat() of each path
 *   read     open(O_RDONLY) + read 1 KiB + close
 *   readdir  one opendir/readdir pass over the <count> entries
 * Paths are formatted before the clock starts.
 */
#include <dirent.h>

#include "bench.h"

#define NAME_CAP 256

int main(int argc, char **argv) {
    if (argc < 3) bench_fail("usage: overlayread <dir> <count>");
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

    char buf[1024];
    struct stat st;
    uint64_t t0, t1;
    unsigned long sum = 0;

    t0 = bench_now_ns();
    for (long i = 0; i < count; i++) {
        if (stat(PATH(i), &st) != 0) bench_die("stat", PATH(i));
        if (st.st_size != (off_t)sizeof buf) bench_fail("stat: wrong size");
    }
    t1 = bench_now_ns();
    bench_report("stat", (uint64_t)count, t1 - t0);

    t0 = bench_now_ns();
    for (long i = 0; i < count; i++) {
        int fd = open(PATH(i), O_RDONLY);
        if (fd < 0) bench_die("open", PATH(i));
        ssize_t n = read(fd, buf, sizeof buf);
        if (n != (ssize_t)sizeof buf) bench_die("read", PATH(i));
        sum += (unsigned char)buf[i % sizeof buf];
        if (close(fd) != 0) bench_die("close", PATH(i));
    }
    t1 = bench_now_ns();
    bench_report("read", (uint64_t)count, t1 - t0);

    long seen = 0;
    t0 = bench_now_ns();
    DIR *d = opendir(sub);
    if (!d) bench_die("opendir", sub);
    struct dirent *e;
    errno = 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == 'f') seen++;
    }
    if (errno != 0) bench_die("readdir", sub);
    closedir(d);
    t1 = bench_now_ns();
    if (seen != count) bench_fail("readdir: wrong number of entries");
    bench_report("readdir", (uint64_t)seen, t1 - t0);
    printf("checksum %lu\n", sum);
    return 0;
}
