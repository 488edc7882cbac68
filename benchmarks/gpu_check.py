"""Everything about nasprune's GPU paths that only a GPU can show, in one command (issue 11).

On one H100/H200 it finishes in under 8 minutes, prints one table and writes it as JSON:
  1. capture succeeds for every block type in bf16, and 2 epochs captured end at the eager loss within noise,
     with ``torch.cuda.set_sync_debug_mode("error")`` on during the replays (and the eager steps): a host
     synchronization anywhere in the loop is an error;
  2. captured against eager images/s for ResNet-20 at batch 256 / 512 / 1024 (the reference to beat, measured
     earlier with hand-written code on an H100: 40.7k eager / 105.6k captured at batch 512);
  3. data streamed from host memory (DataLoader workers, pinned memory) with a captured step;
  4. 1, 2, 4 and 8 concurrent workers on one GPU (started as a search starts them: nasprune.search.workers.
     claim_device): aggregate images/s and peak memory per worker;
  5. time to first trial on the CIFAR-10 copy in ../shared/data (decode + cache, then a search to its first trial);
  6. ResNet-20 latency at batch 1 and 256, bf16 autocast (and fp32 beside it);
  7. a pruned network's fine-tuning is captured too (it once fell back to eager: torch-pruning's traced graph,
     alive after pruning, bound the parameters' gradient accumulators to the default stream).

    python benchmarks/gpu_check.py                   # on the GPU machine
    python benchmarks/gpu_check.py --dry-run         # on a CPU: the same code with tiny sizes (tests/test_gpu_paths.py)

Options: ``--data DIR`` (CIFAR-10 as an image folder; default: ../shared/data/cifar10-jpeg.tar.gz, extracted to a
temporary folder), ``--out FILE`` (default gpu_check.json). A dry run checks that the script runs, not the numbers:
on a CPU nothing is captured and the figures are a CPU's.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import datetime as _dt
import json
import multiprocessing
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from _env import machine  # benchmarks/_env.py: Python puts the script's folder on sys.path

from nasprune import ArchSpec, SearchConfig, StageSpec, TrainSpec, build_model, fixed_spec, load_space, search, train
from nasprune.data import DataOptions, DataSplits, load_data
from nasprune.data.placement import place_data
from nasprune.data.splits import Split
from nasprune.errors import first_line
from nasprune.events import Epoch, TrialEnd
from nasprune.measure import measure_latency
from nasprune.nn import BLOCKS
from nasprune.prune import Target, prune_channels
from nasprune.search.workers import claim_device
from nasprune.steps import WARMUP_STEPS
from nasprune.train import Runtime, resolve_runtime

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = {512: (40_700, 105_600)}  # ResNet-20 eager / captured images/s, hand-written code, one H100 (NOTES.md)
#: the sizes of a real run and of a dry run
SIZES = {
    "gpu": dict(images=50_000, val=1_000, shape=(3, 32, 32), batches=(256, 512, 1024), epochs=2,
                workers=(1, 2, 4, 8), worker_epochs=3, latency_batches=(1, 256), loader_workers=4),
    "dry": dict(images=256, val=64, shape=(3, 8, 8), batches=(16, 32), epochs=2, workers=(2,), worker_epochs=2,
                latency_batches=(1, 8), loader_workers=1),
}
TINY_SPACE = """\
name: tiny
architecture:
  stem: cifar
  stem_channels: 8
  block: basic
  stages: {count: 1, repeats: 1, channels: 8}
