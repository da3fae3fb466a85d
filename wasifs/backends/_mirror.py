"""Writing a tree back: :func:`mirror_tree`, the ``--write-back`` step, which never loses data.

:func:`mirror_tree` makes a destination directory (a host folder) hold what a source
directory (the guest's in-memory tree) holds, in four phases:

1. **Plan.** Both trees are walked. A file counts as changed when its *content* differs from
   the destination's (never from sizes and times); a symlink when its target differs. With a
   :class:`~wasifs.backends.Baseline` (what a :func:`~wasifs.backends.copy_tree` copy-in put
   where) the plan also knows what the guest never saw: a destination entry that was not
   copied in (a FIFO, a socket, a device, a file made on the host during the run) is left
   alone, and an entry that changed on the host since the copy-in is a
   :class:`WriteBackConflict` (neither overwritten nor deleted) unless the guest left it
   untouched. Names that are one file in the source (hard links) become names of one file
   in the destination.
2. **Stage.** Everything new or changed is written next to its place under a temporary name
   (``.wasifs-wb-<random>-<n>``), a new directory with all its contents; nothing that exists
   is touched. An error here removes what was staged: the destination is as it was.
3. **Commit.** Each staged entry is renamed into place (an entry it replaces is first kept
   under a temporary name: a hard link, or a rename), and each entry the source no longer
   has is renamed away, one journal step at a time. An error or a cancellation undoes the
   steps done so far, last first: the destination is as it was.
4. **Finish.** What was replaced or deleted is removed for good. The destination now holds
   the source's tree; a kept old entry that could not be removed is reported in
   :attr:`WriteBackReport.leftovers`.

The outcome is a :class:`WriteBackReport`: exactly which changes were applied and which not,
the conflicts, what was kept, any error. :func:`mirror_tree` returns it when everything was
applied and raises :class:`WriteBackError` (holding it) otherwise. The source is only read,
so the caller still holds the whole tree to save (:func:`archive_tree` writes it as a tar
archive, :func:`save_tree` next to the destination).

Trees are walked iteratively and directories are reached by moving a chain of open handles
the shortest way, so the work is linear in the size of the trees, however deep.
"""

from __future__ import annotations

import errno
import functools
import itertools
import os
import stat as _stat
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from typing import IO, Any, Literal, Protocol

from ._copy import (
    CHUNK,
    NO_LINK,
    BaseEntry,
    Baseline,
    Progress,
    copy_file,
    remove_entry,
    set_times_where_supported,
)
from ._errors import relabel
from ._file import BackendFileIO
from ._protocol import Backend, Stat
from ._walk import DirChain, TreeWalk

__all__ = ("TEMP_PREFIX", "WriteBackChange", "WriteBackConflict", "WriteBackError",
           "WriteBackReport", "archive_tree", "mirror_tree", "save_tree")

Kind = Literal["file", "dir", "symlink"]
Action = Literal["create", "update", "replace", "delete"]

#: The prefix of the temporary names of a write-back (staged entries, kept old ones).
TEMP_PREFIX = ".wasifs-wb-"


def _kind(mode: int) -> Kind | None:
    if _stat.S_ISREG(mode):
        return "file"
    if _stat.S_ISDIR(mode):
        return "dir"
    if _stat.S_ISLNK(mode):
        return "symlink"
    return None


# ------------------------------------------------------------------------------ the report
@dataclass(frozen=True)
class WriteBackChange:
    """One change of a write-back: ``action`` on ``path`` (relative to the written tree,
    ``/``-separated) and everything inside it.

    ``create``: the entry is new (a directory with all its contents); ``update``: a file's
    content or a symlink's target changed; ``replace``: an entry of another type (and
    everything inside it) is replaced by the source's; ``delete``: the entry and everything
    inside it go. ``kind`` is the new entry's type (for a delete, the type removed).
    """

    action: Action
    path: str
    kind: Kind

    def __str__(self) -> str:
        return f"{self.action} {self.path}{'/' if self.kind == 'dir' else ''}"


