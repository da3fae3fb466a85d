"""A real headless Chromium opens the demo page (served from localhost by this test), a guest
writes a file on the persistent mount, the page reloads, and the next run finds it.

Needs Debian's ``chromium`` and the npm packages under ``js/`` (``npm ci --prefix js``);
outside CI the test skips when they are missing, under ``CI=true`` it fails instead.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from wasifs.bind._pyodide_pack import wheels
from wasifs.toolchain import compile_c

ROOT = Path(__file__).resolve().parent.parent.parent
JS = ROOT / "js"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def _missing() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed"
    if not Path(CHROMIUM).exists():
        return "Debian's chromium is not installed (apt-get install chromium)"
    for pkg in ("pyodide", "playwright-core"):
        if not (JS / "node_modules" / pkg / "package.json").is_file():
            return f"the {pkg} npm package is not installed (npm ci --prefix js)"
    return None


class _Quiet(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map,
                      ".mjs": "text/javascript", ".js": "text/javascript",
                      ".wasm": "application/wasm", ".whl": "application/zip"}

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def site(tmp_path: Path) -> Iterator[str]:
    """The demo page, Pyodide's files, the wheels and the guest, served on 127.0.0.1."""
    missing = _missing()
    if missing:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"the Chromium test must run in CI: {missing}")
        pytest.skip(f"no headless Chromium here: {missing}")
    www = tmp_path / "www"
    www.mkdir()
    shutil.copy(JS / "demo" / "index.html", www / "index.html")
    (www / "pyodide").symlink_to(JS / "node_modules" / "pyodide", target_is_directory=True)
    names = []
    for w in wheels(tmp_path / "wheels"):
        shutil.copy(w, www / w.name)
        names.append(w.name)
    (www / "wheels.json").write_text(json.dumps(names))
    (www / "guestbook.wasm").write_bytes(compile_c(JS / "demo" / "guestbook.c"))
    handler = functools.partial(_Quiet, directory=str(www))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def test_files_survive_a_reload_in_chromium(site: str, tmp_path: Path) -> None:
    shot = tmp_path / "browser.png"
    r = subprocess.run(["node", str(JS / "browser-demo.mjs"), site, str(shot), CHROMIUM],
                       capture_output=True, text=True, timeout=600, cwd=JS,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stdout + r.stderr
    report = json.loads(r.stdout.strip().splitlines()[-1])
    assert [run["store"] for run in report["runs"]] == ["idb", "opfs"]
    for run in report["runs"]:
        first, second = run["first"], run["second"]
        entry = f"hello from {run['store']}"
        assert "error" not in first and "error" not in second, run
        assert first["exitCode"] == 0 and second["exitCode"] == 0, run
        assert first["stdout"] == f"1. {entry}\n", run
        assert second["stdout"] == f"1. {entry}\n2. {entry}\n", run  # loaded after the reload
        assert not second["wasmtime"]
    assert "IndexedDBStore" in report["runs"][0]["second"]["store"]
    assert "OPFSStore" in report["runs"][1]["second"]["store"]
    assert shot.stat().st_size > 10_000
    if os.environ.get("WASIFS_SAVE_SCREENSHOT"):
        shutil.copy(shot, os.environ["WASIFS_SAVE_SCREENSHOT"])
