"""Data sets the defaults were not written for, made on this machine from files already on disk.

    python benchmarks/datasets.py --cifar /tmp/cifar10 --out /tmp/nasprune-bench   # cifar-*, digits28
    python benchmarks/datasets.py --letters --out /tmp/nasprune-bench              # letters (Pillow + numpy only)

writes, each as an image folder (``train/<class>/``, ``test/<class>/``; the search splits validation off train):

- ``cifar-c32``: CIFAR-10 in colour at 32x32 (the JPEG copy in ../shared/data: 500 training images per class,
  and its whole test split, 1,000 per class, by default);
- ``cifar-g32``: the same images in grayscale (1 channel);
- ``cifar-c16``: the same images downsampled to 16x16 (box filter), colour;
- ``digits28``: scikit-learn's 8x8 digits (bundled, no download) drawn at 28x28 with a random rotation,
  scale, shift and stroke blur per image, 1 channel: a 28x28 digit folder like the one issue 12 was found on;
- ``letters``: 12 lowercase letters (``abdeghknpqrs``: b, d, p and q are mirror images, so flips are wrong) at
  48 wide x 32 high, colour, 300 training and 100 test images per class by default. Each is one glyph 8-21 px
  tall at a random place, scale, tilt (+-15 degrees) and colour, drawn on a random two-colour gradient with
  distractor lines, arcs, blobs, halves of other letters (some in the glyph's colour), noise and a slight blur;
  a few are hard to read even for a person. Test images use fonts training never shows: training draws with
  DejaVu Sans (Book, Bold, Oblique, ExtraLight), Sans Condensed (Book, Bold) and Serif (Book, Bold, Italic); test
  with DejaVu Sans Mono (all 4 styles), Serif Condensed (all 4), Sans Bold Oblique, Serif Bold Italic and Sans
  Condensed Oblique and Bold Oblique (``TRAIN_FONTS``, ``TEST_FONTS``; ``letters/README.txt`` records the split
  used). Fonts come from the system's font folders, else matplotlib's bundled DejaVu copies, or ``--fonts DIR``;
  without the named files any TrueType fonts found are split, every third one to test; with fewer than two it
  stops and says where it looked. It stands in for a held-out colour set of small cluttered glyphs on which a
  search once failed. Measured (2-core CPU, 1 thread, 12 epochs, AdamW one-cycle lr 0.01, batch 64, label
  smoothing 0.1, crop only; seeds 0 and 1): a plain 5-conv batch-norm CNN with max pooling (32-256 channels,
  401k parameters, ~2 min) reached 0.878 and 0.900 test accuracy; a 78k-parameter network with a stride-2 stem
  (basic blocks, 16-64 channels) 0.810 and 0.768.

Subsampling is stratified and seeded, and letters are drawn from per-image seeds, so every run of the benchmark
sees the same images.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

CIFAR_SETS = {"cifar-c32": ("RGB", 32), "cifar-g32": ("L", 32), "cifar-c16": ("RGB", 16)}


def _pick(files: list[Path], n: int, rng: np.random.Generator) -> list[Path]:
    return [files[i] for i in sorted(rng.choice(len(files), size=min(n, len(files)), replace=False))]


def make_cifar(cifar: Path, out: Path, train_per_class: int, test_per_class: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for split, per_class in (("train", train_per_class), ("test", test_per_class)):
        for class_dir in sorted(p for p in (cifar / split).iterdir() if p.is_dir()):
            for f in _pick(sorted(class_dir.glob("*.jpg")), per_class, rng):
                image = Image.open(f).convert("RGB")
                for name, (mode, size) in CIFAR_SETS.items():
                    target = out / name / split / class_dir.name / (f.stem + ".png")
                    target.parent.mkdir(parents=True, exist_ok=True)
                    im = image.convert(mode)
                    if size != image.size[0]:
                        im = im.resize((size, size), Image.Resampling.BOX)
                    im.save(target)


def _digit(image8: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """One 8x8 digit (values 0..16) drawn as a 28x28 grayscale image with a random pose."""
    big = Image.fromarray((image8 * (255 / 16)).astype(np.uint8)).resize((20, 20), Image.Resampling.BICUBIC)
    big = big.rotate(rng.uniform(-15, 15), resample=Image.Resampling.BILINEAR, expand=False)
    side = int(round(20 * rng.uniform(0.85, 1.15)))
    big = big.resize((side, side), Image.Resampling.BILINEAR).filter(ImageFilter.GaussianBlur(rng.uniform(0, 0.8)))
    canvas = Image.new("L", (28, 28))
    x, y = (28 - side) // 2 + int(rng.integers(-2, 3)), (28 - side) // 2 + int(rng.integers(-2, 3))
    canvas.paste(big, (x, y))
    noisy = np.asarray(canvas, dtype=np.float32) + rng.normal(0, 8, (28, 28))
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


def make_digits28(out: Path, train: int = 4000, test: int = 1000, seed: int = 0) -> None:
    """Train and test images are drawn from disjoint halves of scikit-learn's digits, so a test image is never
    a re-posed training image."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(digits.target))
    halves = {"train": (order[: len(order) // 2], train), "test": (order[len(order) // 2:], test)}
    for split, (index, count) in halves.items():
        for i in range(count):
            k = index[i % len(index)]
            target = out / "digits28" / split / str(digits.target[k]) / f"{i:05d}.png"
            target.parent.mkdir(parents=True, exist_ok=True)
            _digit(digits.images[k], rng).save(target)


LETTERS = "abdeghknpqrs"  # 12 classes; b, d, p, q are mirror images of each other (so: crop, never flip)
LETTERS_SIZE = (48, 32)  # (width, height), as PIL counts
# Fonts by file name. Test fonts are styles training never shows: a monospaced design (new shapes for a, g, r),
# condensed serifs, and bold + slanted combinations (each seen in training only on its own).
TRAIN_FONTS = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf", "DejaVuSans-ExtraLight.ttf",
               "DejaVuSansCondensed.ttf", "DejaVuSansCondensed-Bold.ttf", "DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf",
               "DejaVuSerif-Italic.ttf")
TEST_FONTS = ("DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf", "DejaVuSansMono-Oblique.ttf",
              "DejaVuSansMono-BoldOblique.ttf", "DejaVuSerifCondensed.ttf", "DejaVuSerifCondensed-Bold.ttf",
              "DejaVuSerifCondensed-Italic.ttf", "DejaVuSerifCondensed-BoldItalic.ttf", "DejaVuSans-BoldOblique.ttf",
              "DejaVuSerif-BoldItalic.ttf", "DejaVuSansCondensed-Oblique.ttf", "DejaVuSansCondensed-BoldOblique.ttf")
FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", "~/.local/share/fonts", "~/.fonts", "/Library/Fonts",
             "/System/Library/Fonts", "C:/Windows/Fonts")


def _font_files(dirs: list[Path]) -> dict[str, Path]:
    """Every TrueType file under ``dirs``, by file name (the first one found wins)."""
    found: dict[str, Path] = {}
    for d in dirs:
        if d.expanduser().is_dir():
            for f in sorted(d.expanduser().rglob("*.ttf"), key=lambda p: p.name):
                found.setdefault(f.name, f)
    return found


def _draws_letters(path: Path) -> bool:
    try:
        font = ImageFont.truetype(str(path), 20)
    except OSError:
        return False
    return all(font.getmask(c).getbbox() for c in LETTERS)


def letter_fonts(font_dir: Path | None = None) -> dict[str, list[Path]]:
    """{"train": fonts, "test": fonts}: the TRAIN_FONTS and TEST_FONTS found under ``font_dir`` (default: the
    system's font folders, then matplotlib's bundled DejaVu copies, a dependency of nasprune); without any of
    either, all fonts found, sorted by name, every third one for test. Raises SystemExit naming where it looked
    when fewer than two fonts draw the letters (test fonts must be unseen in training)."""
    dirs = [font_dir] if font_dir else [Path(d) for d in FONT_DIRS]
    mpl = importlib.util.find_spec("matplotlib")
    if not font_dir and mpl and mpl.origin:
        dirs.append(Path(mpl.origin).parent / "mpl-data" / "fonts" / "ttf")
    found = _font_files(dirs)
    split = {"train": [found[n] for n in TRAIN_FONTS if n in found],
             "test": [found[n] for n in TEST_FONTS if n in found]}
    if split["train"] and split["test"]:
        return split
    usable = [found[n] for n in sorted(found) if _draws_letters(found[n])]
    if len(usable) < 2:
        raise SystemExit(f"letters: needs at least 2 TrueType fonts that draw {LETTERS!r} (found {len(usable)}) under "
                         f"{', '.join(map(str, dirs))} or matplotlib's mpl-data; install fonts-dejavu-core or pass "
                         f"--fonts DIR")
    return {"train": [f for i, f in enumerate(usable) if i % 3 != 2], "test": usable[2::3]}


@functools.lru_cache(maxsize=512)
def _font(path: Path, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(path), size)


def _glyph(char: str, font: ImageFont.FreeTypeFont, angle: float) -> Image.Image:
    """``char`` as an L mask cropped to its ink, rotated by ``angle`` degrees."""
    left, top, right, bottom = font.getbbox(char)
    im = Image.new("L", (right - left + 4, bottom - top + 4))
    ImageDraw.Draw(im).text((2 - left, 2 - top), char, fill=255, font=font)
    im = im.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True)
    return im.crop(im.getbbox())


