import numpy as np
import pytest
import torch

from nasprune import DataError, load_data
from nasprune.data import channel_stats, stratified_split


def test_digits_splits_are_disjoint_stratified_and_fixed(digits):
    assert digits.input_shape == (1, 8, 8) and digits.num_classes == 10
    assert len(digits.train) + len(digits.val) + len(digits.test) == 1797
    assert digits.train.x.dtype == torch.uint8 and digits.train.y.dtype == torch.int64
    for split in (digits.val, digits.test):
        counts = torch.bincount(split.y, minlength=10)
        assert counts.min() >= 34 and counts.max() <= 38  # stratified: ~36 of each class
    again = load_data("digits")
    assert torch.equal(again.test.x, digits.test.x) and torch.equal(again.train.y, digits.train.y)
    other = load_data("digits", seed=1)
    assert not torch.equal(other.test.y, digits.test.y)


def test_split_indices_partition_the_data():
    y = np.repeat(np.arange(5), 20)
    train, val, test = stratified_split(y, 0.2, 0.2, seed=0)
    assert sorted(np.concatenate([train, val, test]).tolist()) == list(range(100))
    assert (len(train), len(val), len(test)) == (60, 20, 20)


@pytest.mark.parametrize("val, test", [(0, 0.2), (0.5, 0.5), (0.2, 1.2)])
def test_bad_fractions_are_refused(val, test):
    with pytest.raises(DataError):
        stratified_split(np.repeat(np.arange(2), 10), val, test, seed=0)


def test_channel_stats_are_on_the_unit_scale():
    x = torch.full((4, 2, 3, 3), 255, dtype=torch.uint8)
    x[:, 1] = 0
    mean, std = channel_stats(x)
    assert mean == pytest.approx((1.0, 0.0)) and std[1] == pytest.approx(1e-3)  # a constant channel: no division by 0


@pytest.mark.parametrize("source, message", [("cifar11", "unknown data set 'cifar11'; available: digits"),
                                             ("digits:/tmp/x", "bundled and takes no path")])
def test_unknown_data_is_a_clear_error(source, message):
    with pytest.raises(DataError, match=message):
        load_data(source)


def test_channel_stats_match_a_direct_computation():
    x = torch.randint(0, 256, (50, 3, 5, 7), dtype=torch.uint8)
    mean, std = channel_stats(x)
    direct = x.double() / 255
    assert mean == pytest.approx(direct.mean((0, 2, 3)).tolist(), abs=1e-12)
    assert std == pytest.approx(direct.std((0, 2, 3), correction=0).tolist(), abs=1e-12)
