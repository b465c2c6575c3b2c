/* op_attention.c - fused multi-head scaled dot-product attention.
 *
 * Shapes: q (B, Tq, H, Dh), k and v (B, Tk, H, Dh) stored as (B, T, H*Dh);
 * out (B, Tq, H*Dh); probabilities P (B, H, Tq, Tk) kept for backward and for
 * the attention views. One task per (b, h): every output and gradient element
 * is written by exactly one task, so threads never race and results do not
 * depend on the partition. Head dims here are small (8-64) and T a few dozen
 * to a few hundred, so the kernels are this file's own rather than sgemm
 * calls: a plain one (any size, any build), a one-vector one for 16 keys or
 * fewer and a blocked one (register tiles) for more.
 *
 * The arithmetic, which every kernel follows to the bit (so decoding through
 * a cache, which may take another kernel than the full pass, gives the full
 * pass's rows; tests/test_attention.c compares the kernels):
 *
 *   ks_j = scale k_j, each element rounded (the keys are transposed for
 *         the products anyway; scaling them there costs one product per
 *         key element, where scaling each query would cost a copy);
 *   s_ij = q_i . ks_j, a chain of fused multiply-adds over d in order, from 0;
 *   m_i = max s_ij over the keys j query i sees; e_ij = sl_fexp_fma(s_ij - m_i);
 *   z_i = sum16 of e_i: sixteen partial sums, lane l adding the e_ij with
 *         j = l (mod 16) in the order of j, then halved (lane l + 8 into l,
 *         then l + 4, l + 2, l + 1);
 *   p_ij = e_ij (1 / z_i), 0 for the keys the query does not see;
 *   o_i = sum_j p_ij v_j, fused multiply-add chains over j in order, from 0;
 * backward, with dO the output's gradient:
 *   r_i = dO_i . o_i as sum16 of the chains over d = l (mod 16) (as
 *         sum_j p_ij dp_ij, which it equals in exact arithmetic, but known
 *         before dP, so dS is made in the registers that make dP);
 *   dp_ij = dO_i . v_j (a chain over d); ds_ij = p_ij (dp_ij - r_i) scale;
 *   dq_i = sum_j ds_ij k_j, dk_j = sum_i ds_ij q_i, dv_j = sum_i p_ij dO_i,
 *         chains over j (or i) in order, from 0;
 *   a fresh gradient is written as 0 + the sum, another has it added.
 *
 * The plain kernel adds only the terms a query's keys give. The fast ones
 * may also add the masked terms, as exact zeros (p = 0, ds = +-0): a chain
 * that starts from +0 is never -0, and adding a zero to it changes nothing,
 * so with finite inputs the bits are the same.
 *
 * Fused multiply-adds rather than products rounded before they are added:
 * the products take half the instructions, as in the matrix kernel
 * (gemm.c), and the sums lose no accuracy (SL_FMA, fastmath.h: a build for a
 * processor without them rounds twice). */
#include "ops_impl.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

/* Inlined into each head-dim instance, so Dh is a constant there. */
#define SL_INLINE static inline __attribute__((always_inline))

typedef struct attn_ctx {
	int B, Tq, Tk, H, Dh, causal, window;
	size_t kv_bstride; /* floats between batches in k and v: Tk*D, or a cache's capacity*D */
	float scale;
	const float *q, *k, *v, *P, *dout, *o; /* o: the output, for backward */
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

/* The halving sum of sixteen partial sums t (overwritten): lane l + w into
 * lane l for w = 8, 4, 2, 1. */
static inline float sum16(float *t)
{
	for (int w = 8; w; w >>= 1)
		for (int l = 0; l < w; l++)
			t[l] = t[l] + t[l + w];
	return t[0];
}

/* ---- the plain kernel ----------------------------------------------------- */

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
	w.kt = sl_xaligned((7 * n + 2 * (size_t)c->Tk + 8) * sizeof(float));
	w.kh = w.kt + n;
	w.vh = w.kh + n;
	w.vt = w.vh + n;
	w.dkh = w.vt + n;
	w.dvh = w.dkh + n;
	w.s = w.dvh + n;
	return w;
}

/* kt (Dh, Tk) (the keys times the scale) and vh (Tk, Dh), and for backward
 * kh (Tk, Dh) and vt (Dh, Tk), from rows of stride D */
SL_INLINE void gather(const attn_ctx *c, const float *k, const float *v, attn_scratch *w, int bwd, const int Dh)
{
	const int D = c->H * c->Dh, Tk = c->Tk;
	for (int j = 0; j < Tk; j++) {
		const float *kj = k + (size_t)j * D, *vj = v + (size_t)j * D;
		for (int d = 0; d < Dh; d++) {
			w->kt[(size_t)d * Tk + j] = kj[d] * c->scale;
			w->vh[(size_t)j * Dh + d] = vj[d];
		}
		if (bwd)
			for (int d = 0; d < Dh; d++) {
				w->kh[(size_t)j * Dh + d] = kj[d];
				w->vt[(size_t)d * Tk + j] = vj[d];
			}
	}
}

/* out[j] = sum_d a[d] m[d][j] for j in [lo, hi), m (Dh, ld) row-major: each
 * a chain of fused multiply-adds over d from 0 (vectorised over j) */
SL_INLINE void dots_by_column(const float *restrict a, const float *restrict m, int ld, int lo, int hi, int Dh,
			      float *restrict out)
{
	for (int j = lo; j < hi; j++)
		out[j] = 0.0f;
	for (int d = 0; d < Dh; d++) {
		const float *md = m + (size_t)d * ld;
		for (int j = lo; j < hi; j++)
			out[j] = SL_FMA(a[d], md[j], out[j]);
	}
}

/* out[d] = sum_{j in [lo, hi)} p[j] m[j][d] for d < Dh, m (Tk, Dh): chains
 * over j from 0 (vectorised over d) */
SL_INLINE void rows_sum(float *restrict out, const float *restrict p, const float *restrict m, int lo, int hi,
			int Dh)
{
	for (int d = 0; d < Dh; d++)
		out[d] = 0.0f;
	for (int j = lo; j < hi; j++) {
		const float *mj = m + (size_t)j * Dh;
		for (int d = 0; d < Dh; d++)
			out[d] = SL_FMA(p[j], mj[d], out[d]);
	}
}

/* p[j] = softmax(s)_j over the keys [lo, hi), 0 for the others (p has Tk
 * entries); s (at least [lo, hi)) is left holding the exponentials. */
