"""Language-stage throughput: `lens analyze` vs bare en_core_web_sm vs naive usage.

    .venv/bin/python bench/throughput.py [--sizes 200,1000,5000] [--device auto|cpu|cuda]

Same as `lens bench`; see lens/bench.py for what each variant measures. Writes
bench/results/throughput.json.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lens.bench import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
