"""path_* calls and path resolution on the sans-I/O core over the memory backend."""

from __future__ import annotations

import pytest

from wasifs.abi import RIGHTS_ALL, Errno, Filetype, Fstflags, Lookupflags, Oflags, Rights
from wasifs.backends.memory import MemoryFileSystem
from wasifs.vfs import Preopen
from wasifs.wasi import WasiCore

from .conftest import MEM_SIZE, Guest

FOLLOW = int(Lookupflags.SYMLINK_FOLLOW)


def mkdir(g: Guest, path: str, fd: int = 3) -> int:
    p, n = g.path(path)
    return g.sys.path_create_directory(fd, p, n)


def symlink(g: Guest, target: str, path: str) -> int:
    t, tn = g.path(target)
    p, n = g.path(path)
    return g.sys.path_symlink(t, tn, 3, p, n)


def stat(g: Guest, path: str, follow: bool = True) -> tuple[int, tuple[int, ...] | None]:
    p, n = g.path(path)
    out = g.alloc(64)
    err = g.sys.path_filestat_get(3, FOLLOW if follow else 0, p, n, out)
    return err, (g.filestat(out) if err == 0 else None)


def rename(g: Guest, a: str, b: str) -> int:
    pa, na = g.path(a)
    pb, nb = g.path(b)
    return g.sys.path_rename(3, pa, na, 3, pb, nb)


def unlink(g: Guest, path: str) -> int:
    p, n = g.path(path)
    return g.sys.path_unlink_file(3, p, n)


def rmdir(g: Guest, path: str) -> int:
    p, n = g.path(path)
    return g.sys.path_remove_directory(3, p, n)


def test_create_directory_and_stat(guest: Guest) -> None:
    assert mkdir(guest, "d") == 0
    assert mkdir(guest, "d") == Errno.EXIST
    assert mkdir(guest, "d/e/f") == Errno.NOENT
    err, st = stat(guest, "d")
    assert err == 0 and st is not None and st[2] == Filetype.DIRECTORY
    assert stat(guest, "missing")[0] == Errno.NOENT


@pytest.mark.parametrize(
    ("path", "errno"),
    [
        ("..", Errno.PERM),
        ("../x", Errno.PERM),
        ("d/../../x", Errno.PERM),
        ("/etc/passwd", Errno.PERM),
        ("", Errno.NOENT),
        ("a\0b", Errno.INVAL),
        ("x" * 300, Errno.NAMETOOLONG),
    ],
    ids=["dotdot", "dotdot-file", "nested-dotdot", "absolute", "empty", "nul", "long-name"],
)
def test_path_escapes_and_bad_paths(guest: Guest, path: str, errno: int) -> None:
    mkdir(guest, "d")
    assert stat(guest, path)[0] == errno


def test_dotdot_inside_the_preopen_is_fine(guest: Guest) -> None:
    mkdir(guest, "d")
    guest.create("f", b"x")
    assert stat(guest, "d/../f")[0] == 0
    assert stat(guest, "./d/./..")[0] == 0


def test_dotdot_cannot_leave_a_subdirectory_descriptor(guest: Guest) -> None:
    """As in wasmtime (cap-std): a descriptor never reaches above itself."""
    mkdir(guest, "d")
    guest.create("f")
    err, dfd = guest.open("d", Oflags.DIRECTORY, rights=int(Rights.PATH_OPEN | Rights.FD_READDIR
                                                               | Rights.PATH_FILESTAT_GET))
    assert err == 0
    p, n = guest.path("../f")
    assert guest.sys.path_filestat_get(dfd, 0, p, n, guest.alloc(64)) == Errno.PERM


def test_invalid_utf8_path_is_eilseq(guest: Guest) -> None:
    assert stat(guest, b"\xff\xfe".decode("latin-1").encode("latin-1").decode("latin-1"))[0] \
        in (Errno.NOENT, Errno.ILSEQ)
    p, n = guest.put(b"bad\xffname")
    assert guest.sys.path_filestat_get(3, 0, p, n, guest.alloc(64)) == Errno.ILSEQ
    assert guest.sys.path_create_directory(3, p, n) == Errno.ILSEQ


def test_path_out_of_bounds_is_efault(guest: Guest) -> None:
    assert guest.sys.path_create_directory(3, MEM_SIZE - 2, 10) == Errno.FAULT
    assert guest.sys.path_create_directory(3, 0xFFFFFFF0, 0xFFFF) == Errno.FAULT


def test_path_calls_need_a_directory_fd(guest: Guest) -> None:
    guest.create("f")
    _, fd = guest.open("f")
    p, n = guest.path("x")
    assert guest.sys.path_create_directory(fd, p, n) == Errno.BADF
    assert guest.sys.path_create_directory(99, p, n) == Errno.BADF
    assert guest.open("x", dirfd=fd)[0] == Errno.NOTDIR