SL_INLINE void softmax_row(float *restrict s, float *restrict p, int lo, int hi, int Tk)
{
	float m = -INFINITY;
	for (int j = lo; j < hi; j++)
		m = s[j] > m ? s[j] : m;
	float zl[16] = { 0 };
	for (int j = lo; j < hi; j++) {
		float e = sl_fexp_fma(s[j] - m);
		s[j] = e;
		zl[j & 15] += e;
	}
	float iz = 1.0f / sum16(zl);
	for (int j = 0; j < lo; j++)
		p[j] = 0.0f;
	for (int j = lo; j < hi; j++)
		p[j] = s[j] * iz;
	for (int j = hi; j < Tk; j++)
		p[j] = 0.0f;
}

/* r = a . b as sum16 of the chains over d = l (mod 16) */
SL_INLINE float dot16(const float *a, const float *b, int Dh)
{
	float rl[16] = { 0 };
	for (int d = 0; d < Dh; d++)
		rl[d & 15] = SL_FMA(a[d], b[d], rl[d & 15]);
	return sum16(rl);
}

/* dk and dv of a head (rows of stride D) from its sums gk, gv (Tk, Dh):
 * written on a fresh gradient, added otherwise; dk first (the same tensor's
 * gradient when k and v are one) */
SL_INLINE void store_kv_grads(const attn_ctx *c, float *dk, float *dv, const float *gk, const float *gv, const int Dh)
{
	const int D = c->H * c->Dh;
	for (int j = 0; j < c->Tk; j++)
		for (int d = 0; d < Dh; d++) {
			if (dk) {
				float *g = &dk[(size_t)j * D + d];
				*g = (c->fk ? 0.0f : *g) + gk[(size_t)j * Dh + d];
			}
			if (dv) {
				float *g = &dv[(size_t)j * D + d];
				*g = (c->fv ? 0.0f : *g) + gv[(size_t)j * Dh + d];
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
			/* s_j = q_i . ks_j for the keys the query sees */
			dots_by_column(qi, w.kt, Tk, lo, hi, Dh, w.s);
			softmax_row(w.s, p, lo, hi, Tk);
			/* o_i = sum_j p_j v_j */
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
		const float *q = c->q + oq, *k = c->k + ok, *v = c->v + ok, *dout = c->dout + oq, *o = c->o + oq;
		const float *P = c->P + bh * (size_t)c->Tq * Tk;
		float *dq = c->dq ? c->dq + oq : NULL, *dk = c->dk ? c->dk + ok : NULL,
		      *dv = c->dv ? c->dv + ok : NULL;
		float *restrict ds = w.s;
		gather(c, k, v, &w, 1, Dh);
		memset(w.dkh, 0, 2 * (size_t)Tk * Dh * sizeof(float));
		for (int i = 0; i < c->Tq; i++) {
			const float *restrict p = P + (size_t)i * Tk, *restrict doi = dout + (size_t)i * D,
					    *restrict qi = q + (size_t)i * D;
			int lo, hi;
			key_range(c, i, &lo, &hi);
			float r = dot16(doi, o + (size_t)i * D, Dh);
			/* dP_ij = dO_i . v_j, then dS in place */
			dots_by_column(doi, w.vt, Tk, lo, hi, Dh, ds);
			for (int j = lo; j < hi; j++)
				ds[j] = p[j] * (ds[j] - r) * c->scale;
			/* dq_i = sum_j dS_ij k_j; dk_j += dS_ij q_i; dv_j += P_ij dO_i */
			float dqi[Dh];
			rows_sum(dqi, ds, w.kh, lo, hi, Dh);
			for (int j = lo; j < hi; j++) {
				float *gk = w.dkh + (size_t)j * Dh, *gv = w.dvh + (size_t)j * Dh;
				for (int d = 0; d < Dh; d++) {
					gk[d] = SL_FMA(ds[j], qi[d], gk[d]);
					gv[d] = SL_FMA(p[j], doi[d], gv[d]);
				}
			}
			if (dq)
				for (int d = 0; d < Dh; d++) {
					float *g = &dq[(size_t)i * D + d];
					*g = (c->fq ? 0.0f : *g) + dqi[d];
				}
		}
		store_kv_grads(c, dk, dv, w.dkh, w.dvh, Dh);
	}
	free(w.kt);
}

#if defined(__AVX512F__)
/* ---- AVX-512: shared pieces ----------------------------------------------- */

static inline __mmask16 lanes(int lo, int hi)
{
	return (__mmask16)(((1u << hi) - 1) & ~((1u << lo) - 1));
}

/* the lanes of columns [lo, hi) in the sixteen from j0 */
static inline __mmask16 lanes_at(int j0, int lo, int hi)
{
	lo = lo - j0 < 0 ? 0 : lo - j0 > 16 ? 16 : lo - j0;
	hi = hi - j0 < 0 ? 0 : hi - j0 > 16 ? 16 : hi - j0;
	return lo < hi ? lanes(lo, hi) : 0;
}

/* sum16 of the sixteen lanes: the same pairs, so the same bits */
static inline float sum16v(__m512 v)
{
	__m256 a = _mm256_add_ps(_mm512_castps512_ps256(v),
				 _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
	__m128 b = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
	__m128 c = _mm_add_ps(b, _mm_movehl_ps(b, b));
	return _mm_cvtss_f32(_mm_add_ss(c, _mm_movehdup_ps(c)));
}

/* Eight rows' sixteen lanes each, reduced by op in sum16's pairs (lane l +
 * 8 into l, then l + 4, l + 2, l + 1) all at once: row r's result lands in
 * lane red8_lane(r). */
#define RED8(name, op)                                                                             \
	static inline __m512 name(const __m512 x[8])                                               \
	{                                                                                          \
		__m512 a[4], b[2];                                                                 \
		for (int k = 0; k < 4; k++) /* [x_2k (l + 8 into l) | x_2k+1 (the same)] */        \
			a[k] = op(_mm512_shuffle_f32x4(x[2 * k], x[2 * k + 1], 0x44),              \
				  _mm512_shuffle_f32x4(x[2 * k], x[2 * k + 1], 0xee));             \
		for (int k = 0; k < 2; k++) /* rows 4k .. 4k + 3, a 128-bit lane each (+ 4) */     \
			b[k] = op(_mm512_shuffle_f32x4(a[2 * k], a[2 * k + 1], 0x88),              \
				  _mm512_shuffle_f32x4(a[2 * k], a[2 * k + 1], 0xdd));             \
		/* lane L: rows L and L + 4 (+ 2), then (+ 1) */                                   \
		__m512 c = op(_mm512_shuffle_ps(b[0], b[1], 0x44), _mm512_shuffle_ps(b[0], b[1], 0xee)); \
		return op(c, _mm512_shuffle_ps(c, c, 0xb1));                                       \
	}
RED8(sum16x8, _mm512_add_ps)
RED8(max16x8, _mm512_max_ps)
#undef RED8

static inline int red8_lane(int r)
{
	return r < 4 ? 4 * r : 4 * (r - 4) + 2;
}

/* rl[red8_lane(i)] = a_i . b_i as dot16 for the n <= 8 rows of a and b
 * (stride ld), reduced together */
SL_INLINE void dots8(const float *a, const float *b, int ld, int n, float *rl, const int Dh)
{
	__m512 x[8];
#pragma GCC unroll 8
	for (int i = 0; i < 8; i++) {
		x[i] = _mm512_setzero_ps();
		for (int d0 = 0; i < n && d0 < Dh; d0 += 16) {
			__mmask16 m = lanes(0, Dh - d0 < 16 ? Dh - d0 : 16);
			x[i] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + (size_t)i * ld + d0),
					       _mm512_maskz_loadu_ps(m, b + (size_t)i * ld + d0), x[i]);
		}
	}
	_mm512_storeu_ps(rl, sum16x8(x));
}

