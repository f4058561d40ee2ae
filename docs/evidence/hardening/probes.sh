#!/usr/bin/env bash
# Probes of issue #14 ("Hardening") against the checkout this file is in (read only).
# Usage: bash docs/evidence/hardening/probes.sh [probe ...]   (probes: p1 .. p15; default: all)
# Everything is written under $PROBES_DIR (default /tmp/probes): stores in work/, outputs in log/.
# Run it only when the machine is idle (it trains smoke runs, at most --jobs 2).
set -u
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
P=${PROBES_DIR:-/tmp/probes}
mkdir -p "$P"
cp "$REPO/docs/evidence/hardening/launch.py" "$P/launch.py"
W=$P/work
LOG=$P/log
export BRAINLIKE_CACHE_DIR=$P/cache
export PYTHONDONTWRITEBYTECODE=1
umask 022
RS="python $REPO/run_suite.py"
SMOKE="--profile smoke --no-progress"
mkdir -p "$W" "$LOG"
cd "$P" || exit 1

hr() { printf '\n======================== %s ========================\n' "$*"; }

# run NAME CMD...: run CMD, keep its stdout/stderr in log/NAME.{out,err}, print rc, seconds
# and the first lines (HEAD, default 12) of both streams.
run() {
  local name=$1; shift
  local t0 t1 rc
  t0=$(date +%s.%N)
  "$@" >"$LOG/$name.out" 2>"$LOG/$name.err"
  rc=$?
  t1=$(date +%s.%N)
  printf '\n### %s  rc=%s  %.1fs\n$ %s\n' "$name" "$rc" "$(echo "$t1 - $t0" | bc)" "$*"
  echo "--- stdout (first ${HEAD:-12} lines of $(wc -l <"$LOG/$name.out")):"
  head -n "${HEAD:-12}" "$LOG/$name.out"
  echo "--- stderr (first ${HEAD:-12} lines of $(wc -l <"$LOG/$name.err")):"
  head -n "${HEAD:-12}" "$LOG/$name.err"
  return $rc
}
# grep_out NAME PATTERN: matching lines of both streams of a logged command
grep_out() { echo "--- lines of $1 matching /$2/:"; cat "$LOG/$1.out" "$LOG/$1.err" | grep -E -- "$2" | head -n "${HEAD:-20}"; }