def test_symlinks_follow_nofollow_and_dangling(guest: Guest) -> None:
    guest.create("target", b"12345")
    assert symlink(guest, "target", "link") == 0
    assert symlink(guest, "nowhere", "dangling") == 0
    assert stat(guest, "link")[1][2] == Filetype.REGULAR_FILE  # type: ignore[index]
    assert stat(guest, "link", follow=False)[1][2] == Filetype.SYMBOLIC_LINK  # type: ignore[index]
    assert stat(guest, "dangling")[0] == Errno.NOENT
    assert stat(guest, "dangling", follow=False)[0] == 0
    p, n = guest.path("link")
    buf, used = guest.alloc(64), guest.alloc(4)
    assert guest.sys.path_readlink(3, p, n, buf, 64, used) == 0
    assert guest.bytes_at(buf, guest.u32(used)) == b"target"
    assert guest.sys.path_readlink(3, p, n, buf, 3, used) == 0 and guest.u32(used) == 3
    pt, nt = guest.path("target")
    assert guest.sys.path_readlink(3, pt, nt, buf, 64, used) == Errno.INVAL


def test_open_symlink_nofollow_is_eloop(guest: Guest) -> None:
    guest.create("target")
    symlink(guest, "target", "link")
    assert guest.open("link", follow=False)[0] == Errno.LOOP
    assert guest.open("link", follow=True)[0] == 0


def test_symlink_loop_is_eloop(guest: Guest) -> None:
    symlink(guest, "b", "a")
    symlink(guest, "a", "b")
    assert stat(guest, "a")[0] == Errno.LOOP
    assert stat(guest, "a/x")[0] == Errno.LOOP
    symlink(guest, "self/x", "self")
    assert stat(guest, "self")[0] == Errno.LOOP


@pytest.mark.parametrize("target", ["../outside", "d/../../x"], ids=["dotdot", "nested"])
def test_symlink_escapes_are_refused(guest: Guest, target: str) -> None:
    mkdir(guest, "d")
    assert symlink(guest, target, "esc") == 0  # creating is allowed; following is not
    assert stat(guest, "esc")[0] == Errno.PERM
    assert stat(guest, "esc/passwd")[0] == Errno.PERM
    assert guest.open("esc", Oflags.CREAT)[0] == Errno.PERM


def test_symlink_with_an_absolute_target_is_refused_at_creation(guest: Guest,
                                                               fs: MemoryFileSystem) -> None:
    # as wasmtime (cap-std) and the WASI test suite: EPERM, before the new path is looked at
    guest.create("f")
    assert symlink(guest, "/etc", "abs") == Errno.PERM
    assert symlink(guest, "/", "f") == Errno.PERM
    assert symlink(guest, "/x", "missing/abs") == Errno.PERM
    assert stat(guest, "abs")[0] == Errno.NOENT
    # one made by the host is read back as it is, and following it is an escape
    fs.symlink("/etc", fs.root(), "hostmade")
    t = guest.alloc(16)
    used = guest.alloc(4)
    p, n = guest.path("hostmade")
    assert guest.sys.path_readlink(3, p, n, t, 16, used) == 0
    assert guest.bytes_at(t, 4) == b"/etc"
    assert stat(guest, "hostmade")[0] == Errno.PERM


def test_symlink_to_directory_in_the_middle(guest: Guest) -> None:
    mkdir(guest, "real")
    guest.create("real/f", b"x")
    symlink(guest, "real", "alias")
    assert stat(guest, "alias/f")[0] == 0
    assert stat(guest, "alias/")[1][2] == Filetype.DIRECTORY  # type: ignore[index]


def test_trailing_slash_rules(guest: Guest) -> None:
    guest.create("f")
    mkdir(guest, "d")
    assert stat(guest, "f/")[0] == Errno.NOTDIR
    assert stat(guest, "d/")[0] == 0
    assert unlink(guest, "f/") == Errno.NOTDIR
    assert guest.open("new/", Oflags.CREAT)[0] == Errno.ISDIR
    assert mkdir(guest, "e/") == 0
    assert rmdir(guest, "e/") == 0


def test_open_flags(guest: Guest) -> None:
    assert guest.open("f")[0] == Errno.NOENT
    assert guest.open("f", Oflags.CREAT | Oflags.EXCL)[0] == 0
    assert guest.open("f", Oflags.CREAT | Oflags.EXCL)[0] == Errno.EXIST
    guest.create("g", b"content")
    err, fd = guest.open("g", Oflags.TRUNC)
    assert guest.read(fd, 10) == (0, b"")
    assert guest.open("g", Oflags.DIRECTORY)[0] == Errno.NOTDIR
    mkdir(guest, "d")
    assert guest.open("d", Oflags.TRUNC)[0] == Errno.ISDIR
    assert guest.open("d", rights=int(Rights.FD_WRITE))[0] == Errno.ISDIR
    err, dfd = guest.open("d", Oflags.DIRECTORY, rights=int(Rights.FD_READDIR | Rights.PATH_OPEN))
    assert err == 0
    assert guest.open(".", Oflags.DIRECTORY, rights=int(Rights.FD_READDIR))[0] == 0
    assert guest.open("x", 0x10)[0] == Errno.INVAL


