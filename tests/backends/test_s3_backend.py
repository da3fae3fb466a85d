"""S3 through the fsspec adapter, on a real S3-compatible HTTP server: moto's standalone
server on loopback, started and stopped by this module (as s3fs's own tests run theirs).
The contract suite over a bucket, directory markers, a real guest reading, writing, renaming
and listing objects through WASI, and ``s3://`` URLs through the registry."""

from __future__ import annotations

import errno
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import wasifs
from wasifs.backends import FsspecBackend, open_backend
from wasifs.testing import BackendContract, Capability, create_file, raises_errno, read_file
from wasifs.toolchain import compile_c

s3fs = pytest.importorskip("s3fs")
moto_server = pytest.importorskip("moto.server")

#: An object store: written front to back and spooled for the rest, renames copy then
#: delete (a directory object by object), no links, no settable times.
OBJECT_STORE = frozenset({Capability.WRITE, Capability.RANDOM_WRITE, Capability.READONLY})

GUEST = Path(__file__).resolve().parents[1] / "guests" / "objects.c"
_BUCKETS = itertools.count()


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """A moto S3 server on 127.0.0.1 (a free port), for this module's tests."""
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def s3_options(endpoint: str) -> dict[str, Any]:
    return {"key": "testing", "secret": "testing", "client_kwargs": {"endpoint_url": endpoint},
            "skip_instance_cache": True}


@pytest.fixture(scope="module")
def s3(s3_endpoint: str) -> Any:
    """One client for the module (each test has a bucket of its own)."""
    return s3fs.S3FileSystem(**s3_options(s3_endpoint))


def keys(s3: Any, bucket: str) -> list[str]:
    """The object keys in the bucket, as S3 lists them (markers included)."""
    listing = s3.call_s3("list_objects_v2", Bucket=bucket)
    return [obj["Key"] for obj in listing.get("Contents", [])]


@pytest.fixture
def bucket(s3: Any) -> str:
    name = f"wasifs-test-{next(_BUCKETS)}"
    s3.mkdir(name)
    return name


class TestS3(BackendContract):
    backend_name = "s3"
    capabilities = OBJECT_STORE

    @pytest.fixture
    def backend(self, s3: Any, bucket: str) -> FsspecBackend:
        return FsspecBackend(s3, bucket)


CONTRACTS: list[type[BackendContract]] = [TestS3]


def test_directories_are_prefixes_and_markers(s3: Any, bucket: str) -> None:
    """mkdir writes the ``dir/`` marker object; a prefix that holds objects is a directory;
    removing the last object of a directory leaves a marker so that it stays."""
    s3.pipe(f"{bucket}/implicit/a.txt", b"a")
    backend = FsspecBackend(s3, bucket)
    assert backend.dir_markers is True
    root = backend.root()
    backend.mkdir(root, "made")
    assert keys(s3, bucket) == ["implicit/a.txt", "made/"]
    assert sorted(e.name for e in backend.listdir(root)) == ["implicit", "made"]
    implicit = backend.opendir(root, "implicit")
    backend.unlink(implicit, "a.txt")
    assert backend.listdir(implicit) == []
    assert keys(s3, bucket) == ["implicit/", "made/"]
    made = backend.opendir(root, "made")
    assert backend.listdir(made) == []  # the marker is not an entry
    backend.rmdir(root, "made")
    backend.rmdir(root, "implicit")
    assert backend.listdir(root) == []
    assert keys(s3, bucket) == []


def test_links_and_times_are_refused(s3: Any, bucket: str) -> None:
    backend = FsspecBackend(s3, bucket)
    root = backend.root()
    create_file(backend, root, "f", b"x")
    with raises_errno(errno.EPERM):
        backend.symlink("f", root, "l")
    with raises_errno(errno.EPERM):
        backend.link(root, "f", root, "g")
    with raises_errno(errno.ENOTSUP):
        backend.set_times(root, "f", 1, 1)


def test_urls_open_s3_buckets(s3_endpoint: str, s3: Any, bucket: str) -> None:
    s3.pipe(f"{bucket}/data/x.txt", b"from s3")
    options = s3_options(s3_endpoint)
    backend = open_backend(f"s3://{bucket}/data", **options)
    assert isinstance(backend, FsspecBackend)
    assert read_file(backend, backend.root(), "x.txt") == b"from s3"
    readonly = open_backend(f"s3://{bucket}", readonly=True, **options)
    with raises_errno(errno.EROFS):
        create_file(readonly, readonly.root(), "new")


def test_zip_inside_a_bucket(s3_endpoint: str, s3: Any, bucket: str, tmp_path: Path) -> None:
    """A chained URL: a zip archive that lives in the bucket, read in place."""
    from wasifs.backends import MemoryFileSystem

    from ._archives import pack_zip

    staging = MemoryFileSystem(auto_mkdir=True)
    staging.pipe("/inner/f.txt", b"zipped in s3")
    s3.put(str(pack_zip(staging, tmp_path / "a.zip")), f"{bucket}/a.zip")
    backend = open_backend(f"zip://::s3://{bucket}/a.zip", s3=s3_options(s3_endpoint))
    assert isinstance(backend, FsspecBackend) and backend.readonly
    inner = backend.opendir(backend.root(), "inner")
    assert read_file(backend, inner, "f.txt") == b"zipped in s3"


def test_guest_reads_writes_renames_and_lists_objects(s3: Any, bucket: str) -> None:
    s3.pipe(f"{bucket}/in.txt", b"input")
    s3.pipe(f"{bucket}/logs/old.log", b"old")
    argv = ["objects",
            "ls", "/s3", "cat", "/s3/in.txt", "write", "/s3/out.txt", "written",
            "pwrite", "/s3/in.txt", "2", "XY", "mkdir", "/s3/new", "mv", "/s3/out.txt",
            "/s3/new/out.txt", "ls", "/s3/new", "mv", "/s3/logs", "/s3/archive",
            "ls", "/s3", "cat", "/s3/archive/old.log", "rm", "/s3/archive/old.log",
            "ls", "/s3/archive", "rmdir", "/s3/archive"]
    result = wasifs.run(compile_c(GUEST), args=argv,
                        mounts={"/s3": FsspecBackend(s3, bucket)}, strict=True)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.decode().splitlines() == [
        "/s3: in.txt logs", "/s3/in.txt: input", "write /s3/out.txt: ok",
        "pwrite /s3/in.txt: ok", "mkdir /s3/new: ok", "mv /s3/out.txt: ok",
        "/s3/new: out.txt", "mv /s3/logs: ok", "/s3: archive in.txt new",
        "/s3/archive/old.log: old", "rm /s3/archive/old.log: ok", "/s3/archive:",
        "rmdir /s3/archive: ok"]
    s3.invalidate_cache()
    assert s3.cat(f"{bucket}/in.txt") == b"inXYt"
    assert s3.cat(f"{bucket}/new/out.txt") == b"written"
    assert keys(s3, bucket) == ["in.txt", "new/", "new/out.txt"]
