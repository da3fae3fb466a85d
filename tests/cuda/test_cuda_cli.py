"""``wasifs checksum`` and ``wasifs scan``, run as a user runs them (a subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from cuda_helpers import needs, reference


def wasifs(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wasifs", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=300, stdin=subprocess.DEVNULL)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    (root / "a" / "b").mkdir(parents=True)
    (root / "a" / "x.txt").write_bytes(b"hello world, hello")
    (root / "a" / "b" / "y.bin").write_bytes(b"abcabcab\x00\x01")
    (root / "empty").write_bytes(b"")
    return root


def test_checksum_text_and_json(tree: Path) -> None:
    r = wasifs("checksum", "--device", "cpu", str(tree))
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        f"{zlib.crc32(b'abcabcab' + bytes([0, 1])):08x}  a/b/y.bin",
        f"{zlib.crc32(b'hello world, hello'):08x}  a/x.txt",
        "00000000  empty",
    ]
    assert r.stderr == ""  # no progress bar: stderr is not a terminal
    r = wasifs("checksum", "--json", "--glob", "**/*.txt", str(tree))
    doc = json.loads(r.stdout)
    assert doc == {"algorithm": "crc32",
                   "files": {"a/x.txt": f"{zlib.crc32(b'hello world, hello'):08x}"}}
    one = wasifs("checksum", str(tree / "a" / "x.txt"))
    assert one.stdout == f"{zlib.crc32(b'hello world, hello'):08x}  x.txt\n"


@needs("crc32c")
@pytest.mark.parametrize("fmt", ["text", "json"])
def test_verify_reports_changed_missing_and_new(tree: Path, tmp_path: Path, fmt: str) -> None:
    manifest = tmp_path / "manifest"
    args = ["checksum", "-a", "crc32c", str(tree)] + (["--json"] if fmt == "json" else [])
    made = wasifs(*args)
    manifest.write_text(made.stdout)
    algo = [] if fmt == "json" else ["-a", "crc32c"]  # a text manifest does not say
    same = wasifs("checksum", *algo, "--verify", str(manifest), str(tree))
    assert same.returncode == 0, same.stdout + same.stderr
    assert same.stdout == ""
    (tree / "a" / "x.txt").write_bytes(b"hello world, hellO")
    (tree / "empty").unlink()
    (tree / "a" / "new.txt").write_bytes(b"n")
    r = wasifs("checksum", *algo, "--verify", str(manifest), str(tree))
    assert r.returncode == 1
    assert r.stdout.splitlines() == ["changed: a/x.txt", "missing: empty", "new: a/new.txt"]
    assert "1 unchanged, 1 changed, 1 missing, 1 new" in r.stderr
    j = wasifs("checksum", *algo, "--json", "--verify", str(manifest), str(tree))
    assert json.loads(j.stdout) == {"algorithm": "crc32c", "changed": ["a/x.txt"],
                                    "missing": ["empty"], "new": ["a/new.txt"], "unchanged": 1}
    if fmt == "json":
        bad = wasifs("checksum", "-a", "crc32", "--verify", str(manifest), str(tree))
        assert bad.returncode == 2
        assert "--algorithm crc32 but" in bad.stderr


def test_scan_matches_counts_json_and_exit_codes(tree: Path, tmp_path: Path) -> None:
    files = {"a/b/y.bin": b"abcabcab\x00\x01", "a/x.txt": b"hello world, hello",
             "empty": b""}
    pats = [b"abcab", b"HELLO", b"\x00\x01", b"b"]
    pfile = tmp_path / "pats"
    pfile.write_bytes(b"b\n")
    r = wasifs("scan", "-e", "abcab", "-e", "HELLO", "--hex", "0001", "-f", str(pfile),
               "-i", "--device", "cpu", str(tree))
    assert r.returncode == 0, r.stderr
    expect = reference(files, pats, ignore_case=True)
    assert r.stdout.splitlines() == [f"{p}:{o}:{i}" for p, o, i in expect]
    c = wasifs("scan", "-e", "hello", "-e", "b", "--count", str(tree))
    assert c.stdout.splitlines() == ["a/b/y.bin: 0 3", "a/x.txt: 2 0"]
    j = wasifs("scan", "-e", "hello", "--json", "--device", "cpu:re", str(tree))
    assert json.loads(j.stdout) == {"patterns": ["hello"], "matches": [
        {"path": "a/x.txt", "offset": 0, "pattern": 0},
        {"path": "a/x.txt", "offset": 13, "pattern": 0}]}
    none = wasifs("scan", "-e", "absent", str(tree))
    assert (none.returncode, none.stdout) == (1, "")
    usage = wasifs("scan", str(tree))
    assert usage.returncode == 2 and "no pattern" in usage.stderr
    missing = wasifs("scan", "-e", "x", str(tree / "nope"))
    assert missing.returncode == 2 and "no such file or directory" in missing.stderr


def test_fsspec_url_target(tree: Path) -> None:
    pytest.importorskip("fsspec.implementations.zip")
    import zipfile

    archive = tree.parent / "t.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("in/one.txt", b"zip data")
        z.writestr("in/two.txt", b"more zip data")
    r = wasifs("checksum", f"zip://::{archive}")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [f"{zlib.crc32(b'zip data'):08x}  in/one.txt",
                                     f"{zlib.crc32(b'more zip data'):08x}  in/two.txt"]
    s = wasifs("scan", "-e", "zip", f"zip://::{archive}")
    assert s.stdout.splitlines() == ["in/one.txt:0:0", "in/two.txt:5:0"]


@needs("tqdm")
@pytest.mark.skipif(sys.platform == "win32", reason="needs a pty")
def test_progress_bar_only_on_a_terminal(tree: Path) -> None:
    import pty

    primary, secondary = pty.openpty()
    try:
        r = subprocess.run([sys.executable, "-m", "wasifs", "checksum", str(tree)],
                           stdout=subprocess.PIPE, stderr=secondary, stdin=subprocess.DEVNULL,
                           timeout=300)
        os.close(secondary)
        secondary = -1
        chunks = []
        while True:
            try:
                data = os.read(primary, 65536)
            except OSError:  # EIO once the pty's other side is closed
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(primary)
        if secondary >= 0:
            os.close(secondary)
    assert r.returncode == 0
    bar = b"".join(chunks)
    assert b"checksum" in bar and b"B/s" in bar, bar
    assert len(r.stdout.splitlines()) == 3  # the bar is on stderr only
    quiet = wasifs("checksum", "--no-progress", str(tree))
    assert quiet.stderr == ""


@needs("distributed")
def test_dask_scheduler_address(tree: Path) -> None:
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=":0", silence_logs=40) as cluster:
        r = wasifs("checksum", "--dask", cluster.scheduler_address, str(tree))
    assert r.returncode == 0, r.stderr
    assert wasifs("checksum", str(tree)).stdout == r.stdout
