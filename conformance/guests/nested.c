/* Nested mounts through wasi-libc: preopens at "/", "/data" and "/data/cache" (in the order
 * the case gives). What a program sees: the preopens, which one an absolute or relative
 * path goes to (libc takes the longest matching prefix), what a walk from an outer mount
 * into a directory of the inner mount's name finds (the outer mount's own directory, or
 * nothing), ".." at a preopen's root, and files moved between the mounts. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <wasi/api.h>

static int cmp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void show_dir(const char *label, DIR *d) {
    if (!d) { printf("ls %s: %s\n", label, strerror(errno)); return; }
    char *names[256];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 256) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof names[0], cmp);
    printf("ls %s:", label);
    for (int i = 0; i < n; i++) { printf(" %s", names[i]); free(names[i]); }
    putchar('\n');
}

static void ls(const char *p) { show_dir(p, opendir(p)); }

static void show_fd(const char *label, int fd) {
    if (fd < 0) { printf("cat %s: %s\n", label, strerror(errno)); return; }
    char buf[256];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n < 0) { printf("cat %s: read %s\n", label, strerror(errno)); return; }
    buf[n] = 0;
    printf("cat %s: [%s]\n", label, buf);
}

static void cat(const char *p) { show_fd(p, open(p, O_RDONLY)); }

static void catat(const char *label, int dir, const char *p) {
    show_fd(label, openat(dir, p, O_RDONLY));
}

static void res(const char *label, int rc) {
    if (rc < 0) printf("%s: -1 %s\n", label, strerror(errno));
    else printf("%s: ok\n", label);
}

static void put(const char *p, const char *text) {
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) { printf("write %s: %s\n", p, strerror(errno)); return; }
    ssize_t n = write(fd, text, strlen(text));
    close(fd);
    printf("write %s: %zd\n", p, n);
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* the preopens, in descriptor order */
    for (__wasi_fd_t fd = 3; fd < 16; fd++) {
        __wasi_prestat_t pre;
        if (__wasi_fd_prestat_get(fd, &pre) != 0) break;
        char name[256] = {0};
        size_t len = pre.u.dir.pr_name_len < 255 ? pre.u.dir.pr_name_len : 255;
        __wasi_fd_prestat_dir_name(fd, (uint8_t *)name, len);
        printf("preopen %u: %s\n", (unsigned)fd, name);
    }

    /* absolute paths: the longest matching preopen serves them */
    cat("/top.txt");
    cat("/data/x");
    cat("/data/sub/y");
    cat("/data/cache/c");
    cat("//data//x");
    cat("/data/./x");
    cat("/datax");
    ls("/");
    ls("/data");
    ls("/data/");
    ls("/data/cache");

    /* walking from an outer mount: its own directories, never the inner mount */
    int root = open("/", O_RDONLY | O_DIRECTORY);
    res("open /", root);
    catat("data/x from /", root, "data/x");
    catat("data/cache/c from /", root, "data/cache/c");
    show_dir("data from /", fdopendir(openat(root, "data", O_RDONLY | O_DIRECTORY)));
    int data = open("/data", O_RDONLY | O_DIRECTORY);
    res("open /data", data);
    catat("cache/c from /data", data, "cache/c");
    catat("sub/y from /data", data, "sub/y");

    /* ".." never leaves a preopen */
    catat(".. from /data", data, "../top.txt");
    res("openat /data ..", openat(data, "..", O_RDONLY | O_DIRECTORY));
    cat("/data/../top.txt");
    cat("/data/cache/../x");
    cat("/data/cache/../../top.txt");

    /* relative paths through the working directory */
    res("chdir /data", chdir("/data"));
    cat("x");
    cat("cache/c");
    cat("../top.txt");
    ls(".");
    res("chdir /data/cache", chdir("/data/cache"));
    ls(".");
    res("chdir /", chdir("/"));
    cat("data/x");
    cat("top.txt");

    /* writes go to the mount that serves the path; files move between mounts */
    put("/data/cache/new", "made in cache");
    put("/data/made", "made in data");
    put("/made-at-top", "made at the top");
    res("mkdir /data/cache2", mkdir("/data/cache2", 0755));
    res("mkdir data/cache from /", mkdirat(root, "data/cache", 0755));
    put("/data/cache/moving", "moves");
    res("rename cache -> data", rename("/data/cache/moving", "/data/moved"));
    res("rename data -> top", rename("/data/moved", "/moved-to-top"));
    res("link top -> cache", link("/made-at-top", "/data/cache/linked"));
    res("rmdir /data/cache", rmdir("/data/cache"));
    res("rmdir /data", rmdir("/data"));
    ls("/");
    ls("/data");
    ls("/data/cache");
    show_dir("data from / again", fdopendir(openat(root, "data", O_RDONLY | O_DIRECTORY)));
    cat("/moved-to-top");
    close(data);
    close(root);
    return 0;
}
