/* op_attention.c - fused multi-head scaled dot-product attention.
 *
 * Shapes: q (B, Tq, H, Dh), k and v (B, Tk, H, Dh) stored as (B, T, H*Dh);
 * out (B, Tq, H*Dh); probabilities P (B, H, Tq, Tk) kept for backward and for
 * the attention views. One task per (b, h): every output and gradient element
 * is written by exactly one task, so threads never race and results do not
 * depend on the partition. Head dims here are small (8-64) and T a few dozen
 * to a few hundred, so the kernels are this file's own rather than sgemm
 * calls: a plain one (any size), a one-vector one for 16 keys or fewer and a
 * blocked one (register tiles) for more, all with the same bits: every sum
 * has the plain kernel's terms in its order, each product rounded before it
 * is added. */
#include "seqlab/fastmath.h"
#include "ops_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Inlined into each head-dim instance, so Dh is a constant there. */
#define SL_INLINE static inline __attribute__((always_inline))

typedef struct attn_ctx {
	int B, Tq, Tk, H, Dh, causal, window;
	size_t kv_bstride; /* floats between batches in k and v: Tk*D, or a cache's capacity*D */
	float scale;
	const float *q, *k, *v, *P, *dout;
	float *out, *Pw, *dq, *dk, *dv;
	int fq, fk, fv; /* dq, dk, dv fresh: written, not added to */
} attn_ctx;

/* Keys [lo, hi) that query i may see. */
static inline void key_range(const attn_ctx *c, int i, int *lo, int *hi)
{
	*lo = 0;
	*hi = c->Tk;
	if (c->causal) {
		*hi = i + (c->Tk - c->Tq) + 1;
		if (*hi > c->Tk)
			*hi = c->Tk;
		if (c->window > 0 && *hi - c->window > 0)
			*lo = *hi - c->window;
	}
}

/* Per-thread scratch for one (b, h): the head's keys transposed (Dh, Tk) and
 * values (Tk, Dh) made contiguous, so the inner loops run over unit strides
 * and vectorise (over keys for scores, over head dims for sums of rows). */
typedef struct attn_scratch {
	float *kt, *kh, *vh, *vt, *s, *dkh, *dvh;
} attn_scratch;

static attn_scratch scratch_new(const attn_ctx *c)
{
	size_t n = (size_t)c->Tk * c->Dh;
	attn_scratch w;
	/* + 8: dots_by_column reads up to 7 floats past a (Dh, Tk) block */
	w.kt = sl_xaligned((7 * n + 2 * (size_t)c->Tk + 8) * sizeof(float));
	w.kh = w.kt + n;
	w.vh = w.kh + n;
	w.vt = w.vh + n;
	w.dkh = w.vt + n;
	w.dvh = w.dkh + n;
	w.s = w.dvh + n;
	return w;
}

/* kt (Dh, Tk) and vh (Tk, Dh), and for backward kh (Tk, Dh) and vt (Dh, Tk),
 * from rows of stride D */
SL_INLINE void gather(const attn_ctx *c, const float *k, const float *v, attn_scratch *w, int bwd, const int Dh)
{
	const int D = c->H * c->Dh, Tk = c->Tk;
	for (int j = 0; j < Tk; j++) {
		const float *kj = k + (size_t)j * D, *vj = v + (size_t)j * D;
		for (int d = 0; d < Dh; d++) {
			w->kt[(size_t)d * Tk + j] = kj[d];
			w->vh[(size_t)j * Dh + d] = vj[d];
		}
		if (bwd)
			for (int d = 0; d < Dh; d++) {
				w->kh[(size_t)j * Dh + d] = kj[d];
				w->vt[(size_t)d * Tk + j] = vj[d];
			}
	}
}

typedef float v8f __attribute__((vector_size(32)));

/* out[j] = sum_d a[d] m[d][j] for j < n, m (Dh, ld) row-major (n <= ld),
 * eight columns at a time: each sum starts from 0 and adds its terms in the
 * order of d, as the scalar loop `out[j] = 0; for d: out[j] += a[d] *
 * m[d][j]` does, so the bits are the same. Reads m up to 7 floats past a
 * row's n (past its end on the last row) and writes out up to 7 past n (both
 * scratch), so every chunk is a whole vector. */
SL_INLINE void dots_by_column(const float *a, const float *m, int ld, int n, int Dh, float *out)
{
	for (int j0 = 0; j0 < n; j0 += 8) {
		v8f acc = { 0 };
		for (int d = 0; d < Dh; d++) {
			v8f col;
			memcpy(&col, m + (size_t)d * ld + j0, sizeof col);
			acc += a[d] * col;
		}
		memcpy(out + j0, &acc, sizeof acc);
	}
}

/* y[d] += a x[d] for d < Dh, eight at a time when Dh allows (elementwise:
 * the same bits either way). */
SL_INLINE void axpy(float *restrict y, float a, const float *restrict x, int Dh)
{
	if (Dh % 8 == 0) {
		for (int d = 0; d < Dh; d += 8) {
			v8f vy, vx;
			memcpy(&vy, y + d, sizeof vy);
			memcpy(&vx, x + d, sizeof vx);
			vy += a * vx;
			memcpy(y + d, &vy, sizeof vy);
		}
	} else {
		for (int d = 0; d < Dh; d++)
			y[d] += a * x[d];
	}
}

/* out[d] = sum_{j in [lo, hi)} p[j] m[j][d] for d < Dh, m (Tk, Dh): each sum
 * starts from 0 and adds its terms in the order of j, as `out = 0; for j:
 * axpy(out, p[j], m[j])` does (the same bits), with the sums kept in
 * registers when Dh is a multiple of 8 (at most 64) rather than stored and
 * reloaded for every j. */
SL_INLINE void rows_sum(float *restrict out, const float *restrict p, const float *restrict m, int lo, int hi,
			int Dh)
{
	if (Dh % 8 == 0 && Dh <= 64) {
		const int nc = Dh / 8;
		v8f acc[8];
		for (int c = 0; c < nc; c++)
			acc[c] = (v8f){ 0 };
		for (int j = lo; j < hi; j++) {
			const float *mj = m + (size_t)j * Dh;
			for (int c = 0; c < nc; c++) {
				v8f x;
				memcpy(&x, mj + 8 * c, sizeof x);
				acc[c] += p[j] * x;
			}
		}
		for (int c = 0; c < nc; c++)
			memcpy(out + 8 * c, &acc[c], sizeof acc[c]);
	} else {
		for (int d = 0; d < Dh; d++)
			out[d] = 0;
		for (int j = lo; j < hi; j++)
			axpy(out, p[j], m + (size_t)j * Dh, Dh);
	}
}

