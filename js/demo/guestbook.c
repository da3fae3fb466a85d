/* The browser demo's guest: append argv[1] to /data/guestbook.txt, fsync, print the book.
 * Build: python -m ziglang cc -target wasm32-wasi -O2 -s guestbook.c -o guestbook.wasm */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
    const char *entry = argc > 1 ? argv[1] : "(no entry)";
    int fd = open("/data/guestbook.txt", O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0) { perror("open /data/guestbook.txt"); return 1; }
    if (write(fd, entry, strlen(entry)) < 0 || write(fd, "\n", 1) < 0) { perror("write"); return 1; }
    if (fsync(fd) != 0) { perror("fsync"); return 3; }
    close(fd);
    FILE *f = fopen("/data/guestbook.txt", "r");
    if (!f) { perror("reopen"); return 1; }
    char line[256];
    int n = 0;
    while (fgets(line, sizeof line, f)) printf("%d. %s", ++n, line);
    fclose(f);
    return 0;
}
