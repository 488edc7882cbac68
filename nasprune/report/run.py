"""``nasprune report`` as a function: a study's results as Markdown, self-contained HTML, PNGs and a CSV."""

from __future__ import annotations

import csv
import json
import time
from dataclasses import dataclass
from pathlib import Path

import optuna
from scipy.stats import spearmanr

from ..checkpoint import atomic_write, load_model
from ..data.placement import place_data
from ..deploy import add_deployed_latency
from ..diagnostics import EXPLODING, OVERFIT_GAP, VANISHING
from ..errors import CheckpointError, ConfigError
from ..record import (
    counts_by_outcome,
    counts_text,
    evaluate_on_test,
    found_text,
    load_study_data,
    open_existing,
    pareto_winners,
    pruned_study,
    stamp_of,
    winner_row,
)
from ..text import comparison_rows, human_count, plural, span
from ..train import resolve_runtime
from . import plots
from .collect import TrialRecord, collect, csv_rows
from .render import Section, Table, to_html, to_markdown

__all__ = ["ReportConfig", "ReportResult", "report"]

#: characters of a trial's verdict in the diagnostics table before the rest is counted instead of shown
VERDICT_CHARS = 240


@dataclass(frozen=True)
class ReportConfig:
    """Settings of ``nasprune report``."""

    study: str
    storage: str | None = None
    results_dir: Path = Path("results")
    out: Path | None = None  # default: RESULTS_DIR/STUDY/report
    top: int = 10  # trials in the top-k table and the training curves
    test: bool = True  # evaluate the winners on the test split (the report's only use of it)
    device: str = "auto"
    latency: bool = True  # time the winners on the CPU in PyTorch and ONNX Runtime (needs the export extra)
    latency_threads: int = 1  # CPU threads of those figures

    def __post_init__(self) -> None:
        if self.top < 1:
            raise ConfigError(f"--top must be >= 1 (got {self.top})")
        if not 1 <= self.latency_threads <= 1024:
            raise ConfigError(f"--latency-threads must be between 1 and 1024 (got {self.latency_threads})")
        object.__setattr__(self, "results_dir", Path(self.results_dir))


@dataclass
class ReportResult:
    """What :func:`report` wrote: the folder, its files and how long it took."""

    out: Path  # the report folder
    files: list[Path]  # report.md, report.html, trials.csv, the PNGs
    seconds: float


def _f(value: float | None, fmt: str = "{:.4f}") -> str:
    return "-" if value is None else fmt.format(value)


def _overview(study: optuna.Study, records: list[TrialRecord]) -> Section:
    stamp = stamp_of(study)
    linked = sum(not r.searched for r in records)
    budgets = ", ".join(f"{k} <= {v:g}" for k, v in (("MFLOPs", stamp.get("max_mflops")),
                                                    ("params", stamp.get("max_params"))) if v) or "none"
    return Section("What was searched", [
        f"Study `{study.study_name}`: space `{stamp.get('space')}` ({stamp.get('space_file')}), data "
        f"`{stamp.get('data')}` (validation {stamp.get('val_fraction')}, test {stamp.get('test_fraction')} of the "
        f"images where the data has no split of its own; seed {stamp.get('seed')}), {stamp.get('epochs')} epochs per "
        f"trial, objectives {stamp.get('objectives')}, budgets: {budgets}.",
        f"Trials: {counts_text(counts_by_outcome(study))}; stopped means stopped early or rejected over a budget"
        + (f"; {plural(linked, 'pruned model')} made from them" if linked else "")
        + ". MFLOPs are millions of multiply-adds per image (fvcore).",
    ])


