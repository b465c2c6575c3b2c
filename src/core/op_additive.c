/* op_additive.c - additive attention (Bahdanau et al. 2015; the PyTorch
 * translation tutorial's BahdanauAttention, the CSC413 PA3 handout's MLP
 * attention), scores, softmax and context fused:
 *
 *   y[b,t,s,a] = act(q[b,t,a] + k[b,s,a]),  e[b,t,s] = Σ_a v[a] y[b,t,s,a]
 *   α[b,t,:] = softmax(e[b,t,:]),           c[b,t,d] = Σ_s α[b,t,s] x[b,s,d]
 *
 * q (B, Tq, A) the projected queries W q_t, k (B, S, A) the projected keys
 * U x_s + bias, x (B, S, D) the keys themselves, v (A); act = tanh
 * (additive, sl_ftanh: vectorised, absolute error below 1e-7) or ReLU (the
 * handout's MLP). Backward, from dc:
 *   dα_s = Σ_d dc[d] x[s,d],  dx[s,d] += α_s dc[d],
 *   de_s = α_s (dα_s - Σ_s' α_s' dα_s'),
 *   g = de · v[a] · act'(y):  dq[b,t,a] += Σ_s g,  dk[b,s,a] += Σ_t g,
 *   dv[a] += Σ_{b,t,s} de · y
 * act' from the saved y (1 - y² or [y > 0]): the forward pass keeps y
 * (B, Tq, S, A) and α, so the backward pass computes no tanh.
 *
 * Each piece rounds as the ops it replaces (sl_softmax, and sl_matmul's
 * products: one fused multiply-add chain per element, in order), so a model
 * gets the bits it got from those (dx: for one query per row, Tq = 1, the
 * decoder's; more queries add their terms one at a time rather than as one
 * chain). Threads split the batch: a row b's
 * output and its dq, dk, dx are its own; dv is summed per row b (over t, s
 * in order) into a (B, A) scratch, and those rows in b order, so the bits
 * do not depend on the thread count. */
#include "seqlab/fastmath.h"
#include "ops_impl.h"

#include <math.h>
#include <string.h>

typedef struct add_saved {
	float *y;     /* (B, Tq, S, A): act(q + k) */
	float *alpha; /* (B, Tq, S) */
} add_saved;

