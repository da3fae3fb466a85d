/* Namespace operations: path_create_directory, path_remove_directory, path_unlink_file,
 * path_rename (the overwrite matrix), path_link, path_symlink, path_readlink,
 * path_filestat_get, path_filestat_set_times, and fd_readdir (listing, cookies, truncation).
 *
 * Tree: file = "data", d/f1 = "one", d/sub/f2 = "two", empty/, r/ (rename playground, see
 * cases.py), l/ (link playground).
 */
#include "common.h"

static i32 mkdir_(const char *p) { return w_path_create_directory(DIRFD, P(p), (u32)strlen(p)); }
static i32 rmdir_(const char *p) { return w_path_remove_directory(DIRFD, P(p), (u32)strlen(p)); }
static i32 unlink_(const char *p) { return w_path_unlink_file(DIRFD, P(p), (u32)strlen(p)); }
static i32 rename_(const char *a, const char *b) {
    return w_path_rename(DIRFD, P(a), (u32)strlen(a), DIRFD, P(b), (u32)strlen(b));
}
static i32 link_(u32 flags, const char *a, const char *b) {
    return w_path_link(DIRFD, flags, P(a), (u32)strlen(a), DIRFD, P(b), (u32)strlen(b));
}
static i32 symlink_(const char *target, const char *p) {
    return w_path_symlink(P(target), (u32)strlen(target), DIRFD, P(p), (u32)strlen(p));
}

static void show_readlink(const char *label, const char *p, u32 buflen) {
    char buf[256];
    memset(buf, '#', sizeof buf);
    u32 used = 9999;
    i32 e = w_path_readlink(DIRFD, P(p), (u32)strlen(p), P(buf), buflen, P(&used));
    printf("%s: %s", label, en(e));
    if (!e) { printf(" used=%u ", used); print_bytes(buf, used <= 256 ? used : 0); }
    putchar('\n');
}

static u64 ino_of(u32 flags, const char *p) {
    filestat_t st;
    memset(&st, 0, sizeof st);
    if (w_path_filestat_get(DIRFD, flags, P(p), (u32)strlen(p), P(&st))) return 0;
    return st.ino;
}

static void create_remove(void) {
    check("mkdir newdir", mkdir_("newdir"));
    check("mkdir newdir again", mkdir_("newdir"));
    check("mkdir over a file", mkdir_("file"));
    check("mkdir below a file", mkdir_("file/x"));
    check("mkdir below missing", mkdir_("missing/x"));
    check("mkdir empty path", mkdir_(""));
    check("mkdir .", mkdir_("."));
    check("mkdir trailing slash new", mkdir_("slashdir/"));
    check("mkdir trailing slash existing", mkdir_("newdir/"));
    check("mkdir nested", mkdir_("newdir/inner"));
    show_stat("stat newdir/inner", 0, "newdir/inner");

    check("rmdir non-empty", rmdir_("d"));
    check("rmdir a file", rmdir_("file"));
    check("rmdir missing", rmdir_("missing"));
    check("rmdir .", rmdir_("."));
    check("rmdir empty path", rmdir_(""));
    check("rmdir trailing slash", rmdir_("slashdir/"));
    (void)mkdir_("slashdir"); /* whatever the answer, keep the tree the same */
    check("rmdir newdir/inner/.", rmdir_("newdir/inner/."));
    check("rmdir newdir/inner", rmdir_("newdir/inner"));
    check("rmdir empty", rmdir_("empty"));
    check("symlink dl -> d", symlink_("d", "dl"));
    check("rmdir symlink to dir", rmdir_("dl"));

    check("unlink a dir", unlink_("d"));
    check("unlink missing", unlink_("missing"));
    check("unlink trailing slash on file", unlink_("file/"));
    check("unlink empty path", unlink_(""));
    check("unlink symlink to dir", unlink_("dl"));
    check("unlink symlink to dir, trailing slash", (symlink_("d", "dl2"), unlink_("dl2/")));
    check("unlink dl2", unlink_("dl2"));
    check("unlink d/f1", unlink_("d/f1"));
    show_stat("stat d/f1 after unlink", 0, "d/f1");
    check("unlink d/f1 again", unlink_("d/f1"));
}

