"""Guest linear memory as the sans-I/O core sees it.

The core reaches a guest's linear memory only through a :class:`GuestMemory` ``mem``:

=============================  ==================================================================
``mem.size``                   bytes addressable now (whoever owns the memory keeps it current)
``mem.data[a:b]``              a readable buffer over ``[a, b)``: a view or a copy, valid until
                               the syscall returns (callers check ``b <= mem.size`` first)
``mem.data[a:b] = buf``        write ``buf`` (exactly ``b - a`` bytes) at ``a``
``mem.into[a:b]``              a writable buffer whose contents land at ``[a, b)``: the target
                               of a backend's ``pread``
``mem.pack[S](ptr, *values)``  ``S.pack_into`` at guest address ``ptr``
``mem.unpack[S](ptr)``         ``S.unpack_from`` at ``ptr``
``mem.flush()``                push writes that are still pending; an engine binding calls it
                               after every syscall (a no-op for a view)
=============================  ==================================================================

``pack`` and ``unpack`` are plain dicts keyed by the layouts in ``wasifs.abi`` (:data:`STRUCTS`);
out of bounds they raise ``struct.error``, as ``struct`` does on a short buffer.

Two implementations:

:class:`ViewMemory`
    zero-copy, over a writable ``memoryview`` of linear memory (wasmtime: a view of the
    store's memory, rebuilt by the binding when the memory grows). ``data`` and ``into`` are
    the view itself and ``pack[S]`` is ``S.pack_into`` already bound to it, so every access is
    the same single C call as slicing or packing the view directly.
:class:`CopyingMemory`
    for an engine whose memory Python cannot view (a JavaScript ``ArrayBuffer`` under
    Pyodide): a subclass supplies ``load(ptr, n)`` and ``store(ptr, data)``; reads copy out,
    writes copy in, and an ``into`` window is copied in when taken and written back at the
    next access or ``flush``, so the guest sees writes in the order the core made them.
    :class:`BufferCopyMemory` is one over any Python buffer, to test that path without a
    JavaScript engine.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from types import MethodType
from typing import Any, Protocol

from .. import abi as _abi

__all__ = (
    "BufferCopyMemory",
    "CopyingMemory",
    "GuestMemory",
    "MemoryData",
    "MemoryInto",
    "STRUCTS",
    "ViewMemory",
)

Packer = Callable[..., None]
Unpacker = Callable[[int], tuple[Any, ...]]


class MemoryData(Protocol):
    """``mem.data``: slices read and write guest memory."""

    def __getitem__(self, key: slice, /) -> memoryview: ...

    def __setitem__(self, key: slice, value: bytes | bytearray | memoryview, /) -> None: ...


class MemoryInto(Protocol):
    """``mem.into``: a slice is a writable buffer whose contents land in guest memory."""

    def __getitem__(self, key: slice, /) -> memoryview: ...


class GuestMemory(Protocol):
    """What the core needs of a guest's linear memory (see the module docstring)."""

    size: int
    data: MemoryData
    into: MemoryInto
    pack: Mapping[struct.Struct, Packer]
    unpack: Mapping[struct.Struct, Unpacker]

    def flush(self) -> None: ...


#: Every struct layout of the preview1 ABI: the keys of ``pack`` and ``unpack``.
STRUCTS: tuple[struct.Struct, ...] = tuple(
    getattr(_abi, name) for name in _abi.__all__ if name.endswith("_STRUCT"))


class ViewMemory:
    """Zero-copy guest memory over a writable byte view (a ``memoryview`` or a ``bytearray``).

    ``view`` is the memoryview itself (kept as given when it is one). Bind a new
    ``ViewMemory`` whenever the underlying memory moves or grows.
    """

    __slots__ = ("view", "size", "data", "into", "pack", "unpack")

    def __init__(self, view: memoryview | bytearray) -> None:
        mv = view if isinstance(view, memoryview) else memoryview(view)
        if mv.readonly:
            raise ValueError("guest memory must be writable")
        if mv.format != "B" or mv.ndim != 1:
            mv = mv.cast("B")
        self.view = mv
        self.size = mv.nbytes
        self.data: MemoryData = mv
        self.into: MemoryInto = mv
        # plain dicts (the interpreter's fast path for a subscript), one bound method per layout
        self.pack: Mapping[struct.Struct, Packer] = {
            s: MethodType(s.pack_into, mv) for s in STRUCTS}
        self.unpack: Mapping[struct.Struct, Unpacker] = {
            s: MethodType(s.unpack_from, mv) for s in STRUCTS}

    def flush(self) -> None:
        """Nothing is ever pending in a view."""

    def __repr__(self) -> str:
        return f"<ViewMemory {self.size} bytes>"


