/* A guest for interruption and exit-status tests. argv[1] is a command; each one that waits
 * first prints "ready" (flushed) so that a test knows the guest runs:
 *   spin            compute forever (no syscall)
 *   syscalls        call clock_time_get forever (the guest is inside Python most of the time)
 *   sleep           sleep 1000 s (one poll_oneoff clock wait)
 *   read            read stdin until end of input, then print how many bytes
 *   edit-spin DIR   create DIR/made.txt and delete DIR/gone.txt, then compute forever
 *   fd3             report what fd 3 is: "fd3: <errno name>" or "fd3: ok"
 *   exit N          proc_exit(N) (any u32)
 *   utf8            write "é€" one byte per write(2)
 *   open PATH...    fopen each PATH, print "PATH: ok" or the error (the program links chdir,
 *                   so relative paths resolve from the working directory "/", as in CPython;
 *                   $CWD, when set, is changed to first)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <wasi/api.h>

static void ready(void) {
    puts("ready");
    fflush(stdout);
}

int main(int argc, char **argv) {
    if (argc < 2) return 64;
    const char *cmd = argv[1];
    if (!strcmp(cmd, "spin")) {
        ready();
        volatile unsigned long n = 0;
        for (;;) n++;
    } else if (!strcmp(cmd, "syscalls")) {
        ready();
        struct timespec ts;
        for (;;) clock_gettime(CLOCK_MONOTONIC, &ts);
    } else if (!strcmp(cmd, "sleep")) {
        ready();
        sleep(1000);
        puts("woke");
    } else if (!strcmp(cmd, "read")) {
        ready();
        char buf[4096];
        long total = 0;
        ssize_t n;
        while ((n = read(0, buf, sizeof buf)) > 0) total += n;
        printf("read %ld\n", total);
    } else if (!strcmp(cmd, "edit-spin") && argc > 2) {
        char path[512];
        snprintf(path, sizeof path, "%s/made.txt", argv[2]);
        FILE *f = fopen(path, "w");
        if (!f) { perror(path); return 1; }
        fputs("made\n", f);
        fclose(f);
        snprintf(path, sizeof path, "%s/gone.txt", argv[2]);
        if (unlink(path)) { perror(path); return 1; }
        ready();
        volatile unsigned long n = 0;
        for (;;) n++;
    } else if (!strcmp(cmd, "fd3")) {
        __wasi_fdstat_t st;
        __wasi_errno_t e = __wasi_fd_fdstat_get(3, &st);
        printf("fd3: %s\n", e == 0 ? "ok" : e == __WASI_ERRNO_BADF ? "EBADF" : "other");
    } else if (!strcmp(cmd, "exit") && argc > 2) {
        __wasi_proc_exit((__wasi_exitcode_t)strtoul(argv[2], 0, 10));
    } else if (!strcmp(cmd, "utf8")) {
        const char *s = "\xc3\xa9\xe2\x82\xac";
        for (const char *p = s; *p; p++) write(1, p, 1);
    } else if (!strcmp(cmd, "open")) {
        const char *cwd = getenv("CWD");  /* referencing chdir links wasi-libc's cwd support */
        if (cwd && chdir(cwd)) { perror("chdir"); return 1; }
        for (int i = 2; i < argc; i++) {
            FILE *f = fopen(argv[i], "r");
            printf("%s: %s\n", argv[i], f ? "ok" : strerror(errno));
            if (f) fclose(f);
        }
    } else {
        return 64;
    }
    return 0;
}
