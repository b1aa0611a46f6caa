"""The trainer: one loop for every task, from Python (`Trainer(task, cfg).fit()`) or the CLI."""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import math
import os
import signal
import threading
import time
from collections.abc import Sequence
from itertools import islice
from pathlib import Path

import torch

from rnnkit.layers import RecurrentLayer
from rnnkit.train import checkpoint, distributed
from rnnkit.train.config import TrainConfig
from rnnkit.train.histograms import Histograms
from rnnkit.train.monitor import Monitor
from rnnkit.train.optim import Schedule, add_weight_noise, clip_gradients, make_optimizer, penalty, remove_weight_noise
from rnnkit.train.report import write_report
from rnnkit.train.task import ScoredTask, Task
from rnnkit.train.tbptt import detach, forward_update, update_slices, window_update, windows


class TrainingDiverged(RuntimeError):
    """Non-finite losses or gradients persisted through every allowed rollback."""


@torch.no_grad()
def evaluate(model: torch.nn.Module, batches) -> float | None:
    """Mean loss per target over `batches` in eval mode, the state carried from batch to batch
    unless a batch resets it (None if there are no batches); the model is left in train mode."""
    model.eval()
    total, count, state = 0.0, 0, None
    for batch in batches:
        if batch.reset:
            state = None
        _, loss, state = model(batch.x, batch.y, state)
        n = batch.y.numel() if batch.count is None else batch.count
        total += loss.item() * n
        count += n
    model.train()
    return total / count if count else None


@torch.no_grad()
def assign(params: Sequence[torch.Tensor], values: Sequence[torch.Tensor]) -> None:
    """Copies `values` into `params`, one by one (weights swapped in place: optimiser and DDP keep theirs)."""
    for p, v in zip(params, values, strict=True):
        p.copy_(v)


class TrainingInterrupted(Exception):
    """SIGINT (Ctrl-C) stopped training after the batch in progress; `last` holds the run."""


