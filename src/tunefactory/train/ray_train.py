"""`USE_RAY=1 tunefactory train`: the same run on Ray Train workers, with LLaMA-Factory's ``ray_*`` keys.

The driver (the `tunefactory train` process):

1. checks the Ray keys before anything starts: ``ray_num_workers`` >= 1, ``resources_per_worker`` a mapping of
   numbers (no GPU with ``use_cpu: true``), ``ray_init_kwargs`` a mapping, ray installed;
2. joins or starts a Ray cluster with ``ray.init(**ray_init_kwargs)`` (plain ``ray.init()`` when unset: RAY_ADDRESS,
   a running local cluster, or a new one) and checks it has the resources the workers ask for, so a run that cannot
   be placed fails instead of waiting forever;
3. starts a ``TorchTrainer`` with ``ray_num_workers`` workers, ``resources_per_worker`` each (``use_gpu`` when they
   ask for a GPU), ``placement_strategy``, and a ``RunConfig`` named ``ray_run_name`` under ``ray_storage_path``
   (made absolute when local; on ``ray_storage_filesystem`` s3/gs when set).

Ray sets up the torch process group (gloo on CPU, nccl on GPU) and the torchrun variables (RANK, WORLD_SIZE,
LOCAL_RANK, ...). Each worker moves to the driver's working folder, parses the same config (sent as a mapping, so no
config file needs to exist on the workers' nodes) and calls `run_train`; the transformers Trainer then trains with
DDP across the workers, all writing to the one ``output_dir`` (only rank 0 writes logs, plots and weights).
A failure in any worker ends the run with its message (exit code 1).

Ray's own result folder (``ray_storage_path/ray_run_name``) holds Ray's run state only: weights and checkpoints go to
``output_dir`` as in any run. ``master_addr``/``master_port`` (LLaMA-Factory's ray.remote mode) are not used:
Ray Train picks the rank-0 address and port itself.
"""

from __future__ import annotations

import json
import logging
import os
from numbers import Real

from ..errors import ConfigError, TuneFactoryError
from .outputs import checkpoint_to_resume

logger = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'tunefactory[ray]'"
WORKER_CONFIG_SOURCE = "the config sent to the Ray workers"


def run_train_on_ray(config) -> None:
    """Train `config` on ``ray_num_workers`` Ray Train workers; raises TuneFactoryError when a worker fails."""
    check_ray_config(config)
    checkpoint_to_resume(config.training)  # a non-empty output_dir is refused here, before the workers start
    import ray

    started_here = not ray.is_initialized()
    if started_here:
        ray.init(**ray_init_arguments(config.training))
    try:
        check_cluster_resources(config.training, ray.cluster_resources())
        trainer = build_trainer(config)
        logger.info("starting %d Ray Train worker(s), each with %s", config.training.ray_num_workers,
                    resources_per_worker(config.training))
        fit(trainer)
    finally:
        if started_here:
            ray.shutdown()


# --- 1. checks, before anything starts ------------------------------------------------------------------------------

def check_ray_config(config) -> None:
    problems = ray_problems(config)
    if problems:
        raise ConfigError(problems)
    for key in ("master_addr", "master_port"):
        if getattr(config.training, key) is not None:
            logger.warning("%s is not used with USE_RAY=1: Ray Train chooses the rank-0 address and port", key)


def ray_problems(config) -> list[str]:
    """What stops a USE_RAY=1 launch before Ray starts (`validate` reports these too)."""
    problems = ray_config_problems(config.training)
    try:
        import ray.train  # noqa: F401
    except ImportError as exc:
        problems.append(f"USE_RAY=1 needs Ray Train, which is not installed ({exc}): {INSTALL_HINT}")
    return problems


def ray_config_problems(training) -> list[str]:
    """Every problem with the Ray keys (empty when they are usable)."""
    problems = []
    if not isinstance(training.ray_num_workers, int) or training.ray_num_workers < 1:
        problems.append(f"ray_num_workers: {training.ray_num_workers!r} must be 1 or more (the number of workers)")
    resources, problem = _mapping(training.resources_per_worker, "resources_per_worker", '{"GPU": 1}')
    if problem:
        problems.append(problem)
    else:
        bad = {name: amount for name, amount in resources.items()
               if not isinstance(amount, Real) or isinstance(amount, bool) or amount < 0}
        if bad or not resources:
            problems.append(f"resources_per_worker: {resources!r} must map resource names to amounts (numbers >= 0), "
                            'e.g. {"GPU": 1} or {"CPU": 4}')
        elif training.use_cpu and resources.get("GPU", 0) > 0:
            problems.append(f"resources_per_worker: {resources!r} asks for GPUs but use_cpu is true; "
                            'set resources_per_worker: {"CPU": 1} to train on CPUs, or drop use_cpu')
    if training.ray_init_kwargs is not None:
        problems.append(_mapping(training.ray_init_kwargs, "ray_init_kwargs", '{"address": "auto"}')[1])
    return [problem for problem in problems if problem]


