/* op_elementwise.c - sums, products, bias, the pointwise activations, and
 * two fused chains of them (gelu_skip, glu_residual).
 *
 * Every op here maps element i of its inputs to element i of its output, so
 * the work splits over elements (bias and the fused ops: over rows) with
 * sl_pool_for; an element's value never depends on the partition. The
 * reductions, the bias gradient db[c] = sum_r dy[r, c] and gelu_skip's dd,
 * sum each column over all rows in row order, so they have the same bits
 * whatever the thread count: bias's split over columns, one thread a
 * column; gelu_skip's dd carried from part to part of its rows' pass, each
 * part adding the rows it has just written (sl_rows_relay, defined here). */
#include "seqlab/fastmath.h"
#include "ops_impl.h"

#include <math.h>

/* Runs fn over [0, n) on the pool, or serially when the problem (work
 * multiply-add equivalents) is too small to be worth waking the threads. */
static void ew_run(sl_tape *tp, size_t n, size_t work, sl_range_fn fn, void *ctx)
{
	if (work < SL_PAR_MIN_WORK)
		fn(ctx, 0, n);
	else
		sl_pool_for(tp->pool, n, fn, ctx);
}

/* What one kernel call needs; unused fields stay NULL. */
typedef struct ew_ctx {
	int op;
	const float *a, *b;   /* inputs (x, or the two operands) */
	const float *y, *dy;  /* output and its gradient */
	float *out;           /* forward output */
	float *keep;          /* gelu, gelu_mul: 1 + erf(x/√2) kept for backward, or NULL */
	float *da, *db;       /* gradients of the inputs, or NULL */
	int fa, fb;           /* da, db fresh: written as 0 + contribution */
	float s;              /* scale */
	size_t C;             /* bias: row length */
	size_t R;             /* bias: row count */
} ew_ctx;

/* ---- add, mul, scale: y = a + b, y = a * b, y = s * a -------------------- */

static void binary_fwd(void *arg, size_t lo, size_t hi)
{
	ew_ctx *c = arg;
	const float *a = c->a, *b = c->b;
	float *y = c->out;
	switch (c->op) {
	case SL_OP_ADD:
		for (size_t i = lo; i < hi; i++)
			y[i] = a[i] + b[i];
		break;
	case SL_OP_MUL:
		for (size_t i = lo; i < hi; i++)
			y[i] = a[i] * b[i];
		break;
	case SL_OP_SCALE:
		for (size_t i = lo; i < hi; i++)
			y[i] = c->s * a[i];
		break;
	default:
		SL_ASSERT(!"not a binary op");
	}
}

/* The old value of a gradient element, or 0 in a fresh buffer (whose
 * contents are garbage: select, do not multiply). */
#define ACC(fresh, g) ((fresh) ? 0.0f : (g))

/* da += dy * d(y)/d(a), db += dy * d(y)/d(b). da and db may be the same buffer
 * (sl_add(x, x)): each element gets both contributions, one after the other
 * (only the first request of a buffer finds it fresh). */
static void binary_bwd(void *arg, size_t lo, size_t hi)
{
	ew_ctx *c = arg;
	const float *a = c->a, *b = c->b, *dy = c->dy;
	float *da = c->da, *db = c->db;
	const int fa = c->fa, fb = c->fb;
	switch (c->op) {
	case SL_OP_ADD:
		if (da && db && da != db) { /* both in one pass over dy */
			for (size_t i = lo; i < hi; i++) {
				da[i] = ACC(fa, da[i]) + dy[i];
				db[i] = ACC(fb, db[i]) + dy[i];
			}
			break;
		}
		if (da)
			for (size_t i = lo; i < hi; i++)
				da[i] = ACC(fa, da[i]) + dy[i];
		if (db)
			for (size_t i = lo; i < hi; i++)
				db[i] = ACC(fb, db[i]) + dy[i];
		break;
	case SL_OP_MUL:
		if (da)
			for (size_t i = lo; i < hi; i++)
				da[i] = ACC(fa, da[i]) + dy[i] * b[i];
		if (db)
			for (size_t i = lo; i < hi; i++)
				db[i] = ACC(fb, db[i]) + dy[i] * a[i];
		break;
	case SL_OP_SCALE:
		for (size_t i = lo; i < hi; i++)
			da[i] = ACC(fa, da[i]) + c->s * dy[i];
		break;
	default:
		SL_ASSERT(!"not a binary op");
	}
}

static sl_tensor *binary(sl_tape *tp, int op, sl_tensor *a, sl_tensor *b)
{
	SL_ASSERT(sl_tensor_same_shape(a, b));
	sl_tensor *ins[2] = { a, b };
	sl_node n = sl_node_make(tp, op, ins, 2, a->ndim, a->shape);
	return sl_tape_apply(tp, &n);
}

sl_tensor *sl_add(sl_tape *tp, sl_tensor *a, sl_tensor *b)
{
	return binary(tp, SL_OP_ADD, a, b);
}

