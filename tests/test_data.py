"""nnsim.core.data: generators, splits, cleaning, normalisation, the CSV loader and digits.

Expected values are computed here from the raw data or the configuration, never copied
from a previous run, so a regression in the data path makes these tests fail.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from nnsim.core.config import DERIVED_FEATURES, ConfigError, config_from_dict
from nnsim.core.data import CleaningReport, DataError, build_dataset
from nnsim.core.data.houses import CURRENT_YEAR, FEATURES as HOUSE_FEATURES
from nnsim.core.data.synthetic import DERIVED, KINDS as PLANE_KINDS, MULTI_CLASS, REGRESSION, generate

SPLITS = ("train", "val", "test")
GENERATED = (*PLANE_KINDS, "houses")


def build(seed: int = 0, base_dir=None, **data):
    return build_dataset(config_from_dict({"data": data}).data, seed, base_dir)


def arrays(dataset) -> list[np.ndarray]:
    return [getattr(dataset, f"{axis}_{split}") for split in SPLITS for axis in "xy"]


def rows(x: np.ndarray) -> set[tuple[float, ...]]:
    return {tuple(row) for row in x}


def house_rules_broken(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per record: does it break a houses cleaning rule? (stated independently of the code)"""
    bedrooms, year = x[:, HOUSE_FEATURES.index("bedrooms")], x[:, HOUSE_FEATURES.index("year_built")]
    return (np.isnan(x).any(axis=1) | (bedrooms < 1) | (bedrooms > 10) | (year > CURRENT_YEAR)
            | (year < 1800) | ~((y >= 0.25) & (y <= 40)))


# --- determinism -------------------------------------------------------------------------

@pytest.mark.parametrize("kind", [*GENERATED, "digits"])
def test_same_seed_same_data_other_seed_other_data(kind):
    first, again, other = build(7, kind=kind), build(7, kind=kind), build(8, kind=kind)
    for a, b, c in zip(arrays(first), arrays(again), arrays(other)):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first.x_train, other.x_train)


def test_bad_fraction_does_not_move_the_split():
    clean, dirty = build(3, kind="houses"), build(3, kind="houses", bad_fraction=0.1)
    np.testing.assert_array_equal(clean.x_test, dirty.x_test)


# --- generators --------------------------------------------------------------------------

@pytest.mark.parametrize("kind", PLANE_KINDS)
def test_generator_shapes_labels_and_range(kind):
    n, k = 1000, 4
    table = generate(kind, n, 0.1, k, np.random.default_rng(0))
    assert table.x.shape == (n, 2) and table.y.shape == (n,)
    assert np.abs(table.x).max() < 8.5           # Playground-like plane
    if kind in REGRESSION:
        assert table.task == "regression" and np.abs(table.y).max() < 2.5
        return
    classes = k if kind in MULTI_CLASS else 2
    assert table.n_outputs == (classes if classes > 2 else 1)
    assert set(np.unique(table.y)) == set(range(classes))
    counts = np.bincount(table.y.astype(int), minlength=classes)
    assert counts.min() > 0.8 * n / classes      # balanced-ish


@pytest.mark.parametrize("kind", ["circle", "xor", "spiral", "moons", "gaussians"])
def test_more_noise_spreads_the_points(kind):
    quiet = generate(kind, 2000, 0.0, 2, np.random.default_rng(1)).x
    noisy = generate(kind, 2000, 0.4, 2, np.random.default_rng(1)).x
    assert noisy.std() > quiet.std()


def test_circle_without_noise_keeps_the_gap_between_classes():
    table = generate("circle", 1000, 0.0, 2, np.random.default_rng(2))
    radius = np.hypot(table.x[:, 0], table.x[:, 1])
    assert radius[table.y == 1].max() < radius[table.y == 0].min()


def test_multiclass_targets_are_one_hot():
    dataset = build(kind="blobs", classes=5)
    assert dataset.task == "multiclass" and dataset.n_outputs == 5 and dataset.y_train.shape[1] == 5
    np.testing.assert_array_equal(dataset.y_train.sum(axis=1), 1.0)
    np.testing.assert_array_equal(dataset.y_train.argmax(axis=1), dataset.plane.labels_train)


def test_binary_targets_are_one_column_of_zeros_and_ones():
    dataset = build(kind="circle")
    assert dataset.y_train.shape == (len(dataset.x_train), 1)
    assert set(np.unique(dataset.y_train)) == {0.0, 1.0}


