"""A CPU-time sampling profiler for a server under load: ``python -m bench.cpu_profile OUT -m MOD``.

It runs module ``MOD`` as ``__main__`` (e.g. ``entrypoints``) with two signal handlers:
``SIGUSR1`` starts sampling, ``SIGUSR2`` stops and writes the samples to ``OUT`` as collapsed
stacks (``frame;frame;... count``, the format of ``py-spy record --format raw``), followed by one
``# gc ...`` line per generation with the collections and the seconds they took.

Why not py-spy alone: py-spy samples on the wall clock and counts a thread as busy when the OS
says it can run. On a loaded 2-core machine the service is often runnable but pre-empted, right
after a ``send()`` woke Redis or MariaDB up, so py-spy piles samples on socket writes. Here the
timer is ``ITIMER_PROF``, which advances only while the process itself uses CPU, so samples
split the service's own CPU time. A sample is taken at the next bytecode boundary, so time in C
(a driver, a syscall) counts for the Python frame that called it, as with py-spy.
"""

from __future__ import annotations

import gc
import os
import runpy
import signal
import sys
import time
from collections import Counter
from pathlib import Path
from types import FrameType

INTERVAL_SECONDS = 0.001


class Sampler:
    def __init__(self, output: Path) -> None:
        self.output = output
        self.samples: Counter[str] = Counter()
        self.gc_seconds = [0.0, 0.0, 0.0]
        self.gc_collections = [0, 0, 0]
        self._gc_started = 0.0
        self._on = False

    def install(self) -> None:
        signal.signal(signal.SIGPROF, self._sample)
        signal.signal(signal.SIGUSR1, lambda *_: self.start())
        signal.signal(signal.SIGUSR2, lambda *_: self.stop())
        gc.callbacks.append(self._gc)

    def start(self) -> None:
        _tune_gc(os.environ.get("BENCH_GC", ""))
        self.samples.clear()
        self.gc_seconds = [0.0, 0.0, 0.0]
        self.gc_collections = [0, 0, 0]
        self._on = True
        signal.setitimer(signal.ITIMER_PROF, INTERVAL_SECONDS, INTERVAL_SECONDS)

    def stop(self) -> None:
        signal.setitimer(signal.ITIMER_PROF, 0, 0)
        self._on = False
        lines = [f"{stack} {count}" for stack, count in self.samples.items()]
        lines += [
            f"# gc generation {generation}: {self.gc_collections[generation]} collections, "
            f"{self.gc_seconds[generation]:.4f} s"
            for generation in range(3)
        ]
        self.output.write_text("\n".join(lines) + "\n")

    def _sample(self, _signum: int, frame: FrameType | None) -> None:
        stack = []
        while frame is not None:
            code = frame.f_code
            stack.append(f"{code.co_qualname} ({code.co_filename}:{frame.f_lineno})")
            frame = frame.f_back
        self.samples[";".join(reversed(stack))] += 1

    def _gc(self, phase: str, info: dict[str, int]) -> None:
        if not self._on:
            return
        if phase == "start":
            self._gc_started = time.process_time()
        else:
            generation = info["generation"]
            self.gc_collections[generation] += 1
            self.gc_seconds[generation] += time.process_time() - self._gc_started


def _tune_gc(spec: str) -> None:
    """For experiments: ``BENCH_GC=freeze`` or ``freeze,700,10,10`` (thresholds) or ``700,10,10``
    applies at the first ``SIGUSR1``, when the server is warm."""
    parts = [part for part in spec.split(",") if part]
    if parts[:1] == ["freeze"]:
        gc.collect()
        gc.freeze()
        parts = parts[1:]
    if parts:
        gc.set_threshold(*(int(part) for part in parts))


def main() -> None:
    if len(sys.argv) < 4 or sys.argv[2] != "-m":
        sys.exit("usage: python -m bench.cpu_profile OUTPUT -m MODULE [ARGS...]")
    Sampler(Path(sys.argv[1])).install()
    module = sys.argv[3]
    sys.argv = [module, *sys.argv[4:]]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