training: {epochs: 1, batch_size: 64, lr: 0.05}
"""


@dataclass
class Row:
    check: str
    setting: str
    result: str
    ok: bool | None = None  # None: nothing to judge (a dry run, or a figure without a target)
    values: dict | None = None


def synthetic(images: int, val: int, shape: tuple[int, int, int]) -> DataSplits:
    """Random uint8 images and labels in 10 classes: what throughput needs (nothing is learned from them)."""
    g = torch.Generator().manual_seed(0)
    split = lambda n: Split(torch.randint(0, 256, (n, *shape), dtype=torch.uint8, generator=g),  # noqa: E731
                            torch.randint(0, 10, (n,), generator=g))
    return DataSplits("synthetic", split(images), split(val), split(val), tuple(map(str, range(10))),
                      (0.5,) * shape[0], (0.25,) * shape[0], crop_padding=4 if shape[1] >= 32 else 1, flip=True,
                      source="synthetic")


def throughput_arch(dry: bool) -> tuple[ArchSpec, TrainSpec]:
    """ResNet-20 with its preset's recipe; a dry run's network is tiny."""
    if dry:
        return ArchSpec(3, 10, (StageSpec(1, 8, 1),), stem_channels=8), TrainSpec(batch_size=32, lr=0.05)
    spec = fixed_spec(load_space("resnet20"))
    return spec.arch, spec.train


def images_per_second(arch: ArchSpec, data: DataSplits, spec: TrainSpec, runtime: Runtime) -> tuple[float, str]:
    """Training images/s over epochs 2.. (epoch 1 holds cuDNN's benchmark runs, warm-up and capture), and the
    step's mode."""
    torch.manual_seed(0)
    result = train(build_model(arch), data, spec, runtime)
    timed = result.history[1:] or result.history
    per_epoch = (len(data.train) // spec.batch_size) * spec.batch_size
    return per_epoch * len(timed) / sum(h.seconds for h in timed), result.step_mode


class SyncErrorsDuringReplays:
    """``train(after_step=...)``: ``set_sync_debug_mode("error")`` from the step after the capture to each epoch's
    last step (the epoch's one read-back, its totals, follows it; so does validation)."""

    def __init__(self, steps_per_epoch: int) -> None:
        self.steps_per_epoch = steps_per_epoch

    def __call__(self, step: int, total: int) -> None:
        last = (step + 1) % self.steps_per_epoch == 0
        torch.cuda.set_sync_debug_mode(0 if last or step < WARMUP_STEPS else "error")


def check_blocks(device: str) -> list[Row]:
    """1: every block captured in bf16, 2 epochs on digits against eager, no host sync in either loop (a dry run
    trains in fp32: bf16 autocast on a CPU without bf16 units is 6-14x slower, benchmarks/RESULTS.md)."""
    cuda = device.startswith("cuda")
    precision, width = ("bf16", 16) if cuda else ("fp32", 8)
    data = place_data(load_data("digits"), torch.device(device), "device")
    spec = TrainSpec(epochs=2, batch_size=128, lr=0.05)
    rows = []
    for block in BLOCKS:
        arch = ArchSpec(1, 10, (StageSpec(1, width, 1), StageSpec(1, 2 * width, 2)), block=block, stem_channels=width,
                        expansion=BLOCKS.get(block).default_expansion or 1.0)
        runs, problem = {}, None
        for graph in (False, True):
            torch.manual_seed(0)
            guard = SyncErrorsDuringReplays(len(data.train) // spec.batch_size) if cuda else None
            try:
                runs[graph] = train(build_model(arch), data, spec, resolve_runtime(device, precision, cuda_graph=graph),
                                    seed=1, after_step=guard)
            except RuntimeError as exc:  # a host sync under sync-debug "error", or a failed capture
                problem = f"{'captured' if graph else 'eager'}: {str(exc).splitlines()[0]}"
            finally:
                if cuda:
                    torch.cuda.set_sync_debug_mode(0)
        if problem:
            rows.append(Row("capture in bf16", block, problem, False))
            continue
        eager, captured = runs[False].final.train_loss, runs[True].final.train_loss
        close = abs(captured - eager) <= 0.05 + 0.1 * eager
        mode = runs[True].step_mode
        rows.append(Row("capture in bf16", block, f"{mode}; train loss after 2 epochs: eager {eager:.4f}, "
                        f"captured {captured:.4f}", (close and mode == "cuda graph") if cuda else None,
                        {"eager_loss": eager, "captured_loss": captured, "mode": mode}))
    return rows


def check_throughput(device: str, sizes: dict, dry: bool) -> list[Row]:
    """2: captured against eager images/s at each batch size."""
    arch, recipe = throughput_arch(dry)
    data = place_data(synthetic(sizes["images"], sizes["val"], sizes["shape"]), torch.device(device), "device")
    rows = []
    for batch in sizes["batches"]:
        spec = recipe.replace(epochs=sizes["epochs"], batch_size=batch)
        rates = {graph: images_per_second(arch, data, spec, resolve_runtime(device, cuda_graph=graph))
                 for graph in (False, True)}
        (eager, _), (captured, mode) = rates[False], rates[True]
        ref = REFERENCE.get(batch)
        target = f"; reference {ref[0] / 1e3:.1f}k / {ref[1] / 1e3:.1f}k" if ref and not dry else ""
        rows.append(Row("ResNet-20 images/s" if not dry else "tiny net images/s", f"batch {batch}",
                        f"eager {eager:,.0f}, {mode} {captured:,.0f} ({captured / eager:.2f}x){target}",
                        (captured >= ref[1]) if ref and not dry else None,
                        {"eager": eager, "captured": captured, "mode": mode}))
    return rows


def check_streamed(device: str, sizes: dict, dry: bool) -> list[Row]:
    """3: the same training with the data streamed by DataLoader workers, step captured."""
    arch, recipe = throughput_arch(dry)
    data = place_data(synthetic(sizes["images"], sizes["val"], sizes["shape"]), torch.device(device), "stream")
    runtime = resolve_runtime(device, loader_workers=sizes["loader_workers"])
    spec = recipe.replace(epochs=sizes["epochs"], batch_size=sizes["batches"][len(sizes["batches"]) // 2])
    try:
        rate, mode = images_per_second(arch, data, spec, runtime)
    except RuntimeError as exc:
        return [Row("streamed data", f"batch {spec.batch_size}", str(exc).splitlines()[0], False)]
    ok = mode.startswith("cuda graph") if device.startswith("cuda") else None
    return [Row("streamed data", f"batch {spec.batch_size}, {sizes['loader_workers']} loader workers",
                f"{mode}: {rate:,.0f} images/s", ok, {"images_per_s": rate, "mode": mode})]


def _concurrent_worker(k: int, barrier, results, sizes: dict, dry: bool) -> None:
    """One of k workers on one GPU, started like a search's (claim_device), timed after all are ready."""
    device = claim_device("cpu" if dry else "cuda:0", k)
    arch, recipe = throughput_arch(dry)
    runtime = resolve_runtime(device)
    data = place_data(synthetic(sizes["images"], sizes["val"], sizes["shape"]), runtime.device, "device")
    spec = recipe.replace(epochs=sizes["worker_epochs"], batch_size=sizes["batches"][len(sizes["batches"]) // 2])
    barrier.wait(timeout=600)
    rate, mode = images_per_second(arch, data, spec, runtime)
    peak = torch.cuda.max_memory_allocated(runtime.device) / 2**30 if runtime.device.type == "cuda" else 0.0
    results.put({"images_per_s": rate, "mode": mode, "peak_gib": peak})


def check_workers(sizes: dict, dry: bool) -> list[Row]:
    """4: k workers at once on one device: aggregate of their steady rates, peak memory of each."""
    context = multiprocessing.get_context("spawn")
    rows = []
    for k in sizes["workers"]:
        barrier, results = context.Barrier(k), context.Queue()
        procs = [context.Process(target=_concurrent_worker, args=(k, barrier, results, sizes, dry)) for _ in range(k)]
        for p in procs:
            p.start()
        got = []
        with contextlib.suppress(Exception):
            for _ in range(k):
                got.append(results.get(timeout=300))
        for p in procs:
            p.join(timeout=60)
        if len(got) < k:
            rows.append(Row("concurrent workers", f"{k}", f"{k - len(got)} of {k} workers failed "
                            f"(exit codes {[p.exitcode for p in procs]})", False))
            continue
        total = sum(r["images_per_s"] for r in got)
        peak = max(r["peak_gib"] for r in got)
        rows.append(Row("concurrent workers", f"{k} on one {'CPU' if dry else 'GPU'}",
                        f"{total:,.0f} images/s together ({got[0]['mode']}); peak memory per worker {peak:.2f} GiB",
                        None, {"images_per_s": total, "peak_gib": peak, "workers": got}))
    return rows


def _cifar_folder(data: Path | None, scratch: Path) -> Path | None:
    """CIFAR-10 as an image folder: ``--data``, else the copy in ../shared/data extracted into ``scratch``."""
    if data is not None:
        return data
    for tarball in (ROOT.parent / "shared" / "data" / "cifar10-jpeg.tar.gz", ROOT / "shared" / "data" / "cifar10-jpeg.tar.gz"):
        if tarball.is_file():
            target = scratch / "cifar10"
            target.mkdir()
            subprocess.run(["tar", "-xzf", str(tarball), "-C", str(target)], check=True)
            tops = [p for p in target.iterdir() if p.is_dir()]  # the archive may hold one top folder
            return tops[0] if len(tops) == 1 and not (target / "train").is_dir() else target
    return None


def check_first_trial(data: Path | None, dry: bool, scratch: Path) -> list[Row]:
    """5: decode into a fresh cache, then a search (as a user starts it) until its first trial has ended."""
    if dry:
        source, space, options = "digits", scratch / "tiny.yaml", DataOptions()
        space.write_text(TINY_SPACE)
    else:
        folder = _cifar_folder(data, scratch)
        if folder is None:
            return [Row("time to first trial", "CIFAR-10 copy", "not found (give --data DIR)", None)]
        source, space, options = f"imagefolder:{folder}", "default", DataOptions()
    os.environ["NASPRUNE_CACHE_DIR"] = str(scratch / "cache")
    t0 = time.perf_counter()
    load_data(source, options)
    decode = time.perf_counter() - t0
    marks: dict[str, float] = {}

    def on_event(event) -> None:
        if isinstance(event, Epoch):
            marks.setdefault("first epoch", time.perf_counter() - t0)
        elif isinstance(event, TrialEnd):
            marks.setdefault("first trial", time.perf_counter() - t0)

    t0 = time.perf_counter()
    search(SearchConfig(space=space, data=source, data_options=options, trials=1, epochs=1,
                        results_dir=scratch / "results", study="gpu-check", latency=not dry), on_event=on_event)
    total = time.perf_counter() - t0
    first = marks.get("first trial", total)
    return [Row("time to first trial", source.split(":")[0],
                f"decode + cache {decode:.1f} s; then a search's first trial ended after {first:.1f} s "
                f"(its first epoch after {marks.get('first epoch', float('nan')):.1f} s, whole search {total:.1f} s)",
                None, {"decode_s": decode, **{k.replace(' ', '_') + '_s': v for k, v in marks.items()},
                       "search_s": total})]


def check_latency(device: str, sizes: dict, dry: bool) -> list[Row]:
    """6: forward latency under the autocast a trained network is deployed with (and fp32)."""
    arch, _ = throughput_arch(dry)
    model = build_model(arch).to(device, memory_format=torch.channels_last if device.startswith("cuda") else
                                 torch.contiguous_format)
    rows = []
    for batch in sizes["latency_batches"]:
        bf16 = measure_latency(model, sizes["shape"], batch, autocast=torch.bfloat16)
        fp32 = measure_latency(model, sizes["shape"], batch)
        rows.append(Row("latency", f"batch {batch}", f"bf16 {bf16.median_ms:.3f} ms (p10-p90 {bf16.p10_ms:.3f}-"
                        f"{bf16.p90_ms:.3f}{', busy' if bf16.busy else ''}); fp32 {fp32.median_ms:.3f} ms", None,
                        {"bf16": bf16.to_dict(), "fp32": fp32.to_dict()}))
    return rows


def check_pruned_capture(device: str, sizes: dict, dry: bool) -> list[Row]:
    """7: train, prune to half the MACs as ``nasprune prune`` does, fine-tune: the fine-tuning's step mode."""
    arch, recipe = throughput_arch(dry)
    runtime = resolve_runtime(device)
    data = place_data(synthetic(sizes["images"] // 5, sizes["val"], sizes["shape"]), runtime.device, "device")
    spec = recipe.replace(epochs=1, batch_size=sizes["batches"][0])
    torch.manual_seed(0)
    model = build_model(arch)
    before = train(model, data, spec, runtime).step_mode
    model = copy.deepcopy(model)  # fresh parameters, as `nasprune prune` loads them from the checkpoint
    model, _ = prune_channels(model, sizes["shape"], Target("mflops", 0.5), "l1",
                              round_to=8 if runtime.device.type == "cuda" else None,
                              after_increment=lambda m: m.to(memory_format=runtime.memory_format))
    after = train(model, data, spec, runtime, seed=1).step_mode
    ok = after == "cuda graph" if device.startswith("cuda") else None
    return [Row("capture after pruning", "l1, 50% MACs", f"training: {before}; fine-tuning the pruned copy: {after}",
                ok, {"before": before, "after": after})]


def checks(device: str, sizes: dict, dry: bool, data: Path | None, scratch: Path | None
           ) -> dict[str, Callable[[], list[Row]]]:
    """The checks by name, in the order they run (``--only`` names some of them)."""
    return {"capture": lambda: check_blocks(device),
            "throughput": lambda: check_throughput(device, sizes, dry),
            "streamed": lambda: check_streamed(device, sizes, dry),
            "latency": lambda: check_latency(device, sizes, dry),
            "workers": lambda: check_workers(sizes, dry),
            "first trial": lambda: check_first_trial(data, dry, scratch),
            "pruned": lambda: check_pruned_capture(device, sizes, dry)}


CHECKS = tuple(checks("cpu", SIZES["dry"], True, None, None))


def table(rows: list[Row]) -> str:
    width = [max(len(r.check) for r in rows), max(len(r.setting) for r in rows)]
    mark = {True: "ok", False: "FAIL", None: "-"}
    return "\n".join(f"{r.check:<{width[0]}}  {r.setting:<{width[1]}}  {mark[r.ok]:<4}  {r.result}" for r in rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="the same code on the CPU with tiny sizes")
    parser.add_argument("--data", type=Path, help="CIFAR-10 as an image folder (train/, test/)")
    parser.add_argument("--out", type=Path, default=Path("gpu_check.json"), help="where the JSON goes (rewritten "
                        "after every check)")
    parser.add_argument("--deadline", type=float, default=0.0, help="seconds after which the checks not yet started "
                        "are skipped (0: none)")
    parser.add_argument("--only", help=f"comma-separated checks to run: {', '.join(CHECKS)} (default: all)")
    args = parser.parse_args()
    only = args.only.split(",") if args.only else list(CHECKS)
    unknown = [name for name in only if name not in CHECKS]
    if unknown:
        parser.error(f"--only: no check named {', '.join(map(repr, unknown))}; valid: {', '.join(CHECKS)}")
    if not args.dry_run and not torch.cuda.is_available():
        parser.error("no GPU here; --dry-run walks the same code on the CPU")
    dry, device = args.dry_run, "cpu" if args.dry_run else "cuda"
    sizes = SIZES["dry" if dry else "gpu"]
    print(machine() + (" -- dry run: tiny sizes on the CPU, nothing is captured" if dry else ""), flush=True)
    start, rows = time.perf_counter(), []
    scratch = Path(tempfile.mkdtemp(prefix="nasprune-gpu-check-"))

    def write() -> float:  # after every check: a run stopped at its limit keeps what it measured
        seconds = time.perf_counter() - start
        args.out.write_text(json.dumps({
            "machine": machine(), "date": _dt.datetime.now().isoformat(timespec="seconds"), "dry_run": dry,
            "seconds": seconds, "rows": [asdict(r) for r in rows]}, indent=1, default=str))
        return seconds

    try:
        for name, check in checks(device, sizes, dry, args.data, scratch).items():
            if name not in only:
                continue
            t0 = time.perf_counter()
            if args.deadline and t0 - start > args.deadline:
                new = [Row(name, "-", f"not run: past --deadline {args.deadline:.0f} s", None)]
            else:
                try:
                    new = check()
                except Exception as exc:  # one broken check must not hide the others' figures
                    new = [Row(name, "-", first_line(exc), False)]
            rows += new
            print(f"[{name}: {time.perf_counter() - t0:.1f} s]\n{table(new)}", flush=True)
            write()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    seconds = write()
    print(f"\n{table(rows)}\n\n{len(rows)} rows in {seconds:.0f} s; failed: {sum(r.ok is False for r in rows)}")
    return 1 if any(r.ok is False for r in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
