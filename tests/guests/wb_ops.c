/* A guest for the write-back tests: runs the operations given as arguments, in order, and
 * prints one line per operation ("ok" or the errno's name). Operations (paths are the
 * guest's, e.g. /d/x):
 *   put P TEXT       create or truncate P, write TEXT
 *   rewrite P TEXT   write TEXT at offset 0 of P without truncating (in place)
 *   append P TEXT    append TEXT to P
 *   mtime P SECS     set P's modification time to SECS (seconds since the epoch)
 *   mkdir P | rm P | rmdir P | mv A B | symlink TARGET P | link A B
 *   exit N           exit with status N, at once
 *   trap             execute an unreachable instruction
 *   cat P            print P's contents on a line of their own
 *   wait             read a line from stdin (the test changes the host meanwhile)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int put(const char *path, const char *text, int flags) {
    int fd = open(path, O_WRONLY | flags, 0644);
    if (fd < 0) return -1;
    size_t n = strlen(text);
    ssize_t w = write(fd, text, n);
    int saved = errno;
    close(fd);
    errno = saved;
    return w == (ssize_t)n ? 0 : -1;
}

static int set_mtime(const char *path, long long secs) {
    struct timespec ts[2];
    ts[0].tv_sec = 0;
    ts[0].tv_nsec = UTIME_OMIT;
    ts[1].tv_sec = secs;
    ts[1].tv_nsec = 0;
    return utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW);
}

static int cat(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    int c;
    while ((c = fgetc(f)) != EOF) putchar(c);
    fclose(f);
    putchar('\n');
    return 0;
}

int main(int argc, char **argv) {
    int i = 1;
    while (i < argc) {
        const char *op = argv[i];
        const char *a = i + 1 < argc ? argv[i + 1] : "";
        const char *b = i + 2 < argc ? argv[i + 2] : "";
        int r, n = 1;
        if (!strcmp(op, "put")) { r = put(a, b, O_CREAT | O_TRUNC); n = 3; }
        else if (!strcmp(op, "rewrite")) { r = put(a, b, 0); n = 3; }
        else if (!strcmp(op, "append")) { r = put(a, b, O_APPEND); n = 3; }
        else if (!strcmp(op, "mtime")) { r = set_mtime(a, atoll(b)); n = 3; }
        else if (!strcmp(op, "mkdir")) { r = mkdir(a, 0755); n = 2; }
        else if (!strcmp(op, "rm")) { r = unlink(a); n = 2; }
        else if (!strcmp(op, "rmdir")) { r = rmdir(a); n = 2; }
        else if (!strcmp(op, "mv")) { r = rename(a, b); n = 3; }
        else if (!strcmp(op, "symlink")) { r = symlink(a, b); n = 3; }
        else if (!strcmp(op, "link")) { r = link(a, b); n = 3; }
        else if (!strcmp(op, "cat")) { r = cat(a); n = 2; if (!r) { i += n; continue; } }
        else if (!strcmp(op, "wait")) {
            char line[64];
            fflush(stdout);
            r = fgets(line, sizeof line, stdin) ? 0 : -1;
        }
        else if (!strcmp(op, "exit")) { fflush(stdout); _Exit(atoi(a)); }
        else if (!strcmp(op, "trap")) { fflush(stdout); __builtin_trap(); }
        else { printf("unknown op %s\n", op); return 64; }
        if (r == 0) puts("ok");
        else printf("%s: %s\n", op, strerror(errno));
        i += n;
    }
    return 0;
}