/* bt (Dh, ldk) = the head's rows m (Tk rows of stride D) transposed, times
 * scale if scaled, columns past Tk zero, by 16 x 16 blocks in registers */
SL_INLINE void transpose_rows(const float *m, int D, int Tk, int ldk, float *bt, const int scaled, float scale,
			      const int Dh)
{
	for (int j0 = 0; j0 < ldk; j0 += 16)
		for (int d0 = 0; d0 < Dh; d0 += 16) {
			int nd = Dh - d0 < 16 ? Dh - d0 : 16;
			__mmask16 cm = lanes(0, nd);
			__m512 r[16];
			for (int i = 0; i < 16; i++)
				r[i] = j0 + i < Tk ? _mm512_maskz_loadu_ps(cm, m + (size_t)(j0 + i) * D + d0)
						   : _mm512_setzero_ps();
			sl_transpose16(r);
			for (int i = 0; i < nd; i++)
				_mm512_store_ps(bt + (size_t)(d0 + i) * ldk + j0,
						scaled ? _mm512_mul_ps(r[i], _mm512_set1_ps(scale)) : r[i]);
		}
}

/* g (a row of Dh) = (fresh ? 0 : g) + s, s in vectors of 16; a row of 8
 * (the usual small head) in one 256-bit load and store, where masked ones
 * cost this processor (AMD Zen 4) more: the same additions */
SL_INLINE void store_grad_row(float *g, const __m512 *s, int fresh, const int Dh)
{
	if (Dh == 8) {
		__m256 old = fresh ? _mm256_setzero_ps() : _mm256_loadu_ps(g);
		_mm256_storeu_ps(g, _mm256_add_ps(old, _mm512_castps512_ps256(s[0])));
		return;
	}
	for (int v = 0; v * 16 < Dh; v++) {
		__mmask16 m = lanes(0, Dh - 16 * v < 16 ? Dh - 16 * v : 16);
		__m512 old = fresh ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m, g + 16 * v);
		_mm512_mask_storeu_ps(g + 16 * v, m, _mm512_add_ps(old, s[v]));
	}
}

/* ---- sixteen keys or fewer ------------------------------------------------
 * (the Pig-Latin words): a row of scores is one 16-lane vector, the keys'
 * lanes; masks stand for the loops' ranges. The work for a head runs in
 * passes over its queries (scores; softmax; sums of values), not query by
 * query: each pass's rows are independent and short, so the processor
 * overlaps them, where one query after another is a chain of dependent
 * steps (sum, exp, the sum, the division) that leaves it waiting. */
#define KW 16

/* acc[g] = sum_d a_g[d] kt[d] over the sixteen lanes for the G rows a_g =
 * a + g lda: each a chain over d from 0, the G chains side by side (one
 * load of kt[d] for all of them, and none waits on another's latency) */
SL_INLINE void dots16_tile(const int G, const float *a, size_t lda, const float *kt, __m512 *acc, const int Dh)
{
	for (int g = 0; g < G; g++)
		acc[g] = _mm512_setzero_ps();
	for (int d = 0; d < Dh; d++) {
		__m512 kd = _mm512_load_ps(kt + (size_t)d * KW);
		for (int g = 0; g < G; g++)
			acc[g] = _mm512_fmadd_ps(_mm512_set1_ps(a[(size_t)g * lda + d]), kd, acc[g]);
	}
}

/* s (n <= 8 rows of KW) = dots16_tile of the n rows of a, in tiles of 8,
 * 4, 2 and 1 rows */
SL_INLINE void dots16_rows(int n, const float *a, size_t lda, const float *kt, float *s, const int Dh)
{
	__m512 acc[8];
	int r0 = 0;
#define DOTS16(G)                                                                                  \
	if (n - r0 >= G) {                                                                         \
		dots16_tile(G, a + (size_t)r0 * lda, lda, kt, acc, Dh);                            \
		for (int g = 0; g < G; g++)                                                        \
			_mm512_store_ps(s + (size_t)(r0 + g) * KW, acc[g]);                        \
		r0 += G;                                                                           \
	}
	DOTS16(8)
	DOTS16(4)
	DOTS16(2)
	DOTS16(1)
#undef DOTS16
}

/* o (a row of Dh) = acc: a row of 8 in one 256-bit store */
SL_INLINE void store_row(float *o, const __m512 *acc, const int Dh)
{
	const int NC = (Dh + 15) / 16;
	if (Dh == 8) {
		_mm256_storeu_ps(o, _mm512_castps512_ps256(acc[0]));
		return;
	}
	for (int v = 0; v < NC; v++)
		_mm512_mask_storeu_ps(o + 16 * v, v == NC - 1 ? lanes(0, Dh - 16 * v) : 0xffff, acc[v]);
}

/* the G rows o_g = o + g ldo (a row of Dh each) = sum_{j in [lo, hi)}
 * p_g[j] m[j] for rows m_j of stride ld, p_g = p + g KW: chains over j, in
 * vectors of 16 over d (the last masked), the G rows' side by side (one
 * load of m_j for all). [lo, hi) holds each row's keys, and p_g is zero
 * outside them: the other terms add exact zeros to chains that start from
 * +0, so each row's sum is the one over its own keys. As a gradient
 * (grad), the sums added to (fresh ? 0 : o). */
