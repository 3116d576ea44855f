"""Shared pytest setup."""

import matplotlib

# Figures render headless (no display on CI); set before anything imports pyplot.
matplotlib.use("Agg")
