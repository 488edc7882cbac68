"""Saved models: a directory with ``spec.json`` (the TrialSpec) and ``weights.pt`` (a plain state dict), and
for a pruned model ``pruning.json`` (torch-pruning's pruning history and the input shape it was traced at).

Nothing is pickled: weights load with ``torch.load(..., weights_only=True)``, so a crafted file cannot run
code, and the module is rebuilt from the spec (then pruned again by replaying the history). Files are
written to a temporary name and renamed, so a crash never leaves a half-written checkpoint behind.
"""

from __future__ import annotations

import json
import os
import pickle
import tempfile
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .errors import CheckpointError, NaspruneError
from .nn import Network, build_model
from .nn.graph import apply_history
from .spec import TrialSpec

__all__ = ["save_model", "load_model", "load_weights", "load_pruning", "load_data_record", "atomic_write",
           "write_json", "DATA_FILE"]

SPEC_FILE = "spec.json"
WEIGHTS_FILE = "weights.pt"
PRUNING_FILE = "pruning.json"
DATA_FILE = "data.json"  # the data it was trained on (nasprune.data.DataSplits.record): source, split, shape, files


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it to ``path``. The file gets the
    permissions any new file would (0666 less the umask: 0644 usually), not mkstemp's private 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as indented JSON, atomically."""
    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(data, indent=2, default=str) + "\n"))


def save_model(directory: str | Path, spec: TrialSpec, model: nn.Module, history: list | None = None,
               input_shape: tuple[int, int, int] | None = None, data: dict[str, Any] | None = None) -> Path:
    """Save ``model`` (built from ``spec``, then pruned by ``history`` traced at ``input_shape`` if given)
    to ``directory``, with ``data``, the record of the data it was trained on (``DataSplits.record()``);
    returns the directory."""
    directory = Path(directory)
    if history:
        write_json(directory / PRUNING_FILE, {"format": 1, "input_shape": list(input_shape), "history": history})
    if data is not None:
        write_json(directory / DATA_FILE, data)
    write_json(directory / SPEC_FILE, spec.to_dict())
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    atomic_write(directory / WEIGHTS_FILE, lambda tmp: torch.save(state, tmp))
    return directory


def load_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """A state dict from ``path``, loaded with ``weights_only=True``; anything else is refused."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such weights file")
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols it then refuses anyway
            warnings.simplefilter("ignore", UserWarning)
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "refused"
        raise CheckpointError(f"{path}: refused to load: the file holds objects other than tensors, which could "
                              f"run code ({first}); nasprune only loads plain weights") from None
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile) as exc:
        raise CheckpointError(f"{path}: not a readable weights file, corrupt or truncated "
                              f"({exc.__class__.__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path}: expected a dict of tensors (a state dict)")
    return state


def load_data_record(directory: str | Path) -> dict[str, Any] | None:
    """The record of the data a saved model was trained on; None for a model saved before nasprune kept one."""
    path = Path(directory) / DATA_FILE
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
        if not isinstance(record, dict) or not isinstance(record.get("data"), str) or len(record["input_shape"]) != 3:
            raise ValueError("expected an object with data and a three-number input_shape")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{path}: not a readable data record ({exc}); delete it and pass --data") from None
    return record


def load_pruning(directory: str | Path) -> list:
    """The pruning history of a saved model (empty if it was not pruned)."""
    path = Path(directory) / PRUNING_FILE
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text())
        history, shape = data["history"], data["input_shape"]
        if not isinstance(history, list) or len(shape) != 3:
            raise ValueError("history must be a list and input_shape three numbers")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{path}: not a readable pruning record ({exc})") from None
    return history


def load_model(directory: str | Path, device: str | torch.device = "cpu") -> tuple[TrialSpec, Network]:
    """Rebuild a saved model: the spec from ``spec.json``, the pruned shapes from ``pruning.json`` if there
    is one, the weights from ``weights.pt``. One call, for search trials and pruned models alike.

    >>> spec, model = load_model("results/default-digits/trials/00007")  # doctest: +SKIP
    """
    directory = Path(directory)
    spec_path = directory / SPEC_FILE
    if not spec_path.is_file():
        raise CheckpointError(f"{directory}: not a saved model (no {SPEC_FILE})")
    try:
        spec = TrialSpec.from_json(spec_path.read_text())
    except (OSError, NaspruneError) as exc:
        raise CheckpointError(f"{spec_path}: {exc}") from None
    model = build_model(spec.arch)
    history = load_pruning(directory)
    if history:
        shape = json.loads((directory / PRUNING_FILE).read_text())["input_shape"]
        try:
            apply_history(model, history, shape)
        except Exception as exc:  # a history that does not fit the spec: a damaged or mismatched record
            raise CheckpointError(f"{directory}: the pruning record does not fit the spec "
                                  f"({exc.__class__.__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") from None
    state = load_weights(directory / WEIGHTS_FILE)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise CheckpointError(f"{directory}: the weights do not fit the spec "
                              f"({str(exc).splitlines()[0]})") from None
    return spec, model.to(device)
