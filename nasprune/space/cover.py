"""A stratified start: a few candidates that together try every kind of every categorical parameter.

Left to itself, a sampler can leave a choice untried: the README's quick-start search built ``basic`` blocks in
all 20 trials on one seed (16 ``plain`` on another), though the default offers three blocks, and the importance
plot still gave ``block`` a bar. So a new study first runs ``coverage(space)``: as many candidates as the
largest categorical parameter has kinds, each parameter's kinds dealt round-robin over them in a seeded order (a
Latin square, not a grid), so every kind appears at least once and no two parameters move together.

Only choices among names are dealt (block, norm, activation, downsampling, stem): choices among numbers (channels,
squeeze-excitation ratio, expansion, dropout) are sizes and rates, like the learning rate and the repeats. Those
come from ``base`` (the space's first start candidate, a sound network) where it sets them, else from the sampler.
So each candidate is that network with its kinds swapped, at about its cost, and its score says what the kinds do
at that size. Dealt over every channel choice too (8-256), the candidates at 48x32 cost 15-200 MFLOPs, and five of
six were stopped as too slow before they had learned (benchmarks/RESULTS.md). A per-stage choice counts only in a
candidate deep enough to have that stage; the rest of the study can still draw it.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from .schema import SearchSpace, parameters
from .values import Choice

__all__ = ["coverage"]


def _among_names(form: object) -> bool:
    """Whether a parameter is a choice among names (not among numbers)."""
    return isinstance(form, Choice) and not all(isinstance(c, (int, float)) for c in form.choices)


def coverage(space: SearchSpace, seed: int = 0, base: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """Candidates (parameter name -> value) that try every kind of every categorical parameter of ``space`` at
    least once, the rest of each set as in ``base`` (for parameters of the space; others are left to the
    sampler); [] where the space has no such parameter. Deterministic for a ``seed``."""
    forms = parameters(space)
    choices = {name: form.choices for name, form in forms.items() if _among_names(form)}
    if not choices:
        return []
    count = max(len(c) for c in choices.values())
    rng = random.Random(seed)
    columns = {}
    for name, values in choices.items():
        column = [values[i % len(values)] for i in range(count)]
        rng.shuffle(column)
        columns[name] = column
    kept = {name: value for name, value in (base or {}).items() if name in forms and name not in choices}
    return [kept | {name: column[i] for name, column in columns.items()} for i in range(count)]
