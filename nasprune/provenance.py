"""The data a saved model is judged on.

A saved model keeps the record of the data it was trained on (``data.json``: source, split seed and fractions,
image size, input shape, classes, a fingerprint of the files). ``eval``, ``prune --model``, ``diagnose --model``
and ``export`` use that data and that split by default, so a model is never "tested" on images it trained on
by accident. Other data, or another split, is used only when asked for, and then a note says what differs.
A model and data of different shapes are refused in one line that names both.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from .checkpoint import load_data_record
from .data import DataSplits, load_data
from .errors import ConfigError, DataError
from .options import DataOptions, flag
from .spec import TrialSpec

__all__ = ["ModelData", "data_for_model", "check_shapes", "SPLIT_FIELDS"]

#: what may be changed from the recorded data: the split's seed and the DataOptions that change what a model sees
SPLIT_FIELDS = ("seed", "val_fraction", "test_fraction", "image_size", "augment", "skip_broken_images")
_OPTION_FIELDS = {f.name for f in fields(DataOptions)}


@dataclass(frozen=True)
class ModelData:
    """The data to judge a saved model on, and ``note``: None when it is the data and split the model was
    trained on, else what differs (shown beside every number measured on it)."""

    data: DataSplits
    note: str | None


def _options(values: Mapping[str, Any], download: bool, cache: bool) -> DataOptions:
    size = values.get("image_size")
    return DataOptions(**{k: v for k, v in values.items() if k in _OPTION_FIELDS and k != "image_size"},
                       image_size=tuple(size) if size else None, download=download, cache=cache)


def data_for_model(folder: str | Path, spec: TrialSpec, data: str | None = None,
                   changes: Mapping[str, Any] | None = None, download: bool = False, cache: bool = True) -> ModelData:
    """Load the data for the saved model in ``folder``: its recorded data and split, with ``data`` (another
    source) and ``changes`` (SPLIT_FIELDS: another seed, fractions, ...) applied where given.

    Raises:
        ConfigError: the model records no data and none is given; an unknown field in ``changes``.
        DataError: the data's images or classes do not fit the model.
    """
    changes = dict(changes or {})
    unknown = sorted(set(changes) - set(SPLIT_FIELDS))
    if unknown:
        raise ConfigError(f"cannot change {', '.join(unknown)} of the data; changeable: {', '.join(SPLIT_FIELDS)}")
    record = load_data_record(folder)
    if record is None:
        if data is None:
            raise ConfigError(f"{folder} does not record the data it was trained on (it was saved before nasprune "
                              f"kept data.json); pass --data NAME[:PATH], with the --seed and fractions of its search")
        splits = load_data(data, _options(changes, download, cache), changes.get("seed", 0))
        check_shapes(folder, spec, splits, None)
        return ModelData(splits, None)
    recorded = {key: record.get(key) for key in SPLIT_FIELDS}
    wanted = {**recorded, **changes}
    splits = load_data(data or record["data"], _options(wanted, download, cache), wanted["seed"])
    check_shapes(folder, spec, splits, record)
    differs = [f"{flag(k)} {_show(wanted[k])} (trained with {_show(recorded[k])})"
               for k in SPLIT_FIELDS if _show(wanted[k]) != _show(recorded[k])]
    if splits.source != record["data"]:
        differs.insert(0, f"data {splits.source} (trained on {record['data']})")
    elif record.get("files") and splits.files and splits.files != record["files"]:
        differs.insert(0, f"the files of {splits.source} changed since it was trained (fingerprint {splits.files}, "
                          f"then {record['files']})")
    note = None if not differs else "not the data and split it was trained on: " + "; ".join(differs)
    return ModelData(splits, note)


def _show(value: Any) -> str:
    return "x".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


def check_shapes(folder: str | Path, spec: TrialSpec, data: DataSplits, record: dict | None) -> None:
    """Refuse data whose images or classes do not fit the model, in one line naming both and the fix."""
    c, h, w = data.input_shape
    want_c, want_k = spec.arch.in_channels, spec.arch.num_classes
    want_hw = tuple(record["input_shape"][1:]) if record else (h, w)
    if (c, data.num_classes, (h, w)) == (want_c, want_k, want_hw):
        return
    wanted = f"{want_c}x{want_hw[0]}x{want_hw[1]}" if record else f"{want_c}-channel"
    fix = (f"leave out --data to use {record['data']}, the data it was trained on" if record and data.source !=
           record["data"] else f"pass --image-size {want_hw[0]}x{want_hw[1]}" if want_hw != (h, w) and
           (c, data.num_classes) == (want_c, want_k) else "pass --data with the data it was trained on")
    raise DataError(f"{folder} takes {wanted} images in {want_k} classes, but {data.source} has {c}x{h}x{w} images "
                    f"in {data.num_classes} classes; {fix}")
