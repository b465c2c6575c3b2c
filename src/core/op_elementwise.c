/* op_elementwise.c - sums, products, bias and the pointwise activations.
 *
 * Every op here maps element i of its inputs to element i of its output, so
 * the work splits over elements (bias: over rows) with sl_pool_for; an
 * element's value never depends on the partition. The one reduction, the
 * bias gradient db[c] = sum_r dy[r, c], splits over *columns*: each column is
 * summed over all rows in row order by one thread, so db has the same bits
 * whatever the thread count. */
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
 * the same order: the same bits); the last few columns one by one. */
typedef float colsum_v16 __attribute__((vector_size(64)));

void sl_colsum_add(float *acc, const float *y, size_t R, size_t ld, size_t lo, size_t hi)
{
	size_t j0 = lo;
	for (; j0 + 16 <= hi; j0 += 16) {
		colsum_v16 a, t;
		memcpy(&a, acc + j0, sizeof a);
		for (size_t r = 0; r < R; r++) {
			memcpy(&t, y + r * ld + j0, sizeof t);
			a += t;
		}
		memcpy(acc + j0, &a, sizeof a);
	}
	for (size_t r = 0; r < R && j0 < hi; r++)
		for (size_t j = j0; j < hi; j++)
			acc[j] += y[r * ld + j];
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

#define SQRT1_2F 0.70710678118654752f   /* 1/sqrt(2) */
#define INV_SQRT_2PIF 0.39894228040143268f /* 1/sqrt(2 pi) */

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
	ew_run(tp, N, ACT_COST * N, act_fwd, &c);
}

static void act_backward(sl_tape *tp, sl_node *n)
{
	sl_tensor *x = n->in[0];
	if (!x->requires_grad)
		return;
	size_t N = sl_tensor_numel(n->out);
	ew_ctx c = { .op = n->op, .a = x->data, .y = n->out->data, .dy = n->out->grad };
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
