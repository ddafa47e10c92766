"""A screenshot of a built report for the README, with one move's attribution shown in its hover
label, resized and colour-quantised to stay small:

    python -m lens.report.screenshot reports/demo/report.html docs/report.png

Needs Debian's chromium (/usr/bin/chromium) and the playwright package (the `dev` extra).
"""

from __future__ import annotations

import io
import sys
import tempfile
from pathlib import Path

from PIL import Image

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-quic"]
VIEWPORT = {"width": 1400, "height": 720}  # the header and the first price chart
WIDTH = 1100  # README images are shown at most about this wide
COLOURS = 160  # palette PNG: a screenshot of flat colours loses nothing visible

# Page coordinates of the largest attributed move of the first chart (the one worth showing).
_MOVE_POINT = """() => {
    const gd = document.querySelectorAll('.js-plotly-plot')[0];
    let best = null;
    gd._fullData.forEach((trace, curve) => {
        if (trace.meta !== 'move') return;
        trace.text.forEach((text, i) => {
            if (!text.includes('most likely')) return;
            const size = Math.abs(trace.y[i] - 100);
            if (best === null || size > best.size) best = {curve, i, size};
        });
    });
    if (best === null) return null;
    const trace = gd._fullData[best.curve], layout = gd._fullLayout, box = gd.getBoundingClientRect();
    return [box.left + layout.xaxis._offset + layout.xaxis.d2p(trace.x[best.i]),
            box.top + layout.yaxis._offset + layout.yaxis.d2p(trace.y[best.i])];
}"""


def screenshot(report: Path, target: Path) -> int:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as profile, sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            profile, executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS, headless=True, viewport=VIEWPORT,
            offline=True)
        page = context.pages[0] if context.pages else context.new_page()
        page.goto(Path(report).resolve().as_uri())
        page.wait_for_function("document.querySelectorAll('svg .scatterlayer .point').length > 0")
        point = page.evaluate(_MOVE_POINT)
        if point:
            page.mouse.move(*point)
            page.wait_for_timeout(300)
        raw = page.screenshot()
        context.close()
    image = Image.open(io.BytesIO(raw)).convert("RGB")
    image = image.resize((WIDTH, round(image.height * WIDTH / image.width)), Image.LANCZOS)
    image = image.quantize(colors=COLOURS, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    target.parent.mkdir(parents=True, exist_ok=True)
    image.save(target, optimize=True)
    return target.stat().st_size


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python -m lens.report.screenshot REPORT.html TARGET.png")
    size = screenshot(Path(sys.argv[1]), Path(sys.argv[2]))
    print(f"{sys.argv[2]}: {size / 1e3:.0f} kB")
