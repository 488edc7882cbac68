"""``nasprune dashboard``: optuna-dashboard on a study's storage and artifact store, with a study note.

optuna-dashboard is an optional extra (``pip install -e .[dashboard]``). What it shows of a nasprune
study: the objective names (``val_accuracy``, ``MFLOPs``); per trial, user attributes a person can scan
(block, depth, repeats, widths, norm, activation, MFLOPs, params, latency, epochs, the reason a trial was
stopped or failed, the budgets); per-epoch validation accuracy as intermediate values; saved models as
artifacts; and a study note, written here, that says what was searched, on which data (with the augmentation
its trials trained with), with what budget, and which of the dashboard's words nasprune says otherwise; its
study of pruned models gets a note too, which says why its parameter charts are empty.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import optuna

from .artifacts import ARTIFACTS_DIR, artifact_store
from .choices import DEFAULT_HOST, DEFAULT_PORT
from .errors import ConfigError, NaspruneError
from .record import (
    SOURCE_STUDY,
    artifacts_root,
    counts_by_outcome,
    counts_text,
    load_study_data,
    open_existing,
    pruned_study,
    pruned_study_name,
    stamp_of,
)

__all__ = ["dashboard", "study_note", "chosen_augmentation", "DEFAULT_HOST", "DEFAULT_PORT"]

#: what optuna-dashboard calls a trial stopped early, said once in every note in nasprune's words
_WORDS = ("optuna-dashboard labels a trial that was stopped early or rejected over a budget **Pruned** (Optuna's "
          "word); nasprune calls it *stopped*, and keeps *pruned* for a network with channels or blocks removed")


def chosen_augmentation(study: optuna.Study) -> str:
    """The augmentation the study's trials trained with and why, in the words of the search's header (``crop (pad
    4) + flip``, ``none (auto for digits: ...)``). The study's data is loaded (with the augmentation its stamp says
    ``auto`` chose, where it says) for the padding and the words; where it cannot be (not on this machine), the
    answer says so."""
    asked = stamp_of(study).get("augment", "auto")
    try:
        data = load_study_data(study)
    except NaspruneError:
        return f"`{asked}`" + (" (chosen per data set when training; the data is not on this machine to say which)"
                               if asked == "auto" else "")
    why = data.augment_note or ("`auto`'s choice for this data" if asked == "auto" else "")
    return f"`{data.augmentation}`" + (f" ({why})" if why else "")


def _companion_note(study: optuna.Study) -> str:
    """The note of a study of pruned models (nasprune.record.pruned): what it holds, and why its charts of
    sampled parameters are empty."""
    source = study.user_attrs.get(SOURCE_STUDY)
    return "\n".join([
        f"# {study.study_name}",
        "",
        f"- **Holds**: the models `nasprune prune` made from trials of study `{source}` (the user attribute "
        f"`pruned_from` names each one's source trial), so that `{source}`'s Best Trials stay the search's winners",
        "- **Empty charts**: hyperparameter importance, slice, contour and parallel-coordinate plots have nothing to "
        "draw here: a pruned model samples no parameters (its architecture is its source trial's, with channels "
        "or blocks removed; see its `arch`)",
        f"- **Words**: {_WORDS}",
    ])


def study_note(study: optuna.Study, augmentation: str | None = None) -> str:
    """Markdown for the dashboard's study note: what was searched, on which data, with what budget, and what the
    dashboard's words mean in nasprune's. ``augmentation``: what the trials trained with (default:
    :func:`chosen_augmentation`, which loads the data). A study of pruned models gets a note of its own."""
    if SOURCE_STUDY in study.user_attrs:
        return _companion_note(study)
    stamp = stamp_of(study)
    counts = counts_by_outcome(study)
    budgets = [f"at most {v:g} {k}" for k, v in (("MFLOPs", stamp.get("max_mflops")),
                                                ("parameters", stamp.get("max_params"))) if v]
    augmentation = augmentation or chosen_augmentation(study)
    return "\n".join([
        f"# {study.study_name}",
        "",
        f"- **Searched**: space `{stamp.get('space')}` (`{stamp.get('space_file')}`), {stamp.get('epochs')} epochs "
        f"per trial, objectives `{stamp.get('objectives')}` (MFLOPs are millions of multiply-adds per image)",
        f"- **Data**: `{stamp.get('data')}`; validation {stamp.get('val_fraction')} and test "
        f"{stamp.get('test_fraction')} of the images where the data has no split of its own; seed {stamp.get('seed')}; "
        f"augmentation {augmentation}",
        f"- **Budget**: {', '.join(budgets) or 'none'} (a candidate over budget is stopped before training; "
        f"see the `max_*` user attributes)",
        f"- **Trials**: {counts_text(counts)} (stopped: stopped early or rejected over a budget); the winners are "
        f"this study's Best Trials; pruned models live in the study `{pruned_study_name(study.study_name)}`",
        f"- **Words**: {_WORDS}",
        "",
        "Each trial's user attributes hold its architecture (`arch`, `block`, `repeats`, `widths`, `norm`, `act`, "
        "`depth`), costs (`mflops`, `params`, `latency_ms`), its training history per epoch (`history`), and "
        "`reason` when it was stopped or failed. Completed trials carry their weights as artifacts. "
        "`nasprune report --study " + study.study_name + "` writes plots and tables.",
    ])


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
        pass  # one line per HTTP request would bury what the user needs to read


def dashboard(study: str, storage: str | None = None, results_dir: Path = Path("results"),
              host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
              on_ready: Callable[[str], None] | None = None) -> None:
    """Serve optuna-dashboard for ``study`` until interrupted (blocks; Ctrl-C or SIGTERM end it).

    ``on_ready`` gets one line with the study's own page once the server listens. Requests are not logged. The
    server runs in a thread, so a signal reaches the main thread while it waits, never inside a request (where
    wsgiref's handler would catch it, print a traceback and serve on)."""
    try:
        import optuna_dashboard  # noqa: PLC0415 - an optional extra
    except ImportError:
        raise ConfigError("optuna-dashboard is not installed: pip install -e '.[dashboard]' "
                          "(or pip install optuna-dashboard)") from None
    if not 0 < port < 65536:
        raise ConfigError(f"--port must be between 1 and 65535 (got {port})")
    loaded, backend = open_existing(study, storage, Path(results_dir))
    optuna_dashboard.save_note(loaded, study_note(loaded))
    companion = pruned_study(loaded, backend) if SOURCE_STUDY not in loaded.user_attrs else None
    if companion is not None:  # its page is one click away: it says why its parameter charts are empty
        optuna_dashboard.save_note(companion, study_note(companion))
    root = artifacts_root(loaded, Path(results_dir) / study)  # --artifacts of the search, if it was given
    store = artifact_store(root) if (root / ARTIFACTS_DIR).is_dir() else None
    try:
        server = make_server(host, port, optuna_dashboard.wsgi(backend, artifact_store=store),
                             handler_class=_QuietHandler)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port} ({exc.strerror or exc}); pass another --port") from None
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    thread.start()
    if on_ready is not None:
        page = f"http://{host}:{port}/dashboard/studies/{loaded._study_id}"  # noqa: SLF001 - the dashboard's URL uses it
        on_ready(f"nasprune dashboard: study {study!r} at {page} (all studies: http://{host}:{port}/dashboard/; "
                 f"Ctrl-C stops it)")
    try:
        while thread.is_alive():
            thread.join(0.5)
    finally:
        server.shutdown()
        server.server_close()