def test_derived_features_in_the_order_given():
    names = ("x1*x2", "sin(x1)", "x2^2", "x1", "sin(x2)", "x1^2", "x2")
    dataset = build(kind="spiral", features=list(names))
    x1, x2 = dataset.plane.points_train.T
    expected = {"x1": x1, "x2": x2, "x1^2": x1 ** 2, "x2^2": x2 ** 2, "x1*x2": x1 * x2,
                "sin(x1)": np.sin(x1), "sin(x2)": np.sin(x2)}
    assert dataset.feature_names == names
    for column, name in enumerate(names):
        np.testing.assert_allclose(dataset.x_train[:, column], expected[name], rtol=0, atol=1e-12)


def test_every_configurable_feature_has_a_formula():
    assert set(DERIVED) == set(DERIVED_FEATURES)


@pytest.mark.parametrize("normalize", ["none", "minmax", "zscore"])
@pytest.mark.parametrize("kind", ["xor", "spirals", "gaussian-sum"])
def test_featurize_on_train_points_reproduces_x_train(kind, normalize):
    dataset = build(kind=kind, normalize=normalize, features=["x1", "x2", "x1*x2", "sin(x2)"])
    np.testing.assert_allclose(dataset.plane.featurize(dataset.plane.points_train), dataset.x_train,
                               rtol=0, atol=1e-12)


def test_plane_extent_contains_every_point_with_a_margin():
    dataset = build(kind="moons", normalize="zscore")
    x1_min, x1_max, x2_min, x2_max = dataset.plane.extent
    points = dataset.plane.points_train
    assert x1_min < points[:, 0].min() and points[:, 0].max() < x1_max
    assert x2_min < points[:, 1].min() and points[:, 1].max() < x2_max


def test_only_generated_plane_sets_have_a_plane():
    assert build(kind="houses").plane is None and build(kind="digits").plane is None


# --- split -------------------------------------------------------------------------------

@pytest.mark.parametrize("split", [(0.7, 0.15, 0.15), (0.5, 0.3, 0.2), (0.8, 0.2, 0.0)])
def test_split_sizes_and_disjointness(split):
    n = 437
    dataset = build(kind="gaussians", n_points=n, split=list(split))
    sizes = [len(dataset.x_train), len(dataset.x_val), len(dataset.x_test)]
    assert sizes[:2] == [round(n * split[0]), round(n * split[1])] and sum(sizes) == n
    train, val, test = rows(dataset.x_train), rows(dataset.x_val), rows(dataset.x_test)
    assert not (train & val) and not (train & test) and not (val & test)
    assert len(train | val | test) == n
    for split_name in SPLITS:
        for axis in "xy":
            array = getattr(dataset, f"{axis}_{split_name}")
            assert array.dtype == np.float64 and array.flags.c_contiguous


# --- normalisation -----------------------------------------------------------------------

def test_minmax_is_fitted_on_train_only():
    raw, scaled = build(kind="houses"), build(kind="houses", normalize="minmax")
    np.testing.assert_array_equal(scaled.x_train.min(axis=0), 0.0)
    np.testing.assert_array_equal(scaled.x_train.max(axis=0), 1.0)
    assert scaled.x_val.min() < 0 or scaled.x_val.max() > 1 or scaled.x_test.min() < 0 or scaled.x_test.max() > 1
    low, spread = raw.x_train.min(axis=0), np.ptp(raw.x_train, axis=0)
    for split in ("val", "test"):
        np.testing.assert_allclose(getattr(scaled, f"x_{split}"), (getattr(raw, f"x_{split}") - low) / spread)
    np.testing.assert_array_equal(scaled.y_train, raw.y_train)       # targets are not normalised