def _colour(rng: np.random.Generator, away_from: np.ndarray | None = None, contrast: float = 0.0) -> np.ndarray:
    """A random RGB colour whose luma differs from ``away_from``'s by at least ``contrast`` (best of 20 draws)."""
    luma = np.array([0.299, 0.587, 0.114])
    draws = rng.uniform(0, 255, (20, 3))
    if away_from is None:
        return draws[0]
    gap = np.abs((draws - away_from) @ luma)
    good = np.flatnonzero(gap >= contrast)
    return draws[good[0]] if len(good) else draws[np.argmax(gap)]


def _blend(canvas: np.ndarray, mask: Image.Image, xy: tuple[int, int], colour: np.ndarray, opacity: float) -> None:
    """Paint ``colour`` through ``mask`` at ``xy`` (top left, may hang off the canvas) into ``canvas`` (H, W, 3)."""
    m = np.asarray(mask, dtype=np.float32) / 255 * opacity  # (h, w)
    x, y = xy
    h, w = canvas.shape[:2]
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + m.shape[1], w), min(y + m.shape[0], h)
    if x0 >= x1 or y0 >= y1:
        return
    a = m[y0 - y:y1 - y, x0 - x:x1 - x, None]
    canvas[y0:y1, x0:x1] = canvas[y0:y1, x0:x1] * (1 - a) + colour * a


