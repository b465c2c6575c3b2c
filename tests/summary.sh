#!/bin/sh
# Prints "N passed, N failed" from the Automake test-suite log, counting test
# points (TAP results) across every test, and ", N skipped" when some were
# (an expected failure counts as passed). Used as the last line of `make check`.
log=${1:-test-suite.log}
dir=$(dirname "$log")
[ -f "$log" ] || { echo "0 passed, 1 failed"; exit 0; }
# Each test's .trs file lists one :test-result: line per TAP point.
pass=0; fail=0; skip=0
for trs in $(find "$dir/tests" -name '*.trs' | sort); do
	p=$(grep -c '^:test-result: \(PASS\|XFAIL\)' "$trs")
	k=$(grep -c '^:test-result: SKIP' "$trs")
	f=$(grep -c '^:test-result: \(FAIL\|XPASS\|ERROR\)' "$trs")
	pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + k))
done
if [ "$skip" -gt 0 ]; then
	echo "$pass passed, $fail failed, $skip skipped"
else
	echo "$pass passed, $fail failed"
fi
