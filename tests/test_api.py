"""The host API: run(), instantiate() (commands and reactors), WasiHost, module caching."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

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


@pytest.fixture(scope="module")
def waits() -> bytes:
    return compile_c(GUESTS / "waits.c")


def wasmtime_reference(wasm: bytes, argv: list[str]) -> tuple[int, bytes]:
    """(exit code, stdout) under wasmtime-py's built-in WASI, no preopens."""
    import tempfile

    engine = wasmtime.Engine()
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    store = wasmtime.Store(engine)
    with tempfile.TemporaryDirectory() as tmp:
        config = wasmtime.WasiConfig()
        config.argv = argv
        config.stdout_file = os.path.join(tmp, "out")
        store.set_wasi(config)
        code = 0
        try:
            start = linker.instantiate(store, wasmtime.Module(engine, wasm)).exports(store)["_start"]
            assert isinstance(start, wasmtime.Func)
            start(store)
        except wasmtime.ExitTrap as exc:
            code = exc.code
        del store
        return code, Path(tmp, "out").read_bytes()


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


def test_run_without_mounts_preopens_nothing_as_wasmtime(waits: bytes) -> None:
    r = wasifs.run(waits, args=["waits", "fd3"])
    assert (r.exit_code, r.stdout, r.mounts) == (0, b"fd3: EBADF\n", {})
    assert wasmtime_reference(waits, ["waits", "fd3"]) == (0, b"fd3: EBADF\n")
    fs = wasifs.MemoryFileSystem()  # an empty in-memory directory is asked for explicitly
    assert wasifs.run(waits, args=["waits", "fd3"], mounts={"/": fs}).stdout == b"fd3: ok\n"


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
    sink = wasifs.api.BackendFileSink(fs, "logs/out.txt")
    r = wasifs.run(tool, args=["tool", "args", "one"], mounts={"/": fs}, stdout=sink,
                   stderr=wasifs.api.BackendFileSink(fs, "logs/err.txt"))
    assert r.exit_code == 0 and r.stdout == b""
    assert fs.cat_file("/logs/out.txt") == b"tool\nargs\none\n"
    wasifs.run(tool, args=["tool", "args", "two"],
               stdout=wasifs.api.BackendFileSink(fs, "logs/out.txt", append=True))
    assert fs.cat_file("/logs/out.txt") == b"tool\nargs\none\ntool\nargs\ntwo\n"
    with pytest.raises(FileNotFoundError, match="missing/out.txt"):
        wasifs.api.BackendFileSink(fs, "missing/out.txt")
    with pytest.warns(DeprecationWarning, match="BackendFileSink"):
        assert wasifs.api.FileSink is wasifs.api.BackendFileSink


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


# --------------------------------------------------------------------------- linkers
def run_python(code: str, *args: str, env: dict[str, str] | None = None
               ) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter: an abort there fails the test, not pytest."""
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          timeout=300, env=env)


LINKER_ON_ITS_OWN_ENGINE = """
import sys, wasmtime, wasifs
engine = wasmtime.Engine()  # not wasifs's default engine, and engine= is not passed
linker = wasmtime.Linker(engine)
i32 = wasmtime.ValType.i32()
linker.define_func("env", "host_add", wasmtime.FuncType([i32, i32], [i32]), lambda a, b: a + b)
module = open(sys.argv[1], "rb").read()
with wasifs.instantiate(module, linker=linker, mounts={"/data": wasifs.MemoryFileSystem()}) as g:
    print(g.call("use_host", 5))
try:
    wasifs.instantiate(module, linker=linker, engine=wasmtime.Engine())
except ValueError as exc:
    print("refused:", exc)
