"""Starting and stopping the local OpenAI-compatible server (llama.cpp) for the embedded default.

A subprocess, not an in-process model, so that Bron's code path is exactly the one used against vLLM
(HTTP + the `openai` client), and a crash in native code cannot take the bot down with it.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from serving.errors import LLMStartError
from serving.settings import ServingSettings


def _die_with_parent() -> None:
    """Linux: the server gets SIGTERM when Bron dies, even by SIGKILL, so no orphan keeps its memory."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalLLMServer:
    """`with LocalLLMServer(...) as server:` yields a running server; leaving the block stops it."""

    def __init__(
        self,
        model_path: Path,
        *,
        alias: str,
        threads: int,
        context_tokens: int,
        port: int,
        start_timeout_s: float,
    ) -> None:
        self.model_path = model_path
        self.alias = alias
        self.threads = threads
        self.context_tokens = context_tokens
        self.port = port or _free_port()
        self.start_timeout_s = start_timeout_s
        self._proc: subprocess.Popen[bytes] | None = None
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the server

    @classmethod
    def from_settings(
        cls, model_path: Path, settings: ServingSettings | None = None, **overrides: Any
    ) -> LocalLLMServer:
        """The server the settings describe (the defaults where None), serving `model_path`."""
        s = settings or ServingSettings()
        kwargs: dict[str, Any] = {
            "alias": s.model,
            "threads": s.local.threads,
            "context_tokens": s.local.context_tokens,
            "port": s.local.port,
            "start_timeout_s": s.local.start_timeout_s,
        }
        return cls(model_path, **(kwargs | overrides))

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> None:
        if not self.model_path.exists():
            raise LLMStartError(
                f"the LLM model file {self.model_path} does not exist; "
                "fix BRON_SERVING__LOCAL__MODEL_PATH or reinstall"
            )
        try:
            import llama_cpp  # noqa: F401
        except ImportError as exc:
            raise LLMStartError(
                "the local LLM server (llama-cpp-python) is not installed; run the README's install command, "
                "or set BRON_SERVING__LLM_BASE_URL to a running vLLM/OpenAI-compatible server"
            ) from exc
        cmd = [
            sys.executable, "-m", "llama_cpp.server",
            "--model", str(self.model_path),
            "--model_alias", self.alias,
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--n_threads", str(self.threads),
            "--n_ctx", str(self.context_tokens),
        ]  # fmt: skip
        self._proc = subprocess.Popen(
            cmd,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise LLMStartError(
                    f"the local LLM server exited with code {self._proc.returncode} while starting:\n{self.log_tail()}"
                )
            try:
                if httpx.get(f"{self.base_url}/models", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        self.stop()
        raise LLMStartError(
            f"the local LLM server did not answer within {self.start_timeout_s:.0f} s; "
            f"raise BRON_SERVING__LOCAL__START_TIMEOUT_S or check the log:\n{self.log_tail()}"
        )

    def log_tail(self, lines: int = 15) -> str:
        self._log.seek(0)
        text = self._log.read().decode("utf-8", "replace")
        return "\n".join(text.strip().splitlines()[-lines:])

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None

    def __enter__(self) -> LocalLLMServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
