"""Every benchmark script still imports and parses its options: they run by hand or on the GPU machine, not in
the suite, so a library change that breaks their imports (as moving the diagnostics once broke depth.py) would
otherwise show only on the day someone runs them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted(p.name for p in (ROOT / "benchmarks").glob("*.py") if not p.name.startswith("_"))

PROBE = """
import runpy, sys
sys.path.insert(0, "benchmarks")
failed = []
for name in sys.argv[1:]:
    sys.argv = [name, "--help"]
    try:
        runpy.run_path(f"benchmarks/{name}", run_name="__main__")
    except SystemExit as exc:
        if exc.code not in (0, None):
            failed.append(f"{name}: exit {exc.code}")
    except Exception as exc:
        failed.append(f"{name}: {type(exc).__name__}: {exc}")
    else:
        failed.append(f"{name}: --help did not exit")
print("\\n".join(failed))
sys.exit(1 if failed else 0)
"""


def test_every_benchmark_answers_help():
    assert len(SCRIPTS) >= 10, SCRIPTS
    proc = subprocess.run([sys.executable, "-c", PROBE, *SCRIPTS], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-2000:]
