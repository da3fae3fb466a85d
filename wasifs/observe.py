"""What a guest did: audit events of its filesystem calls and metrics of its syscalls.

Both are off by default and cost nothing then: :func:`instrument` puts wrapped syscall
methods on a core only when a run asks for an audit log or metrics (``RunOptions.audit``,
``RunOptions.metrics``); a run without them calls the core's own methods.

- **Audit**: every ``fd_*`` and ``path_*`` call becomes an :class:`AuditEvent` (time,
  syscall, descriptor, the guest path it names, the mount it is under, the errno, the bytes
  moved) handed to a sink: :class:`LoggingSink` (the ``wasifs.audit`` logger),
  :class:`JsonLinesSink` (one JSON object per line, what ``wasifs run --audit FILE``
  writes) or any callable. Paths and sizes only, never file contents.
- **Metrics**: :class:`Metrics` counts calls, errors and bytes per syscall and keeps a
  latency histogram; read it as a plain dict (:meth:`Metrics.as_dict`), as a table
  (:meth:`Metrics.summary`, ``wasifs run --stats``) or through ``prometheus_client``
  (:meth:`Metrics.register` on a ``CollectorRegistry``; the ``metrics`` extra).

This module imports nothing of wasifs but :mod:`wasifs.abi`, so that any layer (the core,
the VFS, a backend wrapper) can emit through it. The core is reached by duck typing: its
syscall methods, ``memory`` (a :class:`~wasifs.wasi.GuestMemory`) and ``fds``.
"""

from __future__ import annotations

import bisect
import io
import json
import logging
import os
import posixpath
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any, Final, cast

from .abi import SYSCALL_PARAMS, SYSCALLS, Errno

__all__ = (
    "AuditEvent",
    "AuditSink",
    "JsonLinesSink",
    "LATENCY_BUCKETS",
    "LoggingSink",
    "Metrics",
    "audit_sink",
    "instrument",
)

AuditSink = Callable[["AuditEvent"], object]

#: Upper bounds of the latency histogram's buckets, in seconds (then ``+Inf``).
LATENCY_BUCKETS: Final = (1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3,
                          2.5e-3, 5e-3, 1e-2, 2.5e-2, 0.1, 1.0, 10.0)
_BOUNDS_NS: Final = tuple(round(b * 1e9) for b in LATENCY_BUCKETS)
#: A path longer than this is not read out of guest memory (the call fails: ENAMETOOLONG).
_PATH_MAX: Final = 4096
_ERRNO_NAMES: Final = {int(e): e.name.lower() for e in Errno}
_EIO: Final = int(Errno.IO)
#: A str as a JSON string (the C encoder ``json.dumps`` uses, non-ASCII kept as it is).
_json_str: Final[Callable[[str], str]] = getattr(json.encoder, "c_encode_basestring", None) \
    or json.encoder.encode_basestring