def _background(rng: np.random.Generator) -> np.ndarray:
    """A linear gradient between two random colours at a random angle, (H, W, 3) float32."""
    w, h = LETTERS_SIZE
    theta = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    t = (xx - w / 2) * np.cos(theta) + (yy - h / 2) * np.sin(theta)
    t = ((t - t.min()) / (np.ptp(t) + 1e-6))[..., None]
    return (_colour(rng) * (1 - t) + _colour(rng) * t).astype(np.float32)


def _clutter(canvas: np.ndarray, fonts: list[Path], ink: np.ndarray, rng: np.random.Generator) -> None:
    """Distractors under the glyph: lines, arcs, blobs and pieces of other letters, some in the glyph's ``ink``
    colour (so colour alone does not find the glyph)."""
    w, h = LETTERS_SIZE
    layer = Image.new("L", LETTERS_SIZE)
    for _ in range(rng.integers(3, 8)):
        layer.paste(0, (0, 0, w, h))
        draw, kind = ImageDraw.Draw(layer), rng.integers(3)
        x, y = rng.uniform(-8, w + 8, 2), rng.uniform(-8, h + 8, 2)
        if kind == 0:
            draw.line([(x[0], y[0]), (x[1], y[1])], fill=255, width=int(rng.integers(1, 3)))
        elif kind == 1:
            r = rng.uniform(3, 9)
            start = rng.uniform(0, 360)
            draw.arc([x[0] - r, y[0] - r, x[0] + r, y[0] + r], start, start + rng.uniform(60, 200), fill=255,
                     width=int(rng.integers(1, 3)))
        else:
            r = rng.uniform(1.5, 5, 2)
            draw.ellipse([x[0] - r[0], y[0] - r[1], x[0] + r[0], y[0] + r[1]], fill=255)
        _blend(canvas, layer, (0, 0), ink if rng.random() < 0.2 else _colour(rng), rng.uniform(0.4, 0.9))
    for _ in range(rng.integers(1, 4)):  # half of a letter, any of a-z, cut along a random line
        piece = np.array(_glyph(chr(97 + rng.integers(26)), _font(fonts[rng.integers(len(fonts))],
                                                                    int(rng.integers(14, 26))), rng.uniform(-30, 30)))
        yy, xx = np.mgrid[0:piece.shape[0], 0:piece.shape[1]]
        theta = rng.uniform(0, 2 * np.pi)
        piece[(xx - piece.shape[1] / 2) * np.cos(theta) + (yy - piece.shape[0] / 2) * np.sin(theta) > 0] = 0
        xy = (int(rng.integers(-piece.shape[1] // 2, w)), int(rng.integers(-piece.shape[0] // 2, h)))
        _blend(canvas, Image.fromarray(piece), xy, ink if rng.random() < 0.2 else _colour(rng), rng.uniform(0.4, 0.8))


def _letter(char: str, fonts: list[Path], rng: np.random.Generator) -> Image.Image:
    """One 48x32 RGB image of ``char``: a glyph 8-21 px tall (font size 14-26 px), at a random place, tilt and
    colour, on a gradient with clutter and noise. The contrast (60 luma levels at least), opacity and noise set
    the difficulty: at 45 levels and noise up to 20 the 5-conv CNN of the module docstring reached 0.67; at 70,
    larger glyphs and fewer distractors, 0.98."""
    w, h = LETTERS_SIZE
    canvas = _background(rng)
    glyph = _glyph(char, _font(fonts[rng.integers(len(fonts))], int(rng.integers(14, 27))), rng.uniform(-15, 15))
    gw, gh = glyph.size
    x, y = int(rng.integers(0, max(1, w - gw + 1))), int(rng.integers(0, max(1, h - gh + 1)))
    ink = _colour(rng, canvas[y:y + gh, x:x + gw].reshape(-1, 3).mean(0), contrast=60)
    _clutter(canvas, fonts, ink, rng)
    _blend(canvas, glyph, (x, y), ink, rng.uniform(0.8, 1.0))
    if rng.random() < 0.5:  # one stroke over the glyph, so it is not always the top layer
        layer = Image.new("L", LETTERS_SIZE)
        ImageDraw.Draw(layer).line([tuple(rng.uniform(0, [w, h])), tuple(rng.uniform(0, [w, h]))], fill=255, width=1)
        _blend(canvas, layer, (0, 0), _colour(rng), rng.uniform(0.4, 0.8))
    canvas += rng.normal(0, rng.uniform(5, 16), canvas.shape)
    image = Image.fromarray(np.clip(canvas, 0, 255).astype(np.uint8))
    return image.filter(ImageFilter.GaussianBlur(rng.uniform(0, 0.6)))


def make_letters(out: Path, train_per_class: int = 300, test_per_class: int = 100, seed: int = 0,
                 font_dir: Path | None = None) -> dict[str, list[Path]]:
    """Write ``out/letters/{train,test}/<letter>/NNNN.png`` and ``out/letters/README.txt`` (the font split).

    Image ``i`` of a class and split depends only on (seed, split, class, i), so a smaller count makes a prefix
    of the same images. Old PNGs in those class folders are removed first. Returns the font split used."""
    fonts = letter_fonts(font_dir)
    for s, (split, per_class) in enumerate((("train", train_per_class), ("test", test_per_class))):
        for c, char in enumerate(LETTERS):
            folder = out / "letters" / split / char
            folder.mkdir(parents=True, exist_ok=True)
            for old in folder.glob("*.png"):
                old.unlink()
            for i in range(per_class):
                _letter(char, fonts[split], np.random.default_rng([seed, s, c, i])).save(folder / f"{i:04d}.png")
    (out / "letters" / "README.txt").write_text(
        f"letters: {len(LETTERS)} classes ({LETTERS}), 48x32 RGB, made by benchmarks/datasets.py --letters, "
        f"seed {seed}.\n" + "".join(f"{split} fonts: {', '.join(f.name for f in fonts[split])}\n" for split in fonts))
    return fonts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cifar", type=Path, help="CIFAR-10 as an image folder (train/, test/): makes the cifar-* "
                                                   "sets and digits28")
    parser.add_argument("--letters", action="store_true", help="make the synthetic letters set (no input needed)")
    parser.add_argument("--out", type=Path, default=Path("/tmp/nasprune-bench"))
    parser.add_argument("--train-per-class", type=int, help="default: 500 for CIFAR, 300 for letters")
    parser.add_argument("--test-per-class", type=int, help="default: 1000 for CIFAR (its whole test split), 100 for "
                                                           "letters")
    parser.add_argument("--fonts", type=Path, help="letters: a folder of .ttf fonts to use instead of the system's")
    args = parser.parse_args()
    if not args.cifar and not args.letters:
        parser.error("nothing to make: pass --cifar PATH, --letters, or both")
    if args.cifar:
        make_cifar(args.cifar, args.out, args.train_per_class or 500, args.test_per_class or 1000)
        make_digits28(args.out)
    if args.letters:
        fonts = make_letters(args.out, args.train_per_class or 300, args.test_per_class or 100, font_dir=args.fonts)
        for split, files in fonts.items():
            print(f"letters {split} fonts: {', '.join(f.name for f in files)}")
    for d in sorted(p for p in args.out.iterdir() if p.is_dir()):
        print(d, sum(1 for _ in d.rglob("*.png")), "images")

if __name__ == "__main__":
    main()
