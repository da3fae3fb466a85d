/* Shared helpers for the conformance guests.
 *
 * Every preview1 import is declared again here under a `w_` name with plain integer
 * parameters (pointers as uint32_t, lengths explicit), so a guest can pass any pointer,
 * any length and any flag bits, and print the WASI errno the host returned: outputs then
 * compare exactly between runtimes, with no libc errno translation in between.
 *
 * The runner inlines this file where a guest says #include "common.h" (so the compile
 * cache key covers it).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IMP(n) __attribute__((import_module("wasi_snapshot_preview1"), import_name(#n)))
#define P(x) ((uint32_t)(uintptr_t)(x))

typedef uint32_t u32;
typedef uint64_t u64;
typedef int32_t i32;
typedef int64_t i64;

IMP(args_get) i32 w_args_get(u32 argv, u32 argv_buf);
IMP(args_sizes_get) i32 w_args_sizes_get(u32 argc_ptr, u32 buf_size_ptr);
IMP(environ_get) i32 w_environ_get(u32 environ, u32 environ_buf);
IMP(environ_sizes_get) i32 w_environ_sizes_get(u32 count_ptr, u32 buf_size_ptr);
IMP(clock_res_get) i32 w_clock_res_get(u32 id, u32 res_ptr);
IMP(clock_time_get) i32 w_clock_time_get(u32 id, u64 precision, u32 time_ptr);
IMP(fd_advise) i32 w_fd_advise(u32 fd, u64 offset, u64 len, u32 advice);
IMP(fd_allocate) i32 w_fd_allocate(u32 fd, u64 offset, u64 len);
IMP(fd_close) i32 w_fd_close(u32 fd);
IMP(fd_datasync) i32 w_fd_datasync(u32 fd);
IMP(fd_fdstat_get) i32 w_fd_fdstat_get(u32 fd, u32 stat_ptr);
IMP(fd_fdstat_set_flags) i32 w_fd_fdstat_set_flags(u32 fd, u32 flags);
IMP(fd_fdstat_set_rights) i32 w_fd_fdstat_set_rights(u32 fd, u64 base, u64 inheriting);
IMP(fd_filestat_get) i32 w_fd_filestat_get(u32 fd, u32 buf_ptr);
IMP(fd_filestat_set_size) i32 w_fd_filestat_set_size(u32 fd, u64 size);
IMP(fd_filestat_set_times) i32 w_fd_filestat_set_times(u32 fd, u64 atim, u64 mtim, u32 fst);
IMP(fd_pread) i32 w_fd_pread(u32 fd, u32 iovs, u32 iovs_len, u64 offset, u32 nread_ptr);
IMP(fd_prestat_get) i32 w_fd_prestat_get(u32 fd, u32 buf_ptr);
IMP(fd_prestat_dir_name) i32 w_fd_prestat_dir_name(u32 fd, u32 path, u32 path_len);
IMP(fd_pwrite) i32 w_fd_pwrite(u32 fd, u32 iovs, u32 iovs_len, u64 offset, u32 nwritten_ptr);
IMP(fd_read) i32 w_fd_read(u32 fd, u32 iovs, u32 iovs_len, u32 nread_ptr);
IMP(fd_readdir) i32 w_fd_readdir(u32 fd, u32 buf, u32 buf_len, u64 cookie, u32 bufused_ptr);
IMP(fd_renumber) i32 w_fd_renumber(u32 fd, u32 to);
IMP(fd_seek) i32 w_fd_seek(u32 fd, i64 offset, u32 whence, u32 newoffset_ptr);
IMP(fd_sync) i32 w_fd_sync(u32 fd);
IMP(fd_tell) i32 w_fd_tell(u32 fd, u32 offset_ptr);
IMP(fd_write) i32 w_fd_write(u32 fd, u32 iovs, u32 iovs_len, u32 nwritten_ptr);
IMP(path_create_directory) i32 w_path_create_directory(u32 fd, u32 path, u32 path_len);
IMP(path_filestat_get) i32 w_path_filestat_get(u32 fd, u32 flags, u32 path, u32 path_len, u32 buf);
IMP(path_filestat_set_times) i32 w_path_filestat_set_times(u32 fd, u32 flags, u32 path, u32 path_len,
                                                           u64 atim, u64 mtim, u32 fst);
IMP(path_link) i32 w_path_link(u32 old_fd, u32 old_flags, u32 old_path, u32 old_len, u32 new_fd,
                               u32 new_path, u32 new_len);
IMP(path_open) i32 w_path_open(u32 fd, u32 dirflags, u32 path, u32 path_len, u32 oflags, u64 base,
                               u64 inheriting, u32 fdflags, u32 fd_ptr);
IMP(path_readlink) i32 w_path_readlink(u32 fd, u32 path, u32 path_len, u32 buf, u32 buf_len,
                                       u32 bufused_ptr);
IMP(path_remove_directory) i32 w_path_remove_directory(u32 fd, u32 path, u32 path_len);
IMP(path_rename) i32 w_path_rename(u32 fd, u32 old_path, u32 old_len, u32 new_fd, u32 new_path,
                                   u32 new_len);
IMP(path_symlink) i32 w_path_symlink(u32 old_path, u32 old_len, u32 fd, u32 new_path, u32 new_len);
IMP(path_unlink_file) i32 w_path_unlink_file(u32 fd, u32 path, u32 path_len);
IMP(poll_oneoff) i32 w_poll_oneoff(u32 in, u32 out, u32 nsubscriptions, u32 nevents_ptr);
IMP(proc_exit) _Noreturn void w_proc_exit(u32 code);
IMP(proc_raise) i32 w_proc_raise(u32 sig);
IMP(sched_yield) i32 w_sched_yield(void);
IMP(random_get) i32 w_random_get(u32 buf, u32 buf_len);
IMP(sock_accept) i32 w_sock_accept(u32 fd, u32 flags, u32 result_fd_ptr);
IMP(sock_recv) i32 w_sock_recv(u32 fd, u32 ri_data, u32 ri_data_len, u32 ri_flags, u32 ro_datalen_ptr,
                               u32 ro_flags_ptr);
IMP(sock_send) i32 w_sock_send(u32 fd, u32 si_data, u32 si_data_len, u32 si_flags, u32 so_datalen_ptr);
IMP(sock_shutdown) i32 w_sock_shutdown(u32 fd, u32 how);

/* --- constants (witx) --- */
enum {
    E_SUCCESS = 0, E_BADF = 8, E_EXIST = 20, E_FAULT = 21, E_ILSEQ = 25, E_INVAL = 28,
    E_ISDIR = 31, E_LOOP = 32, E_NOENT = 44, E_NOTDIR = 54, E_NOTEMPTY = 55, E_NOTCAPABLE = 76,
};
enum { FT_UNKNOWN, FT_BLOCK, FT_CHAR, FT_DIR, FT_REG, FT_DGRAM, FT_STREAM, FT_SYMLINK };
enum { O_CREAT_ = 1, O_DIRECTORY_ = 2, O_EXCL_ = 4, O_TRUNC_ = 8 };
enum { FD_APPEND = 1, FD_DSYNC = 2, FD_NONBLOCK = 4, FD_RSYNC = 8, FD_SYNC = 16 };
enum { LOOKUP_FOLLOW = 1 };
enum { FST_ATIM = 1, FST_ATIM_NOW = 2, FST_MTIM = 4, FST_MTIM_NOW = 8 };
enum { WH_SET = 0, WH_CUR = 1, WH_END = 2 };

