"""``nasprune search`` as a function: open or resume the study, run the trials (here or in worker processes),
evaluate the winners once on the test split and write ``summary.json``."""

from __future__ import annotations

import datetime as _dt
import time
from collections.abc import Sequence

from ..checkpoint import load_model, write_json
from ..data.placement import choose_placement, place_data
from ..errors import CheckpointError
from ..events import Note, OnEvent, emit
from ..measure import measure_latency
from ..record import counts_by_outcome, evaluate_on_test, finished_count, pareto_winners, winner_row
from ..space import space_hash
from .budget import FINALISTS, OTHER_SHARE, Clock
from .config import SearchConfig, SearchResult
from .session import Session, latency_where, optimize, setup
from .workers import plan_devices, run_workers

__all__ = ["search"]


def search(config: SearchConfig | None = None, on_event: OnEvent | None = None) -> SearchResult:
    """Run (or resume) an architecture search and evaluate its winners once on the test split.

    Each trial samples a spec from the search space, builds the network, measures its MACs, parameters
    and latency, rejects it if over budget, trains it with per-epoch validation (stopping hopeless ones),
    and saves its weights. Running the same search again resumes the study until it holds
    ``config.trials`` finished trials. With several workers (``config.workers``, several per GPU by
    default on CUDA) trials run in parallel processes that share the study.

    Args:
        config: what to search (:class:`SearchConfig`; the defaults search digits).
        on_event: receives progress as it happens (nasprune.events: a Note per line worth reading, an Epoch per
            epoch, a TrialEnd per finished trial); nothing is printed.

    Returns:
        A :class:`SearchResult`; ``results/<study>/summary.json`` holds the same winners.

    Raises:
        NaspruneError: bad input (space, data, study settings); nothing is written in that case.
        KeyboardInterrupt: after marking the running trials as interrupted; finished trials are saved.

    Example::

        >>> import nasprune
        >>> result = nasprune.search(nasprune.SearchConfig(trials=4, epochs=2))  # doctest: +SKIP
        >>> result.best["test_accuracy"]  # doctest: +SKIP
    """
    config = config or SearchConfig()
    clock = Clock(time.time(), 60 * config.time_budget) if config.time_budget else None
    s = setup(config, clock=clock)
    devices = plan_devices(config, s.runtime.device)
    study = s.study
    done = finished_count(study)
    of = f"/{config.trials}" if config.trials is not None else ""
    say = lambda text: emit(on_event, Note(text))  # noqa: E731
    say(f"nasprune search: study {study.study_name!r} ({'resuming' if s.resumed else 'new'}, "
        f"{done}{of} trials finished) in {s.storage_name}")
    placement = choose_placement(s.data, s.runtime.device, config.placement, devices.count(devices[0]), test=False)
    where = "resident on the device" if placement == "device" else "streamed from host memory"
    say(f"  space {s.space.name} ({s.space.source}), data {s.data.describe()}, {where}")
    if s.data.augment_note:
        say(f"  augmentation {s.data.augmentation}, {s.data.augment_note}")
    workers = f"{len(devices)} workers on {', '.join(sorted(set(devices)))}" if len(devices) > 1 else "1 worker"
    say(f"  {s.runtime.describe()}, {workers}, {s.epochs} epoch{'s' if s.epochs != 1 else ''} per trial "
        f"({s.epochs_text}), objectives {' / '.join(config.metric_names)}, early stopping: {s.pruner_text}")
    if config.latency_objective:
        budget = f", at most {config.max_latency_ms:g} ms" if config.max_latency_ms is not None else ""
        say(f"  latency measured before training in {latency_where(config, s.runtime)}{budget}, once per "
            f"architecture; MFLOPs are recorded beside it")
    if clock is not None:
        retrained = finalists_text(len(s.space.start_with), config.baselines)
        say(f"  time budget {config.time_budget:g} min: new candidates until "
            f"{_minutes(clock.explore_end - clock.start)}, then {retrained}")
    if s.recorded:
        say(f"  trial{'s' if len(s.recorded) > 1 else ''} {', '.join(map(str, s.recorded))} had finished when "
            f"{'their' if len(s.recorded) > 1 else 'its'} worker stopped: recorded as complete from the saved model")
    if s.requeued:
        say(f"  trial{'s' if len(s.requeued) > 1 else ''} {', '.join(map(str, s.requeued))} "
            f"{'were' if len(s.requeued) > 1 else 'was'} interrupted: queued to run again with the same candidate")
    if s.dead:
        say(f"  trials {', '.join(map(str, s.dead))} were running in a worker that died: marked failed, "
                       f"queued to run again (up to {config.max_retries} times)")
    try:
        if len(devices) == 1:
            optimize(s, on_event)
        elif config.trials is None or finished_count(study, include_running=True) < config.trials:
            run_workers(config, devices, study, on_event, clock)
    except KeyboardInterrupt:
        say(f"interrupted: {finished_count(study)} finished trials are saved in {s.storage_name}; "
            f"run the same command to resume")
        raise
    return _finish(s)


