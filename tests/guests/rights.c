/* A guest that tries every kind of change (and of look) on the mount at argv[1], which holds
 * a file "f" (10 bytes), a directory "d" with a file "d/e" and a symlink "l" -> "f". It
 * prints one line per attempt: "NAME: 0" or "NAME: <WASI errno number>". Operations under
 * "d" go through a descriptor of the directory (openat and friends), so they use the
 * rights the preopen passed on (rights_inheriting), not the preopen's own.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <dirent.h>
#include <unistd.h>
#include <wasi/api.h>

static char root[256];

static const char *at(const char *name) {  /* two buffers: link(at(a), at(b)) */
    static char bufs[2][512];
    static int turn;
    char *buf = bufs[turn ^= 1];
    snprintf(buf, 512, "%s/%s", root, name);
    return buf;
}

/* fd_write itself (wasi-libc's write() reports ENOTCAPABLE as EBADF) */
static int raw_write(int fd) {
    __wasi_ciovec_t iov = {(const uint8_t *)"x", 1};
    __wasi_size_t n;
    return __wasi_fd_write(fd, &iov, 1, &n);
}

static void report(const char *name, int ok) {
    printf("%s: %d\n", name, ok ? 0 : errno);
    errno = 0;
}

/* open, then write one byte: the errno of whichever step failed */
static void try_write(const char *name, int dirfd, const char *path, int flags) {
    int fd = openat(dirfd, path, flags, 0644);
    if (fd < 0) { report(name, 0); return; }
    printf("%s: %d\n", name, raw_write(fd));
    close(fd);
}

static void try_ftruncate(const char *name, int dirfd, const char *path) {
    int fd = openat(dirfd, path, O_RDWR);
    if (fd < 0) { report(name, 0); return; }
    report(name, ftruncate(fd, 3) == 0);
    close(fd);
}

static void try_read(const char *name, int dirfd, const char *path) {
    char buf[16];
    int fd = openat(dirfd, path, O_RDONLY);
    if (fd < 0) { report(name, 0); return; }
    report(name, read(fd, buf, sizeof buf) >= 0);
    close(fd);
}

static void try_list(const char *name, const char *path) {
    DIR *d = opendir(path);
    if (!d) { report(name, 0); return; }
    errno = 0;
    int n = 0;
    while (readdir(d)) n++;
    report(name, errno == 0 && n > 0);
    closedir(d);
}

int main(int argc, char **argv) {
    if (argc < 2) return 64;
    snprintf(root, sizeof root, "%s", argv[1]);
    int top = open(root, O_RDONLY | O_DIRECTORY);
    if (top < 0) { perror(root); return 1; }
    int sub = openat(top, "d", O_RDONLY | O_DIRECTORY);
    if (sub < 0) { perror("d"); return 1; }
    struct stat st;
    char target[64];

    /* looking */
    report("stat", stat(at("f"), &st) == 0);
    try_read("read", top, "f");
    try_list("readdir", root);
    report("readlink", readlink(at("l"), target, sizeof target) > 0);
    try_read("read-below", sub, "e");
    /* changing, on the preopen */
    try_write("write", top, "f", O_WRONLY);
    try_write("append", top, "f", O_WRONLY | O_APPEND);
    try_write("truncate-open", top, "f", O_WRONLY | O_TRUNC);
    try_ftruncate("ftruncate", top, "f");
    try_write("create", top, "new", O_WRONLY | O_CREAT | O_EXCL);
    report("mkdir", mkdir(at("newdir"), 0755) == 0);
    report("symlink", symlink("f", at("newlink")) == 0);
    report("link", link(at("f"), at("hard")) == 0);
    report("utimens", utimensat(top, "f", NULL, 0) == 0);
    report("rename", rename(at("f"), at("moved")) == 0);
    report("unlink", unlink(at("l")) == 0);
    /* changing, below a directory opened from it (inherited rights) */
    try_write("write-below", sub, "e", O_WRONLY);
    try_write("truncate-below", sub, "e", O_WRONLY | O_TRUNC);
    try_write("create-below", sub, "new", O_WRONLY | O_CREAT | O_EXCL);
    report("mkdir-below", mkdirat(sub, "x", 0755) == 0);
    report("symlink-below", symlinkat("e", sub, "sl") == 0);
    report("unlink-below", unlinkat(sub, "e", 0) == 0);
    report("rmdir", rmdir(at("d")) == 0 || errno == ENOTEMPTY);
    /* rights can only be dropped */
    int fd = openat(top, "g", O_RDWR);
    if (fd >= 0) {
        __wasi_fdstat_t fs;
        __wasi_fd_fdstat_get(fd, &fs);
        __wasi_rights_t less = fs.fs_rights_base & ~__WASI_RIGHTS_FD_WRITE;
        printf("drop: %d\n", __wasi_fd_fdstat_set_rights(fd, less, fs.fs_rights_inheriting));
        printf("write-after-drop: %d\n", raw_write(fd));
        printf("regain: %d\n", __wasi_fd_fdstat_set_rights(fd, fs.fs_rights_base,
                                                              fs.fs_rights_inheriting));
        close(fd);
    } else {
        report("open-g", 0);
    }
    return 0;
}
