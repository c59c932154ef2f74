"""The Dockerfile and .dockerignore, checked without a Docker engine: the instructions are parsed, the
build context is worked out from .dockerignore, and the HEALTHCHECK command is run against a real
HTTP server."""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bot.settings import SlackSettings
from tests.deploy.manifests import REPO


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str


def _instructions() -> list[Instruction]:
    """Dockerfile lines with continuations joined and comments dropped."""
    text = (REPO / "Dockerfile").read_text(encoding="utf-8")
    logical: list[str] = []
    pending = ""
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        if full:
            logical.append(full)
    out = []
    for line in logical:
        keyword, _, arguments = line.partition(" ")
        out.append(Instruction(keyword.upper(), arguments.strip()))
    return out


def _final_stage() -> list[Instruction]:
    instructions = _instructions()
    last_from = max(i for i, ins in enumerate(instructions) if ins.keyword == "FROM")
    return instructions[last_from:]


def _ignore_patterns() -> list[tuple[bool, str]]:
    """(negated, pattern) in file order."""
    patterns = []
    for line in (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        patterns.append((negated, line.lstrip("!").strip("/")))
    return patterns


def _pattern_matches(pattern: str, path: str) -> bool:
    """Docker's rule: a pattern matches the path or any of its parent folders; `**` spans folders."""
    parts = path.split("/")
    regex = re.compile(
        "^"
        + re.escape(pattern).replace(r"\*\*/", "(.*/)?").replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
        + "$"
    )
    return any(regex.match("/".join(parts[:n])) for n in range(1, len(parts) + 1))


def _in_build_context(path: str) -> bool:
    """True when .dockerignore leaves `path` (relative, POSIX) in the build context; the last match wins."""
    included = True
    for negated, pattern in _ignore_patterns():
        if _pattern_matches(pattern, path):
            included = negated
    return included


def _tracked_files() -> list[str]:
    result = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True)
    return result.stdout.split()


def test_build_is_multi_stage_on_the_projects_python() -> None:
    froms = [ins.arguments for ins in _instructions() if ins.keyword == "FROM"]
    assert len(froms) >= 2
    assert froms[-1].split(" AS ")[-1] == "runtime"
    arg = next(
        ins.arguments for ins in _instructions() if ins.keyword == "ARG" and "PYTHON_IMAGE" in ins.arguments
    )
    image = arg.split("=", 1)[1]
    requires = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "requires-python"
    ]
    minimum = requires.removeprefix(">=")
    assert image.startswith(f"python:{minimum}-slim"), (image, requires)
    assert "COPY --from=builder /opt/venv /opt/venv" in [f"COPY {i.arguments}" for i in _final_stage()]


def test_runtime_runs_as_a_non_root_user() -> None:
    users = [ins.arguments for ins in _final_stage() if ins.keyword == "USER"]
    assert users, "the runtime stage must switch to a non-root USER"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")


def test_entrypoint_is_the_bron_console_script() -> None:
    final = {ins.keyword: ins.arguments for ins in _final_stage()}
    assert json.loads(final["ENTRYPOINT"]) == ["bron"]
    assert json.loads(final["CMD"]) == ["run"]
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    assert "bron" in scripts


def test_exposed_port_is_the_default_http_port() -> None:
    final = _final_stage()
    exposed = [ins.arguments for ins in final if ins.keyword == "EXPOSE"]
    default = SlackSettings().http_port
    assert exposed == [str(default)]
    env = " ".join(ins.arguments for ins in final if ins.keyword == "ENV")
    assert f"BRON_SLACK__HTTP_PORT={default}" in env


def test_builder_copies_the_context_with_every_package() -> None:
    """The builder copies the whole (allow-listed) context; every package pip installs must be in it."""
    copies = [
        shlex.split(i.arguments)
        for i in _instructions()
        if i.keyword == "COPY" and "--from" not in i.arguments
    ]
    assert copies == [[".", "."]]
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    packages = [p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]]
    for package in packages:
        if (REPO / package / "__init__.py").exists():
            assert _in_build_context(f"{package}/__init__.py"), f"add !{package}/ to .dockerignore"
    for needed in ("pyproject.toml", pyproject["project"]["readme"]):
        assert _in_build_context(needed), needed


def test_dockerignore_keeps_secrets_and_bulk_out_of_the_context() -> None:
    for path in (
        ".venv/bin/python",
        ".git/HEAD",
        "deploy/.env",
        "tests/deploy/test_dockerfile.py",
        "data/x.bin",
    ):
        assert not _in_build_context(path), path
    for path in ("bot/__pycache__/settings.cpython-311.pyc", "retrieval/.env"):
        assert not _in_build_context(path), path
    for path in ("pyproject.toml", "README.md", "bot/settings.py", "feedback/migrations/env.py"):
        assert _in_build_context(path), path


def test_package_data_reaches_the_build_context() -> None:
    """Prompts, migrations and the sample handbook ship in the wheel, so they must reach the builder."""
    tracked = [f for f in _tracked_files() if f.startswith(("serving/", "feedback/", "retrieval/", "bot/"))]
    assert any(fnmatch.fnmatch(f, "feedback/migrations/*") for f in tracked)
    dropped = [f for f in tracked if not _in_build_context(f)]
    assert not dropped, f".dockerignore drops package files: {dropped}"


class _Health(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture()
def health_server() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _run_healthcheck(port: int) -> int:
    healthcheck = next(ins.arguments for ins in _final_stage() if ins.keyword == "HEALTHCHECK")
    command = healthcheck.split(" CMD ", 1)[1]
    python_dir = str(Path(sys.executable).parent)
    env = {"PATH": f"{python_dir}:/usr/bin:/bin", "BRON_SLACK__HTTP_PORT": str(port)}
    return subprocess.run(["sh", "-c", command], env=env, capture_output=True, timeout=30).returncode


def test_healthcheck_passes_when_healthz_answers(health_server: ThreadingHTTPServer) -> None:
    _Health.status = 200
    assert _run_healthcheck(health_server.server_address[1]) == 0


def test_healthcheck_fails_when_healthz_fails(health_server: ThreadingHTTPServer) -> None:
    _Health.status = 503
    try:
        assert _run_healthcheck(health_server.server_address[1]) == 1
    finally:
        _Health.status = 200


def test_healthcheck_fails_when_nothing_listens(health_server: ThreadingHTTPServer) -> None:
    port = health_server.server_address[1]
    health_server.shutdown()
    health_server.server_close()
    assert _run_healthcheck(port) == 1
