/* A read-only preopen at fd 3 (tree: f.txt = "data", d/x = "x", l -> f.txt): reads work,
 * every call that would change the tree fails and changes nothing. */
#include "common.h"

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    u32 fd, n;
    show_file("read f.txt", "f.txt");
    show_stat("stat d/x", 0, "d/x");
    check("open f.txt read-only", open_at(DIRFD, 0, "f.txt", 0, R_FD_READ, 0, 0, &fd));
    (void)w_fd_close(fd);
    check("open f.txt for writing", open_at(DIRFD, 0, "f.txt", 0, R_FD_READ | R_FD_WRITE, 0, 0,
                                            &fd));
    check("open f.txt O_TRUNC", open_at(DIRFD, 0, "f.txt", O_TRUNC_, R_FD_READ, 0, 0, &fd));
    check("create new.txt", open_at(DIRFD, 0, "new.txt", O_CREAT_, R_FD_READ | R_FD_WRITE, 0, 0,
                                    &fd));
    check("create existing f.txt O_CREAT", open_at(DIRFD, 0, "f.txt", O_CREAT_, R_FD_READ, 0, 0,
                                                   &fd));
    if (fd != 0xFFFFFFFFu) (void)w_fd_close(fd);
    check("mkdir", w_path_create_directory(DIRFD, P("nd"), 2));
    check("mkdir existing", w_path_create_directory(DIRFD, P("d"), 1));
    check("rmdir d (non-empty)", w_path_remove_directory(DIRFD, P("d"), 1));
    check("unlink f.txt", w_path_unlink_file(DIRFD, P("f.txt"), 5));
    check("unlink missing", w_path_unlink_file(DIRFD, P("missing"), 7));
    check("rename f.txt", w_path_rename(DIRFD, P("f.txt"), 5, DIRFD, P("g.txt"), 5));
    check("link f.txt", w_path_link(DIRFD, 0, P("f.txt"), 5, DIRFD, P("h.txt"), 5));
    check("symlink", w_path_symlink(P("f.txt"), 5, DIRFD, P("s"), 1));
    check("path set_times", w_path_filestat_set_times(DIRFD, 0, P("f.txt"), 5, 1, 1,
                                                      FST_ATIM | FST_MTIM));
    if (check("open f.txt read-only again", open_at(DIRFD, 0, "f.txt", 0, R_ALL & ~R_FD_WRITE, 0,
                                                    0, &fd)) == 0) {
        check("  fd_write", write_str(fd, "x", &n));
        check("  fd_filestat_set_size", w_fd_filestat_set_size(fd, 0));
        check("  fd_filestat_set_times", w_fd_filestat_set_times(fd, 1, 1, FST_ATIM | FST_MTIM));
        check("  fd_allocate", w_fd_allocate(fd, 0, 100));
        check("  fd_sync", w_fd_sync(fd));
        (void)w_fd_close(fd);
    }
    show_file("f.txt unchanged", "f.txt");
    return 0;
}