# key OUT METHOD SEED: the key of the stored run of METHOD and SEED in store OUT
key() {
  python - "$@" <<'EOF'
import json, sys, pathlib
out, method, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
for p in sorted(pathlib.Path(out, "runs").glob("*.json")):
    try:
        rec = json.loads(p.read_text())
    except Exception:
        continue
    if rec["spec"]["method"] == method and rec["spec"]["seed"] == seed:
        print(rec["key"]); break
EOF
}
truncate_half() { python -c "import sys,pathlib; p=pathlib.Path(sys.argv[1]); d=p.read_bytes(); p.write_bytes(d[:len(d)//2])" "$1"; echo "truncated $1 to half"; }
garble() { python -c "
import sys,pathlib
p=pathlib.Path(sys.argv[1]); d=bytearray(p.read_bytes()); m=len(d)//2
d[m:m+64]=bytes(b^0x5A for b in d[m:m+64]); p.write_bytes(bytes(d))" "$1"; echo "garbled 64 bytes in the middle of $1 (same size)"; }
count() { ls "$1" 2>/dev/null | grep -c "\.json$"; }
members() { # live (non-zombie) processes of process group $1
  ps -eo pid=,pgid=,stat=,args= | awk -v g="$1" '$2==g && $3 !~ /^Z/ {print}'
}

GRID1="--methods lca,ista --dataset digits $SMOKE --seeds 0-2"

p1() {
  hr "1. damaged store files"
  rm -rf "$W"/s1*
  run p1_base $RS $GRID1 --out "$W/s1"
  grep_out p1_base "runs:"

  # 1a: truncated record
  cp -a "$W/s1" "$W/s1a"
  local k; k=$(key "$W/s1a" lca 1)
  truncate_half "$W/s1a/runs/$k.json"
  HEAD=20 run p1a_report $RS report --out "$W/s1a"
  run p1a_dry $RS $GRID1 --out "$W/s1a" --dry-run
  grep_out p1a_dry "done|todo|damaged|$k"
  run p1a_rerun $RS $GRID1 --out "$W/s1a"
  grep_out p1a_rerun "runs:|damaged|FAILED"
  run p1a_report2 $RS report --out "$W/s1a"
  grep_out p1a_report2 "finished|damaged"

  # 1b: truncated .npz of a G-VAE run (the gap analysis reads it); a previous report exists;
  # the damaged run is not in the later ista-only grid
  local G1B="--methods gvae,ista --dataset digits $SMOKE --seeds 0-2"
  run p1b_base $RS $G1B --out "$W/s1b" >/dev/null
  grep_out p1b_base "runs:"
  (cd "$W/s1b/reports" && find . -type f | sort | xargs sha256sum) >"$LOG/p1b_reports_before.txt"
  k=$(key "$W/s1b" gvae 2)
  truncate_half "$W/s1b/runs/$k.npz"
  # a report killed mid-build (kill -9 as soon as its staging folder appears, + 0.3 s) must
  # leave the previous reports/ whole
  $RS report --out "$W/s1b" >"$LOG/p1b_killed.out" 2>&1 &
  local rp=$! i
  for i in $(seq 1 1000); do
    ls -d "$W"/s1b/.reports.building-* >/dev/null 2>&1 && break
    sleep 0.01
  done
  sleep 0.3
  echo "report pid $rp state before kill: $(ps -o stat= -p $rp) (staging: $(ls -d "$W"/s1b/.reports.building-* 2>/dev/null | sed "s|$W/||"))"
  kill -KILL $rp; wait $rp 2>/dev/null
  echo "--- killed report's output:"; cat "$LOG/p1b_killed.out"
  (cd "$W/s1b/reports" && find . -type f | sort | xargs sha256sum) >"$LOG/p1b_reports_killed.txt"
  if cmp -s "$LOG/p1b_reports_before.txt" "$LOG/p1b_reports_killed.txt"; then
    echo "--- reports/ after the killed build: identical to before ($(wc -l <"$LOG/p1b_reports_before.txt") files)"
  else
    echo "--- reports/ after the killed build DIFFERS from before:"; diff "$LOG/p1b_reports_before.txt" "$LOG/p1b_reports_killed.txt" | head
  fi
  echo "--- store folder after the killed build: $(ls -a "$W/s1b" | tr '\n' ' ')"
  HEAD=20 run p1b_report $RS report --out "$W/s1b"
  echo "--- beside reports/ now: $(ls -a "$W/s1b" | tr '\n' ' ')"
  echo "--- index.md mentions the file: $(grep -c "$k.npz" "$W/s1b/reports/index.md") line(s)"
  HEAD=25 run p1b_grid_ista $RS --methods ista --dataset digits $SMOKE --seeds 0-2 --out "$W/s1b"
  grep_out p1b_grid_ista "BadZip|Traceback|damaged|$k|runs:"
  run p1b_gap $RS gap --out "$W/s1b" --device cpu
  grep_out p1b_gap "BadZip|Traceback|damaged|$k"
  run p1b_dry $RS $G1B --out "$W/s1b" --dry-run
  grep_out p1b_dry "$k|runs:"
  run p1b_rerun $RS $G1B --out "$W/s1b"
  grep_out p1b_rerun "runs:|FAILED"
  run p1b_report_after $RS report --out "$W/s1b"
  grep_out p1b_report_after "finished|damaged"

  # 1c: garbled .pt (a BiHM run, whose checkpoint `sample` loads; and an LCA run)
  rm -rf "$W/s1c"
  run p1c_base $RS --methods bihm,lca --dataset digits $SMOKE --seeds 0 --out "$W/s1c"
  grep_out p1c_base "runs:|FAILED"
  local kb kl
  kb=$(key "$W/s1c" bihm 0); kl=$(key "$W/s1c" lca 0)
  garble "$W/s1c/runs/$kb.pt"
  garble "$W/s1c/runs/$kl.pt"
  run p1c_sample $RS sample bihm --run "$kb" --out "$W/s1c" --to "$W/s1c_sample.png"
  grep_out p1c_sample "weights_only|Unpickling|Traceback|$kb"
  HEAD=20 run p1c_report $RS report --out "$W/s1c"
  run p1c_dry $RS --methods bihm,lca --dataset digits $SMOKE --seeds 0 --out "$W/s1c" --dry-run
  grep_out p1c_dry "done|todo|$kb|$kl"
  run p1c_rerun $RS --methods bihm,lca --dataset digits $SMOKE --seeds 0 --out "$W/s1c"
  grep_out p1c_rerun "runs:|FAILED"
  run p1c_sample2 $RS sample bihm --run "$kb" --out "$W/s1c" --to "$W/s1c_sample.png"
}

SLEEPER='
"""A method whose fit marks its start (seed.pid) and sleeps (probe of interrupts)."""
import os, time
from pathlib import Path
from suite.method import Inference, Method
from suite.registry import register


@register
class Sleeper(Method):
    """Sleeps in fit."""

    name = "sleeper"
    family = "other"
    hparams = {"seconds": 60.0}

    def fit(self, train, budget, progress, val=None):
        Path(os.environ["SLEEPER_MARKS"], f"{self.seed}.{os.getpid()}").write_text("")
        end = time.monotonic() + self.hp["seconds"]
        while time.monotonic() < end:
            time.sleep(0.05)
        return self

    def infer(self, x):
        return Inference(codes=x[:, :self.n_latents] * 0, recon=x * 0)
'

# grid NAME OUT KIND: start a --jobs 2 grid of 6 long runs in a new session (pgid = pid), with
# SIGINT at its default disposition as at a terminal (launch.py)
grid() {
  local name=$1 out=$2 kind=$3
  if [ "$kind" = lca ]; then
    python "$P/launch.py" $RS --methods lca --dataset nat16 $SMOKE --seeds 0-5 --jobs 2 \
      --set lca.epochs=1000 --set lca.max_seconds=120 --out "$out" >"$LOG/$name.out" 2>&1 &
  else
    SLEEPER_MARKS=$P/marks_$name python "$P/launch.py" $RS --plugins "$P/plug_sleeper" --methods sleeper \
      --dataset nat16 $SMOKE --seeds 0-5 --jobs 2 --out "$out" >"$LOG/$name.out" 2>&1 &
  fi
  GRID_PID=$!
}
# wait_started PID: until the group holds main + 2 workers (+ resource tracker), then 15 s more
wait_started() {
  local i
  for i in $(seq 1 240); do
    [ "$(members "$1" | wc -l)" -ge 3 ] && break
    sleep 0.5
  done
  sleep 15
  echo "--- process group $1 before the signal:"; members "$1"
}
# wait_exit PID T0: seconds from T0 until PID exits (30 s at most)
wait_exit() {
  local i
  for i in $(seq 1 300); do
    case "$(ps -o stat= -p "$1")" in ""|Z*) break;; esac
    sleep 0.1
  done
  echo "$(echo "$(date +%s.%N) - $2" | bc)"
}
# wait_group_empty PGID T0: seconds from T0 until the group has no live process (20 s at most)
wait_group_empty() {
  local i
  for i in $(seq 1 200); do
    [ -z "$(members "$1")" ] && break
    sleep 0.1
  done
  echo "$(echo "$(date +%s.%N) - $2" | bc)  (left: $(members "$1" | wc -l))"
}

