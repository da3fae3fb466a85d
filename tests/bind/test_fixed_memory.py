"""A memory that never moves (an engine made with ``memory_may_move = False``, as wasifs's
own engines are): a call whose regions lie inside the view the binding already has skips the
look at the memory's size; one that reaches past it looks, and sees the grown memory."""

from __future__ import annotations

import wasmtime

import wasifs
from wasifs.api import default_engine
from wasifs.bind import WasmtimeBinding
from wasifs.engine import engine_settings
from wasifs.toolchain import compile_c

from .conftest import RecordingCore, forwarding_wat

PAGE = 65536


def _guest(core: RecordingCore, mode: str) -> tuple[wasmtime.Store, WasmtimeBinding,
                                                      wasmtime.Instance]:
    config = wasmtime.Config()
    config.memory_may_move = False
    engine = wasmtime.Engine(config)
    store = wasmtime.Store(engine)
    binding = WasmtimeBinding(store, core, mode,  # type: ignore[arg-type]
                              memory_fixed=True)
    linker = wasmtime.Linker(engine)
    binding.define(linker, ["clock_time_get", "random_get"])
    instance = binding.instantiate(linker, wasmtime.Module(engine, forwarding_wat(
        ("clock_time_get", "random_get"))))
    return store, binding, instance


def test_a_region_inside_the_view_skips_the_size_check_and_a_far_one_remaps(
        mode: str) -> None:
    core = RecordingCore()
    seen: list[int] = []

    def look(c: RecordingCore, *args: int) -> int:
        seen.append(len(c.mem))
        return 0

    core.answers["clock_time_get"] = look
    core.answers["random_get"] = look
    store, binding, instance = _guest(core, mode)
    ex = instance.exports(store)

    def call(name: str, *args: int) -> object:
        return binding.invoke(ex[name], *args)  # type: ignore[arg-type]

    call("call_clock_time_get", 1, 0, 16)
    first = core.mem
    assert call("grow", 2) == 1
    call("call_clock_time_get", 1, 0, 16)      # inside the view it has: no look
    call("call_random_get", 8, 16)
    if mode == "raw":
        assert core.mem is first and seen == [PAGE, PAGE, PAGE]
    call("call_clock_time_get", 1, 0, 2 * PAGE + 8)   # past it: looks, remaps
    call("call_random_get", PAGE - 8, 16)             # straddles the old end: looks too
    assert seen[-2:] == [3 * PAGE, 3 * PAGE]
    # the old view was never stale: the memory did not move
    first[20] = 7
    assert call("load8", 20) == 7


def test_wasifs_engines_never_move_memory_and_guests_see_their_grown_heap() -> None:
    settings = engine_settings(default_engine())
    assert settings is not None and settings.get("memory_may_move") is False
    src = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>
int main(void) {
    struct timespec early;
    clock_gettime(CLOCK_MONOTONIC, &early);
    for (int round = 0; round < 4; round++) {
        /* each round grows memory and uses results placed at the new end */
        char *heap = malloc((size_t)(round + 1) << 22);
        size_t end = ((size_t)(round + 1) << 22) - 256;
        struct timespec *ts = (struct timespec *)(heap + end);
        if (clock_gettime(CLOCK_MONOTONIC, ts) != 0) return 10 + round;
        if (ts->tv_sec < early.tv_sec) return 20 + round;
        char *path = heap + end + 64;
        snprintf(path, 64, "/d/f%d", round);
        int fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0644);
        if (fd < 0) return 30 + round;
        close(fd);
        struct stat *st = (struct stat *)(heap + end - 256);
        if (stat(path, st) != 0 || st->st_size != 0) return 40 + round;
        off_t *where = (off_t *)(heap + end + 200);
        fd = open(path, O_RDONLY);
        *where = lseek(fd, 5, SEEK_SET);
        if (*where != 5) return 50 + round;
        close(fd);
    }
    puts("ok");
    return 0;
}
"""
    result = wasifs.run(compile_c(src), mounts={"/d": wasifs.MemoryFileSystem()})
    assert result.exit_code == 0 and bytes(result.stdout) == b"ok\n", result


def test_reads_and_writes_through_buffers_in_grown_memory() -> None:
    """``fd_read``/``fd_write``/``fd_pread``/``fd_pwrite`` skip the look at the memory's size
    when their iovecs and result slot lie inside the view; a buffer in memory grown since is
    an EFAULT of the stale view, after which the trampoline looks, remaps and calls again."""
    src = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
int main(void) {
    printf("start\n");
    fflush(stdout);
    int fd = open("/d/f", O_CREAT | O_EXCL | O_RDWR, 0644);
    if (fd < 0) return 2;
    for (int round = 0; round < 4; round++) {
        /* the buffers lie at the new end of a heap grown each round; the iovecs that
           wasi-libc builds on the stack lie low, inside the view the binding has */
        char *heap = malloc((size_t)(round + 1) << 22);
        char *out = heap + ((size_t)(round + 1) << 22) - 64;
        char *in = out + 32;
        snprintf(out, 32, "round %d", round);
        size_t n = strlen(out) + 1;
        if (pwrite(fd, out, n, 100 * round) != (ssize_t)n) return 10 + round;
        memset(in, 0, 32);
        if (pread(fd, in, n, 100 * round) != (ssize_t)n || strcmp(in, out) != 0)
            return 20 + round;
        if (lseek(fd, 100 * round + 50, SEEK_SET) < 0) return 30 + round;
        if (write(fd, out, n) != (ssize_t)n) return 40 + round;
        memset(in, 0, 32);
        if (lseek(fd, 100 * round + 50, SEEK_SET) < 0) return 50 + round;
        if (read(fd, in, n) != (ssize_t)n || strcmp(in, out) != 0) return 60 + round;
        if (write(1, out, n - 1) != (ssize_t)(n - 1)) return 70 + round;
        /* a buffer past the end of memory is still EFAULT */
        if (write(fd, (char *)0xFFFFFF00u, 16) != -1) return 80 + round;
    }
    close(fd);
    return 0;
}
"""
    result = wasifs.run(compile_c(src), mounts={"/d": wasifs.MemoryFileSystem()})
    assert result.exit_code == 0, result
    assert bytes(result.stdout) == b"start\nround 0round 1round 2round 3", result