def _deployed_latency(rows: list[dict], input_shape: tuple[int, int, int], threads: int) -> str:
    """Time each winner's saved model in PyTorch and ONNX Runtime (batch 1 and 32, ``threads`` CPU threads) into
    its row's ``deployed_ms``; returns the sentence the report says about these figures."""
    problems = []
    for row in rows:
        try:
            _, model = load_model(row["checkpoint"])
        except (CheckpointError, TypeError) as exc:  # TypeError: no checkpoint recorded
            problems.append(f"trial {row['trial']}: {exc}")
            continue
        row["deployed_ms"] = measured = {"latency_ms": {}}
        problem = add_deployed_latency(measured, model, input_shape, threads)
        if problem:
            return f"{problem}."
    unit = f"median ms on the CPU with {threads} thread{'s' * (threads != 1)}, at batch 1 / batch 32"
    return (f"PyTorch is eager PyTorch, ORT is ONNX Runtime's CPU execution provider on the exported model ({unit}; "
            f"`nasprune export` writes the files)." + (f" Not measured: {'; '.join(problems)}." if problems else ""))


def _pair(row: dict, runtime: str) -> str:
    ms = (row.get("deployed_ms") or {}).get("latency_ms", {})
    one, many = ms.get(f"{runtime}_b1"), ms.get(f"{runtime}_b32")
    return "-" if one is None or many is None else f"{one:.3f} / {many:.2f}"


def _winners(study: optuna.Study, config: ReportConfig, records: list[TrialRecord]) -> Section:
    rows = [winner_row(t, study) for t in pareto_winners(study)]
    note, latency = "not measured (--no-test)", "Latency was not measured (--no-latency)."
    if (config.test or config.latency) and rows:
        runtime = resolve_runtime(config.device)
        data = place_data(load_study_data(study), runtime.device)
        if config.test:
            problems = evaluate_on_test(rows, data, runtime)
            note = "measured now on the held-out test split, the report's only use of it" + (
                f" ({'; '.join(problems)})" if problems else "")
        if config.latency:
            latency = _deployed_latency(rows, data.input_shape, config.latency_threads)
    table = Table(["trial", "val acc", "test acc", "MFLOPs", "params", "PyTorch ms b1 / b32", "ORT ms b1 / b32",
                   "depth", "from", "architecture"],
                  [[str(r["trial"]), _f(r["val_accuracy"]), _f(r["test_accuracy"]), _f(r["mflops"], "{:.3f}"),
                    human_count(r["params"]), _pair(r, "cpu"), _pair(r, "ort"), str(r.get("depth") or "-"),
                    r["origin"], r["arch"] or "-"] for r in rows])
    top = sorted((r for r in records if r.state == "complete" and r.searched), key=lambda r: -r.val_acc)[:config.top]
    table_top = Table(["trial", "val acc", "train acc", "MFLOPs", "params", "depth", "architecture"],
                      [[str(r.number), _f(r.val_acc), _f(r.train_acc), _f(r.mflops, "{:.3f}"), human_count(r.params),
                        str(r.depth or "-"), r.arch or "-"] for r in top])
    best = "the most accurate trial" if len(top) == 1 else f"the {len(top)} most accurate trials"
    found = found_text(rows) if len(study.directions) > 1 else None
    origins = (" From: the space's start candidates (start), `--baseline` presets, the stratified start that tries "
               f"every choice (coverage) or the sampler; a network trained again is its source's. {found[0].upper()}"
               f"{found[1:]}.") if found else ""
    return Section("Winners", [f"The Pareto front (test accuracy {note}), then {best} by validation accuracy.{origins}",
                               latency], [table, table_top])


def _depth_findings(records: list[TrialRecord]) -> list[str]:
    """Rank correlations of depth with accuracy and with the generalization gap, per block type."""
    lines = []
    done = [r for r in records if r.state == "complete" and r.searched and r.depth is not None]
    for block in sorted({r.block for r in done if r.block}):
        group = [r for r in done if r.block == block]
        if len(group) < 4 or len({r.depth for r in group}) < 2:
            continue
        acc = spearmanr([r.depth for r in group], [r.val_acc for r in group]).statistic
        gaps = [(r.depth, r.gap) for r in group if r.gap is not None]
        gap = spearmanr(*zip(*gaps, strict=True)).statistic if len(gaps) >= 4 else float("nan")
        trend = "more accurate" if acc > 0.3 else "less accurate" if acc < -0.3 else "about as accurate"
        lines.append(f"`{block}` ({plural(len(group), 'trial')}, depth {_depths(group)}): deeper networks were "
                     f"{trend} (Spearman rank correlation of "
                     f"depth with validation accuracy {acc:+.2f}; with the train-validation gap {gap:+.2f}).")
    return lines or ["Too few completed trials per block type to say (at least 4 of different depths are needed)."]


