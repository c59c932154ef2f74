"""The example alert rules parse and name only metrics Bron exports, with the right suffixes."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.metrics_core import Metric

from bot.slack.metrics import REGISTRY

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "deploy" / "prometheus" / "bron-alerts.yaml"
_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def exported_series() -> set[str]:
    """Series names Bron serves: its registry's families, and the source-sync gauges read at scrape time."""
    families: list[Metric] = list(REGISTRY.collect())
    names = {f.name + suffix for f in families for suffix in _SUFFIXES.get(f.type, ("",))}
    names |= set(re.findall(r'"(bron_source_[a-z_]+)"', (REPO / "bot" / "syncing.py").read_text()))
    return names


def rules() -> list[dict[str, Any]]:
    loaded = yaml.safe_load(RULES.read_text())
    return [rule for group in loaded["groups"] for rule in group["rules"]]


def test_every_rule_is_complete_and_names_only_exported_metrics() -> None:
    exported = exported_series()
    found = rules()
    assert len(found) >= 10
    for rule in found:
        assert set(rule) == {"alert", "expr", "for", "labels", "annotations"}, rule.get("alert")
        assert rule["labels"]["severity"] in ("page", "ticket") and rule["annotations"]["summary"]
        used = set(re.findall(r"\b(bron_[a-z_]+)", rule["expr"]))
        assert used and used <= exported, f"{rule['alert']}: {sorted(used - exported)} not exported"


def test_the_rules_cover_outcomes_quality_feedback_latency_queue_and_sync() -> None:
    exprs = " ".join(rule["expr"] for rule in rules())
    for metric in (
        "bron_answers_total",
        "bron_answer_groundedness_bucket",
        "bron_thumbs_down_total",
        "bron_time_to_first_token_seconds_bucket",
        "bron_queue_depth",
        "bron_queue_wait_seconds_bucket",
        "bron_source_last_success_age_seconds",
    ):
        assert metric in exprs, metric
