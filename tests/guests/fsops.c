/* A guest for the sandbox, fault, escape and concurrency tests: runs the commands in argv,
 * one after the other, and prints one line per command: "CMD ARG -> OK ..." or
 * "CMD ARG -> ENAME" (the errno's name), going on after a failure.
 *   read PATH             open read-only, read up to 64 bytes: "OK <n> <text>"
 *   write PATH TEXT       create or truncate PATH holding TEXT (each write checked)
 *   append PATH TEXT      O_APPEND write of TEXT
 *   fill PATH N           create PATH and write N bytes in 4 KiB writes until one fails:
 *                         "OK <written>" or "<ENAME> <written>"
 *   pwrite PATH OFF N     write N bytes of 'p' at OFF of the existing PATH (one call):
 *                         "OK <count>"
 *   truncate PATH N       ftruncate (PATH opened for writing)
 *   allocate PATH N       posix_fallocate(0, N)
 *   stat PATH / lstat PATH   "OK <type> <size>"
 *   ls DIR                "OK name name ..." (readdir order, without . and ..)
 *   mkdir P / rmdir P / rm P / mv A B / ln A B / symlink TARGET LINK / readlink P
 *   files DIR N           create DIR/f0 ... until N made or one fails: "OK <n>"/"<ENAME> <n>"
 *   dirs DIR N            mkdir DIR/d0 ...: same output
 *   deep DIR N            mkdir DIR/a, DIR/a/a, ... N levels: same output
 *   fds PATH N            open PATH N times, holding them: "OK <n>"/"<ENAME> <n>", then close
 *   race PATH N           open+read+close PATH N times: "OK inside=<i> outside=<o>
 *                         other=<x> errors=<e>" (content "inside..." / "OUTSIDE...")
 *   journal PATH N        N records "record NNNNN\n", each written then fsync'ed; after a
 *                         failure the file offset goes back to the end of what was
 *                         acknowledged and the record is tried again (up to 20 times):
 *                         "OK acked=<bytes> failures=<f>"
 *   swapread DIR SUB TARGET  open DIR/SUB as a directory, move it to DIR/SUB.moved, put a
 *                         symlink DIR/SUB -> TARGET in its place, then read "secret" through
 *                         the descriptor: "OK <n> <text>" (the moved directory's file)
 *   churn DIR N           N times: create DIR/c<k % 16>, then remove DIR/c<(k + 8) % 16>
 *                         (errors are counted): "OK <errors>"
 *   worker ID N DIR       the concurrency workload (see tests/test_concurrency.py)
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *ename(int e) {
    switch (e) {
    case EACCES: return "EACCES";
    case EBADF: return "EBADF";
    case EDQUOT: return "EDQUOT";
    case EEXIST: return "EEXIST";
    case EFBIG: return "EFBIG";
    case EINVAL: return "EINVAL";
    case EIO: return "EIO";
    case EISDIR: return "EISDIR";
    case ELOOP: return "ELOOP";
    case EMFILE: return "EMFILE";
    case EMLINK: return "EMLINK";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case ENFILE: return "ENFILE";
    case ENOENT: return "ENOENT";
    case ENOSPC: return "ENOSPC";
    case ENOTCAPABLE: return "ENOTCAPABLE";
    case ENOTDIR: return "ENOTDIR";
    case ENOTEMPTY: return "ENOTEMPTY";
    case ENOTSUP: return "ENOTSUP";
    case ENXIO: return "ENXIO";
    case EPERM: return "EPERM";
    case EROFS: return "EROFS";
    case EXDEV: return "EXDEV";
    case EAGAIN: return "EAGAIN";
    default: return "E?";
    }
}

static void status(const char *cmd, const char *arg, int rc) {
    if (rc == 0) printf("%s %s -> OK\n", cmd, arg);
    else printf("%s %s -> %s\n", cmd, arg, ename(errno));
}

static void counted(const char *cmd, const char *arg, int ok, long n) {
    if (ok) printf("%s %s -> OK %ld\n", cmd, arg, n);
    else printf("%s %s -> %s %ld\n", cmd, arg, ename(errno), n);
}

static int write_all(int fd, const char *p, size_t n) {
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int put(const char *path, const char *text, int flags) {
    int fd = open(path, flags, 0644);
    if (fd < 0) return -1;
    int rc = write_all(fd, text, strlen(text));
    int saved = errno;
    if (close(fd) != 0 && rc == 0) return -1;
    errno = saved;
    return rc;
}

static char big[4096];

static void journal(const char *path, long n) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) { status("journal", path, -1); return; }
    long acked = 0, failures = 0;
    char rec[32];
    for (long i = 0; i < n; i++) {
        int len = snprintf(rec, sizeof rec, "record %05ld\n", i);
        int tries = 0;
        for (;;) {
            if (lseek(fd, acked, SEEK_SET) == acked && write_all(fd, rec, (size_t)len) == 0 &&
                fsync(fd) == 0) {
                acked += len;
                break;
            }
            failures++;
            if (++tries == 20) { printf("journal %s -> gave up at %ld\n", path, i); break; }
        }
    }
    if (close(fd) != 0) failures++;
    printf("journal %s -> OK acked=%ld failures=%ld\n", path, acked, failures);
}

static void race(const char *path, long n) {
    long inside = 0, outside = 0, other = 0, errors = 0;
    char buf[16];
    for (long i = 0; i < n; i++) {
        int fd = open(path, O_RDONLY);
        if (fd < 0) { errors++; continue; }
        ssize_t r = read(fd, buf, sizeof buf);
        close(fd);
        if (r >= 6 && !memcmp(buf, "inside", 6)) inside++;
        else if (r >= 7 && !memcmp(buf, "OUTSIDE", 7)) outside++;
        else other++;
    }
    printf("race %s -> OK inside=%ld outside=%ld other=%ld errors=%ld\n", path, inside,
           outside, other, errors);
}

/* The concurrency workload of worker ID in DIR, N rounds; every step is logged:
 *   "W ID create I <rc>"  create DIR/tmp-ID-I holding "ID I\n" (O_EXCL)
 *   "W ID rename I <rc>"  rename it to DIR/done-ID-I
 *   "W ID append I <rc>"  append "<ID> <I> ........\n" (one write) to DIR/shared
 *   "W ID latest I <rc>"  write DIR/latest-ID-I, rename it onto DIR/latest
 *   "W ID ls I <n>"       readdir DIR: entries seen (each name checked for well-formedness)
 */
