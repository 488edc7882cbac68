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


def _postgres_problem() -> str | None:
    """Why no throw-away PostgreSQL server can be started here (None: one can)."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install -e '.[test]')"
    if _postgres_bin() is None:
        return "PostgreSQL is not installed (apt-get install postgresql) and NASPRUNE_TEST_POSTGRES is not set"
    return None


def _skip_or_fail(problem: str) -> None:
    if os.environ.get("NASPRUNE_REQUIRE_POSTGRES"):
        pytest.fail(problem)
    pytest.skip(problem)


class PostgresServer:
    """A throw-away PostgreSQL server on 127.0.0.1 (trust authentication, role ``nasprune``), from the machine's
    binaries; it can be stopped and started again (a database outage) and makes empty databases."""

    def __init__(self) -> None:
        self.bin = _postgres_bin()
        self.data = Path(tempfile.mkdtemp(prefix="nasprune-pg-"))
        self.run_as = []
        if os.geteuid() == 0:  # the server refuses to run as root: run it as Debian's postgres user
            self.run_as = ["runuser", "-u", "postgres", "--"]
            shutil.chown(self.data, "postgres")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        subprocess.run([*self.run_as, self.bin / "initdb", "-D", self.data / "db", "-A", "trust", "-U", "nasprune",
                        "--no-sync"], check=True, capture_output=True)
        self.start()

    def start(self) -> None:
        subprocess.run([*self.run_as, self.bin / "pg_ctl", "-D", self.data / "db", "-l", self.data / "log", "-w", "-o",
                        f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off", "start"],
                       check=True, capture_output=True)

    def stop(self) -> None:
        """Stop at once, as a crash or ``pg_ctl stop -m immediate`` would: connections drop mid-transaction."""
        subprocess.run([*self.run_as, self.bin / "pg_ctl", "-D", self.data / "db", "-m", "immediate", "stop"],
                       capture_output=True)

    def new_database(self, name: str) -> str:
        subprocess.run([self.bin / "createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "nasprune", name],
                       check=True, capture_output=True)
        return f"postgresql://nasprune@127.0.0.1:{self.port}/{name}"

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.data, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_url():
    """A PostgreSQL database on the loopback interface: $NASPRUNE_TEST_POSTGRES if set, else a throw-away
    server started from the machine's PostgreSQL binaries (Debian's postgresql package; .ci/run installs it).
    Skipped where neither exists, unless $NASPRUNE_REQUIRE_POSTGRES is set (as .ci/run does): then it fails."""
    if os.environ.get("NASPRUNE_TEST_POSTGRES"):
        yield os.environ["NASPRUNE_TEST_POSTGRES"]
        return
    problem = _postgres_problem()
    if problem:
        _skip_or_fail(problem)
    server = PostgresServer()
    try:
        yield server.new_database("nasprune")
    finally:
        server.remove()


@pytest.fixture
def postgres_server():
    """A PostgreSQL server of the test's own, to stop and start (skipped or failed like ``postgres_url``)."""
    problem = _postgres_problem()
    if problem:
        _skip_or_fail(problem)
    server = PostgresServer()
    try:
        yield server
    finally:
        server.remove()
