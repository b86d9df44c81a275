#!/usr/bin/env bash
# Runs both guests of //examples:minivmm on Unicorn, and on KVM where /dev/kvm opens, and
# saves and resumes the hello guest at several points of its run on each.
set -uo pipefail
vmm="${TEST_SRCDIR}/dbs_device/examples/minivmm"
failures=0

expect() {  # expect NAME OUTPUT PATTERN...
  local name=$1 out=$2
  shift 2
  for pattern in "$@"; do
    if ! grep -qE -- "$pattern" <<<"$out"; then
      echo "FAIL $name: no line matching '$pattern' in:"
      echo "$out"
      failures=$((failures + 1))
      return
    fi
  done
  echo "ok   $name"
}

run_backend() {
  local cpu=$1 out status
  out=$("$vmm" --guest=hello --cpu="$cpu" 2>&1); status=$?
  [[ $status -eq 0 ]] || { echo "FAIL hello on $cpu: exit $status"; echo "$out"; failures=$((failures + 1)); }
  expect "hello on $cpu" "$out" "backend $cpu" "UART: 16550A" "Hello from a dbs_device guest" \
    "RTC date: 20[0-9][0-9]-[01][0-9]-[0-3][0-9]" "the guest reset the machine"
  out=$("$vmm" --guest=stress --vcpus=2 --seconds=2 --cpu="$cpu" 2>&1); status=$?
  [[ $status -eq 0 ]] || { echo "FAIL stress on $cpu: exit $status"; echo "$out"; failures=$((failures + 1)); }
  expect "stress on $cpu, 2 vCPUs" "$out" "^vcpu 0: exits [1-9]" "^vcpu 1: exits [1-9]" \
    "^total: .*mismatches: 0$"
}

# Snapshot and restore: the hello guest saved after N exits and resumed in a new process
# ends as an uninterrupted run does, console byte for byte, for cuts all along its run.
snapshot_roundtrip() {
  local cpu=$1 dir out n ok=1
  dir=$(mktemp -d)
  "$vmm" --guest=hello --cpu="$cpu" --console="$dir/whole" >/dev/null 2>&1
  for n in 1 2 15 37 80 120 158; do
    out=$("$vmm" --guest=hello --cpu="$cpu" --snapshot-after="$n" --snapshot-file="$dir/vm.snap" \
      --console="$dir/cut$n" 2>&1) || { echo "FAIL save after $n on $cpu: $out"; ok=0; continue; }
    grep -q "saved the VM after $n exits" <<<"$out" || { echo "FAIL save after $n: $out"; ok=0; }
    out=$("$vmm" --restore="$dir/vm.snap" --cpu="$cpu" --console="$dir/cut$n" 2>&1) ||
      { echo "FAIL restore after $n on $cpu: $out"; ok=0; continue; }
    grep -q "the guest reset the machine" <<<"$out" && grep -q "mismatches: 0$" <<<"$out" ||
      { echo "FAIL restored run after $n on $cpu: $out"; ok=0; }
    cmp -s "$dir/whole" "$dir/cut$n" || { echo "FAIL console differs, cut after $n on $cpu"; ok=0; }
  done
  # Saved twice: a resumed VM saved again and resumed again.
  "$vmm" --guest=hello --cpu="$cpu" --snapshot-after=40 --snapshot-file="$dir/a.snap" \
    --console="$dir/twice" >/dev/null 2>&1 &&
    "$vmm" --restore="$dir/a.snap" --cpu="$cpu" --snapshot-after=50 --snapshot-file="$dir/b.snap" \
      --console="$dir/twice" >/dev/null 2>&1 &&
    "$vmm" --restore="$dir/b.snap" --cpu="$cpu" --console="$dir/twice" >/dev/null 2>&1 &&
    cmp -s "$dir/whole" "$dir/twice" || { echo "FAIL saved twice on $cpu"; ok=0; }
  # A damaged file is refused.
  head -c 1000 "$dir/a.snap" >"$dir/short.snap"
  out=$("$vmm" --restore="$dir/short.snap" --cpu="$cpu" 2>&1) && { echo "FAIL short file ran"; ok=0; }
  grep -q "DATA_LOSS" <<<"$out" || { echo "FAIL short file: $out"; ok=0; }
  [[ -s "$dir/whole" ]] || { echo "FAIL no console output"; ok=0; }
  rm -rf "$dir"
  if ((ok)); then echo "ok   snapshot and restore on $cpu"; else failures=$((failures + 1)); fi
}

run_backend unicorn
snapshot_roundtrip unicorn
if [[ -r /dev/kvm && -w /dev/kvm ]] && "$vmm" --guest=hello --cpu=kvm >/dev/null 2>&1; then
  run_backend kvm
  snapshot_roundtrip kvm
else
  why="/dev/kvm is missing or not accessible"
  [[ -e /dev/kvm ]] && why="KVM did not run the guest: $("$vmm" --guest=hello --cpu=kvm 2>&1 | tail -1)"
  echo "KVM skipped: $why"
fi
echo "$((failures == 0 ? 1 : 0)) passed, $failures failed"
exit $((failures == 0 ? 0 : 1))
