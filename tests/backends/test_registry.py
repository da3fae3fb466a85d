"""Backends by name: the built-in names, and a third-party distribution's backend found
through a real ``wasifs.backends`` entry point (a ``.dist-info`` on ``sys.path`` in a
subprocess), mounted by URL for a real guest."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

from wasifs.backends import (
    BUILTIN,
    GROUP,
    MemoryFileSystem,
    NativeFileSystem,
    backend_names,
    open_backend,
)
from wasifs.toolchain import compile_c

ROOT = Path(__file__).resolve().parents[2]
GUEST_SRC = ROOT / "tests" / "guests" / "cli_tool.c"


def test_pyproject_declares_the_built_in_backends() -> None:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert meta["project"]["entry-points"][GROUP] == BUILTIN
    assert set(BUILTIN) <= set(backend_names())


@pytest.mark.parametrize("url", ["memory", "memory://", "wasifs-memory", "wasifs-memory://"])
def test_memory_names(url: str) -> None:
    assert type(open_backend(url)) is MemoryFileSystem


def test_native_names(tmp_path: Path) -> None:
    for url in (f"native://{tmp_path}", f"wasifs-native://{tmp_path}", f"file://{tmp_path}"):
        backend = open_backend(url, readonly=True)
        assert isinstance(backend, NativeFileSystem) and backend.readonly
    with pytest.raises(ValueError, match="absolute path"):
        open_backend("native")  # a registered name: ./native is the host directory


def test_unknown_scheme_names_the_known_backends() -> None:
    with pytest.raises(ValueError) as exc:
        open_backend("nosuchfs://x")
    message = str(exc.value)
    assert "'nosuchfs'" in message and GROUP in message
    for name in BUILTIN:
        assert name in message
    # memory://PATH is fsspec's URL (its memory store), a bare memory is wasifs's own
    assert type(open_backend("memory://somewhere")).__name__ == "FsspecBackend"


ACME = '''
    """A third-party backend package: a memory tree holding one greeting."""

    from wasifs.backends import MemoryFileSystem


    class GreetingFileSystem(MemoryFileSystem):
        protocol = "acme-greeting"


    def open_greeting(location, greeting="hello from acme"):
        fs = GreetingFileSystem()
        fs.pipe("/greeting.txt", (location or greeting).encode() + b"\\n")
        return fs


    def open_not_a_backend(location, **options):
        return object()
'''

ENTRY_POINTS = '''
    [wasifs.backends]
    acme = acme_wasifs:open_greeting
    acme-odd = acme_wasifs:open_not_a_backend
    acme-broken = acme_wasifs:no_such_function
    memory = acme_wasifs:open_greeting
'''

SCRIPT = '''
    import sys
    import pytest
    import wasifs
    from wasifs.backends import MemoryFileSystem, backend_names, open_backend

    names = backend_names()
    assert {"acme", "acme-odd", "acme-broken", "memory"} <= set(names), names

    fs = open_backend("acme://hi there")
    assert type(fs).__name__ == "GreetingFileSystem" and fs.cat("/greeting.txt") == b"hi there\\n"
    assert open_backend("acme", greeting="an option").cat("/greeting.txt") == b"an option\\n"
    assert type(open_backend("memory")) is MemoryFileSystem  # built-in names stay built in

    with pytest.raises(ImportError, match="acme-broken.*acme-wasifs"):
        open_backend("acme-broken://")
    with pytest.raises(TypeError, match="does not implement the wasifs Backend protocol"):
        open_backend("acme-odd://")
    with pytest.raises(ValueError, match="acme, acme-broken, acme-odd"):
        open_backend("nope://x")

    # what users do: mount it by URL
    result = wasifs.run(sys.argv[1], args=["tool", "cat", "/data/greeting.txt"],
                        mounts={"/data": "acme://read by a guest"}, strict=True)
    assert result.exit_code == 0, result.stderr
    sys.stdout.buffer.write(result.stdout)
'''


@pytest.fixture(scope="module")
def guest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("guest") / "tool.wasm"
    path.write_bytes(compile_c(GUEST_SRC))
    return path


def _run(script: str, site: Path | None, *args: str) -> subprocess.CompletedProcess[str]:
    paths = [str(ROOT)] + ([str(site)] if site is not None else [])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(paths))
    return subprocess.run([sys.executable, "-c", textwrap.dedent(script), *args], env=env,
                          capture_output=True, text=True, timeout=300)


def test_third_party_backend_by_entry_point(tmp_path: Path, guest: Path) -> None:
    site = tmp_path / "site"
    (site / "acme_wasifs").mkdir(parents=True)
    (site / "acme_wasifs" / "__init__.py").write_text(textwrap.dedent(ACME))
    info = site / "acme_wasifs-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-wasifs\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(ENTRY_POINTS))
    r = _run(SCRIPT, site, str(guest))
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout == "read by a guest\n"

    # without the distribution the name is unknown
    r = _run("""
        from wasifs.backends import open_backend
        try:
            open_backend("acme://x")
        except ValueError as exc:
            print(exc)
    """, None)
    assert r.returncode == 0, r.stderr
    assert "'acme'" in r.stdout and "memory" in r.stdout