sl_tensor *sl_mul(sl_tape *tp, sl_tensor *a, sl_tensor *b)
{
	return binary(tp, SL_OP_MUL, a, b);
}

sl_tensor *sl_scale(sl_tape *tp, sl_tensor *x, float s)
{
	sl_tensor *ins[1] = { x };
	sl_node n = sl_node_make(tp, SL_OP_SCALE, ins, 1, x->ndim, x->shape);
	n.f[0] = s;
	return sl_tape_apply(tp, &n);
}

static void binary_forward(sl_tape *tp, sl_node *n)
{
	size_t N = sl_tensor_numel(n->out);
	ew_ctx c = { .op = n->op, .a = n->in[0]->data, .b = n->nin > 1 ? n->in[1]->data : NULL,
		     .out = n->out->data, .s = n->f[0] };
	ew_run(tp, N, N, binary_fwd, &c);
}

static void binary_backward(sl_tape *tp, sl_node *n)
{
	sl_tensor *a = n->in[0], *b = n->nin > 1 ? n->in[1] : NULL;
	size_t N = sl_tensor_numel(n->out);
	ew_ctx c = { .op = n->op, .a = a->data, .b = b ? b->data : NULL, .dy = n->out->grad,
		     .s = n->f[0] };
	if (a->requires_grad)
		c.da = sl_tape_grad_fresh(tp, a, &c.fa);
	if (b && b->requires_grad)
		c.db = sl_tape_grad_fresh(tp, b, &c.fb);
	if (c.da || c.db)
		ew_run(tp, N, N, binary_bwd, &c);
}

void sl_op_add_forward(sl_tape *tp, sl_node *n) { binary_forward(tp, n); }
void sl_op_add_backward(sl_tape *tp, sl_node *n) { binary_backward(tp, n); }
void sl_op_mul_forward(sl_tape *tp, sl_node *n) { binary_forward(tp, n); }
void sl_op_mul_backward(sl_tape *tp, sl_node *n) { binary_backward(tp, n); }
void sl_op_scale_forward(sl_tape *tp, sl_node *n) { binary_forward(tp, n); }
void sl_op_scale_backward(sl_tape *tp, sl_node *n) { binary_backward(tp, n); }

/* ---- bias: y (R, C) = x (R, C) + b (C) broadcast over rows ---------------- */

static void bias_fwd_rows(void *arg, size_t lo, size_t hi)
{
	ew_ctx *c = arg;
	for (size_t r = lo; r < hi; r++) {
		const float *x = c->a + r * c->C;
		float *y = c->out + r * c->C;
		for (size_t j = 0; j < c->C; j++)
			y[j] = x[j] + c->b[j];
	}
}

/* dx (R, C) += dy, elementwise over all R*C elements */
static void bias_dx(void *arg, size_t lo, size_t hi)
{
	ew_ctx *c = arg;
	for (size_t i = lo; i < hi; i++)
		c->da[i] += c->dy[i];
}

/* Sixteen columns at a time, their sums held in a vector register over the
 * rows rather than read and written back for every row (the same adds in
 * the same order: the same bits); four (or two: a thread's half of 64
 * columns) such groups side by side, so independent chains of adds overlap
 * rather than each waiting on the one before; the last few columns one by
 * one. */
typedef float colsum_v16 __attribute__((vector_size(64)));

static inline __attribute__((always_inline)) void colsum_group(float *acc, const float *y, size_t R, size_t ld,
							       size_t j0, const int V)
{
	colsum_v16 a[4], t;
	memcpy(a, acc + j0, (size_t)V * sizeof *a);
	for (size_t r = 0; r < R; r++)
		for (int v = 0; v < V; v++) {
			memcpy(&t, y + r * ld + j0 + 16 * v, sizeof t);
			a[v] += t;
		}
	memcpy(acc + j0, a, (size_t)V * sizeof *a);
}

void sl_colsum_add(float *acc, const float *y, size_t R, size_t ld, size_t lo, size_t hi)
{
	size_t j0 = lo;
	for (; j0 + 64 <= hi; j0 += 64)
		colsum_group(acc, y, R, ld, j0, 4);
	for (; j0 + 32 <= hi; j0 += 32)
		colsum_group(acc, y, R, ld, j0, 2);
	for (; j0 + 16 <= hi; j0 += 16)
		colsum_group(acc, y, R, ld, j0, 1);
	for (size_t r = 0; r < R && j0 < hi; r++)
		for (size_t j = j0; j < hi; j++)
			acc[j] += y[r * ld + j];
}

/* acc[j] += sum_r g[r ld + j] x[r ld + j] for the columns j in [lo, hi): each
 * column's products summed in row order from zero, then added to acc[j]
 * (a per-channel scale's gradient: colmul's and gelu_skip's) */
