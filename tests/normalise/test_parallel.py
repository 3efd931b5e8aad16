"""Threaded geometry work gives exactly what one vectorised call gives."""

from __future__ import annotations

import os

import geopandas as gpd
import numpy as np
import pytest
import shapely

from geopublish import kernels, parallel


def stars(n: int, seed: int = 7) -> np.ndarray:
    """Lambert-93 polygons, some with Z, a few missing."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform((600_000, 6_200_000), (800_000, 6_400_000), (n, 2))
    geoms = shapely.buffer(shapely.points(centres), rng.uniform(50, 500, n), quad_segs=4)
    geoms[5] = shapely.Polygon(
        [(700_000, 6_300_000, 10), (700_100, 6_300_000, 12), (700_000, 6_300_100, 9)]
    )
    geoms[17] = None
    return geoms


@pytest.fixture(autouse=True)
def four_threads():
    parallel.configure(4)
    yield
    parallel.configure(None)


def test_pmap_keeps_order_and_results():
    geoms = stars(9_001)
    assert np.array_equal(parallel.pmap(shapely.area, geoms), shapely.area(geoms), equal_nan=True)
    assert parallel.pmap(shapely.is_valid, geoms).tolist() == shapely.is_valid(geoms).tolist()


def test_reproject_equals_geopandas_to_crs():
    geoms = stars(6_000)
    ours = kernels.reproject(geoms, gpd.GeoSeries(crs=2154).crs, gpd.GeoSeries(crs=4326).crs)
    theirs = gpd.GeoSeries(geoms, crs=2154).to_crs(4326).to_numpy()
    assert shapely.equals_exact(ours, theirs, tolerance=0)[~shapely.is_missing(theirs)].all()
    assert shapely.is_missing(ours).tolist() == shapely.is_missing(theirs).tolist()
    assert shapely.has_z(ours[5])  # Z kept, as to_crs keeps it


def test_wkb_equals_shapely():
    geoms = stars(5_000)
    expected = shapely.to_wkb(geoms, output_dimension=2, byte_order=1)
    assert kernels.to_wkb(geoms).tolist() == expected.tolist()


def test_prefetch_yields_every_item_in_order():
    assert list(parallel.prefetch(iter(range(1_000)))) == list(range(1_000))


def test_prefetch_raises_the_producers_error_after_the_items_before_it():
    def items():
        yield 1
        yield 2
        raise ValueError("layer 'x': bad value in field 'y'")

    seen = []
    with pytest.raises(ValueError, match="bad value"):
        for item in parallel.prefetch(items()):
            seen.append(item)
    assert seen == [1, 2]


def test_prefetch_stops_the_producer_when_the_consumer_stops():
    produced = []

    def items():
        for i in range(1_000_000):
            produced.append(i)
            yield i

    for item in parallel.prefetch(items()):
        if item == 3:
            break
    # the generator is closed by the loop's exit; the producer ran at most two items ahead
    assert len(produced) <= 6


def test_one_thread_means_no_thread():
    parallel.configure(1)
    try:
        geoms = stars(10_000)
        assert parallel.pmap(shapely.area, geoms).shape == (10_000,)
        assert list(parallel.prefetch(iter("abc"))) == ["a", "b", "c"]
    finally:
        parallel.configure(None)


def test_threads_come_from_the_validated_setting_not_the_environment(monkeypatch):
    from geopublish.settings import get_settings

    monkeypatch.setenv("GEOPUBLISH_THREADS", "3")
    assert get_settings().threads == 3
    parallel.configure(None)
    assert parallel.threads() == max(1, min(len(os.sched_getaffinity(0)), 4))
    with pytest.raises(ValueError, match="threads 0: expected a whole number"):
        parallel.configure(0)


def test_the_cli_refuses_a_bad_thread_count_in_one_line(tmp_path):
    from gpsupport import cli_env, run_cli

    env = cli_env(tmp_path / "var", tmp_path, GEOPUBLISH_THREADS="two")
    result = run_cli(env, "check")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "threads" in lines[0] and "'two'" in lines[0]