"""


def test_a_linker_on_another_engine_gives_the_run_its_engine(reactor: bytes,
                                                              tmp_path: Path) -> None:
    mod = tmp_path / "reactor.wasm"
    mod.write_bytes(reactor)
    r = run_python(LINKER_ON_ITS_OWN_ENGINE, str(mod))
    assert r.returncode == 0, r.stderr  # before: a Rust panic aborted the process
    lines = r.stdout.splitlines()
    assert lines[0] == "1005"
    assert lines[1].startswith("refused: the linker was made with another engine")


def test_one_linker_serves_any_number_of_runs(reactor: bytes, tool: bytes) -> None:
    engine = wasifs.api.default_engine()
    linker = host_linker(engine)
    fs = wasifs.MemoryFileSystem()
    for value in range(3):  # before: the second run failed with "defined twice"
        with wasifs.instantiate(reactor, linker=linker, mounts={"/data": fs}) as g:
            assert g.call("write_note", value) == 0
            assert g.call("use_host", value) == 1000 + value
    assert fs.cat_file("/note.txt") == b"value=2\n"
    for _ in range(2):
        assert wasifs.run(tool, args=["t", "args"], linker=linker).stdout == b"t\nargs\n"
    # the caller's linker was not changed: it still has no WASI functions of its own
    with pytest.raises(wasmtime.WasmtimeError):
        linker.get(wasmtime.Store(engine), "wasi_snapshot_preview1", "fd_write")


# --------------------------------------------------------------------------- text streams
def test_text_streams_as_stdout_and_stdin(waits: bytes, tool: bytes, wasi_build: Any,
                                          caplog: pytest.LogCaptureFixture) -> None:
    out = io.StringIO()
    r = wasifs.run(waits, args=["w", "utf8"], stdout=out)  # one byte per write
    assert r.exit_code == 0
    assert out.getvalue() == "é€"  # before: EIO on every write, a logged "bug", exit 0
    cat = wasi_build.c(r"""
        #include <stdio.h>
        int main(void) { int c; while ((c = getchar()) != EOF) putchar(c); return 0; }""")
    echoed = io.StringIO()
    r = wasifs.run(cat, stdin=io.StringIO("héllo\n"), stdout=echoed, stderr=io.StringIO())
    assert (r.exit_code, echoed.getvalue()) == (0, "héllo\n")
    assert not [rec for rec in caplog.records if rec.levelname == "ERROR"]


SYS_STDOUT = """
import sys, wasifs
print("before", flush=False)
r = wasifs.run(sys.argv[1], args=["tool", "args", "x"], stdout=sys.stdout, stderr=sys.stderr)
print("after", r.exit_code)
"""


def test_sys_stdout_keeps_the_order_of_host_and_guest_output(tool: bytes, tmp_path: Path) -> None:
    mod = tmp_path / "tool.wasm"
    mod.write_bytes(tool)
    r = run_python(SYS_STDOUT, str(mod))
    assert r.returncode == 0, r.stderr
    assert r.stdout == "before\ntool\nargs\nx\nafter 0\n"
    assert "bug" not in r.stderr


# --------------------------------------------------------------------------- misuse
def test_an_instance_cannot_be_used_after_its_with_block(reactor: bytes) -> None:
    engine = wasifs.api.default_engine()
    with wasifs.instantiate(reactor, linker=host_linker(engine),
                            mounts={"/data": wasifs.MemoryFileSystem()}) as g:
        export = g.exports["count_entries"]
        assert export() == 0
    assert g.closed
    for use in (lambda: g.call("count_entries"), export, lambda: g.exports, g.start):
        with pytest.raises((RuntimeError, wasifs.LinkError), match="closed|reactor"):
            use()
    with pytest.raises(RuntimeError, match="closed"):
        g.call("count_entries")


def test_proc_exit_status_rules_follow_wasmtime(waits: bytes) -> None:
    for status, expected in ((0, 0), (125, 125)):
        r = wasifs.run(waits, args=["w", "exit", str(status)])
        assert (r.exit_code, r.trap) == (expected, None)
    for status in (126, 256, 4294967295):
        r = wasifs.run(waits, args=["w", "exit", str(status)])  # before: 256 exited 0
        assert r.exit_code == wasifs.api.TRAP_EXIT_CODE, status
        assert r.trap is not None and "outside of [0, 126)" in r.trap


SIGNATURE = """(module
  (import "wasi_snapshot_preview1" "fd_write" (func (param i32) (result i32)))
  (memory (export "memory") 1) (func (export "_start")))"""
UNKNOWN = """(module
  (import "wasi_snapshot_preview1" "thread_spawn" (func (param i32) (result i32)))
  (memory (export "memory") 1) (func (export "_start")))"""


def test_import_errors_name_the_import_and_what_to_do() -> None:
    with pytest.raises(wasifs.LinkError, match=r"fd_write with type \(i32\) -> \(i32\).*"
                       r"\(i32, i32, i32, i32\) -> \(i32\).*rebuild") as info:
        wasifs.run(SIGNATURE)  # before: reported as a trap
    assert info.value.reason == "signature"
    with pytest.raises(wasifs.LinkError, match=r"thread_spawn, which is not a WASI preview1"):
        wasifs.run(UNKNOWN)


def test_submodules_are_reachable_from_a_plain_import() -> None:
    r = run_python("import wasifs; print(wasifs.api.TRAP_EXIT_CODE, wasifs.stdio.FileSink)")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("134 <class 'wasifs.stdio.FileSink'>")


def test_run_options_object(tool: bytes) -> None:
    opts = wasifs.RunOptions(args=["tool", "args", "o"])
    assert wasifs.run(tool, opts).stdout == b"tool\nargs\no\n"
    assert wasifs.run(tool, opts, args=["t", "args"]).stdout == b"t\nargs\n"
    with pytest.raises(TypeError, match="unknown run option.*stdot"):
        wasifs.run(tool, stdot=None)  # type: ignore[call-arg]


# --------------------------------------------------------------------------- module cache
def test_run_and_the_cli_use_the_disk_cache(tool: bytes, tmp_path: Path) -> None:
    mod = tmp_path / "tool.wasm"
    mod.write_bytes(tool)
    cache = tmp_path / "cache"
    env = dict(os.environ, WASIFS_MODULE_CACHE=str(cache))
    code = "import sys, wasifs; print(wasifs.run(sys.argv[1], args=['t', 'args']).stdout)"
    assert run_python(code, str(mod), env=env).returncode == 0
    entries = [p.name for p in cache.iterdir() if p.suffix == ".cwasm"]
    assert len(entries) == 1  # before: run() never wrote the cache
    assert len(list((cache / "index").iterdir())) == 1
    # the next process loads it: it neither compiles nor reads and hashes the module file
    no_compile = ("import sys, wasifs.engine as e\n"
                  "def boom(*a): raise AssertionError('compiled again')\n"
                  "e._compile = boom; e._module_bytes = boom\n"
                  "import wasifs; print(wasifs.run(sys.argv[1], args=['t', 'args']).stdout)\n")
    r = run_python(no_compile, str(mod), env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "b't\\nargs\\n'"
    r = subprocess.run([sys.executable, "-m", "wasifs", "run", str(mod), "args"], env=env,
                       capture_output=True, timeout=300)
    assert r.returncode == 0 and r.stdout == b"tool.wasm\nargs\n"
    assert len([p for p in cache.iterdir() if p.suffix == ".cwasm"]) == 1
    env["WASIFS_MODULE_CACHE"] = "off"
    assert run_python("import wasifs.api as a; print(a.module_cache_dir())",
                      env=env).stdout.strip() == "None"
    assert module_cache_dir() is not None


def test_disk_cache_keys_engine_settings_and_skips_foreign_engines(
        tool: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WASIFS_MODULE_CACHE", str(tmp_path / "cache"))
    data = tool + b""  # a new bytes object: not remembered in this process
    load_module(data, wasifs.api.get_engine(consume_fuel=True))
    load_module(data, wasifs.api.get_engine(cranelift_opt_level="none"))
    load_module(data, wasmtime.Engine())  # unknown configuration: this process only
    entries = [p for p in (tmp_path / "cache").iterdir() if p.suffix == ".cwasm"]
    assert len(entries) == 2
    assert wasifs.api.get_engine(consume_fuel=True) is wasifs.api.get_engine(consume_fuel=True)
    with pytest.raises(ValueError, match="not a wasmtime.Config setting"):
        wasifs.api.get_engine(no_such_setting=True)


def test_disk_cache_is_bounded_least_recently_used_first(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("WASIFS_MODULE_CACHE", str(cache))
    mods = [f'(module (func (export "f{i}") (result i32) i32.const {i}))'.encode()
            for i in range(4)]
    load_module(mods[0])
    one = sum(p.stat().st_size for p in cache.iterdir() if p.suffix == ".cwasm")
    monkeypatch.setenv("WASIFS_MODULE_CACHE_SIZE", str(int(one * 2.5)))
    load_module(mods[1])
    time.sleep(0.01)
    wasifs.engine._load_from_disk(wasifs.api.default_engine(), cache,
                                  next(p.name for p in cache.iterdir() if p.suffix == ".cwasm"
                                       and p.stat().st_mtime_ns == min(
                                           q.stat().st_mtime_ns for q in cache.iterdir()
                                           if q.suffix == ".cwasm")))  # use the oldest again
    kept_name = max(cache.iterdir(), key=lambda p: p.stat().st_mtime_ns).name
    load_module(mods[2])
    names = {p.name for p in cache.iterdir() if p.suffix == ".cwasm"}
    assert len(names) == 2 and kept_name in names
    assert sum(max(p.stat().st_size, 4096) for p in cache.rglob("*") if p.is_file()) <= one * 2.5
    assert wasifs.engine.parse_size("1.5K") == 1536 and wasifs.engine.parse_size("2G") == 2 << 30


def test_concurrent_processes_share_the_disk_cache(tmp_path: Path) -> None:
    wat = tmp_path / "m.wat"
    wat.write_text('(module (memory (export "memory") 1) (func (export "_start")))')
    env = dict(os.environ, WASIFS_MODULE_CACHE=str(tmp_path / "cache"))
    code = "import sys, wasifs; sys.exit(wasifs.run(sys.argv[1]).exit_code)"
    procs = [subprocess.Popen([sys.executable, "-c", code, str(wat)], env=env,
                              stderr=subprocess.PIPE) for _ in range(4)]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    files = [p for p in (tmp_path / "cache").iterdir() if p.is_file()]
    assert [p.suffix for p in files] == [".cwasm"]  # no temporary file left behind


RUN_SMALL = """
import sys
before = set(sys.modules)  # what the interpreter's start-up imported (site hooks included)
import wasifs
assert wasifs.run(sys.argv[1], args=["waits", "fd3"]).stdout == b"fd3: EBADF\\n"
print(",".join(m for m in ("fsspec", "asyncio", "importlib.metadata", "tempfile", "email",
                           "hashlib", "wasifs.backends.memory", "wasifs.backends.native",
                           "wasifs.path", "wasifs.transfer", "wasifs.backends._mirror",
                           "wasifs.observe",
                           "tarfile")
               if m in sys.modules and m not in before))
"""


def test_a_run_imports_only_what_it_uses(waits: bytes, tmp_path: Path) -> None:
    mod = tmp_path / "waits.wasm"
    mod.write_bytes(waits)
    env = dict(os.environ, WASIFS_MODULE_CACHE=str(tmp_path / "cache"))
    run_python(RUN_SMALL, str(mod), env=env)  # fills the cache
    r = run_python(RUN_SMALL, str(mod), env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == ""