void sl_colsum_prod_add(float *acc, const float *g, const float *x, size_t R, size_t ld, size_t lo, size_t hi)
{
	for (size_t j0 = lo; j0 < hi; j0 += 64) {
		size_t n = hi - j0 < 64 ? hi - j0 : 64;
		float s[64];
		for (size_t j = 0; j < n; j++)
			s[j] = 0.0f;
		for (size_t r = 0; r < R; r++) {
			const float *gr = g + r * ld + j0, *xr = x + r * ld + j0;
			for (size_t j = 0; j < n; j++)
				s[j] += gr[j] * xr[j];
		}
		for (size_t j = 0; j < n; j++)
			acc[j0 + j] += s[j];
	}
}

void sl_colsum_prod_chain(float *acc, float *park, const float *g, const float *x, size_t R, size_t ld, size_t lo,
			  size_t hi, int first, int last)
{
	for (size_t j0 = lo; j0 < hi; j0 += 64) {
		size_t n = hi - j0 < 64 ? hi - j0 : 64;
		float s[64];
		for (size_t j = 0; j < n; j++)
			s[j] = first ? 0.0f : park[j0 + j];
		for (size_t r = 0; r < R; r++) {
			const float *gr = g + r * ld + j0, *xr = x + r * ld + j0;
			for (size_t j = 0; j < n; j++)
				s[j] += gr[j] * xr[j];
		}
		for (size_t j = 0; j < n; j++) {
			if (last)
				acc[j0 + j] += s[j];
			else
				park[j0 + j] = s[j];
		}
	}
}

typedef struct relay_ctx {
	size_t R;
	sl_range_fn rows;
	sl_cols_fn cols;
	void *ctx;
	int stage;
} relay_ctx;

static void relay_task(void *arg, int tid, int nth)
{
	relay_ctx *c = arg;
	size_t lo, hi;
	sl_range(c->R, tid, nth, &lo, &hi);
	if (c->rows && lo < hi)
		c->rows(c->ctx, lo, hi);
	if (!c->cols)
		return;
	sl_relay_wait(&c->stage, tid);
	c->cols(c->ctx, lo, hi, tid == 0, tid == nth - 1);
	sl_relay_pass(&c->stage, tid);
}

void sl_rows_relay(sl_tape *tp, size_t R, size_t work, sl_range_fn rows, sl_cols_fn cols, void *ctx)
{
	if (!tp->pool || work < SL_PAR_MIN_WORK) {
		if (rows)
			rows(ctx, 0, R);
		if (cols)
			cols(ctx, 0, R, 1, 1);
		return;
	}
	relay_ctx c = { R, rows, cols, ctx, 0 };
	sl_pool_run(tp->pool, relay_task, &c);
}

/* db[j] += sum_r dy[r, j] for the columns j in [lo, hi), rows in order */
static void bias_db_cols(void *arg, size_t lo, size_t hi)
{
	ew_ctx *c = arg;
	sl_colsum_add(c->db, c->dy, c->R, c->C, lo, hi);
}

sl_tensor *sl_bias(sl_tape *tp, sl_tensor *x, sl_tensor *b)
{
	SL_ASSERT(b->ndim == 1 && b->shape[0] == sl_tensor_dim(x, -1));
	sl_tensor *ins[2] = { x, b };
	sl_node n = sl_node_make(tp, SL_OP_BIAS, ins, 2, x->ndim, x->shape);
	return sl_tape_apply(tp, &n);
}

void sl_op_bias_forward(sl_tape *tp, sl_node *n)
{
	sl_tensor *x = n->in[0];
	ew_ctx c = { .a = x->data, .b = n->in[1]->data, .out = n->out->data,
		     .R = sl_tensor_rows(x), .C = (size_t)sl_tensor_dim(x, -1) };
	ew_run(tp, c.R, c.R * c.C, bias_fwd_rows, &c);
}

void sl_op_bias_backward(sl_tape *tp, sl_node *n)
{
	sl_tensor *x = n->in[0], *b = n->in[1];
	ew_ctx c = { .dy = n->out->grad, .R = sl_tensor_rows(x), .C = (size_t)sl_tensor_dim(x, -1) };
	if (x->requires_grad) {
		c.da = sl_tape_grad(tp, x);
		ew_run(tp, c.R * c.C, c.R * c.C, bias_dx, &c);
	}
	if (b->requires_grad) {
		c.db = sl_tape_grad(tp, b);
		ew_run(tp, c.C, c.R * c.C, bias_db_cols, &c);
	}
}

/* ---- activations: y = f(x), dx += dy * f'(x) ------------------------------ */

/* gelu(x) = x Phi(x) = x/2 (1 + erf(x/sqrt 2)); gelu'(x) = Phi(x) + x phi(x),
 * phi(x) = e^(-x^2/2) / sqrt(2 pi). */
static inline float gelu_f(float x)
{
	return 0.5f * x * (1.0f + sl_ferf(x * SQRT1_2F));
}

static inline float gelu_d(float x)
{
	return 0.5f * (1.0f + sl_ferf(x * SQRT1_2F)) + x * INV_SQRT_2PIF * sl_fexp(-0.5f * x * x);
}

