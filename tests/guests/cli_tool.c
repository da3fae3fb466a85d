/* A guest for CLI tests. argv[1] is a command:
 *   args            print argv, one per line
 *   env             print the environment, one per line
 *   cat PATH        print a file
 *   edit DIR        in DIR: append to keep.txt, create new.txt, delete gone.txt,
 *                   make sub/ with deep.txt, a symlink link -> new.txt
 *   mv OLD NEW      rename OLD to NEW (print "moved")
 *   exit N          exit with code N
 *   trap            execute an unreachable instruction
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

extern char **environ;

static int put(const char *dir, const char *name, const char *text, const char *mode) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, mode);
    if (!f) { perror(path); return 1; }
    fputs(text, f);
    return fclose(f);
}

int main(int argc, char **argv) {
    if (argc < 2) return 64;
    const char *cmd = argv[1];
    if (!strcmp(cmd, "args")) {
        for (int i = 0; i < argc; i++) printf("%s\n", argv[i]);
    } else if (!strcmp(cmd, "env")) {
        for (char **e = environ; *e; e++) printf("%s\n", *e);
    } else if (!strcmp(cmd, "cat") && argc > 2) {
        FILE *f = fopen(argv[2], "r");
        if (!f) { perror(argv[2]); return 1; }
        int c;
        while ((c = fgetc(f)) != EOF) putchar(c);
        fclose(f);
    } else if (!strcmp(cmd, "edit") && argc > 2) {
        const char *d = argv[2];
        char path[512];
        if (put(d, "keep.txt", "more\n", "a")) return 1;
        if (put(d, "new.txt", "fresh\n", "w")) return 1;
        snprintf(path, sizeof path, "%s/gone.txt", d);
        if (unlink(path)) { perror(path); return 1; }
        snprintf(path, sizeof path, "%s/sub", d);
        if (mkdir(path, 0755)) { perror(path); return 1; }
        if (put(path, "deep.txt", "deep\n", "w")) return 1;
        snprintf(path, sizeof path, "%s/link", d);
        if (symlink("new.txt", path)) { perror(path); return 1; }
        printf("edited\n");
    } else if (!strcmp(cmd, "mv") && argc > 3) {
        if (rename(argv[2], argv[3]) != 0) { perror("rename"); return 1; }
        puts("moved");
    } else if (!strcmp(cmd, "exit") && argc > 2) {
        return atoi(argv[2]);
    } else if (!strcmp(cmd, "trap")) {
        __builtin_trap();
    } else {
        return 64;
    }
    return 0;
}