/* p[j] = softmax(s)_j over the keys [lo, hi), 0 for the others (p has Tk
 * entries); s (at least [lo, hi)) is left holding the exponentials. The
 * plain and the blocked kernels share it: the same bits. */
SL_INLINE void softmax_row(float *restrict s, float *restrict p, int lo, int hi, int Tk)
{
	float m = -INFINITY;
	for (int j = lo; j < hi; j++)
		m = s[j] > m ? s[j] : m;
	float z = 0;
	for (int j = lo; j < hi; j++) {
		float e = sl_fexp(s[j] - m);
		s[j] = e;
		z += e;
	}
	float iz = 1.0f / z;
	for (int j = 0; j < lo; j++)
		p[j] = 0.0f;
	for (int j = lo; j < hi; j++)
		p[j] = s[j] * iz;
	for (int j = hi; j < Tk; j++)
		p[j] = 0.0f;
}

/* dS_ij = P_ij (dP_ij - sum_j P_ij dP_ij), times the scale, over [lo, hi),
 * in place of dP (the sum from 0 in the order of j); shared as above. */
SL_INLINE void dscores_row(const float *restrict p, float *restrict dp, int lo, int hi, float scale)
{
	float rs = 0;
	for (int j = lo; j < hi; j++)
		rs += p[j] * dp[j];
	for (int j = lo; j < hi; j++)
		dp[j] = p[j] * (dp[j] - rs) * scale;
}

/* dk and dv of a head (rows of stride D) from its sums gk, gv, element (j, d)
 * at j sj + d sd: written on a fresh gradient, added otherwise. */
SL_INLINE void store_kv_grads(const attn_ctx *c, float *dk, float *dv, const float *gk, const float *gv, size_t sj,
			      size_t sd, const int Dh)
{
	const int D = c->H * c->Dh;
	for (int j = 0; j < c->Tk; j++)
		for (int d = 0; d < Dh; d++) {
			if (dk) {
				float *g = &dk[(size_t)j * D + d];
				*g = (c->fk ? 0.0f : *g) + gk[j * sj + d * sd];
			}
			if (dv) {
				float *g = &dv[(size_t)j * D + d];
				*g = (c->fv ? 0.0f : *g) + gv[j * sj + d * sd];
			}
		}
}

/* The kernels take the head dim as an argument that the dispatchers below
 * pass as a constant for the usual sizes, so the loops over d unroll into a
 * few vector operations; the generic instance serves the rest. The same
 * operations in the same order either way, so the same bits. */
SL_INLINE void attn_fwd_k(const attn_ctx *c, size_t lo_bh, size_t hi_bh, const int Dh)
{
	const int D = c->H * c->Dh, Tk = c->Tk;
	attn_scratch w = scratch_new(c);
	for (size_t bh = lo_bh; bh < hi_bh; bh++) {
		int b = (int)(bh / (size_t)c->H), h = (int)(bh % (size_t)c->H);
		const float *q = c->q + (size_t)b * c->Tq * D + (size_t)h * Dh;
		const float *k = c->k + (size_t)b * c->kv_bstride + (size_t)h * Dh;
		const float *v = c->v + (size_t)b * c->kv_bstride + (size_t)h * Dh;
		float *out = c->out + (size_t)b * c->Tq * D + (size_t)h * Dh;
		float *P = c->Pw + bh * (size_t)c->Tq * Tk;
		gather(c, k, v, &w, 0, Dh);
		for (int i = 0; i < c->Tq; i++) {
			const float *restrict qi = q + (size_t)i * D;
			float *restrict p = P + (size_t)i * Tk, *restrict oi = out + (size_t)i * D;
			int lo, hi;
			key_range(c, i, &lo, &hi);
			/* s_j = scale * q_i . k_j, vectorised over j */
			float qs[Dh];
			for (int d = 0; d < Dh; d++)
				qs[d] = qi[d] * c->scale;
			/* only the keys a query sees: under a causal mask, half the
			 * work (the masked terms added zeros to z: the same bits) */
			float *restrict s = w.s;
			dots_by_column(qs, w.kt, Tk, hi, Dh, s);
			softmax_row(s, p, lo, hi, Tk);
			/* o_i = sum_j p_j v_j, vectorised over d */
			rows_sum(oi, p, w.vh, lo, hi, Dh);
		}
	}
	free(w.kt);
}

SL_INLINE void attn_bwd_k(const attn_ctx *c, size_t lo_bh, size_t hi_bh, const int Dh)
{
	const int D = c->H * c->Dh, Tk = c->Tk;
	attn_scratch w = scratch_new(c);
	for (size_t bh = lo_bh; bh < hi_bh; bh++) {
		int b = (int)(bh / (size_t)c->H), h = (int)(bh % (size_t)c->H);
		size_t oq = (size_t)b * c->Tq * D + (size_t)h * Dh, ok = (size_t)b * Tk * D + (size_t)h * Dh;
		const float *q = c->q + oq, *k = c->k + ok, *v = c->v + ok, *dout = c->dout + oq;
		const float *P = c->P + bh * (size_t)c->Tq * Tk;
		float *dq = c->dq ? c->dq + oq : NULL, *dk = c->dk ? c->dk + ok : NULL,
		      *dv = c->dv ? c->dv + ok : NULL;
		float *restrict dp = w.s;
		gather(c, k, v, &w, 1, Dh);
		memset(w.dkh, 0, 2 * (size_t)Tk * Dh * sizeof(float));
		for (int i = 0; i < c->Tq; i++) {
			const float *restrict p = P + (size_t)i * Tk, *restrict doi = dout + (size_t)i * D,
					    *restrict qi = q + (size_t)i * D;
			int lo, hi;
			key_range(c, i, &lo, &hi);
			/* dP_ij = dO_i . v_j, vectorised over j */
			dots_by_column(doi, w.vt, Tk, hi, Dh, dp);
			dscores_row(p, dp, lo, hi, c->scale);
			/* dq_i += sum_j dS_ij k_j; dk_j += dS_ij q_i; dv_j += P_ij dO_i */
			float dqi[Dh];
			rows_sum(dqi, dp, w.kh, lo, hi, Dh);
			for (int j = lo; j < hi; j++) {
				axpy(w.dkh + (size_t)j * Dh, dp[j], qi, Dh);
				axpy(w.dvh + (size_t)j * Dh, p[j], doi, Dh);
			}
			if (dq)
				for (int d = 0; d < Dh; d++) {
					float *g = &dq[(size_t)i * D + d];
					*g = (c->fq ? 0.0f : *g) + dqi[d];
				}
		}
		store_kv_grads(c, dk, dv, w.dkh, w.dvh, (size_t)Dh, 1, Dh);
	}
	free(w.kt);
}

