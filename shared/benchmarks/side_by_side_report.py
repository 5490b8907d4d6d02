#!/usr/bin/env python3
"""Table and plot for shared/benchmarks/side_by_side.sh.

Usage: side_by_side_report.py OURS_JSON JAX_JSON OUT_DIR

Reads the RESULT objects of shared/secret-key/benches/side_by_side.rs (OURS_JSON) and of
shared/benchmarks/jax_side_by_side.py (JAX_JSON; may be missing when JAX could not be installed), and
writes OUT_DIR/table.md and, when matplotlib is importable, OUT_DIR/images_per_second.png.
Uses only the standard library apart from matplotlib.
"""

import datetime
import json
import os
import platform
import subprocess
import sys

WORKS = [
    ("mnist_mlp_train", "mnist_mlp training epoch"),
    ("mnist_cnn_train", "mnist_cnn training epoch"),
    ("mnist_cnn_infer", "mnist_cnn inference"),
    ("image_cnn_train", "image_cnn training epoch (64x64)"),
]


def command_output(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return ""


def cpu_model():
    for line in command_output(["lscpu"]).splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def load(path):
    if not path or not os.path.exists(path) or os.path.getsize(path) == 0:
        return None
    with open(path) as f:
        return json.load(f)


def by_key(run, form=None):
    if run is None:
        return {}
    return {r["work"]: r for r in run["results"] if form is None or r["form"] == form}


def cell(r):
    if r is None:
        return "—"
    return f"{r['median_s']:.3f} s ({r['images_per_s']:,.0f} img/s)"


def ratio(a, b):
    if a is None or b is None:
        return "—"
    return f"{a['median_s'] / b['median_s']:.1f}x"


def main():
    ours_path, jax_path, out_dir = sys.argv[1:4]
    ours, jax = load(ours_path), load(jax_path)
    if ours is None:
        sys.exit(f"no result from our engine in {ours_path}")
    plain, compact, jx = by_key(ours, "plaintext"), by_key(ours, "compact"), by_key(jax, "jax")
    rustc = command_output(["rustc", "--version"]).strip() or "unknown"
    jax_version = f"jax {jax['jax_version']} (jaxlib {jax['jaxlib_version']}, {jax['backend']})" if jax else "not run"
    lines = [
        "# Side by side: our engine and JAX",
        "",
        f"- Date: {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- Machine: {cpu_model()}, {os.cpu_count()} logical CPUs, {platform.system()} {platform.machine()}",
        f"- Versions: {rustc}; {jax_version}",
        f"- Work: batch {ours['batch']}, f32, {ours['samples']} samples (image_cnn: {ours['image_samples']} images of 64x64),"
        f" median of {ours['rounds']} warm runs; ours NCHW, JAX {jax['layout'] if jax else '—'}",
        "- Ratios are seconds ours / seconds JAX (how many times slower than JAX).",
        "",
        "| work | ours plaintext | ours compact | JAX plaintext | plain / JAX | compact / JAX |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for key, label in WORKS:
        p, c, j = plain.get(key), compact.get(key), jx.get(key)
        lines.append(f"| {label} | {cell(p)} | {cell(c)} | {cell(j)} | {ratio(p, j)} | {ratio(c, j)} |")
    if jax:
        compile_s = ", ".join(f"{r['work']} {r['compile_s']:.2f} s" for r in jax["results"])
        lines += ["", f"JAX compile time (excluded above): {compile_s}."]
    else:
        lines += ["", "JAX was not run (it could not be installed); only our engine was measured."]
    os.makedirs(out_dir, exist_ok=True)
    table = os.path.join(out_dir, "table.md")
    with open(table, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"\nwrote {table}")

    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not available: no plot written")
        return
    series = [("ours plaintext", plain, "#4c72b0"), ("ours compact (encrypted)", compact, "#dd8452")]
    if jax:
        series.append(("JAX plaintext (jit, CPU)", jx, "#55a868"))
    fig, ax = plt.subplots(figsize=(10, 5.5))
    width = 0.8 / len(series)
    for i, (name, rows, color) in enumerate(series):
        xs = [w + (i - (len(series) - 1) / 2) * width for w in range(len(WORKS))]
        vals = [rows[k]["images_per_s"] if k in rows else 0 for k, _ in WORKS]
        bars = ax.bar(xs, vals, width, label=name, color=color)
        for bar, v in zip(bars, vals):
            if v:
                ax.annotate(f"{v:,.0f}", (bar.get_x() + bar.get_width() / 2, v), ha="center", va="bottom", fontsize=7)
    ax.set_yscale("log")
    ax.set_xticks(range(len(WORKS)))
    ax.set_xticklabels([label.replace(" (", "\n(") for _, label in WORKS], fontsize=8)
    ax.set_ylabel("images/s (log scale, higher is better)")
    ax.set_title(f"images/s per configuration, batch {ours['batch']}, f32, {os.cpu_count()} CPUs ({cpu_model()})", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    png = os.path.join(out_dir, "images_per_second.png")
    fig.savefig(png, dpi=100)
    print(f"wrote {png}")


if __name__ == "__main__":
    main()
