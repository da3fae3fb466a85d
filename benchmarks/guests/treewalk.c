/*
 * treewalk <dir> <top> <mid> <files>: build tree/dNN/dNN/fNNNN with <top>
 * directories, <mid> subdirectories in each and <files> empty files in each
 * of those (outside the timed region), then walk it recursively with
 * openat + fdopendir/readdir + fstatat(AT_SYMLINK_NOFOLLOW) on every entry.
 * Reported as entries per second.
 */
#include <dirent.h>

#include "bench.h"

static uint64_t walk(int dfd, const char *what) {
    DIR *d = fdopendir(dfd);
    if (!d) bench_die("fdopendir", what);
    uint64_t entries = 0;
    struct dirent *e;
    struct stat st;
    errno = 0;
    while ((e = readdir(d)) != NULL) {
        const char *name = e->d_name;
        if (name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'))) continue;
        entries++;
        if (fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) != 0) bench_die("fstatat", name);
        if (S_ISDIR(st.st_mode)) {
            int sub = openat(dirfd(d), name, O_RDONLY | O_DIRECTORY);
            if (sub < 0) bench_die("openat", name);
            entries += walk(sub, name);
        }
        errno = 0;
    }
    if (errno != 0) bench_die("readdir", what);
    if (closedir(d) != 0) bench_die("closedir", what);
    return entries;
}

int main(int argc, char **argv) {
    if (argc < 5) bench_fail("usage: treewalk <dir> <top> <mid> <files>");
    const char *dir = argv[1];
    long top = bench_arg(argc, argv, 2, "top");
    long mid = bench_arg(argc, argv, 3, "mid");
    long files = bench_arg(argc, argv, 4, "files");

    char root[1024], path[1200];
    bench_join(root, sizeof root, dir, "tree");
    if (mkdir(root, 0755) != 0) bench_die("mkdir", root);
    for (long a = 0; a < top; a++) {
        snprintf(path, sizeof path, "%s/d%02ld", root, a);
        if (mkdir(path, 0755) != 0) bench_die("mkdir", path);
        for (long b = 0; b < mid; b++) {
            snprintf(path, sizeof path, "%s/d%02ld/d%02ld", root, a, b);
            if (mkdir(path, 0755) != 0) bench_die("mkdir", path);
            for (long c = 0; c < files; c++) {
                snprintf(path, sizeof path, "%s/d%02ld/d%02ld/f%04ld", root, a, b, c);
                int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
                if (fd < 0) bench_die("open", path);
                if (close(fd) != 0) bench_die("close", path);
            }
        }
    }
    uint64_t expected = (uint64_t)top + (uint64_t)top * mid + (uint64_t)top * mid * files;

    uint64_t t0 = bench_now_ns();
    int fd = open(root, O_RDONLY | O_DIRECTORY);
    if (fd < 0) bench_die("open", root);
    uint64_t entries = walk(fd, root);
    uint64_t t1 = bench_now_ns();
    if (entries != expected) {
        fprintf(stderr, "bench: walk saw %llu entries, expected %llu\n",
                (unsigned long long)entries, (unsigned long long)expected);
        return 1;
    }
    bench_report("walk", entries, t1 - t0);
    return 0;
}
