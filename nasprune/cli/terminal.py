"""What the command line shows: a progress bar and lines while a stage runs (the ``on_event`` callback the CLI
passes to the library), and the text of each stage's result. Only ``nasprune.cli`` uses this module; the library
itself returns results and prints nothing."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState
from tqdm import tqdm

from ..events import Epoch, Note, TrialEnd
from ..record import (
    BASELINE_ATTR,
    RETRAIN_OF,
    RETRY_OF,
    counts_text,
    default_storage_path,
    found_text,
    reason_of,
    state_label,
)
from ..text import LATENCY_LABELS, comparison_rows, format_table, human_count

__all__ = ["Progress", "trial_line", "search_text", "prune_text", "eval_text", "studies_text", "export_text",
           "WINNER_COLUMNS"]

#: (key, heading) of the winners table
WINNER_COLUMNS = (("trial", "trial"), ("val_accuracy", "val_acc"), ("test_accuracy", "test_acc"),
                  ("mflops", "MFLOPs"), ("params_h", "params"), ("latency_ms", "latency_ms"),
                  ("depth", "depth"), ("origin", "from"), ("arch", "architecture"))


def trial_line(t: optuna.trial.FrozenTrial) -> str:
    """``trial   7  complete  val 0.9722  1.23 MFLOPs  20.1k params   4.1s  basic[2,1]x[32,64] ...``"""
    a = t.user_attrs
    history = a.get("history") or []
    acc = f"val {history[-1]['val_acc']:.4f}" if history else " " * 10
    mflops = f"{a['mflops']:8.3f} MFLOPs" if "mflops" in a else " " * 15
    params = f"{human_count(a['params']):>6} params" if "params" in a else " " * 13
    seconds = f"{a.get('wall_seconds', 0):6.1f}s"
    tail = a.get("arch", "") if t.state == TrialState.COMPLETE else reason_of(t)
    if t.state != TrialState.COMPLETE and a.get("arch"):
        tail = f"{a['arch']}  [{tail}]"
    if a.get("learned") is False:  # the search's diagnostics: validation accuracy at chance
        tail = f"{tail}  [did not learn: at chance]"
    if (a.get("latency") or {}).get("busy"):
        tail = f"{tail}  [latency measured on a busy machine]"
    if a.get(BASELINE_ATTR):
        tail = f"(baseline {a[BASELINE_ATTR]}) {tail}"
    if RETRAIN_OF in a:
        tail = f"(trial {a[RETRAIN_OF]} trained again, {len(history)} epochs) {tail}"
    if RETRY_OF in a:
        tail = f"(retry of trial {a[RETRY_OF]}) {tail}"
    return f"trial {t.number:4d}  {state_label(t):8s}  {acc}  {mflops}  {params}  {seconds}  {tail}".rstrip()


class Progress:
    """The CLI's ``on_event``: a progress bar over the trial budget (on terminals only) and the lines the library
    reports. ``total`` is the trial budget (None: a time budget), ``initial`` the trials finished before."""

    def __init__(self, total: int | None = None, initial: int = 0) -> None:
        self.bar = tqdm(total=total, initial=initial if total is None else min(initial, total), unit="trial",
                        dynamic_ncols=True, disable=None, file=sys.stderr, leave=False)

    def print(self, text: str = "") -> None:
        self.bar.write(text, file=sys.stdout)

    def __call__(self, event: Any) -> None:
        if isinstance(event, Note):
            self.print(event.text)
        elif isinstance(event, Epoch) and event.trial is not None:  # a search trial: in the bar
            s = event.stats
            self.bar.set_postfix_str(f"trial {event.trial} epoch {s.epoch}/{event.epochs} val {s.val_acc:.3f}")
        elif isinstance(event, Epoch):
            s = event.stats
            self.print(f"  {event.phase} epoch {s.epoch}/{event.epochs}: train {s.train_acc:.4f}, val {s.val_acc:.4f}")
        elif isinstance(event, TrialEnd):
            self.print(trial_line(event.trial))
            self.bar.n = event.finished if self.bar.total is None else min(event.finished, self.bar.total)
            self.bar.set_postfix_str("")
            self.bar.refresh()

    def close(self) -> None:
        self.bar.close()


def _winners_table(winners: list[dict[str, Any]]) -> str:
    rows = [{**r, "params_h": human_count(r["params"]), "val_accuracy": f"{r['val_accuracy']:.4f}",
             "test_accuracy": None if r["test_accuracy"] is None else f"{r['test_accuracy']:.4f}",
             "mflops": f"{r['mflops']:.3f}", "latency_ms": None if r["latency_ms"] is None else f"{r['latency_ms']:.3f}"}
            for r in winners]
    return format_table(rows, WINNER_COLUMNS)


def search_text(result: Any) -> str:
    """The end of ``nasprune search``: counts, the winners and where everything was saved (a SearchResult)."""
    lines = [f"\n{counts_text(result.counts)} trials in study {result.study_name!r}"]
    lines += [f"  warning: {line}" for line in result.problems]
    if not result.winners:
        lines.append("no trial completed yet, so there are no winners")
    else:
        names = result.metric_names
        title = (f"Pareto front (validation accuracy vs {names[1]})" if len(names) > 1
                 else "best trial (validation accuracy)")
        lines += [f"{title}; MFLOPs are multiply-adds (MACs) per image, counted by fvcore:",
                  _winners_table(result.winners)]
        found = found_text(result.winners) if len(names) > 1 else None
        lines += [f"  {found}"] if found else []
        best = result.best
        test = f"{best['test_accuracy']:.4f}" if best["test_accuracy"] is not None else "not measured"
        lines.append(f"\nbest trial {best['trial']}: test accuracy {test} (validation {best['val_accuracy']:.4f}), "
                     f"{best['mflops']} MFLOPs, {human_count(best['params'])} params")
    lines.append(f"saved: {result.summary_path} (winners), {result.study_dir / 'trials'} (weights), "
                 f"{result.storage} (study)")
    default_place = Path(result.storage) == default_storage_path(result.study_dir)
    where = "" if default_place and result.results_dir == Path("results") else (
        f" --results-dir {result.results_dir}" if default_place else f" --storage {result.storage}")
    lines.append(f"look:  nasprune report --study {result.study_name}{where}   (or: nasprune dashboard ...)")
    return "\n".join(lines)


def prune_text(result: Any) -> str:
    """The end of ``nasprune prune``: the before/after table, a note, where it was saved (a PruneResult)."""
    summary = result.summary
    columns = (("measure", ""), ("before", "before"), ("after", "after"), ("change", "change"))
    lines = ["", format_table(comparison_rows(summary["before"], summary["after"]), columns)]
    if summary.get("note"):
        lines.append(f"note: {summary['note']}")
    deployed, target = summary.get("deployed"), summary["target"]
    if deployed:
        asked = (f"; target {target['value']:.0%}: {'reached' if target['reached'] else 'NOT reached'}"
                 if target["kind"] == "latency" else "")
        chosen = " (the study's)" if deployed.get("from_study") else ""
        lines.append(f"latency in {deployed['where']}{chosen}: {deployed['before_ms']:.3f} -> {deployed['after_ms']:.3f} ms "
                     f"({deployed['kept']:.0%} of the source's{asked})")
        if deployed["error"] and target["kind"] != "latency":
            lines.append(f"  prune for speed there: --target-latency R --latency-runtime {deployed['runtime']}")
    study = summary["source"].get("study")
    lines.append(f"\nsaved: {result.out} (load with nasprune.load_model), {result.out / 'summary.md'}"
                 + (f"; recorded as trial {result.linked_trial} of study {study + '.pruned'!r}"
                    if result.linked_trial is not None else ""))
    return "\n".join(lines)


def eval_text(info: dict[str, Any]) -> str:
    """``nasprune eval``'s measurements of a saved model."""
    lines = [f"{info['model']}: {info['arch']}{' (pruned)' if info['pruned'] else ''}", f"  data {info['data']}"]
    if info.get("data_note"):
        lines.append(f"  NOTE: {info['data_note']}")
    lines += [f"  val accuracy {info['val_accuracy']:.4f}, test accuracy {info['test_accuracy']:.4f}",
              f"  {info['mflops']:.3f} MFLOPs (multiply-adds), {info['params']:,} params, depth {info['depth']}"]
    for key, ms in info["latency_ms"].items():
        detail = (info.get("latency") or {}).get(key) or {}
        threads = f", {detail['threads']} thread{'s' if detail['threads'] != 1 else ''}" if detail.get("threads") else ""
        spread = f" (p10 {detail['p10_ms']:.3f}, p90 {detail['p90_ms']:.3f} over {detail['repeats']} runs" if detail else ""
        busy = "; the machine was busy: the spread is wide" if detail.get("busy") else ""
        lines.append(f"  {LATENCY_LABELS[key].replace(' (ms)', threads + ' (ms)')}: {ms:.3f}{spread}{busy}"
                     + (")" if detail else ""))
    return "\n".join(lines)


