#!/usr/bin/env bash
# Runs both guests of //examples:minivmm on Unicorn, and on KVM where /dev/kvm opens.
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

run_backend unicorn
if [[ -r /dev/kvm && -w /dev/kvm ]] && "$vmm" --guest=hello --cpu=kvm >/dev/null 2>&1; then
  run_backend kvm
else
  why="/dev/kvm is missing or not accessible"
  [[ -e /dev/kvm ]] && why="KVM did not run the guest: $("$vmm" --guest=hello --cpu=kvm 2>&1 | tail -1)"
  echo "KVM skipped: $why"
fi
echo "$((failures == 0 ? 1 : 0)) passed, $failures failed"
exit $((failures == 0 ? 0 : 1))