SL_INLINE void rows_sum16_tile(const int G, float *o, size_t ldo, const float *p, const float *m, int ld, int lo,
			       int hi, const int grad, int fresh, const int Dh)
{
	__m512 acc[8][4];
	const int NC = (Dh + 15) / 16;
	const __mmask16 last = lanes(0, Dh - 16 * (NC - 1));
	for (int g = 0; g < G; g++)
		for (int v = 0; v < NC; v++)
			acc[g][v] = _mm512_setzero_ps();
	for (int j = lo; j < hi; j++) {
		__m512 mj[4];
		for (int v = 0; v < NC; v++)
			mj[v] = Dh == 8 ? _mm512_zextps256_ps512(_mm256_loadu_ps(m + (size_t)j * ld))
					: _mm512_maskz_loadu_ps(v == NC - 1 ? last : 0xffff, m + (size_t)j * ld + 16 * v);
		for (int g = 0; g < G; g++) {
			__m512 pj = _mm512_set1_ps(p[(size_t)g * KW + j]);
			for (int v = 0; v < NC; v++)
				acc[g][v] = _mm512_fmadd_ps(pj, mj[v], acc[g][v]);
		}
	}
	for (int g = 0; g < G; g++) {
		if (grad)
			store_grad_row(o + (size_t)g * ldo, acc[g], fresh, Dh);
		else
			store_row(o + (size_t)g * ldo, acc[g], Dh);
	}
}

/* rows_sum16_tile over the Tq rows of o (stride D) from p (Tq rows of KW):
 * tiles of 8 rows for one or two vectors of 16 over d, 4 for more (sixteen
 * accumulators), then 2 and 1; a tile's keys run from its first row's lo
 * to its last row's hi (both never decrease with the row) */
SL_INLINE void rows_sums16(const attn_ctx *c, float *o, const float *p, const float *m, const int grad, int fresh,
			   const int Dh)
{
	const int D = c->H * c->Dh, NC = (Dh + 15) / 16;
	int i0 = 0, lo, hi, lo1, hi1;
#define SUMS16(G)                                                                                          \
	for (; i0 + G <= c->Tq; i0 += G) {                                                                 \
		key_range(c, i0, &lo, &hi);                                                                \
		key_range(c, i0 + G - 1, &lo1, &hi1);                                                      \
		rows_sum16_tile(G, o + (size_t)i0 * D, (size_t)D, p + (size_t)i0 * KW, m, D, lo, hi1, grad, fresh, \
				Dh);                                                                       \
	}
	if (NC <= 2)
		SUMS16(8)
	SUMS16(4)
	SUMS16(2)
	SUMS16(1)
#undef SUMS16
	(void)lo1;
	(void)hi;
}

SL_INLINE void attn_fwd16_k(const attn_ctx *c, size_t lo_bh, size_t hi_bh, const int Dh)
{
	const int D = c->H * c->Dh, Tk = c->Tk, Tq = c->Tq;
	/* kt (Dh, 16): the keys transposed, times the scale; S (Tq, 16): the
	 * scores, then P */
	float *kt = sl_xaligned(((size_t)(Dh + Tq) * KW) * sizeof(float));
	float *S = kt + (size_t)Dh * KW;
	const __mmask16 all = lanes(0, Tk);
	for (size_t bh = lo_bh; bh < hi_bh; bh++) {
		int b = (int)(bh / (size_t)c->H), h = (int)(bh % (size_t)c->H);
		const float *q = c->q + (size_t)b * Tq * D + (size_t)h * Dh;
		const float *k = c->k + (size_t)b * c->kv_bstride + (size_t)h * Dh;
		const float *v = c->v + (size_t)b * c->kv_bstride + (size_t)h * Dh;
		float *out = c->out + (size_t)b * Tq * D + (size_t)h * Dh;
		float *P = c->Pw + bh * (size_t)Tq * Tk;
		transpose_rows(k, D, Tk, KW, kt, 1, c->scale, Dh);
		/* by blocks of eight queries: their scores, then their softmax
		 * with the eight rows' maxima and sums reduced together
		 * (max16x8, sum16x8: sum16's pairs) and one division */
		for (int i0 = 0; i0 < Tq; i0 += 8) {
			int mr = Tq - i0 < 8 ? Tq - i0 : 8;
			float *Sb = S + (size_t)i0 * KW;
			dots16_rows(mr, q + (size_t)i0 * D, (size_t)D, kt, Sb, Dh);
			__m512 x[8];
			float mx[16], iz[16];
#pragma GCC unroll 8
			for (int i = 0; i < 8; i++) {
				x[i] = _mm512_set1_ps(-INFINITY);
				if (i < mr) { /* -inf outside the row's keys: e^-inf is 0 there */
					int lo, hi;
					key_range(c, i0 + i, &lo, &hi);
					x[i] = _mm512_mask_mov_ps(x[i], lanes(lo, hi), _mm512_load_ps(Sb + (size_t)i * KW));
				}
			}
			_mm512_storeu_ps(mx, max16x8(x));
#pragma GCC unroll 8
			for (int i = 0; i < 8; i++)
				x[i] = i < mr ? sl_fexp16_fma(_mm512_sub_ps(x[i], _mm512_set1_ps(mx[red8_lane(i)])))
					      : _mm512_setzero_ps();
			_mm512_storeu_ps(iz, _mm512_div_ps(_mm512_set1_ps(1.0f), sum16x8(x)));
			for (int i = 0; i < mr; i++) {
				__m512 pv = _mm512_mul_ps(x[i], _mm512_set1_ps(iz[red8_lane(i)]));
				/* P's row whole where the lanes past Tk fall on later
				 * rows of this head (stored after it), masked at the end */
				float *Pi = P + (size_t)(i0 + i) * Tk;
				if ((size_t)(i0 + i) * Tk + KW <= (size_t)Tq * Tk)
					_mm512_storeu_ps(Pi, pv);
				else
					_mm512_mask_storeu_ps(Pi, all, pv);
				_mm512_store_ps(Sb + (size_t)i * KW, pv);
			}
		}
		/* o_i = sum_j p_ij v_j */
		rows_sums16(c, out, S, v, 0, 0, Dh);
	}
	free(kt);
}

/* dk_j += sum_i dS_ij q_i and dv_j += sum_i P_ij dO_i for a head of 8
 * (dS and P by rows of KW, zero outside each row's keys), with two keys to
 * a vector: lanes 0-7 key 2p's head dims, lanes 8-15 key 2p + 1's. Each
 * multiply-add then does sixteen useful products (a vector of the keys
 * does Tk), and the sums come out as rows, stored by 256-bit halves, with
 * no transposes back. The factors (dS_i,2p eight times, then dS_i,2p+1)
 * are a permute of dS's row; the products and the chains over i are those
 * of the layout by keys, so the same bits. dk before dv for each key, as
 * store_kv_grads. */
