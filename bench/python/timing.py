"""The timing loop the PyTorch peers of the learner benchmarks share."""

import statistics
import time
from collections.abc import Callable


def median_rate(update: Callable[[], None], steps: int, repeats: int, warmup: int) -> float:
    """Calls per second of `update`: `warmup` untimed calls, then the median of `repeats` runs of `steps`."""
    for _ in range(warmup):
        update()
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            update()
        rates.append(steps / (time.perf_counter() - start))
    return statistics.median(rates)
