/* The descriptor table: fd_prestat_get/dir_name, fd_renumber, fd_close, fd_fdstat_get and
 * fd_fdstat_set_rights (rights may only shrink), rights checks (NOTCAPABLE), wrong fd
 * types, and an unknown fd (BADF) for every call that takes one.
 * Preopens: fd 3 = "/sandbox" (hello.txt, a.txt = "AAAA", b.txt = "BBBB", sub/), fd 4 = "/other".
 */
#include "common.h"

static void show_fdstat(const char *label, u32 fd) {
    fdstat_t st;
    memset(&st, 0, sizeof st);
    i32 e = w_fd_fdstat_get(fd, P(&st));
    if (e) printf("%s: %s\n", label, en(e));
    else printf("%s: type=%s flags=%u\n", label, ftname(st.filetype), st.flags);
}

static void show_rights(const char *label, u32 fd) {
    fdstat_t st;
    memset(&st, 0, sizeof st);
    i32 e = w_fd_fdstat_get(fd, P(&st));
    if (e) printf("%s: %s\n", label, en(e));
    else printf("%s: read=%d write=%d seek=%d readdir=%d path_open=%d\n", label,
                (st.rights_base & R_FD_READ) != 0, (st.rights_base & R_FD_WRITE) != 0,
                (st.rights_base & R_FD_SEEK) != 0, (st.rights_base & R_FD_READDIR) != 0,
                (st.rights_base & R_PATH_OPEN) != 0);
}

static void show_prestat(const char *label, u32 fd) {
    uint8_t pre[8];
    memset(pre, 0xAA, sizeof pre);
    i32 e = w_fd_prestat_get(fd, P(pre));
    if (e) { printf("%s: %s\n", label, en(e)); return; }
    u32 len;
    memcpy(&len, pre + 4, 4);
    printf("%s: SUCCESS tag=%u name_len=%u\n", label, pre[0], len);
}

static void show_name(const char *label, u32 fd, u32 len) {
    char buf[64];
    memset(buf, '#', sizeof buf);
    i32 e = w_fd_prestat_dir_name(fd, P(buf), len);
    printf("%s: %s ", label, en(e));
    print_bytes(buf, 12);
    putchar('\n');
}

static void show_content(const char *label, u32 fd) {
    char buf[32];
    u32 n = 0;
    iov_t iov = {P(buf), sizeof buf};
    i32 e = w_fd_pread(fd, P(&iov), 1, 0, P(&n));
    printf("%s: %s ", label, en(e));
    print_bytes(buf, e ? 0 : n);
    putchar('\n');
}

static void prestats(void) {
    show_prestat("prestat 3", 3);
    show_name("prestat_dir_name 3 exact", 3, 8);
    show_name("prestat_dir_name 3 larger", 3, 20);
    show_name("prestat_dir_name 3 short", 3, 4);
    show_name("prestat_dir_name 3 zero", 3, 0);
    show_prestat("prestat 4", 4);
    show_name("prestat_dir_name 4", 4, 6);
    show_prestat("prestat 5 (none)", 5);
    show_name("prestat_dir_name 5", 5, 8);
    show_prestat("prestat 0 (stdin)", 0);
    show_prestat("prestat 1 (stdout)", 1);
    show_name("prestat_dir_name 1", 1, 8);
    u32 fd;
    check("open sub", open_at(DIRFD, 0, "sub", O_DIRECTORY_, R_DIR, R_ALL, 0, &fd));
    show_prestat("prestat of an opened dir", fd);
    show_name("prestat_dir_name of an opened dir", fd, 8);
    (void)w_fd_close(fd);
    show_fdstat("fdstat 3", 3);
    show_fdstat("fdstat 0", 0);
    show_fdstat("fdstat 1", 1);
    show_fdstat("fdstat 2", 2);
}

