"""clean_text (app/text.py) cost per call: medians over repeats, next to two baselines run in the
same invocation (a bare str.translate with the same table, and doing nothing but the call).

    .venv/bin/python bench/text_clean.py [--repeat 7] [--number 100000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.text import clean_text

MESSAGE = "Hola, ¿cómo estás? Quiero pedir 3 empanadas de pino 🥟 para mañana a las 13:00. ¡Gracias! " * 2
CASES = {
    "name (15 chars)": "María José 👩‍👩‍👧",
    "message (190 chars)": MESSAGE,
    "message with newlines": MESSAGE + "\nSegunda línea\n",
    "message with NUL + CRLF": MESSAGE[:80] + "\x00" + MESSAGE[80:] + "\r\n",
}
TABLE = str.maketrans({c: None for c in range(0x20) if c not in (9, 10)})


def median_us(fn: object, number: int, repeat: int) -> float:
    runs = timeit.repeat(fn, number=number, repeat=repeat)  # type: ignore[arg-type]
    return statistics.median(runs) / number * 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--number", type=int, default=100_000)
    args = ap.parse_args()
    print(f"{'case':28} {'clean_text µs':>14} {'translate µs':>13} {'ratio':>6} {'call µs':>8}")
    for label, text in CASES.items():
        ours = median_us(lambda t=text: clean_text(t), args.number, args.repeat)
        base = median_us(lambda t=text: t.translate(TABLE), args.number, args.repeat)
        call = median_us(lambda t=text: str(t), args.number, args.repeat)
        print(f"{label:28} {ours:14.2f} {base:13.2f} {ours / base:6.2f} {call:8.2f}")


if __name__ == "__main__":
    main()
