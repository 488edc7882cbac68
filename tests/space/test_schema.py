"""Search-space files are validated on load: every problem is one line naming the file, the key path and
what is allowed."""

import pytest

from nasprune import SpaceError, load_space
from nasprune.space import bundled_spaces
from nasprune.space.values import Choice, Fixed, Range

VALID = """\
architecture:
  block: basic
  stages:
    count: {low: 1, high: 3}
    repeats: {low: 1, high: 3}
    channels: {choices: [16, 32]}
"""


def load_text(write_space, text):
    return load_space(write_space(text))


@pytest.mark.parametrize("text, message", [
    (VALID.replace("block: basic", "blok: basic"), "architecture.blok: unknown key; allowed: stages, block,"),
    (VALID.replace("block: basic", "block: dense"), "architecture.block: got 'dense'; allowed: one of plain, basic"),
    (VALID.replace("block: basic", "block: [plain, basic]"), "architecture.block: a list is not a value here; "
                                                             "to search over values write {choices:"),
    (VALID.replace("{low: 1, high: 3}\n    channels", "{low: 3, high: 1}\n    channels"),
     "architecture.stages.repeats.high: must be >= low (got 1 < 3)"),
    (VALID.replace("count: {low: 1, high: 3}", "count: {low: 1, high: 1000000}"),
     "architecture.stages.count.high: got 1000000, out of range; allowed: an integer in [1, 8]"),
    (VALID.replace("{choices: [16, 32]}", "{choices: [16, -32]}"),
     "architecture.stages.channels.choices[1]: got -32, out of range"),
    (VALID.replace("{choices: [16, 32]}", "{choices: []}"), "architecture.stages.channels.choices: must be a non-empty list"),
    (VALID.replace("{choices: [16, 32]}", "{choices: [16, 16]}"), "has a duplicate value"),
    (VALID.replace("{choices: [16, 32]}", "sixteen"), "architecture.stages.channels: got 'sixteen' (str)"),
    (VALID.replace("{choices: [16, 32]}", "16.5"), "architecture.stages.channels: got 16.5"),
    (VALID.replace("{choices: [16, 32]}", "true"), "architecture.stages.channels: got True (bool)"),
    (VALID.replace("{choices: [16, 32]}", "[16, 32]"), "architecture.stages.channels: lists 2 stages but "
                                                       "stages.count is at most 3"),
    (VALID.replace("{choices: [16, 32]}", "{pick: [16, 32]}"), "expected a value, {choices: [...]} or {low: ..., high: ...}"),
    (VALID.replace("{choices: [16, 32]}", "{base: 16}"), "a geometric width needs both base and multiplier"),
    (VALID.replace("    channels: {choices: [16, 32]}\n", ""), "architecture.stages.channels: is required"),
    (VALID + "  kernel_size: 4\n", "architecture.kernel_size: got 4; allowed: an odd integer in [1, 11]"),
    (VALID + "  kernel_size: {low: 3, high: 7}\n", "an odd-only key needs step: 2"),
    (VALID + "  norm: {low: 1, high: 2}\n", "names cannot be a range"),
    (VALID + "  act: {choices: [relu, swish]}\n", "architecture.act.choices[1]: got 'swish'; allowed: one of relu,"),
    (VALID + "  dropout: {low: 0, high: 0.5, log: true}\n", "architecture.dropout.low: must be > 0 with log: true"),
    (VALID + "  dropout: {low: 0.1, high: 0.5, log: yes please}\n", "architecture.dropout.log: must be true or false"),
    (VALID + "training:\n  epochs: {low: 1, high: 5}\n", "training.epochs: must be fixed, not searched"),
    (VALID + "training:\n  epochs: 5\n  warmup_epochs: 5\n", "training.warmup_epochs: must be < training.epochs (5)"),
    (VALID + "training:\n  lr: {low: 0.1}\n", "training.lr: a range needs both low and high (missing high)"),
    (VALID + "training:\n  lr: {low: 0.1, high: .inf}\n", "training.lr.high: got inf, out of range"),
    (VALID + "extra: 1\n", "extra: unknown key; allowed: name, description, architecture, training"),
    (VALID + "input: [3, 32]\n", "input: must be [channels, height, width]"),
    ("architecture: 5\n", "architecture: must be a mapping of keys"),
    ("training: {}\n", "architecture: is required"),
    ("- a\n- b\n", "must be a mapping of keys"),
])
def test_malformed_space_is_one_line_naming_the_key_path(write_space, text, message):
    with pytest.raises(SpaceError) as info:
        load_text(write_space, text)
    text = str(info.value)
    assert "\n" not in text
    assert message in text, text
    assert "space.yaml:" in text


@pytest.mark.parametrize("text, message", [
    ("architecture: {block: basic\n", "not valid YAML at line 2"),
    ("architecture: !!python/object/apply:os.system ['echo hi']\n", "not valid YAML"),
    (VALID + "  block: plain\n", "duplicate key 'block'"),
    ("", "the file is empty"),
    ("\t- nope", "not valid YAML"),
])
def test_yaml_hazards_are_refused(write_space, text, message):
    with pytest.raises(SpaceError, match=message):
        load_text(write_space, text)


def test_missing_file_names_the_bundled_spaces():
    with pytest.raises(SpaceError, match="no such search-space file; .*default"):
        load_space("nope.yaml")


def test_scientific_notation_is_a_number(write_space):
    space = load_text(write_space, VALID + "training:\n  weight_decay: {low: 1e-5, high: 1e-3, log: true}\n")
    assert space.train["weight_decay"] == Range(1e-5, 1e-3, None, True)


def test_value_forms(write_space):
    space = load_text(write_space, VALID + "  norm: {choices: [batch]}\n  act: {choices: [relu, gelu]}\n"
                                           "  stem_channels: {low: 8, high: 32, step: 8}\n")
    assert space.arch["norm"] == Fixed("batch")  # one choice is a fixed value
    assert space.arch["act"] == Choice(("relu", "gelu"))
    assert space.arch["stem_channels"] == Range(8, 32, 8, False, integer=True)
    assert not space.is_fixed


@pytest.mark.parametrize("name", sorted(bundled_spaces()))
def test_every_bundled_space_loads(name):
    space = load_space(name)
    assert space.name == name
    assert space.input_shape is not None and space.num_classes == (1000 if name in ("resnet18", "resnet50") else 10)
