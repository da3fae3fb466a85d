"""The conformance cases: which guest runs with which argv, environment, stdin and trees.

A tree maps a relative path to its initial content: a key ending in ``/`` is a directory
(value ``None``), ``bytes``/``str`` is a regular file, :class:`Link` a symlink. Parent
directories are created as needed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ("Link", "Tree", "Difference", "Case", "CASES", "case_by_name")


@dataclass(frozen=True)
class Link:
    """A symbolic link holding ``target`` verbatim."""

    target: str


Tree = Mapping[str, bytes | str | Link | None]


@dataclass(frozen=True)
class Difference:
    """A documented, deliberate deviation of wasifs from wasmtime in one case.

    ``section`` names a ``## section`` heading of ``conformance/DIFFERENCES.md`` (which
    quotes the spec text that justifies it).

    ``stdout`` holds (wasmtime line, wasifs line) pairs applied in order, each to the first
    matching line after the previous one; a wasifs line of ``None`` deletes the line. Or
    ``expect_stdout`` gives the whole stdout wasifs must print, for cases where wasmtime
    traps early. ``exit_code`` replaces the reference's exit code, ``reference_exit_code``
    is what wasmtime's must be (so that an entry goes stale loudly when wasmtime changes),
    ``files`` are (mount, path, entry or None) changes to the reference's file trees.
    ``runtimes``, when given, limits the difference to those wasifs runtimes.
    """

    section: str
    stdout: tuple[tuple[str, str | None], ...] = ()
    expect_stdout: str | None = None
    exit_code: int | str | None = None
    reference_exit_code: int | str | None = None
    files: tuple[tuple[str, str, tuple[object, ...] | None], ...] = ()
    runtimes: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Case:
    """One guest run.

    ``guest`` is a file name under ``conformance/guests`` (``.c`` or ``.wat``); ``wat``, when
    given, is inline WebAssembly text used instead (``guest`` is then only a label).
    ``mounts`` are the preopened directories in order (fd 3, 4, ...): guest path and the
    initial tree.
    """

    name: str
    guest: str
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    stdin: bytes = b""
    mounts: tuple[tuple[str, Tree], ...] = ()
    wat: str | None = None
    cflags: tuple[str, ...] = ()
    compare_stderr: bool = True
    differences: tuple[Difference, ...] = ()
    #: Guest paths (from ``mounts``) that are mounted read-only: wasmtime's
    #: ``preopen_dir(..., fs_mutable=False)``, wasifs's ``Mount(..., readonly=True)``.
    readonly: tuple[str, ...] = ()
    argv0: str = "guest.wasm"
    #: Runtimes on which the case is skipped entirely (with the reason), e.g. a case that
    #: needs host-specific behaviour.
    skip: Mapping[str, str] = field(default_factory=dict)
    #: Known, not yet fixed wasifs bugs: runtime (or "*" for all) -> reason. The pytest
    #: module marks those runs ``xfail(strict=True)``, so a fix shows up as an XPASS failure
    #: until the entry is removed.
    known_bug: Mapping[str, str] = field(default_factory=dict)

    def bug_for(self, runtime: str) -> str | None:
        """The known-bug reason for ``runtime``, if any."""
        return self.known_bug.get(runtime) or self.known_bug.get("*")


def _sandbox(tree: Tree) -> tuple[tuple[str, Tree], ...]:
    return (("/sandbox", tree),)


HELLO: Tree = {"hello.txt": b"Hello, world!\n"}
#: Length of the symlink chain in the "paths" case (more than Linux's 40 hops).
CHAIN = 45

# --- the syscall-exact WAT guest (exact.wat) -----------------------------------------------
# exact.wat runs the checks whose indices it gets as arguments. wasmtime returns an errno for
# the EXACT_ERRNO checks and traps on all the others, so those run in separate cases where
# wasifs's documented answer is expected instead.

EXACT_ENV = (("KEY", "a value long enough"),)
EXACT_MOUNTS = _sandbox({"f.txt": b"hello", "lnk": Link("f.txt"), "d/": None})
EXACT_ERRNO = (
    13,
    14,
    17,
    19,
    25,
    36,
    38,
    *range(41, 53),
    54,
    57,
    61,
    62,
    66,
    69,
    72,
    74,
    75,
    79,
    86,
    105,
    106,
    107,
    109,
    110,
)
#: pointers/lengths out of bounds: wasmtime traps, wasifs returns EFAULT
EXACT_FAULT = (
    *range(0, 13),
    15,
    16,
    18,
    *range(20, 25),
    *range(26, 36),
    37,
    39,
    40,
    53,
    55,
    56,
    58,
    59,
    60,
    63,
    64,
    65,
    67,
    68,
    70,
    71,
    73,
    76,
    77,
    78,
)
#: misaligned pointers: wasmtime traps, wasifs accepts them
EXACT_MISALIGNED = tuple(range(80, 86))
#: invalid enum values / unknown flag bits: wasmtime traps, wasifs returns EINVAL (or the
#: errno of an earlier check: EXACT_BADENUM_ERRNO)
EXACT_BADENUM = (*range(87, 95), 97, 98, 99, 101, 103, 104, 111)
EXACT_BADENUM_ERRNO = {98: 76, 103: 57, 104: 57, 111: 58}
#: unknown lookupflags / rights / subclockflags bits: EINVAL in wasmtime (a trap, or the errno
#: for poll_oneoff), wasifs must say EINVAL as it does for the other flag types
EXACT_UNKNOWN_BITS = (95, 96, 100, 102, 108)


def exact_labels() -> dict[int, str]:
    """Check index -> label, read from the data segments of exact.wat (label k lives at
    4096 + 64 k)."""
    text = (Path(__file__).parent / "guests" / "exact.wat").read_text()
    out = {}
    for addr, label in re.findall(r'\(data \(i32\.const (\d+)\) "([^"]*)\\00"\)', text):
        if int(addr) >= 4096:
            out[(int(addr) - 4096) // 64] = label
    return out


def _exact_expect(
    indices: tuple[int, ...], errno: int, overrides: Mapping[int, int] | None = None
) -> str:
    labels = exact_labels()
    over = overrides or {}
    return "".join(f"{labels[k]}: {over.get(k, errno)}\n" for k in indices)


EXIT_WAT = """(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "\\10\\00\\00\\00\\0c\\00\\00\\00\\30\\00\\00\\00\\0b\\00\\00\\00")
  (data (i32.const 16) "before exit\\n")
  (data (i32.const 48) "after exit\\n")
  (func (export "_start")
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 64)))
    (call $proc_exit (i32.const CODE))
    (drop (call $fd_write (i32.const 1) (i32.const 8) (i32.const 1) (i32.const 64)))))"""

RETURN_WAT = """(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "\\10\\00\\00\\00\\05\\00\\00\\00")
  (data (i32.const 16) "done\\n")
  (func (export "_start")
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 64)))))"""

UNREACHABLE_WAT = """(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "\\10\\00\\00\\00\\0a\\00\\00\\00")
  (data (i32.const 16) "then trap\\n")
  (func (export "_start")
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 64)))
    unreachable))"""

NESTED_MOUNTS: tuple[tuple[str, Tree], ...] = (
    ("/", {"top.txt": "at the top", "data/": None, "data/x": "the top's own data/x"}),
    ("/data", {"x": "data x", "sub/y": "data sub/y"}),
    ("/data/cache", {"c": "cache c"}),
)

CASES: tuple[Case, ...] = (
    Case(
        "env",
        "env.c",
        args=("first", "", "h\u00e9llo w\u00f6rld", "\u65e5\u672c"),
        env=(
            ("GREETING", "hi there"),
            ("EMPTY", ""),
            ("UNICODE", "\u00e9t\u00e9"),
            ("EQ", "a=b=c"),
        ),
        mounts=_sandbox(HELLO),
        differences=(
            Difference(
                "cputime-clocks",
                stdout=(
                    (
                        "clock_res_get process_cputime: BADF",
                        "clock_res_get process_cputime: SUCCESS\n  resolution in (0, 1s]: 1",
                    ),
                    (
                        "clock_time_get process_cputime: BADF",
                        "clock_time_get process_cputime: SUCCESS\n  nonzero=1 non-decreasing=1",
                    ),
                    (
                        "clock_res_get thread_cputime: BADF",
                        "clock_res_get thread_cputime: SUCCESS\n  resolution in (0, 1s]: 1",
                    ),
                    (
                        "clock_time_get thread_cputime: BADF",
                        "clock_time_get thread_cputime: SUCCESS\n  nonzero=1 non-decreasing=1",
                    ),
                ),
            ),
        ),
    ),
    Case(
        "fileio",
        "fileio.c",
        mounts=_sandbox({**HELLO, "sub/": None, "trunc.txt": b"to be truncated"}),
        differences=(
            Difference(
                "fd-advise-range",
                stdout=(
                    ("  fd_advise offset 2^63: SUCCESS", "  fd_advise offset 2^63: INVAL"),
                    (
                        "  fd_advise range overflows u64: SUCCESS",
                        "  fd_advise range overflows u64: INVAL",
                    ),
                ),
            ),
            Difference(
                "whole-iovecs",
                stdout=(
                    ('  n=3 a="012" c=""', '  n=8 a="012" c="34567"'),
                    ("  tell: 3", "  tell: 8"),
                    ('  n=3 a="345"', '  n=2 a="89"'),
                    ("  n=7", "  n=12"),
                    ("  n=7", "  n=12"),
                    ('  n=3 a="gat"', '  n=8 a="gat"'),
                ),
            ),
            Difference(
                "fd-allocate",
                stdout=(
                    ("  fd_allocate 0+100: NOTSUP", "  fd_allocate 0+100: SUCCESS"),
                    (
                        "  size after allocate: type=file size=3 nlink=1",
                        "  size after allocate: type=file size=100 nlink=1",
                    ),
                    ("  fd_allocate 10+5 (inside): NOTSUP", "  fd_allocate 10+5 (inside): SUCCESS"),
                    ("  size: type=file size=3 nlink=1", "  size: type=file size=100 nlink=1"),
                    ("  fd_allocate overflow: NOTSUP", "  fd_allocate overflow: FBIG"),
                    ("  fd_allocate offset 2^63: NOTSUP", "  fd_allocate offset 2^63: FBIG"),
                    ("  size: type=file size=3 nlink=1", "  size: type=file size=100 nlink=1"),
                ),
            ),
        ),
    ),
    Case(
        "open-sync-flags",
        "fileio.c",
        args=("sync-flags",),
        mounts=_sandbox(HELLO),
    ),
    Case(
        "allocate-zero",
        "fileio.c",
        args=("allocate-zero",),
        mounts=_sandbox({}),
        differences=(
            Difference(
                "fd-allocate",
                stdout=(
                    ("  fd_allocate 0+0: NOTSUP", "  fd_allocate 0+0: INVAL"),
                    ("  fd_allocate 5+0: NOTSUP", "  fd_allocate 5+0: INVAL"),
                ),
            ),
        ),
    ),
    Case(
        "dirs",
        "dirs.c",
        mounts=_sandbox(
            {
                "file": b"data",
                "d/f1": b"one",
                "d/sub/f2": b"two",
                "empty/": None,
                "r/fa": b"A",
                "r/fb": b"B",
                "r/da/x": b"x",
                "r/db/": None,
                "r/dc/y": b"y",
                "r/fc": b"C",
                "l/a": b"hello",
                "rd/only.txt": b"1",
                **{f"big/f{i:02d}": b"" for i in range(40)},
            }
        ),
        differences=(
            Difference(
                "rmdir-trailing-slash",
                stdout=(("rmdir trailing slash: INVAL", "rmdir trailing slash: SUCCESS"),),
            ),
            Difference("rename-dot", stdout=(("rename ., : BUSY", "rename ., : INVAL"),)),
            Difference(
                "link-follow",
                stdout=(
                    (
                        "link symlink, SYMLINK_FOLLOW: INVAL",
                        "link symlink, SYMLINK_FOLLOW: SUCCESS",
                    ),
                    (
                        "  stat l/s_follow nofollow: NOENT",
                        "  stat l/s_follow nofollow: type=file size=5 nlink=3",
                    ),
                ),
            ),
        ),
    ),
    Case(
        "cross-mount",
        "dirs.c",
        args=("cross",),
        mounts=(
            ("/sandbox", {"f": b"F", "g": b"G", "d/x": b"x", "nested/inner.txt": b"outer tree"}),
            ("/other", {"o": b"O"}),
            ("/sandbox/nested", {"inner.txt": b"inner mount"}),
        ),
    ),
    Case("readdir-bytes", "readdir.wat", mounts=_sandbox({"file.txt": b"12345"})),
    # yosys's stdout redirection around ABC: no output file may land on fd 1 or 2
    Case("redirect", "redirect.c", mounts=_sandbox({})),
    Case(
        "create-trailing-slash",
        "dirs.c",
        args=("slash",),
        mounts=_sandbox({"l/a": b"hello", "d/x": b"x"}),
    ),
    Case(
        "paths",
        "paths.c",
        mounts=_sandbox(
            {
                "x.txt": b"X",
                "a/b/c.txt": b"C",
                "a/b/up": Link("../.."),
                "a/b/esc": Link("../../.."),
                "abs": Link("/etc/passwd"),
                "esc": Link("../outside"),
                "dotdot": Link(".."),
                "loop1": Link("loop2"),
                "loop2": Link("loop1"),
                "self": Link("self"),
                "dl": Link("missing"),
                "dirlink": Link("a"),
                "filelink": Link("x.txt"),
                "deep": Link("a/b/up/a/b/c.txt"),
                **{f"chain{i}": Link(f"chain{i + 1}") for i in range(1, CHAIN)},
                f"chain{CHAIN}": Link("x.txt"),
            }
        ),
        differences=(
            Difference(
                "link-follow",
                stdout=(
                    (
                        "link from abs symlink followed: INVAL",
                        "link from abs symlink followed: PERM",
                    ),
                ),
            ),
            Difference(
                "readlink-absolute-target",
                stdout=(("readlink abs: PERM", 'readlink abs: SUCCESS "/etc/passwd"'),),
            ),
            Difference(
                "nofollow-directory",
                stdout=(
                    (
                        "symlink to dir, nofollow, O_DIRECTORY [dirlink]: LOOP",
                        "symlink to dir, nofollow, O_DIRECTORY [dirlink]: NOTDIR",
                    ),
                ),
            ),
        ),
    ),
    Case(
        "fds",
        "fds.c",
        stdin=b"from stdin\n",
        mounts=(
            (
                "/sandbox",
                {**HELLO, "a.txt": b"AAAA", "b.txt": b"BBBB", "sub/keep.txt": b"must survive"},
            ),
            ("/other", {"o.txt": b"other"}),
        ),
    ),
    Case(
        "rights",
        "fds.c",
        args=("rights",),
        mounts=(
            (
                "/sandbox",
                {**HELLO, "a.txt": b"AAAA", "b.txt": b"BBBB", "sub/keep.txt": b"must survive"},
            ),
        ),
        differences=(
            Difference(
                "rights",
                stdout=(
                    (
                        "  rights: read=1 write=0 seek=1 readdir=1 path_open=1",
                        "  rights: read=1 write=0 seek=1 readdir=0 path_open=0",
                    ),
                    ("  fd_write: BADF", "  fd_write: NOTCAPABLE"),
                    ("  fd_pwrite: BADF", "  fd_pwrite: NOTCAPABLE"),
                    ("  fd_filestat_set_size: INVAL", "  fd_filestat_set_size: NOTCAPABLE"),
                    ("  fd_allocate: NOTSUP", "  fd_allocate: NOTCAPABLE"),
                    ("  fd_datasync: SUCCESS", "  fd_datasync: NOTCAPABLE"),
                    ("  fd_sync: SUCCESS", "  fd_sync: NOTCAPABLE"),
                    (
                        "  fd_fdstat_set_flags APPEND: SUCCESS",
                        "  fd_fdstat_set_flags APPEND: NOTCAPABLE",
                    ),
                    ("  fd_filestat_set_times: SUCCESS", "  fd_filestat_set_times: NOTCAPABLE"),
                    (
                        "  rights: read=0 write=1 seek=1 readdir=0 path_open=1",
                        "  rights: read=0 write=1 seek=0 readdir=0 path_open=0",
                    ),
                    ("  fd_read: BADF", "  fd_read: NOTCAPABLE"),
                    ("  fd_pread: BADF", "  fd_pread: NOTCAPABLE"),
                    (
                        "  rights: read=1 write=1 seek=1 readdir=1 path_open=1",
                        "  rights: read=1 write=1 seek=1 readdir=0 path_open=0",
                    ),
                    ("  set_rights drop FD_WRITE: NOTSUP", "  set_rights drop FD_WRITE: SUCCESS"),
                    (
                        "  rights: read=1 write=1 seek=1 readdir=1 path_open=1",
                        "  rights: read=1 write=0 seek=1 readdir=0 path_open=0",
                    ),
                    ("  fd_write after drop: SUCCESS", "  fd_write after drop: NOTCAPABLE"),
                    (
                        "  set_rights add FD_WRITE back: NOTSUP",
                        "  set_rights add FD_WRITE back: NOTCAPABLE",
                    ),
                    (
                        "  rights: read=1 write=1 seek=1 readdir=1 path_open=1",
                        "  rights: read=1 write=0 seek=1 readdir=0 path_open=0",
                    ),
                    ("  fd_write after re-add: SUCCESS", "  fd_write after re-add: NOTCAPABLE"),
                    ("  path_open beneath it: SUCCESS", "  path_open beneath it: NOTCAPABLE"),
                    ("  mkdir beneath it: SUCCESS", "  mkdir beneath it: NOTCAPABLE"),
                    (
                        "  rights of the file: read=1 write=1 seek=1 readdir=1 path_open=1",
                        "  rights of the file: read=1 write=0 seek=0 readdir=0 path_open=0",
                    ),
                    ("  write to it: SUCCESS", "  write to it: NOTCAPABLE"),
                    ("  write to it: SUCCESS", "  write to it: NOTCAPABLE"),
                ),
                files=(
                    ("/sandbox", "b.txt", ("b.txt", "file", 1, b"BBBB")),
                    ("/sandbox", "sub/d", None),
                    ("/sandbox", "sub/x", None),
                    ("/sandbox", "sub/y", ("sub/y", "file", 1, b"")),
                ),
            ),
        ),
    ),
    Case(
        "readonly",
        "readonly.c",
        mounts=(("/ro", {"f.txt": b"data", "d/x": b"x", "l": Link("f.txt")}),),
        readonly=("/ro",),
        differences=(
            Difference(
                "readonly-mounts",
                stdout=(
                    *(
                        (f"{label}: PERM", f"{label}: ROFS")
                        for label in (
                            "open f.txt for writing",
                            "open f.txt O_TRUNC",
                            "create new.txt",
                        )
                    ),
                    (
                        "create existing f.txt O_CREAT: PERM",
                        "create existing f.txt O_CREAT: SUCCESS",
                    ),
                    *(
                        (f"{label}: PERM", f"{label}: ROFS")
                        for label in (
                            "mkdir",
                            "mkdir existing",
                            "rmdir d (non-empty)",
                            "unlink f.txt",
                            "unlink missing",
                            "rename f.txt",
                            "link f.txt",
                            "symlink",
                            "path set_times",
                        )
                    ),
                ),
            ),
            Difference("rights", stdout=(("  fd_write: BADF", "  fd_write: NOTCAPABLE"),)),
            Difference(
                "readonly-mounts",
                stdout=(
                    ("  fd_filestat_set_size: PERM", "  fd_filestat_set_size: ROFS"),
                    ("  fd_filestat_set_times: PERM", "  fd_filestat_set_times: ROFS"),
                ),
            ),
            Difference("fd-allocate", stdout=(("  fd_allocate: NOTSUP", "  fd_allocate: BADF"),)),
        ),
    ),
    Case(
        "poll",
        "poll.c",
        stdin=b"stdin-bytes\n",
        mounts=_sandbox({"data.txt": b"0123456789"}),
    ),
    Case("poll-empty-stdin", "poll.c", mounts=_sandbox({"data.txt": b"0123456789"})),
    Case(
        "stdio-raw",
        "stdio.c",
        args=("raw",),
        stdin=b"line one\nline two\n\x00binary\xff\xfe tail without newline",
    ),
    Case(
        "stdio-libc",
        "stdio.c",
        args=("libc",),
        stdin=b"alpha\nbeta\n\ngamma delta\nno newline at end",
    ),
    Case("stdio-big", "stdio.c", args=("lines",), stdin=bytes(range(256)) * 1000),
    Case("stdio-empty", "stdio.c", args=("lines",)),
    Case("stdio-badmode", "stdio.c", args=("bogus",)),
    Case(
        "libc",
        "libc.c",
        args=("/sandbox",),
        mounts=_sandbox({"input.txt": b"some input\n", "keep/": None}),
    ),
    Case(
        "libc-root",
        "libc.c",
        args=("/",),
        mounts=(("/", {"input.txt": b"at the root\n"}),),
    ),
    Case(
        "libc-dot",
        "libc.c",
        args=(".",),
        mounts=((".", {"input.txt": b"at the cwd\n"}),),
    ),
    # Nested mounts: "/", "/data" and "/data/cache", each its own filesystem (the outer ones
    # have a "data" directory of their own that the inner mount hides from absolute paths),
    # in nesting order and the other way round.
    *(
        Case(
            name,
            "nested.c",
            mounts=tuple(order(NESTED_MOUNTS)),
        )
        for name, order in (("nested-mounts", list), ("nested-mounts-reversed", reversed))
    ),
    Case(
        "nested-mounts-readonly",
        "nested.c",
        mounts=NESTED_MOUNTS,
        readonly=("/data",),  # the middle one: "/data/cache" inside it stays writable
        differences=(
            Difference(
                "readonly-mounts",
                stdout=(
                    ("write /data/made: Operation not permitted",
                     "write /data/made: Read-only file system"),
                    ("mkdir /data/cache2: -1 Operation not permitted",
                     "mkdir /data/cache2: -1 Read-only file system"),
                    ("rename cache -> data: -1 Operation not permitted",
                     "rename cache -> data: -1 Read-only file system"),
                    ("rename data -> top: -1 Operation not permitted",
                     "rename data -> top: -1 Read-only file system"),
                    ("rmdir /data: -1 Operation not permitted", "rmdir /data: -1 Invalid argument"),
                ),
            ),
        ),
    ),
    Case(
        "exact",
        "exact.wat",
        args=tuple(str(k) for k in EXACT_ERRNO),
        env=EXACT_ENV,
        mounts=EXACT_MOUNTS,
        differences=(
            Difference(
                "efault-for-declared-regions",
                stdout=(
                    ("random_get len 0 past the end: 0", "random_get len 0 past the end: 21"),
                    ("fd_write iovs_len huge: 48", "fd_write iovs_len huge: 28"),
                    ("fd_write iovec len 0xffffffff: 48", "fd_write iovec len 0xffffffff: 21"),
                    ("fd_pread iovec buf OOB: 0", "fd_pread iovec buf OOB: 21"),
                    ("fd_readdir buf_len 0xffffffff: 0", "fd_readdir buf_len 0xffffffff: 21"),
                    ("path_open path_len 0xffffffff: 48", "path_open path_len 0xffffffff: 21"),
                    ("poll_oneoff nsubscriptions huge: 48", "poll_oneoff nsubscriptions huge: 21"),
                ),
            ),
        ),
    ),
    Case(
        "exact-fault",
        "exact.wat",
        args=tuple(str(k) for k in EXACT_FAULT),
        env=EXACT_ENV,
        mounts=EXACT_MOUNTS,
        differences=(
            Difference(
                "efault-instead-of-trap",
                expect_stdout=_exact_expect(EXACT_FAULT, 21),
                exit_code=0,
                reference_exit_code="trap",
            ),
        ),
    ),
    Case(
        "exact-badenum",
        "exact.wat",
        args=tuple(str(k) for k in EXACT_BADENUM),
        env=EXACT_ENV,
        mounts=EXACT_MOUNTS,
        differences=(
            Difference(
                "einval-instead-of-trap",
                expect_stdout=_exact_expect(EXACT_BADENUM, 28, EXACT_BADENUM_ERRNO),
                exit_code=0,
                reference_exit_code="trap",
            ),
        ),
    ),
    Case(
        "exact-unknown-bits",
        "exact.wat",
        args=tuple(str(k) for k in EXACT_UNKNOWN_BITS),
        env=EXACT_ENV,
        mounts=EXACT_MOUNTS,
        differences=(
            Difference(
                "einval-instead-of-trap",
                expect_stdout=_exact_expect(EXACT_UNKNOWN_BITS, 28),
                exit_code=0,
                reference_exit_code="trap",
            ),
        ),
    ),
    Case(
        "exact-misaligned",
        "exact.wat",
        args=tuple(str(k) for k in EXACT_MISALIGNED),
        env=EXACT_ENV,
        mounts=EXACT_MOUNTS,
        differences=(
            Difference(
                "unaligned-pointers",
                expect_stdout=_exact_expect(EXACT_MISALIGNED, 0),
                exit_code=0,
                reference_exit_code="trap",
            ),
        ),
    ),
    Case(
        "args-bytes",
        "args.wat",
        args=("one", "", "twö", "three four"),
        env=(("A", "1"), ("EMPTY", ""), ("LONG", "x" * 300)),
    ),
    Case("args-none", "args.wat", argv0=""),
    *(  # 126 and above: a trap, as in wasmtime
        Case(f"proc_exit-{code}", "proc_exit (inline)", wat=EXIT_WAT.replace("CODE", str(code)))
        for code in (0, 1, 42, 125, 126, 255, 256, 0xFFFFFFFF)
    ),
    Case("return-from-start", "return (inline)", wat=RETURN_WAT),
    Case("unreachable", "unreachable (inline)", wat=UNREACHABLE_WAT),
)


def case_by_name(name: str) -> Case:
    for c in CASES:
        if c.name == name:
            return c
    raise KeyError(name)