#if defined(__AVX512F__)
/* Sixteen keys or fewer (the Pig-Latin words): a row of scores is one
 * 16-lane vector, the keys' lanes; masks stand for the loops' ranges. Every
 * sum has the terms and the order of the plain kernel above (products and
 * sums rounded separately, the sequential sums kept sequential), so the bits
 * are the same (tests/test_attention.c compares them). */
#define KW 16

/* kt (Dh, 16) of the head's keys, or of its values for backward, lanes past
 * Tk zero; kh (Tk, Dh) of the other. */
SL_INLINE void gather16(const attn_ctx *c, const float *cols, const float *rows, float *kt, float *kh, const int Dh)
{
	const int D = c->H * c->Dh, Tk = c->Tk;
	memset(kt, 0, (size_t)Dh * KW * sizeof(float));
	for (int j = 0; j < Tk; j++) {
		const float *cj = cols + (size_t)j * D, *rj = rows + (size_t)j * D;
		for (int d = 0; d < Dh; d++) {
			kt[(size_t)d * KW + j] = cj[d];
			kh[(size_t)j * Dh + d] = rj[d];
		}
	}
}

/* sum_d a[d] kt[d] over the sixteen lanes, from 0 in the order of d */
SL_INLINE __m512 dots16(const float *a, const float *kt, const int Dh)
{
	__m512 acc = _mm512_setzero_ps();
	for (int d = 0; d < Dh; d++)
		acc = _mm512_add_ps(acc, _mm512_mul_ps(_mm512_set1_ps(a[d]), _mm512_load_ps(kt + (size_t)d * KW)));
	return acc;
}

/* x[0] + x[1] + ... + x[n-1], from 0, in order */
static inline float sum_in_order(__m512 v, int n)
{
	float x[KW], z = 0;
	_mm512_storeu_ps(x, v);
	for (int j = 0; j < n; j++)
		z += x[j];
	return z;
}

static inline __mmask16 lanes(int lo, int hi)
{
	return (__mmask16)(((1u << hi) - 1) & ~((1u << lo) - 1));
}

/* The work for a head runs in three passes over its queries (scores;
 * softmax; sums of values), not query by query: each pass's rows are
 * independent and short, so the processor overlaps them, where one query
 * after another is a chain of dependent steps (sum, exp, the sequential sum,
 * the division) that leaves it waiting. */
SL_INLINE void attn_fwd16_k(const attn_ctx *c, size_t lo_bh, size_t hi_bh, const int Dh)
{
	const int D = c->H * c->Dh, Tk = c->Tk, Tq = c->Tq;
	/* kt (Dh, 16), S (Tq, 16): the scores, then P; vh (Tk, Dh) */
	float *kt = sl_xaligned(((size_t)(Dh + Tq) * KW + (size_t)Tk * Dh) * sizeof(float));
	float *S = kt + (size_t)Dh * KW, *vh = S + (size_t)Tq * KW;
	const __mmask16 all = lanes(0, Tk);
	for (size_t bh = lo_bh; bh < hi_bh; bh++) {
		int b = (int)(bh / (size_t)c->H), h = (int)(bh % (size_t)c->H);
		const float *q = c->q + (size_t)b * Tq * D + (size_t)h * Dh;
		const float *k = c->k + (size_t)b * c->kv_bstride + (size_t)h * Dh;
		const float *v = c->v + (size_t)b * c->kv_bstride + (size_t)h * Dh;
		float *out = c->out + (size_t)b * Tq * D + (size_t)h * Dh;
		float *P = c->Pw + bh * (size_t)Tq * Tk;
		gather16(c, k, v, kt, vh, Dh);
		for (int i = 0; i < Tq; i++) {
			const float *qi = q + (size_t)i * D;
			float qs[Dh];
			for (int d = 0; d < Dh; d++)
				qs[d] = qi[d] * c->scale;
			_mm512_store_ps(S + (size_t)i * KW, dots16(qs, kt, Dh));
		}
		for (int i = 0; i < Tq; i++) {
			int lo, hi;
			key_range(c, i, &lo, &hi);
			__mmask16 in = lanes(lo, hi);
			__m512 sc = _mm512_load_ps(S + (size_t)i * KW);
			float m = _mm512_mask_reduce_max_ps(in, sc);
			__m512 e = _mm512_maskz_mov_ps(in, sl_fexp16(_mm512_sub_ps(sc, _mm512_set1_ps(m))));
			float iz = 1.0f / sum_in_order(e, Tk);
			__m512 pv = _mm512_mul_ps(e, _mm512_set1_ps(iz));
			_mm512_mask_storeu_ps(P + (size_t)i * Tk, all, pv);
			_mm512_store_ps(S + (size_t)i * KW, pv);
		}
		for (int i = 0; i < Tq; i++) {
			int lo, hi;
			key_range(c, i, &lo, &hi);
			rows_sum(out + (size_t)i * D, S + (size_t)i * KW, vh, lo, hi, Dh);
		}
	}
	free(kt);
}