/* softplus: sl_fsoftplus_body, then x itself above SL_SOFTPLUS_THRESHOLD
 * (fastmath.h); softplus'(x) = sigmoid(x), = 1 above it. The threshold is
 * applied by a second loop: in the same loop GCC turns the choice into a
 * branch around the logarithm and vectorises nothing. */
static void act_fwd(void *arg, size_t lo, size_t hi)
{
	ew_ctx *c = arg;
	const float *x = c->a;
	float *y = c->out;
	switch (c->op) {
	case SL_OP_GELU:
		if (c->keep) { /* gelu_f's terms, its 1 + erf kept for backward */
			float *q = c->keep;
			for (size_t i = lo; i < hi; i++) {
				q[i] = sl_gelu_q(x[i]);
				y[i] = sl_gelu_fq(x[i], q[i]);
			}
			break;
		}
		for (size_t i = lo; i < hi; i++)
			y[i] = gelu_f(x[i]);
		break;
	case SL_OP_SILU: /* x sigmoid(x) */
		for (size_t i = lo; i < hi; i++)
			y[i] = x[i] * sl_fsigmoid(x[i]);
		break;
	case SL_OP_RELU:
		for (size_t i = lo; i < hi; i++)
			y[i] = x[i] > 0.0f ? x[i] : 0.0f;
		break;
	case SL_OP_TANH:
		for (size_t i = lo; i < hi; i++)
			y[i] = sl_ftanh(x[i]);
		break;
	case SL_OP_SIGMOID:
		for (size_t i = lo; i < hi; i++)
			y[i] = sl_fsigmoid(x[i]);
		break;
	case SL_OP_SOFTPLUS:
		for (size_t i = lo; i < hi; i++)
			y[i] = sl_fsoftplus_body(x[i]);
		for (size_t i = lo; i < hi; i++)
			y[i] = x[i] > SL_SOFTPLUS_THRESHOLD ? x[i] : y[i];
		break;
	case SL_OP_EXP:
		for (size_t i = lo; i < hi; i++)
			y[i] = sl_fexp(x[i]);
		break;
	default:
		SL_ASSERT(!"not an activation");
	}
}

/* dx += dy * f'(x); the derivative is taken from x or, where cheaper, from
 * the saved output y. */
static void act_bwd(void *arg, size_t lo, size_t hi)
{
	ew_ctx *c = arg;
	const float *x = c->a, *y = c->y, *dy = c->dy;
	float *dx = c->da;
	const int fa = c->fa;
	switch (c->op) {
	case SL_OP_GELU:
		if (c->keep) { /* gelu_d with forward's 1 + erf: the same expression */
			const float *q = c->keep;
			for (size_t i = lo; i < hi; i++)
				dx[i] = ACC(fa, dx[i]) + dy[i] * sl_gelu_dq(x[i], q[i]);
			break;
		}
		for (size_t i = lo; i < hi; i++)
			dx[i] = ACC(fa, dx[i]) + dy[i] * gelu_d(x[i]);
		break;
	case SL_OP_SILU: /* s + x s (1 - s), s = sigmoid(x) */
		for (size_t i = lo; i < hi; i++) {
			float s = sl_fsigmoid(x[i]);
			dx[i] = ACC(fa, dx[i]) + dy[i] * (s * (1.0f + x[i] * (1.0f - s)));
		}
		break;
	case SL_OP_RELU: /* 1 for x > 0, else 0 (0 at the kink) */
		for (size_t i = lo; i < hi; i++)
			dx[i] = x[i] > 0.0f ? ACC(fa, dx[i]) + dy[i] : ACC(fa, dx[i]);
		break;
	case SL_OP_TANH: /* 1 - y^2 */
		for (size_t i = lo; i < hi; i++)
			dx[i] = ACC(fa, dx[i]) + dy[i] * (1.0f - y[i] * y[i]);
		break;
	case SL_OP_SIGMOID: /* y (1 - y) */
		for (size_t i = lo; i < hi; i++)
			dx[i] = ACC(fa, dx[i]) + dy[i] * (y[i] * (1.0f - y[i]));
		break;
	case SL_OP_SOFTPLUS: /* sigmoid(x), exactly 1 on the identity branch */
		for (size_t i = lo; i < hi; i++)
			dx[i] = ACC(fa, dx[i]) + (x[i] > SL_SOFTPLUS_THRESHOLD ? dy[i] : dy[i] * sl_fsigmoid(x[i]));
		break;
	case SL_OP_EXP: /* y */
		for (size_t i = lo; i < hi; i++)
			dx[i] = ACC(fa, dx[i]) + dy[i] * y[i];
		break;
	default:
		SL_ASSERT(!"not an activation");
	}
}

static sl_tensor *activation(sl_tape *tp, int op, sl_tensor *x)
{
	sl_tensor *ins[1] = { x };
	sl_node n = sl_node_make(tp, op, ins, 1, x->ndim, x->shape);
	return sl_tape_apply(tp, &n);
}

/* Transcendental activations cost several multiply-adds per element, so
 * they go parallel from a quarter of SL_PAR_MIN_WORK elements on. */
#define ACT_COST 4