p2() {
  hr "2. Ctrl-C and kill -9 with --jobs 2"
  rm -rf "$W"/s2* "$P"/marks_* "$P/plug_sleeper"
  mkdir -p "$P/plug_sleeper/methods"
  printf '%s' "$SLEEPER" >"$P/plug_sleeper/methods/sleeper.py"
  local t0 secs rc name

  for variant in "lca group" "sleeper group" "sleeper main" "lca main"; do
    set -- $variant
    name="p2_int_$1_$2"
    mkdir -p "$P/marks_$name"
    grid "$name" "$W/s2_$1_$2" "$1"
    wait_started "$GRID_PID"
    local marks_before; marks_before=$(ls "$P/marks_$name" | wc -l)
    t0=$(date +%s.%N)
    if [ "$2" = group ]; then kill -INT -- "-$GRID_PID"; else kill -INT "$GRID_PID"; fi
    secs=$(wait_exit "$GRID_PID" "$t0")
    case "$(ps -o stat= -p "$GRID_PID")" in ""|Z*) ;; *)
      echo "!!! still running 30 s after SIGINT: killing its group"; kill -KILL -- "-$GRID_PID";; esac
    wait "$GRID_PID"; rc=$?
    echo "### $name: SIGINT to the $2 -> exit rc=$rc after ${secs}s"
    echo "    group empty after: $(wait_group_empty "$GRID_PID" "$t0")s"
    sleep 5
    echo "    records 5 s later: runs=$(count "$W/s2_$1_$2/runs") failures=$(count "$W/s2_$1_$2/failures")"
    [ "$1" = sleeper ] && echo "    runs started: before the signal $marks_before, after $(ls "$P/marks_$name" | wc -l) ($(ls "$P/marks_$name" | tr '\n' ' '))"
    echo "--- output:"; tail -n 8 "$LOG/$name.out"
  done

  name=p2_kill9_lca
  grid "$name" "$W/s2_kill9" lca
  wait_started "$GRID_PID"
  t0=$(date +%s.%N)
  kill -KILL "$GRID_PID"
  wait "$GRID_PID" 2>/dev/null
  echo "### $name: kill -9 of the main process $GRID_PID"
  echo "    group (orphaned workers) empty after: $(wait_group_empty "$GRID_PID" "$t0")s"
  members "$GRID_PID"
  sleep 5
  echo "    records 5 s later: runs=$(count "$W/s2_kill9/runs") failures=$(count "$W/s2_kill9/failures")"
  # clean up anything left
  for pid in $(members "$GRID_PID" | awk '{print $1}'); do kill -KILL "$pid"; done

  name=p2_kill9_sleeper
  mkdir -p "$P/marks_$name"
  grid "$name" "$W/s2_kill9s" sleeper
  wait_started "$GRID_PID"
  t0=$(date +%s.%N)
  kill -KILL "$GRID_PID"
  wait "$GRID_PID" 2>/dev/null
  echo "### $name: kill -9 of the main process $GRID_PID"
  echo "    group (orphaned workers) empty after: $(wait_group_empty "$GRID_PID" "$t0")s"
  sleep 5
  echo "    runs started: $(ls "$P/marks_$name" | wc -l); records: runs=$(count "$W/s2_kill9s/runs") failures=$(count "$W/s2_kill9s/failures")"
  for pid in $(members "$GRID_PID" | awk '{print $1}'); do kill -KILL "$pid"; done
}