static void renames(void) {
    /* tree r/: fa="A", fb="B", da/x, db/ (empty), dc/y (non-empty), fc="C" */
    check("rename file over file", rename_("r/fa", "r/fb"));
    show_file("  r/fb", "r/fb");
    show_stat("  r/fa", 0, "r/fa");
    check("rename dir over empty dir", rename_("r/da", "r/db"));
    show_stat("  r/db/x", 0, "r/db/x");
    show_stat("  r/da", 0, "r/da");
    check("rename dir over non-empty dir", rename_("r/db", "r/dc"));
    check("rename file over dir", rename_("r/fc", "r/dc"));
    check("rename dir over file", rename_("r/dc", "r/fc"));
    check("rename file to itself", rename_("r/fc", "r/fc"));
    check("rename dir to itself", rename_("r/dc", "r/dc"));
    check("rename dir into its own subtree", rename_("r/dc", "r/dc/sub"));
    check("rename missing", rename_("r/nothing", "r/other"));
    check("rename into missing dir", rename_("r/fc", "r/nodir/fc"));
    check("rename file, trailing slash on target", rename_("r/fc", "r/fd/"));
    check("rename file, trailing slash on source", rename_("r/fc/", "r/fd"));
    check("rename dir, trailing slashes", rename_("r/dc/", "r/dd/"));
    check("rename dir back", rename_("r/dd", "r/dc"));
    check("rename ., ", rename_(".", "r/dot"));
    check("rename to empty path", rename_("r/fc", ""));
    check("rename file across dirs", rename_("r/fc", "r/dc/moved"));
    show_file("  r/dc/moved", "r/dc/moved");
    check("rename hard link over its twin", (link_(0, "r/dc/moved", "r/twin"),
                                              rename_("r/twin", "r/dc/moved")));
    show_stat("  r/twin", 0, "r/twin");
    show_stat("  r/dc/moved", 0, "r/dc/moved");
    check("rename symlink", (symlink_("dc", "r/sl"), rename_("r/sl", "r/sl2")));
    show_readlink("  readlink r/sl2", "r/sl2", 100);
    check("rename dir over symlink", rename_("r/db", "r/sl2"));
}

static void links(void) {
    /* tree l/: a = "hello" */
    check("link a -> b", link_(0, "l/a", "l/b"));
    show_stat("  stat l/a", 0, "l/a");
    printf("  same inode: %d\n", ino_of(0, "l/a") == ino_of(0, "l/b") && ino_of(0, "l/a") != 0);
    check("link onto existing", link_(0, "l/a", "l/b"));
    check("link a dir", link_(0, "d", "l/dirlink"));
    check("link missing", link_(0, "l/none", "l/c"));
    check("link into missing dir", link_(0, "l/a", "l/nodir/c"));
    check("link trailing slash on source", link_(0, "l/a/", "l/c"));
    check("symlink l/s -> a", symlink_("a", "l/s"));
    check("link symlink, no follow", link_(0, "l/s", "l/s_hard"));
    show_stat("  stat l/s_hard nofollow", 0, "l/s_hard");
    check("link symlink, SYMLINK_FOLLOW", link_(LOOKUP_FOLLOW, "l/s", "l/s_follow"));
    show_stat("  stat l/s_follow nofollow", 0, "l/s_follow");
    (void)unlink_("l/s_follow");
    check("unlink l/b", unlink_("l/b"));
    show_stat("  stat l/a", 0, "l/a");

    check("symlink onto existing", symlink_("x", "l/a"));
    check("symlink dangling", symlink_("nowhere", "l/dangling"));
    check("symlink absolute target", symlink_("/etc/passwd", "l/abs"));
    (void)unlink_("l/abs");
    check("symlink escaping target", symlink_("../../..", "l/up"));
    check("symlink empty target", symlink_("", "l/emptytarget"));
    check("symlink trailing slash on name", symlink_("a", "l/slash/"));
    check("symlink into missing dir", symlink_("a", "l/nodir/s"));
    check("symlink empty name", symlink_("a", ""));

    show_readlink("readlink l/s", "l/s", 100);
    show_readlink("readlink l/s buf 0", "l/s", 0);
    show_readlink("readlink l/dangling", "l/dangling", 100);
    show_readlink("readlink l/dangling buf 3", "l/dangling", 3);
    show_readlink("readlink l/dangling exact", "l/dangling", 7);
    show_readlink("readlink a file", "l/a", 100);
    show_readlink("readlink a dir", "l", 100);
    show_readlink("readlink missing", "l/none", 100);
    show_readlink("readlink trailing slash", "l/s/", 100);
    show_readlink("readlink empty path", "", 100);

    show_stat("stat l/s nofollow", 0, "l/s");
    show_stat("stat l/s follow", LOOKUP_FOLLOW, "l/s");
    show_stat("stat l/dangling nofollow", 0, "l/dangling");
    show_stat("stat l/dangling follow", LOOKUP_FOLLOW, "l/dangling");
    show_stat("stat dir", 0, "d");
    show_stat("stat .", 0, ".");
    show_stat("stat empty path", 0, "");
    show_stat("stat file/", 0, "file/");
    show_stat("stat d/", 0, "d/");
}

