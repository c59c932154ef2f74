"""Prometheus metrics for the Slack surface, on their own registry so tests and replicas stay apart.

Names are part of the deployment contract (dashboards and alerts in deploy/ use them): change them
only together with those.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from serving.answer import Answer

REGISTRY = CollectorRegistry(auto_describe=True)

QUESTIONS = Counter(
    "bron_questions_total", "Questions Bron started answering.", ["surface"], registry=REGISTRY
)
ANSWER_SECONDS = Histogram(
    "bron_answer_seconds",
    "Time per answer stage.",
    ["stage"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120),
    registry=REGISTRY,
)
BACKEND_ERRORS = Counter(
    "bron_backend_errors_total",
    "Questions that failed because a backend was unreachable.",
    ["backend"],
    registry=REGISTRY,
)
FLAGS = Counter(
    "bron_flags_total", "Answers flagged for review (automatic or thumbs-down).", registry=REGISTRY
)
SLACK_EVENTS = Counter(
    "bron_slack_events_total", "Slack events received, by outcome.", ["outcome"], registry=REGISTRY
)
DEPENDENCY_UP = Gauge(
    "bron_dependency_up",
    "1 when the dependency answered Bron's last readiness probe, else 0 (Bron stays ready either way).",
    ["dependency"],
    registry=REGISTRY,
)

_STAGES = {
    "retrieve": "retrieve_ms",
    "generate": "generate_ms",
    "grounding": "grounding_ms",
    "total": "total_ms",
}


ANSWERS = Counter(
    "bron_answers_total",
    "Questions by how they ended: answered, quoted (the sources word for word), declined, error.",
    ["outcome"],
    registry=REGISTRY,
)
GROUNDEDNESS = Histogram(
    "bron_answer_groundedness",
    "Groundedness of each checked answer (share of its claims the cited sources support).",
    buckets=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0),
    registry=REGISTRY,
)
THUMBS_DOWN = Counter(
    "bron_thumbs_down_total",
    "Thumbs-down given on answers, by button or reaction.",
    ["source"],
    registry=REGISTRY,
)
FIRST_TOKEN = Histogram(
    "bron_time_to_first_token_seconds",
    "From the start of answering (after the queue) to the model's first token.",
    buckets=(0.25, 0.5, 1, 2, 4, 8, 15, 30, 60),
    registry=REGISTRY,
)


def observe_answer(answer: Answer) -> None:
    """Record the outcome, groundedness and stage timings the pipeline measured (stages it skipped,
    e.g. on abstention, are left out)."""
    outcome = "declined" if answer.abstained else "quoted" if answer.quoted else "answered"
    ANSWERS.labels(outcome=outcome).inc()
    if answer.groundedness is not None:
        GROUNDEDNESS.observe(answer.groundedness)
    for stage, key in _STAGES.items():
        ms = answer.timings_ms.get(key)
        if ms is not None:
            ANSWER_SECONDS.labels(stage=stage).observe(ms / 1000)


QUEUE_DEPTH = Gauge("bron_queue_depth", "Jobs waiting for a worker, per pool.", ["pool"], registry=REGISTRY)
RUNNING = Gauge("bron_queue_running", "Jobs running, per pool.", ["pool"], registry=REGISTRY)
QUEUE_WAIT = Histogram(
    "bron_queue_wait_seconds",
    "Time a job waited for a worker, per pool.",
    ["pool"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120),
    registry=REGISTRY,
)
QUEUE_REFUSED = Counter(
    "bron_queue_refused_total",
    "Jobs refused because the pool (busy) or the person's share of it (user_busy) was full.",
    ["pool", "reason"],
    registry=REGISTRY,
)
