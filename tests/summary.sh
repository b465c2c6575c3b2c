#!/bin/sh
# Prints "N passed, N failed" from the Automake test-suite log, counting test
# points (TAP results) across every test. Used as the last line of `make check`.
log=${1:-test-suite.log}
dir=$(dirname "$log")
[ -f "$log" ] || { echo "0 passed, 1 failed"; exit 0; }
# Each test's .trs file lists one :test-result: line per TAP point.
pass=0; fail=0
for trs in $(find "$dir/tests" -name '*.trs' | sort); do
	p=$(grep -c '^:test-result: \(PASS\|XFAIL\|SKIP\)' "$trs")
	f=$(grep -c '^:test-result: \(FAIL\|XPASS\|ERROR\)' "$trs")
	pass=$((pass + p)); fail=$((fail + f))
done
echo "$pass passed, $fail failed"