static void set_times(void) {
    filestat_t st;
    check("path set_times ATIM|MTIM", w_path_filestat_set_times(DIRFD, 0, P("file"), 4, 1111, 2222,
                                                                  FST_ATIM | FST_MTIM));
    (void)w_path_filestat_get(DIRFD, 0, P("file"), 4, P(&st));
    printf("  atim=%llu mtim=%llu\n", (unsigned long long)st.atim, (unsigned long long)st.mtim);
    check("path set_times MTIM only", w_path_filestat_set_times(DIRFD, 0, P("file"), 4, 0, 3333,
                                                                  FST_MTIM));
    (void)w_path_filestat_get(DIRFD, 0, P("file"), 4, P(&st));
    printf("  atim=%llu mtim=%llu\n", (unsigned long long)st.atim, (unsigned long long)st.mtim);
    check("path set_times ATIM|ATIM_NOW", w_path_filestat_set_times(
              DIRFD, 0, P("file"), 4, 1, 1, FST_ATIM | FST_ATIM_NOW));
    check("path set_times MTIM|MTIM_NOW", w_path_filestat_set_times(
              DIRFD, 0, P("file"), 4, 1, 1, FST_MTIM | FST_MTIM_NOW));
    check("path set_times missing", w_path_filestat_set_times(DIRFD, 0, P("nope"), 4, 1, 1,
                                                                FST_ATIM));
    check("path set_times on dir", w_path_filestat_set_times(DIRFD, 0, P("d"), 1, 7000, 8000,
                                                               FST_ATIM | FST_MTIM));
    (void)w_path_filestat_get(DIRFD, 0, P("d"), 1, P(&st));
    printf("  d atim=%llu mtim=%llu\n", (unsigned long long)st.atim, (unsigned long long)st.mtim);
    /* follow vs nofollow through a symlink */
    check("symlink tl -> file", symlink_("file", "tl"));
    check("path set_times FOLLOW via symlink", w_path_filestat_set_times(
              DIRFD, LOOKUP_FOLLOW, P("tl"), 2, 4444, 5555, FST_ATIM | FST_MTIM));
    (void)w_path_filestat_get(DIRFD, 0, P("file"), 4, P(&st));
    printf("  file atim=%llu mtim=%llu\n", (unsigned long long)st.atim,
           (unsigned long long)st.mtim);
    i32 e = check("path set_times NOFOLLOW on symlink", w_path_filestat_set_times(
                      DIRFD, 0, P("tl"), 2, 6666, 7777, FST_ATIM | FST_MTIM));
    (void)w_path_filestat_get(DIRFD, 0, P("file"), 4, P(&st));
    printf("  file atim=%llu mtim=%llu (unchanged)\n", (unsigned long long)st.atim,
           (unsigned long long)st.mtim);
    if (e == 0) {
        (void)w_path_filestat_get(DIRFD, 0, P("tl"), 2, P(&st));
        printf("  link atim=%llu mtim=%llu\n", (unsigned long long)st.atim,
               (unsigned long long)st.mtim);
    }
    check("unlink tl", unlink_("tl"));
}

/* ---- fd_readdir ---- */

typedef struct { char name[64]; u64 next; uint8_t type; } ent_t;

/* Read every entry of `fd` with a big buffer; return count. */
static int list_all(u32 fd, ent_t *out, int max, u32 bufsize) {
    static unsigned char buf[8192];
    u64 cookie = 0;
    int n = 0;
    for (int rounds = 0; rounds < 1000; rounds++) {
        u32 used = 0;
        i32 e = w_fd_readdir(fd, P(buf), bufsize, cookie, P(&used));
        if (e) { printf("  readdir: %s\n", en(e)); return n; }
        u32 off = 0;
        int complete = 0;
        while (off + sizeof(dirent_t) <= used) {
            dirent_t d;
            memcpy(&d, buf + off, sizeof d);
            if (off + sizeof d + d.d_namlen > used) break; /* truncated name */
            if (n < max) {
                u32 l = d.d_namlen < 63 ? d.d_namlen : 63;
                memcpy(out[n].name, buf + off + sizeof d, l);
                out[n].name[l] = 0;
                out[n].next = d.d_next;
                out[n].type = d.d_type;
            }
            n++;
            complete++;
            cookie = d.d_next;
            off += sizeof d + d.d_namlen;
        }
        if (used < bufsize) return n;
        if (complete == 0) { printf("  buffer %u too small for one entry\n", bufsize); return n; }
    }
    printf("  readdir did not terminate\n");
    return n;
}

