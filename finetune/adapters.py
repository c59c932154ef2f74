"""The served adapters volume: versioned installs, a pointer Bron reads, loading on every vLLM replica.

Why this shape:
- A same-name reload can serve the old adapter's prefix-cache entries (vLLM >= 0.11.1), so an adapter
  is never replaced in place: each promotion installs a new version (`bron-handbook-v7`) and the old
  ones stay, which is also what makes rollback a pointer change.
- vLLM starts on the base model alone (a missing or incompatible `--lora-modules` folder stops it from
  starting at all); every replica reads the same volume, and vLLM's filesystem LoRA resolver loads an
  adapter named in a request from it, so a replica that restarts or scales up finds the active one.
- Bron switches only when every replica has loaded and answered through the new version; the switch
  is the pointer file `active.json` in the volume (`BRON_SERVING__ADAPTER_FILE`), read per request.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import httpx

from finetune.errors import PromotionError

POINTER = "active.json"


@dataclass(frozen=True)
class Pointer:
    active: str | None
    previous: str | None


def read_pointer(served_dir: Path) -> Pointer:
    try:
        data = json.loads((served_dir / POINTER).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Pointer(None, None)
    except (OSError, ValueError) as exc:
        raise PromotionError(f"{served_dir / POINTER} is unreadable ({exc}); fix or remove it") from exc
    return Pointer(data.get("active"), data.get("previous"))


def write_pointer(served_dir: Path, pointer: Pointer) -> None:
    """Replace the pointer atomically: a bot reading it mid-write sees the old or the new, never half."""
    tmp = served_dir / f".{POINTER}.{os.getpid()}"
    tmp.write_text(json.dumps({"active": pointer.active, "previous": pointer.previous}), encoding="utf-8")
    os.replace(tmp, served_dir / POINTER)


def next_version(served_dir: Path, family: str) -> str:
    """`family-vN` with N one above every version installed so far (removed ones included in the count)."""
    pattern = re.compile(rf"^{re.escape(family)}-v(\d+)$")
    versions = (
        [int(m.group(1)) for p in served_dir.iterdir() if (m := pattern.match(p.name))]
        if served_dir.exists()
        else []
    )
    return f"{family}-v{max(versions, default=0) + 1}"


def install_version(adapter_dir: Path, *, served_dir: Path, name: str, base_model: str | None) -> Path:
    """Copy the adapter to `served_dir/name`; a name is never reused, so nothing served is overwritten.

    `base_model` is the base model as vLLM was started with it (`--model`): the filesystem resolver only
    loads an adapter whose `base_model_name_or_path` equals it, and training recorded the trainer's path.
    """
    config_path = adapter_dir / "adapter_config.json"
    if not config_path.exists():
        raise PromotionError(f"{adapter_dir} has no adapter_config.json; is it a PEFT adapter folder?")
    target, staging = served_dir / name, served_dir / f".{name}.staging"
    if target.exists():
        raise PromotionError(f"{target} exists: adapter versions are never replaced in place")
    served_dir.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(adapter_dir, staging)
    if base_model:
        config: dict[str, Any] = json.loads((staging / "adapter_config.json").read_text(encoding="utf-8"))
        config["base_model_name_or_path"] = base_model
        (staging / "adapter_config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    staging.rename(target)
    return target


def replicas(urls: list[str]) -> list[str]:
    """Each URL, with a host that resolves to several addresses (a headless Service) expanded to each one."""
    out: list[str] = []
    for url in urls:
        parts = urlsplit(url.rstrip("/"))
        host, port = parts.hostname or "", parts.port
        try:
            addresses = sorted(
                {info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)}
            )
        except socket.gaierror as exc:
            raise PromotionError(f"cannot resolve the vLLM host in {url}: {exc}") from exc
        if len(addresses) <= 1:
            out.append(url.rstrip("/"))
            continue
        for address in addresses:
            netloc = f"[{address}]" if ":" in str(address) else str(address)
            netloc = f"{netloc}:{port}" if port else netloc
            out.append(f"{parts.scheme}://{netloc}{parts.path}")
    return out


def _load_one(url: str, *, name: str, vllm_path: str, api_key: str | None, timeout_s: float) -> None:
    root = url.removesuffix("/v1")
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    with httpx.Client(base_url=root, headers=headers, timeout=timeout_s) as http:
        r = http.post("/v1/load_lora_adapter", json={"lora_name": name, "lora_path": vllm_path})
        if r.status_code in (404, 405):
            raise PromotionError(f"{root} does not offer /v1/load_lora_adapter: start vLLM with "
                                 "VLLM_ALLOW_RUNTIME_LORA_UPDATING=True (deploy/vllm/serve.sh does)")  # fmt: skip
        # names are never reused, so "already loaded" means this very version (e.g. by the resolver)
        if r.status_code >= 400 and "already" not in r.text.lower():
            raise PromotionError(
                f"{root} refused to load {vllm_path} as {name!r}: HTTP {r.status_code} {r.text[:300]}"
            )
        reply = http.post("/v1/chat/completions", json={"model": name, "max_tokens": 1,
                                                         "messages": [{"role": "user", "content": "ping"}]})  # fmt: skip
        if reply.status_code != 200:
            raise PromotionError(f"{root} loaded {name!r} but does not answer with it: HTTP {reply.status_code} "
                                 f"{reply.text[:300]}")  # fmt: skip


def _unload_one(url: str, *, name: str, api_key: str | None, timeout_s: float) -> None:
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    with contextlib.suppress(httpx.HTTPError):
        httpx.post(f"{url.removesuffix('/v1')}/v1/unload_lora_adapter", json={"lora_name": name}, headers=headers,
                   timeout=timeout_s)  # fmt: skip


def load_everywhere(
    urls: list[str], *, name: str, vllm_path: str, api_key: str | None, timeout_s: float = 120.0
) -> list[str]:
    """Load `name` on every replica and answer through it on each; on any failure undo and raise."""
    targets = replicas(urls)
    loaded: list[str] = []
    try:
        for url in targets:
            try:
                _load_one(url, name=name, vllm_path=vllm_path, api_key=api_key, timeout_s=timeout_s)
            except httpx.HTTPError as exc:
                raise PromotionError(f"vLLM at {url} cannot be reached: {exc}") from exc
            loaded.append(url)
    except PromotionError:
        for url in loaded:
            _unload_one(url, name=name, api_key=api_key, timeout_s=timeout_s)
        raise
    return targets


def activate(
    served_dir: Path,
    name: str,
    *,
    vllm_urls: list[str],
    vllm_root: PurePosixPath | None,
    api_key: str | None,
) -> Pointer:
    """Make `name` (installed in `served_dir`) the adapter Bron answers with, once every replica has it."""
    if not (served_dir / name / "adapter_config.json").exists():
        raise PromotionError(f"{served_dir / name} is not an installed adapter")
    if vllm_urls:
        path = str((vllm_root or PurePosixPath(served_dir.resolve().as_posix())) / name)
        load_everywhere(vllm_urls, name=name, vllm_path=path, api_key=api_key)
    current = read_pointer(served_dir)
    pointer = Pointer(active=name, previous=current.active if current.active != name else current.previous)
    write_pointer(served_dir, pointer)
    return pointer


def rollback(
    served_dir: Path,
    *,
    to: str | None,
    vllm_urls: list[str],
    vllm_root: PurePosixPath | None,
    api_key: str | None,
) -> Pointer:
    """Point Bron back at `to`, or at the version active before the current one."""
    target = to or read_pointer(served_dir).previous
    if not target:
        raise PromotionError(f"no earlier adapter recorded in {served_dir / POINTER}; name one with --to")
    return activate(served_dir, target, vllm_urls=vllm_urls, vllm_root=vllm_root, api_key=api_key)
