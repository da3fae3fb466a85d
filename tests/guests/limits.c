/* A guest for run limits. argv[1] is a command:
 *   spin               print "ready", then compute forever (no syscall)
 *   sleep              print "ready", then sleep 1000 s (one poll_oneoff wait)
 *   open DIR N         open N files DIR/f<i> (created), print "opened N", then compute forever
 *   count N            compute N loop iterations, print "counted N"
 *   alloc KIB          malloc blocks of KIB KiB until one fails; print "allocated <total> KiB"
 *                      and "malloc failed", exit 0
 *   alloc-abort KIB    the same, then abort() (a trap) when malloc fails
 *   grow PAGES         memory.grow by PAGES pages: print what it returned (-1 when refused)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

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
    } else if (!strcmp(cmd, "sleep")) {
        ready();
        sleep(1000);
        puts("woke");
    } else if (!strcmp(cmd, "open") && argc > 3) {
        int n = atoi(argv[3]);
        char path[512];
        for (int i = 0; i < n; i++) {
            snprintf(path, sizeof path, "%s/f%d", argv[2], i);
            if (open(path, O_RDWR | O_CREAT, 0644) < 0) { perror(path); return 1; }
        }
        printf("opened %d\n", n);
        fflush(stdout);
        volatile unsigned long k = 0;
        for (;;) k++;
    } else if (!strcmp(cmd, "count") && argc > 2) {
        long n = atol(argv[2]);
        volatile long k = 0;
        for (long i = 0; i < n; i++) k += i;
        printf("counted %ld\n", n);
    } else if ((!strcmp(cmd, "alloc") || !strcmp(cmd, "alloc-abort")) && argc > 2) {
        size_t step = (size_t)atol(argv[2]) * 1024;
        size_t total = 0;
        for (;;) {
            char *p = malloc(step);
            if (!p) break;
            memset(p, 1, step);
            total += step;
        }
        printf("allocated %zu KiB\nmalloc failed\n", total / 1024);
        fflush(stdout);
        if (!strcmp(cmd, "alloc-abort")) abort();
    } else if (!strcmp(cmd, "grow") && argc > 2) {
        printf("%d\n", (int)__builtin_wasm_memory_grow(0, (unsigned long)atol(argv[2])));
    } else {
        return 64;
    }
    return 0;
}
