"""Start the `noida-db` Elasticsearch emulator for a test session, and stop it afterwards.

noida-db (a dev dependency) emulates the Elasticsearch 8.15 REST API and starts in milliseconds, so the
Elasticsearch backend's requests and response handling run end to end without a cluster. It is not
Elasticsearch: use it for behaviour, never for relevance figures or timings.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path


def noida_binary() -> Path:
    """The server binary inside the `noida_db` package, else the `noida-db` console script.

    The console script only runs the binary as a child process; starting the binary itself lets
    teardown stop and reap the server directly.
    """
    try:
        packaged = Path(str(resources.files("noida_db").joinpath("noida-db")))
    except ModuleNotFoundError:
        packaged = None
    if packaged is not None and packaged.is_file() and os.access(packaged, os.X_OK):
        return packaged
    found = shutil.which(
        "noida-db", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    )
    if found is None:
        raise RuntimeError("noida-db is not installed; run `pip install -e '.[dev]'`")
    return Path(found)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as resp:
            return int(resp.status) == 200
    except (urllib.error.URLError, OSError):
        return False


@contextmanager
def running_noida(data_dir: Path, *, timeout_s: float = 20.0, attempts: int = 3) -> Iterator[str]:
    """Yield the base URL of a fresh emulator with its data in `data_dir`; terminate it on exit.

    A port chosen free can be taken before the server binds it, so a start that dies is retried.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / "noida.log"
    for _ in range(attempts):
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        with log_path.open("ab") as log:
            proc = subprocess.Popen(
                [
                    str(noida_binary()),
                    "start",
                    "--host",
                    "127.0.0.1",
                    "--only",
                    "elasticsearch",
                    "--elasticsearch-port",
                    str(port),
                    "--data-dir",
                    str(data_dir),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # its own process group, so teardown also stops a child the console script started
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout_s
        while proc.poll() is None and time.monotonic() < deadline and not _answers(url):
            time.sleep(0.05)
        if proc.poll() is None and _answers(url):
            try:
                yield url
            finally:
                _stop(proc)
            return
        _stop(proc)
    raise RuntimeError(f"noida-db did not start; see {log_path}:\n{log_path.read_text(errors='replace')}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop the server's whole process group (a console-script wrapper and its child, if any)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=5)
            return
        except subprocess.TimeoutExpired:
            continue
