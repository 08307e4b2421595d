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
