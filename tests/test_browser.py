"""The report in a real browser: Debian's chromium, headless, driven by playwright.

The report is built from the small synthetic run of test_report (seconds, no models). The test
skips when /usr/bin/chromium or playwright is missing on a developer's machine, and fails in CI
(env CI set), where .ci/run installs chromium.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from test_report import ATTRIBUTION, SCRIPT_TITLE, write_small_run

from lens.report.build import build_report

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
# The flags of the issue; playwright adds its own --headless and --user-data-dir (a fresh
# profile under tmp_path, given to launch_persistent_context since playwright refuses the flag).
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-quic"]
TIMEOUT_MS = 30_000


def _missing(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must provide it (.ci/run installs Debian's chromium, `make setup` playwright)")
    pytest.skip(reason)


@pytest.fixture
def page(tmp_path):
    if not CHROMIUM.exists():
        _missing(f"{CHROMIUM} is not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the playwright package is not installed (pip install -e '.[dev]')")
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS,
            headless=True, viewport={"width": 1400, "height": 1000}, offline=True)
        page = context.pages[0] if context.pages else context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.problems, page.dialogs = [], []
        page.on("console", lambda msg: msg.type == "error" and page.problems.append(f"console: {msg.text}"))
        page.on("pageerror", lambda exc: page.problems.append(f"page error: {exc}"))
        page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
        try:
            yield page
        finally:
            context.close()


def _move_trace(page) -> int:
    index = page.evaluate("""() => document.querySelectorAll('.js-plotly-plot')[0].data
                                 .findIndex(t => t.meta === 'move' && t.text.some(s => s.includes('most likely')))""")
    assert index >= 0, "the first price chart has no attributed move marker"
    return index


def _point_on_screen(page, curve: int) -> tuple[float, float]:
    """Page coordinates of the first point of trace `curve` in the first chart, from plotly's axes."""
    return tuple(page.evaluate("""(curve) => {
        const gd = document.querySelectorAll('.js-plotly-plot')[0];
        const trace = gd._fullData[curve], layout = gd._fullLayout;
        const xa = layout[trace.xaxis.replace('x', 'xaxis')], ya = layout[trace.yaxis.replace('y', 'yaxis')];
        const box = gd.getBoundingClientRect();
        return [box.left + window.scrollX + xa._offset + xa.d2p(trace.x[0]),
                box.top + window.scrollY + ya._offset + ya.d2p(trace.y[0])];
    }""", curve))


def test_report_opens_renders_and_explains_moves_in_headless_chromium(page, tmp_path):
    out, prices, placements = write_small_run(tmp_path)
    report = build_report(out, prices, placements, {"run_name": "browser"}).html

    page.goto(report.as_uri())
    page.wait_for_function("document.querySelectorAll('svg .scatterlayer .point').length > 0")

    # The charts rendered, with data points.
    assert page.locator(".plotly-graph-div").count() == 4
    assert page.evaluate("document.querySelectorAll('.js-plotly-plot')[0].data[0].x.length > 0")
    assert page.locator("svg .scatterlayer .point").count() >= 5

    # Hovering a move marker shows its attribution in plotly's hover label.
    curve = _move_trace(page)
    page.evaluate("""(curve) => Plotly.Fx.hover(document.querySelectorAll('.js-plotly-plot')[0],
                                               [{curveNumber: curve, pointNumber: 0}], 'xy')""", curve)
    hover = page.locator(".js-plotly-plot >> nth=0 >> .hoverlayer .hovertext")
    hover.first.wait_for()
    assert ATTRIBUTION in hover.first.text_content()

    # Clicking the marker, as a person would, pins the attribution under the charts.
    panel = page.locator("#attribution-panel")
    assert not panel.is_visible() and ATTRIBUTION not in panel.text_content()
    x, y = _point_on_screen(page, curve)
    page.mouse.move(x, y)
    page.mouse.click(x, y)
    page.wait_for_function(f"document.getElementById('attribution-panel').textContent.includes({ATTRIBUTION!r})")
    assert panel.is_visible()
    # The escaped article title in the explanation shows as text inside the panel, not as markup.
    assert SCRIPT_TITLE in panel.text_content()
    assert panel.locator("script").count() == 0
    panel.locator("button").click()
    assert not panel.is_visible()

    # An article titled <script>alert(1)</script> is text in the events table; nothing ran.
    cell = page.locator("#events-table td", has_text=SCRIPT_TITLE)
    assert cell.count() >= 1 and cell.first.is_visible()
    assert page.locator("img[src='x']").count() == 0
    assert page.dialogs == []

    # Unexplained moves are hidden until asked for, and then shown.
    unexplained = page.locator("#moves-table tr.unexplained")
    assert unexplained.count() == 2 and not unexplained.first.is_visible()
    page.locator("#show-unexplained").check()
    assert unexplained.first.is_visible()

    shot = tmp_path / "report.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000

    assert page.problems == [], "\n".join(page.problems)
    assert page.dialogs == []
