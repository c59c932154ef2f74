"""The packaged default model is assembled safely when several processes start at once."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Protocol

from serving.model_files import DEFAULT_MODEL_SHA256, default_model_path, sha256_file


class _Signal(Protocol):
    def wait(self, timeout: float | None = None) -> bool: ...


def _assemble(data_dir: str, start: _Signal) -> str:
    start.wait(30)
    return str(default_model_path(Path(data_dir)))


def test_processes_assembling_together_all_get_the_checked_model(tmp_path: Path) -> None:
    """Two bot replicas on one fresh volume: both start, neither fails, and the file is whole."""
    spawn = multiprocessing.get_context("spawn")
    with spawn.Manager() as manager, ProcessPoolExecutor(3, mp_context=spawn) as pool:
        start = manager.Event()
        futures = [pool.submit(_assemble, str(tmp_path), start) for _ in range(3)]
        start.set()
        paths = {f.result(timeout=300) for f in futures}
    assert len(paths) == 1
    model = Path(paths.pop())
    assert sha256_file(model) == DEFAULT_MODEL_SHA256
    assert oct(model.stat().st_mode & 0o777) == oct(0o644)
    assert list(model.parent.glob("*.partial")) == []