def test_open_dir_then_create_inside(guest: Guest) -> None:
    mkdir(guest, "d")
    err, dfd = guest.open("d", Oflags.DIRECTORY, rights=RIGHTS_ALL & ~Rights.FD_WRITE)
    assert err == 0
    guest.create("inner", b"hi", dirfd=dfd)
    assert stat(guest, "d/inner")[1][4] == 2  # type: ignore[index]
    assert guest.readdir_names(dfd) == [".", "..", "inner"]


def test_rename_matrix(guest: Guest) -> None:
    guest.create("a", b"A")
    guest.create("b", b"B")
    assert rename(guest, "a", "b") == 0  # file over file replaces
    assert stat(guest, "a")[0] == Errno.NOENT
    mkdir(guest, "d1")
    mkdir(guest, "d2")
    assert rename(guest, "d1", "d2") == 0  # dir over empty dir
    mkdir(guest, "d3")
    guest.create("d2/keep")
    assert rename(guest, "d3", "d2") == Errno.NOTEMPTY
    assert rename(guest, "b", "d2") == Errno.ISDIR
    assert rename(guest, "d3", "b") == Errno.NOTDIR
    assert rename(guest, "b", "b") == 0
    assert rename(guest, "d2", "d2/sub") == Errno.INVAL
    assert rename(guest, "missing", "x") == Errno.NOENT
    assert rename(guest, "b", "../x") == Errno.PERM


def test_unlink_and_rmdir(guest: Guest) -> None:
    guest.create("f")
    mkdir(guest, "d")
    guest.create("d/g")
    assert unlink(guest, "d") == Errno.ISDIR
    assert rmdir(guest, "f") == Errno.NOTDIR
    assert rmdir(guest, "d") == Errno.NOTEMPTY
    assert unlink(guest, "d/g") == 0
    assert rmdir(guest, "d") == 0
    assert unlink(guest, "f") == 0
    assert unlink(guest, "f") == Errno.NOENT
    assert rmdir(guest, ".") == Errno.INVAL


def test_hard_links_share_data(guest: Guest) -> None:
    guest.create("a", b"shared")
    pa, na = guest.path("a")
    pb, nb = guest.path("b")
    assert guest.sys.path_link(3, 0, pa, na, 3, pb, nb) == 0
    assert stat(guest, "a")[1][3] == 2  # type: ignore[index]
    assert guest.sys.path_link(3, 0, pa, na, 3, pb, nb) == Errno.EXIST
    _, fd = guest.open("b")
    assert guest.read(fd, 10) == (0, b"shared")
    mkdir(guest, "d")
    pd, nd = guest.path("d")
    pe, ne = guest.path("e")
    assert guest.sys.path_link(3, 0, pd, nd, 3, pe, ne) == Errno.PERM


def test_path_filestat_set_times(guest: Guest) -> None:
    guest.create("f")
    p, n = guest.path("f")
    flags = Fstflags.ATIM | Fstflags.MTIM
    assert guest.sys.path_filestat_set_times(3, FOLLOW, p, n, 5, 6, flags) == 0
    assert stat(guest, "f")[1][5:7] == (5, 6)  # type: ignore[index]
    assert guest.sys.path_filestat_set_times(3, 0, p, n, 0, 0, 0xF0) == Errno.INVAL
    pm, nm = guest.path("missing")
    assert guest.sys.path_filestat_set_times(3, FOLLOW, pm, nm, 0, 0, flags) == Errno.NOENT


def test_symlink_nofollow_set_times_touches_the_link(guest: Guest) -> None:
    guest.create("t")
    symlink(guest, "t", "l")
    p, n = guest.path("l")
    assert guest.sys.path_filestat_set_times(3, 0, p, n, 7, 8, Fstflags.ATIM | Fstflags.MTIM) == 0
    assert stat(guest, "l", follow=False)[1][6] == 8  # type: ignore[index]
    assert stat(guest, "t")[1][6] != 8  # type: ignore[index]


def test_readonly_preopen_refuses_writes_with_erofs() -> None:
    fs = MemoryFileSystem()
    core = WasiCore(preopens=[Preopen("/ro", fs, readonly=True)])
    g = Guest(core)
    assert g.open("f", Oflags.CREAT)[0] == Errno.ROFS
    assert mkdir(g, "d") == Errno.ROFS


def test_sockets_are_never_open(guest: Guest) -> None:
    out = guest.alloc(8)
    assert guest.sys.sock_accept(99, 0, out) == Errno.BADF
    assert guest.sys.sock_accept(3, 0, out) == Errno.NOTSOCK
    assert guest.sys.sock_shutdown(1, 1) == Errno.NOTSOCK
    arr, cnt, _ = guest.iovecs(4)
    assert guest.sys.sock_recv(3, arr, cnt, 0, out, out + 4) == Errno.NOTSOCK
    assert guest.sys.sock_send(99, arr, cnt, 0, out) == Errno.BADF
