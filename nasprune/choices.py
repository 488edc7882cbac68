"""The names a user chooses among, in one place with no imports, so the command line can offer and check them
(``--help`` included) without loading torch, Optuna or scikit-learn. The modules that implement each choice
import its names from here."""

__all__ = ["TORCHVISION_DATASETS", "DATASETS", "AUGMENTS", "PLACEMENTS", "PRECISIONS", "OBJECTIVES", "LATENCY_RUNTIMES",
           "SAMPLERS",
           "PRUNERS", "IMPORTANCES", "WORKERS_PER_GPU", "DEFAULT_HOST", "DEFAULT_PORT", "EXPORT_FORMATS",
           "ONNX_EXPORTERS"]

TORCHVISION_DATASETS = ("cifar10", "cifar100", "mnist", "fashion-mnist")  # torchvision's on-disk formats
DATASETS = ("digits", "imagefolder", *TORCHVISION_DATASETS)
AUGMENTS = ("auto", "none", "crop", "flip", "crop,flip")  # training augmentation
PLACEMENTS = ("auto", "device", "stream")  # data on the device, streamed from host memory, or by size
PRECISIONS = ("auto", "bf16", "fp16", "fp32")
#: objective sets a study can optimize -> their metric names; accuracy is always maximized, costs minimized
OBJECTIVES = {
    "accuracy,mflops": ("val_accuracy", "MFLOPs"),
    "accuracy,params": ("val_accuracy", "Mparams"),
    "accuracy,latency": ("val_accuracy", "latency_ms"),  # in --latency-runtime, measured before training
    "accuracy": ("val_accuracy",),
}
LATENCY_RUNTIMES = ("torch", "onnxruntime")  # where a latency is measured: eager PyTorch, or ONNX Runtime's CPU provider
SAMPLERS = ("tpe", "random")  # Optuna's TPE (the default) or RandomSampler (a control)
PRUNERS = ("auto", "rungs", "hyperband", "median", "none")  # early stopping; auto: rungs for several objectives
IMPORTANCES = ("l1", "l2", "taylor", "bn", "lamp", "random")  # which channels torch-pruning removes first
#: default trial workers per GPU. Four concurrent training processes on one H100 reached ~150,000 images/s
#: with ResNet-20 against ~45,000 for one (../shared/data/README.md); benchmarks/throughput.py measures it.
WORKERS_PER_GPU = 4
DEFAULT_HOST = "127.0.0.1"  # the dashboard listens on this machine only, unless the user asks to expose it
DEFAULT_PORT = 8080
#: nasprune export's formats: model.onnx (checked in ONNX Runtime), model.torchscript.pt, model.py (plain torch)
EXPORT_FORMATS = ("onnx", "torchscript", "python")
#: torch.onnx's exporters: the TorchScript-based one (dynamo=False) or the torch.export-based one (nasprune.deploy)
ONNX_EXPORTERS = ("torchscript", "dynamo")