static void worker(const char *id, long n, const char *dir) {
    char path[256], dst[256], line[128];
    for (long i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/tmp-%s-%ld", dir, id, i);
        snprintf(line, sizeof line, "%s %ld\n", id, i);
        int rc = put(path, line, O_WRONLY | O_CREAT | O_EXCL);
        printf("W %s create %ld %s\n", id, i, rc ? ename(errno) : "OK");
        snprintf(dst, sizeof dst, "%s/done-%s-%ld", dir, id, i);
        rc = rename(path, dst);
        printf("W %s rename %ld %s\n", id, i, rc ? ename(errno) : "OK");
        snprintf(path, sizeof path, "%s/shared", dir);
        int len = snprintf(line, sizeof line, "%s %ld ........................\n", id, i);
        int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        rc = fd < 0 ? -1 : (write(fd, line, (size_t)len) == len ? 0 : -1);
        int saved = errno;
        if (fd >= 0) close(fd);
        errno = saved;
        printf("W %s append %ld %s\n", id, i, rc ? ename(errno) : "OK");
        snprintf(path, sizeof path, "%s/latest-%s-%ld", dir, id, i);
        snprintf(line, sizeof line, "%s %ld\n", id, i);
        rc = put(path, line, O_WRONLY | O_CREAT | O_TRUNC);
        snprintf(dst, sizeof dst, "%s/latest", dir);
        if (rc == 0) rc = rename(path, dst);
        printf("W %s latest %ld %s\n", id, i, rc ? ename(errno) : "OK");
        DIR *d = opendir(dir);
        long seen = 0, bad = 0;
        if (d) {
            struct dirent *e;
            while ((e = readdir(d)) != NULL) {
                if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
                seen++;
                if (strncmp(e->d_name, "tmp-", 4) && strncmp(e->d_name, "done-", 5) &&
                    strncmp(e->d_name, "latest", 6) && strcmp(e->d_name, "shared")) bad++;
            }
            closedir(d);
        }
        printf("W %s ls %ld %ld bad=%ld\n", id, i, seen, bad);
    }
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    memset(big, 'x', sizeof big);
    for (int i = 1; i < argc; i++) {
        const char *cmd = argv[i];
        const char *a = i + 1 < argc ? argv[i + 1] : "";
        const char *b = i + 2 < argc ? argv[i + 2] : "";
        const char *c = i + 3 < argc ? argv[i + 3] : "";
        if (!strcmp(cmd, "read")) {
            i += 1;
            int fd = open(a, O_RDONLY);
            if (fd < 0) { status(cmd, a, -1); continue; }
            char buf[65];
            ssize_t r = read(fd, buf, 64);
            int saved = errno;
            close(fd);
            if (r < 0) { errno = saved; status(cmd, a, -1); continue; }
            buf[r] = 0;
            for (ssize_t k = 0; k < r; k++) if (buf[k] == '\n') buf[k] = '|';
            printf("read %s -> OK %ld %s\n", a, (long)r, buf);
        } else if (!strcmp(cmd, "write")) {
            i += 2;
            status(cmd, a, put(a, b, O_WRONLY | O_CREAT | O_TRUNC));
        } else if (!strcmp(cmd, "append")) {
            i += 2;
            status(cmd, a, put(a, b, O_WRONLY | O_CREAT | O_APPEND));
        } else if (!strcmp(cmd, "fill")) {
            i += 2;
            long want = atol(b), done = 0;
            int fd = open(a, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (fd < 0) { counted(cmd, a, 0, 0); continue; }
            int ok = 1;
            while (done < want) {
                size_t chunk = want - done < (long)sizeof big ? (size_t)(want - done) : sizeof big;
                ssize_t w = write(fd, big, chunk);
                if (w < 0) { ok = 0; break; }
                done += w;
            }
            int saved = errno;
            if (close(fd) != 0 && ok) { ok = 0; saved = errno; }
            errno = saved;
            counted(cmd, a, ok, done);
        } else if (!strcmp(cmd, "pwrite")) {
            i += 3;
            long n = atol(c);
            char *data = malloc((size_t)n + 1);
            memset(data, 'p', (size_t)n);
            int fd = open(a, O_WRONLY);
            if (fd < 0) { status(cmd, a, -1); free(data); continue; }
            ssize_t w = pwrite(fd, data, (size_t)n, atol(b));
            int saved = errno;
            close(fd);
            free(data);
            errno = saved;
            if (w < 0) status(cmd, a, -1);
            else printf("pwrite %s -> OK %ld\n", a, (long)w);
        } else if (!strcmp(cmd, "truncate") || !strcmp(cmd, "allocate")) {
            i += 2;
            int fd = open(a, O_WRONLY);
            if (fd < 0) { status(cmd, a, -1); continue; }
            int rc;
            if (cmd[0] == 't') rc = ftruncate(fd, atol(b));
            else { rc = posix_fallocate(fd, 0, atol(b)); if (rc) { errno = rc; rc = -1; } }
            int saved = errno;
            close(fd);
            errno = saved;
            status(cmd, a, rc);
        } else if (!strcmp(cmd, "stat") || !strcmp(cmd, "lstat")) {
            i += 1;
            struct stat st;
            int rc = cmd[0] == 's' ? stat(a, &st) : lstat(a, &st);
            if (rc) { status(cmd, a, -1); continue; }
            const char *t = S_ISREG(st.st_mode) ? "file" : S_ISDIR(st.st_mode) ? "dir" :
                            S_ISLNK(st.st_mode) ? "symlink" : "other";
            printf("%s %s -> OK %s %lld\n", cmd, a, t, (long long)st.st_size);
        } else if (!strcmp(cmd, "ls")) {
            i += 1;
            DIR *d = opendir(a);
            if (!d) { status(cmd, a, -1); continue; }
            printf("ls %s -> OK", a);
            struct dirent *e;
            while ((e = readdir(d)) != NULL) {
                if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) printf(" %s", e->d_name);
            }
            printf("\n");
            closedir(d);
        } else if (!strcmp(cmd, "mkdir")) {
            i += 1;
            status(cmd, a, mkdir(a, 0755));
        } else if (!strcmp(cmd, "rmdir")) {
            i += 1;
            status(cmd, a, rmdir(a));
        } else if (!strcmp(cmd, "rm")) {
            i += 1;
            status(cmd, a, unlink(a));
        } else if (!strcmp(cmd, "mv")) {
            i += 2;
            status(cmd, a, rename(a, b));
        } else if (!strcmp(cmd, "ln")) {
            i += 2;
            status(cmd, a, link(a, b));
        } else if (!strcmp(cmd, "symlink")) {
            i += 2;
            status(cmd, b, symlink(a, b));
        } else if (!strcmp(cmd, "readlink")) {
            i += 1;
            char buf[4097];
            ssize_t r = readlink(a, buf, sizeof buf - 1);
            if (r < 0) { status(cmd, a, -1); continue; }
            buf[r] = 0;
            printf("readlink %s -> OK %s\n", a, buf);
        } else if (!strcmp(cmd, "files") || !strcmp(cmd, "dirs")) {
            i += 2;
            long want = atol(b), n = 0;
            char path[512];
            int ok = 1;
            for (; n < want; n++) {
                snprintf(path, sizeof path, "%s/%c%ld", a, cmd[0], n);
                int rc = cmd[0] == 'f' ? put(path, "", O_WRONLY | O_CREAT | O_EXCL)
                                       : mkdir(path, 0755);
                if (rc) { ok = 0; break; }
            }
            counted(cmd, a, ok, n);
        } else if (!strcmp(cmd, "deep")) {
            i += 2;
            long want = atol(b), n = 0;
            static char path[8192];
            snprintf(path, sizeof path, "%s", a);
            int ok = 1;
            for (; n < want; n++) {
                size_t len = strlen(path);
                if (len + 3 >= sizeof path) { errno = ENAMETOOLONG; ok = 0; break; }
                strcat(path, "/a");
                if (mkdir(path, 0755)) { ok = 0; break; }
            }
            counted(cmd, a, ok, n);
        } else if (!strcmp(cmd, "fds")) {
            i += 2;
            long want = atol(b), n = 0;
            int *fds = malloc(sizeof(int) * (size_t)(want + 1));
            int ok = 1;
            for (; n < want; n++) {
                fds[n] = open(a, O_RDONLY);
                if (fds[n] < 0) { ok = 0; break; }
            }
            int saved = errno;
            for (long k = 0; k < n; k++) close(fds[k]);
            free(fds);
            errno = saved;
            counted(cmd, a, ok, n);
        } else if (!strcmp(cmd, "race")) {
            i += 2;
            race(a, atol(b));
        } else if (!strcmp(cmd, "journal")) {
            i += 2;
            journal(a, atol(b));
        } else if (!strcmp(cmd, "swapread")) {
            i += 3;
            char path[512], moved[512];
            snprintf(path, sizeof path, "%s/%s", a, b);
            snprintf(moved, sizeof moved, "%s/%s.moved", a, b);
            int dfd = open(path, O_RDONLY | O_DIRECTORY);
            if (dfd < 0) { status(cmd, path, -1); continue; }
            if (rename(path, moved) || symlink(c, path)) {
                status(cmd, path, -1);
                close(dfd);
                continue;
            }
            int fd = openat(dfd, "secret", O_RDONLY);
            close(dfd);
            if (fd < 0) { status(cmd, path, -1); continue; }
            char buf[65];
            ssize_t r = read(fd, buf, 64);
            close(fd);
            if (r < 0) { status(cmd, path, -1); continue; }
            buf[r] = 0;
            for (ssize_t k = 0; k < r; k++) if (buf[k] == '\n') buf[k] = '|';
            printf("swapread %s -> OK %ld %s\n", path, (long)r, buf);
        } else if (!strcmp(cmd, "churn")) {
            i += 2;
            long n = atol(b), errors = 0;
            char path[512];
            for (long k = 0; k < n; k++) {
                snprintf(path, sizeof path, "%s/c%ld", a, k % 16);
                int fd = open(path, O_WRONLY | O_CREAT, 0644);
                if (fd < 0) errors++; else close(fd);
                snprintf(path, sizeof path, "%s/c%ld", a, (k + 8) % 16);
                if (unlink(path) && errno != ENOENT) errors++;
            }
            printf("churn %s -> OK %ld\n", a, errors);
        } else if (!strcmp(cmd, "worker")) {
            i += 3;
            worker(a, atol(b), c);
        } else {
            printf("%s -> unknown command\n", cmd);
            return 2;
        }
    }
    return 0;
}
