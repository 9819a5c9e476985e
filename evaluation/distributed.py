"""One process or many (`accelerate launch -m evaluation ...`): shard work, gather Python objects, rank 0 writes."""

from __future__ import annotations

import os
from typing import Sequence


class Dist:
    """Thin wrapper over accelerate's PartialState that costs nothing in a plain single process."""

    def __init__(self):
        self.state = None
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            from accelerate import PartialState

            # on a host without accelerators, `--multi_gpu` ranks talk over gloo (cpu=True), as in training
            self.state = PartialState(cpu=not _has_accelerator())

    @classmethod
    def local(cls) -> "Dist":
        """This process alone, even inside a multi-process launch (training evaluates on rank 0 only)."""
        dist = cls.__new__(cls)
        dist.state = None
        return dist

    @property
    def num_processes(self) -> int:
        return self.state.num_processes if self.state else 1

    @property
    def rank(self) -> int:
        return self.state.process_index if self.state else 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, items: Sequence) -> list:
        """This process's contiguous share of `items` (no padding, so nothing is scored twice)."""
        items = list(items)
        if self.num_processes == 1:
            return items
        with self.state.split_between_processes(items) as mine:  # accelerate's contiguous split, first ranks +1
            return list(mine)

    def gather(self, items: list) -> list:
        """Concatenate every process's list, in rank order, on every process."""
        if self.num_processes == 1:
            return list(items)
        from accelerate.utils import gather_object

        return list(gather_object(list(items)))

    def wait(self):
        if self.state:
            self.state.wait_for_everyone()

    def broadcast(self, obj):
        """rank 0's object on every process."""
        if self.num_processes == 1:
            return obj
        from accelerate.utils import broadcast_object_list

        box = [obj]
        broadcast_object_list(box, from_process=0)
        return box[0]


def _has_accelerator() -> bool:
    import torch
    from accelerate.utils import is_mps_available, is_npu_available, is_xpu_available

    return torch.cuda.is_available() or is_xpu_available() or is_npu_available() or is_mps_available()


def device_for(dist: "Dist", requested: str | None) -> str | None:
    """Each rank on its own accelerator when launched on several; the requested device otherwise."""
    if requested or dist.state is None or not _has_accelerator():
        return requested
    return str(dist.state.device)
