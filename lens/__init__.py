"""Catalyst Lens: the commands and the stages that join ingest → nlp → market → report."""

import os

# Torch's OpenMP threads spin while they wait for work, by default, and so take the cycles that
# the spaCy worker processes need while both run (lens analyze on 2 cores, 128 bench articles:
# 63.7-64.5 s with passive threads against 68.8-72.5 s spinning; the transformer alone scores
# the same 139 sentences/s either way). libgomp reads this once, when torch loads, so it is set
# here, before any module of the project imports torch. A value the user exported wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