#define R_FD_DATASYNC (1ull << 0)
#define R_FD_READ (1ull << 1)
#define R_FD_SEEK (1ull << 2)
#define R_FD_FDSTAT_SET_FLAGS (1ull << 3)
#define R_FD_SYNC (1ull << 4)
#define R_FD_TELL (1ull << 5)
#define R_FD_WRITE (1ull << 6)
#define R_FD_ADVISE (1ull << 7)
#define R_FD_ALLOCATE (1ull << 8)
#define R_PATH_CREATE_DIRECTORY (1ull << 9)
#define R_PATH_CREATE_FILE (1ull << 10)
#define R_PATH_OPEN (1ull << 13)
#define R_FD_READDIR (1ull << 14)
#define R_FD_FILESTAT_GET (1ull << 21)
#define R_FD_FILESTAT_SET_SIZE (1ull << 22)
#define R_ALL ((1ull << 30) - 1)
/* Every right except those that make wasmtime open the descriptor for writing (a
 * directory cannot be opened for writing: EISDIR). */
#define R_DIR (R_ALL & ~(R_FD_WRITE | R_FD_DATASYNC | R_FD_ALLOCATE | R_FD_FILESTAT_SET_SIZE))

typedef struct { u32 buf; u32 len; } iov_t;
typedef struct {
    uint8_t filetype; uint16_t flags; u64 rights_base; u64 rights_inheriting;
} fdstat_t;
typedef struct {
    u64 dev; u64 ino; uint8_t filetype; u64 nlink; u64 size; u64 atim; u64 mtim; u64 ctim;
} filestat_t;
typedef struct { u64 d_next; u64 d_ino; u32 d_namlen; uint8_t d_type; } dirent_t;
_Static_assert(sizeof(fdstat_t) == 24, "fdstat layout");
_Static_assert(sizeof(filestat_t) == 64, "filestat layout");
_Static_assert(sizeof(dirent_t) == 24, "dirent layout");

