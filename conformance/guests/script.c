/* A filesystem script interpreter for differential testing (tests/test_differential.py).
 *
 * Reads operations from stdin, one per line, tokens separated by single spaces, and runs
 * each on the first preopen (fd 3). Prints exactly one line per operation: the result, or
 * the WASI errno name. Nothing host-specific is printed (no inode numbers, no times, no
 * descriptor numbers, no directory sizes), so outputs compare exactly between runtimes.
 *
 * Paths: "~" is the empty path; "@S:PATH" resolves PATH relative to the directory held in
 * handle slot S (0-3) instead of the preopen (a closed slot is an invalid descriptor).
 *
 * Path operations go straight to the preview1 imports (no libc errno mapping, explicit
 * rights, symlinks followed where noted):
 *   mkdir P | rmdir P | unlink P | rename A B | symlink TARGET L | link A B (no follow)
 *   stat P (follow) | lstat P | readlink P | readdir P (sorted "name:type" entries)
 *   create P N      open O_CREAT|O_TRUNC for writing, write N pattern bytes
 *   write P OFF D   open for writing (no create), pwrite D at OFF
 *   append P D      open with FDFLAGS_APPEND, write D
 *   read P OFF LEN  open for reading, pread
 *   truncate P N    open for writing, fd_filestat_set_size
 *   open P FLAGS    path_open; FLAGS letters: c creat, x excl, t trunc, d directory,
 *                   n no-follow, r read rights, w write rights; prints the opened type
 * Handle operations go through wasi-libc (openat on fd 3, read, write, lseek, ...), as
 * ordinary programs do; errno values of wasi-libc are the WASI errno numbers:
 *   hopen S P FLAGS  openat(3, P, ...): r O_RDONLY, w O_WRONLY, b O_RDWR, c O_CREAT,
 *                    x O_EXCL, t O_TRUNC, a O_APPEND, d O_DIRECTORY, n O_NOFOLLOW
 *   hclose S | hread S LEN | hwrite S D | hseek S OFF s|c|e | htrunc S N | hstat S
 *   hreaddir S (raw fd_readdir on the handle)
 */
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#define NSLOTS 4
#define BAD_FD 999u

static int slots[NSLOTS] = {-1, -1, -1, -1};

static void ok_or(i32 e) { puts(e ? en(e) : "ok"); }

/* Decode a path token: "~" is "", "@S:rest" is rest relative to slot S. */
static const char *dir_path(const char *tok, u32 *dir) {
    *dir = DIRFD;
    if (tok[0] == '@' && tok[1] >= '0' && tok[1] < '0' + NSLOTS && tok[2] == ':') {
        int fd = slots[tok[1] - '0'];
        *dir = fd < 0 ? BAD_FD : (u32)fd;
        tok += 3;
    }
    return strcmp(tok, "~") == 0 ? "" : tok;
}

static int slot_arg(const char *tok) {
    int s = atoi(tok);
    return (s >= 0 && s < NSLOTS) ? s : 0;
}

static u32 slot_fd(int s) { return slots[s] < 0 ? BAD_FD : (u32)slots[s]; }

static void print_filestat(const filestat_t *st) {
    if (st->filetype == FT_DIR)
        puts("dir");
    else if (st->filetype == FT_SYMLINK)
        printf("symlink size=%llu\n", (unsigned long long)st->size);
    else
        printf("%s size=%llu nlink=%llu\n", ftname(st->filetype), (unsigned long long)st->size,
               (unsigned long long)st->nlink);
}

