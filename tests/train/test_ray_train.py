"""USE_RAY=1: the ray_* keys become Ray Train's arguments, bad values are refused before Ray starts, worker
failures become one clear error, and `tunefactory train` takes the Ray path (over torchrun). No Ray cluster here."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from tunefactory.config import parse_dict
from tunefactory.errors import ConfigError, TuneFactoryError
from tunefactory.train import ray_train

REPO_ROOT = Path(__file__).resolve().parents[2]


def ray_config(**overrides):
    return parse_dict({"model_name_or_path": "/nowhere/model", "stage": "sft", "do_train": True,
                       "dataset": "alpaca_demo", "dataset_dir": str(REPO_ROOT / "data"), "template": "qwen",
                       "output_dir": "saves/run", "report_to": "none", **overrides})


def test_the_ray_keys_become_scaling_and_run_arguments(tmp_path):
    config = ray_config(ray_num_workers=4, resources_per_worker={"GPU": 1, "CPU": 8}, placement_strategy="SPREAD",
                        ray_run_name="llama3_sft", ray_storage_path=str(tmp_path / "ray"),
                        ray_init_kwargs={"address": "auto", "runtime_env": {"env_vars": {"A": "1"}}})
    assert ray_train.scaling_arguments(config.training) == {
        "num_workers": 4, "resources_per_worker": {"GPU": 1, "CPU": 8}, "use_gpu": True,
        "placement_strategy": "SPREAD"}
    assert ray_train.run_arguments(config.training) == {
        "name": "llama3_sft", "storage_path": str(tmp_path / "ray"), "storage_filesystem": None}
    assert ray_train.ray_init_arguments(config.training) == {"address": "auto",
                                                             "runtime_env": {"env_vars": {"A": "1"}}}


def test_defaults_follow_llamafactory_one_gpu_worker_and_a_local_storage_path():
    training = ray_config().training
    assert ray_train.scaling_arguments(training) == {"num_workers": 1, "resources_per_worker": {"GPU": 1},
                                                     "use_gpu": True, "placement_strategy": "PACK"}
    run = ray_train.run_arguments(training)
    assert run == {"name": None, "storage_path": os.path.abspath("saves"), "storage_filesystem": None}
    assert ray_train.ray_init_arguments(training) == {}  # plain ray.init(): RAY_ADDRESS, a running cluster or a new one


def test_json_strings_and_cpu_workers():
    training = ray_config(use_cpu=True, ray_num_workers=2, resources_per_worker='{"CPU": 2, "GPU": 0}',
                          ray_init_kwargs='{"num_cpus": 4}').training
    assert ray_train.scaling_arguments(training)["resources_per_worker"] == {"CPU": 2}  # Ray refuses GPU: 0
    assert ray_train.scaling_arguments(training)["use_gpu"] is False
    assert ray_train.ray_init_arguments(training) == {"num_cpus": 4}


def test_remote_storage_paths_stay_as_written():
    s3 = ray_config(ray_storage_path="my-bucket/runs", ray_storage_filesystem="s3").training
    assert ray_train.run_arguments(s3) == {"name": None, "storage_path": "my-bucket/runs", "storage_filesystem": "s3"}
    uri = ray_config(ray_storage_path="gs://bucket/runs").training
    assert ray_train.run_arguments(uri)["storage_path"] == "gs://bucket/runs"
    assert ray_train.storage_filesystem(None) is None


def test_the_workers_get_the_same_config_and_the_drivers_folder():
    config = ray_config(use_cpu=True, finetuning_type="lora", lora_target="all", learning_rate=1e-4,
                        resources_per_worker={"CPU": 1}, ray_num_workers=2)
    sent = ray_train.worker_config(config)
    assert sent["working_dir"] == os.getcwd()
    assert sent["config"]["ray_num_workers"] == 2 and sent["config"]["lora_target"] == ["all"]
    again = parse_dict(sent["config"], source=ray_train.WORKER_CONFIG_SOURCE)
    for group in ("model", "data", "finetuning", "training"):
        assert getattr(again, group) == getattr(config, group), group


def test_bad_ray_keys_are_all_reported_before_ray_starts():
    config = ray_config(ray_num_workers=0, resources_per_worker="GPU=1", ray_init_kwargs="address=auto")
    with pytest.raises(ConfigError) as info:
        ray_train.check_ray_config(config)
    problems = info.value.problems
    assert len(problems) == 3, problems
    assert problems[0].startswith("ray_num_workers: 0 must be 1 or more")
    assert problems[1].startswith("resources_per_worker: 'GPU=1' must be a mapping or a JSON object string")
    assert problems[2].startswith("ray_init_kwargs: 'address=auto' must be a mapping")


@pytest.mark.parametrize("resources", [{"GPU": "one"}, {"CPU": True}, {"GPU": -1}, {}])
def test_resources_must_be_amounts(resources):
    problems = ray_train.ray_config_problems(ray_config(resources_per_worker=resources).training)
    assert len(problems) == 1 and "must map resource names to amounts" in problems[0]


def test_gpu_workers_with_use_cpu_are_refused():
    problems = ray_train.ray_config_problems(ray_config(use_cpu=True).training)  # the default asks for a GPU
    assert problems == ["resources_per_worker: {'GPU': 1} asks for GPUs but use_cpu is true; set "
                        'resources_per_worker: {"CPU": 1} to train on CPUs, or drop use_cpu']


def test_without_ray_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError, as when it is not installed
    monkeypatch.setitem(sys.modules, "ray.train", None)
    with pytest.raises(ConfigError, match=r"pip install 'tunefactory\[ray\]'"):
        ray_train.check_ray_config(ray_config())


def test_a_cluster_too_small_is_refused_instead_of_waiting():
    training = ray_config(ray_num_workers=4, resources_per_worker={"GPU": 1, "CPU": 2}).training
    with pytest.raises(TuneFactoryError, match=r"it needs 4 GPU \(ray_num_workers 4 x 1\); it has 2\. Lower"):
        ray_train.check_cluster_resources(training, {"CPU": 16.0, "GPU": 2.0})
    ray_train.check_cluster_resources(training, {"CPU": 8.0, "GPU": 4.0})


def test_a_worker_error_the_user_can_act_on_wins_over_lost_peers():
    failure = SimpleNamespace(worker_failures={1: RuntimeError("Connection closed by peer"),
                                               0: TuneFactoryError("training loss became nan at step 2")})
    assert ray_train.describe_failure(failure) == "training loss became nan at step 2 (Ray worker 0)"
    crash = SimpleNamespace(worker_failures={1: ValueError("boom"), 0: RuntimeError("Connection closed")})
    assert ray_train.describe_failure(crash).splitlines() == [
        "a Ray Train worker failed (its traceback is in the log above):",
        "  rank 0: RuntimeError: Connection closed", "  rank 1: ValueError: boom"]


def test_fit_turns_a_ray_training_failure_into_a_tunefactory_error():
    train = pytest.importorskip("ray.train", reason="ray[train] is not installed")

    class FailingTrainer:
        def fit(self):
            raise train.WorkerGroupError("rank 0 failed", {0: ValueError("bad row")})

    with pytest.raises(TuneFactoryError, match=r"rank 0: ValueError: bad row"):
        ray_train.fit(FailingTrainer())


# --- `tunefactory train` takes the Ray path --------------------------------------------------------------------------

@pytest.fixture
def launched(monkeypatch, write_yaml):
    """Run `tunefactory train` with the Ray and torchrun starters replaced; return what was called."""
    from tunefactory import commands, launch

    calls = []
    monkeypatch.setattr(ray_train, "run_train_on_ray", lambda config: calls.append(("ray", config)))
    monkeypatch.setattr(launch, "relaunch_with_torchrun", lambda argv: calls.append(("torchrun", argv)) or 0)
    monkeypatch.setattr(launch, "visible_gpus", lambda: 0)
    path = write_yaml({"model_name_or_path": "/nowhere/model", "stage": "sft", "do_train": True,
                       "dataset": "alpaca_demo", "dataset_dir": str(REPO_ROOT / "data"), "template": "qwen",
                       "output_dir": "out", "use_cpu": True, "ray_num_workers": 2, "resources_per_worker": {"CPU": 1}})

    def run(**environ):
        for name in ("USE_RAY", "FORCE_TORCHRUN", "LOCAL_RANK", "WORLD_SIZE"):
            monkeypatch.delenv(name, raising=False)
        for name, value in environ.items():
            monkeypatch.setenv(name, value)
        calls.clear()
        assert commands.train([str(path)]) == 0
        return calls

    return run


def test_use_ray_runs_on_ray_and_wins_over_force_torchrun(launched):
    calls = launched(USE_RAY="1", FORCE_TORCHRUN="1")
    assert [kind for kind, _ in calls] == ["ray"]
    assert calls[0][1].training.ray_num_workers == 2
    assert [kind for kind, _ in launched(FORCE_TORCHRUN="1")] == ["torchrun"]
