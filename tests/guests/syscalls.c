/* The syscall fuzzer's guest (tests/test_fuzz_guest.py): runs a script of raw
 * wasi_snapshot_preview1 calls read from stdin and prints each call's errno, one line per
 * call. The calls go straight to the imports (no wasi-libc wrapper), so the pointers,
 * lengths, flags and descriptors of the script, valid or not, are what the host gets.
 *
 * Script lines (tests/_fuzz.py, ``script``):
 *   w PTR HEX                store bytes ("-": none) at PTR (cut at the end of memory)
 *   v PTR N BUF LEN ...      store an array of N iovecs (BUF a pointer argument)
 *   c NAME ARG ...           call NAME (every preview1 function but proc_exit)
 * An argument or pointer is "aOFF" (OFF bytes into the 64 KiB arena below), "eK" (K bytes
 * before the end of memory: the last page, which this program grows and never uses), "fS"
 * (the descriptor in fd slot S of the arena: a u32 at 0x3000 + 4 S; 0, 1 and 2 become 1000,
 * so that a script never touches this program's stdin and stdout), or a decimal integer.
 * After each call the arena's scratch half (0x8000 on) and the last page are zeroed.
 * The dispatch below is generated from wasifs.abi.SYSCALLS (a test checks the list).
 */
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#define IMPORT(n) __attribute__((import_module("wasi_snapshot_preview1"), import_name(#n)))
IMPORT(args_get) int32_t x_args_get(int32_t, int32_t);
IMPORT(args_sizes_get) int32_t x_args_sizes_get(int32_t, int32_t);
IMPORT(clock_res_get) int32_t x_clock_res_get(int32_t, int32_t);
IMPORT(clock_time_get) int32_t x_clock_time_get(int32_t, int64_t, int32_t);
IMPORT(environ_get) int32_t x_environ_get(int32_t, int32_t);
IMPORT(environ_sizes_get) int32_t x_environ_sizes_get(int32_t, int32_t);
IMPORT(fd_advise) int32_t x_fd_advise(int32_t, int64_t, int64_t, int32_t);
IMPORT(fd_allocate) int32_t x_fd_allocate(int32_t, int64_t, int64_t);
IMPORT(fd_close) int32_t x_fd_close(int32_t);
IMPORT(fd_datasync) int32_t x_fd_datasync(int32_t);
IMPORT(fd_fdstat_get) int32_t x_fd_fdstat_get(int32_t, int32_t);
IMPORT(fd_fdstat_set_flags) int32_t x_fd_fdstat_set_flags(int32_t, int32_t);
IMPORT(fd_fdstat_set_rights) int32_t x_fd_fdstat_set_rights(int32_t, int64_t, int64_t);
IMPORT(fd_filestat_get) int32_t x_fd_filestat_get(int32_t, int32_t);
IMPORT(fd_filestat_set_size) int32_t x_fd_filestat_set_size(int32_t, int64_t);
IMPORT(fd_filestat_set_times) int32_t x_fd_filestat_set_times(int32_t, int64_t, int64_t, int32_t);
IMPORT(fd_pread) int32_t x_fd_pread(int32_t, int32_t, int32_t, int64_t, int32_t);
IMPORT(fd_prestat_dir_name) int32_t x_fd_prestat_dir_name(int32_t, int32_t, int32_t);
IMPORT(fd_prestat_get) int32_t x_fd_prestat_get(int32_t, int32_t);
IMPORT(fd_pwrite) int32_t x_fd_pwrite(int32_t, int32_t, int32_t, int64_t, int32_t);
IMPORT(fd_read) int32_t x_fd_read(int32_t, int32_t, int32_t, int32_t);
IMPORT(fd_readdir) int32_t x_fd_readdir(int32_t, int32_t, int32_t, int64_t, int32_t);
IMPORT(fd_renumber) int32_t x_fd_renumber(int32_t, int32_t);
IMPORT(fd_seek) int32_t x_fd_seek(int32_t, int64_t, int32_t, int32_t);
IMPORT(fd_sync) int32_t x_fd_sync(int32_t);
IMPORT(fd_tell) int32_t x_fd_tell(int32_t, int32_t);
IMPORT(fd_write) int32_t x_fd_write(int32_t, int32_t, int32_t, int32_t);
IMPORT(path_create_directory) int32_t x_path_create_directory(int32_t, int32_t, int32_t);
IMPORT(path_filestat_get) int32_t x_path_filestat_get(int32_t, int32_t, int32_t, int32_t, int32_t);
IMPORT(path_filestat_set_times) int32_t x_path_filestat_set_times(int32_t, int32_t, int32_t, int32_t, int64_t, int64_t, int32_t);
IMPORT(path_link) int32_t x_path_link(int32_t, int32_t, int32_t, int32_t, int32_t, int32_t, int32_t);
IMPORT(path_open) int32_t x_path_open(int32_t, int32_t, int32_t, int32_t, int32_t, int64_t, int64_t, int32_t, int32_t);
IMPORT(path_readlink) int32_t x_path_readlink(int32_t, int32_t, int32_t, int32_t, int32_t, int32_t);
IMPORT(path_remove_directory) int32_t x_path_remove_directory(int32_t, int32_t, int32_t);
IMPORT(path_rename) int32_t x_path_rename(int32_t, int32_t, int32_t, int32_t, int32_t, int32_t);
IMPORT(path_symlink) int32_t x_path_symlink(int32_t, int32_t, int32_t, int32_t, int32_t);
IMPORT(path_unlink_file) int32_t x_path_unlink_file(int32_t, int32_t, int32_t);
IMPORT(poll_oneoff) int32_t x_poll_oneoff(int32_t, int32_t, int32_t, int32_t);
IMPORT(proc_raise) int32_t x_proc_raise(int32_t);
IMPORT(random_get) int32_t x_random_get(int32_t, int32_t);
IMPORT(sched_yield) int32_t x_sched_yield(void);
IMPORT(sock_accept) int32_t x_sock_accept(int32_t, int32_t, int32_t);
IMPORT(sock_recv) int32_t x_sock_recv(int32_t, int32_t, int32_t, int32_t, int32_t, int32_t);
IMPORT(sock_send) int32_t x_sock_send(int32_t, int32_t, int32_t, int32_t, int32_t);
IMPORT(sock_shutdown) int32_t x_sock_shutdown(int32_t, int32_t);