def _mapping(value, key: str, example: str) -> tuple[dict, str | None]:
    """A mapping-valued key as a dict (YAML mapping or JSON object string), or the problem with it."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            pass
    if isinstance(value, dict):
        return value, None
    return {}, f"{key}: {value!r} must be a mapping or a JSON object string, e.g. {example}"


def check_cluster_resources(training, available: dict) -> None:
    """Refuse a run whose workers the cluster cannot hold (Ray would otherwise wait for them forever)."""
    short = []
    for name, amount in resources_per_worker(training).items():
        needed = amount * training.ray_num_workers
        if available.get(name, 0) < needed:
            short.append(f"{needed:g} {name} (ray_num_workers {training.ray_num_workers} x {amount:g}); "
                         f"it has {available.get(name, 0):g}")
    if short:
        raise TuneFactoryError("the Ray cluster is too small for this run: it needs " + ", ".join(short)
                               + ". Lower ray_num_workers or resources_per_worker, or add nodes to the cluster "
                               "(ray_init_kwargs chooses the cluster, e.g. {\"address\": \"auto\"})")


# --- 2. the config → Ray arguments -----------------------------------------------------------------------------------

def resources_per_worker(training) -> dict:
    resources = _mapping(training.resources_per_worker, "resources_per_worker", "")[0]
    return {name: amount for name, amount in resources.items() if amount}  # Ray refuses "GPU": 0 without use_gpu


def ray_init_arguments(training) -> dict:
    if training.ray_init_kwargs is None:
        return {}
    return _mapping(training.ray_init_kwargs, "ray_init_kwargs", "")[0]


def scaling_arguments(training) -> dict:
    """Keyword arguments of ``ray.train.ScalingConfig``."""
    resources = resources_per_worker(training)
    return {"num_workers": training.ray_num_workers, "resources_per_worker": resources,
            "use_gpu": resources.get("GPU", 0) > 0, "placement_strategy": training.placement_strategy}


def run_arguments(training) -> dict:
    """Keyword arguments of ``ray.train.RunConfig``; ``storage_filesystem`` is still a name (`storage_filesystem`
    turns it into a pyarrow filesystem when the trainer is built)."""
    path = training.ray_storage_path
    if training.ray_storage_filesystem is None and "://" not in path:
        path = os.path.abspath(os.path.expanduser(path))  # Ray needs an absolute local path
    return {"name": training.ray_run_name, "storage_path": path,
            "storage_filesystem": training.ray_storage_filesystem}


def storage_filesystem(name: str | None):
    """The pyarrow filesystem for ``ray_storage_filesystem``."""
    if name is None:
        return None
    from pyarrow import fs

    return fs.S3FileSystem() if name == "s3" else fs.GcsFileSystem()


def worker_config(config) -> dict:
    """What each worker needs to run the same training: the resolved keys the user set, and where paths start."""
    from ..config.parser import chosen_values

    keys = {key: value for group in chosen_values(config).values() for key, value in group.items()}
    return {"config": keys, "working_dir": os.getcwd()}


def build_trainer(config):
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    run = run_arguments(config.training)
    run["storage_filesystem"] = storage_filesystem(run["storage_filesystem"])
    return TorchTrainer(train_worker, train_loop_config=worker_config(config),
                        scaling_config=ScalingConfig(**scaling_arguments(config.training)),
                        run_config=RunConfig(**run))


# --- 3. the run ------------------------------------------------------------------------------------------------------

def fit(trainer) -> None:
    from ray.train import TrainingFailedError

    try:
        trainer.fit()
    except TrainingFailedError as exc:
        raise TuneFactoryError(describe_failure(exc)) from exc


def describe_failure(exc) -> str:
    """The workers' own errors; a TuneFactoryError (the user can act on it) wins over the others' lost peers."""
    failures = dict(sorted(getattr(exc, "worker_failures", {}).items()))
    if not failures:
        return f"Ray Train failed: {exc}"
    ours = [(rank, error) for rank, error in failures.items() if isinstance(error, TuneFactoryError)]
    if ours:
        rank, error = ours[0]
        return f"{error} (Ray worker {rank})"
    lines = [f"rank {rank}: {type(error).__name__}: {error}" for rank, error in failures.items()]
    return "a Ray Train worker failed (its traceback is in the log above):\n  " + "\n  ".join(lines)


def train_worker(loop_config: dict) -> None:
    """One Ray Train worker: parse the driver's config and run the stage, in the driver's working folder."""
    import torch.distributed as torch_distributed

    from ..config import parse_dict
    from .run import run_train

    logging.basicConfig(level=logging.INFO, format="[%(levelname)s|%(name)s] %(message)s")
    # Ray starts workers in its session folder; relative paths in the config (output_dir, dataset_dir) mean the
    # driver's folder, which exists on the driver's node (and on others with a shared filesystem).
    if os.path.isdir(loop_config["working_dir"]):
        os.chdir(loop_config["working_dir"])
    logger.info("Ray Train worker %d of %d (torch.distributed %s)", torch_distributed.get_rank(),
                torch_distributed.get_world_size(), torch_distributed.get_backend())
    try:
        run_train(parse_dict(loop_config["config"], source=WORKER_CONFIG_SOURCE))
    except TuneFactoryError as exc:
        # Ray sends the error back pickled; a plain TuneFactoryError keeps its message exactly (ConfigError would not).
        raise TuneFactoryError(str(exc)) from None
