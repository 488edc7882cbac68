"""Saved models as Optuna artifacts, so the dashboard lists them beside their trial and offers them for
download. The artifact store is a folder beside the study (``results/<study>/artifacts``); the model folders
stay where they are (``trials/``, ``pruned/``), since the Python API loads from those."""

from __future__ import annotations

from pathlib import Path

import optuna
from optuna.artifacts import FileSystemArtifactStore, upload_artifact

from ._optuna import quiet_optuna

__all__ = ["artifact_store", "upload_files", "ARTIFACTS_DIR"]

ARTIFACTS_DIR = "artifacts"
_MIMETYPES = {".pt": "application/octet-stream", ".json": "application/json", ".md": "text/markdown",
              ".png": "image/png", ".csv": "text/csv"}


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
