"""A stratified start: a few partial candidates that together try every choice of every categorical parameter.

Left to itself, a sampler can leave a choice untried: the README's quick-start search built ``basic`` blocks in
all 20 trials on one seed (16 ``plain`` on another), though the default offers three blocks, and the importance
plot still gave ``block`` a bar. So a new study first runs ``coverage(space)``: as many candidates as the
largest categorical parameter has choices, each parameter's choices dealt round-robin over them in a seeded
order (a Latin square, not a grid), so every choice appears at least once and no two parameters move together.
Numeric parameters (learning rate, depth, repeats) are left to the sampler. A per-stage choice counts only in a
candidate deep enough to have that stage; the rest of the study can still draw it.

Channels are dealt too, though at 48x32 that builds candidates of 15-200 MFLOPs that are stopped as too slow. Dealing
only the kinds (block, norm, act, downsampling, stem) at the first start candidate's sizes was tried (28e0cfb;
benchmarks/RESULTS.md, issue 29) and bought nothing: hypervolume -0.7 points at 32x32 grey (median of 3 seeds), level
at 16x16 and 32x32 colour, best accuracy level. Candidates at one network's cost tie with it: in 5 of 8 runs one
was retrained beside the narrow start candidate and added no point to the front, where the cheaper finalist had been
a network of 0.5-2.6 MFLOPs in 8 of 8.
"""

from __future__ import annotations

import random
from typing import Any

from .schema import SearchSpace, parameters
from .values import Choice

__all__ = ["coverage"]


def coverage(space: SearchSpace, seed: int = 0) -> list[dict[str, Any]]:
    """Partial candidates (parameter name -> value) that try every choice of every categorical parameter of
    ``space`` at least once; [] where it has none. Deterministic for a ``seed``."""
    choices = {name: form.choices for name, form in parameters(space).items() if isinstance(form, Choice)}
    if not choices:
        return []
    count = max(len(c) for c in choices.values())
    rng = random.Random(seed)
    columns = {}
    for name, values in choices.items():
        column = [values[i % len(values)] for i in range(count)]
        rng.shuffle(column)
        columns[name] = column
    return [{name: column[i] for name, column in columns.items()} for i in range(count)]