static void renumbers(void) {
    u32 a, b, c;
    check("open a.txt", open_rw("a.txt", 0, 0, &a));
    check("open b.txt", open_rw("b.txt", 0, 0, &b));
    printf("fds are distinct and above the preopens: %d\n", a != b && a > 4 && b > 4);
    show_content("  a before", a);
    check("renumber a -> b", w_fd_renumber(a, b));
    show_content("  b now reads", b);
    show_fdstat("  old a", a);
    check("renumber b -> b (itself)", w_fd_renumber(b, b));
    show_content("  b still reads", b);
    check("renumber b -> unopened 77", w_fd_renumber(b, 77));
    show_content("  b after failed renumber", b);
    check("renumber unopened 77 -> b", w_fd_renumber(77, b));
    check("renumber closed a -> b", w_fd_renumber(a, b));
    /* renumber onto stdin: what freopen(stdin) relies on */
    check("open hello.txt", open_rw("hello.txt", 0, 0, &c));
    check("renumber file -> 0 (stdin)", w_fd_renumber(c, 0));
    {
        char buf[32];
        u32 n = 0;
        i32 e = read_buf(0, buf, sizeof buf, &n);
        printf("  read fd 0: %s ", en(e));
        print_bytes(buf, e ? 0 : n);
        putchar('\n');
    }
    show_fdstat("  fdstat 0", 0);
    show_fdstat("  old fd", c);
    /* renumber a preopen elsewhere, then use it */
    check("renumber preopen 4 -> b", w_fd_renumber(4, b));
    show_prestat("  prestat at b", b);
    show_prestat("  prestat 4", 4);
    u32 d;
    check("  create via renumbered preopen",
          open_at(b, LOOKUP_FOLLOW, "made-in-other.txt", O_CREAT_, R_ALL, R_ALL, 0, &d));
    (void)w_fd_close(d);
    check("close preopen 3", w_fd_close(DIRFD));
    check("close preopen 3 again", w_fd_close(DIRFD));
    show_prestat("  prestat 3 after close", 3);
    check("  open via closed preopen", open_at(3, LOOKUP_FOLLOW, "a.txt", 0, R_ALL, R_ALL, 0, &d));
    check("  open via renumbered preopen after closing 3",
          open_at(b, LOOKUP_FOLLOW, "made-in-other.txt", 0, R_ALL, R_ALL, 0, &d));
}

