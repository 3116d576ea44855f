"""Shared pytest setup."""

import os

import matplotlib
from tiny_runs import SEED_VARIABLE

# Figures render headless (no display on CI); set before anything imports pyplot.
matplotlib.use("Agg")

# Under pytest-xdist (`make test` runs `-n auto`), one thread per worker process and per process a
# test starts: the workers already use every core, and more threads would only contend. Set before
# any test module imports torch.
if "PYTEST_XDIST_WORKER" in os.environ:
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = "1"


def pytest_addoption(parser):
    parser.addoption(
        "--tiny-seed",
        type=int,
        default=None,
        help="train the tests' tiny models with this seed instead of 0 (with -m tiny_training: the "
        "extra pass of `make test`, which shows that no test depends on one seed's luck)",
    )


def pytest_configure(config):
    seed = config.getoption("--tiny-seed")
    if seed is not None:
        os.environ[SEED_VARIABLE] = str(seed)  # worker processes inherit it
