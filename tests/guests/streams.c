/* A guest for streaming tests: stdin, stdout and large files. argv[1] is a command:
 *   cat              copy stdin to stdout
 *   upper            copy stdin to stdout in upper case
 *   produce N        write N bytes (byte i is i % 251) to stdout, 64 KiB per write
 *   count            read stdin to its end; print "bytes N sum S" (S: the bytes' sum mod 2^32)
 *   lines N          print N lines "line I"
 *   poll             wait in poll_oneoff for stdin (or a 60 s clock), print which came first,
 *                    then read once and print what came ("got: ...")
 *   spin             print "ready", then compute forever
 *   tofile PATH      copy stdin to the file PATH
 *   fromfile PATH    copy the file PATH to stdout
 *   writefile PATH N write N bytes (byte i is i % 251) to PATH, 64 KiB per write
 *   readfile PATH    read PATH to its end, 64 KiB per read; print "bytes N sum S"
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <wasi/api.h>

#define BUF (64 * 1024)
static unsigned char buf[BUF];

static int write_all(int fd, const unsigned char *p, size_t n) {
    while (n) {
        ssize_t k = write(fd, p, n);
        if (k <= 0) { perror("write"); return 1; }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static int copy(int in, int out, int upper) {
    ssize_t n;
    while ((n = read(in, buf, BUF)) > 0) {
        if (upper)
            for (ssize_t i = 0; i < n; i++)
                if (buf[i] >= 'a' && buf[i] <= 'z') buf[i] -= 32;
        if (write_all(out, buf, (size_t)n)) return 1;
    }
    if (n < 0) { perror("read"); return 1; }
    return 0;
}

static int produce(int out, unsigned long long total) {
    unsigned long long done = 0;
    while (done < total) {
        size_t n = total - done < BUF ? (size_t)(total - done) : BUF;
        for (size_t i = 0; i < n; i++) buf[i] = (unsigned char)((done + i) % 251);
        if (write_all(out, buf, n)) return 1;
        done += n;
    }
    return 0;
}

static int count(int in) {
    unsigned long long total = 0;
    unsigned int sum = 0;
    ssize_t n;
    while ((n = read(in, buf, BUF)) > 0) {
        for (ssize_t i = 0; i < n; i++) sum += buf[i];
        total += (unsigned long long)n;
    }
    if (n < 0) { perror("read"); return 1; }
    printf("bytes %llu sum %u\n", total, sum);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) return 64;
    const char *cmd = argv[1];
    if (!strcmp(cmd, "cat")) return copy(0, 1, 0);
    if (!strcmp(cmd, "upper")) return copy(0, 1, 1);
    if (!strcmp(cmd, "produce") && argc > 2) return produce(1, strtoull(argv[2], 0, 10));
    if (!strcmp(cmd, "count")) return count(0);
    if (!strcmp(cmd, "lines") && argc > 2) {
        long n = strtol(argv[2], 0, 10);
        for (long i = 0; i < n; i++) printf("line %ld\n", i);
        return 0;
    }
    if (!strcmp(cmd, "poll")) {
        __wasi_subscription_t subs[2];
        memset(subs, 0, sizeof subs);
        subs[0].userdata = 1;
        subs[0].u.tag = __WASI_EVENTTYPE_FD_READ;
        subs[0].u.u.fd_read.file_descriptor = 0;
        subs[1].userdata = 2;
        subs[1].u.tag = __WASI_EVENTTYPE_CLOCK;
        subs[1].u.u.clock.id = __WASI_CLOCKID_MONOTONIC;
        subs[1].u.u.clock.timeout = 60ull * 1000 * 1000 * 1000;
        __wasi_event_t events[2];
        __wasi_size_t nevents = 0;
        if (__wasi_poll_oneoff(subs, events, 2, &nevents)) { puts("poll failed"); return 1; }
        printf("event: %s\n", events[0].userdata == 1 ? "stdin" : "clock");
        ssize_t n = read(0, buf, BUF - 1);
        if (n < 0) { perror("read"); return 1; }
        buf[n] = 0;
        printf("got: %s\n", (char *)buf);
        return 0;
    }
    if (!strcmp(cmd, "spin")) {
        puts("ready");
        fflush(stdout);
        volatile unsigned long n = 0;
        for (;;) n++;
    }
    if (!strcmp(cmd, "tofile") && argc > 2) {
        int fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0) { perror(argv[2]); return 1; }
        int rc = copy(0, fd, 0);
        return close(fd) ? 1 : rc;
    }
    if (!strcmp(cmd, "fromfile") && argc > 2) {
        int fd = open(argv[2], O_RDONLY);
        if (fd < 0) { perror(argv[2]); return 1; }
        int rc = copy(fd, 1, 0);
        close(fd);
        return rc;
    }
    if (!strcmp(cmd, "writefile") && argc > 3) {
        int fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0) { perror(argv[2]); return 1; }
        int rc = produce(fd, strtoull(argv[3], 0, 10));
        return close(fd) ? 1 : rc;
    }
    if (!strcmp(cmd, "readfile") && argc > 2) {
        int fd = open(argv[2], O_RDONLY);
        if (fd < 0) { perror(argv[2]); return 1; }
        int rc = count(fd);
        close(fd);
        return rc;
    }
    return 64;
}
