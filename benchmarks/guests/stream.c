/* Streaming through a guest (benchmarks/streaming.py): argv[1] is a command:
 *   tofile PATH     copy stdin to the file PATH
 *   fromfile PATH   copy the file PATH to stdout
 * in 256 KiB reads and writes. No clock: the harness times the whole run. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define BUF (256 * 1024)
static unsigned char buf[BUF];

static int copy(int in, int out) {
    ssize_t n;
    while ((n = read(in, buf, BUF)) > 0) {
        unsigned char *p = buf;
        while (n > 0) {
            ssize_t k = write(out, p, (size_t)n);
            if (k <= 0) { perror("write"); return 1; }
            p += k;
            n -= k;
        }
    }
    if (n < 0) { perror("read"); return 1; }
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 3) return 64;
    if (!strcmp(argv[1], "tofile")) {
        int fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0) { perror(argv[2]); return 1; }
        int rc = copy(0, fd);
        return close(fd) ? 1 : rc;
    }
    if (!strcmp(argv[1], "fromfile")) {
        int fd = open(argv[2], O_RDONLY);
        if (fd < 0) { perror(argv[2]); return 1; }
        int rc = copy(fd, 1);
        close(fd);
        return rc;
    }
    return 64;
}