SL_INLINE void attn_bwd16_k(const attn_ctx *c, size_t lo_bh, size_t hi_bh, const int Dh)
{
	const int D = c->H * c->Dh, Tk = c->Tk, Tq = c->Tq;
	/* vt (Dh, 16); dkt and dvt (Dh, 16), the sums for dk and dv by lanes of
	 * keys; DS (Tq, 16), dS; kh (Tk, Dh). Three passes, as forward. */
	float *vt = sl_xaligned(((size_t)(3 * Dh + Tq) * KW + (size_t)Tk * Dh) * sizeof(float));
	float *dkt = vt + (size_t)Dh * KW, *dvt = dkt + (size_t)Dh * KW, *DS = dvt + (size_t)Dh * KW;
	float *kh = DS + (size_t)Tq * KW;
	for (size_t bh = lo_bh; bh < hi_bh; bh++) {
		int b = (int)(bh / (size_t)c->H), h = (int)(bh % (size_t)c->H);
		size_t oq = (size_t)b * Tq * D + (size_t)h * Dh, ok = (size_t)b * Tk * D + (size_t)h * Dh;
		const float *q = c->q + oq, *k = c->k + ok, *v = c->v + ok, *dout = c->dout + oq;
		const float *P = c->P + bh * (size_t)Tq * Tk;
		float *dq = c->dq ? c->dq + oq : NULL, *dk = c->dk ? c->dk + ok : NULL,
		      *dv = c->dv ? c->dv + ok : NULL;
		gather16(c, v, k, vt, kh, Dh);
		/* dP_ij = dO_i . v_j; rs = sum_j P_ij dP_ij in order of j;
		 * dS_ij = P_ij (dP_ij - rs) scale, 0 outside the row's keys */
		for (int i = 0; i < Tq; i++) {
			int lo, hi;
			key_range(c, i, &lo, &hi);
			__mmask16 in = lanes(lo, hi);
			__m512 pv = _mm512_maskz_loadu_ps(in, P + (size_t)i * Tk);
			__m512 dp = dots16(dout + (size_t)i * D, vt, Dh);
			float rs = sum_in_order(_mm512_maskz_mul_ps(in, pv, dp), hi);
			__m512 ds = _mm512_maskz_mul_ps(in, _mm512_mul_ps(pv, _mm512_sub_ps(dp, _mm512_set1_ps(rs))),
							_mm512_set1_ps(c->scale));
			_mm512_store_ps(DS + (size_t)i * KW, ds);
		}
		/* dq_i = sum_j dS_ij k_j */
		if (dq)
			for (int i = 0; i < Tq; i++) {
				int lo, hi;
				key_range(c, i, &lo, &hi);
				float dqi[Dh];
				rows_sum(dqi, DS + (size_t)i * KW, kh, lo, hi, Dh);
				for (int d = 0; d < Dh; d++) {
					float *g = &dq[(size_t)i * D + d];
					*g = (c->fq ? 0.0f : *g) + dqi[d];
				}
			}
		/* dk_j += dS_ij q_i, dv_j += P_ij dO_i, over i in order, for the
		 * row's keys only */
		memset(dkt, 0, 2 * (size_t)Dh * KW * sizeof(float));
		for (int i = 0; i < Tq; i++) {
			const float *doi = dout + (size_t)i * D, *qi = q + (size_t)i * D;
			int lo, hi;
			key_range(c, i, &lo, &hi);
			__mmask16 in = lanes(lo, hi);
			__m512 pv = _mm512_maskz_loadu_ps(in, P + (size_t)i * Tk), ds = _mm512_load_ps(DS + (size_t)i * KW);
			for (int d = 0; d < Dh; d++) {
				__m512 a = _mm512_load_ps(dkt + (size_t)d * KW), u = _mm512_load_ps(dvt + (size_t)d * KW);
				a = _mm512_mask_add_ps(a, in, a, _mm512_mul_ps(ds, _mm512_set1_ps(qi[d])));
				u = _mm512_mask_add_ps(u, in, u, _mm512_mul_ps(pv, _mm512_set1_ps(doi[d])));
				_mm512_store_ps(dkt + (size_t)d * KW, a);
				_mm512_store_ps(dvt + (size_t)d * KW, u);
			}
		}
		store_kv_grads(c, dk, dv, dkt, dvt, 1, KW, Dh);
	}
	free(vt);
}

/* More than sixteen keys: the blocked kernel. A head's six products run as
 * register tiles with unit-stride vector loads, as sl_gemm's do, but with
 * this file's arithmetic: every sum is the plain kernel's, started from 0
 * and extended term by term in the same order, each product rounded before
 * it is added (no fused multiply-add). So the bits are the plain kernel's
 * for any Tq, Tk and head dim (tests/test_attention.c compares them), and
 * decoding through the cache keeps matching the full forward pass. Fused
 * multiply-adds would halve the products' instructions but change every
 * result; tried, they saved about 5 % of a gpt/recall step (T = 64), the
 * rest of the kernel (transposes, softmax, stores) weighing as much.
 *
 *   S = Qs K^T and dP = dO V^T: tiles of BM = 8 queries by 16 or 32 keys,
 *     sums over d, from the keys (values) transposed (Dh, ldk) so a tile
 *     loads whole vectors of keys. Only the key tiles a block of queries
 *     sees are computed: under a causal mask the tiles above the diagonal
 *     (and, with a window, those left of it) are skipped.
 *   O = P V, dQ = dS K, dK = dS^T Q, dV = P^T dO: tiles of MR rows by the
 *     head dim (vectors of 16 over d), sums over the keys (O, dQ) or the
 *     queries (dK, dV) each row sees. Those ranges differ row by row near
 *     the diagonal: the tile runs the range its rows share, and each row's
 *     own terms before it (a window's start) and after it (the diagonal)
 *     are added one row at a time in their order, so no masked term is ever
 *     added and each sum keeps the plain kernel's terms and order.
 *
 * The softmax and dS in between run a block of rows at a time
 * (softmax_block, dscores_block): the plain kernel's operations, with the
 * one sequential sum of each row (z, and sum_j P_ij dP_ij) advancing for the
 * block's rows together. A (b, h) is one task, as elsewhere. */
#define BM 8

/* s[r][j0 + j] = sum_d a[r][d] bt[d][j0 + j] for the BM rows of a (BM, Dh)
 * and the 16 NV columns from j0 of bt (Dh, ldb); s (BM, lds). ldb, lds, j0
 * multiples of 16, bt and s 64-byte aligned. */
SL_INLINE void dots_tile(const int NV, const float *a, const float *bt, size_t ldb, int j0, float *s, size_t lds,
			 const int Dh)
{
	__m512 acc[BM][2];
	for (int r = 0; r < BM; r++)
		acc[r][0] = acc[r][1] = _mm512_setzero_ps();
	for (int d = 0; d < Dh; d++) {
		const float *bd = bt + (size_t)d * ldb + j0;
		__m512 b0 = _mm512_load_ps(bd), b1 = NV == 2 ? _mm512_load_ps(bd + 16) : b0;
		for (int r = 0; r < BM; r++) {
			__m512 x = _mm512_set1_ps(a[(size_t)r * Dh + d]);
			acc[r][0] = _mm512_add_ps(acc[r][0], _mm512_mul_ps(x, b0));
			if (NV == 2)
				acc[r][1] = _mm512_add_ps(acc[r][1], _mm512_mul_ps(x, b1));
		}
	}
	for (int r = 0; r < BM; r++) {
		_mm512_store_ps(s + (size_t)r * lds + j0, acc[r][0]);
		if (NV == 2)
			_mm512_store_ps(s + (size_t)r * lds + j0 + 16, acc[r][1]);
	}
}

/* The scores (or dP) of a block of queries: s (BM, lds) over the key tiles
 * that hold the keys [jlo, jhi) its queries see. */
SL_INLINE void dots_block(const float *a, const float *bt, size_t ldb, int jlo, int jhi, float *s, size_t lds,
			  const int Dh)
{
	for (int j0 = jlo & ~15; j0 < jhi; j0 += 32) {
		if (jhi - j0 > 16)
			dots_tile(2, a, bt, ldb, j0, s, lds, Dh);
		else
			dots_tile(1, a, bt, ldb, j0, s, lds, Dh);
	}
}

