"""nasprune: find compact, accurate networks for your data, then strip their redundant channels.

The public API in one import::

    import nasprune
    space = nasprune.load_space("default")              # YAML search space (or a preset such as "resnet20")
    result = nasprune.search(nasprune.SearchConfig())   # what `nasprune search` does
    spec, model = nasprune.load_model(result.best["checkpoint"])
    pruned = nasprune.prune(nasprune.PruneConfig(study=result.study_name))   # what `nasprune prune` does
    verdict = nasprune.diagnose(nasprune.DiagnoseConfig(study=result.study_name, trial=3))  # `nasprune diagnose`
    exported = nasprune.export(nasprune.ExportConfig(study=result.study_name))   # `nasprune export`
    info = nasprune.eval("results/default-digits/trials/00003")   # `nasprune eval`
    nasprune.show(nasprune.load_space("default"), (3, 32, 32))   # `nasprune show`

Long calls report progress to an ``on_event`` callback (see :mod:`nasprune.events`) and print nothing.
"""

import importlib
import sys
import types

__version__ = "0.1.0"

#: public name -> the module that defines it. Imported on first use, so `nasprune --help` and other light uses
#: do not pay for torch, Optuna and scikit-learn (3-4 s on a 2-core machine).
_EXPORTS = {
    **dict.fromkeys(("ArchSpec", "StageSpec", "TrainSpec", "TrialSpec", "describe"), "spec"),
    **dict.fromkeys(("SearchSpace", "load_space", "sample_spec", "fixed_spec"), "space"),
    **dict.fromkeys(("build_model", "weighted_depth", "describe_model"), "nn"),
    **dict.fromkeys(("DataSplits", "load_data"), "data"),
    **dict.fromkeys(("Runtime", "resolve_runtime", "train"), "train"),
    **dict.fromkeys(("Cost", "measure", "count_macs", "count_params", "measure_latency"), "measure"),
    **dict.fromkeys(("save_model", "load_model"), "checkpoint"),
    **dict.fromkeys(("SearchConfig", "SearchResult", "search"), "search"),
    **dict.fromkeys(("PruneConfig", "PruneResult", "prune"), "prune"),
    **dict.fromkeys(("ReportConfig", "ReportResult", "report"), "report"),
    **dict.fromkeys(("DiagnoseConfig", "DiagnoseResult", "diagnose"), "diagnose"),
    **dict.fromkeys(("ExportConfig", "ExportResult", "export"), "export"),
    "Diagnosis": "diagnostics",
    "eval": "evaluation",  # evaluate_saved: nasprune.eval mirrors `nasprune eval`
    "show": "show",
    "dashboard": "dashboard",
    "events": "events",  # the module itself
    **dict.fromkeys(("NaspruneError", "ConfigError", "SpaceError", "SpecError", "DataError", "StudyError",
                     "CheckpointError", "CandidateError", "DivergedError", "DiskFullError", "ExportError"), "errors"),
}
_RENAMED = {"eval": "evaluate_saved"}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> object:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'nasprune' has no attribute {name!r}")
    module = importlib.import_module(f".{_EXPORTS[name]}", __name__)
    value = module if name == _EXPORTS[name] and not hasattr(module, name) else getattr(module, _RENAMED.get(name, name))
    types.ModuleType.__setattr__(sys.modules[__name__], name, value)
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


class _Package(types.ModuleType):
    """Importing a subpackage binds it as an attribute of its parent; where the API has a function of the same
    name (``nasprune.search``, ``prune``, ``report``, ``diagnose``, ``show``, ``dashboard``, ``train``), the function
    keeps the name, as an eager ``from .search import search`` would have left it."""

    def __setattr__(self, name: str, value: object) -> None:
        if isinstance(value, types.ModuleType) and name in _EXPORTS and name != "events":
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
