/*
 * latency <dir> <iterations>: per-call cost of single cheap system calls.
 *
 * Each loop makes <iterations> calls of one kind; the metric is reported with
 * the call count, so the harness shows µs/call. Under WASI the calls map to:
 *   sched_yield -> sched_yield        (no arguments, no memory: the bare crossing)
 *   clock       -> clock_time_get
 *   fdstat      -> fd_fdstat_get      (fcntl(F_GETFL))
 *   fstat       -> fd_filestat_get
 *   stat        -> path_filestat_get  (stat of an absolute path)
 *   lseek       -> fd_seek
 *   pread16     -> fd_pread, 16 bytes
 *   read16      -> fd_read, 16 bytes, sequential
 *   write16     -> fd_write, 16 bytes, sequential, to a regular file
 */
#include <sched.h>

#include "bench.h"

static volatile uint64_t sink;

int main(int argc, char **argv) {
    if (argc < 3) bench_fail("usage: latency <dir> <iterations>");
    const char *dir = argv[1];
    long iters = bench_arg(argc, argv, 2, "iterations");
    if (iters < 1) bench_fail("iterations must be positive");
    char rpath[1024], wpath[1024];
    bench_join(rpath, sizeof rpath, dir, "latency_r.dat");
    bench_join(wpath, sizeof wpath, dir, "latency_w.dat");

    /* Setup: a file of 16 * iters bytes to read from. */
    uint64_t rsize = 16u * (uint64_t)iters;
    char block[4096];
    for (size_t i = 0; i < sizeof block; i++) block[i] = (char)i;
    int rfd = open(rpath, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (rfd < 0) bench_die("open", rpath);
    for (uint64_t done = 0; done < rsize; done += sizeof block) {
        uint64_t left = rsize - done;
        bench_write_all(rfd, block, left < sizeof block ? (size_t)left : sizeof block, rpath);
    }
    int wfd = open(wpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (wfd < 0) bench_die("open", wpath);

    char buf[16];
    struct stat st;
    struct timespec ts;
    uint64_t acc = 0, t0, t1;

    t0 = bench_now_ns();
    for (long i = 0; i < iters; i++) {
        if (sched_yield() != 0) bench_die("sched_yield", NULL);
    }
    t1 = bench_now_ns();
    bench_report("sched_yield", (uint64_t)iters, t1 - t0);

    t0 = bench_now_ns();
    for (long i = 0; i < iters; i++) {
        if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) bench_die("clock_gettime", NULL);
        acc += (uint64_t)ts.tv_nsec;
    }
    t1 = bench_now_ns();
    bench_report("clock", (uint64_t)iters, t1 - t0);

    t0 = bench_now_ns();
    for (long i = 0; i < iters; i++) {
        int flags = fcntl(rfd, F_GETFL);
        if (flags < 0) bench_die("fcntl", rpath);
        acc += (uint64_t)flags;
    }
    t1 = bench_now_ns();
    bench_report("fdstat", (uint64_t)iters, t1 - t0);

    t0 = bench_now_ns();
    for (long i = 0; i < iters; i++) {
        if (fstat(rfd, &st) != 0) bench_die("fstat", rpath);
        acc += (uint64_t)st.st_size;
    }
    t1 = bench_now_ns();
    bench_report("fstat", (uint64_t)iters, t1 - t0);

    t0 = bench_now_ns();
    for (long i = 0; i < iters; i++) {
        if (stat(rpath, &st) != 0) bench_die("stat", rpath);
        acc += (uint64_t)st.st_size;
    }
    t1 = bench_now_ns();
    bench_report("stat", (uint64_t)iters, t1 - t0);

    t0 = bench_now_ns();
    for (long i = 0; i < iters; i++) {
        off_t pos = lseek(rfd, (off_t)(i & 1023), SEEK_SET);
        if (pos < 0) bench_die("lseek", rpath);
        acc += (uint64_t)pos;
    }
    t1 = bench_now_ns();
    bench_report("lseek", (uint64_t)iters, t1 - t0);

    t0 = bench_now_ns();
    for (long i = 0; i < iters; i++) {
        ssize_t n = pread(rfd, buf, sizeof buf, (off_t)(16u * (uint64_t)i));
        if (n != (ssize_t)sizeof buf) bench_die("pread", rpath);
        acc += (unsigned char)buf[3];
    }
    t1 = bench_now_ns();
    bench_report("pread16", (uint64_t)iters, t1 - t0);

    if (lseek(rfd, 0, SEEK_SET) != 0) bench_die("lseek", rpath);
    t0 = bench_now_ns();
    for (long i = 0; i < iters; i++) {
        ssize_t n = read(rfd, buf, sizeof buf);
        if (n != (ssize_t)sizeof buf) bench_die("read", rpath);
        acc += (unsigned char)buf[5];
    }
    t1 = bench_now_ns();
    bench_report("read16", (uint64_t)iters, t1 - t0);

    t0 = bench_now_ns();
    for (long i = 0; i < iters; i++) {
        ssize_t n = write(wfd, buf, sizeof buf);
        if (n != (ssize_t)sizeof buf) bench_die("write", wpath);
    }
    t1 = bench_now_ns();
    bench_report("write16", (uint64_t)iters, t1 - t0);

    if (close(rfd) != 0) bench_die("close", rpath);
    if (close(wfd) != 0) bench_die("close", wpath);
    sink = acc;
    return 0;
}
