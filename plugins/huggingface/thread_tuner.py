"""A Trainer callback that picks the torch thread count by timing real steps (CPU only).

On a busy machine fewer threads than physical cores can be several times
faster (OpenMP threads wait on each other when one is descheduled), and on a
quiet one all cores win. One noisy step must not decide, so each candidate
(physical cores, half, one) is timed over ``steps_per_candidate`` steps and
judged by its median seconds per step. The tuner keeps watching: when the
chosen count's recent median grows past ``1 + slack`` times what it measured,
the machine has changed and it measures all candidates again; on fewer
threads than the most it also measures again every ``recheck`` steps, since
a round measured while another job held cores would otherwise keep training
on one thread after they are free (which one thread's own step times cannot
show). At most ``max_rounds`` rounds. ``MODELPRESS_NUM_THREADS`` or ``OMP_NUM_THREADS``
fixes the count instead.
"""
from __future__ import annotations

import os
import statistics
import time

from transformers import TrainerCallback


def physical_cores() -> int:
    """Physical CPU cores available to this process (hyper-threads do not help matmuls)."""
    try:
        cores = set()
        for cpu in os.sched_getaffinity(0):
            base = f"/sys/devices/system/cpu/cpu{cpu}/topology"
            with open(f"{base}/core_id") as c, open(f"{base}/physical_package_id") as p:
                cores.add((p.read().strip(), c.read().strip()))
        return max(len(cores), 1)
    except (OSError, AttributeError):
        return os.cpu_count() or 1


class ThreadTuner(TrainerCallback):
    """Time training steps at several thread counts and keep the fastest; re-measure on a slowdown."""

    def __init__(self, device_type: str = "cpu", steps_per_candidate: int = 3, window: int = 5,
                 slack: float = 0.5, max_rounds: int = 3, recheck: int = 20, clock=time.perf_counter):
        import torch

        self.clock = clock
        self.original = torch.get_num_threads()
        fixed = os.environ.get("MODELPRESS_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS")
        # several training processes on one host share its cores
        world = int(os.environ.get("LOCAL_WORLD_SIZE") or os.environ.get("WORLD_SIZE") or 1)
        cores = max(physical_cores() // world, 1)
        torch.set_num_threads(int(fixed) if fixed else cores)
        self.candidates = sorted({cores, max(cores // 2, 1), 1}, reverse=True)
        self.enabled = device_type == "cpu" and not fixed and world == 1 and len(self.candidates) > 1
        self.per_candidate, self.window, self.slack, self.max_rounds = steps_per_candidate, window, slack, max_rounds
        self.recheck, self._since = recheck, 0  # steps on fewer threads than the most before measuring again
        self.chosen = torch.get_num_threads()
        self.rounds: list[dict[int, float]] = []  # one dict per measuring round: threads -> median s/step
        self._queue: list[int] = []
        self._samples: dict[int, list[float]] = {}
        self._recent: list[float] = []
        self._start = 0.0
        self._warm = False

    def _begin_round(self, total_left: int) -> None:
        # a round only pays off when training goes on well past it
        if len(self.rounds) >= self.max_rounds or total_left < 3 * self.per_candidate * len(self.candidates):
            return
        self._queue = [t for t in self.candidates for _ in range(self.per_candidate)]
        self._samples = {t: [] for t in self.candidates}

    def on_train_begin(self, args, state, control, **kwargs):
        """Plan the first measuring round (after one warm-up step)."""
        if self.enabled:
            self._begin_round(state.max_steps - 1)

    def on_step_begin(self, args, state, control, **kwargs):
        """Set the thread count for this step and start its clock."""
        import torch

        if self._queue and self._warm:
            torch.set_num_threads(self._queue[0])
        self._start = self.clock()

    def on_step_end(self, args, state, control, **kwargs):
        """Record the step's time; finish a round or detect a slowdown."""
        import torch

        seconds = self.clock() - self._start
        if not self.enabled:
            return
        if not self._warm:  # the first step pays for allocations and compilation
            self._warm = True
            return
        if self._queue:
            self._samples[self._queue.pop(0)].append(seconds)
            if not self._queue:
                medians = {t: statistics.median(s) for t, s in self._samples.items()}
                self.rounds.append(medians)
                self.chosen = min(medians, key=medians.get)
                self._recent = []
            torch.set_num_threads(self.chosen)
            return
        if not self.rounds:
            return
        self._recent = ([*self._recent, seconds])[-self.window:]
        measured = self.rounds[-1][self.chosen]
        self._since += 1
        slower = len(self._recent) == self.window and statistics.median(self._recent) > (1 + self.slack) * measured
        # fewer threads than the most: the round may have run while another job held cores, and
        # running on fewer threads cannot show that they are free again: look again now and then
        recheck = self.chosen < max(self.candidates) and self._since >= self.recheck
        if slower or recheck:
            self._begin_round(state.max_steps - state.global_step)
            self._recent = []
            self._since = 0

    def on_train_end(self, args, state, control, **kwargs):
        """Give the process its thread count back."""
        import torch

        torch.set_num_threads(self.original)

    def summary(self) -> dict:
        """What the tuner measured and chose, for training_log.json."""
        return {"torch_threads": self.chosen,
                "thread_rounds": [{str(t): round(s, 6) for t, s in r.items()} for r in self.rounds]}
