"""The host API: run(), instantiate() (commands and reactors), WasiHost, module caching."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import wasmtime

import wasifs
from wasifs.api import load_module, module_cache_dir
from wasifs.toolchain import compile_c

GUESTS = Path(__file__).parent / "guests"


@pytest.fixture(scope="module")
def reactor() -> bytes:
    return compile_c(GUESTS / "reactor.c", flags=["-mexec-model=reactor"])


@pytest.fixture(scope="module")
def tool() -> bytes:
    return compile_c(GUESTS / "cli_tool.c")


def host_linker(engine: wasmtime.Engine) -> wasmtime.Linker:
    linker = wasmtime.Linker(engine)
    i32 = wasmtime.ValType.i32()
    linker.define_func("env", "host_add", wasmtime.FuncType([i32, i32], [i32]),
                       lambda a, b: a + b)
    return linker


def test_reactor_is_initialized_and_exports_callable(reactor: bytes) -> None:
    fs = wasifs.MemoryFileSystem()
    engine = wasifs.api.default_engine()
    with wasifs.instantiate(reactor, mounts={"/data": fs}, linker=host_linker(engine)) as g:
        assert g.kind == "reactor"
        assert g.call("was_initialized") == 42
        assert g.exports["count_entries"]() == 0
        assert g.call("write_note", 7) == 0
        assert g.call("count_entries") == 1
        assert g.call("use_host", 5) == 1005
    assert fs.cat_file("/note.txt") == b"value=7\n"


def test_missing_import_is_named(reactor: bytes) -> None:
    with pytest.raises(wasifs.LinkError, match=r"env\.host_add"):
        wasifs.instantiate(reactor)
    engine = wasifs.api.default_engine()
    with pytest.raises(wasifs.LinkError, match="nor by the linker you passed"):
        wasifs.instantiate(reactor, linker=wasmtime.Linker(engine))


def test_run_refuses_a_reactor(reactor: bytes) -> None:
    engine = wasifs.api.default_engine()
    with pytest.raises(wasifs.LinkError, match="reactor"):
        wasifs.run(reactor, linker=host_linker(engine))


def test_run_command_result_and_check(tool: bytes) -> None:
    r = wasifs.run(tool, args=["tool", "exit", "3"])
    assert (r.exit_code, r.ok, r.trap) == (3, False, None)
    with pytest.raises(wasifs.GuestExitError, match="exited with code 3"):
        r.check()
    r = wasifs.run(tool, args=["tool", "trap"])
    assert r.exit_code == wasifs.api.TRAP_EXIT_CODE and r.trap is not None
    with pytest.raises(wasifs.GuestExitError, match="trapped"):
        wasifs.run(tool, args=["tool", "trap"], check=True)


def test_run_default_mount_is_a_fresh_memory_root(tool: bytes) -> None:
    r = wasifs.run(tool, args=["tool", "edit", "/"])  # fails: / has no gone.txt to delete
    assert r.exit_code == 1 and b"gone.txt" in r.stderr
    assert set(r.mounts) == {"/"}
    assert isinstance(r.mounts["/"], wasifs.MemoryFileSystem)
    assert r.mounts["/"].cat_file("/new.txt") == b"fresh\n"


def test_run_stdio_options(tool: bytes, tmp_path: Path) -> None:
    lines: list[bytes] = []
    fs = wasifs.MemoryFileSystem()
    fs.pipe_file("/in.txt", b"a\nb\nc")
    r = wasifs.run(tool, args=["tool", "cat", "/data/in.txt"], mounts={"/data": fs},
                   stdout=wasifs.stdio.LineCallbackSink(lines.append))
    assert r.exit_code == 0 and lines == [b"a", b"b", b"c"]
    out = tmp_path / "out.bin"
    with out.open("wb") as f:
        wasifs.run(tool, args=["tool", "args", "x"], stdout=f)
    assert out.read_bytes() == b"tool\nargs\nx\n"


def test_mount_readonly_and_host_dir(tool: bytes, tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("k")
    (tmp_path / "gone.txt").write_text("g")
    r = wasifs.run(tool, args=["t", "edit", "/d"],
                   mounts={"/d": wasifs.Mount(str(tmp_path), readonly=True)})
    assert r.exit_code == 1 and b"Read-only" in r.stderr
    r = wasifs.run(tool, args=["t", "edit", "/d"], mounts={"/d": tmp_path})
    assert r.exit_code == 0, r.stderr
    assert (tmp_path / "new.txt").read_text() == "fresh\n"


def test_bad_host_arguments_are_clear(tool: bytes) -> None:
    with pytest.raises(TypeError, match="argv"):
        wasifs.run(tool, args="tool")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="mapping"):
        wasifs.run(tool, mounts=["/data"])  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError):
        wasifs.run("/nonexistent/module.wasm")
    with pytest.raises(ValueError, match="neither WebAssembly nor WAT"):
        wasifs.run(b"garbage")


def test_wasi_host_in_a_caller_owned_linker(reactor: bytes) -> None:
    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    fs = wasifs.MemoryFileSystem()
    host = wasifs.WasiHost(store, mounts={"/data": fs})
    linker = host_linker(engine)
    module = load_module(reactor, engine)
    host.define(linker, module)
    host.instantiate(linker, module)
    host.call("_initialize")
    assert host.call("write_note", 1) == 0
    assert host.call("use_host", 1) == 1001
    assert fs.cat_file("/note.txt") == b"value=1\n"


def test_compiled_modules_are_cached_on_disk(tool: bytes, tmp_path: Path) -> None:
    code = (
        "import sys, time, wasifs\n"
        "t = time.perf_counter(); wasifs.load_module(open(sys.argv[1], 'rb').read())\n"
        "print(time.perf_counter() - t)\n"
    )
    mod = tmp_path / "tool.wasm"
    mod.write_bytes(tool)
    env = dict(os.environ, WASIFS_MODULE_CACHE=str(tmp_path / "cache"))
    for _ in range(2):
        subprocess.run([sys.executable, "-c", code, str(mod)], env=env, check=True,
                       capture_output=True)
    entries = list((tmp_path / "cache").iterdir())
    assert len(entries) == 1 and entries[0].suffix == ".cwasm"
    env["WASIFS_MODULE_CACHE"] = "off"
    assert subprocess.run([sys.executable, "-c", "import wasifs.api as a; "
                           "print(a.module_cache_dir())"], env=env, capture_output=True,
                          text=True, check=True).stdout.strip() == "None"
    assert module_cache_dir() is not None


def test_stdout_into_a_file_of_the_virtual_filesystem(tool: bytes) -> None:
    fs = wasifs.MemoryFileSystem()
    fs.mkdir("/logs")
    sink = wasifs.api.FileSink(fs, "logs/out.txt")
    r = wasifs.run(tool, args=["tool", "args", "one"], mounts={"/": fs}, stdout=sink,
                   stderr=wasifs.api.FileSink(fs, "logs/err.txt"))
    assert r.exit_code == 0 and r.stdout == b""
    assert fs.cat_file("/logs/out.txt") == b"tool\nargs\none\n"
    wasifs.run(tool, args=["tool", "args", "two"], stdout=wasifs.api.FileSink(fs, "logs/out.txt",
                                                                             append=True))
    assert fs.cat_file("/logs/out.txt") == b"tool\nargs\none\ntool\nargs\ntwo\n"
    with pytest.raises(FileNotFoundError, match="missing/out.txt"):
        wasifs.api.FileSink(fs, "missing/out.txt")


def test_stdin_from_an_iterator_and_a_file(wasi_build: object, tmp_path: Path) -> None:
    src = r"""
    #include <stdio.h>
    int main(void) { int c; long n = 0; while ((c = getchar()) != EOF) { putchar(c); n++; }
                     fprintf(stderr, "%ld\n", n); return 0; }
    """
    cat = wasi_build.c(src)  # type: ignore[attr-defined]
    r = wasifs.run(cat, stdin=iter([b"ab", b"", b"cd" * 5000]))
    assert r.stdout == b"ab" + b"cd" * 5000 and r.stderr == b"10002\n"
    f = tmp_path / "in.bin"
    f.write_bytes(b"\x00\xff" * 100000)
    with f.open("rb") as fh:
        r = wasifs.run(cat, stdin=fh)
    assert r.stdout == b"\x00\xff" * 100000


@pytest.mark.wasi_backends("memory", "native")
def test_fd_exhaustion_is_emfile_and_recoverable(wasi_build: object, wasi_run: object) -> None:
    src = r"""
    #include <errno.h>
    #include <fcntl.h>
    #include <stdio.h>
    #include <string.h>
    #include <unistd.h>
    int main(void) {
        int fds[64], n = 0, fd;
        while (n < 64 && (fd = open("/f.txt", O_RDONLY | O_CREAT, 0644)) >= 0) fds[n++] = fd;
        printf("opened %d, then %s\n", n, strerror(errno));
        for (int i = 0; i < n; i++) close(fds[i]);
        fd = open("/f.txt", O_RDONLY);
        printf("after closing: %s\n", fd >= 0 ? "ok" : strerror(errno));
        return 0;
    }
    """
    r = wasi_run(wasi_build.c(src), fd_limit=16)  # type: ignore[attr-defined, operator]
    assert r.exit_code == 0, r.stderr
    # 16 descriptors: stdin, stdout, stderr, the preopen, and 12 files
    assert r.text == "opened 12, then No file descriptors available\nafter closing: ok\n"  # EMFILE