/* o[r][d] += sum_{t in [t0, t1)} cf[r crs + t cts] x[t ldx + d], in the
 * order of t, for rows r < MR of o (MR, ldo) and d < Dh: NC = Dh/16 rounded
 * up vectors, the last masked by `last` (x and o are read and written only
 * within their Dh). */
SL_INLINE void sums_tile(const int MR, const int NC, float *o, size_t ldo, const float *cf, size_t crs, size_t cts,
			 const float *x, size_t ldx, int t0, int t1, __mmask16 last)
{
	__m512 acc[8][4];
	if (t0 >= t1)
		return;
	for (int r = 0; r < MR; r++)
		for (int v = 0; v < NC; v++)
			acc[r][v] = _mm512_maskz_loadu_ps(v == NC - 1 ? last : 0xffff, o + (size_t)r * ldo + 16 * v);
	for (int t = t0; t < t1; t++) {
		const float *xt = x + (size_t)t * ldx, *ct = cf + (size_t)t * cts;
		__m512 xv[4];
		for (int v = 0; v < NC; v++)
			xv[v] = _mm512_maskz_loadu_ps(v == NC - 1 ? last : 0xffff, xt + 16 * v);
		for (int r = 0; r < MR; r++) {
			__m512 p = _mm512_set1_ps(ct[(size_t)r * crs]);
			for (int v = 0; v < NC; v++)
				acc[r][v] = _mm512_add_ps(acc[r][v], _mm512_mul_ps(p, xv[v]));
		}
	}
	for (int r = 0; r < MR; r++)
		for (int v = 0; v < NC; v++)
			_mm512_mask_storeu_ps(o + (size_t)r * ldo + 16 * v, v == NC - 1 ? last : 0xffff, acc[r][v]);
}

/* o[r] = sum_{t in [lo[r], hi[r])} cf[r crs + t cts] x[t], for the n rows of
 * o (n, ldo), each sum from 0 in the order of t. lo and hi never decrease
 * with r. Blocks of MR rows: the range they share by the MR-row tile, each
 * row's terms before and after it by one-row tiles. */
SL_INLINE void sums_rows_mr(const int MR, const int NC, int n, const int *lo, const int *hi, float *o, size_t ldo,
			    const float *cf, size_t crs, size_t cts, const float *x, size_t ldx, int Dh)
{
	const __mmask16 last = Dh % 16 ? (__mmask16)((1u << (Dh % 16)) - 1) : (__mmask16)0xffff;
	for (int r = 0; r < n; r++)
		memset(o + (size_t)r * ldo, 0, (size_t)Dh * sizeof(float));
	int r0 = 0;
	for (; r0 + MR <= n; r0 += MR) {
		int a = lo[r0 + MR - 1], b = hi[r0];
		if (a >= b) { /* nothing shared (a short window): row by row */
			for (int r = r0; r < r0 + MR; r++)
				sums_tile(1, NC, o + (size_t)r * ldo, ldo, cf + (size_t)r * crs, crs, cts, x, ldx, lo[r],
					  hi[r], last);
			continue;
		}
		for (int r = r0; r < r0 + MR; r++)
			sums_tile(1, NC, o + (size_t)r * ldo, ldo, cf + (size_t)r * crs, crs, cts, x, ldx, lo[r], a,
				  last);
		sums_tile(MR, NC, o + (size_t)r0 * ldo, ldo, cf + (size_t)r0 * crs, crs, cts, x, ldx, a, b, last);
		for (int r = r0; r < r0 + MR; r++)
			sums_tile(1, NC, o + (size_t)r * ldo, ldo, cf + (size_t)r * crs, crs, cts, x, ldx, b, hi[r],
				  last);
	}
	for (int r = r0; r < n; r++)
		sums_tile(1, NC, o + (size_t)r * ldo, ldo, cf + (size_t)r * crs, crs, cts, x, ldx, lo[r], hi[r], last);
}

/* sixteen accumulators: 8 rows of one or two vectors, 4 rows of three or four */
SL_INLINE void sums_rows(const int NC, int n, const int *lo, const int *hi, float *o, size_t ldo, const float *cf,
			 size_t crs, size_t cts, const float *x, size_t ldx, int Dh)
{
	if (NC <= 2)
		sums_rows_mr(8, NC, n, lo, hi, o, ldo, cf, crs, cts, x, ldx, Dh);
	else
		sums_rows_mr(4, NC, n, lo, hi, o, ldo, cf, crs, cts, x, ldx, Dh);
}

/* bt (Dh, ldk) = the head's rows m (Tk, stride D) transposed, columns past
 * Tk zero: sixteen keys' element d by one gather */
SL_INLINE void gather_t(const float *m, int D, int Tk, int ldk, float *bt, const int Dh)
{
	const __m512i rows = _mm512_mullo_epi32(
		_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0), _mm512_set1_epi32(D));
	for (int j0 = 0; j0 < ldk; j0 += 16) {
		__mmask16 in = lanes(0, Tk - j0 < 16 ? Tk - j0 : 16);
		const float *mj = m + (size_t)j0 * D;
		for (int d = 0; d < Dh; d++)
			_mm512_store_ps(bt + (size_t)d * ldk + j0,
					_mm512_mask_i32gather_ps(_mm512_setzero_ps(), in, rows, mj + d, 4));
	}
}

/* z[r] = sum_{j in [lo[r], hi[r])} x[r ldx + j] for the mr <= BM rows of x
 * (lo and hi never decreasing with r): lane r of the result, each sum from
 * 0 in the order of j, as the plain kernel's one chain of additions per row;
 * here the rows' chains advance together, a gathered column per step. */
SL_INLINE __m512 row_sums(const float *x, size_t ldx, const int *lo, const int *hi, int mr)
{
	int l[16] = { 0 }, h[16] = { 0 };
	for (int r = 0; r < mr; r++) {
		l[r] = lo[r];
		h[r] = hi[r];
	}
	const __m512i vlo = _mm512_loadu_si512(l), vhi = _mm512_loadu_si512(h);
	const __m512i idx = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
					       _mm512_set1_epi32((int)ldx));
	__m512 z = _mm512_setzero_ps();
	for (int j = lo[0]; j < hi[mr - 1]; j++) {
		__m512i jv = _mm512_set1_epi32(j);
		__mmask16 in = _mm512_cmple_epi32_mask(vlo, jv) & _mm512_cmplt_epi32_mask(jv, vhi);
		z = _mm512_mask_add_ps(z, in, z, _mm512_mask_i32gather_ps(_mm512_setzero_ps(), in, idx, x + j, 4));
	}
	return z;
}