static int by_name(const void *a, const void *b) {
    return strcmp(((const ent_t *)a)->name, ((const ent_t *)b)->name);
}

static void show_listing(const char *label, const char *path, u32 bufsize) {
    u32 fd;
    if (check(label, open_at(DIRFD, LOOKUP_FOLLOW, path, O_DIRECTORY_, R_FD_READDIR, 0, 0, &fd)))
        return;
    ent_t ents[64];
    int n = list_all(fd, ents, 64, bufsize);
    int seq_ok = 1;
    for (int i = 0; i < n && i < 64; i++)
        if (ents[i].next != (u64)(i + 1)) seq_ok = 0;
    qsort(ents, n < 64 ? n : 64, sizeof ents[0], by_name);
    printf("  %d entries, d_next == index+1: %d\n", n, seq_ok);
    for (int i = 0; i < n && i < 64; i++) printf("  %s %s\n", ftname(ents[i].type), ents[i].name);
    (void)w_fd_close(fd);
}

static void readdir_tests(void) {
    /* the tree has rd/ with exactly one entry "only.txt", and big/ with 40 files */
    show_listing("readdir root", ".", 8192);
    show_listing("readdir d", "d", 8192);
    show_listing("readdir big (buffer 8192)", "big", 8192);
    show_listing("readdir big (buffer 100)", "big", 100);
    show_listing("readdir big (buffer 30)", "big", 30);

    u32 fd;
    check("open rd", open_at(DIRFD, 0, "rd", O_DIRECTORY_, R_FD_READDIR, 0, 0, &fd));
    unsigned char buf[512];
    u32 used;
    /* exact layout of a one-entry directory */
    ent_t all[8];
    int n = list_all(fd, all, 8, 512);
    printf("  rd has %d entries:", n);
    for (int i = 0; i < n; i++) printf(" %s(next=%llu)", all[i].name, (unsigned long long)all[i].next);
    putchar('\n');
    u32 full = 0;
    (void)w_fd_readdir(fd, P(buf), sizeof buf, 0, P(&full));
    printf("  bytes for all entries: %u\n", full);
    /* every buffer length from 0 to full+1: bufused and whether it equals buf_len */
    for (u32 len = 0; len <= full + 1; len++) {
        memset(buf, 0xEE, sizeof buf);
        used = 777;
        i32 e = w_fd_readdir(fd, P(buf), len, 0, P(&used));
        int untouched = 1;
        for (u32 i = len; i < sizeof buf; i++) if (buf[i] != 0xEE) untouched = 0;
        if (e || used != len || !untouched || len == full || len == full + 1 || len % 8 == 0)
            printf("  buf_len=%u: %s used=%u past-end untouched=%d\n", len, en(e), used, untouched);
    }
    /* d_ino of the file entry is the file's inode */
    {
        memset(buf, 0, sizeof buf);
        (void)w_fd_readdir(fd, P(buf), sizeof buf, 0, P(&used));
        u32 off = 0;
        int match = -1;
        while (off + sizeof(dirent_t) <= used) {
            dirent_t d;
            memcpy(&d, buf + off, sizeof d);
            if (d.d_namlen == 8 && memcmp(buf + off + sizeof d, "only.txt", 8) == 0)
                match = d.d_ino == ino_of(0, "rd/only.txt");
            off += sizeof d + d.d_namlen;
        }
        printf("  d_ino of only.txt equals its filestat ino: %d\n", match);
    }
    /* a truncated entry still carries a correct header prefix */
    memset(buf, 0, sizeof buf);
    (void)w_fd_readdir(fd, P(buf), 30, 0, P(&used));
    dirent_t d0;
    memcpy(&d0, buf, sizeof d0);
    printf("  first entry of 30-byte read: next=%llu namlen=%u type=%s\n",
           (unsigned long long)d0.d_next, d0.d_namlen, ftname(d0.d_type));
    /* cookies */
    for (u64 c = 0; c <= (u64)n + 2; c++) {
        used = 777;
        i32 e = w_fd_readdir(fd, P(buf), sizeof buf, c, P(&used));
        printf("  cookie=%llu: %s used=%u", (unsigned long long)c, en(e), used);
        if (!e && used >= sizeof(dirent_t)) {
            dirent_t d;
            memcpy(&d, buf, sizeof d);
            printf(" first=");
            print_bytes(buf + sizeof d, d.d_namlen < 64 ? d.d_namlen : 0);
            printf(" next=%llu", (unsigned long long)d.d_next);
        }
        putchar('\n');
    }
    used = 777;
    check("  cookie=2^63", w_fd_readdir(fd, P(buf), sizeof buf, 1ull << 63, P(&used)));
    printf("  used=%u\n", used);
    /* a directory changed between calls: a new entry, then a stale cookie */
    check("  create rd/new.txt", (u32)open_rw("rd/new.txt", O_CREAT_, 0, &(u32){0}));
    n = list_all(fd, all, 8, 512);
    qsort(all, n, sizeof all[0], by_name);
    printf("  after create, %d entries:", n);
    for (int i = 0; i < n; i++) printf(" %s", all[i].name);
    putchar('\n');
    check("  readdir on a file fd", (open_rw("file", 0, 0, &fd), w_fd_readdir(fd, P(buf), 512, 0,
                                                                             P(&used))));
    check("  close", w_fd_close(fd));
    check("readdir on a closed fd", w_fd_readdir(fd, P(buf), 512, 0, P(&used)));
}

