/* ops_impl.h - forward and backward of every op, for the table in ops.c.
 * Internal to src/core. */
#ifndef SEQLAB_OPS_IMPL_H
#define SEQLAB_OPS_IMPL_H

#include "seqlab/fastmath.h"
#include "seqlab/ops.h"

#define SL_OP_DECL(name)                                      \
	void sl_op_##name##_forward(sl_tape *tp, sl_node *n); \
	void sl_op_##name##_backward(sl_tape *tp, sl_node *n)

SL_OP_DECL(linear);
SL_OP_DECL(matmul);
SL_OP_DECL(add);
SL_OP_DECL(mul);
SL_OP_DECL(scale);
SL_OP_DECL(bias);
SL_OP_DECL(reshape);
SL_OP_DECL(transpose);
SL_OP_DECL(slice);
SL_OP_DECL(concat);
SL_OP_DECL(embedding);
SL_OP_DECL(layernorm);
SL_OP_DECL(rmsnorm);
SL_OP_DECL(gelu);
SL_OP_DECL(silu);
SL_OP_DECL(relu);
SL_OP_DECL(tanh);
SL_OP_DECL(sigmoid);
SL_OP_DECL(softplus);
SL_OP_DECL(exp);
SL_OP_DECL(softmax);
SL_OP_DECL(cross_entropy);
SL_OP_DECL(dropout);
SL_OP_DECL(conv1d);
SL_OP_DECL(attention);
SL_OP_DECL(ssm);
SL_OP_DECL(rope);
SL_OP_DECL(lru);
SL_OP_DECL(rglru);
SL_OP_DECL(colmul);
SL_OP_DECL(linattn);
SL_OP_DECL(s4d_kernel);
SL_OP_DECL(lconv);
SL_OP_DECL(additive);
SL_OP_DECL(rnn);
SL_OP_DECL(bdlinear);
SL_OP_DECL(gelu_mul);
SL_OP_DECL(gelu_skip);
SL_OP_DECL(glu_residual);
SL_OP_DECL(mlp);
SL_OP_DECL(linear_pair);

/* Builds a node for op with the given inputs and a fresh output of the given
 * shape; the caller sets attributes and calls sl_tape_apply(). `ins` is
 * copied when recorded, so a stack array is fine. */
static inline sl_node sl_node_make(sl_tape *tp, int op, sl_tensor **ins, int nin, int ndim, const int *shape)
{
	sl_node n = { 0 };
	n.op = op;
	n.in = ins;
	n.nin = nin;
	n.out = sl_tape_tensor(tp, ndim, shape);
	return n;
}

/* GELU through q = 1 + erf(x/√2), which a forward pass keeps for backward:
 * gelu(x) = x/2 q, gelu'(x) = q/2 + x phi(x), phi(x) = e^(-x^2/2) / sqrt(2 pi).
 * One set of expressions for every op that applies it (gelu, gelu_mul, mlp),
 * so they round alike. */
#define SQRT1_2F 0.70710678118654752f   /* 1/sqrt(2) */
#define INV_SQRT_2PIF 0.39894228040143268f /* 1/sqrt(2 pi) */

static inline float sl_gelu_q(float x)
{
	return 1.0f + sl_ferf(x * SQRT1_2F);
}

static inline float sl_gelu_fq(float x, float q)
{
	return 0.5f * x * q;
}

static inline float sl_gelu_dq(float x, float q)
{
	return 0.5f * q + x * INV_SQRT_2PIF * sl_fexp(-0.5f * x * x);
}

/* y (n) = softmax(x), the softmax op's row: the maximum subtracted, the
 * exponentials summed in double, one reciprocal; y may be x */
static inline void sl_softmax_row(const float *x, float *y, size_t n)
{
	float mx = x[0];
	for (size_t j = 1; j < n; j++)
		mx = x[j] > mx ? x[j] : mx;
	double s = 0;
	for (size_t j = 0; j < n; j++) {
		y[j] = sl_fexp(x[j] - mx);
		s += y[j];
	}
	float inv = (float)(1.0 / s);
	for (size_t j = 0; j < n; j++)
		y[j] *= inv;
}

#if defined(__AVX512F__)
#include <immintrin.h>

/* r[0..15] transposed in place: r[c] becomes column c of the 16 x 16 block
 * (the attention kernels' keys and sums, the matrix kernel's packing) */
static inline void sl_transpose16(__m512 r[16])
{
	__m512 t[16], u[16];
	for (int i = 0; i < 8; i++) {
		t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
		t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
	}
	for (int i = 0; i < 4; i++) {
		u[4 * i] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
		u[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0xee);
		u[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
		u[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xee);
	}
	/* u[4 i + c]: columns c, c + 4, c + 8, c + 12 of rows 4 i .. 4 i + 3 */
	for (int c = 0; c < 4; c++) {
		t[c] = _mm512_shuffle_f32x4(u[c], u[4 + c], 0x88);      /* c, c + 8 of rows 0-7 */
		t[4 + c] = _mm512_shuffle_f32x4(u[c], u[4 + c], 0xdd);  /* c + 4, c + 12 */
		t[8 + c] = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0x88);
		t[12 + c] = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0xdd);
	}
	for (int c = 0; c < 8; c++) {
		r[c] = _mm512_shuffle_f32x4(t[c], t[8 + c], 0x88);
		r[8 + c] = _mm512_shuffle_f32x4(t[c], t[8 + c], 0xdd);
	}
}

#endif

/* Problems smaller than this many multiply-adds run on one thread. */
#define SL_PAR_MIN_WORK 32768

/* A row-wise pass and the column sums over its rows as one hand-off:
 * rows(ctx, lo, hi) over the pool's parts of [0, R), then on the same rows
 * cols(ctx, lo, hi, first, last), sums that carry on from the rows before
 * (in place, or parked between parts: first, the part that starts them;
 * last, the one that ends them), part after part in row order
 * (sl_relay_*). Each part sums the rows it has just passed over, in its own
 * cache, where a split over columns has every thread read every row; the
 * sums are the ones over all rows in order, whatever the thread count.
 * Below SL_PAR_MIN_WORK (work) or without a pool: rows, then cols, over all
 * rows. cols may be NULL, rows too. */
typedef void (*sl_cols_fn)(void *ctx, size_t lo, size_t hi, int first, int last);
void sl_rows_relay(sl_tape *tp, size_t R, size_t work, sl_range_fn rows, sl_cols_fn cols, void *ctx);

/* acc[j] += sum_r y[r ld + j] for the columns j in [lo, hi), each column's
 * terms added in row order (bias and gain gradients; op_elementwise.c). */
void sl_colsum_add(float *acc, const float *y, size_t R, size_t ld, size_t lo, size_t hi);
/* acc[j] += sum_r g[r ld + j] x[r ld + j], each column's products summed in
 * row order from zero, then added (op_elementwise.c) */
void sl_colsum_prod_add(float *acc, const float *g, const float *x, size_t R, size_t ld, size_t lo, size_t hi);
/* The same sums in stretches of rows: each column's sum from zero (first)
 * or from park[j], over these R rows, then added to acc[j] (last) or
 * parked; the stretches in order give sl_colsum_prod_add's bits. */
void sl_colsum_prod_chain(float *acc, float *park, const float *g, const float *x, size_t R, size_t ld, size_t lo,
			  size_t hi, int first, int last);


#endif
