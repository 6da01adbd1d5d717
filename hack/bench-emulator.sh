#!/usr/bin/env bash
# Benchmarks the emulator on the 3 µs adiabatic ring sequence at N = 4, 8,
# 10, 12, 16, 20, 22 atoms (and 24 with BIG=1: about ten minutes on two
# idle cores) in both precisions, and prints one table: per precision the
# wall and CPU time, peak heap and peak resident set growth relative to one
# complex128 state vector, Chebyshev/Magnus sweeps and the propagator's error bound; the
# speed-up of precision "low" over "normal" (the engine as it was before
# "low" existed: the baseline, measured in the same run), in wall and CPU
# time; and the speed-up over Pulser's QutipEmulator timed on this machine
# (runners/emulator/testdata/pulser_timings.json, written by
# hack/pulser-reference/make_goldens.py). Each case runs once; on a shared
# machine compare the ratios, and note the load printed before and after.
#
# Usage: [BIG=1] [CPUS=1,2] hack/bench-emulator.sh [regexp of sizes, e.g. '(4|8|12)']
set -euo pipefail
cd "$(dirname "$0")/.."
sizes="${1:-(4|8|10|12|16|20|22)}"
if [[ -z "${1:-}" && "${BIG:-}" == 1 ]]; then
	sizes="(4|8|10|12|16|20|22|24)"
fi
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
out="$(go test ./runners/emulator -run '^$' -bench "BenchmarkAdiabaticRing/N=${sizes}/" -benchtime 1x -count 1 -cpu "${CPUS:-$(nproc)}" -timeout 120m)"
echo "$out" | grep -E '^(goos|goarch|cpu):' || true
echo "cores: $(nproc), GOMAXPROCS: ${CPUS:-$(nproc)}, load average before: ${load_before}, after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "$out" | awk '
/^BenchmarkAdiabaticRing/ {
	split($1, a, "=|-|/"); n = a[3]; mode = a[5]; procs = (a[6] == "") ? 1 : a[6]
	key = n " " procs
	if (!(key in seen)) { seen[key] = 1; order[++k] = key }
	delete m
	for (i = 3; i < NF; i += 2) m[$(i+1)] = $i
	wall[key, mode] = m["ns/op"] / 1e9; cpu[key, mode] = m["cpu-s"]
	ratio[key, mode] = m["peak/state"]; rss[key, mode] = m["rss/state"]; sweeps[key, mode] = m["matvecs"]; bound[key, mode] = m["err-bound"]
	if (mode == "normal") pulser[key] = ("x-vs-pulser" in m) ? sprintf("%.1fx", m["x-vs-pulser"]) : "n/a"
}
function num(x, f) { return (x == "") ? "-" : sprintf(f, x) }
function speedup(a, b) { return (a == "" || b == "" || b == 0) ? "-" : sprintf("%.2fx", a / b) }
END {
	print "| N  | procs | normal wall (s) | normal CPU (s) | low wall (s) | low CPU (s) | low speed-up wall / CPU | peak heap/state normal / low | peak RSS/state normal / low | sweeps | err bound normal / low | normal vs Pulser |"
	print "|----|-------|-----------------|----------------|--------------|-------------|-------------------------|------------------------------|-----------------------------|--------|------------------------|------------------|"
	for (i = 1; i <= k; i++) {
		key = order[i]; split(key, f, " ")
		printf "| %2d | %5d | %15s | %14s | %12s | %11s | %11s / %-11s | %13s / %-12s | %12s / %-12s | %6s | %9s / %-12s | %16s |\n", f[1], f[2],
			num(wall[key, "normal"], "%.3f"), num(cpu[key, "normal"], "%.2f"), num(wall[key, "low"], "%.3f"), num(cpu[key, "low"], "%.2f"),
			speedup(wall[key, "normal"], wall[key, "low"]), speedup(cpu[key, "normal"], cpu[key, "low"]),
			num(ratio[key, "normal"], "%.2f"), num(ratio[key, "low"], "%.2f"), num(rss[key, "normal"], "%.2f"), num(rss[key, "low"], "%.2f"), num(sweeps[key, "normal"], "%d"),
			num(bound[key, "normal"], "%.1e"), num(bound[key, "low"], "%.1e"), pulser[key]
	}
}'