# plugin DIR MODULE NAME: a copy of tests/plugins/methods/toy.py as DIR/methods/MODULE.py whose
# methods are NAME and NAME2
plugin() {
  mkdir -p "$1/methods"
  sed -e "s/name = \"toy\"/name = \"$3\"/" -e "s/name = \"toy2\"/name = \"${3}2\"/" \
    $REPO/tests/plugins/methods/toy.py >"$1/methods/$2.py"
}

p3() {
  hr "3. plugin modules named like a built-in / like each other"
  rm -rf "$P"/plug_shadow "$P"/plug_a "$P"/plug_b "$W"/s3*
  plugin "$P/plug_shadow" sparse_coding my_coder
  run p3a_list $RS list --plugins "$P/plug_shadow"
  grep_out p3a_list "my_coder|lca "
  run p3a_run $RS --plugins "$P/plug_shadow" --methods my_coder,lca --dataset nat16 $SMOKE --out "$W/s3a"
  grep_out p3a_run "runs:|unknown|FAILED|my_coder|lca"
  plugin "$P/plug_a" model model_a
  plugin "$P/plug_b" model model_b
  run p3b_run $RS --plugins "$P/plug_a" --plugins "$P/plug_b" --methods model_a,model_b \
    --dataset nat16 $SMOKE --jobs 2 --out "$W/s3b"
  grep_out p3b_run "runs:|unknown|FAILED|model_"
}