static void rights(void) {
    u32 fd, n;
    char buf[8];
    /* read-only file: writes must fail */
    check("open a.txt read-only rights", open_at(DIRFD, LOOKUP_FOLLOW, "a.txt", 0,
                                                 R_FD_READ | R_FD_SEEK | R_FD_TELL, 0, 0, &fd));
    show_rights("  rights", fd);
    show_content("  pread", fd);
    check("  fd_write", write_str(fd, "x", &n));
    iov_t iov = {P("x"), 1};
    check("  fd_pwrite", w_fd_pwrite(fd, P(&iov), 1, 0, P(&n)));
    check("  fd_filestat_set_size", w_fd_filestat_set_size(fd, 0));
    check("  fd_allocate", w_fd_allocate(fd, 0, 1));
    check("  fd_datasync", w_fd_datasync(fd));
    check("  fd_sync", w_fd_sync(fd));
    check("  fd_fdstat_set_flags APPEND", w_fd_fdstat_set_flags(fd, FD_APPEND));
    check("  fd_filestat_set_times", w_fd_filestat_set_times(fd, 0, 0, FST_MTIM_NOW));
    check("  close", w_fd_close(fd));
    /* write-only file: reads must fail */
    check("open a.txt write-only rights", open_at(DIRFD, LOOKUP_FOLLOW, "a.txt", 0, R_FD_WRITE, 0,
                                                  0, &fd));
    show_rights("  rights", fd);
    check("  fd_read", read_buf(fd, buf, sizeof buf, &n));
    iov_t in = {P(buf), sizeof buf};
    check("  fd_pread", w_fd_pread(fd, P(&in), 1, 0, P(&n)));
    check("  fd_write", write_str(fd, "W", &n));
    check("  close", w_fd_close(fd));
    show_file("a.txt now", "a.txt");
    /* dropping rights with fd_fdstat_set_rights */
    check("open b.txt all rights", open_rw("b.txt", 0, 0, &fd));
    show_rights("  rights", fd);
    fdstat_t cur;
    (void)w_fd_fdstat_get(fd, P(&cur));
    check("  set_rights drop FD_WRITE", w_fd_fdstat_set_rights(fd, cur.rights_base & ~R_FD_WRITE,
                                                                cur.rights_inheriting));
    show_rights("  rights", fd);
    check("  fd_write after drop", write_str(fd, "x", &n));
    check("  set_rights add FD_WRITE back", w_fd_fdstat_set_rights(fd, cur.rights_base,
                                                                    cur.rights_inheriting));
    show_rights("  rights", fd);
    check("  fd_write after re-add", write_str(fd, "y", &n));
    check("  close", w_fd_close(fd));
    /* a directory opened without the rights to open files beneath it */
    u32 dir;
    check("open sub with FD_READDIR only", open_at(DIRFD, 0, "sub", O_DIRECTORY_, R_FD_READDIR, 0,
                                                   0, &dir));
    check("  path_open beneath it", open_at(dir, 0, "x", O_CREAT_, R_ALL, R_ALL, 0, &fd));
    check("  mkdir beneath it", w_path_create_directory(dir, P("d"), 1));
    check("  close", w_fd_close(dir));
    /* a directory opened with PATH_OPEN but inheriting only FD_READ */
    check("open sub inheriting FD_READ", open_at(DIRFD, 0, "sub", O_DIRECTORY_,
                                                 R_DIR, R_FD_READ, 0, &dir));
    check("  create a file beneath it", open_at(dir, 0, "y", O_CREAT_, R_FD_READ, 0, 0, &fd));
    show_rights("  rights of the file", fd);
    check("  write to it", write_str(fd, "y", &n));
    check("  open with FD_WRITE beneath it", open_at(dir, 0, "y", 0, R_FD_WRITE, 0, 0, &fd));
    check("  write to it", write_str(fd, "z", &n));
    check("  open with FD_WRITE and O_TRUNC beneath it",
          open_at(dir, 0, "keep.txt", O_TRUNC_, R_FD_WRITE | R_FD_READ, 0, 0, &fd));
    check("  close", w_fd_close(dir));
    show_file("sub/keep.txt now", "sub/keep.txt");
}

static void wrong_types(void) {
    u32 fd, n, x;
    check("open hello.txt", open_rw("hello.txt", 0, 0, &fd));
    check("path_open relative to a file", open_at(fd, 0, "x", 0, R_ALL, R_ALL, 0, &x));
    check("mkdir relative to a file", w_path_create_directory(fd, P("x"), 1));
    check("stat relative to a file", w_path_filestat_get(fd, 0, P("x"), 1, P(&x)));
    check("readdir on a file", w_fd_readdir(fd, P(&x), 4, 0, P(&n)));
    check("symlink relative to a file", w_path_symlink(P("a"), 1, fd, P("x"), 1));
    check("path_open relative to stdout", open_at(1, 0, "x", 0, R_ALL, R_ALL, 0, &x));
    check("readdir on stdout", w_fd_readdir(1, P(&x), 4, 0, P(&n)));
    check("fd_seek on stdout", w_fd_seek(1, 0, WH_CUR, P(&x)));
    check("fd_tell on stdout", w_fd_tell(1, P(&x)));
    check("fd_filestat_set_size on stdout", w_fd_filestat_set_size(1, 0));
    check("fd_allocate on stdout", w_fd_allocate(1, 0, 1));
    check("fd_advise on stdout", w_fd_advise(1, 0, 0, 0));
    (void)w_fd_close(fd);
}

