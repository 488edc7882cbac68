"""The stamp records what --augment auto resolved to, so later stages train with what the search trained with, and
stamps made before it still resume."""

import optuna
import pytest

from nasprune import SearchConfig, search
from nasprune.errors import StudyError
from nasprune.record import STAMP_KEY, load_study_data, make_stamp, open_study
from nasprune.record.storage import open_storage


def stamp(**extra):
    from nasprune.options import DataOptions

    return make_stamp(space="s", space_file="s.yaml", space_hash="h", data="digits", objectives="accuracy,mflops",
                      epochs=2, max_mflops=None, max_params=None, seed=0, options=DataOptions(), **extra)


def test_the_search_stamps_the_augmentation_it_chose_and_later_stages_use_it(tmp_path, tiny_space, monkeypatch):
    result = search(SearchConfig(space=str(tiny_space), trials=1, epochs=1, results_dir=tmp_path, seed=0))
    study = optuna.load_study(study_name=result.study_name, storage=open_storage(
        str(result.study_dir / "study.journal"), None, 2))
    recorded = study.user_attrs[STAMP_KEY]
    assert recorded["augment"] == "auto" and recorded["augment_used"] == "none"
    assert recorded["augment_note"].startswith("auto for digits")
    data = load_study_data(study)
    assert data.augment_choice == "none" and data.augment_note == recorded["augment_note"]


def test_a_stamp_made_before_the_augmentation_was_recorded_still_resumes(tmp_path):
    storage = optuna.storages.InMemoryStorage()
    open_study("x", storage, "memory", ["maximize", "minimize"], ("a", "b"), optuna.samplers.RandomSampler(),
               optuna.pruners.NopPruner(), stamp())
    _, resumed = open_study("x", storage, "memory", ["maximize", "minimize"], ("a", "b"),
                            optuna.samplers.RandomSampler(), optuna.pruners.NopPruner(),
                            stamp(augment_used="crop,flip", augment_note="auto: flip: ..."))
    assert resumed


def test_a_resume_whose_data_now_resolves_to_another_augmentation_is_refused():
    storage = optuna.storages.InMemoryStorage()
    args = (storage, "memory", ["maximize", "minimize"], ("a", "b"), optuna.samplers.RandomSampler(),
            optuna.pruners.NopPruner())
    open_study("x", *args, stamp(augment_used="crop", augment_note="auto: no flip: ..."))
    open_study("x", *args, stamp(augment_used="crop", augment_note="other words"))  # the words may differ
    with pytest.raises(StudyError, match="augment_used='crop'"):
        open_study("x", *args, stamp(augment_used="crop,flip", augment_note="auto: flip: ..."))
