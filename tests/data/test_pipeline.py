import torch

from nasprune.data import Normalizer, random_crop, random_flip, train_batches


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


def test_train_batches_cover_the_epoch_normalized(digits):
    normalize = Normalizer(digits)
    batches = list(train_batches(digits, 100, normalize, torch.Generator().manual_seed(0)))
    assert len(batches) == len(digits.train) // 100  # the partial batch is dropped
    x, y = batches[0]
    assert x.dtype == torch.float32 and x.shape == (100, 1, 8, 8) and y.shape == (100,)
    labels = torch.cat([b[1] for b in batches])
    assert len(set(labels.tolist())) == 10
    whole = normalize(digits.train.x)
    assert abs(whole.mean().item()) < 1e-3 and abs(whole.std().item() - 1) < 1e-2


def test_one_batch_when_the_batch_is_larger_than_the_data(digits):
    batches = list(train_batches(digits, 10_000, Normalizer(digits), torch.Generator()))
    assert len(batches) == 1 and len(batches[0][1]) == len(digits.train)