def studies_text(rows: list[dict[str, Any]], where: Any) -> str:
    """``nasprune studies``: one line per study."""
    if not rows:
        return f"no studies in {where}"
    table = [{"study": r["study"] + (f" (pruned models of {r['pruned_models_of']})" if r["pruned_models_of"] else ""),
              "trials": counts_text(r["trials"]),
              "best": None if r["best_val_accuracy"] is None else f"{r['best_val_accuracy']:.4f}",
              "trial": r["best_trial"], "mflops": r["best_mflops"], "updated": r["updated"]} for r in rows]
    columns = (("study", "study"), ("trials", "trials"), ("best", "best val acc"), ("trial", "of trial"),
               ("mflops", "its MFLOPs"), ("updated", "last update"))
    return format_table(table, columns)


_RUNTIMES = {"pytorch": "PyTorch (eager)", "torchscript": "TorchScript", "onnxruntime": "ONNX Runtime"}


def _int8_lines(int8: dict[str, Any] | None) -> list[str]:
    """``nasprune export --int8``: both accuracies, and INT8's latency beside FP32's in ONNX Runtime."""
    if not int8:
        return []
    lines = ["", f"int8: {int8['file'] or 'not kept'} ({int8['format']}, {int8['weights']} weights, calibrated on "
                 f"{int8['calibration_images']} training images): accuracy FP32 {int8['fp32_accuracy']:.4f}, INT8 "
                 f"{int8['int8_accuracy']:.4f} ({-int8['drop_points']:+.2f} points; tolerance "
                 f"{int8['tolerance_points']:g}) on {int8['compared_on']}"]
    if int8.get("latency"):
        lines.append("  INT8 in ONNX Runtime: " + ", ".join(
            f"batch {b[1:]} {t['median_ms']:.3f} ms{' (busy)' if t['busy'] else ''} ({int8['speedup'][b]:.2f}x FP32's "
            f"speed)" for b, t in int8["latency"].items()))
    if int8.get("note"):
        lines.append(f"  note: {int8['note']}")
    return lines