static void act_forward(sl_tape *tp, sl_node *n)
{
	size_t N = sl_tensor_numel(n->out);
	ew_ctx c = { .op = n->op, .a = n->in[0]->data, .out = n->out->data };
	/* GELU with a gradient to come keeps 1 + erf(x/√2): backward then needs
	 * only the exponential */
	if (n->op == SL_OP_GELU && n->out->requires_grad && n->in[0]->requires_grad)
		c.keep = n->saved = sl_arena_alloc(tp->arena, N * sizeof(float));
	ew_run(tp, N, ACT_COST * N, act_fwd, &c);
}

static void act_backward(sl_tape *tp, sl_node *n)
{
	sl_tensor *x = n->in[0];
	if (!x->requires_grad)
		return;
	size_t N = sl_tensor_numel(n->out);
	ew_ctx c = { .op = n->op, .a = x->data, .y = n->out->data, .dy = n->out->grad };
	if (n->op == SL_OP_GELU)
		c.keep = n->saved; /* NULL: gelu_d from x alone */
	c.da = sl_tape_grad_fresh(tp, x, &c.fa);
	ew_run(tp, N, ACT_COST * N, act_bwd, &c);
}

sl_tensor *sl_gelu(sl_tape *tp, sl_tensor *x) { return activation(tp, SL_OP_GELU, x); }
sl_tensor *sl_silu(sl_tape *tp, sl_tensor *x) { return activation(tp, SL_OP_SILU, x); }
sl_tensor *sl_relu(sl_tape *tp, sl_tensor *x) { return activation(tp, SL_OP_RELU, x); }
sl_tensor *sl_tanh(sl_tape *tp, sl_tensor *x) { return activation(tp, SL_OP_TANH, x); }
sl_tensor *sl_sigmoid(sl_tape *tp, sl_tensor *x) { return activation(tp, SL_OP_SIGMOID, x); }
sl_tensor *sl_softplus(sl_tape *tp, sl_tensor *x) { return activation(tp, SL_OP_SOFTPLUS, x); }
sl_tensor *sl_exp(sl_tape *tp, sl_tensor *x) { return activation(tp, SL_OP_EXP, x); }

void sl_op_gelu_forward(sl_tape *tp, sl_node *n) { act_forward(tp, n); }
void sl_op_gelu_backward(sl_tape *tp, sl_node *n) { act_backward(tp, n); }
void sl_op_silu_forward(sl_tape *tp, sl_node *n) { act_forward(tp, n); }
void sl_op_silu_backward(sl_tape *tp, sl_node *n) { act_backward(tp, n); }
void sl_op_relu_forward(sl_tape *tp, sl_node *n) { act_forward(tp, n); }
void sl_op_relu_backward(sl_tape *tp, sl_node *n) { act_backward(tp, n); }
void sl_op_tanh_forward(sl_tape *tp, sl_node *n) { act_forward(tp, n); }
void sl_op_tanh_backward(sl_tape *tp, sl_node *n) { act_backward(tp, n); }
void sl_op_sigmoid_forward(sl_tape *tp, sl_node *n) { act_forward(tp, n); }
void sl_op_sigmoid_backward(sl_tape *tp, sl_node *n) { act_backward(tp, n); }
void sl_op_softplus_forward(sl_tape *tp, sl_node *n) { act_forward(tp, n); }
void sl_op_softplus_backward(sl_tape *tp, sl_node *n) { act_backward(tp, n); }
void sl_op_exp_forward(sl_tape *tp, sl_node *n) { act_forward(tp, n); }
void sl_op_exp_backward(sl_tape *tp, sl_node *n) { act_backward(tp, n); }

/* ---- gelu(x) * u in one pass ----------------------------------------------
 * Forward y = gelu(x) u; backward du += dy gelu(x), dx += (0 + dy u) gelu'(x):
 * sl_mul's and sl_gelu's expressions, the intermediate gradient rounded as
 * the fresh buffer between them held it, so the bits of the two ops. With a
 * gradient to come, forward keeps 1 + erf(x/√2) (n->saved) for gelu(x) and
 * gelu'(x) in backward, the same expressions: only the exponential left. */

static void gelu_mul_fwd(void *arg, size_t lo, size_t hi)
{
	ew_ctx *c = arg;
	const float *x = c->a, *u = c->b;
	float *y = c->out, *q = c->keep;
	if (!q) {
		for (size_t i = lo; i < hi; i++)
			y[i] = gelu_f(x[i]) * u[i];
		return;
	}
	for (size_t i = lo; i < hi; i++) { /* gelu_f's terms, its 1 + erf kept */
		q[i] = 1.0f + sl_ferf(x[i] * SQRT1_2F);
		y[i] = 0.5f * x[i] * q[i] * u[i];
	}
}

/* da (x's) and db (u's) may be one buffer (sl_gelu_mul(x, x)): then u's
 * contribution first, as sl_mul's backward ran before sl_gelu's */
