/*
 * hotpath: the calls of the second hot-path pass, written on their own (no shared header).
 *
 *     hotpath <dir> <files> <calls> [cpu]
 *
 * Prints "@bench <metric> <count> <ns>" lines, each timing only its loop with
 * CLOCK_MONOTONIC (with "cpu": CLOCK_PROCESS_CPUTIME_ID, the CPU time of the process that runs
 * the guest and its host calls, which other processes on a busy machine disturb less; not
 * every runtime has that clock):
 *   dirstat    fstatat() of one name relative to a directory this program opened itself
 *   dirstat2   fstatat() of a two-component path ("sub/name") relative to that directory
 *   prestat    stat() of one name in the directory argument itself (a preopen under WASI)
 *   create     <files> files made with open(O_CREAT|O_EXCL|O_WRONLY) in a subdirectory,
 *              64 bytes written, closed
 *   read       each opened, read, closed
 *   unlink     each unlinked
 *   fdstat     fcntl(F_GETFL)            (fd_fdstat_get)
 *   clock      clock_gettime(MONOTONIC)  (clock_time_get)
 *   seek       lseek(SEEK_SET)           (fd_seek)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifdef __wasi__
#include <wasi/api.h>
#endif

static int cpu_clock = 0;

static uint64_t now(void) {
    struct timespec ts;
    if (cpu_clock) {
#ifdef __wasi__
        __wasi_timestamp_t t;
        if (__wasi_clock_time_get(__WASI_CLOCKID_PROCESS_CPUTIME_ID, 1, &t) != 0) {
            fprintf(stderr, "hotpath: no process CPU-time clock here\n");
            exit(2);
        }
        return (uint64_t)t;
#else
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
#endif
    } else {
        clock_gettime(CLOCK_MONOTONIC, &ts);
    }
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void report(const char *metric, long count, uint64_t ns) {
    printf("@bench %s %ld %llu\n", metric, count, (unsigned long long)ns);
    fflush(stdout);
}

static void die(const char *what, const char *arg) {
    fprintf(stderr, "hotpath: %s %s: %s\n", what, arg, strerror(errno));
    exit(1);
}

static long number(const char *s) {
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v <= 0) {
        fprintf(stderr, "hotpath: not a positive number: %s\n", s);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv) {
    if (argc != 4 && !(argc == 5 && strcmp(argv[4], "cpu") == 0)) {
        fprintf(stderr, "usage: hotpath <dir> <files> <calls> [cpu]\n");
        return 2;
    }
    cpu_clock = argc == 5;
    const char *root = argv[1];
    long files = number(argv[2]);
    long calls = number(argv[3]);
    char path[512];
    char data[64];
    memset(data, 'h', sizeof data);
    struct stat st;
    uint64_t t;

    /* a directory opened by the guest, one file in it, one more a level down */
    snprintf(path, sizeof path, "%s/opened", root);
    if (mkdir(path, 0755) != 0) die("mkdir", path);
    int dfd = open(path, O_RDONLY | O_DIRECTORY);
    if (dfd < 0) die("open", path);
    int fd = openat(dfd, "target", O_CREAT | O_EXCL | O_RDWR, 0644);
    if (fd < 0) die("openat", "target");
    if (write(fd, data, sizeof data) != (ssize_t)sizeof data) die("write", "target");
    if (mkdirat(dfd, "sub", 0755) != 0) die("mkdirat", "sub");
    int fd2 = openat(dfd, "sub/target", O_CREAT | O_EXCL | O_WRONLY, 0644);
    if (fd2 < 0) die("openat", "sub/target");
    close(fd2);

    t = now();
    for (long i = 0; i < calls; i++)
        if (fstatat(dfd, "target", &st, 0) != 0) die("fstatat", "target");
    report("dirstat", calls, now() - t);
    if (st.st_size != (off_t)sizeof data) die("size of", "target");

    t = now();
    for (long i = 0; i < calls; i++)
        if (fstatat(dfd, "sub/target", &st, 0) != 0) die("fstatat", "sub/target");
    report("dirstat2", calls, now() - t);

    char top[512];
    snprintf(top, sizeof top, "%s/top", root);
    int tfd = open(top, O_CREAT | O_EXCL | O_WRONLY, 0644);
    if (tfd < 0) die("open", top);
    close(tfd);
    t = now();
    for (long i = 0; i < calls; i++)
        if (stat(top, &st) != 0) die("stat", top);
    report("prestat", calls, now() - t);

    t = now();
    for (long i = 0; i < calls; i++)
        if (fcntl(fd, F_GETFL) < 0) die("fcntl", "target");
    report("fdstat", calls, now() - t);

    struct timespec ts;
    t = now();
    for (long i = 0; i < calls; i++)
        if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) die("clock_gettime", "");
    report("clock", calls, now() - t);

    t = now();
    for (long i = 0; i < calls; i++)
        if (lseek(fd, (off_t)(i & 63), SEEK_SET) < 0) die("lseek", "target");
    report("seek", calls, now() - t);
    close(fd);
    close(dfd);

    /* small files in a subdirectory, named by paths from the directory argument */
    snprintf(path, sizeof path, "%s/many", root);
    if (mkdir(path, 0755) != 0) die("mkdir", path);
    t = now();
    for (long i = 0; i < files; i++) {
        snprintf(path, sizeof path, "%s/many/f%06ld", root, i);
        int f = open(path, O_CREAT | O_EXCL | O_WRONLY, 0644);
        if (f < 0) die("create", path);
        if (write(f, data, sizeof data) != (ssize_t)sizeof data) die("write", path);
        close(f);
    }
    report("create", files, now() - t);

    char buf[256];
    t = now();
    for (long i = 0; i < files; i++) {
        snprintf(path, sizeof path, "%s/many/f%06ld", root, i);
        int f = open(path, O_RDONLY);
        if (f < 0) die("open", path);
        if (read(f, buf, sizeof buf) != (ssize_t)sizeof data) die("read", path);
        close(f);
    }
    report("read", files, now() - t);

    t = now();
    for (long i = 0; i < files; i++) {
        snprintf(path, sizeof path, "%s/many/f%06ld", root, i);
        if (unlink(path) != 0) die("unlink", path);
    }
    report("unlink", files, now() - t);
    return 0;
}