def export_text(result: Any) -> str:
    """The end of ``nasprune export``: the checks per format, the latency table, where it was saved."""
    s = result.summary
    onnx = s["formats"].get("onnx")
    lines = ["", f"exported {s['source']['label']} ({s['source']['arch']}{', pruned' if s['source']['pruned'] else ''})"
             + (f"; ONNX opset {onnx['opset']} ({onnx['exporter']} exporter), dynamic batch size" if onnx else ""), ""]
    checks = [{"format": fmt, "files": ", ".join(s["files"][fmt]), "diff": f"{c['max_abs_diff']:.2g}",
               "agree": f"{c['top1_agreement']:.2%}"} for fmt, c in s["checks"].items()]
    lines.append(format_table(checks, (("format", "format"), ("files", "files"), ("diff", "max |logit diff|"),
                                       ("agree", "top-1 agreement"))))
    lines.append(f"compared with PyTorch on {s['compared_on']}; tolerance {s['tolerance']:g}")
    latency = s.get("latency")
    if latency:
        batches = [f"b{b}" for b in latency["batches"]]
        rows = [{"runtime": _RUNTIMES.get(name, name),
                 **{b: f"{by[b]['median_ms']:.3f}" + (" (busy)" if by[b]["busy"] else "") for b in batches}}
                for name, by in latency["ms"].items()]
        lines += ["", f"latency in ms (median; CPU, {latency['threads']} thread{'s' * (latency['threads'] != 1)}):",
                  format_table(rows, (("runtime", ""), *((b, f"batch {b[1:]}") for b in batches)))]
    lines += _int8_lines(s.get("int8"))
    lines.append(f"\nsaved: {result.out} ({', '.join(p.name for p in result.files)})"
                 + (f"; attached to {s['source']['label']} for the dashboard" if result.artifacts else ""))
    return "\n".join(lines)
