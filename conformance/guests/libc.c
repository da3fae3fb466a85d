/* An ordinary POSIX program through wasi-libc: what real guests do. Paths are absolute
 * under the preopen given as argv[1] (default "/sandbox"); wasi-libc maps them to the
 * preopen. Errors are printed with strerror (the same libc on every runtime). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *root = "/sandbox";

static const char *path(const char *rel) {
    static char bufs[4][512];
    static int i;
    i = (i + 1) % 4;
    if (strcmp(root, ".") == 0) snprintf(bufs[i], sizeof bufs[i], "%s", rel);
    else if (strcmp(root, "/") == 0) snprintf(bufs[i], sizeof bufs[i], "/%s", rel);
    else snprintf(bufs[i], sizeof bufs[i], "%s/%s", root, rel);
    return bufs[i];
}

static void res(const char *label, int rc) {
    if (rc < 0) printf("%s: -1 %s\n", label, strerror(errno));
    else printf("%s: %d\n", label, rc);
}

static int cmp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void list(const char *rel) {
    DIR *d = opendir(path(rel));
    if (!d) { printf("opendir %s: %s\n", rel, strerror(errno)); return; }
    char *names[256];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 256) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof names[0], cmp);
    printf("ls %s:", rel);
    for (int i = 0; i < n; i++) { printf(" %s", names[i]); free(names[i]); }
    putchar('\n');
}

static void cat(const char *rel) {
    FILE *f = fopen(path(rel), "rb");
    if (!f) { printf("cat %s: %s\n", rel, strerror(errno)); return; }
    char buf[256];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    printf("cat %s: [%s]\n", rel, buf);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc > 1) root = argv[1];
    struct stat st;

    list(".");
    cat("input.txt");
    res("mkdir out", mkdir(path("out"), 0755));
    res("mkdir out again", mkdir(path("out"), 0755));
    res("mkdir out/deep/er (no parent)", mkdir(path("out/deep/er"), 0755));
    res("mkdir out/deep", mkdir(path("out/deep"), 0755));
    res("mkdir out/deep/er", mkdir(path("out/deep/er"), 0755));

    FILE *f = fopen(path("out/report.txt"), "w");
    if (!f) { printf("fopen: %s\n", strerror(errno)); return 1; }
    for (int i = 0; i < 100; i++) fprintf(f, "line %d of the report\n", i);
    fclose(f);
    res("stat report", stat(path("out/report.txt"), &st));
    printf("  size=%lld regular=%d\n", (long long)st.st_size, S_ISREG(st.st_mode));

    f = fopen(path("out/report.txt"), "a+");
    fputs("appended\n", f);
    fseek(f, 0, SEEK_SET);
    char first[32] = {0};
    fgets(first, sizeof first, f);
    printf("first line after a+: %s", first);
    fclose(f);

    int fd = open(path("out/bin.dat"), O_CREAT | O_RDWR | O_TRUNC, 0644);
    res("open bin.dat", fd < 0 ? -1 : 0);
    res("write", (int)write(fd, "0123456789", 10));
    res("lseek 4", (int)lseek(fd, 4, SEEK_SET));
    char b4[4];
    res("read 3", (int)read(fd, b4, 3));
    res("pwrite at 8", (int)pwrite(fd, "AB", 2, 8));
    res("pread at 7", (int)pread(fd, b4, 3, 7));
    printf("  pread: %.3s\n", b4);
    res("ftruncate 6", ftruncate(fd, 6));
    res("fstat", fstat(fd, &st));
    printf("  size=%lld\n", (long long)st.st_size);
    res("lseek SEEK_END", (int)lseek(fd, 0, SEEK_END));
    res("close", close(fd));
    res("close again", close(fd));

    res("open O_EXCL existing", open(path("out/bin.dat"), O_CREAT | O_EXCL | O_WRONLY, 0644));
    res("open missing", open(path("out/missing"), O_RDONLY));
    res("open dir for writing", open(path("out"), O_WRONLY));
    res("open file as dir", open(path("out/bin.dat"), O_RDONLY | O_DIRECTORY));

    res("rename report -> moved", rename(path("out/report.txt"), path("out/deep/moved.txt")));
    res("rename missing", rename(path("out/nothing"), path("out/x")));
    res("link", link(path("out/deep/moved.txt"), path("out/hard.txt")));
    res("stat hard", stat(path("out/hard.txt"), &st));
    printf("  nlink=%d\n", (int)st.st_nlink);
    res("symlink", symlink("deep/moved.txt", path("out/soft")));
    char target[128];
    ssize_t tl = readlink(path("out/soft"), target, sizeof target);
    printf("readlink: %zd %.*s\n", tl, (int)(tl > 0 ? tl : 0), target);
    res("lstat soft", lstat(path("out/soft"), &st));
    printf("  is link=%d\n", S_ISLNK(st.st_mode));
    res("stat soft", stat(path("out/soft"), &st));
    printf("  is reg=%d size=%lld\n", S_ISREG(st.st_mode), (long long)st.st_size);
    res("access soft R_OK", access(path("out/soft"), R_OK));
    res("access missing F_OK", access(path("out/missing"), F_OK));

    struct timespec ts[2] = {{1000, 500}, {2000, 600}};
    res("utimensat", utimensat(AT_FDCWD, path("out/hard.txt"), ts, 0));
    res("stat", stat(path("out/hard.txt"), &st));
    printf("  atime=%lld.%09ld mtime=%lld.%09ld\n", (long long)st.st_atim.tv_sec,
           st.st_atim.tv_nsec, (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
    res("truncate", truncate(path("out/hard.txt"), 5));
    cat("out/deep/moved.txt");

    res("unlink hard", unlink(path("out/hard.txt")));
    res("unlink missing", unlink(path("out/hard.txt")));
    res("rmdir non-empty", rmdir(path("out/deep")));
    res("rmdir er", rmdir(path("out/deep/er")));
    res("unlink a dir", unlink(path("out/deep")));

    /* chdir/getcwd are emulated by wasi-libc on top of the preopens */
    res("chdir out", chdir(path("out")));
    char cwd[256];
    printf("getcwd: %s\n", getcwd(cwd, sizeof cwd) ? cwd : strerror(errno));
    f = fopen("relative.txt", "w");
    if (f) { fputs("written relative to the cwd\n", f); fclose(f); }
    cat("out/relative.txt");
    res("chdir ..", chdir(".."));
    res("chdir missing", chdir(path("nope")));

    list("out");
    list("out/deep");
    list("nope");

    /* names beyond ASCII */
    const char *names[] = {"h\xc3\xa9llo.txt", "\xe6\x97\xa5\xe6\x9c\xac", "sp ace", "tab\tname",
                           "new\nline", "back\\slash", "q\"uote"};
    res("mkdir names", mkdir(path("names"), 0755));
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char rel[64];
        snprintf(rel, sizeof rel, "names/%s", names[i]);
        FILE *g = fopen(path(rel), "w");
        if (!g) { printf("create %zu: %s\n", i, strerror(errno)); continue; }
        fputs(names[i], g);
        fclose(g);
    }
    list("names");
    /* name length limits: 255 bytes is NAME_MAX */
    char longname[300];
    memset(longname, 'n', sizeof longname);
    longname[255] = 0;
    char rel[320];
    snprintf(rel, sizeof rel, "names/%s", longname);
    res("create a 255-byte name", open(path(rel), O_CREAT | O_WRONLY, 0644) >= 0 ? 0 : -1);
    longname[255] = 'n';
    longname[256] = 0;
    snprintf(rel, sizeof rel, "names/%s", longname);
    res("create a 256-byte name", open(path(rel), O_CREAT | O_WRONLY, 0644) >= 0 ? 0 : -1);

    /* rm -r: unlink the entries while reading the directory */
    res("mkdir many", mkdir(path("many"), 0755));
    for (int i = 0; i < 60; i++) {
        char r2[64];
        snprintf(r2, sizeof r2, "many/file-%02d", i);
        int g = open(path(r2), O_CREAT | O_WRONLY, 0644);
        if (g >= 0) close(g);
    }
    int removed = 0, passes = 0;
    for (;;) {
        DIR *d = opendir(path("many"));
        if (!d) break;
        int this_pass = 0;
        struct dirent *e;
        while ((e = readdir(d))) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
            char r2[300];
            snprintf(r2, sizeof r2, "many/%s", e->d_name);
            if (unlink(path(r2)) == 0) { removed++; this_pass++; }
        }
        closedir(d);
        passes++;
        if (this_pass == 0 || passes > 10) break;
    }
    printf("rm -r: removed=%d\n", removed);
    res("rmdir many", rmdir(path("many")));
    return 0;
}