@dataclass(slots=True)
class AuditEvent:
    """One filesystem call of a guest (made for each call: a plain slotted class, which is
    cheaper to build than a frozen one)."""

    #: when the call started (seconds since the epoch)
    time: float
    #: the preview1 function (``path_open``, ``fd_write`` ...)
    syscall: str
    #: the descriptor it was made on (``None`` for ``path_symlink``'s missing one)
    fd: int | None
    #: the guest path it names: the descriptor's own for ``fd_*`` calls, the path argument
    #: joined to the directory's for ``path_*`` calls (``.`` and ``..`` folded lexically,
    #: as given: symlinks are not followed here); ``None`` for stdio and bad arguments
    path: str | None
    #: the mount point the descriptor belongs to (``None`` for stdio)
    mount: str | None
    #: the errno the guest got (0: success); ``None`` when the call ended the guest call
    #: (``proc_exit``, a cancelled wait, a bug in strict mode: see ``error``)
    errno: int | None
    #: bytes read, written, listed or returned (``fd_read``/``fd_write``/``fd_pread``/
    #: ``fd_pwrite``/``fd_readdir``/``path_readlink``), else ``None``
    bytes: int | None = None
    #: the second path of ``path_rename`` and ``path_link`` (the new name)
    new_path: str | None = None
    #: the target text of ``path_symlink``
    target: str | None = None
    #: how long the call took (nanoseconds)
    duration_ns: int = 0
    #: the exception that ended the call instead of an errno
    error: str | None = None

    @property
    def errno_name(self) -> str | None:
        """``"success"``, ``"noent"``, ``"notcapable"`` ... (``None`` without an errno)."""
        if self.errno is None:
            return None
        return _ERRNO_NAMES.get(self.errno, str(self.errno))

    def as_dict(self) -> dict[str, Any]:
        """The event as JSON-ready values (fields that are ``None`` left out)."""
        out: dict[str, Any] = {"time": round(self.time, 6), "syscall": self.syscall}
        for key in ("fd", "path", "mount", "errno"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        if self.errno is not None:
            out["result"] = self.errno_name
        for key in ("bytes", "new_path", "target", "error"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        out["duration_us"] = round(self.duration_ns / 1000, 3)
        return out

    def to_json(self) -> str:
        """:meth:`as_dict` as one line of JSON (what :class:`JsonLinesSink` writes), built
        directly: the same text as ``json.dumps(self.as_dict(), ensure_ascii=False)`` but
        for how the two floats are spelled."""
        out = [f'{{"time": {self.time:.6f}, "syscall": "{self.syscall}"']
        if self.fd is not None:
            out.append(f', "fd": {self.fd}')
        if self.path is not None:
            out.append(f', "path": {_json_str(self.path)}')
        if self.mount is not None:
            out.append(f', "mount": {_json_str(self.mount)}')
        if self.errno is not None:
            out.append(f', "errno": {self.errno}, "result": "{self.errno_name}"')
        if self.bytes is not None:
            out.append(f', "bytes": {self.bytes}')
        if self.new_path is not None:
            out.append(f', "new_path": {_json_str(self.new_path)}')
        if self.target is not None:
            out.append(f', "target": {_json_str(self.target)}')
        if self.error is not None:
            out.append(f', "error": {_json_str(self.error)}')
        out.append(f', "duration_us": {self.duration_ns / 1000:.3f}}}')
        return "".join(out)

    def __str__(self) -> str:
        parts = [self.syscall]
        if self.fd is not None:
            parts.append(f"fd={self.fd}")
        if self.path is not None:
            parts.append(f"path={self.path!r}")
        if self.new_path is not None:
            parts.append(f"new_path={self.new_path!r}")
        if self.target is not None:
            parts.append(f"target={self.target!r}")
        if self.mount is not None:
            parts.append(f"mount={self.mount}")
        parts.append(f"result={self.errno_name or self.error}")
        if self.bytes is not None:
            parts.append(f"bytes={self.bytes}")
        return " ".join(parts)


# ---------------------------------------------------------------------------- sinks
class LoggingSink:
    """Audit events as log records on ``logger`` (default ``wasifs.audit``) at ``level``
    (default ``INFO``); each record's ``audit`` attribute holds :meth:`AuditEvent.as_dict`."""

    def __init__(self, logger: str | logging.Logger = "wasifs.audit",
                 level: int = logging.INFO) -> None:
        self.logger = logging.getLogger(logger) if isinstance(logger, str) else logger
        self.level = level

    def __call__(self, event: AuditEvent) -> None:
        if self.logger.isEnabledFor(self.level):
            self.logger.log(self.level, "%s", event, extra={"audit": event.as_dict()})


class JsonLinesSink:
    """Audit events as JSON lines (:meth:`AuditEvent.as_dict`), one per event, into a file
    named by ``target`` (created or truncated; ``append=True`` appends) or a file object
    (text or binary). Thread-safe; :meth:`close` (or the ``with`` block) flushes, and closes
    the file when it opened it."""

    def __init__(self, target: str | os.PathLike[str] | IO[str] | IO[bytes], *,
                 append: bool = False) -> None:
        self._lock = threading.Lock()
        self._owned = isinstance(target, (str, os.PathLike))
        self._file: IO[str]
        if isinstance(target, (str, os.PathLike)):
            self._file = open(target, "a" if append else "w", encoding="utf-8")  # noqa: SIM115
        elif isinstance(target, io.TextIOBase) or not _is_binary(target):
            self._file = target  # type: ignore[assignment]
        else:
            self._file = io.TextIOWrapper(cast(Any, target), encoding="utf-8",
                                          write_through=True)
        self.count = 0

    def __call__(self, event: AuditEvent) -> None:
        line = event.to_json() + "\n"
        with self._lock:
            self._file.write(line)
            self.count += 1

    def flush(self) -> None:
        with self._lock:
            self._file.flush()

    def close(self) -> None:
        with self._lock:
            self._file.flush()
            if self._owned:
                self._file.close()

    def __enter__(self) -> JsonLinesSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _is_binary(f: Any) -> bool:
    mode = getattr(f, "mode", "")
    return isinstance(f, (io.RawIOBase, io.BufferedIOBase)) or (isinstance(mode, str)
                                                                and "b" in mode)


def audit_sink(spec: AuditSink | bool | None) -> AuditSink | None:
    """The sink for ``RunOptions.audit``: ``None``/``False`` (off), ``True`` (a
    :class:`LoggingSink`), or a callable taking an :class:`AuditEvent`."""
    if spec is None or spec is False:
        return None
    if spec is True:
        return LoggingSink()
    if not callable(spec):
        raise TypeError(f"audit must be True, a callable taking an AuditEvent (such as "
                        f"wasifs.observe.JsonLinesSink(path)) or None, not {type(spec).__name__}")
    return spec


# ---------------------------------------------------------------------------- metrics
# A row of counters per syscall: calls, errors, bytes, total ns, then one count per bucket
# (the last one +Inf).
_CALLS, _ERRORS, _BYTES, _NS, _HIST = 0, 1, 2, 3, 4
_ROW_LEN: Final = _HIST + len(_BOUNDS_NS) + 1


def _new_table() -> dict[str, list[int]]:
    return {name: [0] * _ROW_LEN for name in SYSCALLS}


class Metrics:
    """Per-syscall counts, errors (calls that did not return success), bytes moved and a
    latency histogram, summed over every run given this object (``metrics=``).

    Each run counts into a table of its own (a run is on one thread at a time, so counting
    takes no lock), folded into the totals when the run's descriptors are closed; readers
    see the totals plus the tables of the runs still going.

    ``registry``: a ``prometheus_client.CollectorRegistry`` to :meth:`register` on at once.
    """

    def __init__(self, registry: Any = None, *, namespace: str = "wasifs") -> None:
        self._lock = threading.Lock()
        self._base = _new_table()
        self._live: dict[int, dict[str, list[int]]] = {}
        self._keys = 0
        self.namespace = namespace
        if registry is not None:
            self.register(registry)

    def __repr__(self) -> str:
        calls = sum(row[_CALLS] for row in self._rows().values())
        return f"<wasifs.observe.Metrics: {calls} calls>"

    # -- counting (used by instrument) ----------------------------------------------------------
    def _open_table(self) -> tuple[int, dict[str, list[int]]]:
        table = _new_table()
        with self._lock:
            self._keys += 1
            key = self._keys
            self._live[key] = table
        return key, table

    def _close_table(self, key: int) -> None:
        with self._lock:
            table = self._live.pop(key, None)
            if table is None:
                return
            for name, row in table.items():
                if row[_CALLS]:
                    base = self._base[name]
                    for i, v in enumerate(row):
                        base[i] += v

    def _rows(self) -> dict[str, list[int]]:
        with self._lock:
            tables = [self._base, *self._live.values()]
            out = {name: list(row) for name, row in self._base.items()}
            for table in tables[1:]:
                for name, row in table.items():
                    if row[_CALLS]:
                        total = out[name]
                        for i, v in enumerate(row):
                            total[i] += v
        return out

    # -- reading ----------------------------------------------------------------------------
    def as_dict(self) -> dict[str, dict[str, Any]]:
        """``{syscall: {"calls", "errors", "bytes", "seconds", "buckets"}}`` for every syscall
        called at least once; ``buckets`` maps each upper bound in seconds (and
        ``"+Inf"``) to the number of calls that took at most that long (cumulative, as
        Prometheus histograms are)."""
        out: dict[str, dict[str, Any]] = {}
        for name, row in sorted(self._rows().items()):
            if not row[_CALLS]:
                continue
            buckets: dict[str, int] = {}
            running = 0
            for bound, count in zip((*LATENCY_BUCKETS, "+Inf"), row[_HIST:], strict=True):
                running += count
                buckets[str(bound)] = running
            out[name] = {"calls": row[_CALLS], "errors": row[_ERRORS], "bytes": row[_BYTES],
                         "seconds": row[_NS] / 1e9, "buckets": buckets}
        return out

    def total_calls(self) -> int:
        return sum(row[_CALLS] for row in self._rows().values())

    def summary(self) -> str:
        """A table, one line per syscall called: calls, errors, bytes, total and mean
        time, and the histogram bucket that holds the 99th percentile."""
        rows = self._rows()
        lines = [f"{'syscall':<24}{'calls':>10}{'errors':>8}{'bytes':>14}{'total ms':>11}"
                 f"{'mean us':>10}{'p99 us <=':>11}"]
        total = [0, 0, 0, 0]
        for name, row in sorted(rows.items(), key=lambda kv: (-kv[1][_CALLS], kv[0])):
            calls = row[_CALLS]
            if not calls:
                continue
            lines.append(f"{name:<24}{calls:>10,}{row[_ERRORS]:>8,}{row[_BYTES]:>14,}"
                         f"{row[_NS] / 1e6:>11.2f}{row[_NS] / calls / 1e3:>10.2f}"
                         f"{_p99(row):>11}")
            for i in range(4):
                total[i] += row[i]
        lines.append(f"{'total':<24}{total[0]:>10,}{total[1]:>8,}{total[2]:>14,}"
                     f"{total[3] / 1e6:>11.2f}")
        return "\n".join(lines)

    # -- prometheus ---------------------------------------------------------------------------
    def register(self, registry: Any = None) -> Metrics:
        """Expose these metrics through ``prometheus_client`` on ``registry`` (default: its
        global ``REGISTRY``): ``<namespace>_syscalls_total``,
        ``<namespace>_syscall_errors_total``, ``<namespace>_syscall_bytes_total`` (counters)
        and ``<namespace>_syscall_duration_seconds`` (a histogram), each labelled with the
        ``syscall``. Needs the ``metrics`` extra (``pip install 'wasifs[metrics]'``)."""
        try:
            import prometheus_client
        except ImportError as exc:
            raise ImportError("Metrics.register needs prometheus_client: "
                              "pip install 'wasifs[metrics]'") from exc
        target = registry if registry is not None else prometheus_client.REGISTRY
        target.register(_Collector(self))
        return self


def _p99(row: list[int]) -> str:
    calls = row[_CALLS]
    want = calls - calls // 100
    running = 0
    for bound, count in zip((*_BOUNDS_NS, None), row[_HIST:], strict=True):
        running += count
        if running >= want:
            return "inf" if bound is None else f"{bound / 1000:g}"
    return "inf"


class _Collector:
    """A ``prometheus_client`` collector reading a :class:`Metrics` at every scrape."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def describe(self) -> list[Any]:
        return list(self.collect(empty=True))

    def collect(self, empty: bool = False) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily

        ns = self.metrics.namespace
        calls = CounterMetricFamily(f"{ns}_syscalls", "WASI syscalls made by guests",
                                    labels=["syscall"])
        errors = CounterMetricFamily(f"{ns}_syscall_errors",
                                     "WASI syscalls that returned an errno other than success",
                                     labels=["syscall"])
        moved = CounterMetricFamily(f"{ns}_syscall_bytes",
                                    "bytes read, written or listed by WASI syscalls",
                                    labels=["syscall"])
        latency = HistogramMetricFamily(f"{ns}_syscall_duration_seconds",
                                        "time spent in the host for each WASI syscall",
                                        labels=["syscall"])
        if not empty:
            for name, row in sorted(self.metrics._rows().items()):
                if not row[_CALLS]:
                    continue
                calls.add_metric([name], row[_CALLS])
                errors.add_metric([name], row[_ERRORS])
                moved.add_metric([name], row[_BYTES])
                running = 0
                buckets = []
                for bound, count in zip((*LATENCY_BUCKETS, "+Inf"), row[_HIST:], strict=True):
                    running += count
                    buckets.append((str(bound), running))
                latency.add_metric([name], buckets, row[_NS] / 1e9)
        yield from (calls, errors, moved, latency)


# ---------------------------------------------------------------------------- instrumenting
#: The u32 result slot (parameter index) holding the bytes a successful call moved.
_BYTES_OUT: Final = {
    name: SYSCALL_PARAMS[name].index(param)
    for name, param in (("fd_read", "nread_ptr"), ("fd_pread", "nread_ptr"),
                        ("fd_write", "nwritten_ptr"), ("fd_pwrite", "nwritten_ptr"),
                        ("fd_readdir", "bufused_ptr"), ("path_readlink", "bufused_ptr"))
}
#: (fd, path pointer, path length) parameter indexes of the path a call names, and of its
#: second path (rename/link) or symlink target.
_PATH_ARGS: Final = {
    name: (params.index("fd") if "fd" in params else params.index("old_fd"),
           params.index("path_ptr" if "path_ptr" in params else "old_path_ptr"))
    for name, params in SYSCALL_PARAMS.items()
    if name.startswith("path_") and name != "path_symlink"
}
_NEW_PATH_ARGS: Final = {"path_rename": (3, 4), "path_link": (4, 5)}  # new fd, new path ptr
_NO_PATH: Final = (None, None)


def _is_filesystem_call(name: str) -> bool:
    return name.startswith(("fd_", "path_"))


class _Instrumented:
    """The state :func:`instrument` keeps for one core: the guest path and mount of every
    descriptor (followed through ``path_open``, ``fd_renumber`` and ``fd_close``), the sink
    and the metrics table."""

    def __init__(self, core: Any, audit: AuditSink | None, metrics: Metrics | None) -> None:
        self.core = core
        self.audit = audit
        self.metrics = metrics
        self.key = 0
        self.table: dict[str, list[int]] | None = None
        if metrics is not None:
            self.key, self.table = metrics._open_table()
        self.paths: dict[int, tuple[str | None, str | None]] = {}
        for fd, d in enumerate(getattr(core, "fds", ())):
            preopen = getattr(d, "preopen", None)
            if isinstance(preopen, str):
                self.paths[fd] = (_normal(preopen), preopen)

    # -- reading guest memory (never raises) --------------------------------------------------
    def _text(self, ptr: int, n: int) -> str | None:
        try:
            memory = self.core.memory
            if n >= _PATH_MAX or ptr + n > memory.size:
                return None
            return bytes(memory.data[ptr:ptr + n]).decode("utf-8", "backslashreplace")
        except Exception:  # noqa: BLE001 - an event without the path, never a failed call
            return None

    def _u32(self, ptr: int) -> int | None:
        try:
            memory = self.core.memory
            if ptr + 4 > memory.size:
                return None
            return int.from_bytes(bytes(memory.data[ptr:ptr + 4]), "little")
        except Exception:  # noqa: BLE001
            return None

    def _join(self, fd: int, ptr: int, n: int) -> tuple[str | None, str | None]:
        base, mount = self.paths.get(fd, _NO_PATH)
        text = self._text(ptr, n)
        if base is None or text is None:
            return None, mount
        return _normal(text if text.startswith("/") else f"{base}/{text}"), mount

    # -- the wrapper ----------------------------------------------------------------------------
    def wrap(self, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        audit = self.audit if _is_filesystem_call(name) else None
        row = self.table[name] if self.table is not None else None
        out_slot = _BYTES_OUT.get(name)
        fs_call = audit is not None or name in ("path_open", "fd_close", "fd_renumber")
        perf = time.perf_counter_ns
        bisect_right = bisect.bisect_right
        bounds = _BOUNDS_NS

        def wrapped(*args: int) -> Any:
            before = self._before(name, args) if audit is not None else None
            started = perf()
            errno: int | None = 0
            error: BaseException | None = None
            try:
                result = method(*args)
                if isinstance(result, int):
                    errno = result
                return result
            except BaseException as exc:
                error = exc
                code = getattr(exc, "errno", None)
                errno = code if isinstance(code, int) and type(exc).__name__ == "WasiError" \
                    else None
                raise
            finally:
                took = perf() - started
                moved = None
                if errno == 0 and out_slot is not None:
                    moved = self._u32(args[out_slot])
                if row is not None:
                    row[_CALLS] += 1
                    if errno != 0 and not (errno is None and name == "proc_exit"):
                        row[_ERRORS] += 1
                    if moved:
                        row[_BYTES] += moved
                    row[_NS] += took
                    row[_HIST + bisect_right(bounds, took)] += 1
                if fs_call and errno == 0:
                    self._after(name, args)
                if audit is not None:
                    assert before is not None
                    audit(AuditEvent(
                        time=before[0], syscall=name, fd=before[1], path=before[2],
                        mount=before[3], errno=errno, bytes=moved, new_path=before[4],
                        target=before[5], duration_ns=took,
                        error=None if error is None or errno is not None
                        else type(error).__name__))

        wrapped.__name__ = wrapped.__qualname__ = name
        wrapped.__wrapped__ = method  # type: ignore[attr-defined]
        return wrapped

    def _before(self, name: str, args: tuple[int, ...]
                ) -> tuple[float, int | None, str | None, str | None, str | None, str | None]:
        now = time.time()
        new_path = target = None
        if name == "path_symlink":  # (target_ptr, target_len, fd, path_ptr, path_len)
            fd: int | None = args[2]
            path, mount = self._join(args[2], args[3], args[4])
            target = self._text(args[0], args[1])
        elif name in _PATH_ARGS:
            fd_i, ptr_i = _PATH_ARGS[name]
            fd = args[fd_i]
            path, mount = self._join(args[fd_i], args[ptr_i], args[ptr_i + 1])
            if name in _NEW_PATH_ARGS:
                nfd, nptr = _NEW_PATH_ARGS[name]
                new_path = self._join(args[nfd], args[nptr], args[nptr + 1])[0]
        else:
            fd = args[0] if args else None
            path, mount = self.paths.get(args[0], _NO_PATH) if args else _NO_PATH
        return now, fd, path, mount, new_path, target

    def _after(self, name: str, args: tuple[int, ...]) -> None:
        """Follow descriptors after a successful call."""
        if name == "path_open":
            newfd = self._u32(args[8])
            if newfd is not None:
                self.paths[newfd] = self._join(args[0], args[2], args[3])
        elif name == "fd_close":
            self.paths.pop(args[0], None)
        elif name == "fd_renumber":
            moved = self.paths.pop(args[0], None)
            if moved is None:
                self.paths.pop(args[1], None)
            else:
                self.paths[args[1]] = moved

    def close(self) -> None:
        if self.metrics is not None:
            self.metrics._close_table(self.key)


def _normal(path: str) -> str:
    out = posixpath.normpath(path)
    return "/" + out.lstrip("/") if out.startswith("//") else out


def instrument(core: Any, *, audit: AuditSink | None = None,
               metrics: Metrics | None = None) -> None:
    """Record ``core``'s syscalls: an :class:`AuditEvent` for every filesystem call to
    ``audit``, counts and latencies into ``metrics``. Replaces the core's syscall methods
    with wrappers (instance attributes, which the bindings pick up when they define the
    imports: call it before that) and its ``close`` with one that also folds the run's
    counts into ``metrics``. Without ``audit`` and ``metrics`` it does nothing."""
    if audit is None and metrics is None:
        return
    state = _Instrumented(core, audit, metrics)
    for name in SYSCALLS:
        if metrics is None and not _is_filesystem_call(name):
            continue  # an audit without metrics records filesystem calls only
        method = getattr(core, name, None)
        if callable(method):
            setattr(core, name, state.wrap(name, method))
    close = core.close

    def closing() -> None:
        try:
            close()
        finally:
            state.close()
            for name in (*SYSCALLS, "close"):  # the core's own methods again (no cycle left)
                core.__dict__.pop(name, None)

    core.close = closing
