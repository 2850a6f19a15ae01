"""Translation: throughput of the in-house CTranslate2 path and overhead of the protected-span layer.

    PYTHONPATH=src .venv/bin/python bench/translation.py [--data FILE.jsonl] [--n 300] [--runs 3] [--nllb-n 64]
                                                         [--no-opus-shape] [--write] [--json OUT.json]

* Protected spans: CPU µs per text for find / mask / unmask / mask+unmask (+ a 50-term glossary) on ONE core
  (process pinned to CPU 0), on (a) the dev sources as they are and (b) the same sources dressed as social posts
  (mention, hashtag, URL with query, emoji ZWJ sequence, quantity). Median of ``--span-runs`` runs after a
  warm-up; CPU time of the process, so other load on the machine inflates it less than wall time.
  Language identification (Lingua, 6 languages) and cache look-ups are timed the same way.
* CTranslate2: sentences/s of ``CT2Translator.translate_sync`` (segmentation, SentencePiece, translate_batch,
  detokenisation) over ``--n`` dev sources, batch 32, int8, median of ``--runs`` runs after a warm-up, with
  (a) the tiny random test model and (b) a random-weight model with the *shape* of OPUS-MT en-de (Marian,
  d_model 512, 6+6 layers, 8 heads, FFN 2048, vocabulary 58,101) — no converted OPUS-MT/NLLB weights can be
  obtained offline here, so (b) stands in for the compute cost. Random weights never emit ``</s>`` sensibly,
  so every output is forced to ``--out-tokens`` tokens (min = max decoding length), about what a real
  translation of these short sentences needs. (c) with ``--nllb-n N``: a random model with the shape of
  NLLB-200-distilled-600M (M2M100, d_model 1024, 12+12 layers, vocabulary 256,204) on N sentences.
* ``--write`` replaces the ``## Translation`` section of BENCHMARKS.md (creating the file if needed).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
DEFAULT_DATA = ROOT.parent / "shared" / "datasets" / "translation" / "tatoeba_en-de.jsonl"
EMOJI = ["😂", "👩🏽‍💻", "🇩🇪", "❤️", "👍🏿"]


def timed(fn: Callable[[], object], n_items: int, runs: int) -> tuple[float, float]:
    """(wall µs, CPU µs of this process) per item, medians of `runs` runs after a warm-up."""
    fn()  # warm-up
    walls, cpus = [], []
    for _ in range(runs):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    return statistics.median(walls) / n_items * 1e6, statistics.median(cpus) / n_items * 1e6


def median_us_per_item(fn: Callable[[], object], n_items: int, runs: int) -> float:
    """CPU µs per item (robust to other processes sharing the cores)."""
    return timed(fn, n_items, runs)[1]


def social(texts: Sequence[str]) -> list[str]:
    return [
        f"@user_{i} {t} #tag{i % 7} https://ex.com/p/{i}?ref=feed&x=1 {EMOJI[i % len(EMOJI)]} {i % 9 + 1} km"
        for i, t in enumerate(texts)
    ]


def bench_spans(texts: list[str], runs: int) -> dict[str, dict[str, float]]:
    from hybridgate.features.translation.glossary import Glossary
    from hybridgate.features.translation.protect import Protector

    protector = Protector()
    words = sorted({w.strip(".,!?").lower() for t in texts for w in t.split() if len(w) > 5})[:50]
    glossary = Glossary({w: w.upper() for w in words})
    out: dict[str, dict[str, float]] = {}
    for label, batch in (("dev sources", texts), ("social posts", social(texts))):
        masked = [protector.mask(t) for t in batch]
        row = {
            "find": median_us_per_item(lambda b=batch: [protector.find(t) for t in b], len(batch), runs),
            "mask": median_us_per_item(lambda b=batch: [protector.mask(t) for t in b], len(batch), runs),
            "unmask": median_us_per_item(lambda m=masked: [protector.unmask(x, x.text) for x in m], len(batch), runs),
            "mask+unmask": median_us_per_item(
                lambda b=batch: [protector.unmask(x, x.text) for x in (protector.mask(t) for t in b)], len(batch), runs
            ),
            "mask+unmask, 50-term glossary": median_us_per_item(
                lambda b=batch: [
                    protector.unmask(x, x.text) for x in (protector.mask(t, glossary=glossary) for t in b)
                ],
                len(batch), runs,
            ),
            "spans per text": sum(len(m.spans) for m in masked) / len(masked),
        }
        out[label] = row
    return out


def bench_langid_and_cache(texts: list[str], runs: int) -> dict[str, float]:
    from hybridgate.features.translation.cache import TranslationCache, cache_key
    from hybridgate.features.translation.langid import LanguageDetector

    detector = LanguageDetector(("en", "de", "es", "fr", "pt", "hi"))
    t0 = time.perf_counter()
    detector.warm()
    warm_s = time.perf_counter() - t0
    posts = social(texts)
    with tempfile.TemporaryDirectory() as tmp:
        cache = TranslationCache(Path(tmp) / "c.db")
        keys = [cache_key(t, "en", "de", "inhouse", "", "v1") for t in texts]
        cache.put_many([(k, t, "en", "de", "inhouse", "v1") for k, t in zip(keys, texts)])
        get_us = median_us_per_item(lambda: cache.get_many(keys), len(keys), runs)
        cache.close()
    return {
        "lingua build + load 6 languages (s)": round(warm_s, 2),
        "detect, dev sources (CPU µs/text)": median_us_per_item(
            lambda: [detector.detect(t) for t in texts], len(texts), runs
        ),
        "detect, social posts (CPU µs/text)": median_us_per_item(
            lambda: [detector.detect(t) for t in posts], len(posts), runs
        ),
        f"cache get_many hit, {len(keys)} keys per call (CPU µs/text)": get_us,
    }


def bench_ct2(
    texts: list[str], runs: int, out_tokens: int, opus_shape: bool, nllb_n: int = 0
) -> list[dict[str, object]]:
    from hybridgate.features.translation.ct2 import CT2Options, CT2Translator
    from hybridgate.features.translation.tinymodel import build_tiny_marian, build_tiny_nllb

    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        models = {"tiny random (d16, 1+1 layers, vocab ~150)": build_tiny_marian(Path(tmp) / "tiny")}
        if opus_shape:
            t0 = time.perf_counter()
            models["OPUS-MT en-de shape, random (d512, 6+6, vocab 58,101)"] = build_tiny_marian(
                Path(tmp) / "opus", d_model=512, layers=6, heads=8, ffn_dim=2048, pad_vocab_to=58101
            )
            print(f"built OPUS-MT-shaped model in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
        for label, path in models.items():
            for threads in (1, 2):
                for beam in (1, 2):
                    options = CT2Options(
                        compute_type="int8", intra_threads=threads, beam_size=beam, max_batch_size=32,
                        max_decoding_length=out_tokens, min_decoding_length=out_tokens,
                    )
                    tr = CT2Translator({"en-de": path}, options=options)
                    tr.translate_sync(texts[:32], "en", "de")  # load + warm-up
                    wall, cpu = timed(lambda t=tr: t.translate_sync(texts, "en", "de"), len(texts), runs)
                    rows.append({"model": label, "threads": threads, "beam": beam,
                                 "sentences_per_s": round(1e6 / wall, 1),
                                 "sentences_per_cpu_s": round(1e6 / cpu, 1)})
                    print(rows[-1], file=sys.stderr)
                    tr.close()
    if nllb_n:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            path = build_tiny_nllb(Path(tmp) / "nllb", d_model=1024, layers=12, heads=16, ffn_dim=4096,
                                   pad_vocab_to=256204, quantization="int8")
            print(f"built NLLB-600M-shaped model in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
            for threads, beam in ((1, 1), (2, 2)):
                options = CT2Options(compute_type="int8", intra_threads=threads, beam_size=beam, max_batch_size=32,
                                     max_decoding_length=out_tokens, min_decoding_length=out_tokens)
                tr = CT2Translator({"*": path}, options=options)
                tr.translate_sync(texts[:8], "en", "de")
                wall, cpu = timed(lambda t=tr: t.translate_sync(texts[:nllb_n], "en", "de"), nllb_n, runs)
                rows.append({"model": f"NLLB-200-distilled-600M shape, random (d1024, 12+12, vocab 256,204; "
                                      f"{nllb_n} sentences)", "threads": threads, "beam": beam,
                             "sentences_per_s": round(1e6 / wall, 1), "sentences_per_cpu_s": round(1e6 / cpu, 1)})
                print(rows[-1], file=sys.stderr)
                tr.close()
    return rows


def render(report: dict) -> str:
    lines = ["## Translation", ""]
    lines.append(f"Measured {report['date']} on {report['machine']} with `{report['command']}` "
                 f"({report.get('load', 'load not recorded')}; other work shared the 2 cores, so treat absolute "
                 "numbers as upper bounds on cost).")
    lines.append("")
    lines.append("### Protected-span layer (one core, CPU µs per text, median of "
                 f"{report['span_runs']} runs over {report['n']} texts)")
    lines.append("")
    spans = report["spans"]
    cols = list(next(iter(spans.values())).keys())
    lines.append("| texts | " + " | ".join(cols) + " |")
    lines.append("|---|" + "---:|" * len(cols))
    for label, row in spans.items():
        lines.append(f"| {label} | " + " | ".join(f"{row[c]:.1f}" for c in cols) + " |")
    lines.append("")
    lines.append("Social posts = each dev source plus a mention, hashtag, URL with query, emoji (ZWJ/skin tone/"
                 "flag) and a quantity. Glossary: 50 entries.")
    lines.append("")
    lines.append("### Language identification and cache")
    lines.append("")
    lines.append("| measure | value |")
    lines.append("|---|---:|")
    for k, v in report["langid_cache"].items():
        lines.append(f"| {k} | {v:.1f} |" if isinstance(v, float) else f"| {k} | {v} |")
    lines.append("")
    lines.append(f"### In-house CTranslate2 throughput ({report['n']} dev sentences unless noted, batch 32, "
                 f"int8, output forced to {report['out_tokens']} tokens, median of {report['runs']} runs)")
    lines.append("")
    lines.append("| model | intra threads | beam | sentences/s (wall) | sentences per CPU-second |")
    lines.append("|---|---:|---:|---:|---:|")
    for row in report["ct2"]:
        lines.append(f"| {row['model']} | {row['threads']} | {row['beam']} | {row['sentences_per_s']} | "
                     f"{row['sentences_per_cpu_s']} |")
    lines.append("")
    opus = [r for r in report["ct2"] if "OPUS" in str(r["model"]) and r["threads"] == 1 and r["beam"] == 1]
    social_us = report["spans"].get("social posts", {}).get("mask+unmask")
    if opus and social_us:
        mt_us = 1e6 / float(opus[0]["sentences_per_cpu_s"])
        lines.append("Overhead of the protected-span layer relative to in-house MT: "
                     f"{social_us:.0f} µs per social post "
                     f"against ~{mt_us / 1000:.0f} ms of CPU per sentence for an OPUS-MT-sized model (greedy, one "
                     f"thread) = {100 * social_us / mt_us:.2f} %.")
        lines.append("")
    lines.extend(report["notes"])
    lines.append("")
    return "\n".join(lines)


def write_section(text: str) -> None:
    path = ROOT / "BENCHMARKS.md"
    current = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    start = current.find("## Translation\n")
    if start == -1:
        new = current.rstrip("\n") + "\n\n" + text
    else:
        end = current.find("\n## ", start + 1)
        new = current[:start] + text.rstrip("\n") + "\n" + ("" if end == -1 else "\n" + current[end + 1:])
    path.write_text(new.rstrip("\n") + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out-tokens", type=int, default=16)
    parser.add_argument("--no-opus-shape", action="store_true")
    parser.add_argument("--nllb-n", type=int, default=64, help="sentences for the NLLB-600M-shaped model (0: skip)")
    parser.add_argument("--span-runs", type=int, default=15)
    parser.add_argument("--ct2-from", type=Path, help="reuse the CTranslate2 rows of an earlier --json report")
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    with args.data.open(encoding="utf-8") as fh:
        texts = [json.loads(line)["source"] for _, line in zip(range(args.n), fh)]

    load_start = os.getloadavg()[0]
    all_cpus = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(all_cpus)})  # the span layer and lookups: one core
    spans = bench_spans(texts, args.span_runs)
    langid_cache = bench_langid_and_cache(texts, args.span_runs)
    os.sched_setaffinity(0, all_cpus)
    notes: list[str] = []
    if args.ct2_from:
        earlier = json.loads(args.ct2_from.read_text(encoding="utf-8"))
        ct2 = earlier["ct2"]
        notes += [f"CTranslate2 rows: reused from an earlier full run the same day (`{earlier['command']}`, "
                  f"{earlier.get('load', 'load not recorded')}); the rows above were re-measured by this command.",
                  ""]
    else:
        ct2 = bench_ct2(texts, args.runs, args.out_tokens, not args.no_opus_shape, args.nllb_n)
    ct2 = sorted(ct2, key=lambda r: (0 if "tiny" in str(r["model"]) else 1 if "OPUS" in str(r["model"]) else 2))

    import ctranslate2
    import lingua  # noqa: F401

    report = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {len(all_cpus)} cores, Python {platform.python_version()}, "
                   f"ctranslate2 {ctranslate2.__version__}",
        "command": "PYTHONPATH=src .venv/bin/python bench/translation.py " + " ".join(sys.argv[1:]),
        "load": f"1-min load average {load_start:.1f} at start, {os.getloadavg()[0]:.1f} at end",
        "runs": args.runs,
        "span_runs": args.span_runs,
        "n": len(texts),
        "out_tokens": args.out_tokens,
        "spans": spans,
        "langid_cache": langid_cache,
        "ct2": ct2,
        "notes": notes + [
            "Real OPUS-MT/NLLB weights: none could be obtained offline (only PyPI, Debian and npm are reachable; "
            "no package on them was found to ship converted OPUS-MT or NLLB weights — the candidates found by "
            "name download from the Hugging Face hub at run time). The OPUS-MT-shaped rows use random weights "
            "with the real architecture and vocabulary size, so their speed is what a converted "
            "opus-mt-en-de would cost for outputs of the forced length; quality must be measured with real "
            "weights (`hybridgate eval translation`).",
            "",
            "Sentences/s include sentence splitting, SentencePiece encoding, `translate_batch` and detokenisation. "
            "Sentences per CPU-second = sentences / CPU time of the process (all its threads): what one dedicated "
            "core delivers with 1 thread; it is insensitive to other load, unlike the wall-clock column.",
        ],
    }
    text = render(report)
    print(text)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    if args.write:
        write_section(text)


if __name__ == "__main__":
    main()
