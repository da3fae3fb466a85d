"""Syscall fuzzing helpers: sequences of raw preview1 calls, a model of the tree they make,
and the places they run (the sans-I/O core directly, or the ``tests/guests/syscalls.c`` guest).

A sequence is a list of :data:`Op` ``(name, args, writes)``: before the call, ``writes``
(``(pointer, bytes)`` pairs) are stored in guest memory; then ``name`` is called with
``args``. An argument is a plain unsigned integer, or a pointer relative to the *arena* (a
64 KiB region the guest reserves: ``A(off)``) or to the end of guest memory (``E(k)``: ``k``
bytes before it), or ``F(slot)``: the descriptor number stored in fd slot ``slot`` of the
arena at the time of the call (where a ``path_open`` put it). So one sequence runs the same
way on a ``bytearray`` given to :class:`~wasifs.wasi.WasiCore` and in a real guest, whose
arena sits wherever its linker put it.

Arena layout: fd slots at :data:`SLOTS`, path strings at :data:`P1`/:data:`P2`, iovec arrays
at :data:`IOV`, data to write at :data:`DATA`, and everything a call writes back at
:data:`SCRATCH` (cleared after each call, so that what differs between hosts — times, inode
numbers, random bytes — never feeds a later call). Only ``path_open`` writes to a slot.

Two generators: :func:`ops` (``wild=True``: pointers at and past the end of memory, lengths
of 2^32-1, unknown flag bits, extreme integers; for wasifs alone) and ``wild=False`` (valid,
aligned pointers, defined flags, one iovec: what wasmtime answers without trapping, to
compare errnos with it).
"""

from __future__ import annotations

import hashlib
import os
import stat as _stat
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path as HostPath
from typing import Any, NamedTuple

from hypothesis import strategies as st

from tests.test_extreme_args import EDGES
from wasifs.abi import I64, RIGHTS_ALL, SYSCALL_PARAMS, SYSCALLS, Errno, Rights
from wasifs.errors import WasiError

# ---------------------------------------------------------------------- layout
ARENA = 0x10000
SLOTS = 0x3000
NSLOTS = 8
P1 = 0x4000
P2 = 0x5400
IOV = 0x6800
DATA = 0x7000
SCRATCH = 0x8000
SCRATCH_SIZE = ARENA - SCRATCH
#: The core's memory: the arena, then one more page (the guest keeps its last page free).
CORE_MEM = ARENA + 0x10000
#: A descriptor no one has: what a slot holds before a path_open fills it, and what the
#: guest uses for any descriptor argument below 3 (its stdin is the script, its stdout the
#: answers: never touched by a script).
NOFD = 1000


class A(NamedTuple):
    """A pointer ``off`` bytes into the arena."""

    off: int


class E(NamedTuple):
    """A pointer ``k`` bytes before the end of guest memory."""

    k: int


class F(NamedTuple):
    """The descriptor stored in fd slot ``slot``."""

    slot: int


class Iovecs(NamedTuple):
    """An iovec array to store: (buffer pointer, length) pairs (the pointers relocated
    where the arena is)."""

    entries: tuple[tuple[A | E | int, int], ...]


Arg = int | A | E | F
Ptr = A | E | int
Payload = bytes | Iovecs
Op = tuple[str, tuple[Arg, ...], tuple[tuple[Ptr, Payload], ...]]

FD_PARAMS = ("fd", "old_fd", "new_fd", "to")
_U32 = (1 << 32) - 1
_U64 = (1 << 64) - 1
#: Pointers that are never inside memory (the guest has far less than 2 GiB).
HUGE = (1 << 31, _U32, _U32 - 3, 0xFFFFFFF8, 1 << 30)