static void op_stat(const char *tok, u32 lookup) {
    u32 dir;
    const char *p = dir_path(tok, &dir);
    filestat_t st;
    memset(&st, 0, sizeof st);
    i32 e = w_path_filestat_get(dir, lookup, P(p), (u32)strlen(p), P(&st));
    if (e) puts(en(e));
    else print_filestat(&st);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* All entries of an open directory, sorted, as "name:type". The buffer is small on purpose:
 * listing takes several fd_readdir calls, resuming at a cookie, and most calls end in a
 * truncated entry. */
static void list_fd(u32 fd) {
    static char buf[56];
    static char names[64][300];
    char *sorted[64];
    int n = 0, truncated = 0;
    u64 cookie = 0;
    for (;;) {
        u32 used = 0;
        i32 e = w_fd_readdir(fd, P(buf), sizeof buf, cookie, P(&used));
        if (e) { puts(en(e)); return; }
        u32 pos = 0;
        int progressed = 0;
        while (pos + sizeof(dirent_t) <= used) {
            dirent_t d;
            memcpy(&d, buf + pos, sizeof d);
            if (pos + sizeof d + d.d_namlen > used) break; /* truncated name: re-read */
            if (n < 64) {
                u32 len = d.d_namlen < 255 ? d.d_namlen : 255;
                memcpy(names[n], buf + pos + sizeof d, len);
                snprintf(names[n] + len, sizeof names[n] - len, ":%s", ftname(d.d_type));
                sorted[n] = names[n];
                n++;
            } else {
                truncated = 1;
            }
            cookie = d.d_next;
            pos += sizeof d + d.d_namlen;
            progressed = 1;
        }
        if (used < sizeof buf) break;
        if (!progressed) { puts("readdir: entry larger than buffer"); return; }
    }
    qsort(sorted, (size_t)n, sizeof sorted[0], cmp_str);
    printf("[");
    for (int i = 0; i < n; i++) printf(i ? " %s" : "%s", sorted[i]);
    printf("]%s\n", truncated ? " ..." : "");
}

static void op_readdir(const char *tok) {
    u32 dir, fd;
    const char *p = dir_path(tok, &dir);
    i32 e = open_at(dir, LOOKUP_FOLLOW, p, O_DIRECTORY_, R_FD_READDIR, 0, 0, &fd);
    if (e) { puts(en(e)); return; }
    list_fd(fd);
    (void)w_fd_close(fd);
}

static void op_readlink(const char *tok) {
    u32 dir;
    const char *p = dir_path(tok, &dir);
    char buf[256];
    u32 used = 0;
    i32 e = w_path_readlink(dir, P(p), (u32)strlen(p), P(buf), sizeof buf, P(&used));
    if (e) { puts(en(e)); return; }
    print_bytes(buf, used);
    putchar('\n');
}

/* Open a path with raw path_open (symlinks followed) and the given rights. */
static i32 open_path(const char *tok, u32 oflags, u64 rights, u32 fdflags, u32 *fd) {
    u32 dir;
    const char *p = dir_path(tok, &dir);
    return open_at(dir, LOOKUP_FOLLOW, p, oflags, rights, 0, fdflags, fd);
}

static void write_all(u32 fd, const char *data, u32 len, u64 offset, int positional) {
    iov_t iov = {P(data), len};
    u32 n = 0;
    i32 e = positional ? w_fd_pwrite(fd, P(&iov), 1, offset, P(&n))
                       : w_fd_write(fd, P(&iov), 1, P(&n));
    if (e) puts(en(e));
    else printf("wrote %u\n", (unsigned)n);
}

static void op_create(const char *tok, const char *count) {
    static char data[4096];
    u32 n = (u32)atoi(count), fd;
    if (n > sizeof data) n = sizeof data;
    for (u32 i = 0; i < n; i++) data[i] = (char)('a' + i % 26);
    i32 e = open_path(tok, O_CREAT_ | O_TRUNC_, R_FD_WRITE | R_FD_SEEK, 0, &fd);
    if (e) { puts(en(e)); return; }
    write_all(fd, data, n, 0, 1);
    (void)w_fd_close(fd);
}

static void op_write(const char *tok, const char *offset, const char *data, u32 fdflags) {
    u32 fd;
    i32 e = open_path(tok, 0, R_FD_WRITE | R_FD_SEEK, fdflags, &fd);
    if (e) { puts(en(e)); return; }
    write_all(fd, data, (u32)strlen(data), offset ? (u64)atoll(offset) : 0, offset != NULL);
    (void)w_fd_close(fd);
}

static void op_read(const char *tok, const char *offset, const char *len) {
    static char buf[4096];
    u32 n = (u32)atoi(len), fd, got = 0;
    if (n > sizeof buf) n = sizeof buf;
    i32 e = open_path(tok, 0, R_FD_READ | R_FD_SEEK, 0, &fd);
    if (e) { puts(en(e)); return; }
    iov_t iov = {P(buf), n};
    e = w_fd_pread(fd, P(&iov), 1, (u64)atoll(offset), P(&got));
    if (e) puts(en(e));
    else { print_bytes(buf, got); putchar('\n'); }
    (void)w_fd_close(fd);
}

static void op_truncate(const char *tok, const char *size) {
    u32 fd;
    i32 e = open_path(tok, 0, R_FD_WRITE | R_FD_FILESTAT_SET_SIZE, 0, &fd);
    if (e) { puts(en(e)); return; }
    ok_or(w_fd_filestat_set_size(fd, (u64)atoll(size)));
    (void)w_fd_close(fd);
}

static void op_open(const char *tok, const char *flags) {
    u32 oflags = 0, lookup = LOOKUP_FOLLOW, fd;
    u64 rights = R_FD_FILESTAT_GET;
    for (const char *f = flags; *f; f++) {
        switch (*f) {
        case 'c': oflags |= O_CREAT_; break;
        case 'x': oflags |= O_EXCL_; break;
        case 't': oflags |= O_TRUNC_; break;
        case 'd': oflags |= O_DIRECTORY_; break;
        case 'n': lookup = 0; break;
        case 'r': rights |= R_FD_READ | R_FD_SEEK | R_FD_READDIR; break;
        case 'w': rights |= R_FD_WRITE | R_FD_SEEK; break;
        default: break;
        }
    }
    u32 dir;
    const char *p = dir_path(tok, &dir);
    i32 e = open_at(dir, lookup, p, oflags, rights, 0, 0, &fd);
    if (e) { puts(en(e)); return; }
    filestat_t st;
    memset(&st, 0, sizeof st);
    e = w_fd_filestat_get(fd, P(&st));
    if (e) printf("opened, fd_filestat_get %s\n", en(e));
    else printf("opened %s\n", ftname(st.filetype));
    (void)w_fd_close(fd);
}

static void op_path2(const char *op, const char *a, const char *b) {
    u32 da, db;
    const char *pa = dir_path(a, &da);
    const char *pb = dir_path(b, &db);
    i32 e;
    if (strcmp(op, "rename") == 0)
        e = w_path_rename(da, P(pa), (u32)strlen(pa), db, P(pb), (u32)strlen(pb));
    else if (strcmp(op, "link") == 0)
        e = w_path_link(da, 0, P(pa), (u32)strlen(pa), db, P(pb), (u32)strlen(pb));
    else /* symlink: a is the target, stored verbatim ("~" is the empty target) */
        e = w_path_symlink(P(pa), (u32)strlen(pa), db, P(pb), (u32)strlen(pb));
    ok_or(e);
}

static void op_path1(const char *op, const char *tok) {
    u32 dir;
    const char *p = dir_path(tok, &dir);
    u32 len = (u32)strlen(p);
    if (strcmp(op, "mkdir") == 0) ok_or(w_path_create_directory(dir, P(p), len));
    else if (strcmp(op, "rmdir") == 0) ok_or(w_path_remove_directory(dir, P(p), len));
    else ok_or(w_path_unlink_file(dir, P(p), len));
}

/* --- handle operations through wasi-libc --- */

static void libc_result(long rc) {
    if (rc < 0) puts(en(errno));
    else printf("%ld\n", rc);
}

static const char *mode_type(mode_t m) {
    if (S_ISDIR(m)) return "dir";
    if (S_ISREG(m)) return "file";
    if (S_ISLNK(m)) return "symlink";
    return "other";
}

static void op_hopen(int s, const char *tok, const char *flags) {
    int oflag = 0;
    for (const char *f = flags; *f; f++) {
        switch (*f) {
        case 'r': oflag |= O_RDONLY; break;
        case 'w': oflag |= O_WRONLY; break;
        case 'b': oflag |= O_RDWR; break;
        case 'c': oflag |= O_CREAT; break;
        case 'x': oflag |= O_EXCL; break;
        case 't': oflag |= O_TRUNC; break;
        case 'a': oflag |= O_APPEND; break;
        case 'd': oflag |= O_DIRECTORY; break;
        case 'n': oflag |= O_NOFOLLOW; break;
        default: break;
        }
    }
    u32 dir;
    const char *p = dir_path(tok, &dir);
    if (slots[s] >= 0) { close(slots[s]); slots[s] = -1; }
    int fd = openat((int)dir, p, oflag, 0644);
    if (fd < 0) { puts(en(errno)); return; }
    slots[s] = fd;
    struct stat st;
    if (fstat(fd, &st) < 0) printf("opened, fstat %s\n", en(errno));
    else printf("opened %s\n", mode_type(st.st_mode));
}

static void op_hstat(int s) {
    struct stat st;
    if (fstat(slots[s], &st) < 0) { puts(en(errno)); return; }
    if (S_ISDIR(st.st_mode)) puts("dir");
    else printf("%s size=%lld nlink=%llu\n", mode_type(st.st_mode), (long long)st.st_size,
                (unsigned long long)st.st_nlink);
}

static void op_hread(int s, const char *len) {
    static char buf[4096];
    size_t n = (size_t)atoi(len);
    if (n > sizeof buf) n = sizeof buf;
    ssize_t got = read(slots[s], buf, n);
    if (got < 0) { puts(en(errno)); return; }
    print_bytes(buf, (size_t)got);
    putchar('\n');
}

static void op_hseek(int s, const char *offset, const char *whence) {
    int w = whence[0] == 'c' ? SEEK_CUR : whence[0] == 'e' ? SEEK_END : SEEK_SET;
    libc_result((long)lseek(slots[s], (off_t)atoll(offset), w));
}

int main(void) {
    static char line[2048];
    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\n")] = 0;
        char *tok[8] = {0};
        int nt = 0;
        for (char *t = strtok(line, " "); t && nt < 8; t = strtok(NULL, " ")) tok[nt++] = t;
        if (nt == 0) { puts("empty"); continue; }
        const char *op = tok[0];
        const char *a = tok[1] ? tok[1] : "~", *b = tok[2] ? tok[2] : "~";
        const char *c = tok[3] ? tok[3] : "";
        if (!strcmp(op, "mkdir") || !strcmp(op, "rmdir") || !strcmp(op, "unlink"))
            op_path1(op, a);
        else if (!strcmp(op, "rename") || !strcmp(op, "link") || !strcmp(op, "symlink"))
            op_path2(op, a, b);
        else if (!strcmp(op, "stat")) op_stat(a, LOOKUP_FOLLOW);
        else if (!strcmp(op, "lstat")) op_stat(a, 0);
        else if (!strcmp(op, "readlink")) op_readlink(a);
        else if (!strcmp(op, "readdir")) op_readdir(a);
        else if (!strcmp(op, "create")) op_create(a, b);
        else if (!strcmp(op, "write")) op_write(a, b, c, 0);
        else if (!strcmp(op, "append")) op_write(a, NULL, tok[2] ? tok[2] : "", FD_APPEND);
        else if (!strcmp(op, "read")) op_read(a, b, c);
        else if (!strcmp(op, "truncate")) op_truncate(a, b);
        else if (!strcmp(op, "open")) op_open(a, tok[2] ? tok[2] : "");
        else if (!strcmp(op, "hopen")) op_hopen(slot_arg(a), b, c);
        else if (!strcmp(op, "hclose")) {
            int s = slot_arg(a);
            libc_result(close(slots[s]));
            slots[s] = -1;
        }
        else if (!strcmp(op, "hread")) op_hread(slot_arg(a), b);
        else if (!strcmp(op, "hwrite")) {
            const char *d = tok[2] ? tok[2] : "";
            libc_result((long)write(slots[slot_arg(a)], d, strlen(d)));
        }
        else if (!strcmp(op, "hseek")) op_hseek(slot_arg(a), b, c);
        else if (!strcmp(op, "htrunc")) libc_result(ftruncate(slots[slot_arg(a)], atoll(b)));
        else if (!strcmp(op, "hstat")) op_hstat(slot_arg(a));
        else if (!strcmp(op, "hreaddir")) list_fd(slot_fd(slot_arg(a)));
        else printf("unknown op %s\n", op);
    }
    return 0;
}
