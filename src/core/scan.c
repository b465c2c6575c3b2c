/* scan.c - linear recurrences over lanes (see scan.h), and the block split
 * and in-order reduction of the threaded ops.
 *
 * Precision. seq is the reference. parallel (Blelloch) reassociates the
 * products and sums, so it agrees with seq to rounding (tests/test_ssm.c
 * and tests/test_scan.c state the tolerances). log (Heinsen, arXiv
 * 2311.06281) evaluates log h_t = a*_t + logcumsumexp_{k<=t}(log b_k - a*_k),
 * a*_t = sum_{j<=t} log a_j, with signs carried separately (a and b may be
 * negative): its relative error grows with |log a| t (op_ssm.c's comment
 * gives the measured figures). */
#include "seqlab/scan.h"
#include "seqlab/common.h"
#include "seqlab/fastmath.h"
#include "seqlab/pool.h"

#include <math.h>
#include <string.h>

/* ---- real lanes --------------------------------------------------------------- */

void sl_scan_seq(int T, int N, const float *a, const float *b, float *h)
{
	memcpy(h, b, (size_t)N * sizeof(float));
	for (int t = 1; t < T; t++) {
		const float *at = a + (size_t)t * N, *bt = b + (size_t)t * N;
		const float *hp = h + (size_t)(t - 1) * N;
		float *ht = h + (size_t)t * N;
		for (int n = 0; n < N; n++)
			ht[n] = SL_FMA(at[n], hp[n], bt[n]);
	}
}

/* Blelloch; ea, eb are (P, N) scratch, P = T rounded up to a power of two. */
void sl_scan_blelloch(int T, int N, const float *a, const float *b, float *h, float *ea, float *eb)
{
	int P = 1;
	while (P < T)
		P <<= 1;
	size_t TN = (size_t)T * N, PN = (size_t)P * N;
	memcpy(ea, a, TN * sizeof(float));
	memcpy(eb, b, TN * sizeof(float));
	for (size_t i = TN; i < PN; i++) {
		ea[i] = 1.0f;
		eb[i] = 0.0f;
	}
	/* up-sweep: node i at stride 2s covers [i-2s+1, i]; x[i] = x[i-s] then x[i] */
	for (int s = 1; s < P; s *= 2)
		for (int i = 2 * s - 1; i < P && i - 2 * s + 1 < T; i += 2 * s) {
			const float *aL = ea + (size_t)(i - s) * N, *bL = eb + (size_t)(i - s) * N;
			float *aR = ea + (size_t)i * N, *bR = eb + (size_t)i * N;
			for (int n = 0; n < N; n++) {
				bR[n] = aR[n] * bL[n] + bR[n];
				aR[n] *= aL[n];
			}
		}
	/* down-sweep: the root gets the identity; each node passes its prefix to
	 * its left child and (prefix then left total) to its right child */
	for (int n = 0; n < N; n++) {
		ea[PN - (size_t)N + n] = 1.0f;
		eb[PN - (size_t)N + n] = 0.0f;
	}
	for (int s = P / 2; s >= 1; s /= 2)
		for (int i = 2 * s - 1; i < P && i - 2 * s + 1 < T; i += 2 * s) {
			float *aL = ea + (size_t)(i - s) * N, *bL = eb + (size_t)(i - s) * N;
			float *aR = ea + (size_t)i * N, *bR = eb + (size_t)i * N;
			for (int n = 0; n < N; n++) {
				float al = aL[n], bl = bL[n], ap = aR[n], bp = bR[n];
				aL[n] = ap;
				bL[n] = bp;
				aR[n] = al * ap;
				bR[n] = al * bp + bl;
			}
		}
	/* the exclusive prefix's b is h_{t-1} */
	for (size_t i = 0; i < TN; i++)
		h[i] = a[i] * eb[i] + b[i];
}

/* Adds the term e^v to the running logsumexp (m, s): value m + log s. */
static inline void lse_add(float *m, float *s, float v)
{
	if (v > *m) {
		*s = *s * expf(*m - v) + 1.0f;
		*m = v;
	} else {
		*s += expf(v - *m);
	}
}

/* Heinsen's log-space scan with signs (see the top of the file). a gives the
 * signs, la = log|a| (-inf where a = 0); st is 6N scratch. */
void sl_scan_log(int T, int N, const float *a, const float *la, const float *b, float *h, float *st)
{
	float *as = st, *sg = st + N, *mp = st + 2 * N, *sp = st + 3 * N, *mq = st + 4 * N, *sq = st + 5 * N;
	for (int t = 0; t < T; t++) {
		const float *at = a + (size_t)t * N, *lat = la + (size_t)t * N, *bt = b + (size_t)t * N;
		float *ht = h + (size_t)t * N;
		for (int n = 0; n < N; n++) {
			if (t == 0 || lat[n] == -INFINITY) {
				/* start (or restart after a zero a_t): no history */
				as[n] = 0.0f;
				sg[n] = 1.0f;
				mp[n] = mq[n] = -INFINITY;
				sp[n] = sq[n] = 0.0f;
			} else {
				as[n] += lat[n];               /* a*_t = a*_{t-1} + log|a_t| */
				if (at[n] < 0.0f)
					sg[n] = -sg[n];
			}
			if (bt[n] != 0.0f) {
				/* the term b_t / (s_t e^{a*_t}), by its sign, in log space */
				float v = logf(fabsf(bt[n])) - as[n];
				if ((bt[n] < 0.0f) == (sg[n] < 0.0f))
					lse_add(&mp[n], &sp[n], v);
				else
					lse_add(&mq[n], &sq[n], v);
			}
			float hp = sp[n] > 0.0f ? expf((as[n] + mp[n]) + logf(sp[n])) : 0.0f;
			float hq = sq[n] > 0.0f ? expf((as[n] + mq[n]) + logf(sq[n])) : 0.0f;
			ht[n] = sg[n] * (hp - hq);
		}
	}
}