#define ARENA 0x10000
#define SLOTS 0x3000
#define SCRATCH 0x8000
#define NOFD 1000

static uint8_t arena[ARENA] __attribute__((aligned(16)));
static char script[4 << 20];
static uint64_t mem_end;

static uint64_t number(const char **p) {
    uint64_t v = 0;
    while (**p >= '0' && **p <= '9') v = v * 10 + (uint64_t)(*(*p)++ - '0');
    return v;
}

static void skip(const char **p) {
    while (**p == ' ') (*p)++;
}

/* One argument: a pointer relative to the arena or the end, a slot's descriptor, a number. */
static uint64_t arg(const char **p) {
    skip(p);
    char kind = **p;
    if (kind == 'a') { (*p)++; return (uint64_t)(uintptr_t)arena + number(p); }
    if (kind == 'e') { (*p)++; return mem_end - number(p); }
    if (kind == 'f') {
        (*p)++;
        uint64_t s = number(p);
        uint32_t fd;
        memcpy(&fd, arena + SLOTS + 4 * s, 4);
        return fd < 3 ? NOFD : fd;
    }
    return number(p);
}

static void store(uint64_t at, const uint8_t *data, uint64_t n) {
    for (uint64_t i = 0; i < n && at + i < mem_end; i++) *(uint8_t *)(uintptr_t)(at + i) = data[i];
}

static int hexval(char c) {
    return c >= 'a' ? c - 'a' + 10 : c - '0';
}