# ---------------------------------------------------------------------- the initial tree
#: name -> bytes (a file), None (a directory) or ("link", target). ``out*`` leave the root,
#: ``abs`` is absolute (only the host can make one); "hidden" is hidden by the sandbox.
INITIAL: dict[str, Any] = {
    "f": b"0123456789", "d": None, "d/e": b"e", "l": ("link", "f"), "ld": ("link", "d"),
    "dangling": ("link", "nope"), "up": ("link", ".."), "out": ("link", "../outside/secret"),
    "outd": ("link", "../outside"), "abs": ("link", "/etc"), "d/up2": ("link", "../.."),
}
#: Paths the generator names (bytes: some are not UTF-8, some hold a NUL).
PATHS: tuple[bytes, ...] = (
    b"f", b"d", b"d/e", b"l", b"ld", b"ld/e", b"dangling", b"new", b"d/new", b"x", b"y",
    b"x/y", b"new/", b"d/", b"ld/", b"l/", b"f/", b".", b"..", b"", b"/", b"/f", b"./f",
    b"d/../f", b"d/..", b"../x", b"d/../../x", b"up", b"up/f", b"out", b"outd/secret",
    b"abs", b"abs/passwd", b"d/up2", b"d/up2/x", b"d//e", b"d/./e", b"ld/../f",
    b"a" * 255, b"a" * 256, b"d/" + b"b" * 255, b"x/" * 2047 + b"x", b"x/" * 2048,
    b"f\x00x", b"\xff\xfe", b"caf\xc3\xa9", b"d/e/", b"x/.", b"new/..",
)
#: Symlink targets (path_symlink's first path).
TARGETS: tuple[bytes, ...] = (
    b"f", b"d", b"nope", b"..", b"../x", b".", b"d/e", b"ld", b"x", b"/etc", b"/", b"",
    b"a\x00b", b"../outside/secret", b"d/..", b"x/" * 2048,
)
#: The plain names, more often chosen (so that calls meet each other's results).
SIMPLE = frozenset((b"f", b"d", b"d/e", b"l", b"ld", b"new", b"d/new", b"x", b"y", b"x/y",
                    b"dangling", b"ld/e", b"..", b"d/../f", b"up"))
DATA_BYTES = (b"", b"x", b"hello", b"0123456789abcdef", b"\x00" * 8, b"z" * 300)