def test_zscore_train_mean_zero_std_one_and_same_map_for_val():
    raw, scaled = build(kind="houses", n_points=800), build(kind="houses", n_points=800, normalize="zscore")
    np.testing.assert_allclose(scaled.x_train.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(scaled.x_train.std(axis=0), 1.0, atol=1e-12)
    mean, std = raw.x_train.mean(axis=0), raw.x_train.std(axis=0)
    np.testing.assert_allclose(scaled.x_val, (raw.x_val - mean) / std)


@pytest.mark.parametrize("normalize", ["minmax", "zscore"])
def test_constant_column_does_not_divide_by_zero(tmp_path, normalize):
    path = tmp_path / "constant.csv"
    path.write_text("a,const,y\n" + "".join(f"{i},5,{i % 2}\n" for i in range(40)))
    dataset = build(kind="csv", path=str(path), target_column="y", normalize=normalize)
    for x in (dataset.x_train, dataset.x_val, dataset.x_test):
        assert np.isfinite(x).all()
        np.testing.assert_array_equal(x[:, 1], 0.0)


# --- houses and cleaning -----------------------------------------------------------------

def test_houses_scales_and_target_units():
    dataset = build(kind="houses", n_points=2000)
    assert dataset.feature_names == HOUSE_FEATURES and dataset.task == "regression"
    x = np.vstack([dataset.x_train, dataset.x_val, dataset.x_test])
    y = np.vstack([dataset.y_train, dataset.y_val, dataset.y_test])
    column = {name: x[:, i] for i, name in enumerate(HOUSE_FEATURES)}
    assert 500 <= column["sqft"].min() and column["sqft"].max() <= 5000
    assert set(np.unique(column["bedrooms"])) <= set(range(1, 7))
    assert 1900 <= column["year_built"].min() and column["year_built"].max() <= CURRENT_YEAR
    assert 1 <= np.median(y) <= 10 and y.min() > 0
    assert np.corrcoef(column["sqft"], y[:, 0])[0, 1] > 0.5           # bigger houses cost more
    assert np.corrcoef(column["distance_km"], y[:, 0])[0, 1] < 0      # central houses cost more


def test_clean_houses_have_no_bad_records():
    dataset = build(kind="houses", n_points=2000)
    assert dataset.cleaning.bad_records == 0
    assert not house_rules_broken(dataset.x_train, dataset.y_train[:, 0]).any()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cleaning_finds_exactly_the_injected_records(seed):
    fraction, n = 0.07, 1500
    clean = build(seed, kind="houses", n_points=n)
    injected = round(fraction * len(clean.y_train)) + round(fraction * len(clean.y_val))
    kept = build(seed, kind="houses", n_points=n, bad_fraction=fraction)
    dropped = build(seed, kind="houses", n_points=n, bad_fraction=fraction, clean="drop")
    for dataset in (kept, dropped):
        assert dataset.cleaning.bad_records == injected
        assert sum(dataset.cleaning.found.values()) == injected      # each bad record breaks one rule
        assert min(dataset.cleaning.found.values()) > 0               # every kind of fault occurs
    assert len(dropped.y_train) == len(clean.y_train) - round(fraction * len(clean.y_train))
    assert dropped.cleaning.dropped_records == injected and dropped.cleaning.repaired_records == 0
    assert not house_rules_broken(dropped.x_train, dropped.y_train[:, 0]).any()


def test_none_keeps_bad_records_and_missing_values_become_zero():
    dataset = build(kind="houses", bad_fraction=0.1)
    assert dataset.cleaning.dropped_records == 0 and dataset.cleaning.bad_records > 0
    assert np.isfinite(dataset.x_train).all()
    assert (dataset.y_train > 40).any()                    # x100 price typos are clearly absurd


def test_houses_test_split_stays_clean():
    dataset = build(kind="houses", bad_fraction=0.2, n_points=2000)
    assert not house_rules_broken(dataset.x_test, dataset.y_test[:, 0]).any()
    assert house_rules_broken(dataset.x_val, dataset.y_val[:, 0]).any()


def test_repair_uses_training_medians_and_drops_bad_targets():
    fraction = 0.1
    kept = build(kind="houses", bad_fraction=fraction)
    repaired = build(kind="houses", bad_fraction=fraction, clean="repair")
    x, y = kept.x_train, kept.y_train[:, 0]
    bad_target = ~((y >= 0.25) & (y <= 40))
    assert len(repaired.y_train) == len(y) - bad_target.sum()
    assert not house_rules_broken(repaired.x_train, repaired.y_train[:, 0]).any()
    report = repaired.cleaning
    assert report.repaired_records + report.dropped_records == report.bad_records
    assert report.dropped["price_100k"] == report.found["price_100k"] and report.repaired["price_100k"] == 0
    # Under clean=none a missing value arrives as 0, and no real house has a 0 anywhere, so a
    # cell is valid when it is non-zero and within its rule.
    valid = x != 0
    valid[:, HOUSE_FEATURES.index("year_built")] &= x[:, HOUSE_FEATURES.index("year_built")] <= CURRENT_YEAR
    medians = [np.median(x[valid[:, column], column]) for column in range(x.shape[1])]
    np.testing.assert_array_equal(repaired.x_train, np.where(valid, x, medians)[~bad_target])


def test_report_summary_is_one_line_with_the_counts():
    report = build(kind="houses", bad_fraction=0.05, clean="drop").cleaning
    assert isinstance(report, CleaningReport)
    line = report.summary()
    assert "\n" not in line and str(report.bad_records) in line and "drop" in line


# --- CSV ---------------------------------------------------------------------------------

def write(tmp_path, text: str, name: str = "data.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_csv_regression_with_relative_path_and_text_column_ignored(tmp_path):
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=50), rng.normal(size=50)
    lines = "".join(f"{x:.6f},note {i},{z:.6f},{x + 2 * z:.6f}\n" for i, (x, z) in enumerate(zip(a, b)))
    write(tmp_path, "a,comment,b,target\n" + lines)
    dataset = build(base_dir=tmp_path, kind="csv", path="data.csv", target_column="target",
                    feature_columns=["b", "a"])
    assert dataset.task == "regression" and dataset.feature_names == ("b", "a") and dataset.cleaning.bad_records == 0
    for x, y in ((dataset.x_train, dataset.y_train), (dataset.x_test, dataset.y_test)):
        np.testing.assert_allclose(y[:, 0], x[:, 1] + 2 * x[:, 0], atol=1e-5)
    assert len(dataset.x_train) + len(dataset.x_val) + len(dataset.x_test) == 50


def test_csv_auto_task_binary_and_multiclass(tmp_path):
    write(tmp_path, "f,label\n" + "".join(f"{i},{-1 if i % 2 else 1}\n" for i in range(30)), "binary.csv")
    write(tmp_path, "f,label\n" + "".join(f"{i},{i % 3 + 4}\n" for i in range(30)), "multi.csv")
    binary = build(base_dir=tmp_path, kind="csv", path="binary.csv", target_column="label")
    multi = build(base_dir=tmp_path, kind="csv", path="multi.csv", target_column="label")
    assert binary.task == "binary" and binary.n_outputs == 1
    np.testing.assert_array_equal(binary.y_train[:, 0], binary.x_train[:, 0] % 2 == 0)   # 1 -> 1, -1 -> 0
    assert multi.task == "multiclass" and multi.n_outputs == 3
    np.testing.assert_array_equal(multi.y_train.argmax(axis=1), multi.x_train[:, 0] % 3)


def test_csv_many_integer_values_is_regression_and_says_why(tmp_path):
    path = write(tmp_path, "f,y\n" + "".join(f"{i},{i % 11}\n" for i in range(30)))
    dataset = build(kind="csv", path=str(path), target_column="y")
    assert dataset.task == "regression"
    [note] = dataset.notes
    assert "11 distinct whole numbers" in note and "more than the 10" in note and "multiclass" in note
    chosen = build(kind="csv", path=str(path), target_column="y", task="multiclass")
    assert chosen.task == "multiclass" and chosen.n_outputs == 11 and chosen.notes == ()


def test_csv_classes_and_fractional_targets_need_no_note(tmp_path):
    write(tmp_path, "f,y\n" + "".join(f"{i},{i % 10}\n" for i in range(30)), "ten.csv")
    write(tmp_path, "f,y\n" + "".join(f"{i},{i / 7}\n" for i in range(30)), "real.csv")
    assert build(base_dir=tmp_path, kind="csv", path="ten.csv", target_column="y").notes == ()
    assert build(base_dir=tmp_path, kind="csv", path="real.csv", target_column="y").notes == ()


def test_csv_regression_target_at_a_scale_that_cannot_train_is_refused(tmp_path):
    path = write(tmp_path, "f,y\n" + "".join(f"{i},{(i + 1) * 3e10}\n" for i in range(30)))
    with pytest.raises(DataError, match=r"reaches 9e\+11.*rescale the column") as error:
        build(kind="csv", path=str(path), target_column="y")
    assert error.value.key == "data.target_column"
    write(tmp_path, "f,y\n" + "".join(f"{i},{(i + 1) * 3e4}\n" for i in range(30)), "ok.csv")
    assert build(base_dir=tmp_path, kind="csv", path="ok.csv", target_column="y").task == "regression"


@pytest.mark.parametrize("text, key, words", [
    (None, "data.path", ["not found"]),
    ("", "data.path", ["empty"]),
    ("a,y\n", "data.path", ["no data rows"]),
    ("a,lable\n1,0\n2,1\n", "data.target_column", ["'label'", "did you mean 'lable'"]),
    ("a,y\n1,0\n2,oops\n3,1\n", "data.path", ["line 3", "column 'y'", "'oops'"]),
    ("a,y\n1,1\n2,1\n3,1\n", "data.target_column", ["single class"]),
    ("a,y\n1,0\n,1\n3,1\n", "data.clean", ["empty cell", "line 3", "column 'a'", "drop or repair"]),
    ("a,y\n1,0\n2\n", "data.path", ["line 3", "fields"]),
    ("x,x,y\n1,2,0\n3,4,1\n", "data.path", ["column 'x' twice", "columns 1 and 2"]),
    ("x1,y,y\n1,2,0\n3,4,1\n", "data.path", ["column 'y' twice", "columns 2 and 3"]),
    ("a;b;y\n1;2;0\n3;4;1\n", "data.path", ["'a;b;y'", "separated by semicolons"]),
])
def test_csv_errors_name_the_key_and_the_file(tmp_path, text, key, words):
    path = tmp_path / "bad.csv"
    if text is not None:
        path.write_text(text)
    target = "label" if "'label'" in words else "y"
    with pytest.raises(DataError) as error:
        build(kind="csv", path=str(path), target_column=target)
    assert error.value.key == key and str(path) in str(error.value)
    assert "\n" not in str(error.value)
    for word in words:
        assert word in str(error.value)


def test_csv_missing_feature_column_names_the_nearest(tmp_path):
    path = write(tmp_path, "width,height,y\n1,2,0\n2,3,1\n")
    with pytest.raises(DataError, match="did you mean 'height'") as error:
        build(kind="csv", path=str(path), target_column="y", feature_columns=["hieght"])
    assert error.value.key == "data.feature_columns"


def test_csv_missing_values_dropped_or_repaired(tmp_path):
    lines = ["a,b,y"] + [f"{i},{i * 10},{i % 2}" for i in range(40)]
    lines[5] = "4,,0"            # missing input
    lines[9] = "8,80,"           # missing target: dropped even under repair
    path = write(tmp_path, "\n".join(lines) + "\n")
    for mode, dropped, repaired in (("drop", 2, 0), ("repair", 1, 1)):
        dataset = build(kind="csv", path=str(path), target_column="y", clean=mode)
        report = dataset.cleaning
        assert (report.bad_records, report.dropped_records, report.repaired_records) == (2, dropped, repaired)
        assert report.found == {"missing": 2}
        total = sum(len(getattr(dataset, f"x_{split}")) for split in SPLITS)
        assert total == 40 - dropped
        assert all(np.isfinite(getattr(dataset, f"x_{split}")).all() for split in SPLITS)


def test_data_error_is_a_config_error():
    assert issubclass(DataError, ConfigError)


# --- digits ------------------------------------------------------------------------------

def test_digits_are_the_real_8x8_set():
    dataset = build(kind="digits")
    x = np.vstack([dataset.x_train, dataset.x_val, dataset.x_test])
    y = np.vstack([dataset.y_train, dataset.y_val, dataset.y_test])
    assert x.shape == (1797, 64) and y.shape == (1797, 10) and dataset.n_outputs == 10
    assert x.min() == 0 and x.max() == 16 and np.array_equal(x, np.round(x))
    np.testing.assert_array_equal(y.sum(axis=1), 1.0)
    assert np.bincount(y.argmax(axis=1), minlength=10).min() > 150      # about 180 per digit
    assert len(rows(x)) > 1700                                           # real images, few duplicates


# --- speed -------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["spiral", "houses"])
def test_building_2000_points_takes_milliseconds(kind):
    cfg = config_from_dict({"data": {"kind": kind, "n_points": 2000, "normalize": "zscore",
                                     "features": ["x1", "x2", "x1*x2", "sin(x1)"]}}).data
    build_dataset(cfg, 0)
    best = min(_timed(lambda: build_dataset(cfg, 1)) for _ in range(5))
    assert best < 0.02


def _timed(action) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start
