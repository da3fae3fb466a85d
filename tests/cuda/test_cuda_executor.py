"""Scale-out: the files partitioned by bytes over an executor's workers (threads,
processes, a real dask.distributed LocalCluster on loopback), identical results."""

from __future__ import annotations

import multiprocessing
import random
import zlib
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path as HostPath

import pytest
from cuda_helpers import make_tree, needs, reference, reference_counts

import wasifs.cuda as wc
from wasifs.backends.native import NativeFileSystem
from wasifs.cuda._plan import partition
from wasifs.cuda._source import FileInfo

PATTERNS = [b"abab", b"ba", b"\x00\x00"]


def _files() -> dict[str, bytes]:
    rng = random.Random(7)
    files = {f"/small/{i:03d}": bytes(rng.choice(b"ab\x00") for _ in range(i % 37))
             for i in range(120)}
    files["/big"] = bytes(rng.choice(b"ab\x00") for _ in range(200_003))
    files["/empty"] = b""
    return files


@pytest.fixture(scope="module")
def host_tree(tmp_path_factory: pytest.TempPathFactory) -> tuple[HostPath, dict[str, bytes]]:
    root = tmp_path_factory.mktemp("tree")
    files = _files()
    for name, data in files.items():
        p = root / name.lstrip("/")
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return root, files


def _check(fs: object, files: dict[str, bytes], executor: object, partitions: int | None
           ) -> None:
    got = wc.checksum(fs, None, device="cpu", executor=executor, partitions=partitions)
    assert got == {k: zlib.crc32(v) for k, v in sorted(files.items())}
    found = wc.scan(fs, None, PATTERNS, "cpu", executor=executor, partitions=partitions)
    assert [tuple(m) for m in found] == reference(files, PATTERNS)
    counts = wc.scan(fs, None, PATTERNS, "cpu", count=True, executor=executor,
                     partitions=partitions)
    assert counts == reference_counts(files, PATTERNS)


def test_partitions_balance_bytes_and_split_big_files() -> None:
    files = [FileInfo(str(i), str(i), n) for i, n in enumerate([10, 1_000_000, 0, 5, 300_000])]
    parts = partition(files, 4)
    assert len(parts) == 4
    cost = [sum(sp.length + 4096 for sp in p) for p in parts]
    assert max(cost) - min(cost) < 2 * 4096 + 20
    big = [sp for p in parts for sp in p if sp.file == 1]
    assert len(big) >= 3 and sum(sp.length for sp in big) == 1_000_000


@pytest.mark.parametrize("partitions", [None, 1, 5, 40])
def test_thread_pool(partitions: int | None) -> None:
    files = _files()
    with ThreadPoolExecutor(3) as ex:
        _check(make_tree(files), files, ex, partitions)


def test_process_pool_reads_a_native_tree_and_a_pickled_memory_tree(
        host_tree: tuple[HostPath, dict[str, bytes]]) -> None:
    root, files = host_tree
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(2, mp_context=ctx) as ex:
        _check(NativeFileSystem(root, readonly=True), files, ex, 4)
        _check(make_tree(files), files, ex, 3)  # a memory backend pickles as a snapshot


@pytest.fixture(scope="module")
def dask_client() -> Iterator[object]:
    pytest.importorskip("distributed")
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=":0", silence_logs=40) as cluster, \
            Client(cluster) as client:
        yield client


@needs("distributed")
def test_dask_local_cluster(dask_client: object,
                            host_tree: tuple[HostPath, dict[str, bytes]]) -> None:
    root, files = host_tree
    _check(NativeFileSystem(root, readonly=True), files, dask_client, None)
    _check(str(root), files, dask_client, 5)
    # Each worker ran a part: the client saw both workers' results.
    info = dask_client.scheduler_info()  # type: ignore[attr-defined]
    assert len(info["workers"]) == 2