static int32_t dispatch(const char *name, const uint64_t *a, int want, int *nargs) {
    if (!strcmp(name, "args_get")) { *nargs = 2; return want == 2 ? x_args_get((int32_t)a[0], (int32_t)a[1]) : -1; }
    if (!strcmp(name, "args_sizes_get")) { *nargs = 2; return want == 2 ? x_args_sizes_get((int32_t)a[0], (int32_t)a[1]) : -1; }
    if (!strcmp(name, "clock_res_get")) { *nargs = 2; return want == 2 ? x_clock_res_get((int32_t)a[0], (int32_t)a[1]) : -1; }
    if (!strcmp(name, "clock_time_get")) { *nargs = 3; return want == 3 ? x_clock_time_get((int32_t)a[0], (int64_t)a[1], (int32_t)a[2]) : -1; }
    if (!strcmp(name, "environ_get")) { *nargs = 2; return want == 2 ? x_environ_get((int32_t)a[0], (int32_t)a[1]) : -1; }
    if (!strcmp(name, "environ_sizes_get")) { *nargs = 2; return want == 2 ? x_environ_sizes_get((int32_t)a[0], (int32_t)a[1]) : -1; }
    if (!strcmp(name, "fd_advise")) { *nargs = 4; return want == 4 ? x_fd_advise((int32_t)a[0], (int64_t)a[1], (int64_t)a[2], (int32_t)a[3]) : -1; }
    if (!strcmp(name, "fd_allocate")) { *nargs = 3; return want == 3 ? x_fd_allocate((int32_t)a[0], (int64_t)a[1], (int64_t)a[2]) : -1; }
    if (!strcmp(name, "fd_close")) { *nargs = 1; return want == 1 ? x_fd_close((int32_t)a[0]) : -1; }
    if (!strcmp(name, "fd_datasync")) { *nargs = 1; return want == 1 ? x_fd_datasync((int32_t)a[0]) : -1; }
    if (!strcmp(name, "fd_fdstat_get")) { *nargs = 2; return want == 2 ? x_fd_fdstat_get((int32_t)a[0], (int32_t)a[1]) : -1; }
    if (!strcmp(name, "fd_fdstat_set_flags")) { *nargs = 2; return want == 2 ? x_fd_fdstat_set_flags((int32_t)a[0], (int32_t)a[1]) : -1; }
    if (!strcmp(name, "fd_fdstat_set_rights")) { *nargs = 3; return want == 3 ? x_fd_fdstat_set_rights((int32_t)a[0], (int64_t)a[1], (int64_t)a[2]) : -1; }
    if (!strcmp(name, "fd_filestat_get")) { *nargs = 2; return want == 2 ? x_fd_filestat_get((int32_t)a[0], (int32_t)a[1]) : -1; }
    if (!strcmp(name, "fd_filestat_set_size")) { *nargs = 2; return want == 2 ? x_fd_filestat_set_size((int32_t)a[0], (int64_t)a[1]) : -1; }
    if (!strcmp(name, "fd_filestat_set_times")) { *nargs = 4; return want == 4 ? x_fd_filestat_set_times((int32_t)a[0], (int64_t)a[1], (int64_t)a[2], (int32_t)a[3]) : -1; }
    if (!strcmp(name, "fd_pread")) { *nargs = 5; return want == 5 ? x_fd_pread((int32_t)a[0], (int32_t)a[1], (int32_t)a[2], (int64_t)a[3], (int32_t)a[4]) : -1; }
    if (!strcmp(name, "fd_prestat_dir_name")) { *nargs = 3; return want == 3 ? x_fd_prestat_dir_name((int32_t)a[0], (int32_t)a[1], (int32_t)a[2]) : -1; }
    if (!strcmp(name, "fd_prestat_get")) { *nargs = 2; return want == 2 ? x_fd_prestat_get((int32_t)a[0], (int32_t)a[1]) : -1; }
    if (!strcmp(name, "fd_pwrite")) { *nargs = 5; return want == 5 ? x_fd_pwrite((int32_t)a[0], (int32_t)a[1], (int32_t)a[2], (int64_t)a[3], (int32_t)a[4]) : -1; }
    if (!strcmp(name, "fd_read")) { *nargs = 4; return want == 4 ? x_fd_read((int32_t)a[0], (int32_t)a[1], (int32_t)a[2], (int32_t)a[3]) : -1; }
    if (!strcmp(name, "fd_readdir")) { *nargs = 5; return want == 5 ? x_fd_readdir((int32_t)a[0], (int32_t)a[1], (int32_t)a[2], (int64_t)a[3], (int32_t)a[4]) : -1; }
    if (!strcmp(name, "fd_renumber")) { *nargs = 2; return want == 2 ? x_fd_renumber((int32_t)a[0], (int32_t)a[1]) : -1; }
    if (!strcmp(name, "fd_seek")) { *nargs = 4; return want == 4 ? x_fd_seek((int32_t)a[0], (int64_t)a[1], (int32_t)a[2], (int32_t)a[3]) : -1; }
    if (!strcmp(name, "fd_sync")) { *nargs = 1; return want == 1 ? x_fd_sync((int32_t)a[0]) : -1; }
    if (!strcmp(name, "fd_tell")) { *nargs = 2; return want == 2 ? x_fd_tell((int32_t)a[0], (int32_t)a[1]) : -1; }
    if (!strcmp(name, "fd_write")) { *nargs = 4; return want == 4 ? x_fd_write((int32_t)a[0], (int32_t)a[1], (int32_t)a[2], (int32_t)a[3]) : -1; }
    if (!strcmp(name, "path_create_directory")) { *nargs = 3; return want == 3 ? x_path_create_directory((int32_t)a[0], (int32_t)a[1], (int32_t)a[2]) : -1; }
    if (!strcmp(name, "path_filestat_get")) { *nargs = 5; return want == 5 ? x_path_filestat_get((int32_t)a[0], (int32_t)a[1], (int32_t)a[2], (int32_t)a[3], (int32_t)a[4]) : -1; }
    if (!strcmp(name, "path_filestat_set_times")) { *nargs = 7; return want == 7 ? x_path_filestat_set_times((int32_t)a[0], (int32_t)a[1], (int32_t)a[2], (int32_t)a[3], (int64_t)a[4], (int64_t)a[5], (int32_t)a[6]) : -1; }
    if (!strcmp(name, "path_link")) { *nargs = 7; return want == 7 ? x_path_link((int32_t)a[0], (int32_t)a[1], (int32_t)a[2], (int32_t)a[3], (int32_t)a[4], (int32_t)a[5], (int32_t)a[6]) : -1; }
    if (!strcmp(name, "path_open")) { *nargs = 9; return want == 9 ? x_path_open((int32_t)a[0], (int32_t)a[1], (int32_t)a[2], (int32_t)a[3], (int32_t)a[4], (int64_t)a[5], (int64_t)a[6], (int32_t)a[7], (int32_t)a[8]) : -1; }
    if (!strcmp(name, "path_readlink")) { *nargs = 6; return want == 6 ? x_path_readlink((int32_t)a[0], (int32_t)a[1], (int32_t)a[2], (int32_t)a[3], (int32_t)a[4], (int32_t)a[5]) : -1; }
    if (!strcmp(name, "path_remove_directory")) { *nargs = 3; return want == 3 ? x_path_remove_directory((int32_t)a[0], (int32_t)a[1], (int32_t)a[2]) : -1; }
    if (!strcmp(name, "path_rename")) { *nargs = 6; return want == 6 ? x_path_rename((int32_t)a[0], (int32_t)a[1], (int32_t)a[2], (int32_t)a[3], (int32_t)a[4], (int32_t)a[5]) : -1; }
    if (!strcmp(name, "path_symlink")) { *nargs = 5; return want == 5 ? x_path_symlink((int32_t)a[0], (int32_t)a[1], (int32_t)a[2], (int32_t)a[3], (int32_t)a[4]) : -1; }
    if (!strcmp(name, "path_unlink_file")) { *nargs = 3; return want == 3 ? x_path_unlink_file((int32_t)a[0], (int32_t)a[1], (int32_t)a[2]) : -1; }
    if (!strcmp(name, "poll_oneoff")) { *nargs = 4; return want == 4 ? x_poll_oneoff((int32_t)a[0], (int32_t)a[1], (int32_t)a[2], (int32_t)a[3]) : -1; }
    if (!strcmp(name, "proc_raise")) { *nargs = 1; return want == 1 ? x_proc_raise((int32_t)a[0]) : -1; }
    if (!strcmp(name, "random_get")) { *nargs = 2; return want == 2 ? x_random_get((int32_t)a[0], (int32_t)a[1]) : -1; }
    if (!strcmp(name, "sched_yield")) { *nargs = 0; return want == 0 ? x_sched_yield() : -1; }
    if (!strcmp(name, "sock_accept")) { *nargs = 3; return want == 3 ? x_sock_accept((int32_t)a[0], (int32_t)a[1], (int32_t)a[2]) : -1; }
    if (!strcmp(name, "sock_recv")) { *nargs = 6; return want == 6 ? x_sock_recv((int32_t)a[0], (int32_t)a[1], (int32_t)a[2], (int32_t)a[3], (int32_t)a[4], (int32_t)a[5]) : -1; }
    if (!strcmp(name, "sock_send")) { *nargs = 5; return want == 5 ? x_sock_send((int32_t)a[0], (int32_t)a[1], (int32_t)a[2], (int32_t)a[3], (int32_t)a[4]) : -1; }
    if (!strcmp(name, "sock_shutdown")) { *nargs = 2; return want == 2 ? x_sock_shutdown((int32_t)a[0], (int32_t)a[1]) : -1; }
    return -2;
}