def _depths(records: list[TrialRecord]) -> str:
    return span(min(r.depth for r in records), max(r.depth for r in records))


def _diagnosed(records: list[TrialRecord]) -> list[TrialRecord]:
    return [r for r in records if r.state == "complete" and r.searched and r.depth is not None
            and (r.grad_ratio is not None or r.blocks_total)]


def _diagnostic_findings(records: list[TrialRecord]) -> list[str]:
    """Per block type: how many trials overfit, had vanishing or exploding gradients, had redundant blocks."""
    done = _diagnosed(records)
    if not done:
        return ["This study has no depth diagnostics (it was searched before nasprune recorded them)."]
    lines = []
    for block in sorted({r.block for r in done if r.block}):
        group = [r for r in done if r.block == block]
        bad = [r for r in group if r.grad_ratio is not None and not VANISHING <= r.grad_ratio <= EXPLODING]
        over = [r for r in group if r.gap_best is not None and r.gap_best > OVERFIT_GAP]
        redundant = [r for r in group if r.redundant_blocks]
        grads = "none" if not bad else (
            f"{len(bad)} (depth {_depths(bad)}, ratio "
            f"{min(r.grad_ratio for r in bad):.1e} to {max(r.grad_ratio for r in bad):.1e})")
        lines.append(f"`{block}` ({plural(len(group), 'trial')}, depth {_depths(group)}): vanishing or exploding "
                     f"gradients in {grads}; overfitting (gap above {100 * OVERFIT_GAP:.1f} points at the best "
                     f"epoch) in {len(over)}; redundant blocks in {len(redundant)}.")
    return lines


def _verdict_cell(lines: list[str], limit: int = VERDICT_CHARS) -> str:
    """A trial's verdict for the table: whole findings while they fit in ``limit`` characters (the first always),
    then how many more there are; never a finding cut short."""
    shown: list[str] = []
    for line in lines:
        if shown and len("; ".join([*shown, line])) > limit:
            break
        shown.append(line)
    more = len(lines) - len(shown)
    return "; ".join(shown) + (f" (+{plural(more, 'more finding')}: nasprune diagnose)" if more else "") or "-"


def _diagnostics_table(records: list[TrialRecord], rows: int = 30) -> Table:
    done = sorted(_diagnosed(records), key=lambda r: (r.depth, r.number))[:rows]
    return Table(["trial", "depth", "block", "norm", "val acc", "gap at best epoch (points)", "first/last grad",
                  "redundant blocks", "verdict"],
                 [[str(r.number), str(r.depth), r.block or "-", r.norm or "-", _f(r.val_acc),
                   _f(None if r.gap_best is None else 100 * r.gap_best, "{:+.1f}"), _f(r.grad_ratio, "{:.2g}"),
                   "-" if r.blocks_total is None else f"{r.redundant_blocks}/{r.blocks_total}",
                   _verdict_cell(r.diagnosis)] for r in done])


def _pruning(study_dir: Path, out: Path) -> list[Section]:
    sections = []
    for path in sorted((study_dir / "pruned").glob("*/summary.json")):
        summary = json.loads(path.read_text())
        rows = comparison_rows(summary["before"], summary["after"])
        image = plots.channels_plot(summary, out / f"channels-{path.parent.name}.png")
        sections.append(Section(
            f"Pruned: {path.parent.name}",
            [f"{summary['source']['label']} ({summary['source']['arch']})"
             + (f", pruned to {summary['arch']}" if summary.get("arch") else "")
             + f", {summary['target']['description']} by `{summary['importance']}` importance; validation accuracy "
             f"right after pruning "
             f"{summary['pruned_val_accuracy']:.4f}, then {summary['finetune']['epochs']} fine-tuning epochs."
             + (f" Note: {summary['note']}." if summary.get("note") else "")],
            [Table(["measure", "before", "after", "change"], [[r["measure"], r["before"], r["after"], r["change"]]
                                                               for r in rows])],
            [image] if image else [], level=3))
    return sections