SL_INLINE void kv_grads8(const attn_ctx *c, const float *q, const float *dout, const float *P, const float *DS, float *dk,
			 float *dv)
{
	const int D = c->H * c->Dh, Tk = c->Tk, Tq = c->Tq, NP = (Tk + 1) / 2;
	__m512 ak[8], av[8];
	__m512i idx[8];
#pragma GCC unroll 8
	for (int p = 0; p < 8; p++) {
		ak[p] = av[p] = _mm512_setzero_ps();
		idx[p] = _mm512_inserti64x4(_mm512_set1_epi32(2 * p), _mm256_set1_epi32(2 * p + 1), 1);
	}
	for (int i = 0; i < Tq; i++) {
		int lo, hi;
		key_range(c, i, &lo, &hi);
		__m512 pv = _mm512_maskz_loadu_ps(lanes(lo, hi), P + (size_t)i * Tk), ds = _mm512_load_ps(DS + (size_t)i * KW);
		__m512 qb = _mm512_castpd_ps(_mm512_broadcast_f64x4(_mm256_castps_pd(_mm256_loadu_ps(q + (size_t)i * D))));
		__m512 db = _mm512_castpd_ps(_mm512_broadcast_f64x4(_mm256_castps_pd(_mm256_loadu_ps(dout + (size_t)i * D))));
#pragma GCC unroll 8
		for (int p = 0; p < 8; p++)
			if (p < NP) {
				ak[p] = _mm512_fmadd_ps(_mm512_permutexvar_ps(idx[p], ds), qb, ak[p]);
				av[p] = _mm512_fmadd_ps(_mm512_permutexvar_ps(idx[p], pv), db, av[p]);
			}
	}
#pragma GCC unroll 8
	for (int p = 0; p < 8; p++)
		for (int h = 0; p < NP && h < 2 && 2 * p + h < Tk; h++) {
			size_t o = (size_t)(2 * p + h) * D;
			__m512 sk = h ? _mm512_castpd_ps(_mm512_castpd256_pd512(_mm512_extractf64x4_pd(_mm512_castps_pd(ak[p]), 1))) : ak[p];
			__m512 sv = h ? _mm512_castpd_ps(_mm512_castpd256_pd512(_mm512_extractf64x4_pd(_mm512_castps_pd(av[p]), 1))) : av[p];
			if (dk)
				store_grad_row(dk + o, &sk, c->fk, 8);
			if (dv)
				store_grad_row(dv + o, &sv, c->fv, 8);
		}
}

SL_INLINE void attn_bwd16_k(const attn_ctx *c, size_t lo_bh, size_t hi_bh, const int Dh)
{
	const int D = c->H * c->Dh, Tk = c->Tk, Tq = c->Tq;
	/* vt (Dh, 16): the values transposed; DS (Tq, 16): dS; gk and gv
	 * (Dh vectors): the sums for dk and dv, by lanes of keys */
	float *vt = sl_xaligned(((size_t)(Dh + Tq) * KW) * sizeof(float));
	float *DS = vt + (size_t)Dh * KW;
	for (size_t bh = lo_bh; bh < hi_bh; bh++) {
		int b = (int)(bh / (size_t)c->H), h = (int)(bh % (size_t)c->H);
		size_t oq = (size_t)b * Tq * D + (size_t)h * Dh, ok = (size_t)b * Tk * D + (size_t)h * Dh;
		const float *q = c->q + oq, *k = c->k + ok, *v = c->v + ok, *dout = c->dout + oq, *o = c->o + oq;
		const float *P = c->P + bh * (size_t)Tq * Tk;
		float *dq = c->dq ? c->dq + oq : NULL, *dk = c->dk ? c->dk + ok : NULL,
		      *dv = c->dv ? c->dv + ok : NULL;
		transpose_rows(v, D, Tk, KW, vt, 0, 1.0f, Dh);
		/* dP_ij = dO_i . v_j (eight rows' chains side by side);
		 * dS_ij = P_ij (dP_ij - r_i) scale, 0 outside the row's keys */
		for (int i0 = 0; i0 < Tq; i0 += 8) {
			int mr = Tq - i0 < 8 ? Tq - i0 : 8;
			float rl[16], *DSb = DS + (size_t)i0 * KW;
			/* r_i = dO_i . o_i, the eight rows reduced together */
			dots8(dout + (size_t)i0 * D, o + (size_t)i0 * D, D, mr, rl, Dh);
			dots16_rows(mr, dout + (size_t)i0 * D, (size_t)D, vt, DSb, Dh);
			for (int i = 0; i < mr; i++) {
				int lo, hi;
				key_range(c, i0 + i, &lo, &hi);
				__mmask16 in = lanes(lo, hi);
				__m512 pv = _mm512_maskz_loadu_ps(in, P + (size_t)(i0 + i) * Tk);
				__m512 dp = _mm512_load_ps(DSb + (size_t)i * KW);
				__m512 ds = _mm512_maskz_mul_ps(in, _mm512_mul_ps(pv, _mm512_sub_ps(dp, _mm512_set1_ps(rl[red8_lane(i)]))),
								_mm512_set1_ps(c->scale));
				_mm512_store_ps(DSb + (size_t)i * KW, ds);
			}
		}
		/* dq_i = sum_j dS_ij k_j */
		if (dq)
			rows_sums16(c, dq, DS, k, 1, c->fq, Dh);
		if (Dh == 8) {
			kv_grads8(c, q, dout, P, DS, dk, dv);
			continue;
		}
		/* dk_j += dS_ij q_i, dv_j += P_ij dO_i, over i in order: unmasked,
		 * as dS and P are zero outside the row's keys (the terms there
		 * exact zeros, so each key's sum is over its own queries) */
		__m512 gk[Dh], gv[Dh];
		for (int d = 0; d < Dh; d++)
			gk[d] = gv[d] = _mm512_setzero_ps();
		for (int i = 0; i < Tq; i++) {
			const float *doi = dout + (size_t)i * D, *qi = q + (size_t)i * D;
			int lo, hi;
			key_range(c, i, &lo, &hi);
			__mmask16 in = lanes(lo, hi);
			__m512 pv = _mm512_maskz_loadu_ps(in, P + (size_t)i * Tk), ds = _mm512_load_ps(DS + (size_t)i * KW);
			for (int d = 0; d < Dh; d++) {
				gk[d] = _mm512_fmadd_ps(ds, _mm512_set1_ps(qi[d]), gk[d]);
				gv[d] = _mm512_fmadd_ps(pv, _mm512_set1_ps(doi[d]), gv[d]);
			}
		}
		/* by rows of keys: the sums transposed back, 16 head dims at a time */
		for (int d0 = 0; d0 < Dh; d0 += 16) {
			int nd = Dh - d0 < 16 ? Dh - d0 : 16;
			__m512 rk[16], rv[16];
			for (int i = 0; i < 16; i++) {
				rk[i] = i < nd ? gk[d0 + i] : _mm512_setzero_ps();
				rv[i] = i < nd ? gv[d0 + i] : _mm512_setzero_ps();
			}
			sl_transpose16(rk);
			sl_transpose16(rv);
			for (int j = 0; j < Tk; j++) {
				/* dk before dv, as store_kv_grads */
				if (dk)
					store_grad_row(dk + (size_t)j * D + d0, &rk[j], c->fk, nd);
				if (dv)
					store_grad_row(dv + (size_t)j * D + d0, &rv[j], c->fv, nd);
			}
		}
	}
	free(vt);
}