# ------------------------------------------------------------------------------ copying
def _span(key: slice, size: int) -> tuple[int, int]:
    if not isinstance(key, slice) or key.step not in (None, 1):
        raise TypeError("guest memory is addressed by contiguous slices [start:stop]")
    start = 0 if key.start is None else key.start
    stop = size if key.stop is None else key.stop
    if start < 0 or stop < 0:
        raise IndexError("guest addresses are unsigned")
    # as a memoryview slice: clipped to the memory
    start = min(start, size)
    return start, max(start, min(stop, size))


class _CopyData:
    __slots__ = ("_mem",)

    def __init__(self, mem: CopyingMemory) -> None:
        self._mem = mem

    def __getitem__(self, key: slice, /) -> memoryview:
        mem = self._mem
        if mem._pending:
            mem.flush()
        start, stop = _span(key, mem.size)
        return memoryview(mem.load(start, stop - start))

    def __setitem__(self, key: slice, value: bytes | bytearray | memoryview, /) -> None:
        mem = self._mem
        if mem._pending:
            mem.flush()
        start, stop = _span(key, mem.size)
        n = memoryview(value).nbytes
        if n != stop - start:
            raise ValueError(
                f"guest memory slice [{start}:{stop}] cannot take {n} bytes (sizes differ)")
        if n:
            mem.store(start, value)


class _CopyInto:
    __slots__ = ("_mem",)

    def __init__(self, mem: CopyingMemory) -> None:
        self._mem = mem

    def __getitem__(self, key: slice, /) -> memoryview:
        mem = self._mem
        if mem._pending:
            mem.flush()
        start, stop = _span(key, mem.size)
        # Copied in, so that writing the whole window back leaves untouched bytes as they were.
        window = bytearray(mem.load(start, stop - start))
        mem._pending.append((start, window))
        return memoryview(window)


def _copy_packer(mem: CopyingMemory, s: struct.Struct) -> Packer:
    size = s.size
    pack = s.pack

    def pack_into(ptr: int, *values: Any) -> None:
        if mem._pending:
            mem.flush()
        if ptr < 0 or ptr + size > mem.size:
            raise struct.error(f"pack_into at {ptr} needs {size} bytes of guest memory")
        mem.store(ptr, pack(*values))

    return pack_into


def _copy_unpacker(mem: CopyingMemory, s: struct.Struct) -> Unpacker:
    size = s.size
    unpack = s.unpack

    def unpack_from(ptr: int) -> tuple[Any, ...]:
        if mem._pending:
            mem.flush()
        if ptr < 0 or ptr + size > mem.size:
            raise struct.error(f"unpack_from at {ptr} needs {size} bytes of guest memory")
        return unpack(mem.load(ptr, size))

    return unpack_from


class CopyingMemory:
    """Guest memory reached by copies, for engines whose memory Python cannot view.

    Subclasses implement :meth:`load` and :meth:`store` (both within ``[0, size)``: the callers
    here check bounds) and keep :attr:`size` current, e.g. by re-reading it before each syscall.
    """

    def __init__(self, size: int = 0) -> None:
        self.size = size
        self._pending: list[tuple[int, bytearray]] = []
        self.data: MemoryData = _CopyData(self)
        self.into: MemoryInto = _CopyInto(self)
        self.pack: Mapping[struct.Struct, Packer] = {s: _copy_packer(self, s) for s in STRUCTS}
        self.unpack: Mapping[struct.Struct, Unpacker] = {
            s: _copy_unpacker(self, s) for s in STRUCTS}

    def load(self, ptr: int, n: int) -> bytes | bytearray | memoryview:
        """A copy of guest memory ``[ptr, ptr + n)``."""
        raise NotImplementedError

    def store(self, ptr: int, data: bytes | bytearray | memoryview) -> None:
        """Write ``data`` into guest memory at ``ptr``."""
        raise NotImplementedError

    def flush(self) -> None:
        """Write back the ``into`` windows handed out since the last access, oldest first."""
        pending = self._pending
        while pending:
            ptr, window = pending.pop(0)
            self.store(ptr, window)


class BufferCopyMemory(CopyingMemory):
    """A :class:`CopyingMemory` over a Python buffer: the copying path, testable anywhere."""

    def __init__(self, buf: bytearray | memoryview) -> None:
        self._buf = memoryview(buf).cast("B")
        super().__init__(self._buf.nbytes)
        #: how many load/store calls were made (what a JavaScript engine would cross for)
        self.copies = 0

    def load(self, ptr: int, n: int) -> bytes:
        self.copies += 1
        return self._buf[ptr : ptr + n].tobytes()

    def store(self, ptr: int, data: bytes | bytearray | memoryview) -> None:
        self.copies += 1
        n = memoryview(data).nbytes
        self._buf[ptr : ptr + n] = data
