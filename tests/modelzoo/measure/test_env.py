"""modelzoo.measure.env: the facts every run record carries about where it ran."""

import os

import torch

from modelzoo.measure import env


def test_capture_names_the_cpu_and_the_vector_isa_torch_uses():
    facts = env.capture("cpu")
    assert facts["cpu"] and facts["cpu_count"] >= 1
    # what the CPU kernels ran with, not what the CPU name suggests
    assert facts["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert facts["torch"] == torch.__version__
    assert facts["gpu"] is None and facts["gpu_count"] == 0


def test_extra_facts_never_overwrite_captured_ones():
    facts = env.capture("cpu", extra={"cpu": "made up", "plugin_versions": {"facenet": "1"}})
    assert facts["cpu"] != "made up"
    assert facts["plugin_versions"] == {"facenet": "1"}


def test_capture_records_the_cpu_threads_and_the_omp_wait_policy(monkeypatch):
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    facts = env.capture("cpu")
    assert facts["cpu_threads"] == torch.get_num_threads()
    assert facts["omp_wait_policy"] == "PASSIVE"


def test_a_slurm_job_puts_its_id_partition_and_nodes_into_env(monkeypatch):
    for key in [k for k in os.environ if k.startswith("SLURM_")]:
        monkeypatch.delenv(key)
    assert "slurm" not in env.capture("cpu")  # outside a job: no such section
    for key, value in {"SLURM_JOB_ID": "41", "SLURM_JOB_NAME": "mz.r.toy", "SLURM_JOB_PARTITION": "gpu",
                       "SLURM_JOB_NODELIST": "node[1-2]", "SLURM_JOB_NUM_NODES": "2",
                       "SLURM_CLUSTER_NAME": "c"}.items():
        monkeypatch.setenv(key, value)
    assert env.capture("cpu")["slurm"] == {"job_id": "41", "job_name": "mz.r.toy", "partition": "gpu",
                                           "nodes": "node[1-2]", "num_nodes": 2, "cluster": "c"}
