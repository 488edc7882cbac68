"""A table of hostile search-space files, run through ``nasprune search`` as a user would: every one gets a
one-line error naming the problem (and the key path where there is one), exit code 2, no traceback, and
nothing written. The mutations put each kind of bad value at every key of the default space."""

import os

import pytest

from nasprune.cli import main
from nasprune.space import bundled_spaces

DEFAULT = bundled_spaces()["default"].read_text()

KEYS = {  # key path -> its line in the default space, up to the value
    "architecture.stem": "  stem: ",
    "architecture.stem_channels": "  stem_channels: ",
    "architecture.block": "  block: ",
    "architecture.stages.count": "    count: ",
    "architecture.stages.repeats": "    repeats: ",
    "architecture.stages.channels": "    channels: ",
    "architecture.kernel_size": "  kernel_size: ",
    "architecture.norm": "  norm: ",
    "architecture.act": "  act: ",
    "architecture.se_ratio": "  se_ratio: ",
    "architecture.expansion": "  expansion: ",
    "architecture.dropout": "  dropout: ",
    "training.epochs": "  epochs: ",
    "training.batch_size": "  batch_size: ",
    "training.optimizer": "  optimizer: ",
    "training.lr": "  lr: ",
    "training.momentum": "  momentum: ",
    "training.weight_decay": "  weight_decay: ",
    "training.schedule": "  schedule: ",
    "training.warmup_epochs": "  warmup_epochs: ",
    "training.label_smoothing": "  label_smoothing: ",
    "training.grad_clip": "  grad_clip: ",
}

BAD_VALUES = {  # wrong for every key above
    "object-tag": '!!python/object/apply:os.system ["touch PWNED"]',
    "low>high": "{low: 5, high: 1}",
    "no-choices": "{choices: []}",
    "huge-negative": "-1000000",
    "nul-string": '"\\0"',
    "nested-lists": "[[[]]]",
    "nan": ".nan",
    "mapping-choice": "{choices: [1, {a: b}]}",
    "overflow": "1e400",
}


def _replace_value(text: str, path: str, line_start: str, value: str) -> str:
    """The key's line set to ``value``; a key the default leaves out (the stem, which it fits to the data;
    momentum, which AdamW does not use) is added at the top of its section."""
    lines = text.splitlines()
    index = next((i for i, line in enumerate(lines) if line.startswith(line_start)), None)
    if index is None:
        section = lines.index(path.split(".")[0] + ":")
        lines.insert(section + 1, line_start + value)
    else:
        lines[index] = line_start + value
    return "\n".join(lines) + "\n"


MUTATIONS = [pytest.param(path, _replace_value(DEFAULT, path, start, value), id=f"{path}={name}")
             for path, start in KEYS.items() for name, value in BAD_VALUES.items()]

FILES = [  # whole-file hazards: (id, content, words of the error)
    ("deep-list", "architecture: " + "[" * 5000 + "]" * 5000 + "\n", "nested too deeply"),
    ("deep-map", "architecture: " + "{a: " * 3000 + "1" + "}" * 3000 + "\n", "nested too deeply"),
    ("billion-laughs", "a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
                       "c: [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n", "aliases"),
    ("alias-in-space", DEFAULT.replace("  norm: {choices: [batch, group, none]}", "  norm: &n batch\n  act: *n"),
     "aliases"),
    ("nul-bytes", "architecture:\x00\n", "not valid YAML"),
    ("huge-file", "# padding\n" * 40000, "too large"),
    ("top-level-scalar", "42\n", "space.yaml: the file must be a mapping"),
    ("top-level-list", "- architecture\n", "space.yaml: the file must be a mapping"),
    ("empty", "", "empty"),
    ("only-comments", "# nothing here\n", "empty"),
    ("tabs", "architecture:\n\tblock: basic\n", "not valid YAML"),
    ("unknown-top-key", DEFAULT + "exploit: true\n", "exploit: unknown key"),
    ("null-architecture", "architecture: null\n", "architecture"),
    ("million-stages", DEFAULT.replace("count: {low: 1, high: 3}", "count: 1000000"), "architecture.stages.count"),
    ("million-repeats", DEFAULT.replace("repeats: {low: 1, high: 3}", "repeats: {low: 1, high: 1000000}"),
     "architecture.stages.repeats"),
    ("unknown-block", DEFAULT.replace("{choices: [plain, basic, mbconv]}", "{choices: [plain, densenet]}"),
     "densenet"),
    ("python-name-tag", "architecture: !!python/name:os.system\n", "not valid YAML"),
    ("set-tag", "architecture: !!set {a, b}\n", "architecture"),
    ("binary-tag", "architecture: !!binary aGVsbG8=\n", "architecture"),
    ("duplicate-key", DEFAULT + "training:\n  epochs: 3\n", "duplicate key"),
    ("bad-utf8", b"architecture: \xff\xfe\n", "cannot read the file"),
]


def _run(tmp_path, capsys, content) -> tuple[int, str, str]:
    space = tmp_path / "space.yaml"
    space.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    results = tmp_path / "results"
    cwd = os.getcwd()
    os.chdir(tmp_path)  # where an os.system tag would have written PWNED
    try:
        code = main(["search", "--space", str(space), "--results-dir", str(results), "--quiet", "--trials", "1"])
    finally:
        os.chdir(cwd)
    out, err = capsys.readouterr()
    assert not results.exists(), "nothing may be written for a bad space"
    assert not (tmp_path / "PWNED").exists(), "a YAML tag ran code"
    return code, out, err


def _assert_one_line_error(code, out, err):
    assert code == 2, err
    assert out == ""
    assert "Traceback" not in err
    assert err.startswith("nasprune: error: ") and err.count("\n") == 1, err


@pytest.mark.parametrize("path, text", MUTATIONS)
def test_a_bad_value_at_any_key_is_one_line_naming_the_key(tmp_path, capsys, path, text):
    code, out, err = _run(tmp_path, capsys, text)
    _assert_one_line_error(code, out, err)
    if "not valid YAML" not in err:  # a tag that would construct an object is refused by the parser
        assert path in err, err


@pytest.mark.parametrize("content, words", [pytest.param(c, w, id=i) for i, c, w in FILES])
def test_a_hostile_file_is_one_line_and_exit_2(tmp_path, capsys, content, words):
    code, out, err = _run(tmp_path, capsys, content)
    _assert_one_line_error(code, out, err)
    assert words in err, err

