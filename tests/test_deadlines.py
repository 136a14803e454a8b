from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from gis.deadlines import deadline, deadlines_array


def test_vectorised_deadlines_equal_the_reference():
    rng = np.random.default_rng(1)
    base = datetime(2024, 1, 1, tzinfo=UTC)
    reported = [base + timedelta(minutes=int(m)) for m in rng.integers(0, 60 * 24 * 60, 3000)]
    units = rng.choice(["natural_days", "working_days", "working_hours"], 3000)
    limits = rng.choice([1, 2, 3, 4, 5, 8, 16, 0.5], 3000)
    limits = np.where(units == "working_days", np.round(limits).clip(1), limits)
    got = deadlines_array(np.array([t.replace(tzinfo=None) for t in reported], dtype="datetime64[us]"), limits, units)
    for t, lim, unit, g in zip(reported, limits, units, got, strict=True):
        expected = deadline(t, lim, unit).astimezone(UTC).replace(tzinfo=None)
        assert np.datetime64(expected, "us") == g, (t, lim, unit)