/* Trailing slashes on the names that link, symlink and rename create. */
static void create_with_slash(void) {
    check("link file to new name with trailing slash", link_(0, "l/a", "l/c/"));
    show_stat("  stat l/c", 0, "l/c");
    check("symlink to new name with trailing slash", symlink_("a", "l/d/"));
    show_stat("  stat l/d", 0, "l/d");
    check("rename file to new name with trailing slash", rename_("l/a", "l/e/"));
    show_stat("  stat l/e", 0, "l/e");
    check("rename dir to new name with trailing slash", rename_("d", "dnew/"));
    show_stat("  stat dnew", 0, "dnew");
}

/* Two preopens (fd 3 and fd 4): moving and linking between them, and the libc view. */
static void cross_mount(void) {
    check("rename file from preopen 3 to preopen 4",
          w_path_rename(3, P("f"), 1, 4, P("moved"), 5));
    check("link file from preopen 3 into preopen 4",
          w_path_link(3, 0, P("g"), 1, 4, P("linked"), 6));
    check("rename dir from preopen 3 to preopen 4",
          w_path_rename(3, P("d"), 1, 4, P("d"), 1));
    check("rename within preopen 4", w_path_rename(4, P("o"), 1, 4, P("o2"), 2));
    check("symlink in 4 pointing into 3 by relative path",
          w_path_symlink(P("../sandbox/g"), 12, 4, P("cross"), 5));
    show_stat("stat f in 3", 0, "f");
    show_stat("stat g in 3", 0, "g");
    check("rename from 4 back over a file of 3",
          w_path_rename(4, P("moved"), 5, 3, P("g"), 1));
    {
        filestat_t st;
        memset(&st, 0, sizeof st);
        i32 e = w_path_filestat_get(4, 0, P("linked"), 6, P(&st));
        printf("stat linked in 4: %s nlink=%llu\n", en(e), (unsigned long long)st.nlink);
    }
    check("rename dir from 4 into the nested preopen 5",
          w_path_rename(4, P("d"), 1, 5, P("d2"), 2));
    check("rename dir from 5 over a file of 4", w_path_rename(5, P("d2"), 2, 4, P("o2"), 2));
    check("rename from 4 to 3 by .. (an escape)",
          w_path_rename(4, P("o2"), 2, 3, P("../x"), 4));
    check("link from 4 to 3 by .. (an escape)",
          w_path_link(4, 0, P("o2"), 2, 3, P("../x"), 4));
    /* libc resolves absolute paths to the preopen with the longest matching prefix */
    FILE *fp = fopen("/other/o2", "r");
    char buf[32] = {0};
    if (fp) { fgets(buf, sizeof buf, fp); fclose(fp); }
    printf("fopen /other/o2: %s\n", fp ? buf : "failed");
    fp = fopen("/sandbox/nested/inner.txt", "r");
    memset(buf, 0, sizeof buf);
    if (fp) { fgets(buf, sizeof buf, fp); fclose(fp); }
    printf("fopen /sandbox/nested/inner.txt: %s\n", fp ? buf : "failed");
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc > 1 && strcmp(argv[1], "slash") == 0) {
        create_with_slash();
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "cross") == 0) {
        cross_mount();
        return 0;
    }
    create_remove();
    renames();
    links();
    set_times();
    readdir_tests();
    return 0;
}
