"""The README's headline table, taken from BENCHMARKS.md (run after the benchmark scripts).

Each row quotes one measured number from a section of BENCHMARKS.md beside its reference; a
section that has not been generated yet gives no row. Writes README.md between
<!-- BEGIN headline --> and <!-- END headline -->.
"""

from __future__ import annotations

import argparse
import re
import sys

from report import PATH, write_section

README = PATH.parent / "README.md"


def sections(text: str) -> dict[str, str]:
    return dict(re.findall(r"<!-- BEGIN (\S+) -->\n(.*?)<!-- END \1 -->", text, re.S))


def cells(section: str, row_start: str, after: str = "", holding: str = "") -> list[str] | None:
    """The cells of the first table row starting with ``row_start`` and holding ``holding`` (after the
    line ``after``)."""
    if after:
        if after not in section:
            return None
        section = section[section.index(after) :]
    for line in section.splitlines():
        if line.startswith(f"| {row_start}") and holding in line:
            return [c.strip() for c in line.strip().strip("|").split("|")]
    return None


def rows(s: dict[str, str]) -> list[str]:
    out = []
    if "speed" in s:
        for threads in re.findall(r"^### (\d+ threads?)$", s["speed"], re.M):
            part = s["speed"][s["speed"].index(f"### {threads}\n") :]
            for name, torch_name, goal in (("rnnkit LSTM", "nn.LSTM", 0.9), ("rnnkit LSTM peephole", "nn.LSTM", 1.2),
                                           ("rnnkit GRU", "nn.GRU", 0.9)):
                c = cells(part, f"{name} |", "#### B=32, H=256")
                if c:
                    verdict = "met" if float(c[2]) <= goal else "behind"
                    out.append(f"| training step, {name[7:]}, B=32 H=256, {threads} | {c[2]}× the time of torch "
                               f"{torch_name} ({verdict}) | goal ≤ {goal}× |")
    if "classify" in s:
        c, ref = cells(s["classify"], "rnnkit ", holding="; chosen)"), cells(s["classify"], "SVM + tok1")
        if c and ref:
            model = c[0].removeprefix("rnnkit ").split(" (`")[0].split(", attention")[0]
            out.append(f"| SMS spam, test accuracy / MCC ({model}) | {c[3]}% / {c[4].strip('*')} "
                       f"| SVM {ref[3]}% / {ref[4]} (Almeida et al. 2011, their own split); goal MCC ≥ 0.95 |")
    if "seq2seq" in s:
        c = cells(s["seq2seq"], "addition-bahdanau")
        if c:
            out.append(f"| 3-digit addition, held-out exact match | {c[5]} | goal ≥ 99.5%; Keras example ≈ 99% |")
    if "forecast" in s:
        for verdict in re.findall(r"^- (\w+): rnnkit (wins|loses)\. .*?MASE ([\d.]+) against ([\d.]+) for the best "
                                  r"baseline \(([^)]+)\)", s["forecast"], re.M):
            name, word, ours, theirs, base = verdict
            out.append(f"| forecasting {name}, MASE (lower is better) | {ours} ({word}) | {theirs} ({base}) |")
    for key, what, goal in (("lm-shakespeare", "tiny Shakespeare char LSTM, val nats/char (30 min, this CPU)",
                             "goal ≤ 1.45; plain torch nn.LSTM 1.449; nanoGPT 1.4697 (A100)"),
                            ("lm-ptb-word", "PTB word LSTM 2×200, test perplexity",
                             "LSTM ≈13M parameters 78.93 (Bai et al.)"),
                            ("lm-ptb-char", "PTB char LSTM, test bits/char", "LSTM ≈3M parameters 1.36 (Bai et al.)")):
        c = cells(s.get(key, ""), "rnnkit ")
        if c:
            budget = ", ".join(re.findall(r"\(([\d.]+M tokens)\), ([\d.]+ min)", c[0])[0])
            verdict = "; " + ("met" if float(c[1].strip("*")) <= 1.45 else "behind") if key == "lm-shakespeare" else ""
            out.append(f"| {what} | {c[1].strip('*')} ({budget}{verdict}) | {goal} |")
    for data, name, target in (("jsb", "JSB Chorales", 8.20), ("nottingham", "Nottingham", 3.00)):
        c = cells(s.get(f"music-{data}", ""), "ours, tuned")
        if c:
            verdict = "met" if float(c[8]) <= target else "behind"
            out.append(f"| {name}, test NLL per frame (lower is better) | {c[8]} ({verdict}) | goal ≤ {target:.2f}; "
                       f"{c[9].split('best RNN ')[-1]} |")
    for cell in ("gru", "lstm"):
        c = cells(s.get("longrange", ""), f"adding-tcn-600 | 600 | {cell} ")
        if c:
            verdict = "met" if c[11] == "met" else "behind"
            out.append(f"| adding problem T=600, {cell.upper()} test MSE | {c[8]} ({verdict}) "
                       f"| goal ≤ 1e-4; Bai et al. GRU 5.3e-5, LSTM 0.164 |")
    if "diagnostics" in s:
        rnn, lstm = cells(s["diagnostics"], "rnn (init)"), cells(s["diagnostics"], "lstm (init, forget bias 1)")
        if rnn and lstm:
            out.append(f"| gradient ‖∂L/∂h‖ falls below 1e-3 after (lag) | LSTM {lstm[1]} steps "
                       f"| tanh RNN {rnn[1]} steps |")
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the same (it only reads BENCHMARKS.md)")
    return parser


def main(argv: list[str]) -> None:
    build_parser().parse_args(argv)
    table = "\n".join(["| what | rnnkit | reference |", "|---|---|---|",
                       *rows(sections(PATH.read_text(encoding="utf-8")))])
    body = ("Headline numbers, copied from [BENCHMARKS.md](BENCHMARKS.md) by `benchmarks/headline.py`; where we are "
            "behind, the row says so.\n\n" + table)
    write_section("headline", body, README)
    print(table)


if __name__ == "__main__":
    main(sys.argv[1:])