static void answer(int32_t r) {
    char out[16];
    int n = 0;
    if (r < 0) { out[n++] = '-'; r = -r; }
    char rev[12];
    int k = 0;
    do { rev[k++] = (char)('0' + r % 10); r /= 10; } while (r);
    while (k) out[n++] = rev[--k];
    out[n++] = '\n';
    write(1, out, (size_t)n);
}

static uint8_t bytes[8192];

int main(void) {
    size_t len = 0;
    for (;;) {
        ssize_t n = read(0, script + len, sizeof script - 1 - len);
        if (n <= 0) break;
        len += (size_t)n;
    }
    script[len] = 0;
    __builtin_wasm_memory_grow(0, 1);
    mem_end = (uint64_t)__builtin_wasm_memory_size(0) * 65536;
    const char *p = script;
    while (*p) {
        char op = *p++;
        if (op == 'w') {
            uint64_t at = arg(&p);
            skip(&p);
            uint64_t n = 0;
            if (*p == '-') p++;
            while ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')) {
                bytes[n++] = (uint8_t)(hexval(p[0]) * 16 + hexval(p[1]));
                p += 2;
            }
            store(at, bytes, n);
        } else if (op == 'v') {
            uint64_t at = arg(&p);
            skip(&p);
            uint64_t count = number(&p);
            for (uint64_t i = 0; i < count; i++) {
                uint32_t pair[2];
                pair[0] = (uint32_t)arg(&p);
                skip(&p);
                pair[1] = (uint32_t)number(&p);
                store(at + 8 * i, (const uint8_t *)pair, 8);
            }
        } else if (op == 'c') {
            skip(&p);
            char name[32];
            int k = 0;
            while (*p && *p != ' ' && *p != '\n' && k < 31) name[k++] = *p++;
            name[k] = 0;
            uint64_t a[10];
            int want = 0;
            skip(&p);
            while (*p && *p != '\n' && want < 10) { a[want++] = arg(&p); skip(&p); }
            int nargs = 0;
            answer(dispatch(name, a, want, &nargs));
            memset(arena + SCRATCH, 0, ARENA - SCRATCH);
            memset((void *)(uintptr_t)(mem_end - 65536), 0, 65536);
        }
        while (*p && *p != '\n') p++;
        if (*p) p++;
    }
    return 0;
}
