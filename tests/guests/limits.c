/* A guest for run limits. argv[1] is a command:
 *   spin               print "ready", then compute forever (no syscall)
 *   sleep              print "ready", then sleep 1000 s (one poll_oneoff wait)
 *   open DIR N         open N files DIR/f<i> (created), print "opened N", then compute forever
 *   count N            compute N loop iterations, print "counted N"
 *   alloc KIB          malloc blocks of KIB KiB until one fails; print "allocated <total> KiB"
 *                      and "malloc failed", exit 0
 *   alloc-abort KIB    the same, then abort() (a trap) when malloc fails
 *   grow PAGES         memory.grow by PAGES pages: print what it returned (-1 when refused)
 *   fill FILE KIB      write KIB KiB to FILE, 1 KiB at a time: print "wrote <bytes>" and, when
 *                      a write fails or is short, "error <errno name>"
 *   create DIR N       create N empty files DIR/c<i>: print "created <count>" and the error
 *   ls DIR             print the names in DIR (sorted by the guest: one per line)
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

static char *volatile keep;

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
            keep = p;  /* escapes: the compiler may not elide the allocation */
            total += step;
        }
        printf("allocated %zu KiB\nmalloc failed\n", total / 1024);
        fflush(stdout);
        if (!strcmp(cmd, "alloc-abort")) abort();
    } else if (!strcmp(cmd, "grow") && argc > 2) {
        printf("%d\n", (int)__builtin_wasm_memory_grow(0, (unsigned long)atol(argv[2])));
    } else if (!strcmp(cmd, "fill") && argc > 3) {
        FILE *f = fopen(argv[2], "w");
        if (!f) { printf("wrote 0\nerror %s\n", strerror(errno)); return 0; }
        setvbuf(f, NULL, _IONBF, 0);
        char block[1024];
        memset(block, 'x', sizeof block);
        long want = atol(argv[3]), total = 0;
        int err = 0;
        for (long i = 0; i < want; i++) {
            size_t n = fwrite(block, 1, sizeof block, f);
            total += (long)n;
            if (n < sizeof block) { err = errno ? errno : ENOSPC; break; }
        }
        printf("wrote %ld\n", total);
        if (err) printf("error %s\n", strerror(err));
        fclose(f);
    } else if (!strcmp(cmd, "create") && argc > 3) {
        int n = atoi(argv[3]), made = 0, err = 0;
        char path[512];
        for (; made < n; made++) {
            snprintf(path, sizeof path, "%s/c%d", argv[2], made);
            int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
            if (fd < 0) { err = errno; break; }
            close(fd);
        }
        printf("created %d\n", made);
        if (err) printf("error %s\n", strerror(err));
    } else if (!strcmp(cmd, "ls") && argc > 2) {
        struct dirent **names;
        int n = scandir(argv[2], &names, NULL, alphasort);
        if (n < 0) { printf("error %s\n", strerror(errno)); return 0; }
        for (int i = 0; i < n; i++) {
            if (strcmp(names[i]->d_name, ".") && strcmp(names[i]->d_name, ".."))
                puts(names[i]->d_name);
        }
    } else {
        return 64;
    }
    return 0;
}
