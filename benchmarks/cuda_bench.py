"""Throughput of wasifs.cuda's checksum and scan: CPU path, references, and the GPU.

One command, no input, a few minutes on a GPU machine::

    python benchmarks/cuda_bench.py                 # 10,000 files, 2 GiB; GPU if usable
    python benchmarks/cuda_bench.py --quick         # 1,000 files, 64 MiB (a smoke run)
    python benchmarks/cuda_bench.py --out results/h200   # -> results/h200.json and .md

It generates a tree of files of mixed sizes (random bytes with a few planted markers) in a
temporary directory, then measures, in GB/s of file bytes (best of ``--reps``):

- references on bytes already in memory: ``zlib.crc32`` on one thread, ``crc32c``, ``re``
  (an alternation, which misses overlapping matches, and the exact reference: one
  lookahead pattern at a time, on a slice);
- the CPU path end to end from the files (``device="cpu"``: zlib / crc32c on a thread
  pool, hyperscan or the numba scanner) and on bytes already loaded (``load(device="cpu")``);
- with a usable CUDA GPU (named in the output): the host-to-device bandwidth (pinned and
  pageable), the kernels on device-resident data (``load(device="cuda")`` then
  ``checksum(tree)`` / ``scan(tree)``), and end to end from the files (``device="cuda"``).
  Every GPU result is compared with the CPU's before its time is reported.

"From files" means from the page cache (the tree was just written): storage speed is not
measured. The figures go to stdout and, with ``--out``, to a JSON and a Markdown file.
Exit status: 0 on success, 1 when a result disagreed with the reference, 2 on an error.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import shutil
import sys
import tempfile
import time
import traceback
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import wasifs.cuda as wc  # noqa: E402

PATTERNS = [b"BEGIN RSA PRIVATE KEY", b"\x7fELF\x02\x01", b"password=", b"wasifs-marker",
            b"\x00\x00\xff\xfe"]


def _sizes(nfiles: int, total: int, rng: random.Random) -> list[int]:
    """Mixed sizes: nine files in ten small (log-uniform 0 B..64 KiB), the rest share what
    remains of ``total`` (log-uniform weights: a few big files, many medium ones)."""
    small = [int(2 ** rng.uniform(0, 16)) - 1 for _ in range(nfiles - nfiles // 10)]
    rest = max(0, total - sum(small))
    nbig = max(1, nfiles - len(small))
    weights = [2 ** rng.uniform(0, 8) for _ in range(nbig)]
    scale = rest / sum(weights)
    big = [int(w * scale) for w in weights]
    big[0] += rest - sum(big)
    sizes = small + big
    rng.shuffle(sizes)
    return sizes


def make_tree(root: Path, nfiles: int, total: int, seed: int = 1) -> int:
    rng = random.Random(seed)
    written = 0
    for i, size in enumerate(_sizes(nfiles, total, rng)):
        data = bytearray(os.urandom(size))
        for _ in range(size // (1 << 20) + (1 if size > 64 and rng.random() < 0.2 else 0)):
            p = rng.choice(PATTERNS)
            if len(p) < size:
                at = rng.randrange(0, size - len(p))
                data[at:at + len(p)] = p
        d = root / f"d{i % 50:02d}" / f"s{i % 7}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i:05d}.bin").write_bytes(data)
        written += size
    return written


def best(fn: Callable[[], Any], reps: int) -> tuple[float, Any]:
    """(the best wall time of ``reps`` runs, the last result)."""
    times = []
    out = None
    for _ in range(reps):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


class Report:
    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.notes: list[str] = []
        self.failed = False

    def add(self, group: str, name: str, nbytes: int, seconds: float, note: str = "") -> None:
        gbs = nbytes / seconds / 1e9 if seconds > 0 else float("inf")
        self.rows.append({"group": group, "name": name, "bytes": nbytes,
                          "seconds": round(seconds, 6), "GB/s": round(gbs, 3), "note": note})
        print(f"  {group:<28} {name:<44} {gbs:9.2f} GB/s  {note}", flush=True)

    def check(self, what: str, ok: bool) -> None:
        if not ok:
            self.failed = True
            self.notes.append(f"MISMATCH: {what}")
            print(f"  !! MISMATCH: {what}", flush=True)

    def markdown(self, header: dict[str, Any]) -> str:
        lines = [f"# wasifs.cuda throughput ({header['date']})", ""]
        lines += [f"- {k}: {v}" for k, v in header.items() if k != "date"]
        lines += ["", "| group | measurement | GB/s | seconds | note |", "|---|---|---:|---:|---|"]
        lines += [f"| {r['group']} | {r['name']} | {r['GB/s']:.2f} | {r['seconds']:.3f} | "
                  f"{r['note']} |" for r in self.rows]
        if self.notes:
            lines += [""] + [f"- {n}" for n in self.notes]
        return "\n".join(lines) + "\n"


def bench_references(rep: Report, blobs: list[bytes], total: int, reps: int,
                     re_bytes: int) -> None:
    t, _ = best(lambda: [zlib.crc32(b) for b in blobs], reps)
    rep.add("reference (in memory)", "zlib.crc32, 1 thread", total, t)
    try:
        import crc32c
    except ImportError:
        rep.notes.append("crc32c not installed: no CRC-32C reference")
    else:
        t, _ = best(lambda: [crc32c.crc32c(b) for b in blobs], reps)
        rep.add("reference (in memory)", "crc32c.crc32c, 1 thread", total, t)
    sample: list[bytes] = []
    n = 0
    for b in blobs:
        if n >= re_bytes:
            break
        sample.append(b)
        n += len(b)
    alt = re.compile(b"|".join(re.escape(p) for p in PATTERNS))
    t, _ = best(lambda: [sum(1 for _ in alt.finditer(b)) for b in sample], 1)
    rep.add("reference (in memory)", f"re alternation ({len(PATTERNS)} patterns)", n, t,
            "misses overlapping matches")
    looks = [re.compile(b"(?=" + re.escape(p) + b")") for p in PATTERNS]
    t, _ = best(lambda: [sum(1 for rx in looks for _ in rx.finditer(b)) for b in sample], 1)
    rep.add("reference (in memory)", "re lookahead per pattern (exact reference)", n, t)


def bench_cpu(rep: Report, tree: Path, total: int, reps: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for alg in ("crc32", "crc32c"):
        try:
            t, res = best(lambda alg=alg: wc.checksum(tree, None, alg, "cpu"), reps)
        except wc.MissingDependencyError as exc:
            rep.notes.append(str(exc))
            continue
        results[alg] = res
        rep.add("CPU path, from files", f"checksum {alg} ({os.cpu_count()} threads)", total, t)
    for dev in ("cpu:hyperscan", "cpu:numba"):
        try:
            wc.scan(tree, "d00/s0/*", PATTERNS, dev)  # warm-up (numba compiles)
            t, res = best(lambda dev=dev: wc.scan(tree, None, PATTERNS, dev), reps)
        except wc.MissingDependencyError as exc:
            rep.notes.append(str(exc))
            continue
        results.setdefault("scan", res)
        rep.check(f"scan {dev} differs from the first CPU scanner", res == results["scan"])
        rep.add("CPU path, from files", f"scan {dev} ({len(PATTERNS)} patterns)", total, t,
                f"{len(res)} matches")
    with wc.load(tree, device="cpu") as loaded:
        t, res = best(lambda: wc.checksum(loaded), reps)
        rep.check("resident CPU checksum", res == results["crc32"])
        rep.add("CPU path, bytes in memory", "checksum crc32 (load(device='cpu'))", total, t)
        t, res = best(lambda: wc.scan(loaded, None, PATTERNS, "cpu"), reps)
        rep.check("resident CPU scan", res == results["scan"])
        rep.add("CPU path, bytes in memory", "scan (best CPU scanner)", total, t)
    return results


def bench_transfer(rep: Report, cuda: Any, np: Any, reps: int) -> None:
    """Host-to-device bandwidth, pinned and pageable, 256 MiB a copy."""
    n = 256 << 20
    pinned = cuda.pinned_array(n, np.uint8)
    pinned[:] = 1
    pageable = np.ones(n, np.uint8)
    dev = cuda.device_array(n, np.uint8)
    dev.copy_to_device(pinned)
    cuda.synchronize()
    t, _ = best(lambda: (dev.copy_to_device(pinned), cuda.synchronize()), reps + 2)
    rep.add("GPU transfer", "host-to-device, pinned (256 MiB)", n, t)
    t, _ = best(lambda: (dev.copy_to_device(pageable), cuda.synchronize()), reps + 2)
    rep.add("GPU transfer", "host-to-device, pageable (256 MiB)", n, t)


def bench_gpu(rep: Report, tree: Path, total: int, reps: int, cpu: dict[str, Any]) -> str:
    import numpy as np

    from wasifs.cuda import _kernels

    cuda = _kernels.cuda_module()
    name = _kernels.device_name()
    free, whole = cuda.current_context().get_memory_info()
    bench_transfer(rep, cuda, np, reps)
    # Kernels on device-resident data.
    t, loaded = best(lambda: wc.load(tree, device="cuda"), 1)
    rep.add("GPU end to end, from files", "load(device='cuda'): read + copy once", total, t)
    with loaded:
        for alg in ("crc32", "crc32c"):
            res = wc.checksum(loaded, algorithm=alg)  # compiles the kernels
            if alg in cpu:
                rep.check(f"GPU resident checksum {alg}", res == cpu[alg])
            t, _ = best(lambda alg=alg: (wc.checksum(loaded, algorithm=alg),
                                         cuda.synchronize()), reps)
            rep.add("GPU kernels, device-resident", f"checksum {alg}", total, t,
                    "incl. launch + result copy")
        res = wc.scan(loaded, None, PATTERNS)
        rep.check("GPU resident scan", res == cpu.get("scan", res))
        t, _ = best(lambda: wc.scan(loaded, None, PATTERNS), reps)
        rep.add("GPU kernels, device-resident", f"scan ({len(PATTERNS)} patterns)", total, t,
                f"{len(res)} matches")
        t, _ = best(lambda: wc.scan(loaded, None, PATTERNS, count=True), reps)
        rep.add("GPU kernels, device-resident", "scan, count only", total, t)
    # End to end from the files: pinned batches, two streams.
    for alg in ("crc32", "crc32c"):
        t, res = best(lambda alg=alg: wc.checksum(tree, None, alg, "cuda"), reps)
        if alg in cpu:
            rep.check(f"GPU streaming checksum {alg}", res == cpu[alg])
        rep.add("GPU end to end, from files", f"checksum {alg}", total, t)
    t, res = best(lambda: wc.scan(tree, None, PATTERNS, "cuda"), reps)
    rep.check("GPU streaming scan", res == cpu.get("scan", res))
    rep.add("GPU end to end, from files", f"scan ({len(PATTERNS)} patterns)", total, t)
    return f"{name} ({whole / 2**30:.0f} GiB, {free / 2**30:.0f} GiB free)"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="1,000 files, 64 MiB, 1 rep")
    ap.add_argument("--files", type=int, default=None, help="number of files (10,000)")
    ap.add_argument("--mib", type=int, default=None, help="total size in MiB (2048)")
    ap.add_argument("--reps", type=int, default=None, help="repetitions, best kept (3)")
    ap.add_argument("--re-mib", type=int, default=256,
                    help="how much the slow re references scan (MiB, default 256)")
    ap.add_argument("--cpu-only", action="store_true", help="skip the GPU even if usable")
    ap.add_argument("--tmp", default=None, help="where to generate the tree (default: $TMPDIR)")
    ap.add_argument("--out", default=None,
                    help="write OUT.json and OUT.md (default: print only)")
    args = ap.parse_args(argv)
    nfiles = args.files or (1000 if args.quick else 10_000)
    total = (args.mib or (64 if args.quick else 2048)) << 20
    reps = args.reps or (1 if args.quick else 3)
    re_bytes = min(total, (args.re_mib if not args.quick else 16) << 20)
    rep = Report()
    tmp = Path(tempfile.mkdtemp(prefix="wasifs-cuda-bench-", dir=args.tmp))
    gpu_name = "none"
    try:
        print(f"generating {nfiles} files, {total / 2**20:.0f} MiB in {tmp} ...", flush=True)
        t = time.perf_counter()
        total = make_tree(tmp, nfiles, total)
        print(f"  done in {time.perf_counter() - t:.1f} s", flush=True)
        blobs = [p.read_bytes() for p in sorted(tmp.rglob("*.bin"))]
        bench_references(rep, blobs, total, reps, re_bytes)
        del blobs
        cpu = bench_cpu(rep, tmp, total, reps)
        if args.cpu_only:
            gpu_name = "not measured (--cpu-only)"
        elif wc.available():
            try:
                gpu_name = bench_gpu(rep, tmp, total, reps, cpu)
            except Exception:
                traceback.print_exc()
                rep.notes.append("the GPU part failed: " + traceback.format_exc(limit=3))
                rep.failed = True
                gpu_name = "failed (see notes)"
        else:
            gpu_name = "none usable (numba-cuda, a driver and a device are needed)"
            rep.notes.append("no CUDA GPU usable here: GPU rows not measured")
    except Exception:
        traceback.print_exc()
        return 2
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    header = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "tree": f"{nfiles} files, {total / 2**20:.0f} MiB (mixed sizes, page cache)",
        "cpu": f"{platform.processor() or platform.machine()}, {os.cpu_count()} threads",
        "gpu": gpu_name,
        "python": platform.python_version(),
        "reps": f"best of {reps}",
    }
    md = rep.markdown(header)
    print()
    print(md)
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.with_suffix(".json").write_text(json.dumps(
            {"header": header, "rows": rep.rows, "notes": rep.notes}, indent=1) + "\n")
        out.with_suffix(".md").write_text(md)
        print(f"wrote {out.with_suffix('.json')} and {out.with_suffix('.md')}")
    return 1 if rep.failed else 0


if __name__ == "__main__":
    sys.exit(main())