/* ---- complex lanes ----------------------------------------------------------- */

void sl_scan_seq_complex(int T, int N, const float *ar, const float *ai, const float *br, const float *bi, float *hr,
			 float *hi)
{
	memcpy(hr, br, (size_t)N * sizeof(float));
	memcpy(hi, bi, (size_t)N * sizeof(float));
	for (int t = 1; t < T; t++) {
		size_t o = (size_t)t * N, p = (size_t)(t - 1) * N;
		for (int n = 0; n < N; n++) {
			float xr = hr[p + n], xi = hi[p + n], a_r = ar[o + n], a_i = ai[o + n];
			hr[o + n] = (a_r * xr - a_i * xi) + br[o + n];
			hi[o + n] = (a_r * xi + a_i * xr) + bi[o + n];
		}
	}
}

void sl_scan_blelloch_complex(int T, int N, const float *ar, const float *ai, const float *br, const float *bi,
			      float *hr, float *hi, float *ear, float *eai, float *ebr, float *ebi)
{
	int P = 1;
	while (P < T)
		P <<= 1;
	size_t TN = (size_t)T * N, PN = (size_t)P * N;
	memcpy(ear, ar, TN * sizeof(float));
	memcpy(eai, ai, TN * sizeof(float));
	memcpy(ebr, br, TN * sizeof(float));
	memcpy(ebi, bi, TN * sizeof(float));
	for (size_t i = TN; i < PN; i++) {
		ear[i] = 1.0f;
		eai[i] = ebr[i] = ebi[i] = 0.0f;
	}
	/* up-sweep: (aR, bR) <- (aR aL, aR bL + bR) */
	for (int s = 1; s < P; s *= 2)
		for (int i = 2 * s - 1; i < P && i - 2 * s + 1 < T; i += 2 * s) {
			size_t L = (size_t)(i - s) * N, R = (size_t)i * N;
			for (int n = 0; n < N; n++) {
				float a_r = ear[R + n], a_i = eai[R + n], lr = ebr[L + n], li = ebi[L + n];
				ebr[R + n] = (a_r * lr - a_i * li) + ebr[R + n];
				ebi[R + n] = (a_r * li + a_i * lr) + ebi[R + n];
				float l_ar = ear[L + n], l_ai = eai[L + n];
				ear[R + n] = a_r * l_ar - a_i * l_ai;
				eai[R + n] = a_r * l_ai + a_i * l_ar;
			}
		}
	for (int n = 0; n < N; n++) {
		ear[PN - (size_t)N + n] = 1.0f;
		eai[PN - (size_t)N + n] = ebr[PN - (size_t)N + n] = ebi[PN - (size_t)N + n] = 0.0f;
	}
	/* down-sweep: left <- prefix; right <- (left total then prefix) */
	for (int s = P / 2; s >= 1; s /= 2)
		for (int i = 2 * s - 1; i < P && i - 2 * s + 1 < T; i += 2 * s) {
			size_t L = (size_t)(i - s) * N, R = (size_t)i * N;
			for (int n = 0; n < N; n++) {
				float alr = ear[L + n], ali = eai[L + n], blr = ebr[L + n], bli = ebi[L + n];
				float apr = ear[R + n], api = eai[R + n], bpr = ebr[R + n], bpi = ebi[R + n];
				ear[L + n] = apr;
				eai[L + n] = api;
				ebr[L + n] = bpr;
				ebi[L + n] = bpi;
				ear[R + n] = alr * apr - ali * api;
				eai[R + n] = alr * api + ali * apr;
				ebr[R + n] = (alr * bpr - ali * bpi) + blr;
				ebi[R + n] = (alr * bpi + ali * bpr) + bli;
			}
		}
	/* the exclusive prefix's b is h_{t-1} */
	for (size_t i = 0; i < TN; i++) {
		float xr = ebr[i], xi = ebi[i];
		hr[i] = (ar[i] * xr - ai[i] * xi) + br[i];
		hi[i] = (ar[i] * xi + ai[i] * xr) + bi[i];
	}
}

/* ---- blocks ------------------------------------------------------------------ */

void sl_block_range(int D, int bs, int nblk, int tid, int nth, int *d0, int *d1)
{
	size_t lo, hi;
	sl_range((size_t)nblk, tid, nth, &lo, &hi);
	*d0 = SL_MIN((int)lo * bs, D);
	*d1 = SL_MIN((int)hi * bs, D);
}

/* dB and dC rows [lo, hi) of (B*T): the blocks' partials added in order,
 * 64 elements at a time so the adds run down vectors (each element's sum
 * still from 0 over the blocks in order). */
void sl_reduce_blocks(const float *part, int nblk, size_t BTN, size_t i0, size_t i1, float *dst)
{
	for (size_t i = i0; i < i1; i += 64) {
		size_t m = i1 - i < 64 ? i1 - i : 64;
		float sum[64] = { 0 };
		for (int k = 0; k < nblk; k++) {
			const float *p = part + (size_t)k * BTN + i;
			if (m == 64)
				for (size_t j = 0; j < 64; j++)
					sum[j] += p[j];
			else
				for (size_t j = 0; j < m; j++)
					sum[j] += p[j];
		}
		for (size_t j = 0; j < m; j++)
			dst[i + j] += sum[j];
	}
}

