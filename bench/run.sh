#!/bin/sh
# run.sh - seqlab against the PyTorch reference, side by side on this
# machine: for each model and thread count, times training steps in seqlab
# (bench/bench_models time) and then, on the very same initial weights and
# batches, in PyTorch (bench/torch_ref.py time), and prints one line
#
#   model=transformer threads=2 seqlab_wps=... torch_wps=... ratio=... floor_wps=...
#     floor_frac=... runs=... rss_mb=... torch_rss_mb=... translate_ms=... torch_translate_ms=...
#     sgemm_gflops=... flops_word=... [kernel_gflops=... kernel_floor_wps=... kernel_floor_frac=...]
#
# Models: transformer, mamba, rnn, gru and lstm on Pig-Latin (large set; rnn:
# the encoder-decoder's defaults, GRU cells and additive attention, against
# nn.GRU and nn.GRUCell; gru and lstm: the stacks' defaults, hidden 64 and 2
# blocks, against blocks whose cell is torch's nn.GRU / nn.LSTM); gpt and
# recall-mamba on associative recall (seed 004: K=16 d=64 M=1 L=64 tau=1,
# `gpt layers=2 mlp=0 hidden=64 heads=1 pe=learned`, `mamba layers=2
# hidden=64`), and on the same task s4d, lru, hawk (`KIND layers=2
# hidden=64`), griffin (`griffin pattern=RA hidden=64`) and gpt-linear (the
# gpt with attn=linear); PyTorch's LRU and RG-LRU recurrences run as a time
# loop or a parallel scan, S4D's convolution by FFT or a Toeplitz product,
# whichever its trial steps find faster (torch_form= in -v's raw torch
# line). wps: training words per second, batch 64 (Pig-Latin: words;
# recall: sequences of L=64 tokens); ratio = seqlab_wps / torch_wps;
# floor_wps = the machine's sgemm rate at the model's own shapes
# (bench/sgemm_rate, seqlab's split at that thread count) / the model's
# matrix-product FLOPs per word (linear layers and attention products,
# forward and backward); floor_frac = seqlab_wps / floor_wps; the
# kernel_ fields: the same with seqlab's own matrix kernel (sl_gemm, the
# one training uses where the build has it: see the header's gemm=); rss_mb: peak
# RSS of the seqlab process; translate_ms: greedy translation of one word
# (100 validation words, one at a time), "-" for recall (nothing to
# translate).
#
#   bench/run.sh [-B BUILDDIR] [-m "transformer mamba gpt recall-mamba rnn gru lstm ..."] [-j "1 2"]
#                [-n STEPS] [-w WARMUP] [-p large|small] [-S SEED] [-t NWORDS] [-o DIR]
#                [-r REPEATS] [-v] [-- key=value options]
#
# Defaults: all twelve models, -n 100 -w 5 -p large -S 0 -t 100 -r 1; the build
# directory is the current one. Options after -- go to every model chosen
# (recall's task options K d M L tau embed only to the recall models).
# -o keeps the weights and batches there; -v also prints each side's raw
# line. -r R times each side R times, alternately (seqlab, PyTorch, seqlab,
# ...), and reports each side's median words/s (runs=R): on a shared machine
# a single 2-thread run can land 25 % low. Run it on a quiet machine: the
# two sides run one after the other (never at once), and figures taken while
# other jobs run say little.
# Python: /usr/bin/python3 with Debian's python3-torch and python3-numpy.
# PyTorch gets the fastest correct OpenBLAS kernels for the machine (the
# header's torch_openblas=: bench/blas_pick.py tries the candidates when
# OpenBLAS falls back to generic ones, and checks each against float64).
set -u

B=. models="transformer mamba gpt recall-mamba rnn gru lstm s4d lru hawk griffin gpt-linear" threads="1 2" steps=100 warmup=5 preset=large seed=0 nwords=100
repeats=1
keep='' verbose=0
while getopts B:m:j:n:w:p:S:t:o:r:vh opt; do
	case $opt in
	B) B=$OPTARG ;;
	m) models=$OPTARG ;;
	j) threads=$OPTARG ;;
	n) steps=$OPTARG ;;
	w) warmup=$OPTARG ;;
	p) preset=$OPTARG ;;
	S) seed=$OPTARG ;;
	t) nwords=$OPTARG ;;
	o) keep=$OPTARG ;;
	r) repeats=$OPTARG ;;
	v) verbose=1 ;;
	h) sed -n '2,50p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) exit 2 ;;
	esac
done
shift $((OPTIND - 1))
case $repeats in '' | *[!0-9]* | 0) echo "run.sh: -r wants a count of runs (1 or more)" >&2; exit 2 ;; esac

here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3
bm=$B/bench/bench_models
sg=$B/bench/sgemm_rate
for f in "$bm" "$sg"; do
	[ -x "$f" ] || { echo "run.sh: $f not built (make bench/bench_models bench/sgemm_rate)" >&2; exit 1; }
done
"$py" -c 'import numpy, torch' 2>/dev/null ||
	{ echo "run.sh: $py cannot import torch (apt-get install python3-torch)" >&2; exit 1; }

if [ -n "$keep" ]; then
	work=$keep
	mkdir -p "$work" || exit 1
else
	work=$(mktemp -d "${TMPDIR:-/tmp}/seqlab-bench.XXXXXX") || exit 1
	trap 'rm -rf "$work"' EXIT INT TERM
