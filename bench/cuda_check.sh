#!/usr/bin/env bash
# The sentiment model's checks on a CUDA GPU, in one run of a few minutes:
#
#   bash bench/cuda_check.sh DATA_DIR HOLDOUT_DIR OUT_DIR
#
# DATA_DIR is the labelled data (../shared/data/sentiment); HOLDOUT_DIR its held-out rows
# (`python models/train_sentiment.py DATA_DIR --export-holdout HOLDOUT_DIR`). Steps, each with its
# own time limit, in the order of what matters most if time runs out: the GPU tests
# (tests/test_cuda.py), held-out scores with the device left to the model, the training recipe of
# models/sentiment/MODEL_CARD.md on the GPU (into OUT_DIR/model), and the throughput bench on the GPU.
# One failing step does not stop the others; everything goes to OUT_DIR/checks.log.
set -u
data=$1 holdout=$2 out=$3
py=${PYTHON:-.venv/bin/python}
lens=${LENS:-.venv/bin/lens}  # a command line: word-split on purpose below
mkdir -p "$out"
log=$out/checks.log

step() {
    local name=$1 limit=$2 started rc
    shift 2
    started=$(date +%s)
    echo "== $name: $*" >>"$log"
    timeout "$limit" "$@" >>"$log" 2>&1
    rc=$?
    echo "== $name: exit $rc after $(($(date +%s) - started)) s" | tee -a "$log"
}

{
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
    $py -c "import torch, transformers; print('torch', torch.__version__, '| transformers', transformers.__version__)"
} 2>&1 | tee -a "$log"
step tests 150 $py -m pytest -q -p no:cacheprovider tests/test_cuda.py
step eval_fpb 60 $lens eval-sentiment --data "$holdout/fpb_holdout.csv"
step eval_tfns 60 $lens eval-sentiment --data "$holdout/tfns_holdout.csv"
step train 170 $py models/train_sentiment.py "$data" --out "$out/model" --mix fpb:2,tfns --pooling mean \
    --rank 32 --alpha 64 --epochs 4 --lr 5e-4 --label-smoothing 0.1 --seed 14 --keep-space 2 --device cuda
step bench 150 $py bench/sentiment.py --device cuda --variants ours,ours-compiled,naive --n 4000 \
    --min-seconds 5 --data "$data" --out "$out/sentiment_cuda.json"
