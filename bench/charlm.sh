#!/bin/sh
# charlm.sh - nanoGPT's CPU recipe for Tiny Shakespeare in seqlab and in
# PyTorch, one after the other on this machine (issue 16): seqlab runs
# sessions/charlm-nanogpt.sl cut to N iterations (its schedule over N, no
# evaluation during training, one `eval` after it, no sample), then
# bench/charlm_ref.py trains the same model with the same recipe for N
# iterations at the same thread count, and it prints
#
#   seqlab: iters=N seconds=... ms_iter=... val_loss=... train_s=... params=...
#   torch:  iters=N seconds=... ms_iter=... val_loss=... attention=... torch_openblas=...
#   ratio=...   (torch ms_iter / seqlab ms_iter: how many times faster seqlab trains)
#
#   bench/charlm.sh [-B BUILDDIR] [-n ITERS] [-j THREADS] [-f TEXT] [-w WARMUP] [-e EVAL] [-v]
#
# Defaults: -n 2000 -j 2 -w 100 (with fewer than 101 iterations, N-1) and
# -e 65536 (validation characters scored, the session's eval=); the text is
# ../shared/data/tinyshakespeare.txt from the top directory; the build
# directory is the current one. seconds: training only, the evaluation not
# included (seqlab: N batches of 12 windows over the train job's words_s,
# its training seconds; torch: the timed loop); train_s is seqlab's whole
# train command (wall); val_loss in nats per character over the first EVAL
# validation characters in consecutive windows of 64, the same windows on
# both sides. -v also prints each side's raw output.
# Run it on a quiet machine: figures taken while other jobs run say little.
# Python: /usr/bin/python3 with Debian's python3-torch and python3-numpy;
# PyTorch gets the fastest correct OpenBLAS kernels for the machine as
# bench/run.sh gives them (bench/blas_pick.py; the line's torch_openblas=).
set -u

B=. iters=2000 threads=2 text='' warmup='' evalc=65536 verbose=0
while getopts B:n:j:f:w:e:vh opt; do
	case $opt in
	B) B=$OPTARG ;;
	n) iters=$OPTARG ;;
	j) threads=$OPTARG ;;
	f) text=$OPTARG ;;
	w) warmup=$OPTARG ;;
	e) evalc=$OPTARG ;;
	v) verbose=1 ;;
	h) sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) exit 2 ;;
	esac
done
shift $((OPTIND - 1))

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
py=/usr/bin/python3
sl=$B/seqlab
session=$top/sessions/charlm-nanogpt.sl
[ -n "$text" ] || text=$top/../shared/data/tinyshakespeare.txt
case $iters in '' | *[!0-9]*) echo "charlm.sh: -n wants a count of iterations" >&2; exit 2 ;; esac
[ "$iters" -ge 2 ] || { echo "charlm.sh: -n wants at least 2 iterations" >&2; exit 2; }
if [ -z "$warmup" ]; then
	warmup=100
	[ "$iters" -gt 100 ] || warmup=$((iters - 1))
fi
[ -x "$sl" ] || { echo "charlm.sh: $sl not built (make)" >&2; exit 1; }
[ -r "$text" ] || { echo "charlm.sh: cannot read $text (-f TEXT)" >&2; exit 1; }
[ -r "$session" ] || { echo "charlm.sh: $session is missing" >&2; exit 1; }
"$py" -c 'import numpy, torch' 2>/dev/null ||
	{ echo "charlm.sh: $py cannot import torch (apt-get install python3-torch)" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/seqlab-charlm.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT INT TERM

# get KEY LINE: the value of KEY=... in LINE
get() {
	printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p" | head -n 1
}

# the session with N iterations: its schedule over N (warm-up W), no
# evaluation inside the timed job (eval= past its end, final=off) and one
# `eval g` after it, the given text and thread count, no sample
sed -e "s|^set seed=\([0-9]*\) threads=[0-9]*|set seed=\1 threads=$threads|" \
	-e "s|file=[^ ]*|file=$text|" \
	-e "s|eval=65536|eval=$evalc|" \
	-e "s|steps=2000 warmup=100|steps=$iters warmup=$warmup|" \
	-e "s|^train g 2000 steps eval=500\$|train g $iters steps eval=$((iters + 1)) final=off\\
eval g|" \
	-e '/^sample /d' "$session" >"$work/session.sl"
if ! grep -q "^train g $iters steps eval=$((iters + 1)) final=off\$" "$work/session.sl" ||
	! grep -q "steps=$iters warmup=$warmup" "$work/session.sl"; then
	echo "charlm.sh: $session no longer has the lines this script rewrites" >&2
	exit 1
fi

# PyTorch at its best, as bench/run.sh gives it
pick=$("$py" "$here/blas_pick.py") || { echo "charlm.sh: blas_pick.py failed" >&2; exit 1; }
tcore=$(get core "$pick")
tenv=""
[ "$(get chosen "$pick")" = forced ] && tenv="OPENBLAS_CORETYPE=$tcore"

echo "# seqlab charlm bench: $(date -u +%Y-%m-%dT%H:%MZ) $(uname -m) $(nproc) cpus," \
	"$(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n 1), load $(cut -d' ' -f1-3 /proc/loadavg);" \
	"torch_openblas=$tcore (OpenBLAS's own: $(get default "$pick"), $(get chosen "$pick"));" \
	"iters=$iters warmup=$warmup threads=$threads eval=$evalc text=$text"

out=$("$sl" -f "$work/session.sl") || { echo "charlm.sh: seqlab failed" >&2; exit 1; }
sline=$(printf '%s\n' "$out" | grep '^run=g steps=' | tail -n 1)
vline=$(printf '%s\n' "$out" | grep '^run=g val_loss=' | tail -n 1)
params=$(printf '%s\n' "$out" | sed -n 's/^run=g kind=gpt params=\([0-9]*\).*/\1/p' | head -n 1)
if [ -z "$sline" ] || [ -z "$vline" ]; then
	echo "charlm.sh: no train summary or eval line from seqlab" >&2
	exit 1
fi
# shellcheck disable=SC2086
tline=$(env $tenv "$py" "$here/charlm_ref.py" -f "$text" -n "$iters" -j "$threads" --warmup "$warmup" \
	--eval "$evalc") || { echo "charlm.sh: charlm_ref.py failed" >&2; exit 1; }
if [ "$verbose" = 1 ]; then
	printf '%s\n' "$out" | sed 's/^/# seqlab: /'
	echo "# torch: $tline"
fi
awk -v n="$iters" -v wps="$(get words_s "$sline")" -v trs="$(get train_s "$sline")" \
	-v svl="$(get val_loss "$vline")" -v sp="$params" \
	-v ts="$(get seconds "$tline")" -v tms="$(get ms_iter "$tline")" -v tvl="$(get val_loss "$tline")" \
	-v tp="$(get params "$tline")" -v att="$(get attention "$tline")" -v tv="$(get torch_version "$tline")" \
	-v core="$tcore" 'BEGIN {
	secs = wps > 0 ? n * 12 / wps : 0
	sms = 1e3 * secs / n
	printf "seqlab: iters=%d seconds=%.3f ms_iter=%.3f val_loss=%.4f train_s=%s params=%s\n", n, secs, sms, svl, trs, sp
	printf "torch:  iters=%d seconds=%.3f ms_iter=%.3f val_loss=%.4f params=%s attention=%s torch_version=%s torch_openblas=%s\n",
		n, ts, tms, tvl, tp, att, tv, core
	printf "ratio=%.2f\n", (sms > 0 ? tms / sms : 0)
}'
