"""What a study was made for (its stamp) and its data.

A study remembers what it was made for (space, data, objectives, epochs, budgets, seed, the data options that
change what a trial sees) in a user attribute; a command with other settings is refused, so resuming never
mixes trials of two different searches. Every stage after the search reads the data back from the stamp, split
exactly as the search split it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import optuna

from .._optuna import quiet_optuna
from ..data import DataOptions, DataSplits, load_data
from ..errors import StudyError

__all__ = ["STAMP_KEY", "make_stamp", "data_stamp", "stamp_of", "open_study", "load_study_data"]

STAMP_KEY = "nasprune"


def data_stamp(options: DataOptions) -> dict[str, Any]:
    """The data options that change what a trial sees (not how the files are fetched or cached)."""
    return {"val_fraction": options.val_fraction, "test_fraction": options.test_fraction,
            "image_size": list(options.image_size) if options.image_size else None, "augment": options.augment,
            "skip_broken_images": options.skip_broken_images}


#: stamp keys that need not match on a resume: where the space file lies, and the words behind a choice
_UNCHECKED = ("space_file", "augment_note")
#: stamp keys added after studies were first made: a stamp without one matches any value
_ADDED_LATER = ("augment_used", "augment_note", "latency", "max_latency_ms")


def make_stamp(*, space: str, space_file: str, space_hash: str, data: str, objectives: str, epochs: int,
               max_mflops: float | None, max_params: int | None, seed: int, options: DataOptions,
               augment_used: str | None = None, augment_note: str = "", latency: dict[str, Any] | None = None,
               max_latency_ms: float | None = None) -> dict[str, Any]:
    """The stamp of a search: what its trials mean. ``space_file`` may move; everything else must match.
    ``augment_used``: what ``--augment auto`` resolved to for the data (and ``augment_note`` why), so every later
    stage trains with what the search trained with, and a resume whose data would now resolve otherwise is
    refused rather than mixing two augmentations. ``latency``: where the latency of a study that optimizes or
    budgets it is measured (runtime, batch, threads): two runtimes' figures are not comparable."""
    extra = {"augment_used": augment_used, "augment_note": augment_note} if augment_used else {}
    extra |= {"latency": latency, "max_latency_ms": max_latency_ms}  # None where latency decides nothing
    return {"space": space, "space_file": space_file, "space_hash": space_hash, "data": data,
            "objectives": objectives, "epochs": epochs, "max_mflops": max_mflops, "max_params": max_params,
            "seed": seed, **data_stamp(options), **extra}


def stamp_of(study: optuna.Study) -> dict[str, Any]:
    """The study's stamp (empty for a study nasprune did not make)."""
    return study.user_attrs.get(STAMP_KEY) or {}


def _check_stamp(study: optuna.Study, stamp: dict[str, Any], where: str) -> None:
    old = study.user_attrs.get(STAMP_KEY)
    if old is None and study.get_trials(deepcopy=False):
        # another worker that started in the same instant may have stamped the study (and queued its first trials)
        # between the two reads: read the stamp again before calling the study someone else's
        old = study.user_attrs.get(STAMP_KEY)
    if old is None:
        if study.get_trials(deepcopy=False):
            raise StudyError(f"study {study.study_name!r} in {where} was not made by nasprune search; "
                             f"choose another --study name")
        study.set_user_attr(STAMP_KEY, stamp)
        return
    for key, value in stamp.items():
        if key in _UNCHECKED or (key in _ADDED_LATER and key not in old):
            continue  # the file may move (its content may not change); an older stamp does not say
        if old.get(key) != value:
            raise StudyError(f"study {study.study_name!r} in {where} was made with {key}={old.get(key)!r}, this "
                             f"command asks for {key}={value!r}; rerun with the study's settings to resume it, "
                             f"or choose another --study name")


def open_study(name: str, storage: optuna.storages.BaseStorage, where: str, directions: list[str],
               metric_names: tuple[str, ...], sampler: optuna.samplers.BaseSampler,
               pruner: optuna.pruners.BasePruner, stamp: dict[str, Any]) -> tuple[optuna.Study, bool]:
    """Create the study, or load it if it exists and was made with the same settings (safe when several
    workers start at once). Returns (study, resumed). A study that exists is only read until its settings are
    checked: a refused command leaves its storage as it was (creating writes a record, even for a name in use)."""
    with quiet_optuna():
        if name in optuna.get_all_study_names(storage):
            study = optuna.load_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner)
        else:
            study = optuna.create_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner,
                                        directions=directions, load_if_exists=True)
    got = [d.name.lower() for d in study.directions]
    if got != directions:
        raise StudyError(f"study {name!r} in {where} optimizes {', '.join(got)}, this command asks for "
                         f"{', '.join(directions)}; choose another --study name")
    resumed = STAMP_KEY in study.user_attrs
    _check_stamp(study, stamp, where)
    if study.metric_names is None:
        with quiet_optuna():
            study.set_metric_names(list(metric_names))
    return study, resumed


def load_study_data(study: optuna.Study, download: bool = False, cache: bool = True) -> DataSplits:
    """The data set of a study, split exactly as its search split it (source, fractions, resize,
    augmentation and seed come from the study's record)."""
    stamp = stamp_of(study)
    if "data" not in stamp:
        raise StudyError(f"study {study.study_name!r} was not made by nasprune search (it does not say its data)")
    options = DataOptions(
        val_fraction=stamp["val_fraction"], test_fraction=stamp["test_fraction"],
        image_size=tuple(stamp["image_size"]) if stamp.get("image_size") else None,
        augment=stamp.get("augment_used") or stamp.get("augment", "auto"),
        skip_broken_images=stamp.get("skip_broken_images", False), download=download, cache=cache)
    data = load_data(stamp["data"], options, seed=stamp["seed"])
    return replace(data, augment_note=stamp["augment_note"]) if stamp.get("augment_note") else data
