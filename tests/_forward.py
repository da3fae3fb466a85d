"""A real guest that forwards one preview1 call with the arguments the test gives.

:func:`forward_wat` is a WAT module that imports every ``wasi_snapshot_preview1`` function
(or the named ones) and exports, under the same name, a function with the same signature
that calls it with its own arguments and returns the errno. A test instantiates it under
wasifs (:func:`wasifs_guest`) or under wasmtime-py's built-in WASI (:func:`wasmtime_guest`)
and calls exactly the syscall it wants with exactly the integers it wants (pointers near the
end of memory, lengths of 2^32-1, offsets of 2^63-1): a real module, a real engine, the real
binding, nothing in between.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

import wasmtime

import wasifs
from wasifs.abi import I64, SYSCALLS

__all__ = ("Guest", "forward_wat", "wasifs_guest", "wasmtime_guest", "PAGE")

PAGE = 65536


def forward_wat(names: Iterable[str] | None = None, *, pages: int = 1,
                max_pages: int | None = None) -> str:
    """The forwarding module for ``names`` (default: all 46), with ``pages`` pages of
    exported memory (growable up to ``max_pages``, and by the export ``grow``)."""
    chosen = sorted(SYSCALLS) if names is None else list(names)
    lines = ["(module"]
    for name in chosen:
        params, results = SYSCALLS[name]
        sig = "".join(f" (param {p})" for p in params) + "".join(
            f" (result {r})" for r in results)
        lines.append(f'  (import "wasi_snapshot_preview1" "{name}" (func ${name}{sig}))')
    limit = f" {max_pages}" if max_pages is not None else ""
    lines.append(f'  (memory (export "memory") {pages}{limit})')
    for name in chosen:
        params, results = SYSCALLS[name]
        sig = "".join(f" (param {p})" for p in params) + "".join(
            f" (result {r})" for r in results)
        body = " ".join(f"local.get {i}" for i in range(len(params)))
        lines.append(f'  (func (export "{name}"){sig} {body} call ${name})')
    lines.append('  (func (export "grow") (param i32) (result i32) local.get 0 memory.grow)')
    lines.append(")")
    return "\n".join(lines)


def _signed(value: int, ty: str) -> int:
    bits = 64 if ty == I64 else 32
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


class Guest:
    """One instance of the forwarding module: :meth:`call` a syscall, read and write its
    memory."""

    def __init__(self, store: wasmtime.Store, instance: wasmtime.Instance,
                 call: Any = None, owner: Any = None) -> None:
        self.store = store
        self.instance = instance
        exports = instance.exports(store)
        self.memory: wasmtime.Memory = exports["memory"]
        self._exports = exports
        self._call = call
        self.owner = owner

    def call(self, name: str, *args: int) -> int:
        """The errno the syscall ``name`` returns for ``args`` (unsigned or signed ints)."""
        params = SYSCALLS[name][0]
        if len(args) != len(params):
            raise TypeError(f"{name} takes {len(params)} arguments, got {len(args)}")
        values = [_signed(a, t) for a, t in zip(args, params, strict=True)]
        if self._call is not None:
            result = self._call(name, *values)
        else:
            result = self._exports[name](self.store, *values)
        return int(result) if result is not None else 0

    @property
    def size(self) -> int:
        return int(self.memory.data_len(self.store))

    def grow(self, pages: int) -> int:
        return int(self._exports["grow"](self.store, pages))

    def write(self, ptr: int, data: bytes) -> None:
        self.memory.write(self.store, data, ptr)

    def read(self, ptr: int, n: int) -> bytes:
        return bytes(self.memory.read(self.store, ptr, ptr + n))

    def u32(self, ptr: int) -> int:
        return int.from_bytes(self.read(ptr, 4), "little")

    def u64(self, ptr: int) -> int:
        return int.from_bytes(self.read(ptr, 8), "little")

    def close(self) -> None:
        if isinstance(self.owner, wasifs.GuestInstance):
            self.owner.close()


def wasifs_guest(mounts: Mapping[str, Any], *, names: Iterable[str] | None = None,
                 pages: int = 1, max_pages: int | None = None, strict: bool = True,
                 binding: Any = "auto", **kwargs: Any) -> Guest:
    """The forwarding module under wasifs (``strict``: a Python bug traps and re-raises
    instead of becoming EIO)."""
    wat = forward_wat(names, pages=pages, max_pages=max_pages)
    guest = wasifs.instantiate(wat, mounts=dict(mounts), strict=strict, binding=binding,
                               **kwargs)
    return Guest(guest.store, guest.instance, guest.call, owner=guest)


def wasmtime_guest(dirs: Mapping[str, str | os.PathLike[str]], *,
                   names: Iterable[str] | None = None, pages: int = 1,
                   max_pages: int | None = None) -> Guest:
    """The forwarding module under wasmtime-py's own WASI, ``dirs`` preopened (guest path
    -> host directory) in order, as fds 3, 4, ..."""
    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    config = wasmtime.WasiConfig()
    for guest_path, host in dirs.items():
        config.preopen_dir(os.fspath(host), guest_path)
    store.set_wasi(config)
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    module = wasmtime.Module(engine, forward_wat(names, pages=pages, max_pages=max_pages))
    instance = linker.instantiate(store, module)
    return Guest(store, instance)