static void unknown_fd(void) {
    const u32 B = 1234;
    u64 x = 0;
    u32 n = 0;
    char buf[64];
    iov_t iov = {P(buf), 4};
    check("BADF fd_advise", w_fd_advise(B, 0, 0, 0));
    check("BADF fd_allocate", w_fd_allocate(B, 0, 1));
    check("BADF fd_close", w_fd_close(B));
    check("BADF fd_datasync", w_fd_datasync(B));
    check("BADF fd_fdstat_get", w_fd_fdstat_get(B, P(buf)));
    check("BADF fd_fdstat_set_flags", w_fd_fdstat_set_flags(B, 0));
    check("BADF fd_fdstat_set_rights", w_fd_fdstat_set_rights(B, 0, 0));
    check("BADF fd_filestat_get", w_fd_filestat_get(B, P(buf)));
    check("BADF fd_filestat_set_size", w_fd_filestat_set_size(B, 0));
    check("BADF fd_filestat_set_times", w_fd_filestat_set_times(B, 0, 0, 0));
    check("BADF fd_pread", w_fd_pread(B, P(&iov), 1, 0, P(&n)));
    check("BADF fd_prestat_get", w_fd_prestat_get(B, P(buf)));
    check("BADF fd_prestat_dir_name", w_fd_prestat_dir_name(B, P(buf), 8));
    check("BADF fd_pwrite", w_fd_pwrite(B, P(&iov), 1, 0, P(&n)));
    check("BADF fd_read", w_fd_read(B, P(&iov), 1, P(&n)));
    check("BADF fd_readdir", w_fd_readdir(B, P(buf), 64, 0, P(&n)));
    check("BADF fd_renumber from", w_fd_renumber(B, 0));
    check("BADF fd_renumber to", w_fd_renumber(1, B));
    check("BADF fd_seek", w_fd_seek(B, 0, WH_SET, P(&x)));
    check("BADF fd_sync", w_fd_sync(B));
    check("BADF fd_tell", w_fd_tell(B, P(&x)));
    check("BADF fd_write", w_fd_write(B, P(&iov), 1, P(&n)));
    check("BADF path_create_directory", w_path_create_directory(B, P("x"), 1));
    check("BADF path_filestat_get", w_path_filestat_get(B, 0, P("x"), 1, P(buf)));
    check("BADF path_filestat_set_times", w_path_filestat_set_times(B, 0, P("x"), 1, 0, 0, 0));
    check("BADF path_link old", w_path_link(B, 0, P("x"), 1, 4, P("y"), 1));
    check("BADF path_link new", w_path_link(4, 0, P("x"), 1, B, P("y"), 1));
    check("BADF path_open", w_path_open(B, 0, P("x"), 1, 0, R_ALL, R_ALL, 0, P(&n)));
    check("BADF path_readlink", w_path_readlink(B, P("x"), 1, P(buf), 8, P(&n)));
    check("BADF path_remove_directory", w_path_remove_directory(B, P("x"), 1));
    check("BADF path_rename old", w_path_rename(B, P("x"), 1, 4, P("y"), 1));
    check("BADF path_rename new", w_path_rename(4, P("x"), 1, B, P("y"), 1));
    check("BADF path_symlink", w_path_symlink(P("x"), 1, B, P("y"), 1));
    check("BADF path_unlink_file", w_path_unlink_file(B, P("x"), 1));
    check("BADF sock_accept", w_sock_accept(B, 0, P(&n)));
    check("BADF sock_shutdown", w_sock_shutdown(B, 1));
    check("BADF fd 0xffffffff fd_close", w_fd_close(0xffffffffu));
    check("BADF fd 0x80000000 fd_write", w_fd_write(0x80000000u, P(&iov), 1, P(&n)));
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* argv[1]: "table" (default) or "rights" */
    if (argc > 1 && strcmp(argv[1], "rights") == 0) {
        rights();
        return 0;
    }
    prestats();
    unknown_fd();
    wrong_types();
    renumbers();
    return 0;
}
