#!/usr/bin/env bash
# Benchmarks the emulator on the 3 µs adiabatic ring sequence at N = 4, 8, 10,
# 12, 16, 20 atoms and prints one table: wall time, time per ns of evolution,
# peak heap growth (and its ratio to one state vector), Chebyshev/Magnus
# sweeps, the propagator's error bound, and the speed-up over Pulser's
# QutipEmulator timed on this machine (runners/emulator/testdata/pulser_timings.json,
# written by hack/pulser-reference/make_goldens.py).
#
# Usage: hack/bench-emulator.sh [regexp of sizes, e.g. '(4|8|12)']
set -euo pipefail
cd "$(dirname "$0")/.."
sizes="${1:-(4|8|10|12|16|20)}"
out="$(go test ./runners/emulator -run '^$' -bench "BenchmarkAdiabaticRing/N=${sizes}\$" -benchtime 1x -count 1 -timeout 60m)"
echo "$out" | grep -E '^(goos|goarch|cpu):' || true
echo "cores: $(nproc), load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "$out" | awk '
/^BenchmarkAdiabaticRing/ {
	split($1, a, "=|-"); n = a[2]
	delete m
	for (i = 3; i < NF; i += 2) m[$(i+1)] = $i
	rows[++k] = sprintf("| %2d | %9.3f | %7.2f | %12.2f | %9.1f | %10.2f | %7d | %9.1e | %s |", n, m["ns/op"] / 1e9, m["cpu-s"],
		m["µs/evolved-ns"], m["peak-MiB"], m["peak/state"], m["matvecs"], m["err-bound"],
		("x-vs-pulser" in m) ? sprintf("%.1fx", m["x-vs-pulser"]) : "n/a")
}
END {
	print "| N  | wall (s)  | CPU (s) | µs / ns evol | peak MiB  | peak/state | sweeps  | err bound | vs Pulser |"
	print "|----|-----------|---------|--------------|-----------|------------|---------|-----------|-----------|"
	for (i = 1; i <= k; i++) print rows[i]
}'
