"""Tests of rnnkit.train.report: report.html from a real (tiny) training run, rendered by a real
headless browser (Debian's chromium) when it is installed."""

import base64
import re
import shutil
import subprocess
import tempfile

import numpy as np
import pytest

from rnnkit.train.report import report_html, write_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
KEY_TEXT = ("rnnkit run report: lm", "best validation loss", "Loss curves", "tokens/s", "Samples",
            "after 40 validation characters", "Configuration", "clip_norm", "hidden_size")


def test_training_run_writes_a_self_contained_report(tiny_lm_run):
    page = (tiny_lm_run / "report.html").read_text(encoding="utf-8")
    for text in KEY_TEXT:
        assert text in page, text
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 1 and base64.b64decode(images[0])[:8] == b"\x89PNG\r\n\x1a\n"
    assert not re.search(r'(src|href)="(?!data:)', page)  # nothing outside the file
    assert re.search(r"<th>updates</th><td>(\d+)</td>", page).group(1) == "30"


def test_report_is_rebuilt_from_the_run_directory_alone(tiny_lm_run, tmp_path):
    run = shutil.copytree(tiny_lm_run, tmp_path / "run", symlinks=True)
    page = write_report(run, {"forecast": "1 < 2 & 3"}).read_text(encoding="utf-8")
    assert "1 &lt; 2 &amp; 3" in page and "Samples" in page
    with pytest.raises(FileNotFoundError, match="no metrics.jsonl"):
        report_html(tmp_path)


def chromium(*args: str) -> subprocess.CompletedProcess:
    """Headless chromium, isolated: a fresh profile, no network side-traffic."""
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                               "--no-first-run", "--disable-background-networking", "--disable-component-update",
                               "--disable-sync", f"--user-data-dir={profile}", *args],
                              capture_output=True, text=True, timeout=120, check=True)


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install -y chromium)")
def test_report_renders_in_headless_chromium(tiny_lm_run, tmp_path):
    import matplotlib.image

    url = (tiny_lm_run / "report.html").resolve().as_uri()
    dom = chromium("--dump-dom", url).stdout  # the document as the browser parsed it
    for text in KEY_TEXT:
        assert text in dom, text
    shot = tmp_path / "shot.png"
    chromium("--window-size=1200,1400", f"--screenshot={shot}", url)
    pixels = (matplotlib.image.imread(shot)[..., :3] * 255).round().astype(int)  # (rows, columns, RGB)
    assert pixels.shape[:2] == (1400, 1200)
    assert (pixels.sum(-1) < 600).mean() > 0.01  # not a blank page
    assert (pixels[:80].sum(-1) < 200).sum() > 200  # the dark title text at the top
    c0_blue = np.abs(pixels - [31, 119, 180]).sum(-1) < 30  # matplotlib's first line colour
    assert c0_blue.sum() > 100  # the embedded loss-curve PNG was decoded and drawn
