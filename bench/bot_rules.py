"""What one bot decision costs, and why keyword regexes run on our own matcher.

    python bench/bot_rules.py

Prints medians (no database, no fsync: bot_rules is pure; the pipeline's write is one ordinary
message write, as measured by bench/ingest-style runs). Two parts:
1. decide() for a shop with 12 keyword rules (word / contains / regex) against typical messages.
2. The catastrophic pattern `(a+)+$` on "a"*n + "!": Python's backtracking `re` doubles per
   character; the NFA matcher (app/services/bot_regex.py) grows linearly. The `re` side stops at
   n = 20 so the run stays short (at n = 30 it would take minutes; a message has thousands).
"""

from __future__ import annotations

import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.services import bot_config, bot_regex
from app.services.bot_config import BotSettings
from app.services.bot_rules import Facts, decide
from app.sqlite import fold


def median_us(fn, repeat: int = 200) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


def shop() -> BotSettings:
    words = ["envío", "precio", "horario", "dirección", "factura", "cambio", "garantía", "talla"]
    keywords = [{"match": "word", "pattern": w, "reply": f"Sobre {w}..."} for w in words[:4]]
    keywords += [{"match": "contains", "pattern": w, "reply": f"Sobre {w}..."} for w in words[4:]]
    patterns = (r"\bpedido\s*#?\d{4,}", r"^(hola|buenas)\b", r"a qu[eé] hora",
                r"(transferencia|dep[oó]sito)")
    keywords += [{"match": "regex", "pattern": p, "reply": "..."} for p in patterns]
    return bot_config.parse({"keywords": keywords, "business_hours": {}, "enabled": True},
                            BotSettings(timezone="America/Santiago"))


def main() -> None:
    settings = shop()
    facts = Facts(previous_inbound_at=0)
    now = int(time.time() * 1000)
    print("1. decide() with 12 keyword rules (median of 200)")
    for text in ("hola, quería saber si hacen envío a Valdivia",
                 "mi pedido #123456 no ha llegado, me pueden ayudar por favor",
                 "ok gracias " * 20):
        us = median_us(lambda t=text: decide(settings, facts, t, now))
        answer = decide(settings, facts, text, now)
        print(f"   {len(text):4d} chars -> {answer.rule:9s} {us:8.1f} µs")
    print("2. (a+)+$ against 'a'*n + '!' (median of 5)")
    program = bot_regex.compile_pattern(r"(a+)+$")
    compiled = re.compile(r"(a+)+$")
    for n in (12, 16, 18, 20, 100, 1000):
        text = fold("a" * n + "!") or ""
        nfa = median_us(lambda t=text: program.search(t), repeat=5)
        if n <= 20:
            py = median_us(lambda t=text: compiled.search(t), repeat=5)
            print(f"   n={n:5d}  re {py:12.0f} µs   NFA {nfa:8.0f} µs   re/NFA {py / nfa:8.1f}x")
        else:
            print(f"   n={n:5d}  re (not run)        NFA {nfa:8.0f} µs")


if __name__ == "__main__":
    main()