static void gelu_mul_bwd(void *arg, size_t lo, size_t hi)
{
	ew_ctx *c = arg;
	const float *x = c->a, *u = c->b, *dy = c->dy, *q = c->y;
	float *dx = c->da, *du = c->db;
	const int fx = c->fa, fu = c->fb;
	if (dx && du && dx != du) {
		for (size_t i = lo; i < hi; i++) {
			du[i] = ACC(fu, du[i]) + dy[i] * sl_gelu_fq(x[i], q[i]);
			dx[i] = ACC(fx, dx[i]) + (0.0f + dy[i] * u[i]) * sl_gelu_dq(x[i], q[i]);
		}
		return;
	}
	if (du)
		for (size_t i = lo; i < hi; i++)
			du[i] = ACC(fu, du[i]) + dy[i] * sl_gelu_fq(x[i], q[i]);
	if (dx)
		for (size_t i = lo; i < hi; i++)
			dx[i] = ACC(fx, dx[i]) + (0.0f + dy[i] * u[i]) * sl_gelu_dq(x[i], q[i]);
}

sl_tensor *sl_gelu_mul(sl_tape *tp, sl_tensor *x, sl_tensor *u)
{
	SL_ASSERT(sl_tensor_same_shape(x, u));
	sl_tensor *ins[2] = { x, u };
	sl_node n = sl_node_make(tp, SL_OP_GELU_MUL, ins, 2, x->ndim, x->shape);
	return sl_tape_apply(tp, &n);
}

void sl_op_gelu_mul_forward(sl_tape *tp, sl_node *n)
{
	size_t N = sl_tensor_numel(n->out);
	ew_ctx c = { .a = n->in[0]->data, .b = n->in[1]->data, .out = n->out->data };
	if (n->out->requires_grad) /* 1 + erf(x/√2): backward then needs only the exponential */
		c.keep = n->saved = sl_arena_alloc(tp->arena, N * sizeof(float));
	ew_run(tp, N, ACT_COST * N, gelu_mul_fwd, &c);
}

void sl_op_gelu_mul_backward(sl_tape *tp, sl_node *n)
{
	sl_tensor *x = n->in[0], *u = n->in[1];
	size_t N = sl_tensor_numel(n->out);
	SL_ASSERT(n->saved);
	ew_ctx c = { .a = x->data, .b = u->data, .y = n->saved, .dy = n->out->grad };
	if (u->requires_grad)
		c.db = sl_tape_grad_fresh(tp, u, &c.fb);
	if (x->requires_grad)
		c.da = sl_tape_grad_fresh(tp, x, &c.fa);
	if (c.da || c.db)
		ew_run(tp, N, ACT_COST * N, gelu_mul_bwd, &c);
}

/* ---- fused: a GELU after a per-channel skip, a gated residual ---------------
 *
 * gelu_skip: g = gelu(a + x ⊙ d), a and x (R, C), d (C) broadcast over rows:
 * sl_gelu(sl_add(a, sl_colmul(x, d))) in one pass, y = a + x ⊙ d kept for
 * backward with GELU's 1 + erf(y/√2) (backward's derivative then needs only
 * the exponential); with d NULL, gelu(a + x): sl_gelu(sl_add(a, x)). glu_residual: h + a ⊙ σ(b), h, a and b (R, C), or b NULL and a
 * (R, 2C) whose halves are a and b: sl_add(h, sl_mul(a, sl_sigmoid(b))) (with
 * sl_slice for the halves) in one pass, σ(b) kept for backward. Each element
 * is rounded step by step as the chain of ops rounds it (the build contracts
 * nothing into fused multiply-adds), and the gradients are the chain's (a
 * fresh buffer takes 0 + contribution, as the ops' fresh gradients do), so
 * the fused op keeps the chain's bits wherever the chain's gradients reach
 * each buffer in the same order. dd's column sums run over the rows in
 * order, as colmul's do. */

typedef struct fz_ctx {
	size_t R, C;
	const float *a, *x, *d, *h, *b;
	size_t lda;           /* glu_residual: row stride of a and b (C, or 2C for the halves) */
	float *keep;          /* saved: y = a + x d (gelu_skip), σ(b) (glu_residual) */
	float *out;
	const float *dy;
	float *t;             /* gelu_skip backward: the sum's gradient dy gelu'(y) */
	float *park;          /* gelu_skip backward: dd's sums between parts (C) */
	float *da, *dx, *db, *dh, *dd;
	int fa, fb, fh, fx, split;
} fz_ctx;

static void gelu_skip_fwd(void *arg, size_t lo, size_t hi)
{
	fz_ctx *c = arg;
	const size_t C = c->C;
	for (size_t r = lo; r < hi; r++) {
		const float *a = c->a + r * C, *x = c->x + r * C;
		float *y = c->keep + r * C, *g = c->out + r * C;
		if (c->d)
			for (size_t j = 0; j < C; j++) {
				float p = x[j] * c->d[j];
				y[j] = a[j] + p;
			}
		else
			for (size_t j = 0; j < C; j++)
				y[j] = a[j] + x[j];
		/* gelu_f's terms, its 1 + erf kept for backward: gelu_d's first term */
		float *q = c->keep + c->R * C + r * C;
		for (size_t j = 0; j < C; j++) {
			q[j] = 1.0f + sl_ferf(y[j] * SQRT1_2F);
			g[j] = 0.5f * y[j] * q[j];
		}
	}
}

