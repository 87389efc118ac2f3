"""Shared test fixtures."""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
