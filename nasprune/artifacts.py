"""Saved models as Optuna artifacts, so the dashboard lists them beside their trial and offers them for
download. The artifact store is a folder beside the study (``results/<study>/artifacts``); the model folders
stay where they are (``trials/``, ``pruned/``), since the Python API loads from those."""

from __future__ import annotations

import contextlib
import json
import mimetypes
import uuid
from pathlib import Path

import optuna
from optuna.artifacts import FileSystemArtifactStore, upload_artifact
from optuna.artifacts.exceptions import ArtifactNotFound

from ._optuna import quiet_optuna

__all__ = ["artifact_store", "upload_files", "attach_to_finished_trial", "ARTIFACTS_DIR"]

ARTIFACTS_DIR = "artifacts"
_MIMETYPES = {".pt": "application/octet-stream", ".json": "application/json", ".md": "text/markdown",
              ".png": "image/png", ".csv": "text/csv", ".onnx": "application/octet-stream", ".py": "text/x-python"}
#: optuna-dashboard lists, as artifacts of the trial with id T, the study system attributes named PREFIX + "T:<id>"
_DASHBOARD_TRIAL_PREFIX = "dashboard:artifacts:"


def artifact_store(study_dir: Path) -> FileSystemArtifactStore:
    """The study's artifact store (created on first use)."""
    base = Path(study_dir) / ARTIFACTS_DIR
    base.mkdir(parents=True, exist_ok=True)
    return FileSystemArtifactStore(str(base))


def upload_files(store: FileSystemArtifactStore, files: list[Path],
                 target: optuna.Trial | optuna.trial.FrozenTrial | optuna.Study,
                 storage: optuna.storages.BaseStorage | None = None) -> list[str]:
    """Upload ``files`` as artifacts of ``target`` (a running trial, or a finished one with its ``storage``);
    returns their artifact ids."""
    ids = []
    with quiet_optuna():
        for f in files:
            ids.append(upload_artifact(artifact_store=store, file_path=str(f), study_or_trial=target, storage=storage,
                                       mimetype=_MIMETYPES.get(f.suffix, "application/octet-stream")))
    return ids


def attach_to_finished_trial(store: FileSystemArtifactStore, files: list[Path], study: optuna.Study,
                             trial: optuna.trial.FrozenTrial) -> list[str]:
    """Attach ``files`` to a finished ``trial`` of ``study`` so optuna-dashboard shows them on the trial's page;
    files attached earlier under the same names are replaced. Returns the new artifact ids.

    Optuna takes artifacts only on a running trial (a finished one refuses new system attributes).
    optuna-dashboard also lists, as the artifacts of trial T, the study's system attributes named
    ``dashboard:artifacts:T:<artifact id>`` (where its own uploads went before Optuna had artifacts; 0.21 still
    reads them, and deletes them by setting them to null): files made after a trial finished go there.
    """
    storage, study_id = study._storage, study._study_id  # noqa: SLF001 - the storage is where the attribute lives
    prefix = f"{_DASHBOARD_TRIAL_PREFIX}{trial._trial_id}:"  # noqa: SLF001
    names = {f.name for f in files}
    with quiet_optuna():
        for key, value in storage.get_study_system_attrs(study_id).items():
            meta = json.loads(value) if key.startswith(prefix) and isinstance(value, str) else None
            if meta and meta.get("filename") in names:
                with contextlib.suppress(ArtifactNotFound):  # its file was deleted by hand: forget the entry
                    store.remove(meta["artifact_id"])
                storage.set_study_system_attr(study_id, key, json.dumps(None))
        ids = []
        for f in files:
            artifact_id = str(uuid.uuid4())
            with f.open("rb") as stream:
                store.write(artifact_id, stream)
            mimetype = _MIMETYPES.get(f.suffix) or mimetypes.guess_type(f.name)[0] or "application/octet-stream"
            meta = {"artifact_id": artifact_id, "filename": f.name, "mimetype": mimetype, "encoding": None}
            storage.set_study_system_attr(study_id, prefix + artifact_id, json.dumps(meta))
            ids.append(artifact_id)
    return ids
