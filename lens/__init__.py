"""Catalyst Lens: the commands and the stages that join ingest → nlp → market → report."""

import os

# Torch's OpenMP threads spin while they wait for work, by default, and so take the cycles that
# the spaCy worker processes need while both run (lens analyze on 2 cores, 128 bench articles:
# 63.7-64.5 s with passive threads against 68.8-72.5 s spinning; the transformer alone scores
# the same 139 sentences/s either way). libgomp reads this once, when torch loads, so it is set
# here, before any module of the project imports torch. A value the user exported wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# oneDNN keeps a compiled kernel for every matrix shape it has seen, up to 1,024 of them by
# default, each holding memory of its own. The transformers multiply over the real tokens of a
# batch (models/packed_bert.py), so nearly every batch has a shape of its own and hits no kernel
# kept before: the cache fills up to its limit with kernels that are never used again.
# finance-minilm over 12,000 generated news sentences, in batches of 1,000: the process ended at
# 621-671 MB with the default and 586-604 MB with 8 kept, in 18.8-21.6 s either way
# (docs/scaling.md has the pipeline's figures). oneDNN reads it once, when it starts, so it is
# set here with OMP_WAIT_POLICY; a value the user exported wins.
os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "8")
