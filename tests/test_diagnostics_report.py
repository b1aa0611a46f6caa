"""Tests of rnnkit.diagnostics.report: report.html from a real (tiny) training run."""

import base64
import re

import pytest

from rnnkit.diagnostics.report import report_html, write_report


def test_training_run_writes_a_self_contained_report(tiny_lm_run):
    page = (tiny_lm_run / "report.html").read_text(encoding="utf-8")
    for text in ("rnnkit run report: lm", "Results", "best validation loss", "Loss curves", "Timing",
                 "tokens/s", "Samples", "after 40 validation characters", "Configuration", "clip_norm",
                 "hidden_size"):
        assert text in page, text
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 1 and base64.b64decode(images[0])[:8] == b"\x89PNG\r\n\x1a\n"
    assert not re.search(r'(src|href)="(?!data:)', page)  # nothing outside the file
    assert "30" in re.search(r"<th>updates</th><td>(\d+)</td>", page).group(1)


def test_report_is_rebuilt_from_the_run_directory_alone(tiny_lm_run, tmp_path):
    path = write_report(tiny_lm_run, {"forecast": "1 < 2 & 3"})
    page = path.read_text(encoding="utf-8")
    assert "1 &lt; 2 &amp; 3" in page and "Samples" in page
    with pytest.raises(FileNotFoundError, match="no metrics.jsonl"):
        report_html(tmp_path)
