/* test_scan.c - the shared linear recurrences (scan.h): each scan against a
 * double-precision loop, real and complex lanes, the Blelloch and log-space
 * scans against the sequential one, and the in-order block reduction. */
#include "seqlab/scan.h"
#include "seqlab/rng.h"
#include "tap.h"

#include <complex.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static float *rnd(sl_rng *r, size_t n, float lo, float hi)
{
	float *v = malloc(n * sizeof *v);
	for (size_t i = 0; i < n; i++)
		v[i] = lo + (hi - lo) * sl_rng_float(r);
	return v;
}

static void test_real(int T, int N)
{
	sl_rng r;
	sl_rng_seed(&r, (uint64_t)T * 31 + N);
	size_t TN = (size_t)T * N;
	float *a = rnd(&r, TN, -0.99f, 0.99f), *b = rnd(&r, TN, -1, 1);
	float *h = malloc(TN * sizeof *h), *hp = malloc(TN * sizeof *hp), *hl = malloc(TN * sizeof *hl);
	float *la = malloc(TN * sizeof *la);
	int P = 1;
	while (P < T)
		P <<= 1;
	float *ea = malloc((size_t)P * N * sizeof *ea), *eb = malloc((size_t)P * N * sizeof *eb);
	float *st = malloc(6 * (size_t)N * sizeof *st);
	for (size_t i = 0; i < TN; i++)
		la[i] = logf(fabsf(a[i]));
	sl_scan_seq(T, N, a, b, h);
	sl_scan_blelloch(T, N, a, b, hp, ea, eb);
	sl_scan_log(T, N, a, la, b, hl, st);
	double es = 0, ep = 0, el = 0;
	for (int n = 0; n < N; n++) {
		double x = 0;
		for (int t = 0; t < T; t++) {
			size_t i = (size_t)t * N + n;
			x = (t ? a[i] * x : 0) + b[i];
			es = fmax(es, fabs(h[i] - x));
			ep = fmax(ep, fabs(hp[i] - x));
			el = fmax(el, fabs(hl[i] - x));
		}
	}
	TAP_OK(es < 1e-5, "real T=%d N=%d: seq equals the double loop (max |err| %.2g)", T, N, es);
	TAP_OK(ep < 1e-5, "real T=%d N=%d: Blelloch equals it to rounding (%.2g)", T, N, ep);
	TAP_OK(el < 1e-4, "real T=%d N=%d: log-space equals it to 1e-4 (%.2g)", T, N, el);
	free(a), free(b), free(h), free(hp), free(hl), free(la), free(ea), free(eb), free(st);
}

static void test_complex(int T, int N)
{
	sl_rng r;
	sl_rng_seed(&r, (uint64_t)T * 17 + N);
	size_t TN = (size_t)T * N;
	/* |a| < 1: a stable recurrence, as the LRU's ring keeps it */
	float *ar = rnd(&r, TN, -0.7f, 0.7f), *ai = rnd(&r, TN, -0.7f, 0.7f);
	float *br = rnd(&r, TN, -1, 1), *bi = rnd(&r, TN, -1, 1);
	float *hr = malloc(TN * sizeof *hr), *hi = malloc(TN * sizeof *hi);
	float *pr = malloc(TN * sizeof *pr), *pi = malloc(TN * sizeof *pi);
	int P = 1;
	while (P < T)
		P <<= 1;
	size_t PN = (size_t)P * N;
	float *e = malloc(4 * PN * sizeof *e);
	sl_scan_seq_complex(T, N, ar, ai, br, bi, hr, hi);
	sl_scan_blelloch_complex(T, N, ar, ai, br, bi, pr, pi, e, e + PN, e + 2 * PN, e + 3 * PN);
	double es = 0, ep = 0;
	for (int n = 0; n < N; n++) {
		double complex x = 0;
		for (int t = 0; t < T; t++) {
			size_t i = (size_t)t * N + n;
			x = (t ? (ar[i] + I * ai[i]) * x : 0) + (br[i] + I * bi[i]);
			es = fmax(es, cabs(hr[i] + I * hi[i] - x));
			ep = fmax(ep, cabs(pr[i] + I * pi[i] - x));
		}
	}
	TAP_OK(es < 1e-5, "complex T=%d N=%d: seq equals the double loop (max |err| %.2g)", T, N, es);
	TAP_OK(ep < 1e-5, "complex T=%d N=%d: Blelloch equals it to rounding (%.2g)", T, N, ep);
	free(ar), free(ai), free(br), free(bi), free(hr), free(hi), free(pr), free(pi), free(e);
}

static void test_blocks(void)
{
	/* every channel in exactly one thread's range, for any thread count */
	int good = 1;
	for (int D = 1; D <= 70; D++) {
		int bs = (D + 15) / 16, nblk = (D + bs - 1) / bs;
		for (int nth = 1; nth <= 5; nth++) {
			int next = 0;
			for (int tid = 0; tid < nth; tid++) {
				int d0, d1;
				sl_block_range(D, bs, nblk, tid, nth, &d0, &d1);
				good &= d0 == next || d1 <= d0;
				if (d1 > d0)
					next = d1;
			}
			good &= next == D;
		}
	}
	TAP_OK(good, "block ranges cover every channel once, in order, at 1..5 threads");
	/* the reduction adds blocks in order: the same bits whatever the split of rows */
	sl_rng r;
	sl_rng_seed(&r, 3);
	size_t n = 200;
	float *part = rnd(&r, 5 * n, -1, 1), d1[200] = { 0 }, d2[200] = { 0 };
	sl_reduce_blocks(part, 5, n, 0, n, d1);
	sl_reduce_blocks(part, 5, n, 0, 77, d2);
	sl_reduce_blocks(part, 5, n, 77, n, d2);
	int same = !memcmp(d1, d2, sizeof d1);
	for (size_t i = 0; i < n; i++) {
		float s = 0;
		for (int k = 0; k < 5; k++)
			s += part[(size_t)k * n + i];
		same &= s == d1[i];
	}
	TAP_OK(same, "block partials summed in block order, the same bits in any row split");
	free(part);
}

int main(void)
{
	int Ts[] = { 1, 2, 7, 64, 257 }, Ns[] = { 1, 3, 16 };
	for (int i = 0; i < 5; i++)
		for (int j = 0; j < 3; j++) {
			test_real(Ts[i], Ns[j]);
			test_complex(Ts[i], Ns[j]);
		}
	test_blocks();
	return tap_done();
}