@dataclass(frozen=True)
class WriteBackConflict:
    """A path the write-back left alone on purpose, and why (the entry changed on the host
    during the run, something the guest never saw is in the way...)."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path} ({self.reason})"


@dataclass
class WriteBackReport:
    """What :func:`mirror_tree` did: exactly what was and was not applied.

    ``applied`` and ``not_applied`` hold :class:`WriteBackChange` records; ``conflicts``
    are paths left alone on purpose; ``kept`` destination entries that the source does not have and
    that stay because the guest never saw them (not copied in, or made on the host during
    the run); ``leftovers`` temporary entries that could not be removed (named
    :data:`TEMP_PREFIX`...). ``error`` is what stopped the write-back (an ``OSError``
    naming the path, or the exception of a cancellation); ``rolled_back`` says that the
    steps done before it were undone. ``saved_to`` is for the caller: where it saved the
    source tree.
    """

    source: str = ""
    dest: str = ""
    applied: list[WriteBackChange] = field(default_factory=list)
    not_applied: list[WriteBackChange] = field(default_factory=list)
    conflicts: list[WriteBackConflict] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)
    error: BaseException | None = None
    rolled_back: bool = False
    saved_to: str | None = None

    @property
    def complete(self) -> bool:
        """Everything was applied: no error, no conflict, nothing left out."""
        return self.error is None and not self.conflicts and not self.not_applied

    def summary(self, limit: int = 5) -> str:
        """One line: where, how much was applied, what was not and why, where the source
        tree was saved."""
        where = self.dest or "the destination"
        total = len(self.applied) + len(self.not_applied)
        if self.complete:
            parts = [f"wrote back {len(self.applied)} change(s) to {where}"]
        else:
            head = (f"write-back to {where} incomplete: {len(self.applied)} of {total} "
                    "change(s) applied")
            if self.rolled_back:
                head += " (the steps already done were undone)"
            parts = [head]
        if self.not_applied:
            parts.append("not applied: " + _some(self.not_applied, limit))
        if self.conflicts:
            parts.append("left alone: " + _some(self.conflicts, limit))
        if self.kept:
            parts.append("kept (never seen by the guest): " + _some(self.kept, limit))
        if self.leftovers:
            parts.append("temporary entries left: " + _some(self.leftovers, limit))
        if self.error is not None:
            parts.append(f"error: {_describe(self.error)}")
        if self.saved_to is not None:
            parts.append(f"the guest's tree is saved in {self.saved_to}")
        # one line whatever the names hold (a guest can put a newline in one)
        return "".join(c if c.isprintable() else repr(c)[1:-1] for c in "; ".join(parts))


def _some(items: list[Any], limit: int) -> str:
    shown = ", ".join(str(x) for x in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _describe(exc: BaseException) -> str:
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    return str(exc) or type(exc).__name__


class WriteBackError(Exception):
    """A write-back did not apply everything; :attr:`report` says exactly what it did."""

    def __init__(self, report: WriteBackReport) -> None:
        super().__init__(report.summary())
        self.report = report


class _Cancel(Protocol):
    """What :func:`mirror_tree` needs of a cancel token (a :class:`wasifs.CancelToken`)."""

    @property
    def cancelled(self) -> bool: ...

    def error(self) -> BaseException: ...


# ------------------------------------------------------------------------------ nodes
class _Node:
    """A directory of one tree: its parent, its name there, how deep it is. ``base`` is the
    baseline's entries of this directory (None: not copied in, or no baseline); ``twin``
    the same directory in the other tree."""

    __slots__ = ("parent", "name", "depth", "base", "twin", "decision", "top", "gone")

    def __init__(self, parent: _Node | None, name: str,
                 base: dict[str, BaseEntry] | None) -> None:
        self.parent = parent
        self.name = name
        self.depth: int = 0 if parent is None else parent.depth + 1
        self.base = base
        self.twin: _Node | None = None
        #: (source) what the plan decided for this directory
        self.decision = "same"
        #: (source) the step of the new directory this one is created in, if any
        self.top: _Step | None = None
        #: (destination) replaced as a whole by the source's entry
        self.gone = False

    def path(self, name: str | None = None) -> str:
        names = [] if name is None else [name]
        node: _Node | None = self
        while node is not None and node.parent is not None:
            names.append(node.name)
            node = node.parent
        return "/".join(reversed(names))


class _Cursor:
    """An open directory chain that moves to a node the shortest way (visits in tree order
    cost work linear in the tree)."""

    def __init__(self, fs: Backend, base: Any, root: _Node) -> None:
        self.fs = fs
        self.chain = DirChain(fs, base, owned=False)
        self.nodes = [root]

    def at(self, node: _Node) -> Any:
        nodes = self.nodes
        up: list[_Node] = []
        n = node
        while not (n.depth < len(nodes) and nodes[n.depth] is n):
            up.append(n)
            assert n.parent is not None
            n = n.parent
        if n.depth < len(nodes) - 1:
            self.chain.truncate(n.depth)
            del nodes[n.depth + 1:]
        for m in reversed(up):
            self.chain.push(self.fs.opendir(self.chain.top, m.name), m.name)
            nodes.append(m)
        return self.chain.top

    def close(self) -> None:
        self.chain.close()


def _same_entry(a: Stat, b: Stat, *, times: bool = True) -> bool:
    """Whether ``b`` is the entry ``a`` was (the same file, not written since): for a
    directory the same inode; else also the same size and modification time, and with
    ``times`` the same change time (which nobody can set back)."""
    if (a.dev, a.ino, _stat.S_IFMT(a.mode)) != (b.dev, b.ino, _stat.S_IFMT(b.mode)):
        return False
    if _stat.S_ISDIR(a.mode):
        return True
    if a.size != b.size or a.mtime_ns != b.mtime_ns:
        return False
    return not times or a.ctime_ns == b.ctime_ns


def _same_content(sfs: Backend, sdir: Any, sname: str, dfs: Backend, ddir: Any, dname: str,
                  bufs: tuple[bytearray, bytearray]) -> bool:
    """Whether two regular files hold the same bytes (read side by side, stopping at the
    first difference)."""
    fa = sfs.open_file(sdir, sname, read=True, write=False)
    try:
        fb = dfs.open_file(ddir, dname, read=True, write=False)
        try:
            if sfs.fstat(fa).size != dfs.fstat(fb).size:
                return False
            va, vb = memoryview(bufs[0]), memoryview(bufs[1])
            offset = 0
            while True:
                n = sfs.pread(fa, va, offset)
                if not n:
                    return dfs.pread(fb, vb[:1], offset) == 0
                m = 0
                while m < n:  # the destination may answer in shorter pieces
                    k = dfs.pread(fb, vb[m:n], offset + m)
                    if k <= 0:
                        return False
                    m += k
                if va[:n] != vb[:n]:
                    return False
                offset += n
        finally:
            dfs.close(fb)
    finally:
        sfs.close(fa)


# ------------------------------------------------------------------------------ the plan
@dataclass
class _Entry:
    """A source entry: its parent's node, name, type, ``lstat``, what the plan decided
    (same, create, update, replace, conflict, skip) and its node when a directory."""

    parent: _Node
    name: str
    kind: Kind | None
    st: Stat
    decision: str = "same"
    node: _Node | None = None
    #: the step that puts it in place, when it has one of its own
    step: _Step | None = None


@dataclass
class _Step:
    """One journal step of the commit: put the staged ``tmp`` at ``name`` in the existing
    destination directory ``parent`` (``tmp`` None: only take ``name`` away), checking first
    that ``name`` is still the entry the plan saw (``expect``; None: nothing)."""

    parent: _Node
    name: str
    tmp: str | None
    expect: Stat | None
    change: WriteBackChange
    fsync: bool = False
    placed: bool = False
    kept_as: str | None = None
    kept_by_link: bool = False


def _child_base(base: dict[str, BaseEntry] | None, name: str) -> dict[str, BaseEntry] | None:
    entry = base.get(name) if base is not None else None
    return entry.children if entry is not None else None


class _Mirror:
    def __init__(self, src: Backend, sdir: Any, dst: Backend, ddir: Any, *,
                 baseline: Baseline | None, report: WriteBackReport, buf: bytearray | None,
                 cancel: _Cancel | None, progress: Progress | None = None) -> None:
        self.src, self.sdir, self.dst, self.ddir = src, sdir, dst, ddir
        self.progress = progress
        self.has_baseline = baseline is not None
        base = baseline.root if baseline is not None else None
        self.droot = _Node(None, "", base)
        self.sroot = _Node(None, "", base)
        self.droot.twin, self.sroot.twin = self.sroot, self.droot
        self.report = report
        self.cancel = cancel
        self.bufs = (buf if buf is not None else bytearray(CHUNK), bytearray(CHUNK))
        self.token = os.urandom(8).hex()
        self.counter = 0
        # destination: (parent node, name) -> lstat, in walk order; its directories' nodes
        self.dst_entries: dict[tuple[_Node, str], Stat] = {}
        self.dst_order: list[tuple[_Node, str]] = []
        self.dst_nodes: dict[tuple[_Node, str], _Node] = {}
        self.src_entries: dict[tuple[_Node, str], _Entry] = {}
        self.src_order: list[_Entry] = []
        self.steps: list[_Step] = []  # placements, then removals
        self.removals: list[_Step] = []
        self.done: list[_Step] = []
        self.staged: list[tuple[_Node, str]] = []  # (parent, temporary name) to clean up

    def temp_name(self) -> str:
        self.counter += 1
        return f"{TEMP_PREFIX}{self.token}-{self.counter}"

    def check_cancel(self) -> None:
        if self.cancel is not None and self.cancel.cancelled:
            raise self.cancel.error()

    def label(self, tree: str, rel: str) -> str:
        return tree.rstrip("/") + "/" + rel if tree and rel else tree or rel

    def conflict(self, parent: _Node, name: str, reason: str) -> None:
        self.report.conflicts.append(WriteBackConflict(parent.path(name), reason))

    # -- baseline questions ------------------------------------------------------------------
    def seen(self, parent: _Node, name: str) -> BaseEntry | None:
        return parent.base.get(name) if parent.base is not None else None

    def host_unchanged(self, parent: _Node, name: str, d: Stat) -> bool:
        """Whether the destination entry is the one that was copied in (always true without
        a baseline)."""
        if not self.has_baseline:
            return True
        b = self.seen(parent, name)
        return b is not None and _same_entry(b.origin, d)

    def guest_untouched(self, parent: _Node, name: str, s: Stat) -> bool:
        """Whether the source entry is still the copy the copy-in made (its inode, size and
        times, the change time included: not written since)."""
        b = self.seen(parent, name)
        return b is not None and _same_entry(b.copy, s)

    # -- phase 1: plan --------------------------------------------------------------------
    def scan_dst(self) -> None:
        chain = DirChain(self.dst, self.ddir, owned=False)
        walk = TreeWalk(chain, leave=True)
        stack = [self.droot]
        try:
            for name, st in walk:
                if st is None:
                    stack.pop()
                    continue
                parent = stack[-1]
                key = (parent, name)
                self.dst_entries[key] = st
                self.dst_order.append(key)
                if _stat.S_ISDIR(st.mode):
                    node = _Node(parent, name, _child_base(parent.base, name))
                    self.dst_nodes[key] = node
                    stack.append(node)
        except OSError as exc:
            raise relabel(exc, self.label(self.report.dest, walk.where())) from None
        finally:
            chain.close()

    def plan_src(self) -> None:
        src, dst = self.src, self.dst
        chain = DirChain(src, self.sdir, owned=False)
        walk = TreeWalk(chain, leave=True)
        cursor = _Cursor(dst, self.ddir, self.droot)
        stack = [self.sroot]
        try:
            for name, st in walk:
                if st is None:
                    stack.pop()
                    continue
                parent = stack[-1]
                kind = _kind(st.mode)
                e = _Entry(parent, name, kind, st)
                self.src_entries[(parent, name)] = e
                self.src_order.append(e)
                if kind == "dir":
                    e.node = _Node(parent, name, _child_base(parent.base, name))
                    stack.append(e.node)
                e.decision = self.decide(e, chain.top, cursor)
                if e.node is not None:
                    e.node.decision = e.decision
                    if e.decision == "same":  # a directory both trees have
                        assert parent.twin is not None
                        twin = self.dst_nodes[(parent.twin, name)]
                        e.node.twin, twin.twin = twin, e.node
        except OSError as exc:
            rel = walk.where()
            raise relabel(exc, self.label(self.report.source, rel),
                          self.label(self.report.dest, rel)) from None
        finally:
            cursor.close()
            chain.close()

    def decide(self, e: _Entry, sdir: Any, cursor: _Cursor) -> str:
        """What to do with the source entry ``e`` (in the open source directory ``sdir``):
        same (nothing), keep (the host's newer version stays), create, update, replace,
        conflict (reported) or skip (inside a conflict)."""
        parent, name = e.parent, e.name
        if parent.decision in ("create", "replace"):
            return "create"  # inside a new directory: staged with it
        if parent.decision in ("conflict", "skip"):
            return "skip"
        if e.kind is None:
            self.conflict(parent, name, "a special file cannot be written back")
            return "skip"
        dparent = parent.twin
        assert dparent is not None
        d = self.dst_entries.get((dparent, name))
        if d is None:
            if self.seen(dparent, name) is None:
                return "create"
            # copied in, deleted on the host since: that deletion stays unless the guest
            # changed the entry too (a conflict: its version is the guest's to keep)
            if e.kind != "dir" and self.guest_untouched(parent, name, e.st):
                return "keep"
            self.conflict(parent, name, "deleted on the host during the run")
            return "conflict"
        dkind = _kind(d.mode)
        if dkind is None:
            self.conflict(parent, name, "a special file the guest never saw is in the way")
            return "skip"
        if dkind == e.kind:
            if dkind == "dir":
                return "same"
            ddir = cursor.at(dparent)
            if dkind == "symlink":
                same = self.src.readlink(sdir, name) == self.dst.readlink(ddir, name)
            else:
                same = _same_content(self.src, sdir, name, self.dst, ddir, name, self.bufs)
            if same:
                return "same"
            decision = "update"
        else:
            decision = "replace"
        if self.host_unchanged(dparent, name, d):
            return decision
        if e.kind != "dir" and dkind != "dir" and self.guest_untouched(parent, name, e.st):
            return "keep"  # changed on the host only: the host's version stays
        self.conflict(parent, name, "changed on the host during the run and by the guest")
        return "conflict"

    def plan_deletes(self) -> dict[tuple[_Node, str], bool]:
        """Which destination entries the source does not have can go; those that stay are
        reported (kept, or conflicts), and so is each directory that holds one."""
        deletable: dict[tuple[_Node, str], bool] = {}
        blocked: set[_Node] = set()
        report = self.report
        for key in reversed(self.dst_order):  # the entries of a directory before it
            parent, name = key
            twin = parent.twin
            if twin is not None and (twin, name) in self.src_entries:
                e = self.src_entries[(twin, name)]
                node = self.dst_nodes.get(key)
                if e.decision == "replace" and node is not None and node in blocked:
                    e.decision = "conflict"
                    if e.node is not None:
                        e.node.decision = "conflict"
                    self.conflict(parent, name, "the host directory in the way holds "
                                  "entries the guest never saw")
                elif e.decision == "replace" and node is not None:
                    node.gone = True  # replaced with everything in it
                continue
            d = self.dst_entries[key]
            node = self.dst_nodes.get(key)
            ok = True
            if _kind(d.mode) is None or (self.has_baseline and self.seen(parent, name) is None):
                ok = False  # never copied in: not the guest's to delete
                report.kept.append(parent.path(name))
            elif not self.host_unchanged(parent, name, d):
                ok = False
                self.conflict(parent, name, "changed on the host during the run; the guest "
                              "deleted it")
            elif node is not None and node in blocked:
                ok = False
                report.kept.append(parent.path(name))
            deletable[key] = ok
            if not ok:
                blocked.add(parent)
        return deletable

    def plan_placements(self) -> None:
        """One step for each new or changed entry in a directory the destination has (a
        new directory's entries go with it)."""
        for e in self.src_order:
            if e.decision not in ("create", "update", "replace"):
                continue
            parent = e.parent
            if parent.decision in ("create", "replace"):
                assert parent.top is not None
                if e.node is not None:
                    e.node.top = parent.top
                continue
            if parent.decision != "same":
                continue  # inside something left alone
            assert e.kind is not None and parent.twin is not None
            d = self.dst_entries.get((parent.twin, e.name))
            action: Action = "create" if d is None else \
                "update" if e.decision == "update" else "replace"
            e.step = _Step(parent.twin, e.name, self.temp_name(), d,
                           WriteBackChange(action, parent.path(e.name), e.kind),
                           fsync=e.kind == "file" and d is not None)
            self.steps.append(e.step)
            if e.node is not None:
                e.node.top = e.step

    # -- phase 2: stage ----------------------------------------------------------------------
    def stage(self) -> None:
        dst = self.dst
        # hard links: the names of one source file become names of one destination file,
        # linked to a name that already is that file, or to the first copy staged
        link_from: dict[int, tuple[_Node, str]] = {}
        for e in self.src_order:
            if e.kind == "file" and e.st.nlink > 1 and e.decision == "same" and \
                    e.st.ino not in link_from and e.parent.twin is not None:
                link_from[e.st.ino] = (e.parent.twin, e.name)
        scur = _Cursor(self.src, self.sdir, self.sroot)
        dcur = _Cursor(dst, self.ddir, self.droot)
        lcur = _Cursor(dst, self.ddir, self.droot)
        new_dirs: list[tuple[_Node, Stat]] = []
        try:
            for e in self.src_order:
                if e.step is None and (e.decision not in ("create", "update", "replace")
                                       or e.parent.top is None):
                    continue
                self.check_cancel()
                try:
                    self.stage_one(e, scur, dcur, lcur, link_from, new_dirs)
                except OSError as exc:
                    rel = e.parent.path(e.name)
                    raise relabel(exc, self.label(self.report.source, rel),
                                  self.label(self.report.dest, rel)) from None
            for made, st in reversed(new_dirs):  # their times, once their entries are in
                assert made.parent is not None
                h = dcur.at(made.parent)
                set_times_where_supported(functools.partial(dst.set_times, h), made.name, st)
        finally:
            lcur.close()
            dcur.close()
            scur.close()

    def stage_one(self, e: _Entry, scur: _Cursor, dcur: _Cursor, lcur: _Cursor,
                  link_from: dict[int, tuple[_Node, str]],
                  new_dirs: list[tuple[_Node, Stat]]) -> None:
        src, dst = self.src, self.dst
        where = e.parent.twin  # the parent's place in the destination
        assert e.kind is not None and where is not None
        if e.step is not None:  # a step of its own: staged at a temporary name
            assert e.step.tmp is not None
            target = e.step.tmp
            self.staged.append((where, target))
        else:
            target = e.name  # inside a new directory, staged with it
        ddir = dcur.at(where)
        if e.kind == "dir":
            assert e.node is not None
            dst.mkdir(ddir, target)
            made = _Node(where, target, None)
            e.node.twin = made
            new_dirs.append((made, e.st))
        elif e.kind == "symlink":
            value = src.readlink(scur.at(e.parent), e.name)
            dst.symlink(value, ddir, target)
            set_times_where_supported(functools.partial(dst.set_times, ddir), target, e.st)
        elif not self.link_staged(e, ddir, target, lcur, link_from):
            st = e.st
            d = self.dst_entries.get((where, e.name))
            if d is not None and _stat.S_ISREG(d.mode):  # the host file's permissions stay
                st = st._replace(mode=(st.mode & ~0o7777) | (d.mode & 0o7777))
            copy_file(src, scur.at(e.parent), e.name, st, dst, ddir, target, self.bufs[0],
                      self.progress)
            if e.st.nlink > 1:
                link_from.setdefault(e.st.ino, (where, target))

    def link_staged(self, e: _Entry, ddir: Any, target: str, lcur: _Cursor,
                    link_from: dict[int, tuple[_Node, str]]) -> bool:
        """Stage ``e`` as a hard link of another name of its file; False when there is
        none yet, or the destination cannot link there."""
        if e.st.nlink < 2:
            return False
        found = link_from.get(e.st.ino)
        if found is None:
            return False
        try:
            self.dst.link(lcur.at(found[0]), found[1], ddir, target)
        except NotImplementedError:
            return False
        except OSError as exc:
            if exc.errno in NO_LINK:
                return False
            raise
        return True

    def unstage(self) -> None:
        """Remove every staged entry still at its temporary name (best effort)."""
        cursor = _Cursor(self.dst, self.ddir, self.droot)
        placed = {(s.parent, s.tmp) for s in self.done if s.placed}
        try:
            for where, tmp in self.staged:
                if (where, tmp) in placed:
                    continue
                try:
                    remove_entry(self.dst, cursor.at(where), tmp)
                except OSError:
                    self.report.leftovers.append(where.path(tmp))
        finally:
            cursor.close()

    # -- phase 3: commit ---------------------------------------------------------------------
    def add_removals(self, deletable: dict[tuple[_Node, str], bool]) -> None:
        for key in self.dst_order:
            if not deletable.get(key, False):
                continue
            parent, name = key
            if parent.gone or (parent.parent is not None
                               and deletable.get((parent.parent, parent.name), False)):
                continue  # goes with its directory
            d = self.dst_entries[key]
            change = WriteBackChange("delete", parent.path(name), _kind(d.mode) or "file")
            self.removals.append(_Step(parent, name, None, d, change))

    def commit(self) -> None:
        dst = self.dst
        cursor = _Cursor(dst, self.ddir, self.droot)
        try:
            for step in self.steps:
                self.check_cancel()
                ddir = cursor.at(step.parent)
                name = step.name
                try:
                    try:
                        now: Stat | None = dst.lstat(ddir, name)
                    except FileNotFoundError:
                        now = None
                    if (now is None) != (step.expect is None) or (
                            now is not None and step.expect is not None
                            and not _same_entry(step.expect, now, times=False)):
                        raise OSError(errno.EBUSY, "changed on the host during the "
                                      "write-back")
                    if step.tmp is not None and step.fsync:
                        handle = dst.open_file(ddir, step.tmp, read=False, write=True)
                        try:
                            dst.fsync(handle)
                        finally:
                            dst.close(handle)
                    self.done.append(step)
                    self.apply(step, ddir, now)
                except OSError as exc:
                    raise relabel(exc, self.label(self.report.dest,
                                                  step.parent.path(name))) from None
        finally:
            cursor.close()

    def apply(self, step: _Step, ddir: Any, now: Stat | None) -> None:
        dst = self.dst
        name = step.name
        if now is not None:  # keep the old entry until the end
            keep = self.temp_name()
            linked = False
            if step.tmp is not None and not _stat.S_ISDIR(now.mode) and \
                    step.change.kind != "dir":  # a rename can replace only a non-directory
                try:
                    dst.link(ddir, name, ddir, keep)
                    linked = True
                except NotImplementedError:
                    pass
                except OSError as exc:
                    if exc.errno not in NO_LINK:
                        raise
            if not linked:
                dst.rename(ddir, name, ddir, keep)
            step.kept_as = keep
            step.kept_by_link = linked
        if step.tmp is not None:
            dst.rename(ddir, step.tmp, ddir, name)  # atomic over a file kept by a link
            step.placed = True

    def undo(self) -> bool:
        """Undo the steps done, last first; False when one cannot be undone (it and those
        before it stay in :attr:`done`)."""
        dst = self.dst
        cursor = _Cursor(dst, self.ddir, self.droot)
        try:
            while self.done:
                step = self.done[-1]
                try:
                    ddir = cursor.at(step.parent)
                    if step.placed:
                        if step.kept_as is not None and step.kept_by_link:
                            dst.rename(ddir, step.kept_as, ddir, step.name)  # atomic back
                            step.kept_as = None
                        else:
                            assert step.tmp is not None
                            dst.rename(ddir, step.name, ddir, step.tmp)
                        step.placed = False
                    if step.kept_as is not None:
                        if step.kept_by_link:
                            dst.unlink(ddir, step.kept_as)
                        else:
                            dst.rename(ddir, step.kept_as, ddir, step.name)
                        step.kept_as = None
                except OSError:
                    return False
                self.done.pop()
            return True
        finally:
            cursor.close()

    # -- phase 4: finish ---------------------------------------------------------------------
    def finish(self) -> None:
        cursor = _Cursor(self.dst, self.ddir, self.droot)
        try:
            for step in self.done:
                if step.kept_as is None:
                    continue
                try:
                    remove_entry(self.dst, cursor.at(step.parent), step.kept_as)
                except OSError:
                    self.report.leftovers.append(step.parent.path(step.kept_as))
        finally:
            cursor.close()


# ------------------------------------------------------------------------------ the API
def mirror_tree(src: Backend, sdir: Any, dst: Backend, ddir: Any, *, slabel: str = "",
                dlabel: str = "", buf: bytearray | None = None,
                baseline: Baseline | None = None, report: WriteBackReport | None = None,
                cancel: _Cancel | None = None, progress: Progress | None = None
                ) -> WriteBackReport:
    """Make the directory ``ddir`` of ``dst`` hold what ``sdir`` of ``src`` holds without
    ever losing data (the module docstring tells how); returns the :class:`WriteBackReport`
    when every change was applied, else raises :class:`WriteBackError` holding it. After an
    error or a cancellation the destination is as it was (unless even undoing failed: the
    report then lists as applied exactly the changes that stay).

    ``baseline``: what a copy-in put where (:func:`~wasifs.backends.copy_tree` with
    ``baseline=``), so that what the guest never saw is left alone and what changed on the
    host meanwhile is not overwritten; without it everything in ``ddir`` counts as the
    source's to replace or delete (special files are never deleted). ``report``: a report
    to fill in, complete even when a ``KeyboardInterrupt`` (re-raised) ends the call.
    ``cancel``: an object with ``cancelled`` and ``error()`` (a :class:`wasifs.CancelToken`)
    checked between steps. ``slabel``/``dlabel`` name the trees in errors and the report.
    ``progress(n)`` is called as file data is copied (``n`` bytes at a time).
    """
    if report is None:
        report = WriteBackReport()
    report.source = report.source or slabel
    report.dest = report.dest or dlabel
    m = _Mirror(src, sdir, dst, ddir, baseline=baseline, report=report, buf=buf,
                cancel=cancel, progress=progress)
    try:
        m.scan_dst()
        m.plan_src()
        m.add_removals(m.plan_deletes())
        m.plan_placements()
        m.steps += m.removals
        m.stage()
        m.commit()
    except BaseException as exc:
        report.error = exc
        if m.done:
            report.rolled_back = m.undo()
        m.unstage()
        done = {id(s) for s in m.done}
        for step in m.steps:
            if id(step) not in done:
                report.not_applied.append(step.change)
                continue
            # a step that could not be undone: what it left is exactly reported, and
            # nothing more is deleted after an error (an old entry it kept stays, named)
            if step.kept_as is not None:
                report.leftovers.append(step.parent.path(step.kept_as))
            if step.placed or (step.tmp is None and step.kept_as is not None):
                report.applied.append(step.change)
            elif step.kept_as is not None and not step.kept_by_link:
                assert step.expect is not None  # moved aside, the new entry not in yet
                report.applied.append(WriteBackChange(
                    "delete", step.change.path, _kind(step.expect.mode) or "file"))
                report.not_applied.append(step.change)
            else:
                report.not_applied.append(step.change)
        if not isinstance(exc, Exception):
            raise
        raise WriteBackError(report) from exc
    report.applied.extend(step.change for step in m.steps)
    m.finish()
    if not report.complete:
        raise WriteBackError(report)
    return report


# ------------------------------------------------------------------------------ saving
def archive_tree(src: Backend, sdir: Any, out: IO[bytes], *, label: str = "") -> int:
    """Write everything inside ``sdir`` as a POSIX (pax) tar archive to the binary file
    ``out``: names of any length, symlinks, hard links, permission bits and modification
    times; returns the number of entries. Iterative: a tree of any depth."""
    chain = DirChain(src, sdir, owned=False)
    walk = TreeWalk(chain)
    seen: dict[int, str] = {}
    count = 0
    try:
        with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT,
                          encoding="utf-8", errors="surrogateescape") as tar:
            for name, st in walk:
                assert st is not None
                kind = _kind(st.mode)
                if kind is None:
                    continue
                rel = walk.where()
                info = tarfile.TarInfo(rel)
                info.mode = st.mode & 0o7777
                info.mtime = max(0, st.mtime_ns) // 1_000_000_000
                count += 1
                if kind == "dir":
                    info.type = tarfile.DIRTYPE
                    tar.addfile(info)
                elif kind == "symlink":
                    info.type = tarfile.SYMTYPE
                    info.linkname = src.readlink(chain.top, name)
                    tar.addfile(info)
                elif st.nlink > 1 and st.ino in seen:
                    info.type = tarfile.LNKTYPE
                    info.linkname = seen[st.ino]
                    tar.addfile(info)
                else:
                    if st.nlink > 1:
                        seen[st.ino] = rel
                    handle = src.open_file(chain.top, name, read=True, write=False)
                    with BackendFileIO(src, handle, rel, "rb", readable=True, writable=False,
                                       append=False) as f:
                        info.size = src.fstat(handle).size
                        tar.addfile(info, f)
    except OSError as exc:
        raise relabel(exc, label.rstrip("/") + "/" + walk.where() if label
                      else walk.where()) from None
    finally:
        chain.close()
    return count


def save_tree(src: Backend, sdir: Any, near: str, *, label: str = "") -> str:
    """Save the tree ``sdir`` as a tar archive (:func:`archive_tree`) next to the host
    folder ``near`` (``NEAR.wasifs-saved-<date>-<time>-<n>.tar``), or else in the system's
    temporary directory; returns the archive's path. Raises the last ``OSError`` when no
    place takes it."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = os.path.basename(os.path.normpath(os.path.abspath(near))) or "tree"
    last: OSError | None = None
    for place in (os.path.dirname(os.path.abspath(near)), tempfile.gettempdir()):
        for n in itertools.count():
            path = os.path.join(place, f"{base}.wasifs-saved-{stamp}-{n}.tar")
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL
                             | getattr(os, "O_CLOEXEC", 0), 0o600)
            except FileExistsError:
                continue
            except OSError as exc:
                last = exc
                break
            try:
                with open(fd, "wb") as f:
                    archive_tree(src, sdir, f, label=label)
            except OSError as exc:
                last = exc
                try:
                    os.unlink(path)
                except OSError:
                    pass
                break
            return path
    assert last is not None
    raise last