p4() {
  hr "4. numbers in exponent notation"
  rm -rf "$W"/s4*
  run p4_set_dry $RS --methods gvae --dataset nat16 $SMOKE --set gvae.lr=1e-3 --out "$W/s4" --dry-run
  grep_out p4_set_dry "lr|to run"
  run p4_set $RS --methods gvae --dataset nat16 $SMOKE --set gvae.lr=1e-3 --out "$W/s4"
  grep_out p4_set "runs:|FAILED|must be"
  cat >"$P/p4_cfg.yaml" <<'EOF'
methods: gvae
dataset: nat16
profile: smoke
method_config:
  gvae:
    "*": {hparams: {lr: 1e-3}}
EOF
  run p4_cfg_dry $RS --config "$P/p4_cfg.yaml" --out "$W/s4" --dry-run --no-progress
  grep_out p4_cfg_dry "lr|done|must be"
  cat >"$P/p4_cfg_set.yaml" <<'EOF'
methods: gvae
dataset: nat16
profile: smoke
set: ["gvae.lr=1e-3"]
EOF
  run p4_cfgset_dry $RS --config "$P/p4_cfg_set.yaml" --out "$W/s4" --dry-run --no-progress
  grep_out p4_cfgset_dry "lr|done|must be"
}

p5() {
  hr "5. unusable --out"
  chattr -R -i "$W/s5_ro" "$W/s5_store" 2>/dev/null; rm -rf "$W"/s5*
  echo "not a folder" >"$W/s5_file"
  run p5a_file $RS --methods lca --dataset nat16 $SMOKE --out "$W/s5_file"
  run p5a_file_sub $RS --methods lca --dataset nat16 $SMOKE --out "$W/s5_file/sub"
  echo "--- s5_file still holds: $(cat "$W/s5_file")"

  mkdir -p "$W/s5_ro"
  chmod 555 "$W/s5_ro"
  touch "$W/s5_ro/.probe" 2>/dev/null && echo "as $(id -un), chmod 555 does not stop writes: $W/s5_ro is writable" && rm -f "$W/s5_ro/.probe"
  chattr +i "$W/s5_ro" && echo "chattr +i $W/s5_ro"
  touch "$W/s5_ro/.probe" 2>/dev/null || echo "after chattr +i: cannot create files in it"
  run p5b_ro $RS --methods lca --dataset nat16 $SMOKE --out "$W/s5_ro/store"
  run p5b_ro_dry $RS --methods lca --dataset nat16 $SMOKE --out "$W/s5_ro/store" --dry-run
  grep_out p5b_ro_dry "warning|to run"
  chattr -i "$W/s5_ro"

  run p5b_store $RS --methods lca --dataset nat16 $SMOKE --out "$W/s5_store"
  grep_out p5b_store "runs:"
  chattr -R +i "$W/s5_store" && echo "chattr -R +i $W/s5_store"
  run p5b_report $RS report --out "$W/s5_store"
  run p5b_report_to $RS report --out "$W/s5_store" --to "$W/s5_reports"
  chattr -R -i "$W/s5_store"
  # the same without root's override of permissions: chmod a-w and no CAP_DAC_OVERRIDE
  chmod -R a-w "$W/s5_store"
  run p5b_report_nocap setpriv --bounding-set=-dac_override,-dac_read_search $RS report --out "$W/s5_store"
  chmod -R u+w "$W/s5_store"
}

p6() {
  hr "6. file modes and unreadable records"
  rm -rf "$W"/s6* "$P/cache6"
  for um in 022 027; do
    (umask $um
     BRAINLIKE_CACHE_DIR=$P/cache6_$um run p6a_$um $RS --methods lca --dataset nat16 $SMOKE \
       --set lca.lr=1e30,0.01 --out "$W/s6_$um" >/dev/null
     grep_out p6a_$um "runs:"
     echo "--- modes under umask $um:"
     find "$W/s6_$um" "$P/cache6_$um" -printf '%m %y %p\n' | sed "s|$P/||" | sort -k3 | head -n 40)
  done
  cp -a "$W/s6_022" "$W/s6b"
  local k; k=$(key "$W/s6b" lca 0)
  chmod 000 "$W/s6b/runs/$k.json"
  ls -l "$W/s6b/runs/$k.json"
  run p6b_report_root $RS report --out "$W/s6b"
  grep_out p6b_report_root "finished|ermission|$k"
  run p6b_report_nocap setpriv --bounding-set=-dac_override,-dac_read_search $RS report --out "$W/s6b"
  run p6b_dry_nocap setpriv --bounding-set=-dac_override,-dac_read_search $RS --methods lca --dataset nat16 $SMOKE --set lca.lr=1e30,0.01 --out "$W/s6b" --dry-run
  chmod 644 "$W/s6b/runs/$k.json"
}

