/* The wasifs demo guest: a small "notes" program doing real file work.
 *
 * Without arguments it builds a notebook under /notes, edits it (append, rename, symlink,
 * delete), then walks the tree and prints what is there with sizes and a word count.
 * With a directory argument it only walks and counts that directory.
 *
 * Build: python -m ziglang cc -target wasm32-wasi -O2 -s notes.c -o notes.wasm
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static long total_files, total_bytes, total_words;

static void put(const char *path, const char *text, const char *mode) {
    FILE *f = fopen(path, mode);
    if (!f) { fprintf(stderr, "notes: %s: %s\n", path, strerror(errno)); exit(1); }
    fputs(text, f);
    fclose(f);
}

static long count_words(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    long words = 0; int c, in = 0;
    while ((c = fgetc(f)) != EOF) {
        int space = (c == ' ' || c == '\n' || c == '\t');
        if (!space && !in) words++;
        in = !space;
    }
    fclose(f);
    return words;
}

static int by_name(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void walk(const char *dir, int depth) {
    DIR *d = opendir(dir);
    if (!d) { fprintf(stderr, "notes: %s: %s\n", dir, strerror(errno)); exit(1); }
    char *names[256]; int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 256) {
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof names[0], by_name);
    for (int i = 0; i < n; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        struct stat st;
        if (lstat(path, &st) != 0) continue;
        printf("%*s", depth * 2, "");
        if (S_ISDIR(st.st_mode)) {
            printf("%s/\n", names[i]);
            walk(path, depth + 1);
        } else if (S_ISLNK(st.st_mode)) {
            char target[256] = {0};
            readlink(path, target, sizeof target - 1);
            printf("%s -> %s\n", names[i], target);
        } else {
            long w = count_words(path);
            printf("%-22s %6lld bytes %4ld words\n", names[i], (long long)st.st_size, w);
            total_files++; total_bytes += st.st_size; total_words += w;
        }
        free(names[i]);
    }
}

int main(int argc, char **argv) {
    const char *root = argc > 1 ? argv[1] : "/notes";
    if (argc <= 1) {
        printf("Building a notebook in %s (an in-memory filesystem, nothing touches your disk)\n\n", root);
        mkdir("/notes", 0755);
        mkdir("/notes/ideas", 0755);
        mkdir("/notes/archive", 0755);
        put("/notes/todo.txt", "write the docs\nrun the tests\n", "w");
        put("/notes/todo.txt", "ship it\n", "a");
        put("/notes/ideas/wasi.txt", "a guest sees only the directories it is given\n", "w");
        put("/notes/ideas/draft.txt", "files can be renamed across directories\n", "w");
        if (rename("/notes/ideas/draft.txt", "/notes/archive/renamed.txt") != 0) perror("rename");
        if (symlink("ideas/wasi.txt", "/notes/latest") != 0) perror("symlink");
        put("/notes/scratch.tmp", "temporary\n", "w");
        if (unlink("/notes/scratch.tmp") != 0) perror("unlink");
    }
    printf("%s/\n", root);
    walk(root, 1);
    printf("\n%ld files, %ld bytes, %ld words\n", total_files, total_bytes, total_words);
    return 0;
}
