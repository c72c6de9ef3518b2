"""The one place TuneFactory changes transformers' Seq2SeqTrainer: prediction by generation, the loss
computed with the LM head only on labelled positions (`labelled_head.py`), and sft's weighted loss variants
(`sft_losses.py`: DFT, EAFT, ASFT)."""

from __future__ import annotations

import contextlib

from transformers import Seq2SeqTrainer

from .labelled_head import MODEL_INPUTS, labelled_lm_loss
from .optimizers import SparseGradientNorm
from .padding import PaddingMeter
from .sft_losses import SftLoss, labelled_logits, weighted_sft_loss


class GenerationTrainer(PaddingMeter, SparseGradientNorm, Seq2SeqTrainer):
    """With ``predict_with_generate`` the evaluation rows are prompts and their labels reference answers
    of another length: they are batched by ``generation_collator`` (left padding), the labels are set
    aside while generating, and only the new tokens are returned."""

    def __init__(self, *args, generation_collator=None, stop_token_ids: list[int] | None = None,
                 labelled_head: bool = False, sft_loss: SftLoss | None = None, ref_model=None,
                 optimizer_cls_and_kwargs=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.optimizer_cls_and_kwargs = optimizer_cls_and_kwargs  # Trainer takes it, Seq2SeqTrainer does not pass it
        self.generation_collator = generation_collator
        self.stop_token_ids = stop_token_ids or []
        self.labelled_head = labelled_head
        self.sft_loss = sft_loss
        self.ref_model = ref_model.to(self.args.device).eval() if ref_model is not None else None

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        unusual = (self.label_smoother is not None or self.compute_loss_func is not None
                   or set(inputs) - {*MODEL_INPUTS, "labels"})
        if self.sft_loss is not None and not return_outputs and "labels" in inputs and not unusual:
            loss = self._weighted_loss(model, inputs, num_items_in_batch)  # evaluation keeps the plain loss
        elif not return_outputs and self.labelled_head and "labels" in inputs and not unusual:
            loss = labelled_lm_loss(model, inputs, num_items_in_batch)
        else:  # evaluation that needs logits, label smoothing, custom losses, unusual inputs
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        if self.args.average_tokens_across_devices and num_items_in_batch is not None:  # as Trainer.compute_loss
            loss = loss * (self.accelerator.num_processes // self.get_tp_size() if self.args.n_gpu <= 1
                           else self.args.n_gpu)
        return loss

    def _weighted_loss(self, model, inputs, num_items_in_batch):
        logits, targets = labelled_logits(model, inputs, self.labelled_head)
        ref_logits = None
        if self.sft_loss.needs_reference:
            import torch

            from .pair_trainers import reference_model

            with torch.no_grad(), reference_model(self.accelerator.unwrap_model(model), self.ref_model) as reference:
                ref_logits, _ = labelled_logits(reference, inputs, self.labelled_head)
        return weighted_sft_loss(self.sft_loss, logits, targets, ref_logits, num_items_in_batch)

    def get_eval_dataloader(self, eval_dataset=None):
        with self._generation_batches():
            return super().get_eval_dataloader(eval_dataset)

    def get_test_dataloader(self, test_dataset):
        with self._generation_batches():
            return super().get_test_dataloader(test_dataset)

    @contextlib.contextmanager
    def _generation_batches(self):
        if not self.args.predict_with_generate or self.generation_collator is None:
            yield
            return
        training_collator, self.data_collator = self.data_collator, self.generation_collator
        try:
            yield
        finally:
            self.data_collator = training_collator

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None, **gen_kwargs):
        if not self.args.predict_with_generate or prediction_loss_only:
            return super().prediction_step(model, inputs, prediction_loss_only, ignore_keys=ignore_keys)
        labels = inputs.pop("labels", None)
        prompt_length = inputs["input_ids"].shape[-1]
        loss, generated, _ = super().prediction_step(model, inputs, prediction_loss_only, ignore_keys=ignore_keys,
                                                     **gen_kwargs)
        return loss, generated[:, prompt_length:].contiguous(), self._answer_only(labels)

    def _answer_only(self, labels):
        """Reference answers end where generation stops: at the first stop token (what follows it in the
        template, like Qwen's newline after <|im_end|>, is never generated, so it is not scored)."""
        if labels is None or not self.stop_token_ids:
            return labels
        import torch

        is_stop = torch.isin(labels, torch.tensor(self.stop_token_ids, device=labels.device))
        after_stop = torch.cumsum(is_stop.long(), dim=-1) > 0
        return labels.masked_fill(after_stop, -100)