/* the lanes of columns [lo, hi) in the sixteen from j0 */
static inline __mmask16 lanes_at(int j0, int lo, int hi)
{
	lo = lo - j0 < 0 ? 0 : lo - j0 > 16 ? 16 : lo - j0;
	hi = hi - j0 < 0 ? 0 : hi - j0 > 16 ? 16 : hi - j0;
	return lo < hi ? lanes(lo, hi) : 0;
}

/* softmax_row for the mr rows of a block, scores s (BM, lds), p (mr, Tk):
 * the same bits. A row's maximum is exact in any order (the zeros' signs
 * aside, which e^(s - m) cannot tell apart), so it runs over vectors, as do
 * the exponentials (sl_fexp16: sl_fexp's bits) and the quotients; its sum z
 * is row_sums', in the order of j. */
SL_INLINE void softmax_block(float *s, size_t lds, float *p, int Tk, const int *lo, const int *hi, int mr)
{
	for (int r = 0; r < mr; r++) {
		float *sr = s + (size_t)r * lds;
		__m512 mv = _mm512_set1_ps(-INFINITY);
		for (int j0 = lo[r] & ~15; j0 < hi[r]; j0 += 16)
			/* max(x, m) is m when x is NaN, as s[j] > m ? s[j] : m */
			mv = _mm512_mask_max_ps(mv, lanes_at(j0, lo[r], hi[r]), _mm512_load_ps(sr + j0), mv);
		__m512 m = _mm512_set1_ps(_mm512_reduce_max_ps(mv));
		for (int j0 = lo[r] & ~15; j0 < hi[r]; j0 += 16) {
			__mmask16 in = lanes_at(j0, lo[r], hi[r]);
			__m512 x = _mm512_maskz_load_ps(in, sr + j0);
			_mm512_mask_store_ps(sr + j0, in, sl_fexp16(_mm512_sub_ps(x, m)));
		}
	}
	float z[16];
	_mm512_storeu_ps(z, row_sums(s, lds, lo, hi, mr));
	for (int r = 0; r < mr; r++) {
		const float *sr = s + (size_t)r * lds;
		float *pr = p + (size_t)r * Tk;
		__m512 iz = _mm512_set1_ps(1.0f / z[r]);
		/* p_j = e_j / z in the row's range, 0 elsewhere */
		for (int j0 = 0; j0 < Tk; j0 += 16) {
			__mmask16 in = lanes_at(j0, lo[r], hi[r]);
			__m512 e = _mm512_maskz_load_ps(in, sr + j0);
			_mm512_mask_storeu_ps(pr + j0, lanes_at(j0, 0, Tk), _mm512_maskz_mul_ps(in, e, iz));
		}
	}
}

/* dscores_row for the mr rows of a block, p (mr, ldp), dp (BM, ldd) in
 * place: the products P_ij dP_ij into t (BM, ldd), their sums by row_sums
 * (the same order), then dS */
SL_INLINE void dscores_block(const float *p, size_t ldp, float *dp, size_t ldd, float *t, const int *lo, const int *hi,
			     int mr, float scale)
{
	for (int r = 0; r < mr; r++)
		for (int j0 = lo[r] & ~15; j0 < hi[r]; j0 += 16) {
			__mmask16 in = lanes_at(j0, lo[r], hi[r]);
			__m512 pv = _mm512_maskz_loadu_ps(in, p + (size_t)r * ldp + j0);
			_mm512_store_ps(t + (size_t)r * ldd + j0,
					_mm512_maskz_mul_ps(in, pv, _mm512_load_ps(dp + (size_t)r * ldd + j0)));
		}
	float rs[16];
	_mm512_storeu_ps(rs, row_sums(t, ldd, lo, hi, mr));
	for (int r = 0; r < mr; r++) {
		__m512 rv = _mm512_set1_ps(rs[r]), sc = _mm512_set1_ps(scale);
		for (int j0 = lo[r] & ~15; j0 < hi[r]; j0 += 16) {
			__mmask16 in = lanes_at(j0, lo[r], hi[r]);
			float *dr = dp + (size_t)r * ldd + j0;
			__m512 pv = _mm512_maskz_loadu_ps(in, p + (size_t)r * ldp + j0);
			__m512 ds = _mm512_mul_ps(_mm512_mul_ps(pv, _mm512_sub_ps(_mm512_load_ps(dr), rv)), sc);
			_mm512_mask_store_ps(dr, in, ds);
		}
	}
}

/* g (n rows of stride D) = (fresh ? 0 : g) + s, s (n, Dh): a gradient
 * written or added to, as the plain kernel's stores (the test out of the
 * loop, so the loop vectorises) */
SL_INLINE void store_grad(float *g, int D, const float *s, int n, int fresh, const int Dh)
{
	for (int r = 0; r < n; r++) {
		float *gr = g + (size_t)r * D;
		const float *sr = s + (size_t)r * Dh;
		if (fresh)
			for (int d = 0; d < Dh; d++)
				gr[d] = 0.0f + sr[d];
		else
			for (int d = 0; d < Dh; d++)
				gr[d] = gr[d] + sr[d];
	}
}

/* The key range [rlo[i], rhi[i]) of every query, and the queries
 * [qlo[j], qhi[j]) that see each key (qlo, qhi may be NULL): both ends of a
 * query's range never decrease with i, so a key's queries are one run. */
static void ranges(const attn_ctx *c, int *rlo, int *rhi, int *qlo, int *qhi)
{
	for (int i = 0; i < c->Tq; i++)
		key_range(c, i, &rlo[i], &rhi[i]);
	if (!qlo)
		return;
	int a = 0, b = 0;
	for (int j = 0; j < c->Tk; j++) {
		while (a < c->Tq && rhi[a] <= j)
			a++;
		while (b < c->Tq && rlo[b] <= j)
			b++;
		qlo[j] = a;
		qhi[j] = b;
	}
}

