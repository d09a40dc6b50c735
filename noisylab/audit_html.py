"""``report.html``: the audit as one self-contained page (no server, no network).

The transition matrix is a heatmap table, each entry with its 95% interval; clicking an entry
``(true i, given j)`` shows the images given label ``j`` that the audit believes are of class
``i``. Below it, the label issues: the images whose given label is least likely right, with
their thumbnails. Thumbnails are PNGs inlined as data URIs; the script is inline too.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

import numpy as np

#: Images shown per heatmap entry, and label issues listed.
PER_CELL, ISSUES = 12, 60

_STYLE = """
body{font-family:sans-serif;margin:1.5em;color:#222}
table.heat{border-collapse:collapse}
table.heat td,table.heat th{border:1px solid #ccc;padding:3px 5px;font-size:11px;text-align:center}
table.heat td{cursor:pointer;min-width:3.4em}
table.heat td.picked{outline:3px solid #e33}
#cell img,#issues img{width:42px;height:42px;image-rendering:pixelated;margin:1px}
#issues td{padding:2px 6px;font-size:12px}
.small{color:#666;font-size:12px}
"""

_SCRIPT = """
const IMG = JSON.parse(document.getElementById('images').textContent);
const CELLS = JSON.parse(document.getElementById('cells').textContent);
function show(td) {
  document.querySelectorAll('td.picked').forEach(e => e.classList.remove('picked'));
  td.classList.add('picked');
  const key = td.dataset.true + ',' + td.dataset.given;
  const ids = CELLS[key] || [];
  const box = document.getElementById('cell');
  box.innerHTML = '';
  const head = document.createElement('p');
  head.textContent = 'given ' + td.dataset.givenName + ', believed ' + td.dataset.trueName +
    ': ' + td.dataset.count + ' images' + (ids.length ? ' (' + ids.length + ' shown)' : '');
  box.appendChild(head);
  ids.forEach(i => { const im = document.createElement('img'); im.src = IMG[i]; box.appendChild(im); });
}
document.querySelectorAll('table.heat td').forEach(td => td.addEventListener('click', () => show(td)));
"""


def png_uri(image: np.ndarray) -> str:
    """A ``(h, w)`` uint8 image as a ``data:image/png;base64,...`` URI."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.asarray(image, dtype=np.uint8)).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _colour(v: float, top: float) -> str:
    t = 0.0 if top <= 0 else min(max(v / top, 0.0), 1.0)
    r, g, b = (int(255 - t * (255 - c)) for c in (33, 102, 172))
    return f"rgb({r},{g},{b});color:{'#fff' if t > 0.55 else '#000'}"


def _heatmap(classes: list, T: np.ndarray, interval, counts: np.ndarray) -> str:
    top = float(T.max())
    rows = ["<table class='heat' id='heatmap'><tr><th>true \\ given</th>"
            + "".join(f"<th>{html.escape(c)}</th>" for c in classes) + "</tr>"]
    for i, ci in enumerate(classes):
        cells = []
        for j, cj in enumerate(classes):
            band = "" if interval is None else \
                f"<br><span class='small'>[{interval[0][i, j]:.3f}, {interval[1][i, j]:.3f}]</span>"
            cells.append(f"<td style='background:{_colour(T[i, j], top)}' data-true='{i}' "
                         f"data-given='{j}' data-true-name='{html.escape(ci)}' "
                         f"data-given-name='{html.escape(cj)}' data-count='{int(counts[i, j])}'>"
                         f"{T[i, j]:.3f}{band}</td>")
        rows.append(f"<tr><th>{html.escape(ci)}</th>" + "".join(cells) + "</tr>")
    return "\n".join(rows) + "</table>"


def report_html(*, title: str, verdict: list, classes: list, transition: np.ndarray,
                interval, images: np.ndarray, given: np.ndarray, suggested: np.ndarray,
                quality: np.ndarray, ids: list, seed: int = 0) -> str:
    """The page's HTML.

    Parameters
    ----------
    verdict : list of str
        Lines of the verdict.
    transition : ndarray ``(K, K)``
        ``T[i, j] = P(given = j | true = i)``.
    interval : (ndarray, ndarray) ``(K, K)`` each, or None
        Lower and upper bounds of each entry.
    images : ndarray ``(N, h, w)`` uint8
    given, suggested : ndarray of int ``(N,)``
        Given labels and the audit's suggested true classes.
    quality : ndarray ``(N,)``
        Probability that each given label is right.
    """
    K = len(classes)
    rng = np.random.default_rng(seed)
    counts = np.bincount(suggested * K + given, minlength=K * K).reshape(K, K)
    shown: dict[int, str] = {}
    cells = {}
    for i in range(K):
        for j in range(K):
            hit = np.flatnonzero((suggested == i) & (given == j))
            if hit.size:
                pick = rng.choice(hit, size=min(PER_CELL, hit.size), replace=False)
                cells[f"{i},{j}"] = [int(n) for n in pick]
                shown.update({int(n): "" for n in pick})
    issues = np.argsort(quality, kind="stable")[:ISSUES]
    shown.update({int(n): "" for n in issues})
    for n in shown:
        shown[n] = png_uri(images[n])
    rows = "".join(
        f"<tr><td><img src='{shown[int(n)]}' alt=''></td><td>{html.escape(str(ids[n]))}</td>"
        f"<td>{html.escape(classes[given[n]])}</td><td>{html.escape(classes[suggested[n]])}</td>"
        f"<td>{quality[n]:.3f}</td></tr>" for n in issues)
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{_STYLE}</style></head><body>
<h1>{html.escape(title)}</h1>
<ul>{''.join(f'<li>{html.escape(v)}</li>' for v in verdict)}</ul>
<h2>P(given | true), with 95% intervals</h2>
<p class="small">Rows are true classes (as the audit estimates them), columns given labels. Click
an entry to see images given that label that the audit believes are of that class.</p>
{_heatmap(classes, transition, interval, counts)}
<div id="cell"><p class="small">(click an entry)</p></div>
<h2>Label issues: the {len(issues)} images whose given label is least likely right</h2>
<table id="issues"><tr><th></th><th>id</th><th>given</th><th>suggested</th>
<th>P(given is right)</th></tr>{rows}</table>
<script type="application/json" id="images">{json.dumps({str(k): v for k, v in shown.items()})}</script>
<script type="application/json" id="cells">{json.dumps(cells)}</script>
<script>{_SCRIPT}</script>
</body></html>
"""


def write_html(result, ds, summary: dict, path: Path) -> Path:
    """``report.html`` of an audit (`noisylab.audit.AuditResult`) into ``path``."""
    from noisylab.audit_report import verdict_lines

    iv = result.diagnosis.intervals
    page = report_html(
        title=f"Label audit: {summary['data']}", verdict=verdict_lines(summary),
        classes=list(result.classes), transition=result.transition,
        interval=None if iv is None else (iv.transition[0], iv.transition[1]),
        images=ds.images[:, 0].numpy(), given=ds.labels.numpy(), suggested=result.suggested,
        quality=result.issues.label_quality, ids=list(ds.ids))
    path.write_text(page)
    return path
