/* scan_bench.c - the selective scan's three evaluation orders side by side:
 * forward + backward of sl_ssm at Mamba's shapes, seconds per call, and the
 * log-space scan's error against the sequential one.
 *
 *   bench/scan_bench [-j THREADS] [-r REPEATS] [-s SCAN] [-T LENGTH]
 * (-s and -T: that scan, that length alone)
 * prints one line per (T, scan): T=.. scan=.. fwd_bwd_ms=.. fwd_ms=.. rel_err=..
 * (the fastest of the repeats, forward + backward and forward alone) */
#include "seqlab/ops.h"
#include "seqlab/rng.h"
#include "seqlab/ssm.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static sl_tensor *input(sl_rng *r, int ndim, const int *shape, float lo, float hi)
{
	sl_tensor *t = calloc(1, sizeof *t);
	size_t n = sl_shape_set(t, ndim, shape);
	t->data = malloc(n * sizeof(float));
	t->grad = calloc(n, sizeof(float));
	t->requires_grad = 1;
	for (size_t i = 0; i < n; i++)
		t->data[i] = lo + (hi - lo) * sl_rng_float(r);
	return t;
}

int main(int argc, char **argv)
{
	int threads = 1, reps = 5, only_scan = -1, only_T = 0, c;
	while ((c = getopt(argc, argv, "j:r:s:T:")) != -1) {
		if (c == 'j')
			threads = atoi(optarg);
		else if (c == 'r')
			reps = atoi(optarg);
		else if (c == 's' && (only_scan = sl_ssm_scan_parse(optarg)) >= 0)
			continue;
		else if (c == 'T')
			only_T = atoi(optarg);
		else
			return 2;
	}
	const int Ts[] = { 20, 64, 256, 1024 };
	int B = 64, D = 128, N = 16;
	sl_pool *pool = sl_pool_new(threads);
	sl_arena *arena = sl_arena_new(64u << 20);
	sl_tape *tp = sl_tape_new(arena, pool);
	for (size_t ti = 0; ti < sizeof Ts / sizeof *Ts; ti++) {
		int T = Ts[ti], b = T >= 256 ? 8 : B;
		if (only_T && T != only_T)
			continue;
		sl_rng r;
		sl_rng_seed(&r, 1);
		int xs[3] = { b, T, D }, ns[3] = { b, T, N }, as[2] = { D, N };
		sl_tensor *x = input(&r, 3, xs, -1, 1), *dt = input(&r, 3, xs, 0.001f, 0.1f);
		sl_tensor *A = input(&r, 2, as, -16, -1), *Bm = input(&r, 3, ns, -1, 1), *Cm = input(&r, 3, ns, -1, 1);
		sl_tensor *Dk = input(&r, 1, &D, 0.5f, 1.5f), *z = input(&r, 3, xs, -1, 1);
		float *ref = NULL;
		size_t n = (size_t)b * T * D;
		for (int scan = 0; scan < SL_SSM_SCAN_COUNT; scan++) {
			if (only_scan >= 0 && scan != only_scan)
				continue;
			double best = 1e30, bestf = 1e30, err = 0;
			for (int k = 0; k < reps; k++) {
				sl_tape_reset(tp);
				double t0 = sl_now();
				sl_tensor *y = sl_ssm(tp, x, dt, A, Bm, Cm, Dk, z, SL_SSM_ZOH_APPROX, scan);
				double f = sl_now() - t0;
				sl_tape_backward(tp, y);
				double s = sl_now() - t0;
				best = s < best ? s : best;
				bestf = f < bestf ? f : bestf;
				if (k == 0) {
					if (!ref) {
						ref = malloc(n * sizeof *ref);
						memcpy(ref, y->data, n * sizeof *ref);
					}
					double num = 0, den = 0;
					for (size_t i = 0; i < n; i++) {
						num = fmax(num, fabs(y->data[i] - ref[i]));
						den = fmax(den, fabs(ref[i]));
					}
					err = num / den;
				}
			}
			printf("T=%d B=%d D=%d N=%d threads=%d scan=%s fwd_bwd_ms=%.3f fwd_ms=%.3f rel_err=%.2g\n", T, b, D, N,
			       threads, sl_ssm_scan_name(scan), 1e3 * best, 1e3 * bestf, err);
			fflush(stdout);
		}
		free(ref);
	}
	sl_tape_free(tp);
	sl_arena_free(arena);
	sl_pool_free(pool);
	return 0;
}
