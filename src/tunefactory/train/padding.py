"""How much of each training batch is padding, reported as ``padding_fraction`` in the run log.

A mixin for the stage trainers: every micro-batch's 2-D ``attention_mask`` is counted as it is trained
on, and each training log gets the share of padded positions since the previous log (this process's
batches). Packed or length-grouped batches (``packing``, ``train_sampling_strategy: group_by_length``)
should show it falling.
"""

from __future__ import annotations


class PaddingMeter:
    _padded_positions = 0
    _positions = 0

    def training_step(self, model, inputs, *args, **kwargs):
        mask = inputs.get("attention_mask") if isinstance(inputs, dict) else None
        if mask is not None and mask.dim() == 2:
            self._positions += mask.numel()
            self._padded_positions += mask.numel() - int(mask.count_nonzero())
        return super().training_step(model, inputs, *args, **kwargs)

    def log(self, logs: dict, *args, **kwargs):
        if "loss" in logs and self._positions:
            logs["padding_fraction"] = round(self._padded_positions / self._positions, 4)
            self._padded_positions = self._positions = 0
        return super().log(logs, *args, **kwargs)
