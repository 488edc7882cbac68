"""``nasprune dashboard``: optuna-dashboard on a study's storage and artifact store, with a study note.

optuna-dashboard is an optional extra (``pip install -e .[dashboard]``). What it shows of a nasprune
study: the objective names (``val_accuracy``, ``MFLOPs``); per trial, user attributes a person can scan
(block, depth, repeats, widths, norm, activation, MFLOPs, params, latency, epochs, the reason a trial was
stopped or failed, the budgets); per-epoch validation accuracy as intermediate values; saved models as
artifacts; and a study note, written here, that says what was searched, on which data, with what budget.
"""

from __future__ import annotations

from pathlib import Path

import optuna

from .artifacts import ARTIFACTS_DIR, artifact_store
from .errors import ConfigError
from .record import PRUNED_FROM, artifacts_root, counts_by_outcome, open_existing, stamp_of

__all__ = ["dashboard", "study_note", "DEFAULT_HOST", "DEFAULT_PORT"]

DEFAULT_HOST = "127.0.0.1"  # local only, unless the user asks to expose it
DEFAULT_PORT = 8080


def study_note(study: optuna.Study) -> str:
    """Markdown for the dashboard's study note: what was searched, on which data, with what budget."""
    stamp = stamp_of(study)
    counts = counts_by_outcome(study)
    linked = sum(PRUNED_FROM in t.user_attrs for t in study.get_trials(deepcopy=False))
    budgets = [f"at most {v:g} {k}" for k, v in (("MFLOPs", stamp.get("max_mflops")),
                                                ("parameters", stamp.get("max_params"))) if v]
    return "\n".join([
        f"# {study.study_name}",
        "",
        f"- **Searched**: space `{stamp.get('space')}` (`{stamp.get('space_file')}`), {stamp.get('epochs')} epochs "
        f"per trial, objectives `{stamp.get('objectives')}` (MFLOPs are millions of multiply-adds per image)",
        f"- **Data**: `{stamp.get('data')}`; validation {stamp.get('val_fraction')} and test "
        f"{stamp.get('test_fraction')} of the images where the data has no split of its own; seed {stamp.get('seed')}; "
        f"augmentation `{stamp.get('augment')}`",
        f"- **Budget**: {', '.join(budgets) or 'none'} (a candidate over budget is stopped before training; "
        f"see the `max_*` user attributes)",
        f"- **Trials**: {counts['complete'] - linked} completed, {counts['stopped']} stopped early or rejected, "
        f"{counts['failed']} failed, {counts['running']} running"
        + (f"; {linked} pruned models (user attribute `pruned_from`)" if linked else ""),
        "",
        "Each trial's user attributes hold its architecture (`arch`, `block`, `repeats`, `widths`, `norm`, `act`, "
        "`depth`), costs (`mflops`, `params`, `latency_ms`), its training history per epoch (`history`), and "
        "`reason` when it was stopped or failed. Completed trials carry their weights as artifacts. "
        "`nasprune report --study " + study.study_name + "` writes plots and tables.",
    ])


def dashboard(study: str, storage: str | None = None, results_dir: Path = Path("results"),
              host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> None:
    """Serve optuna-dashboard for ``study`` until interrupted (blocks). Prints the URL first."""
    try:
        import optuna_dashboard  # noqa: PLC0415 - an optional extra
    except ImportError:
        raise ConfigError("optuna-dashboard is not installed: pip install -e '.[dashboard]' "
                          "(or pip install optuna-dashboard)") from None
    if not 0 < port < 65536:
        raise ConfigError(f"port must be between 1 and 65535 (got {port})")
    loaded, backend = open_existing(study, storage, Path(results_dir))
    optuna_dashboard.save_note(loaded, study_note(loaded))
    root = artifacts_root(loaded, Path(results_dir) / study)  # --artifacts of the search, if it was given
    store = artifact_store(root) if (root / ARTIFACTS_DIR).is_dir() else None
    print(f"nasprune dashboard: study {study!r} at http://{host}:{port}/dashboard/ (Ctrl-C stops it)", flush=True)
    optuna_dashboard.run_server(backend, host=host, port=port, artifact_store=store)
