"""Generate one specialised trampoline per syscall from ``wasifs.abi.SYSCALLS``.

The host-call hot path must not loop over argument lists or branch on value types, so the
Python source of every trampoline is written out here, once, at import time, and compiled
with ``exec``. Two families are generated:

* **raw** trampolines have wasmtime's unchecked callback signature
  ``(env, caller, args_and_results, nargs) -> size_t`` and read their arguments straight out of
  the ``wasmtime_val_raw_t`` slots, seen as a ``uint64_t`` array (each slot is ``stride``
  words wide; i32 values sit in the low half of the first word on a little-endian host);
* **checked** trampolines are plain Python functions ``(caller, *params) -> errno`` for
  ``wasmtime.Func(..., access_caller=True)``.

Both mask i32 parameters with ``& 0xFFFFFFFF`` (guest addresses at or above 2 GiB arrive
negative in a signed slot) and i64 parameters with ``& 0xFFFFFFFFFFFFFFFF``, so the core only
ever sees unsigned ints, in ``SYSCALL_PARAMS`` order.

Each generated *factory* takes the per-store state and the core's bound method and returns
the trampoline closure; closures keep the hot path on fast local/cell lookups.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from operator import index
from typing import Any, Final

from ..abi import I64, SYSCALL_PARAMS, SYSCALLS, Errno
from ..errors import ProcExit, WasiError

__all__ = ("DIRECT_REGIONS", "FAULT_RETRY", "NO_MEMORY", "CHECKED_FACTORIES", "build_raw_factories", "checked_source", "raw_source")

#: Syscalls that never read or write guest memory: their trampolines skip the memory refresh.
NO_MEMORY: Final = frozenset(
    {
        "fd_close",
        "fd_sync",
        "fd_datasync",
        "sched_yield",
        "proc_exit",
        "fd_renumber",
        "fd_advise",
        "fd_allocate",
        "fd_fdstat_set_flags",
        "fd_fdstat_set_rights",
        "fd_filestat_set_size",
        "fd_filestat_set_times",
        "proc_raise",
        "sock_shutdown",
    }
)

#: Syscalls whose every guest-memory region is named by their own arguments: (pointer
#: parameter, size in bytes or the name of the length parameter). When the binding knows that
#: the memory never moves (``st.trusted`` is the size of the current view, else -1), a call
#: whose regions all lie inside the view needs no fresh look at the memory's size: a memory
#: only grows, so what lay inside still does.
DIRECT_REGIONS: Final[dict[str, tuple[tuple[str, int | str], ...]]] = {
    "clock_time_get": (("time_ptr", 8),),
    "clock_res_get": (("resolution_ptr", 8),),
    "fd_seek": (("newoffset_ptr", 8),),
    "fd_tell": (("offset_ptr", 8),),
    "fd_fdstat_get": (("stat_ptr", 24),),
    "fd_filestat_get": (("buf_ptr", 64),),
    "fd_prestat_get": (("buf_ptr", 8),),
    "fd_prestat_dir_name": (("path_ptr", "path_len"),),
    "path_filestat_get": (("path_ptr", "path_len"), ("buf_ptr", 64)),
    "path_open": (("path_ptr", "path_len"), ("fd_ptr", 4)),
    "path_unlink_file": (("path_ptr", "path_len"),),
    "path_create_directory": (("path_ptr", "path_len"),),
    "path_remove_directory": (("path_ptr", "path_len"),),
    "random_get": (("buf_ptr", "buf_len"),),
    "args_sizes_get": (("argc_ptr", 4), ("argv_buf_size_ptr", 4)),
    "environ_sizes_get": (("environc_ptr", 4), ("environ_buf_size_ptr", 4)),
}

#: Calls that also follow pointers stored in guest memory (iovecs), but answer ``EFAULT``
#: before any effect when a buffer lies outside the view the core has, as long as the iovec
#: array and the result slot lie inside it: (iovec array, its length, result slot). With a
#: memory that never moves, their trampolines may skip the memory-size FFI call when the
#: array and the slot lie inside the view (``st.trusted``), and look only after an
#: ``EFAULT``: if the memory grew meanwhile, the call is made again on the grown view. Only
#: for ``WasiCore``'s own methods (the binding passes ``retry=True``): a wrapper or an
#: override could act before its ``EFAULT``.
FAULT_RETRY: Final[dict[str, tuple[str, str, str]]] = {
    "fd_read": ("iovs_ptr", "iovs_len", "nread_ptr"),
    "fd_write": ("iovs_ptr", "iovs_len", "nwritten_ptr"),
    "fd_pread": ("iovs_ptr", "iovs_len", "nread_ptr"),
    "fd_pwrite": ("iovs_ptr", "iovs_len", "nwritten_ptr"),
}

_M32: Final = "0xFFFFFFFF"
_M64: Final = "0xFFFFFFFFFFFFFFFF"


def raw_source(name: str, stride: int) -> str:
    """Python source of the raw-trampoline factory ``_factory_<name>``.

    ``stride`` is ``sizeof(wasmtime_val_raw_t) // 8``: slot ``i`` starts at word ``i * stride``.
    """
    params, results = SYSCALLS[name]
    retry = FAULT_RETRY.get(name)
    lines = [
        f"def _factory_{name}(st, method, ctx, mem_data, mem_size"
        + (", retry=False):" if retry else "):"),
        f"    def {name}(env, caller, args, nargs):",
        "        try:",
    ]
    argnames = []
    for i, ty in enumerate(params):
        # c_uint64 reads are already unsigned: only i32 slots need the mask (the high half of
        # an i32 slot is not guaranteed to be zero).
        word = f"args[{i * stride}]"
        lines.append(f"            a{i} = {word}" + ("" if ty == I64 else f" & {_M32}"))
        argnames.append(f"a{i}")
    if name not in NO_MEMORY:
        lines += [
            "            m = st.mem_ref",
            "            if m is None:",
            "                m = st.memory_from_raw_caller(caller)",
        ]
        indent = "            "
        if retry:
            pnames = SYSCALL_PARAMS[name]
            iovs, count, out = (f"a{pnames.index(p)}" for p in retry)
            call = f"method({', '.join(argnames)})"
            lines += [
                "            t = st.trusted",
                f"            if retry and {iovs} + 8 * {count} <= t and {out} + 4 <= t:",
                "                try:",
                f"                    r = {call}",
                "                except WasiError as exc:",
                "                    r = exc.errno",
                "                if r == FAULT:  # a buffer in memory grown since the view?",
                "                    n = mem_size(ctx, m)",
                "                    if n != st.size:",
                "                        st.remap(mem_data(ctx, m), n)",
                f"                        r = {call}",
                "                args[0] = r",
                "                return 0",
            ]
        regions = DIRECT_REGIONS.get(name)
        if regions:
            pnames = SYSCALL_PARAMS[name]
            ends = []
            for ptr, size in regions:
                end = f"a{pnames.index(ptr)} + " + (
                    str(size) if isinstance(size, int) else f"a{pnames.index(size)}")
                ends.append(f"{end} > t")
            lines += ["            t = st.trusted", f"            if {' or '.join(ends)}:"]
            indent += "    "
        lines += [
            # A linear memory only moves when it grows, and growing changes its size: one
            # FFI call (the size) per syscall, the base pointer only re-read after a change.
            f"{indent}n = mem_size(ctx, m)",
            f"{indent}if n != st.size:",
            f"{indent}    st.remap(mem_data(ctx, m), n)",
        ]
    call = f"method({', '.join(argnames)})"
    if results:
        lines += [
            f"            args[0] = {call}",
            "            return 0",
            "        except WasiError as exc:",
            "            args[0] = exc.errno",
            "            return 0",
        ]
    else:  # proc_exit: a core that returns instead of raising still ends the run
        lines += [
            f"            {call}",
            f"            raise ProcExit({argnames[0] if argnames else '0'})",
        ]
    lines += [
        "        except BaseException as exc:",
        f"            return st.fail_raw({name!r}, exc, args)",
        f"    return {name}",
    ]
    return "\n".join(lines) + "\n"


def checked_source(name: str) -> str:
    """Python source of the checked-trampoline factory ``_factory_<name>``."""
    params, results = SYSCALLS[name]
    argnames = [f"a{i}" for i in range(len(params))]
    lines = [
        f"def _factory_{name}(st, method):",
        f"    def {name}({', '.join(['caller', *argnames])}):",
        "        try:",
    ]
    for i, ty in enumerate(params):
        lines.append(f"            a{i} &= {_M64 if ty == I64 else _M32}")
    if name not in NO_MEMORY:
        lines.append("            st.refresh_checked(caller)")
    call = f"method({', '.join(argnames)})"
    if results:
        lines += [
            f"            return index({call})",
            "        except WasiError as exc:",
            "            return exc.errno",
        ]
    else:
        lines += [
            f"            {call}",
            f"            raise ProcExit({argnames[0] if argnames else '0'})",
        ]
    lines += [
        "        except BaseException as exc:",
        f"            return st.fail_checked({name!r}, exc, ({''.join(a + ', ' for a in argnames)}))",
        f"    return {name}",
    ]
    return "\n".join(lines) + "\n"


def _compile(sources: dict[str, str], tag: str) -> dict[str, Callable[..., Any]]:
    namespace: dict[str, Any] = {"WasiError": WasiError, "ProcExit": ProcExit, "index": index,
                                 "FAULT": int(Errno.FAULT)}
    code = compile("".join(sources.values()), f"<wasifs.bind {tag} trampolines>", "exec")
    exec(code, namespace)
    return {name: namespace[f"_factory_{name}"] for name in sources}


class _Factories(Mapping[str, Callable[..., Any]]):
    """name -> factory, each compiled on first use: a process compiles only the trampolines
    of the syscalls its guests import (compiling all of them costs tens of milliseconds at
    start-up)."""

    def __init__(self, source: Callable[[str], str], tag: str) -> None:
        self._source = source
        self._tag = tag
        self._done: dict[str, Callable[..., Any]] = {}

    def __getitem__(self, name: str) -> Callable[..., Any]:
        factory = self._done.get(name)
        if factory is None:
            if name not in SYSCALLS:
                raise KeyError(name)
            # two threads may both compile one: the results are equivalent
            factory = self._done[name] = _compile({name: self._source(name)}, self._tag)[name]
        return factory

    def __iter__(self) -> Iterator[str]:
        return iter(SYSCALLS)

    def __len__(self) -> int:
        return len(SYSCALLS)


def build_raw_factories(stride: int) -> Mapping[str, Callable[..., Any]]:
    """The raw factories for a slot stride (in 8-byte words), compiled on first use."""
    return _Factories(lambda name: raw_source(name, stride), "raw")


#: name -> factory(state, method) -> checked trampoline
CHECKED_FACTORIES: Final = _Factories(checked_source, "checked")
