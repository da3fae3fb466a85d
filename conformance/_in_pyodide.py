"""Runs inside Pyodide (started by ``conformance/pyodide.py``): the conformance cases through
``wasifs.bind.pyodide`` on the memory backend.

Usage (inside Pyodide): ``_in_pyodide.py REPO_ROOT JOB.json RESULTS.json``. The job lists case
names and the host paths of their built guests (the host compiles them: there is no C
compiler in Pyodide); the results hold each case's exit code, stdout, stderr and trees.
"""

from __future__ import annotations

import base64
import json
import sys
import time
from typing import Any


def _encode(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"b64": base64.b64encode(value).decode()}
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    return value


def main() -> int:
    root, job_path, out_path = sys.argv[1:4]
    sys.path.insert(0, root)
    import wasifs.bind.pyodide as binding
    from conformance.cases import case_by_name
    from conformance.runner import dump_backend, make_backend_tree
    from wasifs.backends.memory import MemoryFileSystem
    from wasifs.config import Mount

    assert "wasmtime" not in sys.modules
    with open(job_path) as f:
        job = json.load(f)
    results = {}
    for name, wasm_path in job["cases"]:
        case = case_by_name(name)
        # As the memory runtime does: ONE filesystem, every mount a folder of it (a guest
        # renames between its preopens as on one host filesystem).
        fs = MemoryFileSystem()
        mounts: dict[str, Any] = {}
        folders: dict[str, str] = {}
        for i, (guest_path, tree) in enumerate(case.mounts):
            folders[guest_path] = f"mount{i}"
            make_backend_tree(fs, tree, f"mount{i}")
            mounts[guest_path] = Mount(fs, subdir=f"mount{i}")
        with open(wasm_path, "rb") as f:
            wasm = f.read()
        t0 = time.perf_counter()
        try:
            r = binding.run(wasm, args=[case.argv0, *case.args], env=dict(case.env),
                            mounts=mounts, readonly=case.readonly, stdin=case.stdin,
                            strict=True)
            code: Any = "trap" if r.trap is not None else r.exit_code
            out, err, detail = r.stdout, r.stderr, r.trap or ""
        except Exception as exc:  # noqa: BLE001 - reported as the outcome
            code = f"error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            out, err, detail = b"", b"", f"{type(exc).__name__}: {exc}"
        results[name] = {
            "exit_code": code, "stdout": _encode(out), "stderr": _encode(err),
            "detail": detail, "seconds": time.perf_counter() - t0,
            "trees": {gp: _encode(dump_backend(fs, folder)) for gp, folder in folders.items()},
        }
    assert "wasmtime" not in sys.modules, "something on the Pyodide path imported wasmtime"
    with open(out_path, "w") as f:
        json.dump(results, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
