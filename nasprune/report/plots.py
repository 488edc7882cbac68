"""The report's figures, drawn with matplotlib's Agg backend (no display needed).

Every figure uses the same encoding: colour = block type (plain, basic, bottleneck, mbconv), marker = norm.
Each function takes the collected records, writes one PNG and returns its path, or None when the study holds
too little to draw it (say, no completed trial with a history).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless: never look for a display
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import optuna  # noqa: E402

from .._optuna import quiet_optuna  # noqa: E402
from .collect import TrialRecord, front_of  # noqa: E402

__all__ = ["pareto_plot", "history_plot", "importance_plot", "depth_plot", "diagnostics_plot", "repeats_plot",
           "width_plot", "curves_plot", "channels_plot"]

BLOCK_COLORS = {"plain": "tab:red", "basic": "tab:blue", "bottleneck": "tab:green", "mbconv": "tab:purple"}
NORM_MARKERS = {"batch": "o", "group": "s", "layer": "^", "instance": "D", "none": "X"}
COST_LABELS = {"mflops": "MFLOPs (multiply-adds per image)", "params": "parameters"}


def _completed(records: list[TrialRecord]) -> list[TrialRecord]:
    return [r for r in records if r.state == "complete" and r.searched and r.val_acc is not None]


def _save(fig: plt.Figure, path: Path) -> Path:
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def _legends(ax: plt.Axes, records: list[TrialRecord]) -> None:
    """Two legends outside the axes, right of them (never over a point): block colours, norm markers."""
    blocks = sorted({r.block for r in records if r.block})
    norms = sorted({r.norm for r in records if r.norm})
    handles = [plt.Line2D([], [], color=BLOCK_COLORS.get(b, "grey"), marker="o", ls="", label=b) for b in blocks]
    first = ax.legend(handles=handles, title="block", loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8,
                      title_fontsize=8)
    ax.add_artist(first)
    handles = [plt.Line2D([], [], color="black", marker=NORM_MARKERS.get(n, "o"), ls="", label=n, fillstyle="none")
               for n in norms]
    ax.legend(handles=handles, title="norm", loc="upper left", bbox_to_anchor=(1.01, 0.45), fontsize=8,
              title_fontsize=8)


def _log_x(ax: plt.Axes, values: list[float]) -> bool:
    """A log x axis with plain-number ticks when the values span more than 20x."""
    positive = [v for v in values if v and v > 0]
    if not positive or max(positive) / min(positive) <= 20:
        return False
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(matplotlib.ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    return True


def _scatter(ax: plt.Axes, records: list[TrialRecord], x: str, y: str, y_scale: float = 1.0) -> None:
    """One point per record; ``y_scale`` converts the y values (100: an accuracy gap in points)."""
    for r in records:
        xv, yv = getattr(r, x), getattr(r, y)
        if xv is None or yv is None:
            continue
        ax.scatter(xv, yv * y_scale, color=BLOCK_COLORS.get(r.block, "grey"), marker=NORM_MARKERS.get(r.norm, "o"),
                   s=36, alpha=0.8, edgecolors="none" if NORM_MARKERS.get(r.norm) != "X" else None)


def pareto_plot(records: list[TrialRecord], cost: str, path: Path) -> Path | None:
    """Validation accuracy against ``cost`` (mflops or params): every completed trial, the Pareto front as a
    line with its trials labelled, baselines as stars, pruned models as triangles linked to their source."""
    done = _completed(records)
    if not done:
        return None
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    _scatter(ax, done, cost, "val_acc")
    front = front_of(done, cost)
    ax.step([getattr(r, cost) for r in front], [r.val_acc for r in front], where="post", color="black", lw=1,
            label="Pareto front")
    for r in front:
        ax.annotate(str(r.number), (getattr(r, cost), r.val_acc), textcoords="offset points", xytext=(4, -10), fontsize=8)
    for r in done:
        if r.baseline:
            ax.scatter(getattr(r, cost), r.val_acc, marker="*", s=220, color="gold", edgecolors="black", zorder=3)
            ax.annotate(r.baseline, (getattr(r, cost), r.val_acc), textcoords="offset points", xytext=(6, 4), fontsize=8)
    by_number = {r.number: r for r in records if r.searched}  # a pruned model's source is a search trial
    for r in records:
        source = by_number.get(r.pruned_from) if r.pruned_from is not None else None
        if source is None or r.val_acc is None or getattr(r, cost) is None or getattr(source, cost) is None:
            continue
        ax.annotate("", (getattr(r, cost), r.val_acc), (getattr(source, cost), source.val_acc),
                    arrowprops={"arrowstyle": "->", "color": "tab:orange", "lw": 1})
        ax.scatter(getattr(r, cost), r.val_acc, marker="v", s=70, color="tab:orange", edgecolors="black", zorder=3)
    log = _log_x(ax, [getattr(r, cost) for r in done])
    ax.set_xlabel(COST_LABELS[cost] + (" (log scale)" if log else ""))
    ax.set_ylabel("validation accuracy")
    ax.set_title(f"Accuracy against {'MFLOPs' if cost == 'mflops' else 'parameters'}: stars are baselines, "
                 f"triangles pruned models", fontsize=10)
    _legends(ax, done)
    return _save(fig, path)


def history_plot(records: list[TrialRecord], path: Path) -> Path | None:
    """Validation accuracy of every trial in the order they ran, and the best so far."""
    searched = [r for r in records if r.searched and r.val_acc is not None]
    if not searched:
        return None
    fig, ax = plt.subplots(figsize=(7.5, 4))
    complete = [r for r in searched if r.state == "complete"]
    stopped = [r for r in searched if r.state != "complete"]
    ax.scatter([r.number for r in complete], [r.val_acc for r in complete], s=20, label="completed")
    ax.scatter([r.number for r in stopped], [r.val_acc for r in stopped], s=20, marker="x", color="grey",
               label="stopped early (last epoch's accuracy)")
    best, xs, ys = -1.0, [], []
    for r in sorted(complete, key=lambda r: r.number):
        best = max(best, r.val_acc)
        xs.append(r.number)
        ys.append(best)
    ax.step(xs, ys, where="post", color="black", lw=1, label="best so far")
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))  # trials are numbered, never 2.5
    ax.set_xlabel("trial number")
    ax.set_ylabel("validation accuracy")
    ax.set_title("Optimization history", fontsize=10)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _save(fig, path)


def importance_plot(study: optuna.Study, path: Path) -> Path | None:
    """Which searched parameters mattered for validation accuracy (Optuna's default importance evaluator,
    PED-ANOVA, which handles parameters that exist only in some trials)."""
    trials = [t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
              if "pruned_from" not in t.user_attrs and t.params]
    if len(trials) < 3:
        return None
    with quiet_optuna():  # a throwaway in-memory study: the search's own trials only (pruned models have no parameters)
        view = optuna.create_study(directions=study.directions)
        view.add_trials(trials)
    try:
        with quiet_optuna(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            importances = optuna.importance.get_param_importances(view, target=lambda t: t.values[0])
    except (RuntimeError, ValueError):  # too few distinct trials for the evaluator
        return None
    if not importances:
        return None
    names = list(importances)[::-1]
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(names) + 1.2))
    ax.barh(names, [importances[n] for n in names], color="tab:blue")
    ax.set_xlabel("importance for validation accuracy (share)")
    ax.set_title("Hyper-parameter importance (PED-ANOVA)", fontsize=10)
    return _save(fig, path)


def depth_plot(records: list[TrialRecord], path: Path) -> Path | None:
    """Does depth help here? Accuracy and the train-validation gap against depth, by block and norm."""
    done = [r for r in _completed(records) if r.depth is not None]
    if not done:
        return None
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.3))
    _scatter(left, done, "depth", "val_acc")
    for ax in (left, right):
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    left.set_xlabel("depth (weighted layers)")
    left.set_ylabel("validation accuracy")
    left.set_title("Accuracy against depth", fontsize=10)
    _scatter(right, done, "depth", "gap", 100)
    right.axhline(0, color="grey", lw=0.8)
    right.set_xlabel("depth (weighted layers)")
    right.set_ylabel("train - validation accuracy, last epoch (points)")
    right.set_title("Generalization gap against depth (overfitting shows above 0)", fontsize=10)
    _legends(right, done)  # right of the last panel: between the panels it would cover the second one
    return _save(fig, path)


def diagnostics_plot(records: list[TrialRecord], path: Path, band: tuple[float, float]) -> Path | None:
    """Why deeper did better or worse: the generalization gap at the best epoch, the first/last gradient
    ratio (log scale; ``band`` is the healthy range, outside it gradients vanish or explode) and the share of
    redundant blocks, each against depth, by block and norm."""
    done = [r for r in _completed(records) if r.depth is not None]
    if not any(r.grad_ratio is not None or r.redundant_share is not None for r in done):
        return None  # a study recorded before the diagnostics existed
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.3))
    panels = (("gap_best", 100, "train - val accuracy at the best epoch (points)",
               "Overfitting: gap at the best epoch"),
              ("grad_ratio", 1, "first / last gradient norm (log)", "Gradients: first / last layer"),
              ("redundant_share", 1, "share of blocks with output ~ input", "Redundancy: blocks that add nothing"))
    for ax, (key, scale, label, title) in zip(axes, panels, strict=True):
        _scatter(ax, done, "depth", key, scale)
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.set_xlabel("depth (weighted layers)")
        ax.set_ylabel(label)
        ax.set_title(title, fontsize=10)
    axes[0].axhline(0, color="grey", lw=0.8)
    if any(r.grad_ratio for r in done):
        axes[1].set_yscale("log")
        axes[1].axhspan(*band, color="tab:green", alpha=0.08, label="healthy range")
        axes[1].legend(fontsize=7, loc="lower left")
    axes[2].set_ylim(-0.05, 1.05)
    _legends(axes[2], done)
    return _save(fig, path)


def repeats_plot(records: list[TrialRecord], path: Path) -> Path | None:
    """Accuracy against the number of blocks in each stage, one panel per stage."""
    done = [r for r in _completed(records) if r.repeats]
    stages = max((len(r.repeats) for r in done), default=0)
    if not stages:
        return None
    fig, axes = plt.subplots(1, stages, figsize=(3.6 * stages + 0.8, 3.8), sharey=True, squeeze=False)
    for i, ax in enumerate(axes[0]):
        members = [r for r in done if len(r.repeats) > i]
        for r in members:
            ax.scatter(r.repeats[i], r.val_acc, color=BLOCK_COLORS.get(r.block, "grey"),
                       marker=NORM_MARKERS.get(r.norm, "o"), s=30, alpha=0.8)
        ax.set_xlabel(f"blocks in stage {i + 1}")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.set_title(f"stage {i + 1} ({len(members)} trials)", fontsize=10)
    axes[0][0].set_ylabel("validation accuracy")
    _legends(axes[0][-1], done)
    return _save(fig, path)


def width_plot(records: list[TrialRecord], path: Path) -> Path | None:
    """Accuracy against the mean width (output channels) of the stages."""
    done = [r for r in _completed(records) if r.widths]
    if not done:
        return None
    fig, ax = plt.subplots(figsize=(7.5, 4.3))
    for r in done:
        r_width = sum(r.widths) / len(r.widths)
        ax.scatter(r_width, r.val_acc, color=BLOCK_COLORS.get(r.block, "grey"), marker=NORM_MARKERS.get(r.norm, "o"),
                   s=36, alpha=0.8)
    ax.set_xlabel("mean stage width (output channels)")
    ax.set_ylabel("validation accuracy")
    ax.set_title("Accuracy against width", fontsize=10)
    _legends(ax, done)
    return _save(fig, path)


def curves_plot(records: list[TrialRecord], top: int, path: Path) -> Path | None:
    """Train (dashed) and validation (solid) accuracy per epoch of the ``top`` most accurate trials."""
    done = sorted((r for r in _completed(records) if r.history), key=lambda r: -r.val_acc)[:top]
    if not done:
        return None
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    colors = plt.get_cmap("tab10")
    for i, r in enumerate(done):
        epochs = [h["epoch"] for h in r.history]
        ax.plot(epochs, [h["val_acc"] for h in r.history], color=colors(i % 10), label=f"trial {r.number}")
        ax.plot(epochs, [h["train_acc"] for h in r.history], color=colors(i % 10), ls="--", alpha=0.7)
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy (solid: validation, dashed: train)")
    ax.set_title(f"Training curves of the {len(done)} most accurate trials", fontsize=10)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _save(fig, path)


def channels_plot(summary: dict[str, Any], path: Path) -> Path | None:
    """Channels of every conv and linear layer before and after pruning."""
    layers = [c for c in summary.get("channels", []) if c["layer"] != "head.fc"]
    if not layers:
        return None
    fig, ax = plt.subplots(figsize=(max(6.0, 0.28 * len(layers) + 2), 4.2))
    xs = range(len(layers))
    ax.bar([x - 0.2 for x in xs], [c["before"] for c in layers], width=0.4, label="before", color="tab:grey")
    ax.bar([x + 0.2 for x in xs], [c["after"] for c in layers], width=0.4, label="after", color="tab:orange")
    ax.set_xticks(list(xs), [c["layer"].removeprefix("stages.").replace(".blocks.", ".") for c in layers],
                  rotation=90, fontsize=7)
    ax.set_ylabel("output channels")
    ax.set_title(f"Channels per layer, {summary['source']['label']} pruned ({summary['importance']})", fontsize=10)
    ax.legend(fontsize=8)
    return _save(fig, path)
