"""Sweeps on existing engines: Hydra's submitit launcher (local executor here, SLURM on clusters)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_slurm_launcher_config_composes_with_submitit():
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=["hydra/launcher=slurm"], return_hydra_config=True)
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("submitit_launcher.SlurmLauncher")
    assert launcher.gpus_per_node == 1 and launcher.name == "stancebench"


@pytest.mark.slow
def test_submitit_local_executor_runs_a_sweep_into_one_store(tmp_path):
    import mlflow

    env = dict(os.environ, MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path}/mlflow.db")
    proc = subprocess.run(
        [sys.executable, "-m", "stancebench", "train", "-m", "hydra/launcher=submitit_local", "seed=1,2",
         f"tracking.artifact_location={tmp_path}/mlruns", "eval.bootstrap_resamples=50",
         f"hydra.sweep.dir={tmp_path}/sweep"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("stancebench").experiment_id])
    assert sorted(r.data.tags["seed"] for r in runs) == ["1", "2"]
    assert {r.info.status for r in runs} == {"FINISHED"}
    assert len({r.data.tags["sweep"] for r in runs}) == 1
    assert (tmp_path / "sweep" / ".submitit").is_dir()  # submitit, not the basic launcher, ran the jobs
