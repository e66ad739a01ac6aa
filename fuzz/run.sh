#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 120), one after another, niced, and prints
# executions and coverage per target. Usage, from anywhere: fuzz/run.sh [SECONDS] [TARGET...]
#
# Corpora: new inputs go to fuzz/corpus/<target>/ (not committed); the committed seeds
# (fuzz/seeds/<target>/) and regressions (fuzz/regressions/<target>/) are read as well, and the
# manifest target also reads examples/ and shared/conformance/manifests when present.
# Crashes land in fuzz/artifacts/<target>/; logs in fuzz/logs/<target>.log.
# Exits non-zero if any target crashed.
#
# FUZZ_SANITIZER=none builds without AddressSanitizer (our crates are forbid(unsafe_code); ASan
# then mostly costs allocation bookkeeping: store_ops runs several times faster) into its own
# target dir, <target dir>/nosan, so the ASan build is not rebuilt. Default: address.
# FUZZ_TIMEOUT=N: libFuzzer's -timeout (default 30 s). On a machine short of memory a process
# can stall for minutes (a store_ops input of 1 ms was reported as a 41 s timeout): raise it.
set -euo pipefail

seconds="${1:-120}"
shift || true
cd "$(dirname "$0")"
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
  targets=(manifest selector quantity log_record store_ops wire_frame)
fi

sanitizer="${FUZZ_SANITIZER:-address}"
build=(-s "$sanitizer")
if [ "$sanitizer" != address ]; then
  build+=(--target-dir "${CARGO_TARGET_DIR:-target}/nosan")
fi
for target in "${targets[@]}"; do
  nice cargo +nightly fuzz build "${build[@]}" "$target"
done
mkdir -p logs
summary=()
failed=0
for target in "${targets[@]}"; do
  mkdir -p "corpus/$target" "seeds/$target" "regressions/$target"
  inputs=("corpus/$target" "seeds/$target" "regressions/$target")
  if [ "$target" = manifest ]; then
    inputs+=(../examples)
    # shared/ sits beside the clone, or beside the worktrees' folder.
    for shared in ../../shared ../../../shared; do
      if [ -d "$shared/conformance/manifests" ]; then
        inputs+=("$shared/conformance/manifests")
        break
      fi
    done
  fi
  flags=(-max_total_time="$seconds" -timeout="${FUZZ_TIMEOUT:-30}" -print_final_stats=1)
  if [ "$target" = store_ops ]; then
    # Room for up to STEPS_MAX (64) steps; libFuzzer's default cap follows the seeds (256 bytes).
    flags+=(-max_len=4096)
  fi
  if [ -f "dict/$target.dict" ]; then
    flags+=(-dict="dict/$target.dict")
  fi
  echo "== $target: ${seconds}s, sanitizer $sanitizer, corpus ${inputs[*]}, flags ${flags[*]}"
  status=0
  nice cargo +nightly fuzz run "${build[@]}" "$target" "${inputs[@]}" -- "${flags[@]}" \
    >"logs/$target.log" 2>&1 \
    || status=$?
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "logs/$target.log" | grep -o '[0-9]*$' || true)
  rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "logs/$target.log" | grep -o '[0-9]*$' || true)
  coverage=$(grep -o 'cov: [0-9]* ft: [0-9]*' "logs/$target.log" | tail -1 || true)
  corpus=$(find "corpus/$target" -type f | wc -l)
  line="$target: execs ${execs:-?} (${rate:-?}/s), ${coverage:-cov ?}, corpus $corpus"
  if [ "$status" -ne 0 ]; then
    failed=1
    line="$line, CRASHED (exit $status): see logs/$target.log and artifacts/$target/"
  fi
  summary+=("$line")
  echo "$line"
done
echo
echo "== summary (${seconds}s per target, sanitizer $sanitizer)"
printf '%s\n' "${summary[@]}"
exit "$failed"
