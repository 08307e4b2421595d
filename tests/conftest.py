"""Shared fixtures. Gradient checks switch on float64 locally (jax.experimental.enable_x64)."""

import os

import pytest

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false")


@pytest.fixture(scope="session")
def gpt3():
    from workloads import get_workload

    return get_workload("gpt3-175b")


@pytest.fixture(scope="session")
def h100():
    from hwmodels import get_system

    return get_system("h100-sxm")


@pytest.fixture(scope="session")
def cal():
    from dse import load_calibration

    return load_calibration()


@pytest.fixture(scope="session", autouse=True)
def _compilation_cache(tmp_path_factory):
    """A persistent XLA compilation cache for the session: searches that build
    the same problem twice (same seed, CLI and API) compile once."""
    import jax

    jax.config.update("jax_compilation_cache_dir", str(tmp_path_factory.mktemp("xla-cache")))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    yield
