"""``nasprune export``: a saved model as ONNX, TorchScript and a standalone plain-PyTorch file, each checked
against PyTorch on the validation images and timed on the CPU."""

from .config import FORMATS, ExportConfig, ExportResult, parse_formats
from .run import export

__all__ = ["ExportConfig", "ExportResult", "export", "FORMATS", "parse_formats"]