p7() {
  hr "7. budget keys in --set"
  rm -rf "$W"/s7*
  run p7a_neg $RS --methods lca --dataset nat16 $SMOKE --set lca.epochs=-1 --out "$W/s7a"
  echo "--- store created: $([ -e "$W/s7a" ] && echo yes || echo no)"
  run p7a_neg_dry $RS --methods lca --dataset nat16 $SMOKE --set lca.epochs=-1 --out "$W/s7a" --dry-run
  run p7b_abc_dry $RS --methods lca --dataset nat16 $SMOKE --set lca.epochs=abc --out "$W/s7b" --dry-run
  run p7b_abc $RS --methods lca --dataset nat16 $SMOKE --set lca.epochs=abc --out "$W/s7b"
  echo "--- store created: $([ -e "$W/s7b" ] && echo yes || echo no)"
}

p8() {
  hr "8. config jobs: two"
  printf 'methods: lca\ndataset: nat16\nprofile: smoke\njobs: two\n' >"$P/p8_cfg.yaml"
  run p8 $RS --config "$P/p8_cfg.yaml" --out "$W/s8" --no-progress
}

p9() {
  hr "9. unknown hyperparameter"
  run p9 $RS --methods lca --dataset nat16 $SMOKE --set lca.lamda=0.1 --out "$W/s9"
  run p9_cmd $RS list --method lca
}

p10() {
  hr "10. config that is a list; set: as a mapping"
  printf -- '- methods: lca\n- dataset: nat16\n' >"$P/p10a_cfg.yaml"
  run p10a $RS --config "$P/p10a_cfg.yaml" --out "$W/s10"
  printf 'methods: lca\ndataset: nat16\nprofile: smoke\nset: {lca.lam: [0.1, 0.3]}\n' >"$P/p10b_cfg.yaml"
  run p10b $RS --config "$P/p10b_cfg.yaml" --out "$W/s10" --no-progress
  echo "--- store created: $([ -e "$W/s10" ] && echo yes || echo no)"
}

p11() {
  hr "11. missing data for a real dataset"
  rm -rf "$W"/s11 "$P/empty"; mkdir -p "$P/empty"
  HEAD=20 run p11 $RS --methods all --dataset MNIST --data-dir "$P/empty" $SMOKE --out "$W/s11"
  echo "--- 'error:' lines: $(grep -c 'error:' "$LOG/p11.err"); store created: $([ -e "$W/s11" ] && echo yes || echo no)"
  HEAD=30 run p11_dry $RS --methods all --dataset MNIST --data-dir "$P/empty" $SMOKE --out "$W/s11" --dry-run
  echo "--- 'todo' lines: $(grep -c todo "$LOG/p11_dry.out"), 'no data' lines: $(grep -c 'no data' "$LOG/p11_dry.out")"
}

p12() {
  hr "12. iP-VAE with a huge learning rate"
  rm -rf "$W"/s12
  HEAD=20 run p12 $RS --methods ipvae --dataset nat16 $SMOKE --set ipvae.lr=1e6,1e3 --out "$W/s12"
  grep_out p12 "runs:|FAILED|poisson_n_exp|non-finite|became"
  ls "$W/s12/runs" "$W/s12/failures" 2>/dev/null
}

