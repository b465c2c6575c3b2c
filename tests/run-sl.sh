#!/bin/sh
# run-sl.sh X.sl - run a session script with the real binary and compare what
# it prints (stdout and stderr together) with X.out, as TAP. Files named
# X-*.txt next to X.sl (its data) are copied beside it.
#
#   seqlab --keep-going -f X.sl 2>&1     in a temporary directory (a copy of
#                                        X.sl, so errors read "X.sl:LINE: ...")
#   point 1: the output equals X.out exactly (else the diff, as # lines)
#   point 2: the exit status equals the one a first line "# exit: N" gives
#            (0 without one)
#
# Environment: SEQLAB, the binary (default: seqlab on PATH). SL_REGEN=1
# rewrites X.out from the actual output instead of comparing (check the diff).
sl=${1:?usage: run-sl.sh X.sl}
case $sl in /*) ;; *) sl=$(pwd)/$sl ;; esac
exp=${sl%.sl}.out
name=$(basename "$sl")
bin=${SEQLAB:-seqlab}

want=$(sed -n '1s/^# exit: *\([0-9][0-9]*\).*$/\1/p' "$sl")
want=${want:-0}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/seqlab-sl.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT INT TERM
cp "$sl" "$tmp/$name" || exit 99
for f in "${sl%.sl}"-*.txt; do
	[ -f "$f" ] && { cp "$f" "$tmp/" || exit 99; }
done
(cd "$tmp" && "$bin" --keep-going -f "$name" </dev/null >got 2>&1)
st=$?

echo "1..2"
if [ "${SL_REGEN:-}" = 1 ]; then
	cp "$tmp/got" "$exp"
	echo "# wrote $exp"
fi
if [ ! -f "$exp" ]; then
	echo "not ok 1 - $name: output (no $(basename "$exp"))"
elif cmp -s "$exp" "$tmp/got"; then
	echo "ok 1 - $name: output matches $(basename "$exp")"
else
	echo "not ok 1 - $name: output differs from $(basename "$exp")"
	diff -u "$exp" "$tmp/got" | sed 's/^/# /'
fi
if [ "$st" -eq "$want" ]; then
	echo "ok 2 - $name: exit status $want"
else
	echo "not ok 2 - $name: exit status $st, expected $want"
fi
