"""``nasprune diagnose``: why did depth help or hurt this network? The measurements live in
:mod:`nasprune.diagnostics`; this stage picks the network, runs them and writes the verdict."""

from .run import DiagnoseConfig, DiagnoseResult, diagnose

__all__ = ["diagnose", "DiagnoseConfig", "DiagnoseResult"]
