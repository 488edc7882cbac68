"""The GPU paths around the step, on a CPU: a worker's device, a worker that lost its GPU, the test split kept off
the device, latency under the runtime's autocast and away from other workers, and benchmarks/gpu_check.py."""

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import optuna
import pytest
import torch
from cuda_fakes import FakeCuda
from optuna.trial import TrialState

from nasprune import ArchSpec, SearchConfig, StageSpec, build_model, load_space, resolve_runtime
from nasprune.data.placement import place_data
from nasprune.events import Note
from nasprune.measure import measure_latency
from nasprune.record import finished_count, outcome_of, reason_of, winner_row
from nasprune.search import objective as objective_module
from nasprune.search import run as run_module
from nasprune.search import session as session_module
from nasprune.search import workers
from nasprune.steps import CudaContextLost

ROOT = Path(__file__).resolve().parents[1]


def test_a_worker_sees_exactly_its_gpu_and_a_share_of_its_memory(monkeypatch):
    calls = {}
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,5")  # --gpus counts the GPUs the user left visible
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: False)
    monkeypatch.setattr(torch.cuda, "set_device", lambda d: calls.setdefault("set_device", d))
    monkeypatch.setattr(torch.cuda, "set_per_process_memory_fraction",
                        lambda share, device=None: calls.setdefault("memory", (share, device)))

    def setup(config, worker_index, clock):
        calls.update(visible=os.environ["CUDA_VISIBLE_DEVICES"], device=config.device)
        return "session"

    monkeypatch.setattr(workers, "setup", setup)
    monkeypatch.setattr(workers, "optimize", lambda s, on_event, workers_per_device: None)
    workers.worker_main(SearchConfig(trials=1), "cuda:1", index=0, per_device=2)
    assert calls == {"visible": "5", "device": "cuda:0", "set_device": 0,
                     "memory": (pytest.approx(workers.GPU_MEMORY_SHARE / 2), 0)}


def test_a_worker_that_lost_its_gpu_is_reported_and_does_not_fail_the_search(monkeypatch):
    class Process:  # worker 0 exits as one whose CUDA context broke, worker 1 finishes
        def __init__(self, target, args, name):
            self.index, self.exitcode = args[2], None

        def start(self):
            self.exitcode = CudaContextLost.exit_code if self.index == 0 else 0

        def is_alive(self):
            return False

    monkeypatch.setattr(workers.multiprocessing, "get_context", lambda kind: SimpleNamespace(Process=Process))
    study = optuna.create_study()
    for value in (0.5, 0.6):  # the budget, finished by the survivor (and the lost worker's trial, run again)
        study.add_trial(optuna.trial.create_trial(state=TrialState.COMPLETE, value=value))
    events = []
    workers.run_workers(SearchConfig(trials=2), ["cuda:0", "cuda:0"], study, events.append)
    notes = [e.text for e in events if isinstance(e, Note)]
    assert any(n.startswith("worker 0 on cuda:0 stopped: a CUDA error broke its GPU context") for n in notes), notes


def test_a_sticky_cuda_error_ends_the_worker_and_its_trial_runs_again(monkeypatch, tmp_path, tiny_space, digits):
    def illegal_access(*args, **kwargs):
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    monkeypatch.setattr(objective_module, "train", illegal_access)
    monkeypatch.setattr(objective_module, "cuda_context_lost", lambda device: "CUDA error: an illegal memory access")
    study = optuna.create_study(directions=["maximize", "minimize"])
    objective = objective_module.Objective(load_space(tiny_space), digits, resolve_runtime("cpu"), tmp_path, 1, 0,
                                           "accuracy,mflops", [], latency=False, artifacts=False)
    with pytest.raises(CudaContextLost, match="trial 0: .*illegal memory access.*; trial 1 runs it again"):
        study.optimize(objective, n_trials=1, catch=(objective_module.CandidateError,))
    lost, retry = study.trials
    assert lost.state == TrialState.FAIL and outcome_of(lost) == "worker died"
    assert reason_of(lost).startswith("its worker lost its GPU: RuntimeError: CUDA error: an illegal memory access")
    assert retry.state == TrialState.WAITING and retry.params == lost.params and retry.user_attrs["retry_of"] == 0
    assert finished_count(study) == 0  # a lost GPU is not the candidate's failure: it does not use the budget