typedef struct add_ctx {
	int Tq, S, A, D, relu;
	const float *q, *k, *x, *v; /* (B, Tq, A), (B, S, A), (B, S, D), (A) */
	add_saved sv;
	float *c;                   /* forward: (B, Tq, D) the context */
	const float *dc;            /* backward: (B, Tq, D) */
	float *dq, *dk, *dx;        /* as q, k, x, or NULL */
	float *dvb;                 /* (B, A): row b's part of dv, or NULL */
	float *de;                  /* (B, S): per row b, the scores' gradient */
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

/* out[s] = Σ_i w[i] rows[s, i] (rows (S, n)), each sum from zero in i order,
 * a product then a sum (fma 0) or one fused multiply-add (fma 1) per term.
 * Eight rows at a time: a sum is a chain of dependent additions, so one
 * row's waits out the adder's latency; eight independent chains overlap. */
static void dot_rows(int fma, int S, int n, const float *restrict w, const float *restrict rows,
		     float *restrict out)
{
	enum { R = 8 };
	int s = 0;
	for (; s + R <= S; s += R) {
		const float *x = rows + (size_t)s * n;
		float acc[R] = { 0 };
		for (int i = 0; i < n; i++)
			for (int r = 0; r < R; r++)
				acc[r] = fma ? fmaf(w[i], x[(size_t)r * n + i], acc[r]) : acc[r] + w[i] * x[(size_t)r * n + i];
		memcpy(out + s, acc, sizeof acc);
	}
	for (; s < S; s++) {
		const float *x = rows + (size_t)s * n;
		float acc = 0.0f;
		for (int i = 0; i < n; i++)
			acc = fma ? fmaf(w[i], x[i], acc) : acc + w[i] * x[i];
		out[s] = acc;
	}
}

/* One (b, t): the scores into α (S), its softmax, the context c (D) */
static void fwd_one(const add_ctx *c, size_t b, size_t bt)
{
	int S = c->S, A = c->A, D = c->D;
	const float *q = c->q + bt * A, *x = c->x + b * S * D;
	float *y = c->sv.y + bt * S * A, *al = c->sv.alpha + bt * S, *ctx = c->c + bt * D;
	for (int s = 0; s < S; s++)
		act_row(c->relu, A, q, c->k + (b * S + s) * A, y + (size_t)s * A);
	dot_rows(0, S, A, c->v, y, al); /* e = y v */
	sl_softmax_row(al, al, (size_t)S); /* as sl_softmax rounds it */
	/* c = α x: per element a fused multiply-add chain over s from zero */
	memset(ctx, 0, (size_t)D * sizeof *ctx);
	for (int s = 0; s < S; s++)
		for (int d = 0; d < D; d++)
			ctx[d] = fmaf(al[s], x[(size_t)s * D + d], ctx[d]);
}

static void fwd_rows(void *arg, size_t lo, size_t hi)
{
	const add_ctx *c = arg;
	for (size_t b = lo; b < hi; b++)
		for (int t = 0; t < c->Tq; t++)
			fwd_one(c, b, b * c->Tq + t);
}

/* One (b, t, s): g = de v act'(y) added to dq (A) and dk (A), de y to dv
 * (A); each may be NULL (the loop is unswitched on them: vectorised). */
static void bwd_scores(int relu, int A, float de, const float *restrict v, const float *restrict y,
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

/* One (b, t): through the context and the softmax to the scores' gradient
 * de (S), then to dq, dk, dv */
static void bwd_one(const add_ctx *c, size_t b, size_t bt, float *restrict de, float *dv)
{
	int S = c->S, A = c->A, D = c->D;
	const float *x = c->x + b * S * D, *dc = c->dc + bt * D, *al = c->sv.alpha + bt * S;
	dot_rows(1, S, D, dc, x, de); /* dα = x dc, as the product's fused multiply-adds */
	if (c->dx) /* dx_s += α_s dc */
		for (int s = 0; s < S; s++) {
			float *dxs = c->dx + (b * S + s) * D;
			for (int d = 0; d < D; d++)
				dxs[d] += al[s] * dc[d];
		}
	/* the softmax: de_s = α_s (dα_s - α · dα), the dot in double */
	double dot = 0;
	for (int s = 0; s < S; s++)
		dot += (double)de[s] * al[s];
	float m = (float)dot;
	for (int s = 0; s < S; s++)
		de[s] = al[s] * (de[s] - m);
	const float *y = c->sv.y + bt * S * A;
	for (int s = 0; s < S; s++)
		bwd_scores(c->relu, A, de[s], c->v, y + (size_t)s * A, c->dq ? c->dq + bt * A : NULL,
			   c->dk ? c->dk + (b * S + s) * A : NULL, dv);
}

static void bwd_rows(void *arg, size_t lo, size_t hi)
{
	const add_ctx *c = arg;
	for (size_t b = lo; b < hi; b++) {
		float *dv = c->dvb ? c->dvb + b * c->A : NULL;
		if (dv)
			memset(dv, 0, (size_t)c->A * sizeof *dv);
		for (int t = 0; t < c->Tq; t++)
			bwd_one(c, b, b * c->Tq + t, c->de + b * c->S, dv);
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

sl_tensor *sl_additive_attention(sl_tape *tp, sl_tensor *q, sl_tensor *k, sl_tensor *x, sl_tensor *v, int relu,
				 const float **alpha)
{
	SL_ASSERT(q->ndim == 3 && k->ndim == 3 && x->ndim == 3 && v->ndim == 1);
	SL_ASSERT(q->shape[0] == k->shape[0] && q->shape[2] == k->shape[2] && v->shape[0] == q->shape[2]);
	SL_ASSERT(x->shape[0] == k->shape[0] && x->shape[1] == k->shape[1]);
	sl_tensor *ins[4] = { q, k, x, v };
	int s[3] = { q->shape[0], q->shape[1], x->shape[2] };
	sl_node n = sl_node_make(tp, SL_OP_ADDITIVE, ins, 4, 3, s);
	n.i[0] = relu != 0;
	sl_tensor *c = sl_tape_apply(tp, &n);
	if (alpha)
		*alpha = ((const add_saved *)n.saved)->alpha;
	return c;
}

/* the work of one pass over the batch, in multiply-adds */
static size_t add_work(const add_ctx *c, size_t B)
{
	return B * c->Tq * c->S * (size_t)(c->A + 2 * c->D);
}

void sl_op_additive_forward(sl_tape *tp, sl_node *n)
{
	const sl_tensor *q = n->in[0], *k = n->in[1], *x = n->in[2], *v = n->in[3];
	int B = q->shape[0], Tq = q->shape[1], S = k->shape[1];
	add_ctx c = { .Tq = Tq, .S = S, .A = q->shape[2], .D = x->shape[2], .relu = n->i[0], .q = q->data,
		      .k = k->data, .x = x->data, .v = v->data, .c = n->out->data };
	add_saved *sv = sl_arena_alloc(tp->arena, sizeof *sv);
	sv->y = sl_arena_alloc(tp->arena, (size_t)B * Tq * S * c.A * sizeof(float));
	sv->alpha = sl_arena_alloc(tp->arena, (size_t)B * Tq * S * sizeof(float));
	c.sv = *sv;
	add_run(tp, (size_t)B, add_work(&c, (size_t)B), fwd_rows, &c);
	n->saved = sv; /* always: the caller may read α */
}

void sl_op_additive_backward(sl_tape *tp, sl_node *n)
{
	sl_tensor *q = n->in[0], *k = n->in[1], *x = n->in[2], *v = n->in[3];
	int B = q->shape[0], Tq = q->shape[1], S = k->shape[1], A = q->shape[2];
	add_ctx c = { .Tq = Tq, .S = S, .A = A, .D = x->shape[2], .relu = n->i[0], .x = x->data, .v = v->data,
		      .sv = *(const add_saved *)n->saved, .dc = n->out->grad };
	c.dq = q->requires_grad ? sl_tape_grad(tp, q) : NULL;
	c.dk = k->requires_grad ? sl_tape_grad(tp, k) : NULL;
	c.dx = x->requires_grad ? sl_tape_grad(tp, x) : NULL;
	c.dvb = v->requires_grad ? sl_arena_alloc(tp->arena, (size_t)B * A * sizeof(float)) : NULL;
	c.de = sl_arena_alloc(tp->arena, (size_t)B * S * sizeof(float));
	add_run(tp, (size_t)B, add_work(&c, (size_t)B), bwd_rows, &c);
	if (c.dvb) /* dv += Σ_b dvb[b], in b order */
		sl_colsum_add(sl_tape_grad(tp, v), c.dvb, (size_t)B, (size_t)A, 0, (size_t)A);
}