SL_INLINE void attn_fwdb_k(const attn_ctx *c, size_t lo_bh, size_t hi_bh, const int Dh, const int NC)
{
	const int D = c->H * c->Dh, Tk = c->Tk, Tq = c->Tq, ldk = (Tk + 15) & ~15;
	/* kt (Dh, ldk): the head's keys transposed; S (BM, ldk): a block's
	 * scores, then exponentials; qs (BM, Dh): its queries times the scale,
	 * rows past Tq zero; rlo, rhi (Tq): the queries' key ranges */
	float *kt = sl_xaligned(((size_t)(Dh + BM) * ldk + BM * (size_t)Dh) * sizeof(float) + 2 * (size_t)Tq * sizeof(int));
	float *S = kt + (size_t)Dh * ldk, *qs = S + (size_t)BM * ldk;
	int *rlo = (int *)(qs + BM * (size_t)Dh), *rhi = rlo + Tq;
	ranges(c, rlo, rhi, NULL, NULL);
	for (size_t bh = lo_bh; bh < hi_bh; bh++) {
		int b = (int)(bh / (size_t)c->H), h = (int)(bh % (size_t)c->H);
		const float *q = c->q + (size_t)b * Tq * D + (size_t)h * Dh;
		const float *k = c->k + (size_t)b * c->kv_bstride + (size_t)h * Dh;
		const float *v = c->v + (size_t)b * c->kv_bstride + (size_t)h * Dh;
		float *out = c->out + (size_t)b * Tq * D + (size_t)h * Dh;
		float *P = c->Pw + bh * (size_t)Tq * Tk;
		gather_t(k, D, Tk, ldk, kt, Dh);
		for (int i0 = 0; i0 < Tq; i0 += BM) {
			int mr = Tq - i0 < BM ? Tq - i0 : BM;
			for (int r = 0; r < mr; r++)
				for (int d = 0; d < Dh; d++)
					qs[(size_t)r * Dh + d] = q[(size_t)(i0 + r) * D + d] * c->scale;
			memset(qs + (size_t)mr * Dh, 0, (size_t)(BM - mr) * Dh * sizeof(float));
			/* s_ij = scale q_i . k_j for the keys the block sees */
			dots_block(qs, kt, (size_t)ldk, rlo[i0], rhi[i0 + mr - 1], S, (size_t)ldk, Dh);
			softmax_block(S, (size_t)ldk, P + (size_t)i0 * Tk, Tk, rlo + i0, rhi + i0, mr);
			/* o_i = sum_j p_ij v_j over the keys query i sees */
			sums_rows(NC, mr, rlo + i0, rhi + i0, out + (size_t)i0 * D, (size_t)D, P + (size_t)i0 * Tk,
				  (size_t)Tk, 1, v, (size_t)D, Dh);
		}
	}
	free(kt);
}

SL_INLINE void attn_bwdb_k(const attn_ctx *c, size_t lo_bh, size_t hi_bh, const int Dh, const int NC)
{
	const int D = c->H * c->Dh, Tk = c->Tk, Tq = c->Tq, ldk = (Tk + 15) & ~15;
	const int Tqb = (Tq + BM - 1) / BM * BM;
	/* vt (Dh, ldk): the head's values transposed; DS (Tqb, ldk): dP, then
	 * dS; T (BM, ldk): a block's products P dP; a (BM, Dh): a block's rows of dO, rows past Tq zero; gq (Tq, Dh),
	 * gk and gv (Tk, Dh): the head's gradients; rlo, rhi (Tq): the queries'
	 * key ranges, qlo, qhi (Tk): the keys' query ranges */
	size_t nf = (size_t)(Dh + Tqb + BM) * ldk + (size_t)(BM + Tq + 2 * Tk) * Dh;
	float *vt = sl_xaligned(nf * sizeof(float) + 2 * (size_t)(Tq + Tk) * sizeof(int));
	float *DS = vt + (size_t)Dh * ldk, *T = DS + (size_t)Tqb * ldk, *a = T + (size_t)BM * ldk;
	float *gq = a + (size_t)BM * Dh;
	float *gk = gq + (size_t)Tq * Dh, *gv = gk + (size_t)Tk * Dh;
	int *rlo = (int *)(vt + nf), *rhi = rlo + Tq, *qlo = rhi + Tq, *qhi = qlo + Tk;
	ranges(c, rlo, rhi, qlo, qhi);
	for (size_t bh = lo_bh; bh < hi_bh; bh++) {
		int b = (int)(bh / (size_t)c->H), h = (int)(bh % (size_t)c->H);
		size_t oq = (size_t)b * Tq * D + (size_t)h * Dh, ok = (size_t)b * Tk * D + (size_t)h * Dh;
		const float *q = c->q + oq, *k = c->k + ok, *v = c->v + ok, *dout = c->dout + oq;
		const float *P = c->P + bh * (size_t)Tq * Tk;
		float *dq = c->dq ? c->dq + oq : NULL, *dk = c->dk ? c->dk + ok : NULL,
		      *dv = c->dv ? c->dv + ok : NULL;
		gather_t(v, D, Tk, ldk, vt, Dh);
		/* dP_ij = dO_i . v_j for the keys each block sees, then dS */
		for (int i0 = 0; i0 < Tq; i0 += BM) {
			int mr = Tq - i0 < BM ? Tq - i0 : BM;
			for (int r = 0; r < mr; r++)
				memcpy(a + (size_t)r * Dh, dout + (size_t)(i0 + r) * D, (size_t)Dh * sizeof(float));
			memset(a + (size_t)mr * Dh, 0, (size_t)(BM - mr) * Dh * sizeof(float));
			float *dp = DS + (size_t)i0 * ldk;
			dots_block(a, vt, (size_t)ldk, rlo[i0], rhi[i0 + mr - 1], dp, (size_t)ldk, Dh);
			dscores_block(P + (size_t)i0 * Tk, (size_t)Tk, dp, (size_t)ldk, T, rlo + i0, rhi + i0, mr, c->scale);
		}
		/* dq_i = sum_j dS_ij k_j over query i's keys */
		if (dq) {
			sums_rows(NC, Tq, rlo, rhi, gq, (size_t)Dh, DS, (size_t)ldk, 1, k, (size_t)D, Dh);
			store_grad(dq, D, gq, Tq, c->fq, Dh);
		}
		/* dk_j = sum_i dS_ij q_i, dv_j = sum_i P_ij dO_i over key j's
		 * queries, in the order of i; dk before dv, as store_kv_grads
		 * (the same tensor's gradient when k and v are one) */
		if (dk) {
			sums_rows(NC, Tk, qlo, qhi, gk, (size_t)Dh, DS, 1, (size_t)ldk, q, (size_t)D, Dh);
			store_grad(dk, D, gk, Tk, c->fk, Dh);
		}
		if (dv) {
			sums_rows(NC, Tk, qlo, qhi, gv, (size_t)Dh, P, 1, (size_t)Tk, dout, (size_t)D, Dh);
			store_grad(dv, D, gv, Tk, c->fv, Dh);
		}
	}
	free(vt);
}

#define ATTN_HAS_BLOCKED 1
#define ATTN16(kernel16, c, lo, hi, Dh)                                      \
	if ((c)->Tk <= KW) {                                                 \
		kernel16(c, lo, hi, Dh);                                     \
		break;                                                       \
	}
/* the blocked kernel: an instance per usual head dim, and for the others
 * one per count of vectors (the head dim a variable) */
