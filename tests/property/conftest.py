"""Hypothesis settings: few examples, no deadline (2 shared cores), and in CI
the same examples every run so that a red build is reproducible."""

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "vdictl", max_examples=150, deadline=None, derandomize=bool(os.environ.get("CI")),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.load_profile("vdictl")