def report(config: ReportConfig) -> ReportResult:
    """Write the report of a study to ``RESULTS_DIR/STUDY/report/``: ``report.md``, ``report.html`` (images
    embedded), the PNG plots and ``trials.csv`` (one row per trial, with every spec field)."""
    started = time.perf_counter()
    study, backend = open_existing(config.study, config.storage, config.results_dir)
    study_dir = config.results_dir / config.study
    out = Path(config.out) if config.out else study_dir / "report"
    out.mkdir(parents=True, exist_ok=True)
    companion = pruned_study(study, backend)  # the pruned models made from this study's trials
    records = collect(study) + (collect(companion) if companion else [])
    header, rows = csv_rows(records)

    def write_csv(tmp: Path) -> None:
        with tmp.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=header)
            writer.writeheader()
            writer.writerows(rows)

    atomic_write(out / "trials.csv", write_csv)
    figure = {name: draw for name, draw in (
        ("pareto-mflops", plots.pareto_plot(records, "mflops", out / "pareto-mflops.png")),
        ("pareto-params", plots.pareto_plot(records, "params", out / "pareto-params.png")),
        ("history", plots.history_plot(records, out / "history.png")),
        ("importance", plots.importance_plot(study, out / "importance.png")),
        ("depth", plots.depth_plot(records, out / "depth.png")),
        ("diagnostics", plots.diagnostics_plot(records, out / "diagnostics.png", (VANISHING, EXPLODING))),
        ("repeats", plots.repeats_plot(records, out / "repeats.png")),
        ("width", plots.width_plot(records, out / "width.png")),
        ("curves", plots.curves_plot(records, config.top, out / "curves.png")))}
    have = lambda *names: [figure[n] for n in names if figure[n]]  # noqa: E731
    sections = [
        _overview(study, records), _winners(study, config, records),
        Section("Accuracy against cost", ["Every completed trial; the black line is the Pareto front, labelled "
                                          "with trial numbers."], images=have("pareto-mflops", "pareto-params")),
        Section("How the search went", ["Validation accuracy in the order the trials ran, and which searched "
                                        "parameters mattered most for it."], images=have("history", "importance")),
        Section("Does depth help here?", _depth_findings(records) + [
            "Left: accuracy against depth. Right: the gap between training and validation accuracy; a gap that "
            "grows with depth points at overfitting, low accuracy at any gap at optimization trouble (plain "
            "networks without normalization are the classic case)."] + _diagnostic_findings(records) + [
            "The diagnostics of each trial against depth: the gap at its best epoch (overfitting); the ratio of "
            "the gradient norm of the first weighted layer to the last, recorded at a few training steps (the "
            f"green band, {VANISHING:g} to {EXPLODING:g}, is healthy; below it gradients vanish, above it they "
            "explode); the share of blocks whose output ~ input on a probe batch (linear CKA, Kornblith et al. "
            "2019, with a bypass test), which add depth without adding function. `nasprune diagnose --study "
            "NAME --trial N` explains one trial. Then accuracy against the blocks per stage and against width."],
            tables=[_diagnostics_table(records)] if _diagnosed(records) else [],
            images=have("depth", "diagnostics", "repeats", "width")),
        Section("Training curves", [], images=have("curves")),
    ]
    pruned = _pruning(study_dir, out)
    if pruned:
        sections.append(Section("Pruning", ["Models pruned with `nasprune prune` from this study's trials."]))
        sections += pruned
    sections.append(Section("Files", ["`trials.csv`: one row per trial with its outcome, costs, the full spec "
                                      "(`spec.*`) and the sampled parameters (`param.*`)."]))
    title = f"nasprune report: {study.study_name}"
    atomic_write(out / "report.md", lambda tmp: tmp.write_text(to_markdown(title, sections)))
    atomic_write(out / "report.html", lambda tmp: tmp.write_text(to_html(title, sections)))
    images = [img for s in sections for img in s.images]
    return ReportResult(out, [out / "report.md", out / "report.html", out / "trials.csv", *images],
                        time.perf_counter() - started)