static const char *const ERRNO_NAMES[] = {
    "SUCCESS", "2BIG", "ACCES", "ADDRINUSE", "ADDRNOTAVAIL", "AFNOSUPPORT", "AGAIN", "ALREADY",
    "BADF", "BADMSG", "BUSY", "CANCELED", "CHILD", "CONNABORTED", "CONNREFUSED", "CONNRESET",
    "DEADLK", "DESTADDRREQ", "DOM", "DQUOT", "EXIST", "FAULT", "FBIG", "HOSTUNREACH", "IDRM",
    "ILSEQ", "INPROGRESS", "INTR", "INVAL", "IO", "ISCONN", "ISDIR", "LOOP", "MFILE", "MLINK",
    "MSGSIZE", "MULTIHOP", "NAMETOOLONG", "NETDOWN", "NETRESET", "NETUNREACH", "NFILE",
    "NOBUFS", "NODEV", "NOENT", "NOEXEC", "NOLCK", "NOLINK", "NOMEM", "NOMSG", "NOPROTOOPT",
    "NOSPC", "NOSYS", "NOTCONN", "NOTDIR", "NOTEMPTY", "NOTRECOVERABLE", "NOTSOCK", "NOTSUP",
    "NOTTY", "NXIO", "OVERFLOW", "OWNERDEAD", "PERM", "PIPE", "PROTO", "PROTONOSUPPORT",
    "PROTOTYPE", "RANGE", "ROFS", "SPIPE", "SRCH", "STALE", "TIMEDOUT", "TXTBSY", "XDEV",
    "NOTCAPABLE",
};

static const char *en(i32 e) {
    static char other[32];
    if (e >= 0 && e < (i32)(sizeof ERRNO_NAMES / sizeof ERRNO_NAMES[0])) return ERRNO_NAMES[e];
    snprintf(other, sizeof other, "errno(%d)", (int)e);
    return other;
}

/* Print "label: ERRNO" and give the errno back. */
static i32 check(const char *label, i32 e) {
    printf("%s: %s\n", label, en(e));
    return e;
}

static const char *ftname(int t) {
    static const char *const n[] = {"unknown", "block", "char", "dir", "file", "dgram", "stream",
                                    "symlink"};
    return (t >= 0 && t < 8) ? n[t] : "bad-filetype";
}

/* The first preopened directory. */
#define DIRFD 3u

/* path_open relative to `dir` (following symlinks) with explicit rights. */
static i32 open_at(u32 dir, u32 lookup, const char *path, u32 oflags, u64 base, u64 inh,
                   u32 fdflags, u32 *fd) {
    *fd = 0xFFFFFFFFu;
    return w_path_open(dir, lookup, P(path), (u32)strlen(path), oflags, base, inh, fdflags, P(fd));
}

/* path_open relative to the first preopen, every right, following symlinks. */
static i32 open_rw(const char *path, u32 oflags, u32 fdflags, u32 *fd) {
    return open_at(DIRFD, LOOKUP_FOLLOW, path, oflags, R_ALL, R_ALL, fdflags, fd);
}

static i32 write_str(u32 fd, const char *s, u32 *nwritten) {
    iov_t iov = {P(s), (u32)strlen(s)};
    return w_fd_write(fd, P(&iov), 1, P(nwritten));
}

static i32 read_buf(u32 fd, void *buf, u32 len, u32 *nread) {
    iov_t iov = {P(buf), len};
    return w_fd_read(fd, P(&iov), 1, P(nread));
}

/* Print bytes as a C-escaped string in double quotes. */
static void print_bytes(const void *data, size_t n) {
    const unsigned char *p = (const unsigned char *)data;
    putchar('"');
    for (size_t i = 0; i < n; i++) {
        unsigned c = p[i];
        if (c == '\\' || c == '"') printf("\\%c", c);
        else if (c >= 0x20 && c < 0x7f) putchar((int)c);
        else printf("\\x%02x", c);
    }
    putchar('"');
}

/* Whole content of a file by path (relative to DIRFD), printed as "label: "..."". */
static void show_file(const char *label, const char *path) {
    u32 fd;
    i32 e = open_at(DIRFD, LOOKUP_FOLLOW, path, 0, R_FD_READ | R_FD_SEEK, 0, 0, &fd);
    if (e) { printf("%s: open %s\n", label, en(e)); return; }
    static char buf[4096];
    u32 n = 0;
    iov_t iov = {P(buf), sizeof buf};
    e = w_fd_pread(fd, P(&iov), 1, 0, P(&n));
    printf("%s: ", label);
    if (e) printf("pread %s", en(e));
    else print_bytes(buf, n);
    putchar('\n');
    (void)w_fd_close(fd);
}

/* Filestat of a path: prints type, size (files/symlinks) and nlink (files). */
static i32 show_stat(const char *label, u32 flags, const char *path) {
    filestat_t st;
    memset(&st, 0, sizeof st);
    i32 e = w_path_filestat_get(DIRFD, flags, P(path), (u32)strlen(path), P(&st));
    if (e) { printf("%s: %s\n", label, en(e)); return e; }
    if (st.filetype == FT_DIR)
        printf("%s: type=dir\n", label);
    else if (st.filetype == FT_SYMLINK)
        printf("%s: type=symlink size=%llu\n", label, (unsigned long long)st.size);
    else
        printf("%s: type=%s size=%llu nlink=%llu\n", label, ftname(st.filetype),
               (unsigned long long)st.size, (unsigned long long)st.nlink);
    return 0;
}
