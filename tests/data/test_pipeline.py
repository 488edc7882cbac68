import torch

from nasprune.data import Normalizer, random_crop, random_flip
from nasprune.data.pipeline import BatchAugment, batch_indices, eval_batches, train_batches


def test_random_crop_shifts_each_image_within_the_padding():
    x = torch.arange(2 * 1 * 5 * 5, dtype=torch.float32).view(2, 1, 5, 5) + 1
    out = random_crop(x, 1, torch.Generator().manual_seed(0))
    assert out.shape == x.shape
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1))
    for i in range(2):
        windows = [padded[i, :, dy:dy + 5, dx:dx + 5] for dy in range(3) for dx in range(3)]
        assert any(torch.equal(out[i], w) for w in windows)


def test_random_crop_moves_images_differently_and_padding_zero_is_identity():
    x = torch.rand(64, 3, 8, 8)
    out = random_crop(x, 2, torch.Generator().manual_seed(0))
    assert not torch.equal(out, x)
    assert torch.equal(random_crop(x, 0), x)
    moved = (out != x).flatten(1).any(1).sum()
    assert 40 < moved < 64  # 1 in 25 offsets is the identity


def test_random_flip_mirrors_about_half():
    x = torch.rand(200, 1, 4, 4)
    out = random_flip(x, torch.Generator().manual_seed(0))
    flipped = torch.tensor([torch.equal(o, i.flip(2)) for o, i in zip(out, x, strict=True)])
    kept = torch.tensor([torch.equal(o, i) for o, i in zip(out, x, strict=True)])
    assert bool((flipped | kept).all()) and 70 < int(flipped.sum()) < 130


def test_batches_are_static_and_cover_the_split():
    batches = batch_indices(1077, 100, torch.Generator().manual_seed(0), torch.device("cpu"))
    assert len(batches) == 10 and all(len(b) == 100 for b in batches)  # the partial batch is dropped
    assert len(torch.cat(batches).unique()) == 1000
    assert len(batch_indices(50, 100, torch.Generator(), torch.device("cpu"))) == 1  # one batch of everything


def test_resident_and_streamed_batches_agree(digits):
    cpu = torch.device("cpu")
    resident = list(train_batches(digits.train, 128, torch.Generator().manual_seed(3), cpu))
    streamed = list(train_batches(digits.train, 128, torch.Generator().manual_seed(3), cpu, stream=True, workers=2))
    order = batch_indices(len(digits.train), 128, torch.Generator().manual_seed(3), cpu)
    assert len(resident) == len(streamed) == len(order) == 8
    for (xr, yr), (xs, ys), idx in zip(resident, streamed, order, strict=True):
        assert xr.dtype == torch.uint8 and xr.shape == (128, 1, 8, 8)
        assert torch.equal(xr, digits.train.x[idx]) and torch.equal(yr, digits.train.y[idx])
        ordered = idx.sort().values  # workers read a batch in ascending order: the same images
        assert torch.equal(xs, digits.train.x[ordered]) and torch.equal(ys, digits.train.y[ordered])
    for stream in (False, True):
        labels = torch.cat([y for _, y in eval_batches(digits.val, 100, cpu, stream=stream, workers=2)])
        assert torch.equal(labels, digits.val.y)


def test_augment_and_normalize(digits):
    normalize = Normalizer(digits, dtype=torch.bfloat16)
    whole = Normalizer(digits)(digits.train.x)
    assert abs(whole.mean().item()) < 1e-3 and abs(whole.std().item() - 1) < 1e-2
    out = BatchAugment(digits, normalize, torch.Generator().manual_seed(0))(digits.train.x[:10])
    assert out.dtype == torch.bfloat16 and out.shape == (10, 1, 8, 8)
