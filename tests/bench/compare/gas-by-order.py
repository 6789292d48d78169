#!/usr/bin/env python3
"""Gas per packet of each relayer with the order of the runs taken out.

In a compare-bench run every relayer works on the same two chains one after the other, and each
run's packets make the chains' state larger: the proofs of the next run are longer, and its gas per
packet higher. Medians over three repeats then depend on which relayer happened to run later (in
repeats 0 and 2 Ferry goes first, in repeat 1 Hermes does). This fits, per workload and by least
squares over the runs in the order they ran,

    gas per packet = base + step * (run index) + effect[relayer]

with Hermes as the reference (effect 0), and writes base, step and each relayer's effect (in gas
and as a share of the mean) to OUT.

Usage: gas-by-order.py RESULTS.json OUT.json
"""
import json
import sys


def solve(rows, ys):
    """Least squares by the normal equations (a handful of unknowns)."""
    n = len(rows[0])
    m = [
        [sum(r[i] * r[j] for r in rows) for j in range(n)]
        + [sum(r[i] * y for r, y in zip(rows, ys))]
        for i in range(n)
    ]
    for i in range(n):
        pivot = max(range(i, n), key=lambda k: abs(m[k][i]))
        m[i], m[pivot] = m[pivot], m[i]
        if m[i][i] == 0:
            raise SystemExit("the runs do not tell the relayers apart (one relayer only?)")
        p = m[i][i]
        m[i] = [v / p for v in m[i]]
        for k in range(n):
            if k != i:
                f = m[k][i]
                m[k] = [a - f * b for a, b in zip(m[k], m[i])]
    return [m[i][n] for i in range(n)]


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    runs = json.load(open(sys.argv[1]))["runs"]
    out = {"source": sys.argv[1], "workloads": {}}
    for w in sorted({r["workload"] for r in runs}):
        ws = [r for r in runs if r["workload"] == w]
        others = sorted({r["relayer"] for r in ws} - {"hermes"})
        if "hermes" not in {r["relayer"] for r in ws} or not others:
            continue
        rows = [[1.0, float(i)] + [float(r["relayer"] == o) for o in others] for i, r in enumerate(ws)]
        ys = [r["relayer_gas_per_packet"] for r in ws]
        coef = solve(rows, ys)
        mean = sum(ys) / len(ys)
        out["workloads"][str(w)] = {
            "runs_in_order": [[r["relayer"], r["repeat"], round(r["relayer_gas_per_packet"])] for r in ws],
            "base": round(coef[0], 1),
            "step_per_run": round(coef[1], 1),
            "effect_against_hermes": {
                o: {"gas": round(c, 1), "share_of_mean": round(c / mean, 5)} for o, c in zip(others, coef[2:])
            },
        }
    with open(sys.argv[2], "w") as f:
        json.dump(out, f, indent=2)
        f.write("\n")
    for w, v in out["workloads"].items():
        effects = ", ".join(
            f"{o} {e['gas']:+.0f} ({100 * e['share_of_mean']:+.2f}%)" for o, e in v["effect_against_hermes"].items()
        )
        print(f"workload {w}: +{v['step_per_run']:.0f} gas per packet per run; against Hermes: {effects}")


if __name__ == "__main__":
    main()