/* t = 0 + dy gelu'(y) (gelu's fresh gradient of the sum), da += t, dx += t d */
static void gelu_skip_bwd(void *arg, size_t lo, size_t hi)
{
	fz_ctx *c = arg;
	const size_t C = c->C;
	for (size_t r = lo; r < hi; r++) {
		const float *y = c->keep + r * C, *q = c->keep + c->R * C + r * C, *dy = c->dy + r * C;
		float *t = c->t + r * C;
		for (size_t j = 0; j < C; j++) { /* gelu_d(y) with forward's 1 + erf */
			float gd = 0.5f * q[j] + y[j] * INV_SQRT_2PIF * sl_fexp(-0.5f * y[j] * y[j]);
			t[j] = 0.0f + dy[j] * gd;
		}
		if (c->da && c->da != c->t) {
			float *da = c->da + r * C;
			for (size_t j = 0; j < C; j++)
				da[j] = ACC(c->fa, da[j]) + t[j];
		}
		if (c->dx && c->d) {
			float *dx = c->dx + r * C;
			for (size_t j = 0; j < C; j++)
				dx[j] = ACC(c->fx, dx[j]) + t[j] * c->d[j];
		} else if (c->dx) { /* add's second gradient */
			float *dx = c->dx + r * C;
			for (size_t j = 0; j < C; j++)
				dx[j] = ACC(c->fx, dx[j]) + t[j];
		}
	}
}

/* dd[j] += sum_r t[r, j] x[r, j] over the rows [lo, hi), every column, the
 * sums parked between parts */
static void gelu_skip_dd(void *arg, size_t lo, size_t hi, int first, int last)
{
	fz_ctx *c = arg;
	sl_colsum_prod_chain(c->dd, c->park, c->t + lo * c->C, c->x + lo * c->C, hi - lo, c->C, 0, c->C, first, last);
}

sl_tensor *sl_gelu_skip(sl_tape *tp, sl_tensor *a, sl_tensor *x, sl_tensor *d)
{
	SL_ASSERT(sl_tensor_same_shape(a, x));
	SL_ASSERT(!d || (d->ndim == 1 && d->shape[0] == sl_tensor_dim(x, -1)));
	sl_tensor *ins[3] = { a, x, d };
	sl_node n = sl_node_make(tp, SL_OP_GELU_SKIP, ins, d ? 3 : 2, a->ndim, a->shape);
	return sl_tape_apply(tp, &n);
}

void sl_op_gelu_skip_forward(sl_tape *tp, sl_node *n)
{
	const sl_tensor *a = n->in[0];
	fz_ctx c = { .R = sl_tensor_rows(a), .C = (size_t)sl_tensor_dim(a, -1), .a = a->data,
		     .x = n->in[1]->data, .d = n->nin > 2 ? n->in[2]->data : NULL, .out = n->out->data };
	size_t N = c.R * c.C;
	c.keep = n->saved = sl_arena_alloc(tp->arena, 2 * N * sizeof(float)); /* y, then 1 + erf(y/√2) */
	ew_run(tp, c.R, ACT_COST * N, gelu_skip_fwd, &c);
}

void sl_op_gelu_skip_backward(sl_tape *tp, sl_node *n)
{
	sl_tensor *a = n->in[0], *x = n->in[1], *d = n->nin > 2 ? n->in[2] : NULL;
	fz_ctx c = { .R = sl_tensor_rows(a), .C = (size_t)sl_tensor_dim(a, -1), .x = x->data,
		     .d = d ? d->data : NULL, .keep = n->saved, .dy = n->out->grad };
	size_t N = c.R * c.C;
	/* the chain's order: add's gradients (a, then colmul's output), then
	 * colmul's (x, then d) */
	if (a->requires_grad)
		c.da = sl_tape_grad_fresh(tp, a, &c.fa);
	if (x->requires_grad)
		c.dx = sl_tape_grad_fresh(tp, x, &c.fx);
	if (d && d->requires_grad)
		c.dd = sl_tape_grad(tp, d);
	if (!c.da && !c.dx && !c.dd)
		return;
	/* a fresh da takes exactly t (0 + t = t): t is written there, unless
	 * dx is the same buffer (a and x one tensor) */
	c.t = c.da && c.fa && c.da != c.dx ? c.da : sl_arena_alloc(tp->arena, N * sizeof(float));
	if (c.dd)
		c.park = sl_arena_alloc(tp->arena, c.C * sizeof(float));
	/* dd needs t: the rows' pass writes it (into da when fresh) */
	sl_rows_relay(tp, c.R, ACT_COST * N, gelu_skip_bwd, c.dd ? gelu_skip_dd : NULL, &c);
}

