/*
 * Shared helpers for the wasifs benchmark guests.
 *
 * Every guest takes the directory it may use as argv[1] and prints one line per
 * measurement on stdout:
 *
 *     @bench <metric> <count> <nanoseconds>
 *
 * <count> is bytes for throughput metrics and operations for the others; the
 * harness (benchmarks/run.py) turns the pair into MiB/s, ops/s or µs/call.
 * Only the measured loop sits between the two clock readings: setup (creating
 * input files, building trees) and cleanup are outside it, and so is the
 * runtime's own start-up.
 *
 * The same sources build for wasm32-wasi (zig cc) and for the host (gcc), so
 * they use POSIX calls only.
 */
#ifndef WASIFS_BENCH_H
#define WASIFS_BENCH_H

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static inline uint64_t bench_now_ns(void) {
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) {
        perror("clock_gettime");
        exit(2);
    }
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline void bench_report(const char *metric, uint64_t count, uint64_t ns) {
    printf("@bench %s %llu %llu\n", metric, (unsigned long long)count,
           (unsigned long long)ns);
    fflush(stdout);
}

static inline void bench_die(const char *what, const char *path) {
    fprintf(stderr, "bench: %s(%s) failed: %s\n", what, path ? path : "", strerror(errno));
    exit(1);
}

static inline void bench_fail(const char *message) {
    fprintf(stderr, "bench: %s\n", message);
    exit(1);
}

/* Parse a non-negative decimal argument or exit with a message. */
static inline long bench_arg(int argc, char **argv, int index, const char *name) {
    if (index >= argc) {
        fprintf(stderr, "bench: missing argument %d (%s)\n", index, name);
        exit(2);
    }
    char *end = NULL;
    long value = strtol(argv[index], &end, 10);
    if (end == argv[index] || *end != '\0' || value < 0) {
        fprintf(stderr, "bench: bad %s: %s\n", name, argv[index]);
        exit(2);
    }
    return value;
}

/* write() the whole buffer, retrying short writes. */
static inline void bench_write_all(int fd, const void *buf, size_t len, const char *path) {
    const char *p = (const char *)buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR) continue;
            bench_die("write", path);
        }
        if (n == 0) bench_fail("write returned 0");
        p += n;
        len -= (size_t)n;
    }
}

/* Join dir and name into out (size cap), exiting on overflow. */
static inline void bench_join(char *out, size_t cap, const char *dir, const char *name) {
    int n = snprintf(out, cap, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= cap) bench_fail("path too long");
}

#endif