p13() {
  hr "13. LCA / ISTA / FISTA with a huge learning rate"
  rm -rf "$W"/s13
  HEAD=40 run p13 $RS --methods lca,ista,fista --dataset nat16 $SMOKE --set lca.lr=1e6,1e30,1e40 \
    --set ista.lr=1e6,1e30,1e40 --set fista.lr=1e6,1e30,1e40 --columns method,sse,r2,dead_frac --out "$W/s13"
  grep_out p13 "runs:|FAILED|diverged"
  python - "$W/s13" <<'EOF'
import json, sys, pathlib
for p in sorted(pathlib.Path(sys.argv[1], "runs").glob("*.json")):
    r = json.loads(p.read_text())
    print("stored ok:", r["spec"]["method"], r["spec"]["hparams"].get("lr"), "dead_frac", r["metrics"].get("dead_frac"), "r2", r["metrics"].get("r2"))
EOF
}

p14() {
  hr "14. NaN metric vs not applicable"
  rm -rf "$W"/s14
  run p14_base $RS --methods lca,gvae --dataset nat16 $SMOKE --seeds 0 --out "$W/s14" >/dev/null
  local k; k=$(key "$W/s14" lca 0)
  # what the store writes for a metric that came out NaN (Store.write_result): r2 -> NaN
  python - "$W/s14" "$k" <<'EOF'
import sys
from suite.store import Store
store = Store(sys.argv[1])
rec = store.record(sys.argv[2])
# keep the stored arrays/checkpoint: rewrite the record the way write_result marks a NaN metric
from suite.store import write_json, nonfinite_marker
rec["nonfinite_metrics"] = {"r2": nonfinite_marker(float("nan"))}
rec["metrics"]["r2"] = None
write_json(store.record_path(sys.argv[2]), rec)
print("record", sys.argv[2], "now has r2 = NaN (metrics.r2 null + nonfinite_metrics)")
EOF
  run p14_report $RS report --out "$W/s14"
  echo "--- reports/leaderboard_nat16_smoke.md:"
  grep -E "^\| (method|lca|gvae)|NaN|—" "$W/s14/reports/leaderboard_nat16_smoke.md" | head -8
  HEAD=30 run p14_grid $RS --methods lca,gvae --dataset nat16 $SMOKE --seeds 0 --out "$W/s14" --columns method,sse,r2,rate
}

p15() {
  hr "15. dataset cache of the wrong shape / with NaN"
  rm -rf "$W"/s15* "$P/cache15"
  cp -a "$P/cache" "$P/cache15"
  local f; f=$(ls "$P"/cache15/nat16/*/patches.npz | head -1)
  echo "cache file: $f"
  python - "$f" <<'EOF'
import sys, numpy as np
with np.load(sys.argv[1]) as z:
    print({k: (z[k].shape, z[k].dtype) for k in z.files})
    arrays = {k: z[k] for k in z.files}
arrays["train"] = arrays["train"][:, :255]
np.savez(sys.argv[1], **arrays)
print("rewrote with train", arrays["train"].shape)
EOF
  BRAINLIKE_CACHE_DIR=$P/cache15 run p15_shape $RS --methods lca,ista --dataset nat16 $SMOKE --out "$W/s15a"
  grep_out p15_shape "runs:|FAILED|cache|patches"
  python -c "
import sys, numpy as np
z = np.load(sys.argv[1]); print('after:', {k: z[k].shape for k in z.files}, 'finite:', all(np.isfinite(z[k]).all() for k in z.files if z[k].dtype.kind == 'f'))
a = {k: z[k].copy() for k in z.files}; a['val'][3, 7] = np.nan; np.savez(sys.argv[1], **a); print('rewrote with a NaN in val')" "$f"
  BRAINLIKE_CACHE_DIR=$P/cache15 run p15_nan $RS --methods lca,ista --dataset nat16 $SMOKE --out "$W/s15b"
  grep_out p15_nan "runs:|FAILED|cache|patches"
  python -c "
import sys, numpy as np
z = np.load(sys.argv[1]); print('after:', {k: z[k].shape for k in z.files}, 'finite:', all(np.isfinite(z[k]).all() for k in z.files if z[k].dtype.kind == 'f'))" "$f"
}

ALL="p1 p2 p3 p4 p5 p6 p7 p8 p9 p10 p11 p12 p13 p14 p15"
for p in ${@:-$ALL}; do
  while pgrep -f bench_lasso >/dev/null; do sleep 10; done   # never beside the timing benchmark
  $p
done
