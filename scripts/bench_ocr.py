#!/usr/bin/env python3
"""Speed benchmark, RapidOCR vs ours, on the same images in one run (called by scripts/bench-ocr).

Usage: bench_ocr.py TESTDATA ANCHOR EDGE_AGENT [--per-kind N]
TESTDATA has containers/ and plates/ with labels.tsv; ANCHOR is rapidocr_anchor.py, whose
post-processing (container_codes, plate_of) is reused so both sides are judged alike.
Per image: RapidOCR's wall time around `engine(path)`; ours from `edge-agent ocr --json
--camera containers|plates` (timings_ms.total: decode + detection + recognition + parsing,
measured in the engine), one run per set. Each side and each of our runs first reads one
warm-up image that is not counted. RSS is the larger of our two runs'.
"""
import csv, json, os, statistics, subprocess, sys, time

def load_anchor(path):
    # The anchor script runs main() at import; take its definitions only.
    src = open(path).read().rsplit("\nmain()", 1)[0]
    ns = {"__name__": "anchor"}
    exec(compile(src, path, "exec"), ns)
    return ns

def sample(root, per_kind):
    out = []
    for cat in ("containers", "plates"):
        rows = list(csv.DictReader(open(os.path.join(root, cat, "labels.tsv")), delimiter="\t"))
        for kind in ("scene", "crop"):
            rs = [r for r in rows if r["kind"] == kind]
            step = max(1, len(rs) // per_kind) if per_kind else 1
            for r in rs[::step][: per_kind or None]:
                out.append((cat, kind, os.path.join(root, cat, r["file"]), r["label"]))
    return out

def judge(anchor, cat, label, rapid_lines, ours):
    if cat == "containers":
        want = label.split("|")
        got_r = anchor["container_codes"]([t for t, _ in rapid_lines])
        got_o = [c["code"] for c in ours.get("containers", [])]
        ok = lambda got: all(w in got[: max(1, len(want))] or (len(want) > 1 and w in got) for w in want)
        return ok(got_r), ok(got_o)
    norm = anchor["norm_plate"]
    r = norm(anchor["plate_of"](rapid_lines)) == norm(label)
    o = bool(ours.get("plates")) and norm(ours["plates"][0]["text"]) == norm(label)
    return r, o

def main():
    root, anchor_path, agent = sys.argv[1:4]
    per_kind = int(sys.argv[sys.argv.index("--per-kind") + 1]) if "--per-kind" in sys.argv else 15
    anchor = load_anchor(anchor_path)
    images = sample(root, per_kind)
    warm = images[0][2]

    from rapidocr_onnxruntime import RapidOCR
    eng = RapidOCR()
    eng(warm)
    rapid = []
    for cat, kind, path, label in images:
        t = time.perf_counter()
        try:
            res, _ = eng(path)
        except Exception:
            res = None
        rapid.append((time.perf_counter() - t, [(x[1], x[2]) for x in (res or [])]))

    # Each set is read as the lane reads its camera's frames (`--camera`): a container
    # camera's as one there for container codes, a plate camera's as one for plates.
    ours, rss = {}, 0
    for cat, camera in (("containers", "containers"), ("plates", "plates")):
        paths = [p for c, _, p, _ in images if c == cat]
        if not paths:
            continue
        proc = subprocess.run([agent, "ocr", "--json", "--rss", "--camera", camera, paths[0]] + paths,
                              capture_output=True, text=True)
        if proc.returncode not in (0, 1):
            sys.exit(f"edge-agent ocr failed: {proc.stderr.strip()}")
        reads = [json.loads(l) for l in proc.stdout.splitlines() if l.strip()][1:]
        ours.update(zip(paths, reads))
        rss = max(rss, next((int(l.split("=")[1]) for l in proc.stderr.splitlines() if l.startswith("rss_kb=")), 0))
    ours = [ours[p] for _, _, p, _ in images]

    groups = {}
    for (cat, kind, path, label), (rt, rl), o in zip(images, rapid, ours):
        ok_r, ok_o = judge(anchor, cat, label, rl, o)
        g = groups.setdefault((cat, kind), [[], [], 0, 0])
        g[0].append(rt * 1000); g[1].append(o["timings_ms"]["total"]); g[2] += ok_r; g[3] += ok_o
    print(f"{'set':<18} {'n':>4} {'rapidocr ms':>12} {'ours ms':>9} {'ratio':>6} {'rapidocr exact':>15} {'ours exact':>11}")
    all_r, all_o = [], []
    for (cat, kind), (rt, ot, er, eo) in sorted(groups.items()):
        n = len(rt)
        all_r += rt; all_o += ot
        mr, mo = statistics.median(rt), statistics.median(ot)
        print(f"{cat + ' ' + kind:<18} {n:>4} {mr:>12.0f} {mo:>9.0f} {mo / mr:>6.2f} {er:>9}/{n:<5} {eo:>5}/{n:<5}")
    print(f"{'all (median)':<18} {len(all_r):>4} {statistics.median(all_r):>12.0f} {statistics.median(all_o):>9.0f} "
          f"{statistics.median(all_o) / statistics.median(all_r):>6.2f}")
    print(f"{'all (total time)':<18} {len(all_r):>4} {sum(all_r):>12.0f} {sum(all_o):>9.0f} {sum(all_o) / sum(all_r):>6.2f}")
    print(f"ours: RSS once idle after each set, the larger: {rss / 1024:.0f} MiB")

main()
