"""Differential testing helpers: run a filesystem script under wasmtime's WASI and wasifs.

The guest is ``conformance/guests/script.c`` (see its header for the script language). A
script runs on a preopen ``/sandbox`` that starts as :data:`INITIAL`, once under
wasmtime-py's built-in WASI on a host directory (the reference), once under wasifs on a
``MemoryFileSystem`` (raw binding) and once under wasifs on a ``NativeFileSystem`` over a
host directory (checked binding).
:func:`compare` compares the outputs line by line, allowing only the deliberate
differences of ``conformance/DIFFERENCES.md`` (:func:`documented`) and the known wasifs
bugs found by this test (:data:`KNOWN_BUGS`, :func:`known_bug`); the final trees must be
equal.

Reproduce one script by hand (prints each op with the three answers)::

    python tests/_script.py [--readonly] script.txt        # or: ... - < script.txt

(a failing test prints its whole script, the prelude included).
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # the conformance package lives at the repository root
    sys.path.insert(0, str(ROOT))

from conformance.cases import Case, Link, Tree  # noqa: E402
from conformance.runner import (  # noqa: E402
    build_guest,
    dump_backend,
    dump_native,
    make_backend_tree,
    make_native_tree,
)

GUEST_PATH = "/sandbox"
CASE = Case("differential", "script.c", mounts=((GUEST_PATH, {}),))

#: The tree every script starts from: a file, a directory with a file, a symlink to it, and
#: a symlink with an absolute target (a guest cannot create one, as under wasmtime; reading
#: it is readlink-absolute-target, following it leaves the preopen).
INITIAL: Tree = {"a": b"0123456789", "d/": None, "d/e": b"E", "s": Link("d"), "l": Link("/d")}

# --- the generator ----------------------------------------------------------------------

#: A small namespace, so that operations collide: top-level names, names below the
#: directory, below the symlink to it, below the file (NOTDIR), two levels down, the
#: absolute symlink and below it.
NAMES = ("a", "b", "c", "d", "s", "d/e", "d/f", "s/e", "s/f", "a/x", "d/e/g", "b/c", "l", "l/e")
#: Path shapes: trailing slash, "./", ".." inside the preopen (through a directory, a file
#: and a symlink), double slash, "/." suffix, and escapes (absolute, leading "..", ".." past
#: the root).
SHAPES = ("{}/", "./{}", "d/../{}", "a/../{}", "s/../{}", "{}//", "{}/.", "/{}", "../{}",
          "d/../../{}")
#: Paths that are not built from a name: the preopen itself, its parent, the empty path.
SPECIAL = (".", "..", "~", "/", "d/..", "s/..", "./", "d/.")
#: Symlink targets: names (resolved relative to the link's directory), dangling,
#: self-referencing, escaping. Never absolute (wasmtime and wasifs refuse to create those;
#: INITIAL has one); some end in "/" (the target must then be a directory).
TARGETS = (*NAMES, ".", "..", "e", "nope", "../d", "../a", "../../x", "d/..", "s", "s/e", "d/.",
           "a/", "d/", "nope/")

T = TypeVar("T")


def weighted(*choices: tuple[int, st.SearchStrategy[T]]) -> st.SearchStrategy[T]:
    """One of ``choices``, picked with the given integer weights (the first one is the
    simplest: hypothesis shrinks towards it)."""
    pool = [strategy for weight, strategy in choices for _ in range(weight)]
    return st.sampled_from(pool).flatmap(lambda strategy: strategy)


#: Handle slots used by the generator (the guest has four): two, so handle ops find one open.
_slot = st.integers(0, 1)
_name = st.sampled_from(NAMES)
_base_path = weighted(
    (12, _name),
    (6, st.builds(lambda shape, name: shape.format(name), st.sampled_from(SHAPES), _name)),
    (2, st.sampled_from(SPECIAL)),
)
#: One path in eight is resolved relative to a directory handle ("@S:path").
path = weighted((7, _base_path), (1, st.builds(lambda s, p: f"@{s}:{p}", _slot, _base_path)))
data = st.text(alphabet="xyz", min_size=1, max_size=6)
small = st.integers(0, 12)


def _flags(letters: str, *, first: str = "") -> st.SearchStrategy[str]:
    # Known bug "directory-oflags": O_DIRECTORY with O_CREAT, O_EXCL or O_TRUNC is not
    # generated.
    rest = (st.sets(st.sampled_from(letters))
            .map(lambda s: s - {"d"} if s & set("cxt") else s)
            .map(lambda s: "".join(sorted(s))))
    if first:
        return st.builds(lambda a, b: a + b, st.sampled_from(first), rest)
    return rest.map(lambda s: s or "-")


def _no_rdonly_create(flags: str) -> str:
    return "b" + flags[1:] if flags[0] == "r" and set(flags) & set("ct") else flags


def _op(fmt: str, *parts: st.SearchStrategy[Any]) -> st.SearchStrategy[str]:
    return st.builds(lambda *xs: fmt.format(*xs), *parts)


#: One operation of the script language, weighted (simpler ones first: hypothesis shrinks
#: towards them).
op = weighted(
    (2, _op("stat {}", path)),
    (1, _op("lstat {}", path)),
    (3, _op("create {} {}", path, small)),
    (3, _op("mkdir {}", path)),
    (2, _op("unlink {}", path)),
    (2, _op("rmdir {}", path)),
    (3, _op("rename {} {}", path, path)),
    (2, _op("symlink {} {}", st.sampled_from(TARGETS), path)),
    (2, _op("link {} {}", path, path)),
    (1, _op("readlink {}", path)),
    (2, _op("readdir {}", path)),
    (2, _op("write {} {} {}", path, small, data)),
    (1, _op("append {} {}", path, data)),
    (2, _op("read {} {} {}", path, small, small)),
    (1, _op("truncate {} {}", path, small)),
    (2, _op("open {} {}", path, _flags("cxtdnrw"))),
    # wasmtime opens an O_RDONLY|O_CREAT or O_RDONLY|O_TRUNC file for writing too (write()
    # then succeeds, where POSIX and wasifs answer EBADF): O_CREAT and O_TRUNC are only
    # generated with O_WRONLY or O_RDWR.
    (5, _op("hopen {} {} {}", _slot, _base_path,
            _flags("cxtadn", first="rwb").map(_no_rdonly_create))),
    (1, _op("hclose {}", _slot)),
    (2, _op("hread {} {}", _slot, small)),
    (2, _op("hwrite {} {}", _slot, data)),
    (1, _op("hseek {} {} {}", _slot, st.integers(-3, 12), st.sampled_from("sce"))),
    (1, _op("htrunc {} {}", _slot, small)),
    (1, _op("hstat {}", _slot)),
    (1, _op("hreaddir {}", _slot)),
)
#: Every script starts by opening a read-write handle to the file "a" in slot 0 and a handle
#: to the directory "d" in slot 1, so that handle operations and "@1:" paths have something
#: to work on (and go on working on them while the names are renamed or removed).
PRELUDE = ("hopen 0 a b", "hopen 1 d rd")
#: On a read-only mount the file handle is read-only.
READONLY_PRELUDE = ("hopen 0 a r", "hopen 1 d rd")


def scripts(prelude: Sequence[str] = PRELUDE) -> st.SearchStrategy[list[str]]:
    """Scripts of 3 to 30 generated operations (about 8 on average) after ``prelude``."""
    return st.lists(op, min_size=3, max_size=30).map(lambda ops: [*prelude, *ops])

# --- documented differences -----------------------------------------------------------


def _path_args(line: str) -> list[str]:
    """The path arguments of a script line (without an "@S:" prefix)."""
    words = line.split(" ")
    kind = words[0]
    if kind in ("hopen",):
        raw = [words[2]]
    elif kind in ("rename", "link"):
        raw = words[1:3]
    elif kind == "symlink":
        raw = [words[2]]
    elif kind.startswith("h"):
        raw = []
    else:
        raw = [words[1]]
    return [w.split(":", 1)[1] if w.startswith("@") else w for w in raw]


def reference_line(line: str) -> str:
    """The line wasmtime runs instead of ``line``.

    rmdir-trailing-slash: wasmtime answers INVAL to ``path_remove_directory("dir/")``, wasifs
    removes the directory (as Linux ``rmdir("dir/")`` does). The reference runs the path
    without its trailing slashes, which names the same directory when there is one and
    fails the same way otherwise.
    """
    words = line.split(" ")
    if words[0] == "rmdir":
        prefix, _, p = words[1].rpartition(":") if words[1].startswith("@") else ("", "", words[1])
        stripped = p.rstrip("/")
        if stripped and stripped != p:
            return f"rmdir {prefix}{':' if prefix else ''}{stripped}"
    return line


def _changes(line: str) -> bool:
    """Whether the operation asks to change the tree (or to open a file for writing)."""
    words = line.split(" ")
    if words[0] in ("open", "hopen"):
        return bool(set(words[-1]) & set("cwtba"))
    return words[0] in ("mkdir", "rmdir", "unlink", "rename", "symlink", "link", "create",
                        "write", "append", "truncate")


def documented(line: str, ref: str, got: str, *, readonly: bool = False) -> str | None:
    """The DIFFERENCES.md section that allows wasifs to answer ``got`` where wasmtime
    answered ``ref`` to ``line`` (on a read-only mount with ``readonly``), or None."""
    kind = line.split(" ")[0]
    flags = line.split(" ")[-1]
    # readonly-mounts: every change of a read-only mount is PERM in wasmtime, ROFS in wasifs;
    # opening an existing file with O_CREAT but without write access succeeds in wasifs.
    # wasmtime refuses a change before it looks at the path at all; wasifs walks the path
    # first, so an error found on the way wins over ROFS (NOTDIR for "file/", NOENT for "",
    # EXIST for mkdir ".", INVAL for rmdir ".", ...).
    if readonly and ref == "PERM" and _changes(line) and (got.isupper() or (
            kind == "open" and "c" in flags and got == "opened file")):
        return "readonly-mounts"
    # readlink-absolute-target: wasmtime refuses to read an absolute target (PERM), wasifs
    # returns it unchanged.
    if kind == "readlink" and ref == "PERM" and got.startswith('"/'):
        return "readlink-absolute-target"
    # rename-dot: renaming "." (or onto it) is BUSY in wasmtime (Linux), INVAL in wasifs
    # (POSIX). wasmtime checks for a dot before looking at the other path; wasifs resolves
    # both paths first, so an error in the other path (NOTDIR for "file/", NOENT, ...) wins.
    if (kind == "rename" and ref == "BUSY" and got.isupper()
            and any(p.rstrip("/").rsplit("/", 1)[-1] in (".", "..") for p in _path_args(line))):
        return "rename-dot"
    # nofollow-directory: O_DIRECTORY without following, on a symlink: LOOP vs NOTDIR.
    if (kind in ("open", "hopen") and "d" in flags and "n" in flags
            and ref == "LOOP" and got == "NOTDIR"):
        return "nofollow-directory"
    # rights: using a descriptor for what it was not opened for (wasi-libc's O_RDONLY
    # descriptor written to, truncated, ...) is NOTCAPABLE (missing right) in wasifs;
    # wasmtime answers BADF (fd_write) or INVAL (fd_filestat_set_size, as ftruncate).
    if (kind.startswith("h") and kind != "hopen" and ref in ("BADF", "INVAL")
            and got == "NOTCAPABLE"):
        return "rights"
    return None


#: Differences from wasmtime found by this test and tolerated here: ``directory-oflags`` and
#: ``two-path-precedence`` are documented in conformance/DIFFERENCES.md (the seven wasifs bugs
#: it found first are fixed). id -> (what differs, minimal script).
#: The generator avoids them, or :func:`known_bug` tolerates them (where they change state,
#: the rest of the script is not compared); ``test_known_bug`` runs each minimal script as a
#: strict xfail, so a fix (or a new section) shows up.
KNOWN_BUGS: dict[str, tuple[str, tuple[str, ...]]] = {
    "directory-oflags": (
        "path_open with oflags::directory and any of creat, excl, trunc: wasmtime answers "
        "INVAL whatever the path names; wasifs looks the path up (opens an existing "
        "directory, NOTDIR for a file, NOENT or ISDIR), and answers INVAL only for "
        "creat|directory on a missing name",
        ("open d cd", "open . cd", "open a cd", "hopen 0 d rcd", "open d dx", "open nope dx",
         "open d dt", "hopen 1 d rdt"),
    ),
    "two-path-precedence": (
        "path_link/path_rename with errors in both paths: wasmtime (like Linux) first walks "
        "both paths up to their last component (an escape in either: PERM) and checks that "
        "the old one exists (NOENT) and is not an ancestor of the new one (INVAL), then looks "
        "at trailing slashes, \".\" and the new name; wasifs resolves and checks the old path "
        "completely, then the new one, so it answers NOTDIR for \"file/\" in one path where "
        "the other escapes or is inside the old directory, or the new path's error (NOTDIR, "
        "PERM, EXIST) where the old one is missing",
        ("rename b a/", "link b/ a/x", "link b/ ..", "link b .", "link b d/..", "rename a/ /a",
         "rename d/e/ ../b", "create d/f 1", "rename d d/f/"),
    ),
}


def known_bug(line: str, ref: str, got: str) -> tuple[str, bool] | None:
    """The :data:`KNOWN_BUGS` entry that explains a difference, and whether the runs
    diverged there (later lines and the trees are no longer comparable), or None."""
    kind = line.split(" ")[0]
    if kind in ("link", "rename") and ref in ("NOENT", "PERM", "INVAL") and got.isupper():
        return "two-path-precedence", False
    return None


@dataclass
class Comparison:
    """How a wasifs run compares with the reference."""

    #: lines that differ beyond the documented differences and known bugs
    problems: list[str]
    #: the lines a known bug explains
    known: set[int]
    #: the line where a known bug made the runs diverge (later lines are not compared, and
    #: the trees must not be), or None
    diverged: int | None


def compare(script: Sequence[str], ref: Sequence[str], got: Sequence[str], *,
            readonly: bool = False) -> Comparison:
    """Compare wasifs's output ``got`` with wasmtime's ``ref``, line by line."""
    out = Comparison([], set(), None)
    for i in range(max(len(script), len(ref), len(got))):
        line = script[i] if i < len(script) else "<no op>"
        r = ref[i] if i < len(ref) else "<missing>"
        g = got[i] if i < len(got) else "<missing>"
        if r == g or documented(line, r, g, readonly=readonly) is not None:
            continue
        bug = known_bug(line, r, g)
        if bug is None:
            out.problems.append(f"op {i}: {line!r}: wasmtime {r!r}, wasifs {g!r}")
            continue
        out.known.add(i)
        if bug[1]:
            out.diverged = i
            break
    return out


# --- running ------------------------------------------------------------------------------


@dataclass
class Result:
    exit_code: int | str
    lines: list[str]
    tree: list[tuple[Any, ...]]


class Differential:
    """The guest compiled once, one engine, one wasmtime linker; runs scripts."""

    def __init__(self) -> None:
        import wasmtime

        import wasifs

        # A plain engine: the reference runs make their own stores on it, and wasifs's default
        # engine (epoch interruption on) traps in a store that has no epoch deadline.
        self.engine = wasmtime.Engine()
        self.module = wasifs.load_module(build_guest(CASE), self.engine)
        self.linker = wasmtime.Linker(self.engine)
        self.linker.define_wasi()

    def reference(self, script: Sequence[str], tmp: Path, *, readonly: bool = False) -> Result:
        """Run under wasmtime-py's built-in WASI on ``tmp/ref`` (rmdir-trailing-slash
        rewritten, see :func:`reference_line`), read-only with ``readonly``."""
        import wasmtime

        root = tmp / "ref"
        root.mkdir()
        make_native_tree(root, INITIAL)
        (tmp / "stdin").write_text("".join(reference_line(s) + "\n" for s in script))
        cfg = wasmtime.WasiConfig()
        cfg.argv = ["script"]
        cfg.stdin_file = str(tmp / "stdin")
        cfg.stdout_file = str(tmp / "stdout")
        cfg.preopen_dir(str(root), GUEST_PATH, not readonly)
        store = wasmtime.Store(self.engine)
        store.set_wasi(cfg)
        code: int | str = 0
        try:
            start = self.linker.instantiate(store, self.module).exports(store)["_start"]
            assert isinstance(start, wasmtime.Func)
            start(store)
        except wasmtime.ExitTrap as exc:
            code = exc.code
        except (wasmtime.Trap, wasmtime.WasmtimeError) as exc:
            code = f"trap: {exc}"
        del store
        out = (tmp / "stdout").read_text("utf-8", "backslashreplace")
        return Result(code, out.splitlines(), dump_native(root))

    def wasifs(self, script: Sequence[str], tmp: Path | None = None, *,
               readonly: bool = False) -> Result:
        """Run under wasifs: on a MemoryFileSystem through the raw binding, or with ``tmp`` on
        a NativeFileSystem over ``tmp/native`` through the checked binding (so that one
        example covers both bindings); mounted read-only with ``readonly``."""
        import wasifs

        fs: Any
        if tmp is None:
            fs = wasifs.MemoryFileSystem()
            make_backend_tree(fs, INITIAL)
        else:
            root = tmp / "native"
            root.mkdir()
            make_native_tree(root, INITIAL)
            fs = wasifs.NativeFileSystem(str(root))
        mount = wasifs.Mount(fs, readonly=True) if readonly else fs
        r = wasifs.run(self.module, args=["script"], mounts={GUEST_PATH: mount}, engine=self.engine,
                       stdin="".join(s + "\n" for s in script).encode(), strict=True,
                       binding="raw" if tmp is None else "checked")
        code: int | str = r.exit_code if r.trap is None else f"trap: {r.trap}"
        lines = r.stdout.decode("utf-8", "backslashreplace").splitlines()
        return Result(code, lines, dump_backend(fs) if tmp is None else dump_native(root))


def main(argv: Sequence[str]) -> int:
    readonly = "--readonly" in argv
    argv = [a for a in argv if a != "--readonly"]
    text = sys.stdin.read() if not argv or argv[0] == "-" else Path(argv[0]).read_text()
    script = [ln for ln in text.splitlines() if ln.strip()]
    d = Differential()
    with tempfile.TemporaryDirectory(prefix="wasifs-diff-") as tmp:
        ref = d.reference(script, Path(tmp), readonly=readonly)
        mem = d.wasifs(script, readonly=readonly)
        nat = d.wasifs(script, Path(tmp), readonly=readonly)
    for i, line in enumerate(script):
        answers = [r.lines[i] if i < len(r.lines) else "<missing>" for r in (ref, mem, nat)]
        mark = " " if answers[0] == answers[1] == answers[2] else "*"
        print(f"{mark} {line:32} wasmtime={answers[0]!r} memory={answers[1]!r} "
              f"native={answers[2]!r}")
    for name, r in (("wasmtime", ref), ("memory", mem), ("native", nat)):
        print(f"--- {name}: exit {r.exit_code}")
        for entry in r.tree:
            print("   ", *entry)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