def test_a_search_process_leaves_the_test_split_in_host_memory(monkeypatch, tmp_path, tiny_space, digits):
    placed = place_data(digits, torch.device("meta"), "device", test=False)  # meta: a device that is not the CPU
    assert placed.train.x.device.type == placed.val.y.device.type == "meta" and not placed.streamed
    assert placed.test.x.device.type == placed.test.y.device.type == "cpu"
    assert place_data(digits, torch.device("meta"), "device").test.x.device.type == "meta"

    s = session_module.setup(SearchConfig(space=tiny_space, trials=1, results_dir=tmp_path / "results"))
    asked = []

    class Placed(Exception):
        pass

    def place(*args, **kwargs):
        asked.append(kwargs)
        raise Placed

    monkeypatch.setattr(session_module, "place_data", place)
    with pytest.raises(Placed):
        session_module.optimize(s)
    assert asked == [{"test": False}]


def test_latency_runs_under_the_runtime_autocast():
    model = build_model(ArchSpec(1, 10, (StageSpec(1, 8, 1),), stem_channels=8))
    dtypes = []
    model.stem.register_forward_hook(lambda module, inputs, output: dtypes.append(output.dtype))
    bf16 = measure_latency(model, (1, 8, 8), autocast=torch.bfloat16, repeats=5, max_seconds=0.05)
    assert bf16.precision == "bf16" and set(dtypes) == {torch.bfloat16} and not bf16.shared
    dtypes.clear()
    assert measure_latency(model, (1, 8, 8), repeats=5, max_seconds=0.05).precision == "fp32"
    assert set(dtypes) == {torch.float32}


def test_latency_on_a_gpu_synchronizes_that_gpu(monkeypatch):
    cuda = FakeCuda(model_device=1).install(monkeypatch)

    class OnCuda1(torch.nn.Module):  # a model that says it lives on cuda:1
        def parameters(self, recurse=True):
            yield SimpleNamespace(device=torch.device("cuda", 1), dtype=torch.float32)

        def forward(self, x):
            return x.sum()

    with cuda.tensors_on_cpu():
        latency = measure_latency(OnCuda1(), (1, 4, 4), repeats=5, max_seconds=0.05)
    assert latency.device == "cuda:1" and latency.threads is None
    assert cuda.synchronized and set(cuda.synchronized) == {1}, "timed the launches, not the GPU's work"


def test_trial_latency_on_a_shared_device_is_marked_and_the_winner_is_measured_again(tmp_path, tiny_space, digits):
    study = optuna.create_study(directions=["maximize", "minimize"])
    runtime = resolve_runtime("cpu")
    objective = objective_module.Objective(load_space(tiny_space), digits, runtime, tmp_path, 1, 0, "accuracy,mflops",
                                           [], artifacts=False, shared_device=True)
    study.optimize(objective, n_trials=1)
    (trial,) = study.trials
    assert trial.state == TrialState.COMPLETE
    assert trial.user_attrs["latency"]["shared"] and trial.user_attrs["latency"]["precision"] == "fp32"
    rows = [winner_row(trial)]
    session = SimpleNamespace(runtime=runtime, data=digits, config=SimpleNamespace(latency_threads=1))
    run_module._winners_latency(session, [trial], rows)
    (row,) = rows
    assert row["trial_latency_ms"] == trial.user_attrs["latency_ms"]
    assert row["latency"]["shared"] is False and row["latency_ms"] == row["latency"]["median_ms"]


def test_gpu_check_dry_run_walks_the_gpu_script_on_the_cpu(tmp_path):
    out = tmp_path / "gpu_check.json"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--dry-run", "--out", str(out)],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path,
                          env={**os.environ, "NASPRUNE_CACHE_DIR": str(tmp_path / "cache")})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert out.is_file() and "dry run" in proc.stdout
