#!/usr/bin/env python3
"""Speed on a quiet and on a busy machine, facekit next to ONNX Runtime, in one run.

A real application shares its CPU (a video decoder, a UI, another service). This runs `facekit bench` on 1
and 2 threads and ONNX Runtime (../shared/peers/bench.sh's ort_bench.js) on 2 threads, alternately, once
with the machine as it is and once with other processes spinning (`sh -c 'while :; do :; done'`, one per
--busy), and prints the median of each configuration's medians over the rounds as a Markdown table.

    benchmarks/busy.py [--facekit build/tools/facekit/facekit] [--rounds 3] [--busy 1]
                       [--models facenet,mobilefacenet,mtcnn] [--baseline OTHER_FACEKIT]

--baseline times a second facekit build in the same rounds (to show that a change keeps the quiet speed).
ONNX Runtime is timed when ../shared/peers/setup.sh has installed it ($FACEKIT_PEERS); it has no MTCNN.
Standard library only.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPS = {"facenet": 30, "mobilefacenet": 100, "mtcnn": 20}
ORT = {"facenet": ("irv1.onnx", "1x3x160x160"), "mobilefacenet": ("mfn.onnx", "1x112x112x3")}


def run_json(cmd, env=None):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--facekit", default=os.path.join(HERE, "..", "build", "tools", "facekit", "facekit"))
    ap.add_argument("--baseline", help="another facekit binary, timed in the same rounds")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--busy", type=int, default=1, help="spinning processes in the busy condition (0: quiet only)")
    ap.add_argument("--models", default="facenet,mobilefacenet,mtcnn")
    ap.add_argument("--shared", default=os.environ.get("FACEKIT_SHARED", os.path.join(HERE, "..", "..", "shared")))
    ap.add_argument("--peers", default=os.environ.get("FACEKIT_PEERS", os.path.expanduser("~/.cache/facekit-peers")))
    args = ap.parse_args()
    models = args.models.split(",")
    ort_js = os.path.join(args.shared, "peers", "ort_bench.js")
    have_ort = os.path.isdir(os.path.join(args.peers, "node_modules", "onnxruntime-node")) and os.path.exists(ort_js)
    if not have_ort:
        print(f"ONNX Runtime not installed in {args.peers} (run {args.shared}/peers/setup.sh): facekit only", file=sys.stderr)
    builds = [("facekit", args.facekit)] + ([("baseline", args.baseline)] if args.baseline else [])

    results = {}  # (condition, model, engine, threads) -> [median ms per round]

    def record(key, ms):
        results.setdefault(key, []).append(ms)

    conditions = ["quiet"] + (["busy"] if args.busy > 0 else [])  # --busy 0: the quiet machine only
    for r in range(args.rounds):
        for cond in conditions:
            spinners = []
            if cond == "busy":
                spinners = [subprocess.Popen(["sh", "-c", "while :; do :; done"]) for _ in range(args.busy)]
            try:
                for m in models:
                    for name, exe in builds:
                        for t in (1, 2):
                            j = run_json([exe, "bench", "--model", m, "--threads", str(t), "--reps", str(REPS[m])])
                            record((cond, m, name, t), j["median_ms"])
                    if have_ort and m in ORT:
                        onnx, shape = ORT[m]
                        env = dict(os.environ, NODE_PATH=os.path.join(args.peers, "node_modules"))
                        j = run_json(["node", ort_js, os.path.join(args.peers, onnx), shape, "2", str(REPS[m])], env)
                        record((cond, m, "ort", 2), j["median_ms"])
            finally:
                for p in spinners:
                    p.kill()
                    p.wait()
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)

    def med(key):
        v = results.get(key)
        return statistics.median(v) if v else None

    def fmt(x):
        return "–" if x is None else f"{x:.2f}"

    head = "| network | machine | facekit 1 thread | facekit 2 threads | 2 threads / 1 |"
    if args.baseline:
        head += " baseline 1 thread | baseline 2 threads |"
    head += " ONNX Runtime 2 threads |"
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for m in models:
        for cond in conditions:
            one, two = med((cond, m, "facekit", 1)), med((cond, m, "facekit", 2))
            row = f"| {m} | {cond if cond == 'quiet' else f'busy ({args.busy} spinning)'} | {fmt(one)} | {fmt(two)} | "
            row += (f"{two / one:.2f}×" if one and two else "–") + " |"
            if args.baseline:
                row += f" {fmt(med((cond, m, 'baseline', 1)))} | {fmt(med((cond, m, 'baseline', 2)))} |"
            row += f" {fmt(med((cond, m, 'ort', 2)))} |"
            print(row)
    print(f"\nmedian over {args.rounds} rounds of each run's median ms; reps {REPS}; conditions and engines alternated")


if __name__ == "__main__":
    main()
