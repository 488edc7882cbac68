"""Method (c) of benchmarks/search_quality.py: an architecture search as a user writes it by hand with Optuna.

Plain PyTorch and Optuna, no nasprune: the images read with PIL into memory, a torch DataLoader with per-image
random crop and flip, a VGG-like CNN family (conv-BN-ReLU blocks, max pooling between stages; depth, width,
dropout, optimizer and learning rate searched), a fixed number of epochs, TPE on validation accuracy alone,
and FLOPs counted afterwards with fvcore. The study stops starting trials at the budget; a trial still
training when the budget ends is dropped (a user would not wait for it either).

    python benchmarks/handwritten_search.py --data DIR --minutes 10 --seed 0 --out result.json

DIR holds train/<class>/ and test/<class>/ (see benchmarks/datasets.py). Validation: 20% of train/, stratified.
The result lists every finished trial's validation accuracy and MFLOPs, and the test accuracy of the trials
on the validation-accuracy vs MFLOPs Pareto front.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
import optuna
import torch
from PIL import Image
from sklearn.model_selection import train_test_split
from torch import nn
from torch.utils.data import DataLoader, Dataset

EPOCHS = 10


def read_folder(root: Path) -> tuple[np.ndarray, np.ndarray]:
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    images, labels = [], []
    for label, name in enumerate(classes):
        for f in sorted((root / name).iterdir()):
            images.append(np.asarray(Image.open(f)))
            labels.append(label)
    x = np.stack(images)
    x = x[:, None] if x.ndim == 3 else x.transpose(0, 3, 1, 2)  # (N, C, H, W)
    return x, np.array(labels)


class Images(Dataset):
    def __init__(self, x: np.ndarray, y: np.ndarray, mean: torch.Tensor, std: torch.Tensor, train: bool) -> None:
        self.x, self.y, self.mean, self.std, self.train = torch.from_numpy(x), torch.from_numpy(y), mean, std, train

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        img = (self.x[i].float() / 255 - self.mean) / self.std
        if self.train:  # random crop with 4-pixel padding and a horizontal flip, as torchvision's transforms
            pad = max(1, img.shape[-1] // 8)
            img = nn.functional.pad(img, (pad, pad, pad, pad))
            dy, dx = np.random.randint(0, 2 * pad + 1, size=2)
            img = img[:, dy:dy + self.x.shape[2], dx:dx + self.x.shape[3]]
            if np.random.rand() < 0.5:
                img = img.flip(-1)
        return img, self.y[i]


def make_model(trial: optuna.Trial, in_ch: int, classes: int) -> nn.Module:
    layers, ch = [], in_ch
    n_stages = trial.suggest_int("n_stages", 2, 4)
    width = trial.suggest_categorical("width", [16, 32, 64])
    per_stage = trial.suggest_int("convs_per_stage", 1, 3)
    for s in range(n_stages):
        out = width * 2 ** s
        for _ in range(per_stage):
            layers += [nn.Conv2d(ch, out, 3, padding=1, bias=False), nn.BatchNorm2d(out), nn.ReLU(inplace=True)]
            ch = out
        if s < n_stages - 1:
            layers.append(nn.MaxPool2d(2))
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(trial.suggest_float("dropout", 0.0, 0.5)),
               nn.Linear(ch, classes)]
    return nn.Sequential(*layers)


def accuracy(model: nn.Module, loader: DataLoader) -> float:
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for x, y in loader:
            correct += (model(x).argmax(1) == y).sum().item()
            total += len(y)
    return correct / total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    start = time.time()
    deadline = start + 60 * args.minutes
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    x, y = read_folder(args.data / "train")
    x_test, y_test = read_folder(args.data / "test")
    x_train, x_val, y_train, y_val = train_test_split(x, y, test_size=0.2, stratify=y, random_state=args.seed)
    mean = torch.tensor(x_train.mean(axis=(0, 2, 3)) / 255).view(-1, 1, 1).float()
    std = torch.tensor(x_train.std(axis=(0, 2, 3)) / 255).view(-1, 1, 1).float()
    train_loader = DataLoader(Images(x_train, y_train, mean, std, True), batch_size=128, shuffle=True, num_workers=0)
    val_loader = DataLoader(Images(x_val, y_val, mean, std, False), batch_size=256)
    test_loader = DataLoader(Images(x_test, y_test, mean, std, False), batch_size=256)
    in_ch, classes = x.shape[1], int(y.max()) + 1
    models: dict[int, nn.Module] = {}

    def objective(trial: optuna.Trial) -> float:
        model = make_model(trial, in_ch, classes)
        lr = trial.suggest_float("lr", 1e-4, 1e-1, log=True)
        if trial.suggest_categorical("optimizer", ["sgd", "adam"]) == "sgd":
            opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4)
        else:
            opt = torch.optim.Adam(model.parameters(), lr=lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, EPOCHS)
        loss_fn = nn.CrossEntropyLoss()
        for _ in range(EPOCHS):
            model.train()
            for xb, yb in train_loader:
                opt.zero_grad()
                loss_fn(model(xb), yb).backward()
                opt.step()
            sched.step()
            if time.time() > deadline:
                raise optuna.TrialPruned("time is up")
        models[trial.number] = model
        return accuracy(model, val_loader)

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=args.seed))
    study.optimize(objective, timeout=max(0.0, deadline - time.time()))

    from fvcore.nn import FlopCountAnalysis  # afterwards, as a user adds FLOPs to a finished study

    warnings.filterwarnings("ignore")
    rows = []
    for t in study.get_trials(states=(optuna.trial.TrialState.COMPLETE,)):
        flops = FlopCountAnalysis(models[t.number].eval(), torch.zeros(1, in_ch, *x.shape[2:]))
        flops.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        rows.append({"trial": t.number, "val_accuracy": t.value, "mflops": flops.total() / 1e6})
    front = [r for r in rows if not any(o["val_accuracy"] >= r["val_accuracy"] and o["mflops"] <= r["mflops"]
                                        and o != r for o in rows)]
    for r in front:
        r["test_accuracy"] = accuracy(models[r["trial"]], test_loader)
    args.out.write_text(json.dumps({"method": "handwritten", "trials_finished": len(rows), "trials": rows,
                                    "front": front, "wall_seconds": time.time() - start}, indent=1))


if __name__ == "__main__":
    main()