class Trainer:
    """Trains `task.model` on `task`'s batches as `cfg` says; `fit()` returns a summary dict."""

    def __init__(self, task: Task, cfg: TrainConfig):
        if not cfg.resume and distributed.restarted() and (Path(cfg.run_dir) / "last").exists():
            cfg = dataclasses.replace(cfg, resume=cfg.run_dir)  # torchrun restarted the group: continue
        self.task, self.cfg = task, cfg
        if not cfg.resume and not cfg.overwrite and (Path(cfg.run_dir) / "last").exists():
            raise ValueError(
                f"{cfg.run_dir} already holds a run: continue it with --resume {cfg.run_dir}, "
                "train elsewhere with --run-dir, or replace it with --overwrite"
            )
        self.rank, self.world, device = distributed.setup(cfg.device)
        torch.set_num_threads(cfg.threads or max(1, (os.cpu_count() or 1) // distributed.local_world(self.world)))
        self.model = task.model.to(device)
        # What the training forward calls: under DDP (rank 0's weights, gradients averaged) in a group.
        self.net = distributed.wrap(self.model, device) if self.world > 1 else self.model
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = make_optimizer(self.params, cfg)
        self.k1, self.k2 = cfg.tbptt_forward, cfg.tbptt_backward or cfg.tbptt_forward
        lengths = [
            b.x.shape[1] if b.y.shape[1] == b.x.shape[1] else 0  # one target per sequence: never cut
            for b in task.train_batches(0, self.rank, self.world)
        ]
        self.steps_per_epoch = sum(-(-n // (self._lengths(n)[0] or n)) if n else 1 for n in lengths)
        shares = distributed.gather([self.steps_per_epoch], self.world)[:, 0]
        if (shares != shares[0]).any():  # a rank with more updates would wait for the others forever
            raise ValueError(
                f"the processes' shares of an epoch make {shares.int().tolist()} updates: every rank must "
                "take a share of every global batch (the task's train_batches)"
            )
        self.chunked = max(lengths, default=0) if self._lengths(max(lengths, default=0))[0] != self.k1 else 0
        limits = [n for n in (self.steps_per_epoch * cfg.max_epochs, cfg.max_steps) if n]  # 0 = no limit
        self.total_steps = min(limits, default=0)  # 0: unknown in advance (a time budget only)
        self.schedule = Schedule(cfg, self.total_steps)
        self.run_dir = Path(cfg.run_dir)
        # Run state: everything below is saved in every checkpoint and restored on resume.
        self.step = 0  # updates done (skipped non-finite ones included)
        self.epoch = 0
        self.batch_in_epoch = 0  # batches of this epoch already consumed
        self.best = math.inf  # best validation criterion: the loss, or minus the task's val_score
        self.bad_evals = 0  # evaluations since the best one (early stopping)
        self.lr_scale = 1.0  # halved at each rollback
        self.rollbacks = 0
        self.elapsed = 0.0  # seconds of training before this process started
        self.last_eval = self.last_save = 0  # steps of the latest evaluation and `last` save
        self.carry = None  # recurrent state carried between batches (stateful streaming)
        # ema: the weights' moving average, which validates, is checkpointed as the model and predicts
        self.averaged = [p.detach().clone() for p in self.params] if cfg.ema else None
        self.started = time.perf_counter()
        torch.manual_seed(cfg.seed + self.rank)  # dropout and weight noise differ across ranks
        if cfg.resume:  # before the monitor opens files, so a bad checkpoint leaves the run dir as it was
            self._restore(cfg.resume)
        self.monitor = (
            Monitor(self.run_dir, self.total_steps, cfg.max_time, cfg.tensorboard, append=bool(cfg.resume))
            if self.rank == 0
            else None
        )
        self.histograms = None  # --tensorboard: gate and gradient histograms at each logging step
        if self.monitor and self.monitor.writer:
            self.histograms = Histograms(self.model, self.monitor.writer)
        self.bad_steps = 0  # non-finite updates in a row
        self.stop_early = self.rolled_back = self.interrupted = False
        self.stop_reason = ""  # why training ended: early stopping | max_time | max_epochs | max_steps | interrupted
        self.window: dict[str, float] = {"loss": 0.0, "updates": 0, "tokens": 0, "time": 0.0, "grad_norm": 0.0}

    # ----------------------------------------------------------------------------------------
    def fit(self) -> dict:
        """Trains until max_epochs, max_steps, max_time or early stopping; then restores the best
        weights, evaluates the test split once, and returns a summary."""
        if self.monitor:
            self.monitor.start_step = self.step
        if self.cfg.resume:  # (also after torchrun restarted a failed group)
            self._log({"kind": "resume", "step": self.step, "from": str(self.cfg.resume)})
        if self.chunked:
            self._log(
                {
                    "kind": "chunking",
                    "longest": self.chunked,
                    "window": self.cfg.long_sequence,
                    "note": f"batches longer than {self.cfg.long_sequence} steps are trained in truncated-BPTT "
                    f"windows of {self.cfg.long_sequence} steps, the state carried (--long-sequence)",
                }
            )
        for name, module in self.model.named_modules():  # which kernel runs each recurrent layer, and why
            if isinstance(module, RecurrentLayer):
                self._log({"kind": "engine", "layer": name, **module.engine_info()})
        self.started = time.perf_counter()  # engine_info builds the compiled loops on first use: not training time
        # Single process: the first Ctrl-C stops after the current batch and saves `last`; a second
        # one interrupts at once. (Data-parallel ranks keep the default: they could not agree on a batch.)
        catch = self.world == 1 and threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGINT, self._request_stop) if catch else None
        try:
            self._save(("last",))  # a good checkpoint to roll back to, from the first update on
            while not self._done():
                self._run_epoch()
            if self.interrupted:
                if self.last_save != self.step and self.bad_steps == 0:
                    self._save(("last",))
                raise TrainingInterrupted(
                    f"interrupted at step {self.step}; the run is saved as "
                    f"{self.run_dir / 'last'} (step {self.last_save}): continue it "
                    f"with --resume {self.run_dir}"
                )
            # The final weights are always validated and saved as `last` (and `best` if they are).
            improved = self.last_eval != self.step and self._validate()
            names = (("best",) if improved else ()) + (("last",) if self.last_save != self.step else ())
            if names:
                self._save(names)
            if (self.run_dir / "best").exists():
                checkpoint.load(self.run_dir / "best", self.model)
            elif self.averaged is not None:  # no validation: the final average is the model
                assign(self.params, self.averaged)
            test = self.evaluate("test")
            summary = {
                "kind": "summary",
                "step": self.step,
                "epoch": self.epoch,
                **self._best_fields(self.best),
                "test": test,
                "seconds": round(self._elapsed(), 1),
                "stopped": self.stop_reason,
            }
            self._log(summary)
            if self.monitor:  # rank 0: report.html, with the task's samples if it has any
                write_report(self.run_dir, getattr(self.task, "report_samples", dict)())
            return summary
        finally:
            if catch:
                signal.signal(signal.SIGINT, previous)
            if self.monitor:
                self.monitor.close()
            distributed.teardown()

    def _request_stop(self, signum, frame) -> None:
        self.interrupted = True
        signal.signal(signal.SIGINT, signal.default_int_handler)

    def _run_epoch(self) -> None:
        """Trains from the current position to the end of the epoch, or until a stop or rollback."""
        self.rolled_back = False
        batches = self.task.train_batches(self.epoch, self.rank, self.world)
        for batch in islice(batches, self.batch_in_epoch, None):  # skip batches done before a resume
            if batch.reset:  # a new document / set of sequences starts from a zero state
                self.carry = None
            for forward, y in self._updates(batch):
                self._update(forward, y, y.numel() if batch.count is None else batch.count)
                if self.rolled_back:  # position, weights and state came back from `last`
                    return
            self.batch_in_epoch += 1
            names = []
            if self.cfg.eval_every and self.step - self.last_eval >= self.cfg.eval_every and self._validate():
                names.append("best")
            due = self.cfg.ckpt_every and self.step - self.last_save >= self.cfg.ckpt_every
            if due and self.bad_steps == 0:  # `last` must be a good point to roll back to
                names.append("last")
            if names:
                self._save(tuple(names))
            if self._done():
                return
        # The epoch is over: decay the learning rate (step schedule), validate, checkpoint.
        self.schedule.end_epoch(self.epoch)
        self.epoch, self.batch_in_epoch, self.carry = self.epoch + 1, 0, None
        improved = self.cfg.eval_every == 0 and self._validate()
        self._save(("last", "best") if improved else ("last",))

    def _lengths(self, n: int) -> tuple[int, int]:
        """(k1, k2) for a batch of n steps: the configured lengths, or with tbptt_forward 0 and n above
        long_sequence, windows of long_sequence steps (0, 0: full BPTT)."""
        if not self.k1 and self.cfg.long_sequence and n > self.cfg.long_sequence:
            return self.cfg.long_sequence, self.cfg.long_sequence
        return self.k1, self.k2

    def _updates(self, batch):
        """(forward, scored targets) for each update of a batch, in order: forward(state) -> (loss, the
        state the next update starts from), in the tbptt_style convention (see train/tbptt.py)."""
        x, y = batch.x, batch.y
        k1, k2 = self._lengths(x.shape[1]) if y.shape[1] == x.shape[1] else (self.k1, self.k2)
        if self.cfg.tbptt_style == "dl4j":
            for sl in update_slices(x.shape[1], k1):
                yield (lambda state, sl=sl: forward_update(self._forward, x[:, sl], y[:, sl], state, k2)), y[:, sl]
            return
        for w, s, e, nxt in windows(x.shape[1], k1, k2):
            yield (
                (
                    lambda state, w=w, s=s, e=e, nxt=nxt: window_update(
                        self._forward, x[:, w:e], y[:, w:e], state, e - s, nxt - w
                    )
                ),
                y[:, s:e],
            )

    def _forward(self, x, y, state):
        """The model's forward in training. The call that scores targets (y given; one per update)
        goes through DDP, which averages the gradients of the backward from its loss; the unscored
        calls before it (the start of a TBPTT window) run the bare model, their graph reached
        through the state."""
        return (self.net if y is not None else self.model)(x, y, state)

    def _update(self, forward, y: torch.Tensor, count: int) -> None:
        """One optimiser update: `forward(carried state)` gives the loss and the next state; y are
        the targets it scores (for throughput), `count` how many targets its mean loss is over (its
        weight in the global batch's mean when several processes share the batch)."""
        cfg, t0 = self.cfg, time.perf_counter()
        # 1. the learning rate of this update (schedule x warm-up x rollback halvings)
        lr = self.schedule.lr(self.step, self._elapsed()) * self.lr_scale
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        # 2. forward over the chunk and backward over its last k2 steps; with weight noise the
        #    gradient is taken at the noisy weights, and the clean weights are then updated
        self.model.train()
        noise = add_weight_noise(self.model, cfg.weight_noise) if cfg.weight_noise else None
        loss, carry = forward(self.carry)
        loss_value, weight = loss.item(), 1.0
        if self.world > 1:  # data parallel: the global batch's mean loss, each rank's share weighed by its targets
            counts, sums = distributed.gather([count, count * loss_value if count else 0.0], self.world).sum(0).tolist()
            loss_value, weight = sums / counts, self.world * count / counts  # DDP divides the sum by world
        self.optimizer.zero_grad(set_to_none=True)
        (loss * weight + penalty(self.model, cfg.l1, cfg.l2)).backward()  # under DDP: gradients averaged
        if noise is not None:
            remove_weight_noise(self.model, noise)
        # 3. clip; a non-finite loss or gradient skips the update (and may roll back)
        grad_norm = clip_gradients(self.params, cfg.clip_norm, cfg.clip_value)
        self.step += 1
        if not (math.isfinite(loss_value) and math.isfinite(grad_norm)):
            self._skip(loss_value, grad_norm)
            return
        self.bad_steps = 0
        # 4. step, and carry the state forward with its graph cut
        self.optimizer.step()
        if self.averaged is not None:
            decay = min(cfg.ema, (1 + self.step) / (10 + self.step))
            with torch.no_grad():
                for a, p in zip(self.averaged, self.params, strict=True):
                    a.lerp_(p, 1 - decay)
        self.carry = detach(carry)
        w = self.window
        w["loss"] += loss_value
        w["grad_norm"] += grad_norm
        w["updates"] += 1
        w["tokens"] += y.numel() * self.world
        w["time"] += time.perf_counter() - t0
        if self.step % cfg.log_every == 0:
            self._log(
                {
                    "kind": "train",
                    "step": self.step,
                    "epoch": self.epoch,
                    "loss": w["loss"] / w["updates"],
                    "lr": lr,
                    "grad_norm": w["grad_norm"] / w["updates"],
                    "tok_s": w["tokens"] / w["time"],
                }
            )
            self.window = dict.fromkeys(w, 0.0)
            if self.histograms:
                self.histograms.log(self.step)

    def _skip(self, loss_value: float, grad_norm: float) -> None:
        """Drops a non-finite update; after max_bad_steps in a row, rolls back to `last`."""
        self.optimizer.zero_grad(set_to_none=True)
        self.carry = None  # the carried state may itself be NaN
        self.bad_steps += 1
        self._log(
            {"kind": "skip", "step": self.step, "loss": loss_value, "grad_norm": grad_norm, "in_a_row": self.bad_steps}
        )
        if self.bad_steps < self.cfg.max_bad_steps:
            return
        if self.rollbacks >= self.cfg.max_rollbacks:
            raise TrainingDiverged(
                f"{self.bad_steps} non-finite updates in a row at step {self.step} after "
                f"{self.rollbacks} rollbacks; giving up (last good checkpoint: "
                f"{self.run_dir / 'last'})"
            )
        lr_scale, rollbacks, elapsed = self.lr_scale / 2, self.rollbacks + 1, self._elapsed()
        self._restore(self.run_dir / "last")
        self.lr_scale, self.rollbacks, self.bad_steps, self.rolled_back = lr_scale, rollbacks, 0, True
        self.elapsed, self.started = elapsed, time.perf_counter()  # the clock does not roll back
        self._log({"kind": "rollback", "step": self.step, "lr_scale": lr_scale, "rollbacks": rollbacks})

    @contextlib.contextmanager
    def _averaged_weights(self):
        """Inside the block the model holds the averaged weights (ema), and the trained ones are
        yielded (None without ema); after it, the trained weights are back."""
        if self.averaged is None:
            yield None
            return
        trained = [p.detach().clone() for p in self.params]
        assign(self.params, self.averaged)
        try:
            yield trained
        finally:
            assign(self.params, trained)

    # ----------------------------------------------------------------------------------------
    def evaluate(self, split: str) -> float | None:
        """Mean loss per target over all of `split`'s batches (None if the split is empty), computed
        by rank 0 and sent to every rank, so that all take the same decisions on it."""
        loss = evaluate(self.model, self.task.eval_batches(split)) if self.rank == 0 else None
        return distributed.agree(loss, self.world)

    @property
    def _scored(self) -> bool:
        """True if the task has a val metric to maximise (ScoredTask) instead of the loss."""
        return isinstance(self.task, ScoredTask)

    def _best_fields(self, best: float) -> dict:
        """The best criterion for the log: {"best_score": the metric} or {"best_val": the loss}."""
        return {"best_score": -best} if self._scored else {"best_val": best}

    def _validate(self) -> bool:
        """Evaluates the val split, feeds the plateau schedule and early stopping; True if best. The
        criterion (lower is better) is the val loss, or minus the task's val_score() if it has one."""
        self.last_eval = self.step
        with self._averaged_weights():
            loss = self.evaluate("val")
            if loss is None:
                return False
            row = {"kind": "val", "step": self.step, "epoch": self.epoch, "loss": loss}
            criterion = loss
            if isinstance(self.task, ScoredTask):
                score = distributed.agree(self.task.val_score() if self.rank == 0 else None, self.world)
                if score is not None:
                    row["score"], criterion = score, -score
        self._log(row)
        self.schedule.observe(loss)
        # Early stopping counts only improvements of more than min_delta (relative): under a decaying
        # learning rate, ever smaller gains would otherwise reset the patience forever.
        significant = math.isinf(self.best) or criterion < self.best - self.cfg.min_delta * abs(self.best)
        self.bad_evals = 0 if significant else self.bad_evals + 1
        if self.cfg.patience and self.bad_evals >= self.cfg.patience:
            self.stop_early = True
            self._log({"kind": "early_stop", "step": self.step, **self._best_fields(min(self.best, criterion))})
        if criterion < self.best:  # any better criterion is the new `best` checkpoint
            self.best = criterion
            return True
        return False

    def _done(self) -> bool:
        """True when training must stop; `stop_reason` says why."""
        cfg = self.cfg
        reasons = (
            ("early stopping", self.stop_early),
            ("interrupted", self.interrupted),
            ("max_epochs", cfg.max_epochs and self.epoch >= cfg.max_epochs),
            ("max_steps", cfg.max_steps and self.step >= cfg.max_steps),
            ("max_time", cfg.max_time and self._elapsed() >= cfg.max_time),
        )
        self.stop_reason = next((name for name, hit in reasons if hit), "")
        return bool(self.stop_reason)

    def _elapsed(self) -> float:
        return self.elapsed + time.perf_counter() - self.started

    def _log(self, row: dict) -> None:
        if self.monitor:
            self.monitor.log(row)

    # ----------------------------------------------------------------------------------------
    def _save(self, names: tuple[str, ...]) -> None:
        """Checkpoints the run as `names` on rank 0 (never with NaN weights); all ranks wait."""
        if "last" in names:
            self.last_save = self.step
        rng = [base64.b64encode(s.numpy().tobytes()).decode() for s in distributed.gather_rng(self.world)]
        if self.rank == 0:
            state = {
                "step": self.step,
                "epoch": self.epoch,
                "batch_in_epoch": self.batch_in_epoch,
                "best": self.best,
                "bad_evals": self.bad_evals,
                "lr_scale": self.lr_scale,
                "rollbacks": self.rollbacks,
                "elapsed": self._elapsed(),
                "last_eval": self.last_eval,
                "last_save": self.last_save,
                "world": self.world,
                "rng": rng,
                "schedule": self.schedule.state_dict(),
                "config": dataclasses.asdict(self.cfg),
                "meta": self.task.meta(),
            }
            try:
                with self._averaged_weights() as trained:  # the model file holds what predicts
                    checkpoint.save(self.run_dir, names, self.model, self.optimizer, self.carry, state, trained)
            except checkpoint.CheckpointError as err:
                self._log({"kind": "save_refused", "step": self.step, "reason": str(err)})
        if self.world > 1:
            torch.distributed.barrier()

    def _restore(self, path: str | Path) -> None:
        """Loads weights, optimiser, carried state, RNG and position from a checkpoint."""
        state, carry = checkpoint.load(path, self.model, self.optimizer, task=self.task.meta().get("task"))
        if self.cfg.ema:  # the model file holds the average; training goes on from the trained weights
            self.averaged = [p.detach().clone() for p in self.params]
        if state["trained"] is not None:
            if len(state["trained"]) != len(self.params):
                raise checkpoint.CheckpointError(f"{path}: its trained weights do not match the model")
            assign(self.params, state["trained"])
        if state["world"] != self.world:
            raise checkpoint.CheckpointError(
                f"{path} was written by {state['world']} processes; resume it with the same number (not {self.world})"
            )
        for key in (
            "step",
            "epoch",
            "batch_in_epoch",
            "best",
            "bad_evals",
            "lr_scale",
            "rollbacks",
            "elapsed",
            "last_eval",
            "last_save",
        ):
            setattr(self, key, state[key])
        self.schedule.load_state_dict(state["schedule"])
        self.carry = carry
        rng = base64.b64decode(state["rng"][self.rank])
        torch.set_rng_state(torch.frombuffer(bytearray(rng), dtype=torch.uint8))