def finalists_text(start_candidates: int, baselines: Sequence[str]) -> str:
    """What a budgeted search retrains after sampling, in words (the header's "then ..."); see
    :func:`nasprune.search.budget.finalists`."""
    leader = "the most accurate network"
    if start_candidates:
        leader += " (or a start candidate it does not lead by more than the validation noise)"
    if baselines:
        leader += f" and the baseline{'s' if len(baselines) > 1 else ''} {', '.join(baselines)}"
    cheaper = FINALISTS - 1
    beside = (f", beside {'the' if cheaper == 1 else f'up to {cheaper}'} cheaper network{'s' if cheaper > 1 else ''} "
              + ("(start candidates first, as many epochs as the leader; then " if start_candidates else "(")
              + f"those of the front that add most to it, {OTHER_SHARE:.0%} each)" if cheaper else "")
    return f"{leader} train{'s' if not baselines else ''} again from scratch with the rest{beside}"


def _minutes(seconds: float) -> str:
    return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"


def _winners_latency(s: Session, winners: list, rows: list[dict]) -> None:
    """Each row's ``latency`` (the figure and its conditions). A winner whose trial measured its latency while
    other workers trained on the same device (``shared``) is measured again here, in the main process, with the
    workers gone and under the runtime's autocast: the figure a deployment sees. Its trial's figure stays in the
    study and in the row as ``trial_latency_ms``."""
    for t, row in zip(winners, rows, strict=True):
        measured = t.user_attrs.get("latency")
        if not measured or not measured.get("shared") or not row.get("checkpoint"):
            row["latency"] = measured
            continue
        try:
            _, model = load_model(row["checkpoint"], s.runtime.device)
        except CheckpointError:
            row["latency"] = measured  # evaluate_on_test reported the checkpoint
            continue
        model.to(memory_format=s.runtime.memory_format)
        latency = measure_latency(model, s.data.input_shape, threads=s.config.latency_threads,
                                  autocast=s.runtime.amp_dtype)
        row["trial_latency_ms"] = row["latency_ms"]
        row["latency_ms"], row["latency"] = latency.median_ms, latency.to_dict()


def _finish(s: Session) -> SearchResult:
    config, study = s.config, s.study
    winners = pareto_winners(study)
    rows = [winner_row(t, study) for t in winners]
    problems = evaluate_on_test(rows, place_data(s.data, s.runtime.device, config.placement), s.runtime)
    _winners_latency(s, winners, rows)
    counts = counts_by_outcome(study)
    summary = {
        "study": study.study_name, "storage": s.storage_name,
        "updated": _dt.datetime.now().isoformat(timespec="seconds"),
        "space": {"name": s.space.name, "file": s.space.source, "hash": space_hash(s.space)},
        "data": s.data.describe(), "skipped_files": list(s.data.skipped),
        "objectives": list(config.metric_names), "epochs": s.epochs,
        "budgets": {"max_mflops": config.max_mflops, "max_params": config.max_params},
        "trials": counts, "device": s.runtime.describe(),
        "note": "mflops are millions of multiply-adds (MACs) per image, as fvcore counts them; test_accuracy is "
                "measured once per winner on the held-out test split, which the search never sees",
        "winners": rows,
    }
    summary_path = s.study_dir / "summary.json"
    write_json(summary_path, summary)
    return SearchResult(study.study_name, s.storage_name, s.study_dir, summary_path, counts, rows,
                        metric_names=config.metric_names, problems=problems, results_dir=config.results_dir)
