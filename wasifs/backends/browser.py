"""Mounts that outlast the page: an in-memory tree kept in IndexedDB or OPFS (or a file).

:class:`BrowserFileSystem` is a :class:`~wasifs.backends.memory.MemoryFileSystem` (same
semantics, same speed) that is loaded from a *store* when opened and written back to it as one
snapshot per flush, so a store only ever holds a whole tree as it was at one flush:

- ``IndexedDBStore``: one record in the database ``wasifs`` (object store ``snapshots``),
  put in one ``readwrite`` transaction (atomic, ``durability: "strict"``);
- ``OPFSStore``: the file ``wasifs/<name>.snapshot`` in the origin private file system,
  written through ``createWritable()``, which replaces the file only when closed (atomic);
- ``FileStore``: a host file, replaced with ``os.replace`` (CPython, or Pyodide over NODEFS).

When a flush happens:

- at ``fd_sync``/``fd_datasync`` of a file on the mount, synchronously, where synchronous code
  can wait: a ``FileStore`` always; IndexedDB and OPFS only where Pyodide can wait for a
  promise from inside the guest's call (``pyodide.ffi.can_run_sync()``: JavaScript Promise
  Integration with nothing but WebAssembly between the waiting code and the entry point). A
  failure then answers the guest ``EIO``;
- otherwise the flush is scheduled when a file is closed and at ``fd_sync`` (it runs when the
  JavaScript event loop next gets control, which for a synchronous guest is after it ends),
  and ``await fs.flush()`` (which ``wasifs.bind.pyodide.arun`` does at exit) writes the final
  state and waits for it.

A failed write-back is never dropped: it is logged on ``logging.getLogger("wasifs")``, kept in
:attr:`BrowserFileSystem.write_back_errors`, and raised as :class:`WriteBackError` by the next
``await fs.flush()``.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import os
import stat as _stat
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from .memory import MemoryFileSystem

__all__ = (
    "BrowserFileSystem",
    "FileStore",
    "IndexedDBStore",
    "OPFSStore",
    "SnapshotStore",
    "WriteBackError",
    "load_snapshot",
    "snapshot",
)

logger = logging.getLogger("wasifs")

_MAGIC = b"WASIFS-SNAPSHOT-1\n"
_LEN = struct.Struct("<Q")


class WriteBackError(OSError):
    """Writing a persistent mount back to its store failed."""


class SnapshotStore(Protocol):
    """Where a :class:`BrowserFileSystem` keeps its snapshot."""

    #: whether :meth:`save_sync` works (no promise to wait for)
    synchronous: bool

    async def load(self) -> bytes | None: ...

    async def save(self, data: bytes) -> None: ...

    def save_sync(self, data: bytes) -> None: ...


# ------------------------------------------------------------------------------ snapshots
def snapshot(fs: MemoryFileSystem) -> bytes:
    """The whole tree of ``fs`` as bytes: directories, files (contents, times), symlinks and
    hard links (by inode), walked through the backend protocol."""
    entries: list[list[Any]] = []
    chunks: list[bytes] = []
    offset = 0
    seen: dict[int, str] = {}

    def walk(d: Any, prefix: str) -> None:
        nonlocal offset
        for entry in sorted(fs.listdir(d), key=lambda e: e.name):
            path = prefix + entry.name
            st = fs.lstat(d, entry.name)
            times = [st.atime_ns, st.mtime_ns]
            if _stat.S_ISDIR(st.mode):
                entries.append([path, "dir", times])
                sub = fs.opendir(d, entry.name)
                try:
                    walk(sub, path + "/")
                finally:
                    fs.close(sub)
            elif _stat.S_ISLNK(st.mode):
                entries.append([path, "symlink", times, fs.readlink(d, entry.name)])
            elif _stat.S_ISREG(st.mode):
                if st.nlink > 1 and st.ino in seen:
                    entries.append([path, "link", times, seen[st.ino]])
                    continue
                seen[st.ino] = path
                f = fs.open_file(d, entry.name, read=True, write=False)
                try:
                    buf = bytearray(st.size)
                    n = fs.pread(f, memoryview(buf), 0) if st.size else 0
                finally:
                    fs.close(f)
                entries.append([path, "file", times, offset, n])
                chunks.append(bytes(buf[:n]))
                offset += n

    root = fs.root()
    try:
        walk(root, "")
    finally:
        fs.close(root)
    manifest = json.dumps(entries, separators=(",", ":")).encode()
    return b"".join([_MAGIC, _LEN.pack(len(manifest)), manifest, *chunks])


def load_snapshot(fs: MemoryFileSystem, data: bytes) -> None:
    """Recreate the tree of a :func:`snapshot` in ``fs`` (which should be empty)."""
    if not data.startswith(_MAGIC):
        raise ValueError("not a wasifs snapshot")
    pos = len(_MAGIC)
    (size,) = _LEN.unpack_from(data, pos)
    pos += _LEN.size
    entries = json.loads(data[pos : pos + size])
    base = pos + size
    root = fs.root()
    dirs: dict[str, Any] = {"": root}
    try:
        for entry in entries:
            path, kind, (atime, mtime) = entry[0], entry[1], entry[2]
            parent, _, name = path.rpartition("/")
            d = dirs[parent]
            if kind == "dir":
                fs.mkdir(d, name)
                dirs[path] = fs.opendir(d, name)
            elif kind == "symlink":
                fs.symlink(entry[3], d, name)
            elif kind == "link":
                src_parent, _, src_name = entry[3].rpartition("/")
                fs.link(dirs[src_parent], src_name, d, name)
            else:
                f = fs.open_file(d, name, read=False, write=True, create=True, truncate=True)
                try:
                    if entry[4]:
                        fs.pwrite(f, data[base + entry[3] : base + entry[3] + entry[4]], 0)
                finally:
                    fs.close(f)
            if kind != "symlink":
                fs.set_times(d, name, atime, mtime)
    finally:
        for h in dirs.values():
            fs.close(h)


# ------------------------------------------------------------------------------ stores
class FileStore:
    """A snapshot in a host file, replaced atomically (``os.replace``) on every save."""

    synchronous = True

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    async def load(self) -> bytes | None:
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            return None

    async def save(self, data: bytes) -> None:
        self.save_sync(data)

    def save_sync(self, data: bytes) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    def __repr__(self) -> str:
        return f"FileStore({str(self.path)!r})"


_GLUE_JS = """
(() => {
  const openDb = () => new Promise((resolve, reject) => {
    const req = indexedDB.open("wasifs", 1);
    req.onupgradeneeded = () => req.result.createObjectStore("snapshots");
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
    req.onblocked = () => reject(new Error("the wasifs database is blocked by another tab"));
  });
  const done = (tx) => new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error ?? new Error("IndexedDB transaction aborted"));
  });
  const opfsDir = async () =>
    (await navigator.storage.getDirectory()).getDirectoryHandle("wasifs", { create: true });
  return {
    hasIndexedDB: () => typeof indexedDB !== "undefined",
    hasOPFS: () => !!(globalThis.navigator?.storage?.getDirectory),
    async idbLoad(name) {
      const db = await openDb();
      try {
        const tx = db.transaction("snapshots", "readonly");
        const req = tx.objectStore("snapshots").get(name);
        await done(tx);
        return req.result;  // undefined (None in Python) when absent
      } finally { db.close(); }
    },
    async idbSave(name, bytes) {
      const db = await openDb();
      try {
        const tx = db.transaction("snapshots", "readwrite", { durability: "strict" });
        tx.objectStore("snapshots").put(bytes, name);
        await done(tx);
      } finally { db.close(); }
    },
    async opfsLoad(name) {
      try {
        const fh = await (await opfsDir()).getFileHandle(name + ".snapshot");
        return new Uint8Array(await (await fh.getFile()).arrayBuffer());
      } catch (e) {
        if (e.name === "NotFoundError") return undefined;
        throw e;
      }
    },
    async opfsSave(name, bytes) {
      const fh = await (await opfsDir()).getFileHandle(name + ".snapshot", { create: true });
      const w = await fh.createWritable();
      try { await w.write(bytes); } catch (e) { await w.abort(); throw e; }
      await w.close();
    },
  };
})()
"""
_glue: Any = None


def _js_glue() -> Any:
    global _glue
    if _glue is None:
        _glue = importlib.import_module("pyodide.code").run_js(_GLUE_JS)
    return _glue


def _to_js(data: bytes) -> Any:
    return importlib.import_module("pyodide.ffi").to_js(memoryview(data))


class _JsStore:
    synchronous = False
    _load_js = ""
    _save_js = ""

    def __init__(self, name: str) -> None:
        if not name or "/" in name:
            raise ValueError(f"a store name must be non-empty and have no '/': {name!r}")
        self.name = name

    async def load(self) -> bytes | None:
        got = await getattr(_js_glue(), self._load_js)(self.name)
        if got is None:
            return None
        data: bytes = got.to_bytes()
        return data

    async def save(self, data: bytes) -> None:
        await getattr(_js_glue(), self._save_js)(self.name, _to_js(data))

    def save_sync(self, data: bytes) -> None:
        raise RuntimeError(f"{type(self).__name__} saves asynchronously")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


class IndexedDBStore(_JsStore):
    """A snapshot as one record in IndexedDB (database ``wasifs``, store ``snapshots``)."""

    _load_js = "idbLoad"
    _save_js = "idbSave"


class OPFSStore(_JsStore):
    """A snapshot as the file ``wasifs/<name>.snapshot`` in the origin private file system."""

    _load_js = "opfsLoad"
    _save_js = "opfsSave"


def _make_store(name: str, store: str | SnapshotStore) -> SnapshotStore:
    if not isinstance(store, str):
        return store
    if store == "auto":
        store = "opfs" if _js_glue().hasOPFS() else "idb"
    if store == "idb":
        return IndexedDBStore(name)
    if store == "opfs":
        return OPFSStore(name)
    raise ValueError(f"store must be 'auto', 'idb', 'opfs' or a SnapshotStore, not {store!r}")


# ------------------------------------------------------------------------------ the mount
_MUTATORS = ("open_file", "pwrite", "append", "ftruncate", "allocate", "fset_times",
             "set_times", "mkdir", "rmdir", "unlink", "rename", "link", "symlink")


def _marking(name: str) -> Callable[..., Any]:
    method = getattr(MemoryFileSystem, name)

    def mutate(self: BrowserFileSystem, *args: Any, **kwargs: Any) -> Any:
        if name != "open_file" or kwargs.get("write") or kwargs.get("create") \
                or kwargs.get("truncate"):
            self.dirty = True
        return method(self, *args, **kwargs)

    mutate.__name__ = name
    mutate.__doc__ = method.__doc__
    return mutate


class BrowserFileSystem(MemoryFileSystem):
    """An in-memory tree that persists in a :class:`SnapshotStore` (see the module docs).

    Open one with ``fs = await BrowserFileSystem.open("notes")`` (OPFS where the browser has
    it, else IndexedDB), ``store="idb"``/``"opfs"``, or any store such as ``FileStore(path)``.
    """

    #: ``wasifs.bind.pyodide.arun`` awaits :meth:`flush` of mounts that say so
    persistent = True

    def __init__(self, store: SnapshotStore, **options: Any) -> None:
        super().__init__(**options)
        self.store = store
        #: whether the tree changed since the last snapshot was taken
        self.dirty = False
        #: write-backs that failed and were not yet raised by :meth:`flush`
        self.write_back_errors: list[BaseException] = []
        #: how many ``fd_sync`` calls waited for the store (rather than scheduling)
        self.sync_waits = 0
        self._task: Any = None

    @classmethod
    async def open(cls, name: str, *, store: str | SnapshotStore = "auto",
                   **options: Any) -> BrowserFileSystem:
        """A mount loaded from ``store`` (empty when the store has nothing yet)."""
        fs = cls(_make_store(name, store), **options)
        data = await fs.store.load()
        if data:
            load_snapshot(fs, bytes(data))
        fs.dirty = False
        return fs

    # -- flush triggers -------------------------------------------------------------------

    def fsync(self, file: Any, dataonly: bool = False) -> None:
        super().fsync(file, dataonly)
        if not self.dirty:
            return
        if self.store.synchronous:
            self._save_now()
            return
        ffi = _pyodide_ffi()
        if ffi is not None and ffi.can_run_sync():
            try:
                ffi.run_sync(self._save())
            except Exception as exc:  # noqa: BLE001 - reported to the guest
                raise WriteBackError(5, f"writing {self.store!r} back failed: {exc}") from exc
            self.sync_waits += 1
            return
        self._schedule()

    def close(self, handle: Any) -> None:
        super().close(handle)
        if self.dirty:
            if self.store.synchronous:
                self._save_now(raise_errors=False)
            else:
                self._schedule()

    async def flush(self) -> None:
        """Write the tree back if it changed, wait for every write-back, and raise
        :class:`WriteBackError` if one failed since the last flush."""
        task = self._task
        if task is not None:
            await asyncio.wait([task])
        if self.dirty:
            try:
                await self._save()
            except Exception:  # noqa: BLE001, S110 - kept in write_back_errors, raised below
                pass
        errors, self.write_back_errors = self.write_back_errors, []
        if errors:
            raise WriteBackError(5, f"writing {self.store!r} back failed: {errors[-1]}") \
                from errors[-1]

    # -- saving ---------------------------------------------------------------------------

    async def _save(self) -> None:
        self.dirty = False
        data = snapshot(self)
        try:
            await self.store.save(data)
        except BaseException as exc:
            self.dirty = True  # still not written: the next flush tries again
            self._failed(exc)
            raise

    def _save_now(self, *, raise_errors: bool = True) -> None:
        self.dirty = False
        try:
            self.store.save_sync(snapshot(self))
        except OSError as exc:
            self.dirty = True
            self._failed(exc)
            if raise_errors:
                raise WriteBackError(exc.errno or 5,
                                     f"writing {self.store!r} back failed: {exc}") from exc

    def _failed(self, exc: BaseException) -> None:
        logger.error("wasifs: writing %r back failed: %s", self.store, exc)
        self.write_back_errors.append(exc)

    def _schedule(self) -> None:
        if self._task is not None and not self._task.done():
            return  # the running one snapshots when it starts; flush() catches up

        async def later() -> None:
            try:
                await self._save()
            except BaseException:  # noqa: BLE001, S110 - kept in write_back_errors
                pass

        self._task = asyncio.ensure_future(later())


for _name in _MUTATORS:  # every call that can change the tree marks it dirty
    setattr(BrowserFileSystem, _name, _marking(_name))
del _name


def _pyodide_ffi() -> Any:
    try:
        return importlib.import_module("pyodide.ffi")
    except ImportError:
        return None
