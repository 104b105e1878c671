#!/usr/bin/python3
"""Chart of a make-bench result: requests/s through the gateway next to the
pgbench ceiling per route, and the ratio against the SPEC §10 targets.

    bench/chart.py bench/results/latest.json bench/results/latest.png

Debian's python3-matplotlib (scripts/deps.sh), Agg backend: no display.
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

# SPEC §10: authenticated reads >= 70 % of the ceiling, login within 10 %.
TARGETS = {
    "GET /api/v1/users/me": 0.70,
    "GET /api/v1/items/?limit=10": 0.70,
    "GET /api/v1/items/{id}": 0.70,
    "POST /api/v1/login/access-token": 0.90,
}


def main(src, dst):
    rows = json.load(open(src))
    run = rows[0].get("run", {}) if rows else {}
    names = [r["route"].replace("/api/v1", "") for r in rows]
    x = range(len(rows))
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 7.5), sharex=True,
                                      gridspec_kw={"height_ratios": [3, 2]})
    w = 0.38
    top.bar([i - w / 2 for i in x], [r["rps"] for r in rows], w,
            label="gateway (wrk)", color="#3b75af")
    top.bar([i + w / 2 for i in x], [r["ceiling_tps"] for r in rows], w,
            label="ceiling (pgbench)", color="#a6a6a6")
    top.set_yscale("log")
    peak = max([r["rps"] for r in rows] + [r["ceiling_tps"] for r in rows] + [1])
    top.set_ylim(top=peak * 8)
    top.set_ylabel("requests/s (log)")
    top.legend(loc="upper left", ncol=2)
    top.set_title("pgapp make bench %s — %s x %s s per route and side, %s connections, "
                  "%s CPUs, bcrypt cost %s" % (run.get("commit", ""), run.get("rounds", "?"),
                                               run.get("seconds", "?"), run.get("connections", "?"),
                                               run.get("cpus", "?"), run.get("bcrypt_cost", "?")),
                  fontsize=10)
    for i, r in zip(x, rows):
        top.annotate("%.0f" % r["rps"], (i - w / 2, r["rps"]), ha="center",
                     va="bottom", fontsize=8)

    ratios = [r["ratio"] for r in rows]
    colors = []
    for r in rows:
        t = TARGETS.get(r["route"])
        colors.append("#888888" if t is None else ("#2e8b57" if r["ratio"] >= t else "#c0392b"))
    bottom.bar(list(x), ratios, 0.6, color=colors)
    for i, r in zip(x, rows):
        t = TARGETS.get(r["route"])
        if t is not None:
            bottom.hlines(t, i - 0.35, i + 0.35, colors="black", linestyles="dashed")
        bottom.annotate("%.2f" % r["ratio"], (i, r["ratio"]), ha="center",
                        va="bottom", fontsize=8)
    bottom.axhline(1.0, color="#cccccc", linewidth=0.8)
    bottom.set_ylabel("gateway / ceiling (median of rounds)")
    bottom.set_ylim(0, max(1.1, max(ratios) * 1.15) if ratios else 1.1)
    bottom.set_xticks(list(x))
    bottom.set_xticklabels(names, rotation=15, ha="right", fontsize=8)
    bottom.text(0.01, 0.95, "dashed: SPEC §10 target (green met, red missed, grey none)",
                transform=bottom.transAxes, fontsize=8, va="top")
    fig.tight_layout()
    fig.savefig(dst, dpi=110)
    print("chart: %s" % dst)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: chart.py RESULT.json OUT.png")
    main(sys.argv[1], sys.argv[2])
