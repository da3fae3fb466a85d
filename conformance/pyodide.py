"""The conformance guests under the Pyodide binding, in Node, compared with the wasmtime binding.

Each case runs twice on the memory backend: under ``wasifs.run`` (the wasmtime binding, raw
mode) here, and under ``wasifs.bind.pyodide`` inside Pyodide in Node (the ``pyodide`` npm
package under ``js/``, offline: wasifs and fsspec are installed from wheels made here, see
``wasifs.bind._pyodide_pack``). Exit codes, stdout, stderr and the final trees must be equal,
except where a case is listed in :data:`DIFFERENCES` with its reason.

    python -m conformance.pyodide [-k SUBSTRING] [-v]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # ``python conformance/pyodide.py``
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from conformance.cases import CASES, Case  # noqa: E402
from conformance.runner import Outcome, build_guest, compare, run_case  # noqa: E402

__all__ = ("DIFFERENCES", "JS", "node_missing", "run_in_pyodide", "main")

ROOT = Path(__file__).resolve().parent.parent
JS = ROOT / "js"
DRIVER = JS / "pyodide-python.mjs"

#: case name -> why Pyodide's run differs from the wasmtime binding's (none so far).
DIFFERENCES: dict[str, str] = {}


def node_missing() -> str | None:
    """Why the Pyodide runs cannot happen here (no ``node``, or ``npm ci`` not run in
    ``js/``), or None."""
    if shutil.which("node") is None:
        return "node is not installed (apt-get install nodejs)"
    if not (JS / "node_modules" / "pyodide" / "pyodide.mjs").is_file():
        return "the pyodide npm package is not installed (npm ci --prefix js)"
    return None


def _decode(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"b64"}:
        return base64.b64decode(value["b64"])
    if isinstance(value, list):
        return tuple(_decode(v) for v in value)
    return value


def run_in_pyodide(cases: Sequence[Case], workdir: Path, *, timeout: float = 900
                   ) -> dict[str, Outcome]:
    """Run ``cases`` through the Pyodide binding in one Node process; outcomes by name."""
    from wasifs.bind._pyodide_pack import wheels

    workdir.mkdir(parents=True, exist_ok=True)
    wheel_files = wheels(workdir / "wheels")
    # the cases and the runner's tree helpers (not wasifs's source: that comes from the wheel)
    shutil.copytree(ROOT / "conformance", workdir / "pkgs" / "conformance", dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    jobs = []
    for case in cases:
        wasm = workdir / f"{case.name}.wasm"
        wasm.write_bytes(build_guest(case))
        jobs.append((case.name, str(wasm)))
    job = workdir / "job.json"
    job.write_text(json.dumps({"cases": jobs}))
    out = workdir / "results.json"
    cmd = ["node", str(DRIVER)]
    for w in wheel_files:
        cmd += ["--wheel", str(w)]
    cmd += ["--mount", str(workdir), str(ROOT / "conformance" / "_in_pyodide.py"),
            str(workdir / "pkgs"), str(job), str(out)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=JS,
                       stdin=subprocess.DEVNULL)
    if r.returncode != 0 or not out.is_file():
        raise RuntimeError(f"Pyodide run failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    data = json.loads(out.read_text())
    return {
        name: Outcome(
            d["exit_code"], _decode(d["stdout"]), _decode(d["stderr"]),
            {gp: [_decode(e) for e in entries] for gp, entries in d["trees"].items()},
            d["seconds"], d["detail"])
        for name, d in data.items()
    }


def expected(case: Case) -> Outcome:
    """The wasmtime binding's outcome on the memory backend (what Pyodide must match)."""
    return run_case(case, "memory-raw")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m conformance.pyodide", description=__doc__)
    parser.add_argument("-k", action="append", default=[], metavar="SUBSTRING")
    parser.add_argument("-v", "--verbose", action="store_true")
    opts = parser.parse_args(argv)
    missing = node_missing()
    if missing:
        print(f"cannot run: {missing}")
        return 2
    cases = [c for c in CASES if not opts.k or any(k in c.name for k in opts.k)]
    with tempfile.TemporaryDirectory(prefix="wasifs-pyodide-") as tmp:
        got = run_in_pyodide(cases, Path(tmp))
    failed = 0
    for case in cases:
        problems = compare(case, expected(case), got[case.name])
        if problems and case.name in DIFFERENCES:
            print(f"DIFF  {case.name:32} {DIFFERENCES[case.name]}")
        elif problems:
            failed += 1
            print(f"FAIL  {case.name:32} {problems[0].splitlines()[0]}")
            if opts.verbose:
                for p in problems:
                    print("      " + p.replace("\n", "\n      "))
        else:
            print(f"PASS  {case.name:32} ({got[case.name].seconds:.2f}s in Pyodide)")
    print(f"\n{len(cases)} cases: {len(cases) - failed} as under the wasmtime binding, "
          f"{failed} differ")
    return 1 if failed else 0


if __name__ == "__main__":
    os.environ.setdefault("WASIFS_MODULE_CACHE", "off")
    sys.exit(main())
