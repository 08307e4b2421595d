"""float64 for a block: ``with x64(): ...`` across JAX versions."""

import contextlib

import jax


@contextlib.contextmanager
def x64():
    try:
        from jax.experimental import enable_x64  # JAX < 0.8
    except ImportError:
        with jax.enable_x64(True):
            yield
        return
    with enable_x64():
        yield
