/* A reactor: no main; exports functions that use the filesystem after _initialize. */
#include <dirent.h>
#include <stdio.h>
#include <string.h>

static int initialized = 0;

__attribute__((constructor)) static void init(void) { initialized = 42; }

__attribute__((export_name("was_initialized"))) int was_initialized(void) { return initialized; }

__attribute__((export_name("count_entries"))) int count_entries(void) {
    DIR *d = opendir("/data");
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

__attribute__((export_name("write_note"))) int write_note(int value) {
    FILE *f = fopen("/data/note.txt", "w");
    if (!f) return -1;
    fprintf(f, "value=%d\n", value);
    fclose(f);
    return 0;
}

__attribute__((import_module("env"), import_name("host_add"))) int host_add(int, int);

__attribute__((export_name("use_host"))) int use_host(int a) { return host_add(a, 1000); }