/* ---- more than sixteen keys: the blocked kernel ----------------------------
 * A head's six products run as register tiles of fused multiply-adds with
 * unit-stride vector loads, as sl_gemm's do:
 *
 *   S = Q Ks^T and dP = dO V^T: tiles of up to BM = 8 queries by 16 or 32
 *     keys, chains over d, from the keys (values) transposed (Dh, ldk) so a
 *     tile loads whole vectors of keys. Only the key tiles a block of
 *     queries sees are computed: under a causal mask the tiles above the
 *     diagonal (and, with a window, those left of it) are skipped. dS is
 *     made from the dP tile in its registers (r_i is known before).
 *   O = P V, dQ = dS K, dK = dS^T Q, dV = P^T dO: tiles of MR rows by the
 *     head dim (vectors of 16 over d), chains over the keys (O, dQ) or the
 *     queries (dK, dV) its rows see together, read in place (rows of
 *     stride D). The terms of a tile's range that a row does not see are
 *     P's and dS's zeros (dS is zeroed outside the computed tiles).
 *
 * The softmax runs a block's rows after its scores, vector by vector. A
 * (b, h) is one task, as elsewhere; a block of fewer than BM rows (T not a
 * multiple of 8) runs tiles of 4, 2 and 1 rows rather than padding. */
#define BM 8

/* Tiles of rows [r0, r0 + MR) for each MR in 8, 4, 2, 1 that mr holds */
#define ROW_TILES(mr, TILE)                                                  \
	do {                                                                 \
		int r0_ = 0;                                                 \
		if ((mr)-r0_ >= 8) {                                         \
			TILE(8, r0_);                                        \
			r0_ += 8;                                            \
		}                                                            \
		if ((mr)-r0_ >= 4) {                                         \
			TILE(4, r0_);                                        \
			r0_ += 4;                                            \
		}                                                            \
		if ((mr)-r0_ >= 2) {                                         \
			TILE(2, r0_);                                        \
			r0_ += 2;                                            \
		}                                                            \
		if ((mr)-r0_ >= 1)                                           \
			TILE(1, r0_);                                        \
	} while (0)

/* acc = a (MR rows of stride lda) . bt (Dh, ldb) columns [j0, j0 + 16 NV):
 * chains over d from 0. Then, without p, the scores: s (MR rows of stride
 * lds) from j0 = acc, -inf outside each row's keys [lo, hi) (so the softmax
 * needs no masks: e^-inf is 0); with p (MR rows of stride ldp; the vector
 * from Tk - Tk % 16 read under the mask ptail), dS = p (acc - r) scale. bt,
 * s 64-byte aligned, j0 and the strides multiples of 16. */
SL_INLINE void dots_tile(const int MR, const int NV, const float *a, size_t lda, const float *bt, size_t ldb, int j0,
			 float *s, size_t lds, const int *lo, const int *hi, const float *p, size_t ldp, int Tk,
			 __mmask16 ptail, const float *r, float scale, const int Dh)
{
	__m512 acc[BM][2];
	for (int i = 0; i < MR; i++)
		acc[i][0] = acc[i][1] = _mm512_setzero_ps();
	for (int d = 0; d < Dh; d++) {
		const float *bd = bt + (size_t)d * ldb + j0;
		__m512 b0 = _mm512_load_ps(bd), b1 = NV == 2 ? _mm512_load_ps(bd + 16) : b0;
		for (int i = 0; i < MR; i++) {
			__m512 x = _mm512_set1_ps(a[(size_t)i * lda + d]);
			acc[i][0] = _mm512_fmadd_ps(x, b0, acc[i][0]);
			if (NV == 2)
				acc[i][1] = _mm512_fmadd_ps(x, b1, acc[i][1]);
		}
	}
	if (!p) {
		/* every row sees every key of the tile (lo and hi never
		 * decrease with the row), or the rows are masked one by one */
		int inside = lo[MR - 1] <= j0 && hi[0] >= j0 + 16 * NV;
		for (int i = 0; i < MR; i++)
			for (int v = 0; v < NV; v++) {
				__m512 x = acc[i][v];
				if (!inside)
					x = _mm512_mask_mov_ps(_mm512_set1_ps(-INFINITY), lanes_at(j0 + 16 * v, lo[i], hi[i]), x);
				_mm512_store_ps(s + (size_t)i * lds + j0 + 16 * v, x);
			}
		return;
	}
	for (int i = 0; i < MR; i++)
		for (int v = 0; v < NV; v++) {
			int j = j0 + 16 * v;
			__m512 pv = _mm512_maskz_loadu_ps(j + 16 <= Tk ? 0xffff : ptail, p + (size_t)i * ldp + j);
			__m512 ds = _mm512_mul_ps(pv, _mm512_sub_ps(acc[i][v], _mm512_set1_ps(r[i])));
			_mm512_store_ps(s + (size_t)i * lds + j, _mm512_mul_ps(ds, _mm512_set1_ps(scale)));
		}
}

/* dots_tile over the key tiles [jt0, jt1) (multiples of 16), 32 keys at a
 * time and 16 at the end */
SL_INLINE void dots_rows(const int MR, const float *a, size_t lda, const float *bt, size_t ldb, int jt0, int jt1,
			 float *s, size_t lds, const int *lo, const int *hi, const float *p, size_t ldp, int Tk,
			 __mmask16 ptail, const float *r, float scale, const int Dh)
{
	int j0 = jt0;
	for (; j0 + 32 <= jt1; j0 += 32)
		dots_tile(MR, 2, a, lda, bt, ldb, j0, s, lds, lo, hi, p, ldp, Tk, ptail, r, scale, Dh);
	if (j0 < jt1)
		dots_tile(MR, 1, a, lda, bt, ldb, j0, s, lds, lo, hi, p, ldp, Tk, ptail, r, scale, Dh);
}

