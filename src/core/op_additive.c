/* op_additive.c - the scores of additive attention (Bahdanau et al. 2015;
 * the PyTorch translation tutorial's BahdanauAttention, the CSC413 PA3
 * handout's MLP attention), fused:
 *
 *   y[b,t,s,a] = act(q[b,t,a] + k[b,s,a]),  e[b,t,s] = Σ_a v[a] y[b,t,s,a]
 *
 * q (B, Tq, A) the projected queries W q_t, k (B, S, A) the projected keys
 * U k_s + bias, v (A); act = tanh (additive, sl_ftanh: vectorised, absolute
 * error below 1e-7) or ReLU (the handout's MLP). Backward, with
 * g = de · v[a] · act'(u):
 *   dq[b,t,a] += Σ_s g,  dk[b,s,a] += Σ_t g,  dv[a] += Σ_{b,t,s} de · y
 * act' from the saved y (1 - y² or [y > 0]): the forward pass keeps y
 * (B, Tq, S, A) when a gradient is wanted, so the backward pass computes no
 * tanh.
 *
 * Threads split the batch: a row b's e, dq and dk are its own; dv is summed
 * per row b (over t, s in order) into a (B, A) scratch, and those rows in
 * b order, so the bits do not depend on the thread count. */
#include "seqlab/fastmath.h"
#include "ops_impl.h"

#include <string.h>

typedef struct add_ctx {
	int Tq, S, A, relu;
	const float *q, *k, *v; /* (B, Tq, A), (B, S, A), (A) */
	float *y;               /* (B, Tq, S, A): act(q + k) */
	float *e;               /* forward: (B, Tq, S) the scores */
	const float *de;        /* backward: (B, Tq, S) */
	float *dq, *dk;         /* (B, Tq, A), (B, S, A), or NULL */
	float *dvb;             /* (B, A): row b's part of dv, or NULL */
} add_ctx;

/* y (n) = act(q + k); one plain loop over a, vectorised */
static void act_row(int relu, int n, const float *restrict q, const float *restrict k, float *restrict y)
{
	if (relu)
		for (int a = 0; a < n; a++) {
			float u = q[a] + k[a];
			y[a] = u > 0.0f ? u : 0.0f;
		}
	else
		for (int a = 0; a < n; a++)
			y[a] = sl_ftanh(q[a] + k[a]);
}

static void fwd_rows(void *arg, size_t lo, size_t hi)
{
	const add_ctx *c = arg;
	int Tq = c->Tq, S = c->S, A = c->A;
	for (size_t b = lo; b < hi; b++)
		for (int t = 0; t < Tq; t++) {
			size_t bt = b * Tq + t;
			const float *qr = c->q + bt * A;
			float *y = c->y + bt * S * A, *e = c->e + bt * S;
			for (int s = 0; s < S; s++)
				act_row(c->relu, A, qr, c->k + (b * S + s) * A, y + (size_t)s * A);
			/* e[s] = Σ_a v[a] y[s, a], each sum in a order (as the unfused loop) */
			for (int s = 0; s < S; s++) {
				const float *ys = y + (size_t)s * A;
				float acc = 0.0f;
				for (int a = 0; a < A; a++)
					acc += c->v[a] * ys[a];
				e[s] = acc;
			}
		}
}

/* One (b, t, s): g = de v act'(y) added to dq (A) and dk (A), de y to dv
 * (A); each may be NULL (the loop is unswitched on them: vectorised). */
static void bwd_one(int relu, int A, float de, const float *restrict v, const float *restrict y,
		    float *restrict dq, float *restrict dk, float *restrict dv)
{
	for (int a = 0; a < A; a++) {
		float d = de * v[a] * (relu ? (y[a] > 0.0f ? 1.0f : 0.0f) : 1.0f - y[a] * y[a]);
		if (dq)
			dq[a] += d;
		if (dk)
			dk[a] += d;
		if (dv)
			dv[a] += de * y[a];
	}
}

static void bwd_rows(void *arg, size_t lo, size_t hi)
{
	const add_ctx *c = arg;
	int Tq = c->Tq, S = c->S, A = c->A;
	for (size_t b = lo; b < hi; b++) {
		float *dv = c->dvb ? c->dvb + b * A : NULL;
		if (dv)
			memset(dv, 0, (size_t)A * sizeof *dv);
		for (int t = 0; t < Tq; t++) {
			size_t bt = b * Tq + t;
			const float *g = c->de + bt * S, *y = c->y + bt * S * A;
			for (int s = 0; s < S; s++)
				bwd_one(c->relu, A, g[s], c->v, y + (size_t)s * A, c->dq ? c->dq + bt * A : NULL,
					c->dk ? c->dk + (b * S + s) * A : NULL, dv);
		}
	}
}

/* Runs fn over the batch rows on the pool, or serially below SL_PAR_MIN_WORK. */
static void add_run(sl_tape *tp, size_t B, size_t work, sl_range_fn fn, void *ctx)
{
	if (work < SL_PAR_MIN_WORK)
		fn(ctx, 0, B);
	else
		sl_pool_for(tp->pool, B, fn, ctx);
}

sl_tensor *sl_additive_scores(sl_tape *tp, sl_tensor *q, sl_tensor *k, sl_tensor *v, int relu)
{
	SL_ASSERT(q->ndim == 3 && k->ndim == 3 && v->ndim == 1);
	SL_ASSERT(q->shape[0] == k->shape[0] && q->shape[2] == k->shape[2] && v->shape[0] == q->shape[2]);
	sl_tensor *ins[3] = { q, k, v };
	int s[3] = { q->shape[0], q->shape[1], k->shape[1] };
	sl_node n = sl_node_make(tp, SL_OP_ADDITIVE, ins, 3, 3, s);
	n.i[0] = relu != 0;
	return sl_tape_apply(tp, &n);
}

void sl_op_additive_forward(sl_tape *tp, sl_node *n)
{
	const sl_tensor *q = n->in[0], *k = n->in[1], *v = n->in[2];
	int B = q->shape[0], Tq = q->shape[1], S = k->shape[1], A = q->shape[2];
	size_t ny = (size_t)B * Tq * S * A;
	add_ctx c = { .Tq = Tq, .S = S, .A = A, .relu = n->i[0], .q = q->data, .k = k->data, .v = v->data,
		      .y = sl_arena_alloc(tp->arena, ny * sizeof(float)), .e = n->out->data };
	add_run(tp, (size_t)B, ny, fwd_rows, &c);
	if (n->out->requires_grad)
		n->saved = c.y;
}

void sl_op_additive_backward(sl_tape *tp, sl_node *n)
{
	sl_tensor *q = n->in[0], *k = n->in[1], *v = n->in[2];
	int B = q->shape[0], Tq = q->shape[1], S = k->shape[1], A = q->shape[2];
	add_ctx c = { .Tq = Tq, .S = S, .A = A, .relu = n->i[0], .v = v->data, .y = n->saved, .de = n->out->grad };
	c.dq = q->requires_grad ? sl_tape_grad(tp, q) : NULL;
	c.dk = k->requires_grad ? sl_tape_grad(tp, k) : NULL;
	c.dvb = v->requires_grad ? sl_arena_alloc(tp->arena, (size_t)B * A * sizeof(float)) : NULL;
	add_run(tp, (size_t)B, (size_t)B * Tq * S * A, bwd_rows, &c);
	if (c.dvb) /* dv += Σ_b dvb[b], in b order */
		sl_colsum_add(sl_tape_grad(tp, v), c.dvb, (size_t)B, (size_t)A, 0, (size_t)A);
}