static void glu_res_fwd(void *arg, size_t lo, size_t hi)
{
	fz_ctx *c = arg;
	const size_t C = c->C;
	for (size_t r = lo; r < hi; r++) {
		const float *h = c->h + r * C, *a = c->a + r * c->lda, *b = c->b + r * c->lda;
		float *s = c->keep + r * C, *y = c->out + r * C;
		for (size_t j = 0; j < C; j++)
			s[j] = sl_fsigmoid(b[j]);
		for (size_t j = 0; j < C; j++) {
			float m = a[j] * s[j];
			y[j] = h[j] + m;
		}
	}
}

/* the chain's backward: dh += dy; the product's fresh gradient g = 0 + dy;
 * da += g s, the sigmoid's fresh gradient q = 0 + g a, db += q s (1 - s) (the
 * halves: slice adds 0 + each into a zeroed buffer) */
static void glu_res_bwd(void *arg, size_t lo, size_t hi)
{
	fz_ctx *c = arg;
	const size_t C = c->C;
	for (size_t r = lo; r < hi; r++) {
		const float *dy = c->dy + r * C, *s = c->keep + r * C, *a = c->a + r * c->lda;
		if (c->dh) {
			float *dh = c->dh + r * C;
			for (size_t j = 0; j < C; j++)
				dh[j] = ACC(c->fh, dh[j]) + dy[j];
		}
		if (c->da) {
			float *da = c->da + r * c->lda;
			if (c->split)
				for (size_t j = 0; j < C; j++)
					da[j] = ACC(c->fa, da[j]) + (0.0f + (0.0f + dy[j]) * s[j]);
			else
				for (size_t j = 0; j < C; j++)
					da[j] = ACC(c->fa, da[j]) + (0.0f + dy[j]) * s[j];
		}
		if (c->db) {
			float *db = c->db + r * c->lda;
			if (c->split)
				for (size_t j = 0; j < C; j++) {
					float q = 0.0f + (0.0f + dy[j]) * a[j];
					db[j] = ACC(c->fb, db[j]) + (0.0f + q * (s[j] * (1.0f - s[j])));
				}
			else
				for (size_t j = 0; j < C; j++) {
					float q = 0.0f + (0.0f + dy[j]) * a[j];
					db[j] = ACC(c->fb, db[j]) + q * (s[j] * (1.0f - s[j]));
				}
		}
	}
}

sl_tensor *sl_glu_residual(sl_tape *tp, sl_tensor *h, sl_tensor *a, sl_tensor *b)
{
	int C = sl_tensor_dim(h, -1);
	SL_ASSERT(a->ndim == h->ndim && sl_tensor_rows(a) == sl_tensor_rows(h));
	SL_ASSERT(b ? sl_tensor_same_shape(a, h) && sl_tensor_same_shape(b, h) : sl_tensor_dim(a, -1) == 2 * C);
	sl_tensor *ins[3] = { h, a, b };
	sl_node n = sl_node_make(tp, SL_OP_GLU_RESIDUAL, ins, b ? 3 : 2, h->ndim, h->shape);
	return sl_tape_apply(tp, &n);
}

static fz_ctx glu_res_ctx(const sl_node *n)
{
	const sl_tensor *h = n->in[0], *a = n->in[1];
	fz_ctx c = { .R = sl_tensor_rows(h), .C = (size_t)sl_tensor_dim(h, -1), .h = h->data, .a = a->data,
		     .split = n->nin == 2 };
	c.lda = c.split ? 2 * c.C : c.C;
	c.b = c.split ? a->data + c.C : n->in[2]->data;
	return c;
}

void sl_op_glu_residual_forward(sl_tape *tp, sl_node *n)
{
	fz_ctx c = glu_res_ctx(n);
	size_t N = c.R * c.C;
	c.out = n->out->data;
	c.keep = n->saved = sl_arena_alloc(tp->arena, N * sizeof(float));
	ew_run(tp, c.R, ACT_COST * N, glu_res_fwd, &c);
}

void sl_op_glu_residual_backward(sl_tape *tp, sl_node *n)
{
	sl_tensor *h = n->in[0], *a = n->in[1], *b = n->nin > 2 ? n->in[2] : NULL;
	fz_ctx c = glu_res_ctx(n);
	size_t N = c.R * c.C;
	c.keep = n->saved;
	c.dy = n->out->grad;
	if (h->requires_grad)
		c.dh = sl_tape_grad_fresh(tp, h, &c.fh);
	if (c.split) { /* one buffer for both halves: written whole, fresh or not */
		if (a->requires_grad) {
			c.da = sl_tape_grad_fresh(tp, a, &c.fa);
			c.db = c.da + c.C;
			c.fb = c.fa;
		}
	} else {
		if (a->requires_grad)
			c.da = sl_tape_grad_fresh(tp, a, &c.fa);
		if (b->requires_grad)
			c.db = sl_tape_grad_fresh(tp, b, &c.fb);
	}
	if (c.dh || c.da || c.db)
		ew_run(tp, c.R, ACT_COST * N, glu_res_bwd, &c);
}