/* o (MR rows of stride ldo) = (or, as a gradient, added to: fresh ? 0 : o)
 * sum_{t in [t0, t1)} cf[i crs + t cts] x[t ldx], chains over t from 0, for
 * d < Dh in NC vectors of 16 (the last masked). grad: 0 writes the sums, 1
 * adds them to (fresh ? 0 : o). */
SL_INLINE void sums_tile(const int MR, const int NC, float *o, size_t ldo, const float *cf, size_t crs, size_t cts,
			 const float *x, size_t ldx, int t0, int t1, const int grad, int fresh, const int Dh)
{
	const __mmask16 last = lanes(0, Dh - 16 * (NC - 1));
	__m512 acc[BM][4];
	for (int i = 0; i < MR; i++)
		for (int v = 0; v < NC; v++)
			acc[i][v] = _mm512_setzero_ps();
	for (int t = t0; t < t1; t++) {
		const float *xt = x + (size_t)t * ldx, *ct = cf + (size_t)t * cts;
		__m512 xv[4];
		for (int v = 0; v < NC; v++)
			xv[v] = _mm512_maskz_loadu_ps(v == NC - 1 ? last : 0xffff, xt + 16 * v);
		for (int i = 0; i < MR; i++) {
			__m512 pb = _mm512_set1_ps(ct[(size_t)i * crs]);
			for (int v = 0; v < NC; v++)
				acc[i][v] = _mm512_fmadd_ps(pb, xv[v], acc[i][v]);
		}
	}
	for (int i = 0; i < MR; i++) {
		float *oi = o + (size_t)i * ldo;
		if (grad) {
			store_grad_row(oi, acc[i], fresh, Dh);
			continue;
		}
		for (int v = 0; v < NC; v++)
			_mm512_mask_storeu_ps(oi + 16 * v, v == NC - 1 ? last : 0xffff, acc[i][v]);
	}
}

/* sums_tile over the n rows of o: tiles of MR = 8 rows for one or two
 * vectors, 4 for three or four (sixteen accumulators), then 2 and 1; a
 * tile's range is [lo of its first row, hi of its last) (lo and hi never
 * decrease with the row) */
