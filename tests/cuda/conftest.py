"""wasifs.cuda tests. The CUDA kernels run in numba's simulator (``NUMBA_ENABLE_CUDASIM=1``,
set here before numba is imported) on small inputs; ``WASIFS_CUDA_TESTS=gpu`` runs the same
tests on a real GPU instead."""

from __future__ import annotations

import os

import pytest

REAL_GPU = os.environ.get("WASIFS_CUDA_TESTS") == "gpu"
if not REAL_GPU:
    os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")


def pytest_configure(config: pytest.Config) -> None:
    if REAL_GPU:  # small test grids are the point here, not a performance problem
        config.addinivalue_line(
            "filterwarnings", "ignore::numba.core.errors.NumbaPerformanceWarning")