fi

# get KEY LINE: the value of KEY=... in LINE
get() {
	printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p" | head -n 1
}

# median X...: the middle value (the mean of the middle two for an even count)
median() {
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# opts MODEL OPTION...: the options after -- that MODEL takes (recall's task
# options only for the recall models)
opts() {
	om=$1
	shift
	for a; do
		case $om:$a in
		transformer:K=* | transformer:d=* | transformer:M=* | transformer:L=* | transformer:tau=* | \
			transformer:embed=* | mamba:K=* | mamba:d=* | mamba:M=* | mamba:L=* | mamba:tau=* | mamba:embed=*) ;;
		rnn:K=* | rnn:d=* | rnn:M=* | rnn:L=* | rnn:tau=* | rnn:embed=*) ;;
		gru:K=* | gru:d=* | gru:M=* | gru:L=* | gru:tau=* | gru:embed=*) ;;
		lstm:K=* | lstm:d=* | lstm:M=* | lstm:L=* | lstm:tau=* | lstm:embed=*) ;;
		*) printf '%s ' "$a" ;;
		esac
	done
}

# PyTorch at its best: OpenBLAS's own choice of kernels, or, where it falls
# back to generic ones (Debian 12's 0.3.21 on newer processors), the fastest
# candidate that computes correctly (bench/blas_pick.py), for the PyTorch
# side only (seqlab's products use its own kernel: gemm= below)
pick=$("$py" "$here/blas_pick.py") || { echo "run.sh: blas_pick.py failed" >&2; exit 1; }
tcore=$(get core "$pick")
tenv=""
[ "$(get chosen "$pick")" = forced ] && tenv="OPENBLAS_CORETYPE=$tcore"

common="-p $preset -S $seed -n $steps -w $warmup -t $nwords"
echo "# seqlab bench: $(date -u +%Y-%m-%dT%H:%MZ) $(uname -m) $(nproc) cpus," \
	"$(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n 1)," \
	"load $(cut -d' ' -f1-3 /proc/loadavg); gemm=$(get gemm "$("$bm" blas)") openblas=$(get core "$("$bm" blas)");" \
	"torch_openblas=$tcore (OpenBLAS's own: $(get default "$pick"), $(get chosen "$pick"); tried $(get tried "$pick"));" \
	"steps=$steps warmup=$warmup preset=$preset seed=$seed"
for m in $models; do
	dir=$work/$m
	mkdir -p "$dir"
	mopts=$(opts "$m" "$@")
	# shellcheck disable=SC2086
	"$bm" shapes -m "$m" $common $mopts >"$dir/shapes" || exit 1
	for j in $threads; do
		rates=$("$sg" -j "$j" -f "$dir/shapes") || exit 1
		rate=$(printf '%s\n' "$rates" | grep "^split=own")
		krate=$(printf '%s\n' "$rates" | grep "^split=seqlab")
		[ "$verbose" = 1 ] && echo "# sgemm: $rate" && { [ -z "$krate" ] || echo "# seqlab kernel: $krate"; }
		slist='' tlist='' r=0
		while [ "$r" -lt "$repeats" ]; do
			r=$((r + 1))
			# shellcheck disable=SC2086
			sl=$("$bm" time -m "$m" -o "$dir" -j "$j" $common $mopts) ||
				{ echo "run.sh: bench_models failed" >&2; exit 1; }
			# shellcheck disable=SC2086
			tr=$(env $tenv "$py" "$here/torch_ref.py" time "$dir" -j "$j" -w "$warmup" -n "$steps") ||
				{ echo "run.sh: torch_ref.py failed" >&2; exit 1; }
			if [ "$verbose" = 1 ]; then
				echo "# seqlab: $sl"
				echo "# torch: $tr"
			fi
			slist="$slist $(get wps "$sl")" tlist="$tlist $(get torch_wps "$tr")"
		done
		swps=$(median $slist) twps=$(median $tlist) gf=$(get gflops "$rate") fw=$(get flops_word "$sl")
		kgf=$(get gflops "$krate")
		awk -v m="$m" -v j="$j" -v s="$swps" -v t="$twps" -v g="$gf" -v f="$fw" -v kg="${kgf:-0}" \
			-v runs="$repeats" -v rss="$(get rss_mb "$sl")" -v trss="$(get torch_rss_mb "$tr")" \
			-v tms="$(get translate_ms "$sl")" -v ttms="$(get torch_translate_ms "$tr")" 'BEGIN {
			floor = g * 1e9 / f
			printf "model=%s threads=%s seqlab_wps=%.0f torch_wps=%.0f ratio=%.2f floor_wps=%.0f floor_frac=%.3f runs=%d",
				m, j, s, t, s / t, floor, s / floor, runs
			printf " rss_mb=%.1f torch_rss_mb=%.1f translate_ms=%s torch_translate_ms=%s sgemm_gflops=%.1f flops_word=%.3g",
				rss, trss, ms(tms), ms(ttms), g, f
			if (kg > 0)
				printf " kernel_gflops=%.1f kernel_floor_wps=%.0f kernel_floor_frac=%.3f", kg, kg * 1e9 / f, s / (kg * 1e9 / f)
			printf "\n"
		}
		# a time in ms, or "-" where there is none (recall: no translation)
		function ms(v) { return v == "-" ? v : sprintf("%.3f", v) }'
	done
done