# ---------------------------------------------------------------------- generators
def _weighted(*choices: tuple[int, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    pool = [s for w, s in choices for _ in range(w)]
    return st.sampled_from(pool).flatmap(lambda s: s)


def _edges(mask: int, low: int = 0) -> st.SearchStrategy[int]:
    return st.sampled_from(sorted({v & mask for v in EDGES if (v & mask) >= low}))


def _fd(wild: bool, directory: bool) -> st.SearchStrategy[Arg]:
    """A descriptor: for a path call mostly the preopen (slot 0) or "d" (slot 1), else
    mostly the files of slots 2 and 3 and what later path_opens put in slots 4-7."""
    if directory:
        slots = _weighted((8, st.just(F(0))), (3, st.just(F(1))),
                          (2, st.builds(F, st.integers(2, NSLOTS - 1))))
    else:
        slots = _weighted((3, st.builds(F, st.integers(2, 3))),
                          (3, st.builds(F, st.integers(4, NSLOTS - 1))),
                          (1, st.builds(F, st.integers(0, 1))))
    if not wild:
        return _weighted((12, slots), (1, st.integers(3, 9)))
    return _weighted((12, slots), (1, st.integers(3, 9)), (1, _edges(_U32, 3)))


def _out(wild: bool, size: int = 8) -> st.SearchStrategy[Ptr]:
    """A pointer the call writes ``size`` bytes to."""
    ok = st.builds(A, st.integers(0, 15).map(lambda k: SCRATCH + 8 * k))
    if not wild:
        return ok
    return _weighted((6, ok), (1, st.builds(A, st.integers(0, 7).map(lambda k: SCRATCH + 1 + 8 * k))),
                     (1, st.builds(E, st.integers(0, size + 1))),
                     (1, st.builds(E, st.just(size))), (1, st.sampled_from(HUGE)))


@st.composite
def _path(draw: st.DrawFn, base: int, wild: bool, choices: Sequence[bytes] = PATHS
          ) -> tuple[Ptr, int, tuple[Ptr, bytes]]:
    simple = [c for c in choices if c in SIMPLE]
    text = draw(_weighted((3, st.sampled_from(simple)), (1, st.sampled_from(choices))))
    n = len(text)
    ptr: Ptr = A(base)
    length = n
    if wild:
        ptr = draw(_weighted((8, st.just(A(base))), (1, st.just(A(base + 3))),
                             (1, st.just(E(n))),
                             (1, st.integers(1, max(1, n)).map(lambda k: E(max(0, k - 1)))),
                             (1, st.sampled_from(HUGE))))
        length = draw(_weighted((8, st.just(n)), (1, st.integers(1, 3).map(lambda k: n + k)),
                                (1, st.just(max(0, n - 1))), (1, st.just(0)),
                                (1, st.sampled_from((4096, _U32, 1 << 31)))))
    return ptr, length, (ptr, text)


@st.composite
def _iovecs(draw: st.DrawFn, read: bool, wild: bool
            ) -> tuple[Ptr, int, list[tuple[Ptr, Payload]]]:
    count = draw(st.integers(1, 3)) if wild else 1
    vecs: list[tuple[int, int]] = []
    writes: list[tuple[Ptr, Payload]] = []
    at = DATA
    for _ in range(count):
        if read:
            n = draw(st.sampled_from((0, 1, 4, 16, 64, 300)))
            vecs.append((SCRATCH + 0x1000 + 512 * len(vecs), n))
        else:
            data = draw(st.sampled_from(DATA_BYTES))
            writes.append((A(at), data))
            vecs.append((at, len(data)))
            at += 512
    entries: list[tuple[Ptr, int]] = [(A(b), n) for b, n in vecs]
    if wild and draw(st.integers(0, 4)) == 0:  # one iovec out of memory (or too long)
        i = draw(st.integers(0, count - 1))
        entries[i] = draw(st.sampled_from(((_U32 - 4, 8), (0x7FFFFFF0, 64), (E(4), 8),
                                           (A(DATA), _U32), (A(SCRATCH), 1 << 31))))
    raw = Iovecs(tuple(entries))
    ptr: Ptr = A(IOV)
    length = count
    if wild:
        ptr = draw(_weighted((8, st.just(A(IOV))), (1, st.just(A(IOV + 1))),
                             (1, st.just(E(4))), (1, st.sampled_from(HUGE))))
        length = draw(_weighted((8, st.just(count)), (1, st.just(0)),
                                (1, st.sampled_from((1025, _U32, 1 << 28)))))
    writes.append((ptr, raw))
    return ptr, length, writes


_RIGHTS_TAME = (int(RIGHTS_ALL), int(RIGHTS_ALL) & ~int(Rights.FD_WRITE),
                int(RIGHTS_ALL) & ~int(Rights.FD_READ))


def _scalar(name: str, param: str, ty: str, wild: bool) -> st.SearchStrategy[int]:
    mask = _U64 if ty == I64 else _U32
    tame: st.SearchStrategy[int]
    if param == "old_flags" and not wild:
        tame = st.just(0)  # link-follow: wasmtime refuses to follow (DIFFERENCES.md)
    elif param in ("dirflags", "old_flags") or (param == "flags" and name.startswith("path_")):
        tame = st.sampled_from((0, 1))
    elif param == "oflags":
        tame = st.integers(0, 15)
    elif param in ("fs_rights_base", "fs_rights_inheriting"):
        tame = st.sampled_from(_RIGHTS_TAME)
    elif param in ("fdflags", "flags"):
        tame = st.sampled_from((0, 0, 1, 4, 5))
    elif param == "whence":
        tame = st.integers(0, 2)
    elif param == "advice":
        tame = st.integers(0, 5)
    elif param == "fst_flags":
        tame = st.sampled_from((0, 1, 2, 4, 8, 5, 10))
    elif param in ("atim", "mtim"):
        tame = st.sampled_from((0, 10**9, 1_700_000_000 * 10**9))
    elif param == "id":
        tame = st.integers(0, 1)
    elif param == "offset" and name == "fd_seek":
        tame = st.sampled_from((0, 1, 5, 20, _U64, _U64 - 4))
    elif param in ("offset", "len", "size", "precision"):
        tame = st.integers(0, 24)
    elif param == "cookie":
        tame = st.integers(0, 4)
    else:
        tame = st.integers(0, 3)
    if not wild:
        return tame
    return _weighted((6, tame), (1, _edges(mask)), (1, st.integers(0, mask)))


#: Syscalls and their weights in a sequence (proc_exit ends the run: never).
WEIGHTS: dict[str, int] = {name: 1 for name in SYSCALLS if name != "proc_exit"}
WEIGHTS.update(path_open=10, path_create_directory=4, path_unlink_file=4,
               path_remove_directory=3, path_rename=6, path_symlink=4, path_link=4,
               path_filestat_get=3, path_readlink=2, fd_write=4, fd_pwrite=3, fd_read=3,
               fd_pread=2, fd_seek=2, fd_close=3, fd_renumber=2, fd_readdir=3,
               fd_filestat_set_size=2, fd_filestat_get=2, fd_fdstat_set_flags=1)
#: Left out through a real guest: poll_oneoff could block on a clock the script wrote.
GUEST_SKIP = frozenset({"proc_exit", "poll_oneoff"})
#: Left out against wasmtime too: documented differences that change the tree or a
#: descriptor's state (fd-allocate, rights, cputime-clocks) or that it answers by trapping.
TAME_SKIP = GUEST_SKIP | {"fd_allocate", "fd_fdstat_set_rights", "proc_raise", "fd_advise"}


@st.composite
def op(draw: st.DrawFn, wild: bool, names: Sequence[str]) -> Op:
    name = draw(st.sampled_from(names))
    if wild:  # half the calls of a wild sequence are tame: they build the tree
        wild = draw(st.booleans())
    params = SYSCALL_PARAMS[name]
    types = SYSCALLS[name][0]
    args: dict[str, Arg] = {}
    writes: list[tuple[Ptr, Payload]] = []
    for param, ty in zip(params, types, strict=True):
        if param in args:
            continue
        if param in FD_PARAMS:
            args[param] = draw(_fd(wild, name.startswith("path_")))
        elif param.endswith("path_ptr") and name != "fd_prestat_dir_name":
            stem = param[: -len("_ptr")]
            second = param.startswith("new") or (name == "path_symlink" and param == "new_path_ptr")
            choices = TARGETS if name == "path_symlink" and param == "old_path_ptr" else PATHS
            ptr, length, w = draw(_path(P2 if second else P1, wild, choices))
            args[param], args[stem + "_len"] = ptr, length
            writes.append(w)
        elif param == "iovs_ptr":
            read = name in ("fd_read", "fd_pread")
            ptr, length, ws = draw(_iovecs(read, wild))
            args["iovs_ptr"], args["iovs_len"] = ptr, length
            writes += ws
        elif param == "fd_ptr":
            args[param] = draw(_weighted((6, st.builds(lambda k: A(SLOTS + 4 * k),
                                                       st.integers(4, NSLOTS - 1))),
                                         (1, st.builds(lambda k: A(SLOTS + 4 * k),
                                                       st.integers(0, 3))),
                                         (1, _out(wild, 4))))
        elif param in ("buf_ptr", "path_ptr", "si_data_ptr", "ri_data_ptr") and ty != I64:
            length_param = {"buf_ptr": "buf_len", "path_ptr": "path_len",
                            "si_data_ptr": "si_data_len", "ri_data_ptr": "ri_data_len"}[param]
            if length_param not in params:  # fd_filestat_get, fd_prestat_get: a struct
                args[param] = draw(_out(wild, 64))
                continue
            n = draw(st.sampled_from((0, 1, 8, 64, 300, 1024)))
            ptr2: Ptr = A(SCRATCH + 0x2000)
            if wild:
                ptr2 = draw(_weighted((6, st.just(ptr2)), (1, st.just(E(n))),
                                      (1, st.just(E(max(0, n - 1)))),
                                      (1, st.sampled_from(HUGE))))
                n = draw(_weighted((6, st.just(n)), (1, st.sampled_from((_U32, 1 << 31, 4096))
                                                     )))
            args[param], args[length_param] = ptr2, n
        elif param == "in_ptr":  # poll_oneoff: subscriptions zeroed (clock 0, timeout 0)
            k = draw(st.integers(0, 3))
            args["in_ptr"], args["nsubscriptions"] = A(SCRATCH + 0x3000), k
            writes.append((A(SCRATCH + 0x3000), bytes(48 * 4)))
        elif param.endswith("_ptr"):
            args[param] = draw(_out(wild, 64))
        else:
            args[param] = draw(_scalar(name, param, ty, wild))
    if name == "fd_allocate":
        offset, length = args["offset"], args["len"]
        assert isinstance(offset, int) and isinstance(length, int)
        if 1 << 21 < offset + length < 1 << 63:  # on a host directory: real disk space
            args["offset"], args["len"] = offset & 0xFFFFF, length & 0xFFFFF
    if name == "path_open" and not wild and isinstance(args["oflags"], int) and \
            args["oflags"] & 9 and args["fs_rights_base"] == _RIGHTS_TAME[1]:
        # wasmtime opens an O_CREAT or O_TRUNC file for writing whatever the rights say
        # (wasifs: a read-only descriptor, as POSIX): not generated against it
        args["fs_rights_base"] = _RIGHTS_TAME[0]
    return name, tuple(args[p] for p in params), tuple(writes)


def _prelude() -> list[Op]:
    """Slot 0 holds the preopen (3); slot 1 the directory "d", slot 2 the file "f" (read and
    write), slot 3 "f" again with O_APPEND; the others no descriptor."""
    slots = struct.pack(f"<{NSLOTS}I", 3, *([NOFD] * (NSLOTS - 1)))
    opens: list[Op] = []
    for slot, (path, oflags, fdflags) in enumerate(((b"d", 2, 0), (b"f", 0, 0), (b"f", 0, 1)),
                                                   1):
        rights = int(RIGHTS_ALL) & ~0x40 if oflags else int(RIGHTS_ALL)
        opens.append(("path_open", (F(0), 0, A(P1), len(path), oflags, rights,
                                    int(RIGHTS_ALL), fdflags, A(SLOTS + 4 * slot)),
                      ((A(P1), path),)))
    first = opens[0]
    return [(first[0], first[1], ((A(SLOTS), slots), *first[2])), *opens[1:]]


PRELUDE: list[Op] = _prelude()


def ops(wild: bool, *, names: Iterable[str] | None = None, max_size: int = 40
        ) -> st.SearchStrategy[list[Op]]:
    """Sequences of calls (after :data:`PRELUDE`) of the syscalls ``names`` (default: all
    but proc_exit), weighted by :data:`WEIGHTS`."""
    chosen = sorted(WEIGHTS if names is None else names)
    pool = [n for n in chosen for _ in range(WEIGHTS.get(n, 1))]
    return st.lists(op(wild, pool), min_size=min(8, max_size), max_size=max_size).map(
        lambda body: [*PRELUDE, *body])


# ---------------------------------------------------------------------- the script format
def _arg_text(a: Arg) -> str:
    if isinstance(a, A):
        return f"a{a.off}"
    if isinstance(a, E):
        return f"e{a.k}"
    if isinstance(a, F):
        return f"f{a.slot}"
    return str(a)


def script(sequence: Sequence[Op]) -> bytes:
    """The sequence in the guest's line format: ``w PTR HEX`` stores bytes, ``v PTR N
    BUF LEN ...`` an array of N iovecs, ``c NAME ARG...``
    calls (``aOFF``: arena pointer, ``eK``: end of memory less K, ``fS``: the descriptor in
    slot S, else a decimal integer). The guest prints one errno per call."""
    lines = []
    for name, args, writes in sequence:
        for ptr, data in writes:
            if isinstance(data, Iovecs):
                pairs = " ".join(f"{_arg_text(b)} {n}" for b, n in data.entries)
                lines.append(f"v {_arg_text(ptr)} {len(data.entries)} {pairs}")
            else:
                lines.append(f"w {_arg_text(ptr)} {data.hex() or '-'}")
        lines.append(" ".join(["c", name, *map(_arg_text, args)]))
    return ("\n".join(lines) + "\n").encode()


def render(sequence: Sequence[Op]) -> str:
    """A readable listing of a sequence, for assertion messages."""
    out = []
    for i, (name, args, writes) in enumerate(sequence):
        ws = " ".join(f"[{_arg_text(p)}]={d if isinstance(d, Iovecs) else d[:40]!r}"
                      for p, d in writes)
        out.append(f"{i:3} {name}({', '.join(map(_arg_text, args))}) {ws}")
    return "\n".join(out)


# ---------------------------------------------------------------------- the model
class MDir:
    def __init__(self, parent: MDir | None) -> None:
        self.parent = parent
        self.children: dict[str, Node] = {}


class MFile:
    pass


class MLink:
    def __init__(self, target: str) -> None:
        self.target = target


Node = MDir | MFile | MLink


class Escape(Exception):
    """The model cannot (or must not) resolve a path: why."""


@dataclass
class Found:
    dir: MDir
    name: str | None
    node: Node | None
    trailing: bool


class Model:
    """The namespace a sequence should leave: directories, files (by identity: hard links
    share one) and symlinks, changed only by the calls that succeed, as the preview1 rules
    (and wasmtime's) say they do; descriptors that name directories, by number."""

    def __init__(self, initial: dict[str, Any], links: bool = True) -> None:
        self.root = MDir(None)
        for path, value in initial.items():
            parent, _, name = path.rpartition("/")
            d = self._dir_at(parent)
            if value is None:
                d.children[name] = MDir(d)
            elif isinstance(value, tuple):
                if links:
                    d.children[name] = MLink(value[1])
            else:
                d.children[name] = MFile()
        self.fds: dict[int, Node] = {3: self.root}
        self.problems: list[str] = []

    def _dir_at(self, path: str) -> MDir:
        d = self.root
        for part in filter(None, path.split("/")):
            nxt = d.children[part]
            assert isinstance(nxt, MDir)
            d = nxt
        return d

    def resolve(self, start: MDir, path: str, follow: bool) -> Found:
        """Where ``path`` leads from ``start``: refuses what wasifs refuses (absolute,
        ``..`` above ``start``, absolute or looping symlinks, missing or non-directory
        components)."""
        if not path:
            raise Escape("empty")
        if path.startswith("/"):
            raise Escape("absolute")
        trailing = path.endswith("/")
        stack = [start]
        todo = [p for p in reversed(path.split("/")) if p]
        links = 0
        while todo:
            part = todo.pop()
            final = not todo
            if part == ".":
                if final:
                    return Found(stack[-1], None, stack[-1], trailing)
                continue
            if part == "..":
                if len(stack) == 1:
                    raise Escape("..")
                stack.pop()
                if final:
                    return Found(stack[-1], None, stack[-1], trailing)
                continue
            cur = stack[-1]
            node = cur.children.get(part)
            if final and not (isinstance(node, MLink) and (follow or trailing)):
                return Found(cur, part, node, trailing)
            if node is None:
                raise Escape(f"missing {part}")
            if isinstance(node, MDir):
                stack.append(node)
            elif isinstance(node, MLink):
                links += 1
                if links > 40:
                    raise Escape("loop")
                if node.target.startswith("/") or not node.target:
                    raise Escape("absolute link")
                todo.extend(reversed([p for p in node.target.split("/") if p]))
                if not todo:
                    return Found(stack[-1], None, stack[-1], trailing)
            else:
                raise Escape(f"not a directory: {part}")
        return Found(stack[-1], None, stack[-1], trailing)

    # what each successful call did
    def apply(self, name: str, a: dict[str, Any], result: int) -> None:
        """Update the model after ``name`` answered ``result`` (args decoded: paths as str,
        descriptors as numbers, the new descriptor for path_open)."""
        try:
            self._apply(name, a, result)
        except Escape as exc:
            self.problems.append(f"{name} {a} succeeded where the model says {exc}")

    def _start(self, fd: int) -> MDir:
        d = self.fds.get(fd)
        if not isinstance(d, MDir):
            raise Escape(f"fd {fd} is no directory")
        return d

    def _apply(self, name: str, a: dict[str, Any], result: int) -> None:
        if name == "fd_close" and result == 0:
            self.fds.pop(a["fd"], None)
        elif name == "fd_renumber" and result == 0:
            node = self.fds.pop(a["fd"], None)
            if node is not None:
                self.fds[a["to"]] = node
            else:
                self.fds.pop(a["to"], None)
        if result != 0 or not name.startswith("path_"):
            return
        if name == "path_create_directory":
            f = self.resolve(self._start(a["fd"]), a["path"], False)
            if f.name is None or f.node is not None:
                raise Escape("it exists")
            f.dir.children[f.name] = MDir(f.dir)
        elif name == "path_open":
            f = self.resolve(self._start(a["fd"]), a["path"], bool(a["dirflags"] & 1))
            node = f.node
            if f.name is not None and node is None:
                if not a["oflags"] & 1:
                    raise Escape("missing, no O_CREAT")
                node = f.dir.children[f.name] = MFile()
            if isinstance(node, MLink):
                raise Escape("opened a symlink")
            self.fds[a["new_fd"]] = node  # type: ignore[assignment]
        elif name == "path_unlink_file":
            f = self.resolve(self._start(a["fd"]), a["path"], False)
            if f.name is None or f.node is None or isinstance(f.node, MDir):
                raise Escape("no file there")
            del f.dir.children[f.name]
        elif name == "path_remove_directory":
            f = self.resolve(self._start(a["fd"]), a["path"], False)
            if f.name is None or not isinstance(f.node, MDir) or f.node.children:
                raise Escape("no empty directory there")
            del f.dir.children[f.name]
        elif name == "path_symlink":
            f = self.resolve(self._start(a["fd"]), a["new_path"], False)
            if f.name is None or f.node is not None:
                raise Escape("it exists")
            f.dir.children[f.name] = MLink(a["old_path"])
        elif name == "path_link":
            s = self.resolve(self._start(a["old_fd"]), a["old_path"], bool(a["old_flags"] & 1))
            t = self.resolve(self._start(a["new_fd"]), a["new_path"], False)
            if s.node is None or isinstance(s.node, MDir) or s.name is None:
                raise Escape("no file to link")
            if t.name is None or t.node is not None:
                raise Escape("the new name exists")
            t.dir.children[t.name] = s.node
        elif name == "path_rename":
            s = self.resolve(self._start(a["fd"]), a["old_path"], False)
            t = self.resolve(self._start(a["new_fd"]), a["new_path"], False)
            if s.name is None or s.node is None or t.name is None:
                raise Escape("nothing to rename")
            if s.node is t.node:
                return  # two names of one file (or one name): nothing happens
            if isinstance(t.node, MDir) and (not isinstance(s.node, MDir) or t.node.children):
                raise Escape("onto a directory")
            if t.node is not None and isinstance(s.node, MDir) and not isinstance(t.node, MDir):
                raise Escape("a directory onto a file")
            d: MDir | None = t.dir
            while d is not None:  # into itself
                if d is s.node:
                    raise Escape("into itself")
                d = d.parent
            del s.dir.children[s.name]
            t.dir.children[t.name] = s.node
            if isinstance(s.node, MDir):
                s.node.parent = t.dir

    def tree(self) -> dict[str, str]:
        """path -> "dir", "file" or "link:TARGET"."""
        out: dict[str, str] = {}
        todo: list[tuple[str, MDir]] = [("", self.root)]
        while todo:
            prefix, d = todo.pop()
            for name, node in d.children.items():
                path = prefix + name
                if isinstance(node, MDir):
                    out[path] = "dir"
                    todo.append((path + "/", node))
                elif isinstance(node, MLink):
                    out[path] = "link:" + node.target
                else:
                    out[path] = "file"
        return out


# ---------------------------------------------------------------------- running on a core
def decode_path(mem: bytes | bytearray, ptr: int, n: int) -> str | None:
    """The path the core reads at ``ptr`` (None where it must refuse it before a lookup)."""
    if ptr + n > len(mem) or n >= 4096:
        return None
    try:
        return bytes(mem[ptr:ptr + n]).decode()
    except UnicodeDecodeError:
        return None


class Memory:
    """Resolves :data:`Arg` values against a memory of ``size`` bytes whose arena starts at
    ``base``."""

    def __init__(self, size: int, base: int = 0) -> None:
        self.size = size
        self.base = base

    def ptr(self, p: Arg) -> int:
        if isinstance(p, A):
            return self.base + p.off
        if isinstance(p, E):
            return self.size - p.k
        assert not isinstance(p, F)
        return p


@dataclass
class CoreRun:
    """One sequence run on a :class:`~wasifs.wasi.WasiCore` over a bytearray."""

    core: Any
    model: Model
    buf: bytearray = field(default_factory=lambda: bytearray(CORE_MEM))
    errnos: list[int] = field(default_factory=list)
    bugs: list[str] = field(default_factory=list)
    calls: int = 0

    def __post_init__(self) -> None:
        self.core.mem = memoryview(self.buf)
        self.memory = Memory(CORE_MEM)

    def store(self, ptr: Ptr, data: Payload) -> None:
        if isinstance(data, Iovecs):
            data = b"".join(struct.pack("<II", self.memory.ptr(b) & _U32, n)
                            for b, n in data.entries)
        p = self.memory.ptr(ptr)
        if p < CORE_MEM:
            chunk = data[:CORE_MEM - p]
            self.buf[p:p + len(chunk)] = chunk

    def value(self, a: Arg) -> int:
        if isinstance(a, F):
            return int.from_bytes(self.buf[SLOTS + 4 * a.slot:SLOTS + 4 * a.slot + 4], "little")
        return self.memory.ptr(a)

    def call(self, item: Op) -> int:
        name, args, writes = item
        for ptr, data in writes:
            self.store(ptr, data)
        values = [self.value(a) for a in args]
        self.calls += 1
        try:
            result = getattr(self.core, name)(*values)
        except WasiError as exc:
            result = int(exc.errno)
        except Exception as exc:  # noqa: BLE001 - what the fuzzer looks for
            self.bugs.append(f"{name}{tuple(values)} raised {type(exc).__name__}: {exc}")
            result = int(Errno.IO)
        if not isinstance(result, int) or not 0 <= result < 77:
            self.bugs.append(f"{name}{tuple(values)} answered {result!r}")
            result = int(Errno.IO)
        self.errnos.append(result)
        self.model.apply(name, decode_args(name, values, self.buf), result)
        self.buf[SCRATCH:ARENA] = bytes(SCRATCH_SIZE)
        self.buf[CORE_MEM - 4096:] = bytes(4096)
        return result


def decode_args(name: str, values: Sequence[int], mem: bytes | bytearray) -> dict[str, Any]:
    """The call's arguments by parameter name, paths decoded, path_open's new descriptor."""
    a: dict[str, Any] = dict(zip(SYSCALL_PARAMS[name], values, strict=True))
    for stem in ("path", "old_path", "new_path"):
        if stem + "_ptr" in a and name.startswith("path_"):
            a[stem] = decode_path(mem, a[stem + "_ptr"], a[stem + "_len"])
    if name == "path_open" and a["fd_ptr"] + 4 <= len(mem):
        a["new_fd"] = int.from_bytes(mem[a["fd_ptr"]:a["fd_ptr"] + 4], "little")
    return a


# ---------------------------------------------------------------------- trees and sentinels
def backend_tree(backend: Any, data: bool = False) -> dict[str, str]:
    """path -> "dir", "file" or "link:TARGET", walked through the backend itself (with
    ``data``: "file:SIZE:SHA" of the first 1 MiB, so a guest's sparse terabyte costs
    nothing to compare)."""
    from wasifs.backends import DirChain, TreeWalk

    out: dict[str, str] = {}
    chain = DirChain(backend, backend.root(), owned=True)
    walk = TreeWalk(chain, sort=True)
    try:
        for name, st in walk:
            assert st is not None
            path = walk.where()
            if _stat.S_ISDIR(st.mode):
                out[path] = "dir"
            elif _stat.S_ISLNK(st.mode):
                out[path] = "link:" + backend.readlink(chain.top, name)
            elif not data:
                out[path] = "file"
            else:
                f = backend.open_file(chain.top, name, read=True, write=False)
                try:
                    size = backend.fstat(f).size
                    buf = bytearray(min(size, 1 << 20))
                    n = backend.pread(f, memoryview(buf), 0) if buf else 0
                finally:
                    backend.close(f)
                out[path] = f"file:{size}:{hashlib.sha256(buf[:n]).hexdigest()[:16]}"
    finally:
        chain.close()
    return out


def core_tree(core: Any, buf: bytearray, root: int) -> dict[str, str]:
    """The same, seen through the core: fd_readdir of every directory from the directory
    descriptor ``root`` (path_open'ed by path) and path_filestat_get of every entry."""
    kinds = {3: "dir", 4: "file", 7: "link"}
    out: dict[str, str] = {}
    todo = [""]
    listing = SCRATCH
    while todo:
        prefix = todo.pop()
        if prefix:
            p = prefix.encode()
            buf[P1:P1 + len(p)] = p
            err = core.path_open(root, 0, P1, len(p), 2, int(RIGHTS_ALL) & ~0x40, 0, 0, SCRATCH)
            assert err == 0, (prefix, Errno(err))
            fd = int.from_bytes(buf[SCRATCH:SCRATCH + 4], "little")
        else:
            fd = root
        names: list[bytes] = []
        cookie = 0
        while True:
            err = core.fd_readdir(fd, listing, 0x4000, cookie, SCRATCH + 0x4000)
            assert err == 0, (prefix, Errno(err))
            used = int.from_bytes(buf[SCRATCH + 0x4000:SCRATCH + 0x4004], "little")
            pos = listing
            last = 0
            while pos + 24 <= listing + used:
                nxt, _ino, namlen, _t = struct.unpack_from("<QQIB", buf, pos)
                if pos + 24 + namlen > listing + used:
                    break
                names.append(bytes(buf[pos + 24:pos + 24 + namlen]))
                pos += 24 + namlen
                last = nxt
            if used < 0x4000 or last == cookie:
                break
            cookie = last
        if prefix:
            core.fd_close(fd)
        for raw in names:
            if raw in (b".", b".."):
                continue
            path = prefix + raw.decode()
            p = path.encode()
            buf[P1:P1 + len(p)] = p
            err = core.path_filestat_get(root, 0, P1, len(p), SCRATCH)
            assert err == 0, (path, Errno(err))
            kind = kinds.get(buf[SCRATCH + 16], "other")
            if kind == "link":
                n = len(p)
                err = core.path_readlink(root, P1, n, SCRATCH + 0x100, 4096, SCRATCH)
                assert err == 0, (path, Errno(err))
                used = int.from_bytes(buf[SCRATCH:SCRATCH + 4], "little")
                kind = "link:" + bytes(buf[SCRATCH + 0x100:SCRATCH + 0x100 + used]).decode()
            out[path] = kind
            if kind == "dir":
                todo.append(path + "/")
    return out


def digest(*roots: HostPath) -> str:
    """What is under ``roots`` (names, types, sizes, times, contents, link targets)."""
    h = hashlib.sha256()
    for root in roots:
        for top, dirs, files in sorted(os.walk(root)):
            for name in sorted(dirs + files):
                p = HostPath(top) / name
                s = p.lstat()
                h.update(f"{p}:{s.st_mode}:{s.st_size}:{s.st_mtime_ns}\n".encode())
                if _stat.S_ISREG(s.st_mode):
                    h.update(p.read_bytes())
                elif _stat.S_ISLNK(s.st_mode):
                    h.update(os.readlink(p).encode())
    return h.hexdigest()


def make_native_tree(root: HostPath, tree: dict[str, Any], links: bool = True) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for path, value in tree.items():
        p = root / path
        if value is None:
            p.mkdir()
        elif isinstance(value, tuple):
            if links:
                os.symlink(value[1], p)
        else:
            p.write_bytes(value)


def make_outside(tmp: HostPath) -> HostPath:
    """The sentinel beside a native root: ``tmp/outside`` with a file and a directory."""
    out = tmp / "outside"
    out.mkdir()
    (out / "secret").write_bytes(b"OUTSIDE\n")
    (out / "dir").mkdir()
    (out / "dir" / "f").write_bytes(b"OUTSIDE too\n")
    return out
