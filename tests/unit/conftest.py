"""Fixtures the unit tests repeat: an empty in-memory cluster and a fake clock.

``fake_cluster`` (beside this file, importable from every unit test) holds the fakes themselves;
tests that start from objects build their own ``FakeCluster([...])``.
"""

import pytest
from fake_cluster import Clock, FakeCluster


@pytest.fixture
def cluster() -> FakeCluster:
    """An empty FakeCluster (no objects yet; every request recorded)."""
    return FakeCluster()


@pytest.fixture
def clock() -> Clock:
    """A fake monotonic clock at 1000.0: tests advance ``clock.now`` (no test waits for real)."""
    return Clock()
