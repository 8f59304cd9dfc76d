#!/usr/bin/env bash
# Renders the reference's benchmark configurations with RandomMandala 0.6.0
# (through ../shared/anchors/randommandala/bench.py) and with this renderer,
# in one run on this machine, and prints the per-image ratios.
#
#   docs/bench/render_vs_reference.sh            # renderer vs reference
#   docs/bench/render_vs_reference.sh --with-cli # also `mandala render` start-to-file
#                                                # and peak memory at 1024² and 4096²
#
# Environment: N (images per config, default 20), ANCHORS (default
# /work/shared/anchors/randommandala), VENV (default /tmp/rm-venv),
# CARGO_TARGET_DIR (where the release builds go, default ./target).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
ANCHORS="${ANCHORS:-/work/shared/anchors/randommandala}"
VENV="${VENV:-/tmp/rm-venv}"
N="${N:-20}"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
WITH_CLI=0
[[ "${1:-}" == "--with-cli" ]] && WITH_CLI=1
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

if [[ ! -x "$VENV/bin/python" ]]; then
  echo "setting up $VENV (RandomMandala and its pinned dependencies)" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q -r "$ANCHORS/requirements.lock.txt"
fi

maxrss() { grep -o 'Maximum resident set size (kbytes): [0-9]*' "$1" | grep -o '[0-9]*$'; }

# bench.py writes its images beside itself: run a copy, keep the anchors clean.
cp "$ANCHORS/bench.py" "$WORK/bench.py"
for cfg in default_1024 rich_1024; do
  echo "RandomMandala $cfg (n=$N)..." >&2
  /usr/bin/time -v "$VENV/bin/python" "$WORK/bench.py" --worker "$cfg" --n "$N" \
    > "$WORK/ref_$cfg.json" 2> "$WORK/ref_$cfg.time"
  echo "{\"peak_rss_kib\": $(maxrss "$WORK/ref_$cfg.time")}" > "$WORK/ref_$cfg.rss"
done

echo "mandala-render (n=$N)..." >&2
(cd "$ROOT" && cargo build -q --release -p mandala-render --example bench_configs)
/usr/bin/time -v "$TARGET/release/examples/bench_configs" --n "$N" \
  > "$WORK/ours.jsonl" 2> "$WORK/ours.time"
echo "{\"peak_rss_kib\": $(maxrss "$WORK/ours.time")}" > "$WORK/ours.rss"

python3 - "$WORK" <<'PY'
import json, os, platform, sys
w = sys.argv[1]
ours = {r["config"]: r for r in map(json.loads, open(os.path.join(w, "ours.jsonl")))}
ours_rss = json.load(open(os.path.join(w, "ours.rss")))["peak_rss_kib"]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
print(f"machine: {cpu}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}")
print()
print("| config (1024²) | RandomMandala median ms | ours median ms (geometry / raster / encode) | speed-up | RandomMandala PNG KiB min/med/max | ours PNG KiB min/med/max | peak RSS MiB ref / ours |")
print("|---|---|---|---|---|---|---|")
for cfg in ("default_1024", "rich_1024"):
    ref = json.loads(open(os.path.join(w, f"ref_{cfg}.json")).read().strip().splitlines()[-1])
    ref_rss = json.load(open(os.path.join(w, f"ref_{cfg}.rss")))["peak_rss_kib"]
    o = ours[cfg]
    rm = ref["total_s"]["median"] * 1000
    om = o["total_ms"]["median"]
    rp, op = ref["png_bytes"], o["png_kib"]
    print(f"| {cfg} | {rm:.1f} | {om:.2f} ({o['geometry_ms']:.2f} / {o['raster_ms']:.2f} / {o['encode_ms']:.2f}) "
          f"| **{rm / om:.1f}×** | {rp['min']/1024:.0f} / {rp['median']/1024:.0f} / {rp['max']/1024:.0f} "
          f"| {op['min']:.0f} / {op['median']:.0f} / {op['max']:.0f} | {ref_rss/1024:.0f} / {ours_rss/1024:.0f} |")
PY

if [[ $WITH_CLI == 1 ]]; then
  echo "mandala render (release build of mandala-cli)..." >&2
  (cd "$ROOT" && cargo build -q --release -p mandala-cli)
  BIN="$TARGET/release/mandala"
  echo
  echo "\`mandala render --seed S -o FILE\`, process start to file written, 1024² PNG:"
  if command -v hyperfine >/dev/null; then
    hyperfine -N --warmup 3 --runs 30 -u millisecond \
      "$BIN render --seed 1001 --size 1024 -o $WORK/cli.png" \
      "$BIN render --seed 1001 --size 1024 --layers 6 -o $WORK/cli6.png" 2>&1 | grep -E 'Time|Range|render'
  else
    for args in "--seed 1001" "--seed 1001 --layers 6"; do
      times=()
      for i in $(seq 1 30); do
        t0=$(date +%s%N); "$BIN" render $args --size 1024 -o "$WORK/cli.png" >/dev/null; t1=$(date +%s%N)
        times+=($(( (t1 - t0) / 1000 )))
      done
      printf '%s\n' "${times[@]}" | sort -n | awk -v a="$args" '{v[NR]=$1} END {printf "  %s: median %.1f ms, min %.1f ms (n=%d)\n", a, v[int((NR+1)/2)]/1000, v[1]/1000, NR}'
    done
  fi
  echo
  echo "peak memory (/usr/bin/time -v maxrss):"
  for size in 1024 4096; do
    for args in "--seed 1001" "--seed 1001 --layers 12 --elements 32 --ornaments"; do
      /usr/bin/time -v "$BIN" render $args --size $size -o "$WORK/mem.png" >/dev/null 2> "$WORK/mem.time"
      echo "  ${size}², $args: $(( $(maxrss "$WORK/mem.time") / 1024 )) MiB"
    done
  done
fi
