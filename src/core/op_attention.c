/* op_attention.c - fused multi-head scaled dot-product attention.
 *
 * Shapes: q (B, Tq, H, Dh), k and v (B, Tk, H, Dh) stored as (B, T, H*Dh);
 * out (B, Tq, H*Dh); probabilities P (B, H, Tq, Tk) kept for backward and for
 * the attention views. One task per (b, h): every output and gradient element
 * is written by exactly one task, so threads never race and results do not
 * depend on the partition. Head dims here are small (8-64) and T a few dozen,
 * so plain loops beat sgemm calls. */
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
#define ATTN16(kernel16, c, lo, hi, Dh)                                      \
	if ((c)->Tk <= KW) {                                                 \
		kernel16(c, lo, hi, Dh);                                     \
		break;                                                       \
	}
#else
#define ATTN16(kernel16, c, lo, hi, Dh)
#endif

int sl_attention_generic;

/* one instance per usual head dim, and the generic one */
#define ATTN_CASE(kernel, kernel16, c, lo, hi, Dh)                           \
	case Dh:                                                             \
		ATTN16(kernel16, c, lo, hi, Dh)                              \
		kernel(c, lo, hi, Dh);                                       \
		break;
#define ATTN_DISPATCH(name, kernel, kernel16)                                \
	static void name(void *arg, size_t lo, size_t hi)                    \
	{                                                                    \
		const attn_ctx *c = arg;                                     \
		switch (sl_attention_generic ? 0 : c->Dh) {                  \
		ATTN_CASE(kernel, kernel16, c, lo, hi, 4)                    \
		ATTN_CASE(kernel, kernel16, c, lo, hi, 8)                    \
		ATTN_CASE(kernel, kernel16, c, lo, hi, 16)                   \
		ATTN_CASE(kernel, kernel16, c, lo, hi, 32)                   \
		ATTN_CASE(kernel, kernel16, c, lo, hi, 64)                   \
		default: kernel(c, lo, hi, c->Dh); break;                    \
		}                                                            \
	}
ATTN_DISPATCH(attn_fwd, attn_fwd_k, attn_fwd16_k)
ATTN_DISPATCH(attn_bwd, attn_bwd_k, attn_bwd16_k)

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
