"""Images per second on one core: metadata stripping (privacy/images.py) and in-house NudeNet moderation.

    PYTHONPATH=src .venv/bin/python bench/images.py [--runs 3] [--seconds 4] [--write]

The process is pinned to one CPU (``sched_setaffinity``) and onnxruntime runs with one thread. Inputs are
made here: a photo-like 12-MP JPEG (4000x3000, smooth colour fields plus sensor-like noise, quality 90,
EXIF with GPS), a 1024x768 JPEG, and a small 512x512 RGBA PNG with text chunks. Each case runs for
``--seconds`` per run after one warm-up call; the table shows the median over ``--runs`` runs of images
per CPU-second (``time.process_time``, robust on a shared machine) and per wall-second. ``--write``
replaces the ``## Images`` section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import numpy as np  # noqa: E402
from PIL import ExifTags, Image, PngImagePlugin  # noqa: E402

from hybridgate.models.image_moderation import NudeNetModerator  # noqa: E402
from hybridgate.privacy.images import ImageLimits, load_image, strip_image  # noqa: E402

LIMITS = ImageLimits()


def photo(width: int, height: int, seed: int = 0, noise: float = 6.0) -> Image.Image:
    rng = np.random.default_rng(seed)
    base = Image.fromarray(rng.integers(0, 255, (height // 16, width // 16, 3), dtype=np.uint8))
    smooth = np.asarray(base.resize((width, height), Image.Resampling.BICUBIC), dtype=np.int16)
    noisy = smooth + rng.normal(0, noise, smooth.shape).astype(np.int16)
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


def jpeg(im: Image.Image) -> bytes:
    ex = Image.Exif()
    ex[ExifTags.Base.Make], ex[ExifTags.Base.Model], ex[ExifTags.Base.Orientation] = "Canon", "EOS R5", 1
    ex[ExifTags.IFD.GPSInfo] = {1: "N", 2: (52.0, 31.0, 12.0), 3: "E", 4: (13.0, 24.0, 36.0)}
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=90, exif=ex)
    return buf.getvalue()


def small_png() -> bytes:
    from PIL import ImageDraw

    im = photo(512, 512, seed=3, noise=0.0).convert("RGBA")  # a graphic: colour fields, shapes, transparency
    draw = ImageDraw.Draw(im)
    for i in range(12):
        draw.rectangle((20 + 40 * i, 30, 50 + 40 * i, 480), fill=(255, 255, 255, 0 if i % 3 == 0 else 255))
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "Jane Doe")
    buf = io.BytesIO()
    im.save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


def run_case(fn: Callable[[], object], seconds: float) -> tuple[float, float]:
    fn()  # warm-up
    n, c0, w0 = 0, time.process_time(), time.perf_counter()
    while time.perf_counter() - w0 < seconds:
        fn()
        n += 1
    return n / (time.process_time() - c0), n / (time.perf_counter() - w0)


def moderate(detector: NudeNetModerator, data: bytes) -> float:
    im = load_image(data, LIMITS, target_side=640)
    im.thumbnail((640, 640))
    return detector.score([im])[0].sexual


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    cpu = sorted(os.sched_getaffinity(0))[0]
    os.sched_setaffinity(0, {cpu})
    up_before = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()

    big, mid, png = jpeg(photo(4000, 3000)), jpeg(photo(1024, 768, 1)), small_png()
    detector = NudeNetModerator(threads=1).load()
    decoded = load_image(mid, LIMITS)
    decoded.thumbnail((640, 640))
    cases = {
        f"strip 12-MP JPEG ({len(big) / 1e6:.1f} MB, re-encoded full size, q90)": lambda: strip_image(big, LIMITS),
        "strip 12-MP JPEG, max_side 2048 (DCT-scaled decode)": lambda: strip_image(big, LIMITS, max_side=2048),
        f"strip 1024x768 JPEG ({len(mid) / 1e3:.0f} kB)": lambda: strip_image(mid, LIMITS),
        f"strip 512x512 RGBA PNG ({len(png) / 1e3:.0f} kB, lossless)": lambda: strip_image(png, LIMITS),
        "moderate 12-MP JPEG (validate + decode at 1/4 + NudeNet)": lambda: moderate(detector, big),
        "moderate 1024x768 JPEG (validate + decode + NudeNet)": lambda: moderate(detector, mid),
        "NudeNet inference only (640x480 decoded)": lambda: detector.score([decoded]),
    }
    rows = []
    for name, fn in cases.items():
        runs = [run_case(fn, args.seconds) for _ in range(args.runs)]
        cpu_rates, wall_rates = [r[0] for r in runs], [r[1] for r in runs]
        rows.append((name, statistics.median(cpu_rates), statistics.median(wall_rates), cpu_rates))
        print(f"{name}: {statistics.median(cpu_rates):.2f} img/CPU-s, {statistics.median(wall_rates):.2f} img/s wall "
              f"(runs: {', '.join(f'{r:.2f}' for r in cpu_rates)})", flush=True)
    up_after = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    if args.write:
        write(rows, args, up_before, up_after)


def write(rows: list, args: argparse.Namespace, up_before: str, up_after: str) -> None:
    import onnxruntime
    import PIL

    lines = [
        "## Images", "",
        f"`PYTHONPATH=src .venv/bin/python bench/images.py --runs {args.runs} --seconds {args.seconds:g} --write` on "
        f"{date.today().isoformat()}; machine: {os.cpu_count()} cores ({platform.machine()}), Python "
        f"{platform.python_version()}, Pillow {PIL.__version__}, onnxruntime {onnxruntime.__version__}; the process "
        "pinned to ONE core, onnxruntime with one thread.",
        f"Load: `uptime` before: `{up_before}`; after: `{up_after}` (other jobs shared the 2 cores, so wall rates "
        "are well below CPU rates; CPU-time rates are the per-core capacity).", "",
        "Synthetic inputs made by the script (photo-like noise and colour fields, so JPEG sizes are realistic); "
        "stripping = validate, decode, apply orientation, drop all metadata, re-encode (JPEG q90 / PNG). "
        "Downsizing uses BICUBIC. Moderation = validate + decode (JPEG at reduced DCT scale) + shrink to 640 px + NudeNet 320n on one image.",
        "", "| case | images / CPU-second | images / wall-second | runs (CPU) |", "| --- | ---: | ---: | --- |",
    ]
    for name, cpu_rate, wall_rate, runs in rows:
        lines.append(f"| {name} | {cpu_rate:.2f} | {wall_rate:.2f} | {', '.join(f'{r:.2f}' for r in runs)} |")
    section = "\n".join(lines) + "\n"
    path = ROOT / "BENCHMARKS.md"
    text = path.read_text()
    start = text.find("\n## Images\n")
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = text.find("\n## ", start + 1)
        text = text[: start + 1] + section + (text[end:] if end >= 0 else "")
    path.write_text(text)


if __name__ == "__main__":
    main()
