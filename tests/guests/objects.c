/* A guest for the backend tests: runs the commands in argv, one after the other, and prints
 * one line per command ("CMD ARG: ok" or "CMD ARG: <strerror>"), going on after a failure.
 *   ls DIR            print "DIR: name name ..." (readdir order, without . and ..)
 *   cat PATH          print "PATH: <content>"
 *   write PATH TEXT   create or truncate PATH holding TEXT
 *   append PATH TEXT  append TEXT (O_APPEND)
 *   pwrite PATH OFF TEXT   write TEXT at offset OFF of the existing PATH (O_RDWR)
 *   mv A B            rename(A, B)
 *   rm PATH           unlink(PATH)
 *   mkdir PATH        mkdir(PATH)
 *   rmdir PATH        rmdir(PATH)
 *   size PATH         print "PATH: <st_size>"
 *   keep PATH TEXT    open PATH for writing (created), write TEXT and keep the descriptor
 *   sync              fsync the kept descriptor
 *   close             close the kept descriptor
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int kept = -1;

static void report(const char *cmd, const char *arg, int rc) {
    if (rc == 0) printf("%s %s: ok\n", cmd, arg);
    else printf("%s %s: %s\n", cmd, arg, strerror(errno));
}

static int write_all(int fd, const char *text) {
    size_t n = strlen(text), done = 0;
    while (done < n) {
        ssize_t w = write(fd, text + done, n - done);
        if (w < 0) return -1;
        done += (size_t)w;
    }
    return 0;
}

static int put(const char *path, const char *text, int flags) {
    int fd = open(path, flags, 0644);
    if (fd < 0) return -1;
    int rc = write_all(fd, text);
    int saved = errno;
    if (close(fd) != 0 && rc == 0) return -1;
    errno = saved;
    return rc;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (int i = 1; i < argc; i++) {
        const char *cmd = argv[i];
        const char *a = i + 1 < argc ? argv[i + 1] : "";
        const char *b = i + 2 < argc ? argv[i + 2] : "";
        if (!strcmp(cmd, "ls")) {
            DIR *d = opendir(a);
            i += 1;
            if (!d) { report(cmd, a, -1); continue; }
            printf("%s:", a);
            struct dirent *e;
            while ((e = readdir(d)) != NULL) {
                if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) printf(" %s", e->d_name);
            }
            printf("\n");
            closedir(d);
        } else if (!strcmp(cmd, "cat")) {
            i += 1;
            FILE *f = fopen(a, "r");
            if (!f) { report(cmd, a, -1); continue; }
            char buf[4096];
            size_t n = fread(buf, 1, sizeof buf - 1, f);
            buf[n] = 0;
            printf("%s: %s\n", a, buf);
            fclose(f);
        } else if (!strcmp(cmd, "write")) {
            i += 2;
            report(cmd, a, put(a, b, O_WRONLY | O_CREAT | O_TRUNC));
        } else if (!strcmp(cmd, "append")) {
            i += 2;
            report(cmd, a, put(a, b, O_WRONLY | O_CREAT | O_APPEND));
        } else if (!strcmp(cmd, "pwrite")) {
            const char *text = i + 3 < argc ? argv[i + 3] : "";
            i += 3;
            int fd = open(a, O_RDWR);
            int rc = fd < 0 ? -1 : (pwrite(fd, text, strlen(text), atol(b)) < 0 ? -1 : 0);
            int saved = errno;
            if (fd >= 0 && close(fd) != 0 && rc == 0) rc = -1, saved = errno;
            errno = saved;
            report(cmd, a, rc);
        } else if (!strcmp(cmd, "mv")) {
            i += 2;
            report(cmd, a, rename(a, b));
        } else if (!strcmp(cmd, "rm")) {
            i += 1;
            report(cmd, a, unlink(a));
        } else if (!strcmp(cmd, "mkdir")) {
            i += 1;
            report(cmd, a, mkdir(a, 0755));
        } else if (!strcmp(cmd, "rmdir")) {
            i += 1;
            report(cmd, a, rmdir(a));
        } else if (!strcmp(cmd, "size")) {
            i += 1;
            struct stat st;
            if (stat(a, &st)) report(cmd, a, -1);
            else printf("%s: %lld\n", a, (long long)st.st_size);
        } else if (!strcmp(cmd, "keep")) {
            i += 2;
            kept = open(a, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            report(cmd, a, kept < 0 ? -1 : write_all(kept, b));
        } else if (!strcmp(cmd, "sync")) {
            report(cmd, "", fsync(kept));
        } else if (!strcmp(cmd, "close")) {
            report(cmd, "", close(kept));
            kept = -1;
        } else {
            printf("unknown command %s\n", cmd);
            return 64;
        }
    }
    return 0;
}
