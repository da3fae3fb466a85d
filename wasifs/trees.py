"""File trees as plain Python values, for setting up and checking guests' filesystems.

A tree is a ``dict`` from ``/``-separated relative paths to:

- ``str`` — a text file (UTF-8), or ``bytes`` — a binary file;
- :class:`Link` — a symlink (``Link("target")``);
- :data:`DIR` — a directory (only needed for empty ones: parents are implied when writing).

:func:`write_tree` puts one into any backend, :func:`read_tree` reads one back (every
directory listed), and :func:`assert_tree` compares with a readable diff.
"""

from __future__ import annotations

import difflib
import stat as _stat
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from .backends import Backend, DirChain, TreeWalk

__all__ = ("Link", "DIR", "Tree", "read_tree", "write_tree", "assert_tree", "format_tree",
           "diff_trees")


@dataclass(frozen=True)
class Link:
    """A symlink and its target, in a tree."""

    target: str

    def __repr__(self) -> str:
        return f"Link({self.target!r})"


class _Dir:
    __slots__ = ()

    def __repr__(self) -> str:
        return "DIR"


#: A directory, in a tree.
DIR: Final = _Dir()

Entry = str | bytes | Link | _Dir
Tree = dict[str, Entry]


def _parts(path: str) -> list[str]:
    parts = [p for p in path.strip("/").split("/") if p and p != "."]
    if not parts or ".." in parts:
        raise ValueError(f"tree paths must be relative, without '..': {path!r}")
    return parts


def write_tree(backend: Backend, tree: Mapping[str, Entry | Any]) -> None:
    """Create every entry of ``tree`` under the backend's root (parents as needed; existing
    files are replaced)."""
    root = backend.root()
    try:
        for path, value in tree.items():
            parts = _parts(path)
            handles = [root]
            try:
                for name in parts[:-1]:
                    try:
                        backend.mkdir(handles[-1], name)
                    except FileExistsError:
                        pass
                    handles.append(backend.opendir(handles[-1], name))
                d, name = handles[-1], parts[-1]
                if isinstance(value, _Dir):
                    try:
                        backend.mkdir(d, name)
                    except FileExistsError:
                        pass
                elif isinstance(value, Link):
                    backend.symlink(value.target, d, name)
                elif isinstance(value, (str, bytes, bytearray)):
                    data = value.encode() if isinstance(value, str) else bytes(value)
                    f = backend.open_file(d, name, read=False, write=True, create=True,
                                          truncate=True)
                    try:
                        if data:
                            backend.pwrite(f, data, 0)
                    finally:
                        backend.close(f)
                else:
                    raise TypeError(f"{path}: a tree value is str, bytes, Link or DIR, "
                                    f"not {type(value).__name__}")
            finally:
                for h in handles[1:]:
                    backend.close(h)
    finally:
        backend.close(root)


def read_tree(backend: Backend, *, text: bool = True) -> Tree:
    """Every entry under the backend's root: files as ``str`` when they decode as UTF-8 and
    ``text`` is true (else ``bytes``), symlinks as :class:`Link`, directories as :data:`DIR`.
    Iterative: a tree of any depth."""
    out: Tree = {}
    chain = DirChain(backend, backend.root(), owned=True)
    walk = TreeWalk(chain, sort=True)
    try:
        for name, st in walk:
            assert st is not None
            path = walk.where()
            if _stat.S_ISDIR(st.mode):
                out[path] = DIR
            elif _stat.S_ISLNK(st.mode):
                out[path] = Link(backend.readlink(chain.top, name))
            else:
                out[path] = _read_file(backend, chain.top, name, text)
    finally:
        chain.close()
    return out


def _read_file(backend: Backend, d: Any, name: str, text: bool) -> str | bytes:
    f = backend.open_file(d, name, read=True, write=False)
    try:
        size = backend.fstat(f).size
        buf = bytearray(size)
        n = backend.pread(f, memoryview(buf), 0) if size else 0
        data = bytes(buf[:n])
    finally:
        backend.close(f)
    if text:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            pass
    return data


def _normalise(tree: Mapping[str, Any]) -> Tree:
    """Expected trees may leave parents implicit; make them explicit."""
    out: Tree = {}
    for path, value in tree.items():
        parts = _parts(path)
        for i in range(1, len(parts)):
            out.setdefault("/".join(parts[:i]), DIR)
        out["/".join(parts)] = value
    return out


def format_tree(tree: Mapping[str, Any]) -> list[str]:
    lines = []
    for path in sorted(tree):
        v = tree[path]
        if isinstance(v, _Dir):
            lines.append(f"{path}/")
        elif isinstance(v, Link):
            lines.append(f"{path} -> {v.target}")
        elif isinstance(v, str):
            body = v if len(v) <= 200 else v[:200] + f"... ({len(v)} chars)"
            lines.append(f"{path}: {body!r}")
        else:
            b = bytes(v)
            body = repr(b if len(b) <= 64 else b[:64]) + ("" if len(b) <= 64 else
                                                           f"... ({len(b)} bytes)")
            lines.append(f"{path}: {body}")
    return lines


def diff_trees(actual: Mapping[str, Any], expected: Mapping[str, Any]) -> str:
    """A unified diff of two trees ('' when equal)."""
    a, e = _normalise(actual), _normalise(expected)
    if a == e:
        return ""
    return "\n".join(difflib.unified_diff(format_tree(e), format_tree(a), "expected", "actual",
                                          lineterm=""))


def assert_tree(actual: Mapping[str, Any] | Backend, expected: Mapping[str, Any]) -> None:
    """Assert that a tree (or a backend's whole tree) equals ``expected`` (parents may be
    left out of ``expected``); the error shows a unified diff."""
    if not isinstance(actual, Mapping):
        actual = read_tree(actual)
    diff = diff_trees(actual, expected)
    if diff:
        raise AssertionError("file trees differ:\n" + diff)
