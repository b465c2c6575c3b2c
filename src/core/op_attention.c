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

/* out[j] = sum_d a[d] m[d][j] for j < n, m (Dh, n) row-major, eight columns
 * at a time: each sum starts from 0 and adds its terms in the order of d, as
 * the scalar loop `out[j] = 0; for d: out[j] += a[d] * m[d][j]` does, so the
 * bits are the same. Reads m up to 7 floats past its end (in the scratch). */
SL_INLINE void dots_by_column(const float *a, const float *m, int n, int Dh, float *out)
{
	for (int j0 = 0; j0 < n; j0 += 8) {
		v8f acc = { 0 };
		for (int d = 0; d < Dh; d++) {
			v8f col;
			memcpy(&col, m + (size_t)d * n + j0, sizeof col);
			acc += a[d] * col;
		}
		float t[8];
		memcpy(t, &acc, sizeof t);
		memcpy(out + j0, t, (size_t)(n - j0 < 8 ? n - j0 : 8) * sizeof(float));
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
			dots_by_column(qs, w.kt, Tk, Dh, p);
			/* p = softmax(s) over [lo, hi), 0 elsewhere */
			float m = -INFINITY;
			for (int j = lo; j < hi; j++)
				m = p[j] > m ? p[j] : m;
			float z = 0;
			for (int j = 0; j < Tk; j++) {
				float e = sl_fexp(p[j] - m);
				e = j >= lo && j < hi ? e : 0.0f;
				p[j] = e;
				z += e;
			}
			float iz = 1.0f / z;
			for (int j = 0; j < Tk; j++)
				p[j] *= iz;
			/* o_i = sum_j p_j v_j, vectorised over d */
			for (int d = 0; d < Dh; d++)
				oi[d] = 0;
			for (int j = lo; j < hi; j++)
				axpy(oi, p[j], w.vh + (size_t)j * Dh, Dh);
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
			dots_by_column(doi, w.vt, Tk, Dh, dp);
			/* dS_ij = P_ij (dP_ij - sum_j P_ij dP_ij), times the scale */
			float rs = 0;
			for (int j = lo; j < hi; j++)
				rs += p[j] * dp[j];
			for (int j = lo; j < hi; j++)
				dp[j] = p[j] * (dp[j] - rs) * c->scale;
			/* dq_i += sum_j dS_ij k_j; dk_j += dS_ij q_i; dv_j += P_ij dO_i */
			float dqi[Dh];
			for (int d = 0; d < Dh; d++)
				dqi[d] = 0;
			for (int j = lo; j < hi; j++) {
				axpy(dqi, dp[j], w.kh + (size_t)j * Dh, Dh);
				axpy(w.dkh + (size_t)j * Dh, dp[j], qi, Dh);
				axpy(w.dvh + (size_t)j * Dh, p[j], doi, Dh);
			}
			if (dq)
				for (int d = 0; d < Dh; d++) {
					float *g = &dq[(size_t)i * D + d];
					*g = (c->fq ? 0.0f : *g) + dqi[d];
				}
		}
		for (int j = 0; j < Tk; j++)
			for (int d = 0; d < Dh; d++) {
				if (dk) {
					float *g = &dk[(size_t)j * D + d];
					*g = (c->fk ? 0.0f : *g) + w.dkh[(size_t)j * Dh + d];
				}
				if (dv) {
					float *g = &dv[(size_t)j * D + d];
					*g = (c->fv ? 0.0f : *g) + w.dvh[(size_t)j * Dh + d];
				}
			}
	}
	free(w.kt);
}

int sl_attention_generic;

/* one instance per usual head dim, and the generic one */
#define ATTN_DISPATCH(name, kernel)                                          \
	static void name(void *arg, size_t lo, size_t hi)                    \
	{                                                                    \
		const attn_ctx *c = arg;                                     \
		switch (sl_attention_generic ? 0 : c->Dh) {                  \
		case 4: kernel(c, lo, hi, 4); break;                         \
		case 8: kernel(c, lo, hi, 8); break;                         \
		case 16: kernel(c, lo, hi, 16); break;                       \
		case 32: kernel(c, lo, hi, 32); break;                       \
		case 64: kernel(c, lo, hi, 64); break;                       \
		default: kernel(c, lo, hi, c->Dh); break;                    \
		}                                                            \
	}
ATTN_DISPATCH(attn_fwd, attn_fwd_k)
ATTN_DISPATCH(attn_bwd, attn_bwd_k)

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
