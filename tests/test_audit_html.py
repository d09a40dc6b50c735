"""report.html: one self-contained page; in a real headless browser it loads without script
errors and shows the heatmap (skipped where no Chromium is installed)."""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest

from noisylab.audit_html import report_html


def _page(k: int = 4, n: int = 200) -> str:
    rng = np.random.default_rng(0)
    true = rng.integers(0, k, n)
    given = (true + rng.integers(1, k, n)) % k  # complementary
    T = np.full((k, k), 1 / (k - 1))
    np.fill_diagonal(T, 0.0)
    return report_html(title="Label audit: toy", verdict=["kind: complementary"],
                       classes=[f"c{i}" for i in range(k)], transition=T,
                       interval=(T - 0.01, T + 0.01),
                       images=rng.integers(0, 255, (n, 28, 28), dtype=np.uint8), given=given,
                       suggested=true, quality=rng.random(n), ids=[f"img{i}" for i in range(n)])


def test_page_is_self_contained_with_one_entry_per_cell():
    page = _page()
    assert page.count("<td style=") == 16 and "data-true='3' data-given='2'" in page
    assert "data:image/png;base64," in page
    # nothing is fetched: no external scripts, styles, images or links
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", page)
    assert "[0.323, 0.343]" in page  # an interval beside its entry


def _browser() -> str | None:
    return next((p for p in (shutil.which(b) for b in ("chromium", "chromium-browser",
                                                          "google-chrome")) if p), None)


@pytest.mark.skipif(_browser() is None, reason="no Chromium installed")
def test_page_renders_in_a_headless_browser_without_script_errors(tmp_path):
    path = tmp_path / "report.html"
    path.write_text(_page())
    # the page clicks its first entry once loaded, so the click handler runs too
    path.write_text(path.read_text().replace(
        "</body>", "<script>document.querySelector(\"td[data-true='0'][data-given='1']\").click();"
        "document.title = 'shown:' + document.querySelectorAll('#cell img').length;</script>"
        "</body>"))
    out = subprocess.run(
        [_browser(), "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr",
         "--v=0", "--dump-dom", path.as_uri()], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "id=\"heatmap\"" in out.stdout or "id='heatmap'" in out.stdout
    assert re.search(r"<title>shown:[1-9]", out.stdout), "clicking an entry showed no image"
    assert "Uncaught" not in out.stderr, out.stderr[-2000:]
