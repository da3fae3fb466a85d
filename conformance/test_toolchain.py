"""wasifs.toolchain: compiling C guests (cached by content) and assembling WAT."""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path
from typing import Any

import pytest
import wasmtime

from wasifs import toolchain
from wasifs.toolchain import ToolchainError, compile_c, wat_to_wasm

HELLO = '#include <stdio.h>\nint main(void) { puts("hi from %s"); return 0; }\n'


def _run(wasm: bytes) -> str:
    engine = wasmtime.Engine()
    module = wasmtime.Module(engine, wasm)
    store = wasmtime.Store(engine)
    out = []
    cfg = wasmtime.WasiConfig()
    cfg.stdout_custom = lambda data: out.append(bytes(data))
    store.set_wasi(cfg)
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    start = linker.instantiate(store, module).exports(store)["_start"]
    assert isinstance(start, wasmtime.Func)
    start(store)
    return b"".join(out).decode()


def test_compile_runs_and_caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    wasm = compile_c(HELLO % "C", cache_dir=cache)
    assert wasm[:4] == b"\0asm"
    assert _run(wasm) == "hi from C\n"
    assert len(list(cache.glob("*.wasm"))) == 1

    # a second build of the same source is served from the cache: the compiler never runs
    def no_compiler(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"the compiler ran for a cached source: {args}")

    monkeypatch.setattr(subprocess, "run", no_compiler)
    assert compile_c(HELLO % "C", cache_dir=cache) == wasm
    assert compile_c((HELLO % "C").encode(), cache_dir=cache) == wasm
    # different flags are a different cache entry
    with pytest.raises(AssertionError, match="the compiler ran"):
        compile_c(HELLO % "C", flags=["-DX=1"], cache_dir=cache)


def test_path_source_and_env_cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "prog.c"
    src.write_text('#include "msg.h"\n#include <stdio.h>\nint main(void) { puts(MSG); }\n')
    (tmp_path / "msg.h").write_text('#define MSG "from a header"\n')
    monkeypatch.setenv("WASIFS_CACHE_DIR", str(tmp_path / "envcache"))
    assert toolchain.default_cache_dir() == tmp_path / "envcache"
    wasm = compile_c(src)
    assert _run(wasm) == "from a header\n"
    assert list((tmp_path / "envcache").glob("*.wasm"))
    assert not list((tmp_path / "envcache").glob(".*.tmp"))


def test_compile_error_carries_the_diagnostics(tmp_path: Path) -> None:
    with pytest.raises(ToolchainError) as info:
        compile_c("int main(void) { return undeclared_name; }\n", cache_dir=tmp_path)
    assert "undeclared_name" in info.value.stderr
    assert "compiling" in str(info.value) and "undeclared_name" in str(info.value)
    assert not list(tmp_path.glob("*.wasm"))


def test_missing_ziglang(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(toolchain, "_zig_version", None)
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "ziglang" else real(name, *a)
    )
    with pytest.raises(ToolchainError, match="pip install ziglang"):
        compile_c("int main(void) { return 0; }\n", cache_dir=tmp_path)


def test_bad_arguments() -> None:
    with pytest.raises(TypeError):
        compile_c(123)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        compile_c("int main(void){return 0;}", flags="-O0")


def test_wat_to_wasm() -> None:
    wasm = wat_to_wasm('(module (memory (export "memory") 1))')
    assert isinstance(wasm, bytes) and wasm[:4] == b"\0asm"
    with pytest.raises(ToolchainError, match="invalid WebAssembly text"):
        wat_to_wasm("(module (func (i32.bogus_instruction)))")
