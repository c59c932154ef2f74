"""Reading the deployment files the way their tools do, offline: Compose interpolation, env files,
multi-document Kubernetes YAML and kustomizations. The tests in this folder build on these readers."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
COMPOSE_FILE = DEPLOY / "compose.yaml"
ENV_EXAMPLE = DEPLOY / ".env.example"
K8S = DEPLOY / "k8s"

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class InterpolationError(ValueError):
    """A `${VAR}` that Compose would refuse: unset and required, or malformed."""


@dataclass(frozen=True)
class VariableReference:
    name: str
    # True where Compose has a fallback when the variable is unset (`:-`, `-`, `:+`, `+`).
    has_default: bool


def parse_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines as Compose reads an --env-file (comments and blank lines skipped, no quotes used)."""
    values: dict[str, str] = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not _NAME.fullmatch(key.strip()):
            raise ValueError(f"{path}:{number}: not a KEY=VALUE line: {raw!r}")
        values[key.strip()] = value.strip()
    return values


def _closing_brace(text: str, start: int) -> int:
    """Index of the `}` that closes the `${` whose body starts at `start` (bodies may nest `${...}`)."""
    depth, i = 1, start
    while i < len(text):
        if text.startswith("$$", i):
            i += 2
            continue
        if text.startswith("${", i):
            depth += 1
            i += 2
            continue
        if text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise InterpolationError(f"unclosed '${{' in {text!r}")


def _split_body(body: str) -> tuple[str, str, str]:
    """`NAME:-word` -> (NAME, ':-', word); operator '' when the body is a bare name."""
    match = _NAME.match(body)
    if match is None:
        raise InterpolationError(f"invalid variable name in '${{{body}}}'")
    name, rest = match.group(), body[match.end() :]
    for operator in (":-", ":?", ":+", "-", "?", "+"):
        if rest.startswith(operator):
            return name, operator, rest[len(operator) :]
    if rest:
        raise InterpolationError(f"invalid interpolation '${{{body}}}'")
    return name, "", ""


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Compose's variable substitution for one string value (`$$` is a literal `$`)."""
    out: list[str] = []
    i = 0
    while i < len(text):
        if text.startswith("$$", i):
            out.append("$")
            i += 2
        elif text.startswith("${", i):
            end = _closing_brace(text, i + 2)
            name, operator, word = _split_body(text[i + 2 : end])
            value = env.get(name)
            if operator == ":-":
                out.append(value if value else interpolate(word, env))
            elif operator == "-":
                out.append(value if value is not None else interpolate(word, env))
            elif operator == ":+":
                out.append(interpolate(word, env) if value else "")
            elif operator == "+":
                out.append(interpolate(word, env) if value is not None else "")
            elif operator in (":?", "?") and (value is None or (operator == ":?" and not value)):
                raise InterpolationError(f"required variable {name} is missing: {word}")
            elif value is None:
                raise InterpolationError(f"variable {name} is not set and has no default")
            else:
                out.append(value)
            i = end + 1
        elif text[i] == "$" and (match := _NAME.match(text, i + 1)):
            if match.group() not in env:
                raise InterpolationError(f"variable {match.group()} is not set and has no default")
            out.append(env[match.group()])
            i = match.end()
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def variable_references(text: str) -> Iterator[VariableReference]:
    """Every variable a string mentions, including those nested in defaults."""
    i = 0
    while i < len(text):
        if text.startswith("$$", i):
            i += 2
        elif text.startswith("${", i):
            end = _closing_brace(text, i + 2)
            name, operator, word = _split_body(text[i + 2 : end])
            yield VariableReference(name, has_default=operator in (":-", "-", ":+", "+"))
            yield from variable_references(word)
            i = end + 1
        elif text[i] == "$" and (match := _NAME.match(text, i + 1)):
            yield VariableReference(match.group(), has_default=False)
            i = match.end()
        else:
            i += 1


def strings_in(node: Any) -> Iterator[str]:
    """Every string value in a parsed YAML tree (Compose interpolates values, not keys)."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, Mapping):
        for value in node.values():
            yield from strings_in(value)
    elif isinstance(node, list):
        for item in node:
            yield from strings_in(item)


def interpolate_tree(node: Any, env: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, Mapping):
        return {key: interpolate_tree(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [interpolate_tree(item, env) for item in node]
    return node


def load_compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def load_documents(path: Path) -> list[dict[str, Any]]:
    """The non-empty documents of a (multi-document) YAML file."""
    docs = [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]
    for doc in docs:
        if not isinstance(doc, dict):
            raise ValueError(f"{path}: a document is not a mapping")
    return docs


def kustomization_files(root: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    """A kustomization and, depth first, every kustomization its `resources` point at."""
    kfile = root / "kustomization.yaml"
    data = yaml.safe_load(kfile.read_text(encoding="utf-8"))
    yield kfile, data
    for entry in data.get("resources", []):
        target = (root / entry).resolve()
        if target.is_dir():
            yield from kustomization_files(target)


def composed_resources(root: Path) -> list[tuple[Path, dict[str, Any]]]:
    """What kustomize would gather from `root` (files only, before transformers): (file, document) pairs."""
    gathered: list[tuple[Path, dict[str, Any]]] = []
    data = yaml.safe_load((root / "kustomization.yaml").read_text(encoding="utf-8"))
    for entry in data.get("resources", []):
        target = (root / entry).resolve()
        if target.is_dir():
            gathered.extend(composed_resources(target))
        else:
            gathered.extend((target, doc) for doc in load_documents(target))
    return gathered


def manifest_files() -> list[Path]:
    """Every Kubernetes object file under deploy/k8s (kustomizations and JSON patches excluded)."""
    files = []
    for path in sorted(K8S.rglob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        docs = [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]
        if docs and all(isinstance(doc, dict) and "apiVersion" in doc for doc in docs):
            files.append(path)
    return files


def pod_spec(obj: Mapping[str, Any]) -> dict[str, Any] | None:
    """The pod spec inside a workload (Deployment, Job, ...), or None for other kinds."""
    kind = obj.get("kind")
    if kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
        spec: dict[str, Any] = obj["spec"]["template"]["spec"]
        return spec
    if kind == "CronJob":
        spec = obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        return spec
    if kind == "Pod":
        spec = obj["spec"]
        return spec
    return None


def pod_labels(obj: Mapping[str, Any]) -> dict[str, str]:
    kind = obj.get("kind")
    if kind == "CronJob":
        labels: dict[str, str] = obj["spec"]["jobTemplate"]["spec"]["template"]["metadata"].get("labels", {})
        return labels
    if kind == "Pod":
        labels = obj["metadata"].get("labels", {})
        return labels
    labels = obj["spec"]["template"]["metadata"].get("labels", {})
    return labels