#define ATTN_BLOCKED(kernelb, c, lo, hi)                                     \
	if (sl_attention_blocked((c)->Tk, (c)->Dh)) {                        \
		switch ((c)->Dh) {                                           \
		case 4: kernelb(c, lo, hi, 4, 1); break;                     \
		case 8: kernelb(c, lo, hi, 8, 1); break;                     \
		case 16: kernelb(c, lo, hi, 16, 1); break;                   \
		case 32: kernelb(c, lo, hi, 32, 2); break;                   \
		case 64: kernelb(c, lo, hi, 64, 4); break;                   \
		default:                                                     \
			switch (((c)->Dh + 15) / 16) {                       \
			case 1: kernelb(c, lo, hi, (c)->Dh, 1); break;       \
			case 2: kernelb(c, lo, hi, (c)->Dh, 2); break;       \
			case 3: kernelb(c, lo, hi, (c)->Dh, 3); break;       \
			default: kernelb(c, lo, hi, (c)->Dh, 4); break;      \
			}                                                    \
		}                                                            \
		return;                                                      \
	}
#else
#define ATTN_HAS_BLOCKED 0
#define ATTN16(kernel16, c, lo, hi, Dh)
#define ATTN_BLOCKED(kernelb, c, lo, hi)
#endif

int sl_attention_generic;

int sl_attention_blocked(int Tk, int Dh)
{
	return ATTN_HAS_BLOCKED && !sl_attention_generic && Tk > 16 && Dh <= 64;
}

/* one instance per usual head dim, and the generic one */
#define ATTN_CASE(kernel, kernel16, c, lo, hi, Dh)                           \
	case Dh:                                                             \
		ATTN16(kernel16, c, lo, hi, Dh)                              \
		kernel(c, lo, hi, Dh);                                       \
		break;
#define ATTN_DISPATCH(name, kernel, kernel16, kernelb)                       \
	static void name(void *arg, size_t lo, size_t hi)                    \
	{                                                                    \
		const attn_ctx *c = arg;                                     \
		ATTN_BLOCKED(kernelb, c, lo, hi)                             \
		switch (sl_attention_generic ? 0 : c->Dh) {                  \
		ATTN_CASE(kernel, kernel16, c, lo, hi, 4)                    \
		ATTN_CASE(kernel, kernel16, c, lo, hi, 8)                    \
		ATTN_CASE(kernel, kernel16, c, lo, hi, 16)                   \
		ATTN_CASE(kernel, kernel16, c, lo, hi, 32)                   \
		ATTN_CASE(kernel, kernel16, c, lo, hi, 64)                   \
		default: kernel(c, lo, hi, c->Dh); break;                    \
		}                                                            \
	}
ATTN_DISPATCH(attn_fwd, attn_fwd_k, attn_fwd16_k, attn_fwdb_k)
ATTN_DISPATCH(attn_bwd, attn_bwd_k, attn_bwd16_k, attn_bwdb_k)

static attn_ctx attn_ctx_of(const sl_node *n)
{
	const sl_tensor *q = n->in[0], *k = n->in[1], *v = n->in[2];
	attn_ctx c = { .B = q->shape[0], .Tq = q->shape[1], .Tk = k->shape[1], .H = n->i[0],
		       .causal = n->i[1], .window = n->i[2], .scale = n->f[0],
		       .q = q->data, .k = k->data, .v = v->data };
	c.Dh = q->shape[2] / c.H;
	c.kv_bstride = (size_t)c.Tk * q->shape[2];
	return c;
}

static void attn_run(sl_tape *tp, const attn_ctx *c, sl_range_fn fn)
{
	size_t work = (size_t)c->B * c->H * c->Tq * c->Tk * c->Dh;
	if (work < SL_PAR_MIN_WORK)
		fn((void *)c, 0, (size_t)c->B * c->H);
	else
		sl_pool_for(tp->pool, (size_t)c->B * c->H, fn, (void *)c);
}

sl_tensor *sl_attention(sl_tape *tp, sl_tensor *q, sl_tensor *k, sl_tensor *v, int heads, int causal,
			int window, float scale, float **probs)
{
	SL_ASSERT(q->ndim == 3 && k->ndim == 3 && sl_tensor_same_shape(k, v));
	SL_ASSERT(q->shape[0] == k->shape[0] && q->shape[2] == k->shape[2]);
	SL_ASSERT(heads >= 1 && q->shape[2] % heads == 0);
	SL_ASSERT(!causal || q->shape[1] <= k->shape[1]);
	sl_tensor *ins[3] = { q, k, v };
	sl_node n = sl_node_make(tp, SL_OP_ATTENTION, ins, 3, 3, q->shape);
	n.i[0] = heads;
	n.i[1] = causal;
	n.i[2] = window;
	n.f[0] = scale;
	sl_tensor *out = sl_tape_apply(tp, &n);
	if (probs)
		*probs = n.saved;
	return out;
}

void sl_attention_cached(sl_tape *tp, const sl_tensor *q, const float *kcache, const float *vcache, int Tk,
			 int cap, int heads, int window, float scale, sl_tensor *out, float *probs)
{
	SL_ASSERT(q->ndim == 3 && Tk >= q->shape[1] && Tk <= cap && sl_tensor_same_shape(q, out));
	attn_ctx c = { .B = q->shape[0], .Tq = q->shape[1], .Tk = Tk, .H = heads, .causal = 1,
		       .window = window, .scale = scale, .q = q->data, .k = kcache, .v = vcache,
		       .out = out->data };
	c.Dh = q->shape[2] / heads;
	c.kv_bstride = (size_t)cap * q->shape[2];
	c.Pw = probs ? probs : sl_arena_alloc(tp->arena, (size_t)c.B * c.H * c.Tq * c.Tk * sizeof(float));
	attn_run(tp, &c, attn_fwd);
}

void sl_op_attention_forward(sl_tape *tp, sl_node *n)
{
	attn_ctx c = attn_ctx_of(n);
	c.out = n->out->data;
	c.Pw = sl_arena_alloc(tp->arena, (size_t)c.B * c.H * c.Tq * c.Tk * sizeof(float));
	n->saved = c.Pw;
	attn_run(tp, &c, attn_fwd);
}

void sl_op_attention_backward(sl_tape *tp, sl_node *n)
{
	attn_ctx c = attn_ctx_of(n);
	c.P = n->saved;
	c.dout = n->out->grad;
	/* q, k and v may be one tensor: only its first request finds it fresh */
	if (n->in[0]->requires_grad)
		c.dq = sl_tape_grad_fresh(tp, n->in[0], &c.fq);
	if (n->in[1]->requires_grad)
		c.dk = sl_tape_grad_fresh(tp, n->in[1], &c.fk);
	if (n->in[2]->requires_grad)
		c.dv = sl_tape_grad_fresh(tp, n->in[2], &c.fv);
	attn_run(tp, &c, attn_bwd);
}