SL_INLINE void sums_rows(const int NC, int n, const int *lo, const int *hi, float *o, size_t ldo, const float *cf,
			 size_t crs, size_t cts, const float *x, size_t ldx, const int grad, int fresh, const int Dh)
{
	int i0 = 0;
#define SUMS(MR)                                                                                             \
	sums_tile(MR, NC, o + (size_t)i0 * ldo, ldo, cf + (size_t)i0 * crs, crs, cts, x, ldx, lo[i0],        \
		  hi[i0 + MR - 1], grad, fresh, Dh)
	if (NC <= 2)
		for (; i0 + 8 <= n; i0 += 8)
			SUMS(8);
	for (; i0 + 4 <= n; i0 += 4)
		SUMS(4);
	for (; i0 + 2 <= n; i0 += 2)
		SUMS(2);
	for (; i0 < n; i0++)
		SUMS(1);
#undef SUMS
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

/* softmax_row for the mr rows of a block: scores s (mr rows of stride lds)
 * over the vectors [jt0, jt1) the block computed, -inf outside each row's
 * keys, so every row runs the same vectors (a loop whose count the
 * processor predicts, where each row's own would be mispredicted) and e^-inf
 * is 0 where a row does not see the key; p (mr rows of Tk, the vector from
 * Tk - Tk % 16 stored under the mask ptail). The maximum is exact in any
 * order (the zeros' signs aside, which e^(s - m) cannot tell apart); the
 * exponentials are sl_fexp_fma's bits; z adds the lanes as sum16, the rows'
 * reductions (and divisions) together. */
SL_INLINE void softmax_rows(float *s, size_t lds, float *p, int Tk, __mmask16 ptail, int jt0, int jt1, int mr)
{
	__m512 x[BM];
	float m[16], iz[16];
#pragma GCC unroll 8
	for (int i = 0; i < BM; i++) {
		const float *si = s + (size_t)i * lds;
		x[i] = _mm512_set1_ps(-INFINITY);
		if (i < mr)
			for (int j0 = jt0; j0 < jt1; j0 += 16)
				/* max(x, m) is m when x is NaN, as s[j] > m ? s[j] : m */
				x[i] = _mm512_max_ps(_mm512_load_ps(si + j0), x[i]);
	}
	_mm512_storeu_ps(m, max16x8(x));
#pragma GCC unroll 8
	for (int i = 0; i < BM; i++) {
		float *si = s + (size_t)i * lds;
		__m512 mv = _mm512_set1_ps(m[red8_lane(i)]);
		x[i] = _mm512_setzero_ps();
		if (i < mr)
			for (int j0 = jt0; j0 < jt1; j0 += 16) {
				__m512 e = sl_fexp16_fma(_mm512_sub_ps(_mm512_load_ps(si + j0), mv));
				_mm512_store_ps(si + j0, e);
				x[i] = _mm512_add_ps(x[i], e);
			}
	}
	_mm512_storeu_ps(iz, _mm512_div_ps(_mm512_set1_ps(1.0f), sum16x8(x)));
	/* p_j = e_j / z in the block's vectors, 0 elsewhere; whole vectors
	 * but the last (a masked store would keep the sums of values from
	 * reading p until it is written back) */
	for (int i = 0; i < mr; i++) {
		const float *si = s + (size_t)i * lds;
		float *pi = p + (size_t)i * Tk;
		__m512 izv = _mm512_set1_ps(iz[red8_lane(i)]);
		for (int j0 = 0; j0 < Tk; j0 += 16) {
			__m512 e = j0 >= jt0 && j0 < jt1 ? _mm512_mul_ps(_mm512_load_ps(si + j0), izv) : _mm512_setzero_ps();
			if (j0 + 16 <= Tk)
				_mm512_storeu_ps(pi + j0, e);
			else
				_mm512_mask_storeu_ps(pi + j0, ptail, e);
		}
	}
}

SL_INLINE void attn_fwdb_k(const attn_ctx *c, size_t lo_bh, size_t hi_bh, const int Dh, const int NC)
{
	const int D = c->H * c->Dh, Tk = c->Tk, Tq = c->Tq, ldk = (Tk + 15) & ~15;
	const __mmask16 ptail = lanes(0, Tk % 16 ? Tk % 16 : 16);
	/* kt (Dh, ldk): the head's keys transposed, times the scale; S (BM,
	 * ldk): a block's scores, then exponentials; rlo, rhi (Tq): the queries'
	 * key ranges */
	float *kt = sl_xaligned((size_t)(Dh + BM) * ldk * sizeof(float) + 2 * (size_t)Tq * sizeof(int));
	float *S = kt + (size_t)Dh * ldk;
	int *rlo = (int *)(S + BM * (size_t)ldk), *rhi = rlo + Tq;
	ranges(c, rlo, rhi, NULL, NULL);
	for (size_t bh = lo_bh; bh < hi_bh; bh++) {
		int b = (int)(bh / (size_t)c->H), h = (int)(bh % (size_t)c->H);
		const float *q = c->q + (size_t)b * Tq * D + (size_t)h * Dh;
		const float *k = c->k + (size_t)b * c->kv_bstride + (size_t)h * Dh;
		const float *v = c->v + (size_t)b * c->kv_bstride + (size_t)h * Dh;
		float *out = c->out + (size_t)b * Tq * D + (size_t)h * Dh;
		float *P = c->Pw + bh * (size_t)Tq * Tk;
		transpose_rows(k, D, Tk, ldk, kt, 1, c->scale, Dh);
		for (int i0 = 0; i0 < Tq; i0 += BM) {
			int mr = Tq - i0 < BM ? Tq - i0 : BM;
			const int *lo = rlo + i0, *hi = rhi + i0;
			/* s_ij = q_i . ks_j over the key tiles the block sees */
			int jt0 = lo[0] & ~15, jt1 = (hi[mr - 1] + 15) & ~15;
#define SCORES(MR, r0)                                                                                   \
	dots_rows(MR, q + (size_t)(i0 + (r0)) * D, (size_t)D, kt, (size_t)ldk, jt0, jt1, S + (size_t)(r0)*ldk,     \
		  (size_t)ldk, lo + (r0), hi + (r0), NULL, 0, Tk, 0, NULL, 0.0f, Dh)
			ROW_TILES(mr, SCORES);
#undef SCORES
			softmax_rows(S, (size_t)ldk, P + (size_t)i0 * Tk, Tk, ptail, jt0, jt1, mr);
			/* o_i = sum_j p_ij v_j over the block's keys */
			sums_rows(NC, mr, lo, hi, out + (size_t)i0 * D, (size_t)D, P + (size_t)i0 * Tk, (size_t)Tk, 1, v,
				  (size_t)D, 0, 0, Dh);
		}
	}
	free(kt);
}

SL_INLINE void attn_bwdb_k(const attn_ctx *c, size_t lo_bh, size_t hi_bh, const int Dh, const int NC)
{
	const int D = c->H * c->Dh, Tk = c->Tk, Tq = c->Tq, ldk = (Tk + 15) & ~15;
	const __mmask16 ptail = lanes(0, Tk % 16 ? Tk % 16 : 16);
	/* vt (Dh, ldk): the head's values transposed; DS (Tq, ldk): dS, zero
	 * outside the tiles computed; r (BM): a block's r_i; rlo, rhi (Tq): the
	 * queries' key ranges, qlo, qhi (Tk): the keys' query ranges */
	size_t nf = (size_t)(Dh + Tq) * ldk + BM;
	float *vt = sl_xaligned(nf * sizeof(float) + 2 * (size_t)(Tq + Tk) * sizeof(int));
	float *DS = vt + (size_t)Dh * ldk, *r = DS + (size_t)Tq * ldk;
	int *rlo = (int *)(vt + nf), *rhi = rlo + Tq, *qlo = rhi + Tq, *qhi = qlo + Tk;
	ranges(c, rlo, rhi, qlo, qhi);
	for (size_t bh = lo_bh; bh < hi_bh; bh++) {
		int b = (int)(bh / (size_t)c->H), h = (int)(bh % (size_t)c->H);
		size_t oq = (size_t)b * Tq * D + (size_t)h * Dh, ok = (size_t)b * Tk * D + (size_t)h * Dh;
		const float *q = c->q + oq, *k = c->k + ok, *v = c->v + ok, *dout = c->dout + oq, *o = c->o + oq;
		const float *P = c->P + bh * (size_t)Tq * Tk;
		float *dq = c->dq ? c->dq + oq : NULL, *dk = c->dk ? c->dk + ok : NULL,
		      *dv = c->dv ? c->dv + ok : NULL;
		transpose_rows(v, D, Tk, ldk, vt, 0, 1.0f, Dh);
		for (int i0 = 0; i0 < Tq; i0 += BM) {
			int mr = Tq - i0 < BM ? Tq - i0 : BM;
			const int *lo = rlo + i0, *hi = rhi + i0;
			const float *a = dout + (size_t)i0 * D;
			float *ds = DS + (size_t)i0 * ldk;
			/* r_i = dO_i . o_i, the block's rows reduced together */
			float rl[16];
			dots8(a, o + (size_t)i0 * D, D, mr, rl, Dh);
			for (int i = 0; i < mr; i++)
				r[i] = rl[red8_lane(i)];
			/* dP_ij = dO_i . v_j over the key tiles the block sees, made
			 * dS in the tile's registers; zeros in the other tiles */
			int jt0 = lo[0] & ~15, jt1 = (hi[mr - 1] + 15) & ~15;
			for (int i = 0; i < mr; i++) {
				memset(ds + (size_t)i * ldk, 0, (size_t)jt0 * sizeof(float));
				memset(ds + (size_t)i * ldk + jt1, 0, (size_t)(ldk - jt1) * sizeof(float));
			}
#define DSCORES(MR, r0)                                                                                  \
	dots_rows(MR, a + (size_t)(r0)*D, (size_t)D, vt, (size_t)ldk, jt0, jt1, ds + (size_t)(r0)*ldk,      \
		  (size_t)ldk, lo + (r0), hi + (r0), P + (size_t)(i0 + (r0)) * Tk, (size_t)Tk, Tk, ptail, r + (r0), \
		  c->scale, Dh)
			ROW_TILES(mr, DSCORES);
#undef DSCORES
			/* dq_i = sum_j dS_ij k_j over the block's keys */
			if (dq)
				sums_rows(NC, mr, lo, hi, dq + (size_t)i0 * D, (size_t)D, ds, (size_t)ldk, 1, k, (size_t)D,
					  1, c->fq, Dh);
		}
		/* dk_j = sum_i dS_ij q_i, dv_j = sum_i P_ij dO_i over the queries
		 * each block of keys sees; dk before dv, as store_kv_grads */
		if (dk)
			sums_rows(NC, Tk, qlo, qhi, dk, (size_t)D, DS, 1, (size_t)ldk, q, (size_t)D, 1, c->fk, Dh);
		if (dv)
			sums_rows(NC, Tk, qlo, qhi, dv, (size_t)D, P, 1, (size_t)Tk, dout, (size_t)D, 1, c->fv, Dh);
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
	c.o = n->out->data;
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
