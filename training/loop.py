"""The one Accelerate-native training loop (one CPU to many GPUs, same code), for every objective.

What an objective supplies (data, model, loss module, parameter groups, saving, card facts) is the contract in
`training.objective`; the registered objectives are in `training.registry` (cross-encoder, bi-encoder,
image-text). Guarantees for all of them: `set_seed` before model init; preprocessing under `main_process_first`;
gradient accumulation and mixed precision through the Accelerator; `save_state` every `save_steps` optimizer
steps into `<run_dir>/checkpoints/step_<N>` (renamed into place only when complete); `resume="latest"` restores
model, optimizer, scheduler, RNG states, the step counter, training log and dev curve, then `skip_first_batches`
replays the exact data order; dynamic code-switching (`codeswitch:`) draws afresh every epoch; with `eval_steps`
rank 0 scores `eval_dataset` every N steps, after the last, and before the first with `eval_at_start`
(`training.dev_eval`); the final model, card and config are written by rank 0 after `wait_for_everyone`, then
pushed when `push_to_hub` is set.
Tests simulate preemption with the environment variable CSIR_TEST_KILL_AFTER_STEP (never a config field).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import re
import shutil
import signal
import time
from pathlib import Path

import yaml

from csir.atomic import atomic_dir
from csir.errors import CsirError, where
from csir.hardware import slow_bf16_reason

from .config import TrainConfig, non_default_fields, to_dict
from .publishing import check_publish, publish_model
from .registry import get_objective

log = logging.getLogger(__name__)

CKPT_RE = re.compile(r"^step_(\d+)$")
KILL_ENV = "CSIR_TEST_KILL_AFTER_STEP"


class TrainState:
    """Step counter, training log and dev curve, saved with every checkpoint (registered with the Accelerator)."""

    def __init__(self):
        self.step = 0
        self.log_history: list[dict] = []
        self.dev_curve: list[dict] = []

    def state_dict(self) -> dict:
        return {"step": self.step, "log_history": self.log_history, "dev_curve": self.dev_curve}

    def load_state_dict(self, state: dict) -> None:
        self.step = int(state["step"])
        self.log_history = list(state["log_history"])
        self.dev_curve = list(state.get("dev_curve", []))


@dataclasses.dataclass
class TrainResult:
    output_dir: Path
    steps: int
    num_processes: int
    final_loss: float | None
    pairs_per_second: float
    log_history: list[dict]
    published: dict | None = None


def list_checkpoints(run_dir: Path) -> list[tuple[int, Path]]:
    root = Path(run_dir) / "checkpoints"
    if not root.is_dir():
        return []
    out = [(int(m.group(1)), p) for p in root.iterdir() if (m := CKPT_RE.match(p.name)) and p.is_dir()]
    return sorted(out)


def resolve_resume(resume: str | None, run_dir: Path) -> Path | None:
    """`latest` -> newest complete checkpoint (None if there is none yet); a path -> that checkpoint."""
    if not resume:
        return None
    if resume == "latest":
        ckpts = list_checkpoints(run_dir)
        return ckpts[-1][1] if ckpts else None
    p = Path(resume)
    if not p.is_dir():
        raise CsirError(f"{where(resume)}: --resume-from-checkpoint: no such checkpoint directory")
    return p


def _dynamic_switcher(cfg: TrainConfig):
    """A `builders.codeswitch.CodeSwitcher` for on-the-fly switching, or None."""
    if cfg.codeswitch is None:
        return None
    from builders.codeswitch import CodeSwitchConfig, CodeSwitcher
    from builders.lexicons.store import load_lexicons

    cs = cfg.codeswitch
    try:
        lexicons = load_lexicons(dict(cs.lexicons))
    except CsirError:
        raise
    except Exception as exc:
        raise CsirError(f"{where('config', field='codeswitch.lexicons')}: cannot load lexicons: {exc}") from None
    switch_cfg = CodeSwitchConfig(variant=cs.variant, query_langs=list(cs.query_langs),
                                  passage_langs=list(cs.passage_langs), p=cs.p,
                                  seed=cfg.seed if cs.seed is None else cs.seed)
    return CodeSwitcher(switch_cfg, lexicons)


class DynamicSwitch:
    """`set_transform` applying `builders.codeswitch.CodeSwitcher` to every text column, a fresh draw per epoch.

    Queries use the switcher's query side, passages/positives/negatives its passage side; the randomness comes
    from (seed, example id, side, epoch), so resumption and sharding see the same texts.
    """

    def __init__(self, switcher, epoch: int = 0):
        self.switcher, self.epoch = switcher, epoch

    def __call__(self, batch: dict) -> dict:
        out = dict(batch)
        ids = batch["example_id"]
        for col, texts in batch.items():
            if col == "query":
                side, suffix = "query", ""
            elif col in ("passage", "positive") or col.startswith("negative_"):
                side, suffix = "passage", "" if col in ("passage", "positive") else f"#{col}"
            else:
                continue
            out[col] = [self.switcher.switch(t, f"{i}{suffix}", side, self.epoch)[0] for t, i in zip(texts, ids)]
        return out


def _set_dynamic_epoch(ds, switcher, epoch: int) -> None:
    """Fresh code-switching draw for this epoch (deterministic in seed, example id, side and epoch)."""
    ds.set_transform(DynamicSwitch(switcher, epoch))


def _hyperparameters(cfg: TrainConfig, accelerator, steps_per_epoch: int, max_steps: int) -> dict:
    return {
        "objective": cfg.objective,
        "seed": cfg.seed,
        "max_steps": max_steps,
        "per_device_batch_size": cfg.batch_size,
        "gradient_accumulation_steps": cfg.gradient_accumulation_steps,
        "num_processes": accelerator.num_processes,
        "total_batch_size": cfg.batch_size * cfg.gradient_accumulation_steps * accelerator.num_processes,
        "learning_rate": cfg.learning_rate,
        "lr_scheduler": cfg.lr_scheduler,
        "warmup_steps": cfg.effective_warmup_steps,
        "weight_decay": cfg.weight_decay,
        "max_grad_norm": cfg.max_grad_norm,
        "max_length": cfg.max_length,
        "mixed_precision": accelerator.mixed_precision,
        "distributed_type": getattr(accelerator.distributed_type, "value", str(accelerator.distributed_type)),
        "length_grouping": cfg.length_grouping,
        "steps_per_epoch": steps_per_epoch,
    }


def _has_accelerator_device() -> bool:
    import torch
    from accelerate.utils import is_mps_available, is_npu_available, is_xpu_available

    return torch.cuda.is_available() or is_xpu_available() or is_npu_available() or is_mps_available()


def train(cfg: TrainConfig, resume: str | None = None) -> TrainResult:
    """Run one training job of any registered objective; returns where the model went and the training log."""
    if int(os.environ.get("RANK", "0")) != 0:  # the global main process holds the run dir for everyone
        return _train(cfg, resume)
    with _locked_run_dir(cfg.effective_run_dir):
        return _train(cfg, resume)


def _train(cfg: TrainConfig, resume: str | None) -> TrainResult:
    import torch
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState
    from accelerate.utils import GradientAccumulationPlugin, ProjectConfiguration, set_seed
    from torch.utils.data import DataLoader
    from tqdm.auto import tqdm
    from transformers import get_scheduler

    from . import data as data_mod
    from .dev_eval import DevEvaluation

    objective = get_objective(cfg.objective)
    run_dir = cfg.effective_run_dir
    output_dir = Path(cfg.output_dir)
    # One process may train several configs (the reproduce driver trains a bf16 grid, then an fp32 one): accelerate
    # keeps the first run's mixed precision in a process-wide singleton and refuses any other ("AcceleratorState
    # has already been initialized"), so each run starts it afresh; PartialState (the process group) is kept.
    AcceleratorState._reset_state()
    on_cpu = cfg.cpu or not _has_accelerator_device()
    if cfg.mixed_precision == "fp16" and on_cpu:  # accelerate accepts it and silently trains in fp32
        raise CsirError(f"{where('config', field='mixed_precision')}: fp16 needs a GPU, and this run is on the CPU "
                        "(use mixed_precision: no or bf16)")
    try:
        accelerator = Accelerator(
            cpu=on_cpu,  # so `--multi_gpu` on a CPU-only host runs gloo DDP
            mixed_precision=cfg.mixed_precision,
            gradient_accumulation_plugin=GradientAccumulationPlugin(num_steps=cfg.gradient_accumulation_steps,
                                                                    sync_with_dataloader=False),
            log_with=cfg.tracker or None,
            project_config=ProjectConfiguration(project_dir=str(run_dir), logging_dir=str(run_dir / "logs")),
        )
    except ValueError as exc:  # a precision or device setting accelerate refuses
        raise CsirError(f"{where('config', field='mixed_precision')}: {exc} (use mixed_precision: no or bf16)") from None
    if accelerator.mixed_precision == "bf16" and (why := slow_bf16_reason(accelerator.device.type)):
        log.warning("%s: bf16 on %s: %s; `mixed_precision: no` trains faster here",
                    where("config", field="mixed_precision"), accelerator.device, why)
    resume_dir = resolve_resume(resume, run_dir)
    check_publish(cfg)  # a bad repo id / version fails now, not after hours of training
    dev = DevEvaluation(cfg, run_dir) if cfg.eval_steps and accelerator.is_main_process else None

    # --- data (validated before any model is built) ---
    with accelerator.main_process_first():
        examples, sources = objective.load_data(cfg)
    switcher = _dynamic_switcher(cfg)
    base_facts = objective.prepare_base(cfg, examples, accelerator)

    # --- model: seeded init ---
    set_seed(cfg.seed)
    model = objective.build_model(cfg, base_facts, accelerator.device)
    pad_multiple = 8 if accelerator.device.type == "cuda" else None
    data = objective.train_data(cfg, examples, model, pad_multiple, switcher)
    train_ds = data.dataset
    # text: length-grouped rows, or whole listwise groups (data.batch_sampler); image-text: random batches
    sampler = (data_mod.batch_sampler(data.lengths, cfg) if data.group_by_length else
               data_mod.LengthGroupedBatchSampler(data.lengths, cfg.batch_size, seed=cfg.seed, group=False))
    if len(sampler) == 0:
        raise CsirError(f"{where(cfg.data.path)}: {len(data.lengths)} examples are fewer than one batch "
                        f"(batch_size={cfg.batch_size})")
    loader = DataLoader(train_ds, batch_sampler=sampler, collate_fn=data.collate,
                        num_workers=cfg.dataloader_num_workers, generator=torch.Generator().manual_seed(cfg.seed))

    module = objective.loss_module(model, cfg)
    optimizer = torch.optim.AdamW(objective.param_groups(module, cfg), lr=cfg.learning_rate)
    loader = accelerator.prepare(loader)
    steps_per_epoch = max(1, len(loader) // cfg.gradient_accumulation_steps)
    max_steps = cfg.epochs * steps_per_epoch if cfg.epochs else cfg.max_steps
    warmup_steps = round(cfg.warmup_ratio * max_steps) if cfg.warmup_ratio is not None else cfg.warmup_steps
    scheduler = get_scheduler(cfg.lr_scheduler, optimizer, num_warmup_steps=warmup_steps,
                              num_training_steps=max_steps)
    module, optimizer = accelerator.prepare(module, optimizer)
    state = TrainState()
    # the scheduler is stepped once per optimizer step by us (not once per process by accelerate)
    accelerator.register_for_checkpointing(scheduler, state)

    if resume_dir is not None:
        accelerator.load_state(str(resume_dir))
        log.info("resumed from %s at step %d", resume_dir, state.step)
    elif resume == "latest":
        log.info("no checkpoint in %s yet: starting from step 0", run_dir / "checkpoints")

    hparams = _hyperparameters(cfg, accelerator, steps_per_epoch, max_steps)
    if cfg.tracker:
        accelerator.init_trackers("csir-train", config={k: v for k, v in hparams.items()
                                                        if isinstance(v, (int, float, str, bool))})

    def dev_point() -> None:
        """Rank 0 scores the dev set at this step (the others wait at the barrier); the curve gains a point."""
        if dev is not None:
            core = accelerator.unwrap_model(module).model
            core.eval()  # no dropout while scoring; back to train mode right after
            scores = dev.evaluate(objective.eval_model(core, cfg), state.step)
            module.train()
            state.dev_curve.append({"step": state.step, "metrics": scores})
            dev.write_curve(state.dev_curve)
            accelerator.log({f"dev/{k}": v for k, v in scores.items()}, step=state.step)
        accelerator.wait_for_everyone()

    if cfg.eval_steps and cfg.eval_at_start and state.step == 0:
        dev_point()  # the starting point (base model, or a fresh head) the curve must leave

    micro_done = state.step * cfg.gradient_accumulation_steps
    epoch, skip = divmod(micro_done, len(loader))
    progress = tqdm(total=max_steps, initial=state.step, desc=f"train {cfg.objective}",
                    disable=not accelerator.is_local_main_process)
    module.train()
    window_loss, window_n = torch.zeros((), device=accelerator.device), 0
    pairs_seen, t0 = 0, time.perf_counter()
    kill_after = _test_kill_step()
    while state.step < max_steps:
        sampler.set_epoch(epoch)
        if switcher is not None:
            _set_dynamic_epoch(train_ds, switcher, epoch)
        epoch_loader = accelerator.skip_first_batches(loader, skip) if skip else loader
        epoch_loader.set_epoch(epoch)  # DataLoaderShard re-applies its own counter to the sampler on __iter__
        for batch in epoch_loader:
            with accelerator.accumulate(module):
                loss = module(**batch)
                accelerator.backward(loss)
                if accelerator.sync_gradients and cfg.max_grad_norm > 0:
                    accelerator.clip_grad_norm_(module.parameters(), cfg.max_grad_norm)
                optimizer.step()
                if accelerator.sync_gradients:
                    scheduler.step()
                optimizer.zero_grad()
            window_loss += loss.detach().float()
            window_n += 1
            pairs_seen += cfg.batch_size
            if not accelerator.sync_gradients:
                continue
            state.step += 1
            progress.update(1)
            if state.step % cfg.logging_steps == 0 or state.step == max_steps:
                mean_loss = (accelerator.reduce(window_loss, reduction="mean") / max(window_n, 1)).item()
                lr = scheduler.get_last_lr()[0]
                entry = {"step": state.step, "epoch": round(state.step / steps_per_epoch, 4),
                         "loss": round(mean_loss, 6), "learning_rate": lr}
                state.log_history.append(entry)
                accelerator.log({"train/loss": mean_loss, "train/learning_rate": lr}, step=state.step)
                progress.set_postfix(loss=f"{mean_loss:.4f}")
                window_loss.zero_()
                window_n = 0
            if cfg.eval_steps and (state.step % cfg.eval_steps == 0 or state.step == max_steps):
                dev_point()
            if state.step % cfg.save_steps == 0 and state.step < max_steps:
                _save_checkpoint(accelerator, run_dir, state.step, cfg.save_total_limit)
            if kill_after is not None and state.step == kill_after:
                accelerator.wait_for_everyone()
                os.kill(os.getpid(), signal.SIGKILL)  # simulated preemption (tests)
            if state.step >= max_steps:
                break
        epoch += 1
        skip = 0
    progress.close()
    elapsed = time.perf_counter() - t0
    pairs_per_second = pairs_seen * accelerator.num_processes / elapsed if elapsed > 0 else 0.0

    accelerator.wait_for_everyone()
    published = None
    if accelerator.is_main_process:
        final = accelerator.unwrap_model(module).model
        _write_final(objective, final, cfg, output_dir, sources, base_facts, hparams, state, dev)
        if cfg.push_to_hub:
            published = publish_model(cfg, output_dir)
    accelerator.wait_for_everyone()
    accelerator.end_training()
    if dev is not None:
        dev.close()
    final_loss = state.log_history[-1]["loss"] if state.log_history else None
    return TrainResult(output_dir=output_dir, steps=state.step, num_processes=accelerator.num_processes,
                       final_loss=final_loss, pairs_per_second=pairs_per_second,
                       log_history=list(state.log_history), published=published)


def _test_kill_step() -> int | None:
    """Tests simulate preemption with CSIR_TEST_KILL_AFTER_STEP=N (SIGKILL after optimizer step N)."""
    value = os.environ.get(KILL_ENV)
    return int(value) if value else None


@contextlib.contextmanager
def _locked_run_dir(run_dir: Path):
    """Hold `<run_dir>/.lock` for the whole run (released by the OS even on SIGKILL).

    One training per run dir: a second one would interleave checkpoints. Holding the lock also proves that any
    `checkpoints/.tmp-step_*` folder is a killed run's half-written checkpoint, so it is removed here."""
    import fcntl

    created = not run_dir.exists()
    run_dir.mkdir(parents=True, exist_ok=True)
    handle = open(run_dir / ".lock", "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise CsirError(f"{where(str(run_dir))}: another training is using this run directory (its .lock is "
                        "held); wait for it or set a different output_dir/run_dir") from None
    root = run_dir / "checkpoints"
    for stale in sorted(root.glob(".tmp-step_*")) if root.is_dir() else []:
        log.info("removing %s, a checkpoint a killed run did not finish", stale)
        shutil.rmtree(stale, ignore_errors=True)
    try:
        yield
    except BaseException:
        if created and [p.name for p in run_dir.iterdir()] == [".lock"]:  # failed before writing anything
            shutil.rmtree(run_dir, ignore_errors=True)
        raise
    finally:
        handle.close()


def _save_checkpoint(accelerator, run_dir: Path, step: int, total_limit: int | None) -> None:
    """save_state into a temp folder, renamed to step_<N> once every process has written its part."""
    root = run_dir / "checkpoints"
    tmp = root / f".tmp-step_{step}"
    final = root / f"step_{step}"
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True, exist_ok=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        if total_limit:
            for _, old in list_checkpoints(run_dir)[:-total_limit]:
                shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()


def _load_eval_results(cfg: TrainConfig) -> list[dict]:
    if not cfg.eval_results:
        return []
    p = Path(cfg.eval_results)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise CsirError(f"{where(p, field='eval_results')}: cannot read evaluation results: {exc}") from None
    if not isinstance(data, list):
        raise CsirError(f"{where(p)}: expected a JSON list of evaluation results")
    return data


def _write_final(objective, model, cfg: TrainConfig, output_dir: Path, sources, base_facts, hparams, state,
                 dev) -> None:
    """Final model + README card + training config + log (+ dev curve plot), written atomically."""
    from builders.repo_writer import library_versions
    from model_cards.model_card import render_model_card
    from model_cards.provenance import publishable_config  # Hub ids, not this machine's paths

    cs = dataclasses.asdict(cfg.codeswitch) if cfg.codeswitch else None
    info = {
        "model_name": cfg.model_name or output_dir.name,
        "objective": cfg.objective,
        "datasets": [dataclasses.asdict(s) for s in sources],
        "language": cfg.language,
        "license": cfg.license,
        "codeswitch": cs,
        "hyperparameters": {**hparams, "steps_trained": state.step},
        "non_default": non_default_fields(cfg),
        "log_history": state.log_history,
        "versions": library_versions(),
        "eval_results": _load_eval_results(cfg),
        "repo_id": cfg.push_to_hub,
        "version": cfg.version,
        "local_path": str(output_dir),  # the Usage snippet until published (`csir publish` pins the Hub id)
        **objective.card_info(cfg, base_facts),
    }
    with atomic_dir(output_dir) as tmp:
        objective.save(model, cfg, tmp)
        if dev is not None and state.dev_curve:
            info["dev_curve"] = dev.card_section(state.dev_curve, tmp)
            info["eval_results"] = info["eval_results"] + dev.eval_results(state.dev_curve[-1], cfg.objective)
        (tmp / "README.md").write_text(render_model_card(info), encoding="utf-8")
        (tmp / "training_config.yaml").write_text(yaml.safe_dump(publishable_config(to_dict(cfg)), sort_keys=False), encoding="utf-8")
        trainer_state = {"global_step": state.step, "hyperparameters": hparams, "log_history": state.log_history}
        if state.dev_curve:
            trainer_state["dev_curve"] = state.dev_curve
        (tmp / "trainer_state.json").write_text(json.dumps(trainer_state, indent=2), encoding="utf-8")
