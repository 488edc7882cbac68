"""Shared fixtures: everything runs on the CPU with tiny inputs."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from nasprune.data import load_data

TINY_SPACE = """\
name: tiny
architecture:
  stem: cifar
  stem_channels: 8
  block: {choices: [plain, basic]}
  stages:
    count: {low: 1, high: 2}
    repeats: {low: 1, high: 2}
    channels: {choices: [8, 16]}
  norm: batch
  act: relu
training:
  epochs: 2
  batch_size: 64
  lr: {low: 0.05, high: 0.1}
  label_smoothing: 0.1
"""


@pytest.fixture(autouse=True)
def _seed_and_threads():
    torch.manual_seed(0)
    yield


def make_folder(root: Path, classes=("cat", "dog", "fox"), per_class=6, size=(12, 10), mode="RGB",
                splits=("train",), ext=".png", seed=0) -> Path:
    """root/<split>/<class>/<i>.<ext> (or root/<class>/ if splits is None); each class has its own colour,
    so labels can be checked from pixels."""
    rng = np.random.default_rng(seed)
    for split in splits or (None,):
        for c, name in enumerate(classes):
            folder = root / split / name if split else root / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                level = 40 + 80 * c  # class c is roughly this bright
                pixels = np.clip(rng.normal(level, 5, (size[0], size[1], 3)), 0, 255).astype(np.uint8)
                image = Image.fromarray(pixels, "RGB")
                (image.convert("L") if mode == "L" else image).save(folder / f"{i:03d}{ext}")
    return root


@pytest.fixture
def image_folder(tmp_path):
    def build(**kw):
        return make_folder(tmp_path / kw.pop("name", "data"), **kw)

    return build


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    # never read or write the user's real cache from the tests
    monkeypatch.setenv("NASPRUNE_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="session")
def digits():
    return load_data("digits")


@pytest.fixture
def write_space(tmp_path: Path):
    """Write YAML text to a file under tmp_path and return its path."""

    def write(text: str, name: str = "space.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write


@pytest.fixture
def tiny_space(write_space) -> Path:
    return write_space(TINY_SPACE, "tiny.yaml")


def _postgres_bin() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    return versions[-1].parent if versions else None


@pytest.fixture(scope="session")
def postgres_url():
    """A PostgreSQL database on the loopback interface: $NASPRUNE_TEST_POSTGRES if set, else a throw-away
    server started from the machine's PostgreSQL binaries (Debian's postgresql package; .ci/run installs it).
    Skipped where neither exists, unless $NASPRUNE_REQUIRE_POSTGRES is set (as .ci/run does): then it fails."""
    if os.environ.get("NASPRUNE_TEST_POSTGRES"):
        yield os.environ["NASPRUNE_TEST_POSTGRES"]
        return
    pg = _postgres_bin()
    problem = None
    try:
        import psycopg  # noqa: F401
    except ImportError:
        problem = "psycopg is not installed (pip install -e '.[test]')"
    if pg is None:
        problem = "PostgreSQL is not installed (apt-get install postgresql) and NASPRUNE_TEST_POSTGRES is not set"
    if problem:
        if os.environ.get("NASPRUNE_REQUIRE_POSTGRES"):
            pytest.fail(problem)
        pytest.skip(problem)
    data = Path(tempfile.mkdtemp(prefix="nasprune-pg-"))
    run_as = []
    if os.geteuid() == 0:  # the server refuses to run as root: run it as Debian's postgres user
        run_as = ["runuser", "-u", "postgres", "--"]
        shutil.chown(data, "postgres")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    quiet = {"check": True, "capture_output": True}
    subprocess.run([*run_as, pg / "initdb", "-D", data / "db", "-A", "trust", "-U", "nasprune", "--no-sync"], **quiet)
    subprocess.run([*run_as, pg / "pg_ctl", "-D", data / "db", "-l", data / "log", "-w", "-o",
                    f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off", "start"], **quiet)
    try:
        subprocess.run([pg / "createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "nasprune", "nasprune"], **quiet)
        yield f"postgresql://nasprune@127.0.0.1:{port}/nasprune"
    finally:
        subprocess.run([*run_as, pg / "pg_ctl", "-D", data / "db", "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(data, ignore_errors=True)
