/* op_shape.c - ops that move data without arithmetic: reshape, transpose,
 * slice, concat, and the embedding lookup.
 *
 * Every forward pass writes each output element from exactly one input
 * element, so the backward passes are scatters that never collide within one
 * input: they split over output rows like the forward pass. The one exception
 * is the embedding, where many ids may name the same table row; its backward
 * splits the D columns over the threads and walks the ids in order, so each
 * dtable element is summed in the same order whatever the thread count. */
#include "ops_impl.h"

#include <string.h>

/* Runs fn over [0, n) on the pool, or serially when fewer than
 * SL_PAR_MIN_WORK elements move. */
static void sh_run(sl_tape *tp, size_t n, size_t work, sl_range_fn fn, void *ctx)
{
	if (work < SL_PAR_MIN_WORK)
		fn(ctx, 0, n);
	else
		sl_pool_for(tp->pool, n, fn, ctx);
}

/* A dimension index in [0, ndim); negative counts from the end. */
static int sh_dim(int d, int ndim)
{
	if (d < 0)
		d += ndim;
	SL_ASSERT(d >= 0 && d < ndim);
	return d;
}

/* ---- reshape: the same data under another shape -------------------------- */

sl_tensor *sl_reshape(sl_tape *tp, sl_tensor *x, int ndim, const int *shape)
{
	/* The output aliases x->data, so it is built here rather than by
	 * sl_node_make (which would allocate fresh data). */
	sl_tensor *out = sl_arena_calloc(tp->arena, sizeof *out);
	size_t n = sl_shape_set(out, ndim, shape);
	SL_ASSERT(n == sl_tensor_numel(x));
	out->data = x->data;
	sl_tensor *ins[1] = { x };
	sl_node nd = { 0 };
	nd.op = SL_OP_RESHAPE;
	nd.in = ins;
	nd.nin = 1;
	nd.out = out;
	return sl_tape_apply(tp, &nd);
}

void sl_op_reshape_forward(sl_tape *tp, sl_node *n)
{
	(void)tp;
	(void)n; /* out->data is x->data: nothing to compute */
}

typedef struct add_ctx {
	const float *src;
	float *dst;
} add_ctx;

static void add_range(void *arg, size_t lo, size_t hi)
{
	add_ctx *c = arg;
	for (size_t i = lo; i < hi; i++)
		c->dst[i] += c->src[i];
}

void sl_op_reshape_backward(sl_tape *tp, sl_node *n)
{
	sl_tensor *x = n->in[0];
	if (!x->requires_grad)
		return;
	/* dx (numel) += dy (numel): the layouts are the same */
	add_ctx c = { n->out->grad, sl_tape_grad(tp, x) };
	size_t numel = sl_tensor_numel(x);
	sh_run(tp, numel, numel, add_range, &c);
}

/* ---- transpose: y = x with dimensions d0 and d1 swapped ------------------ */

/* Both tensors are seen as 4-D by padding leading 1s. Output row r (all
 * indices but the last) and column j take input element
 *   x[sum_k i_k * st[perm[k]]],   (i_0, i_1, i_2) = unravel(r), i_3 = j,
 * where st are x's strides and perm swaps the two dimensions. */
typedef struct tr_ctx {
	int oshape[4];        /* output shape, padded */
	size_t ostr[4];       /* input stride of each output dimension */
	const float *x, *dy;
	float *y, *dx;
} tr_ctx;

static tr_ctx tr_ctx_of(const sl_tensor *x, int d0, int d1)
{
	tr_ctx c = { 0 };
	int pad = SL_MAXDIM - x->ndim, ishape[4], perm[4];
	size_t st[4];
	for (int k = 0; k < 4; k++) {
		ishape[k] = k < pad ? 1 : x->shape[k - pad];
		perm[k] = k;
	}
	st[3] = 1;
	for (int k = 2; k >= 0; k--)
		st[k] = st[k + 1] * (size_t)ishape[k + 1];
	perm[d0 + pad] = d1 + pad;
	perm[d1 + pad] = d0 + pad;
	for (int k = 0; k < 4; k++) {
		c.oshape[k] = ishape[perm[k]];
		c.ostr[k] = st[perm[k]];
	}
	return c;
}

/* Input offset of the first element of output row r. */
static size_t tr_base(const tr_ctx *c, size_t r)
{
	size_t i2 = r % (size_t)c->oshape[2];
	r /= (size_t)c->oshape[2];
	size_t i1 = r % (size_t)c->oshape[1];
	size_t i0 = r / (size_t)c->oshape[1];
	return i0 * c->ostr[0] + i1 * c->ostr[1] + i2 * c->ostr[2];
}

static void tr_fwd_rows(void *arg, size_t lo, size_t hi)
{
	tr_ctx *c = arg;
	size_t n3 = (size_t)c->oshape[3], s3 = c->ostr[3];
	for (size_t r = lo; r < hi; r++) {
		const float *src = c->x + tr_base(c, r);
		float *dst = c->y + r * n3;
		if (s3 == 1)
			memcpy(dst, src, n3 * sizeof(float));
		else
			for (size_t j = 0; j < n3; j++)
				dst[j] = src[j * s3];
	}
}

/* dx[perm(r, j)] += dy[r, j]: a bijection, so rows never collide. */
static void tr_bwd_rows(void *arg, size_t lo, size_t hi)
{
	tr_ctx *c = arg;
	size_t n3 = (size_t)c->oshape[3], s3 = c->ostr[3];
	for (size_t r = lo; r < hi; r++) {
		float *dst = c->dx + tr_base(c, r);
		const float *src = c->dy + r * n3;
		for (size_t j = 0; j < n3; j++)
			dst[j * s3] += src[j];
	}
}

sl_tensor *sl_transpose(sl_tape *tp, sl_tensor *x, int d0, int d1)
{
	d0 = sh_dim(d0, x->ndim);
	d1 = sh_dim(d1, x->ndim);
	int shape[SL_MAXDIM];
	memcpy(shape, x->shape, sizeof shape);
	shape[d0] = x->shape[d1];
	shape[d1] = x->shape[d0];
	sl_tensor *ins[1] = { x };
	sl_node n = sl_node_make(tp, SL_OP_TRANSPOSE, ins, 1, x->ndim, shape);
	n.i[0] = d0;
	n.i[1] = d1;
	return sl_tape_apply(tp, &n);
}

void sl_op_transpose_forward(sl_tape *tp, sl_node *n)
{
	tr_ctx c = tr_ctx_of(n->in[0], n->i[0], n->i[1]);
	c.x = n->in[0]->data;
	c.y = n->out->data;
	size_t numel = sl_tensor_numel(n->out);
	sh_run(tp, numel / (size_t)c.oshape[3], numel, tr_fwd_rows, &c);
}

void sl_op_transpose_backward(sl_tape *tp, sl_node *n)
{
	sl_tensor *x = n->in[0];
	if (!x->requires_grad)
		return;
	tr_ctx c = tr_ctx_of(x, n->i[0], n->i[1]);
	c.dy = n->out->grad;
	c.dx = sl_tape_grad(tp, x);
	size_t numel = sl_tensor_numel(n->out);
	sh_run(tp, numel / (size_t)c.oshape[3], numel, tr_bwd_rows, &c);
}

/* ---- slice and concat: blocks along one dimension ------------------------ */

/* A tensor seen as (outer, size, inner) around dimension dim. */
static void sh_split(const sl_tensor *t, int dim, size_t *outer, size_t *inner)
{
	*outer = 1;
	*inner = 1;
	for (int k = 0; k < dim; k++)
		*outer *= (size_t)t->shape[k];
	for (int k = dim + 1; k < t->ndim; k++)
		*inner *= (size_t)t->shape[k];
}

/* slice: y (outer, len, inner) = x (outer, size, inner)[:, start:start+len, :];
 * each outer row is one contiguous block of len*inner floats. */
typedef struct sl_ctx {
	size_t inner, size, start, len;
	const float *x, *dy;
	float *y, *dx;
} sl_ctx;

static void slice_fwd_rows(void *arg, size_t lo, size_t hi)
{
	sl_ctx *c = arg;
	size_t blk = c->len * c->inner;
	for (size_t o = lo; o < hi; o++)
		memcpy(c->y + o * blk, c->x + (o * c->size + c->start) * c->inner, blk * sizeof(float));
}

static void slice_bwd_rows(void *arg, size_t lo, size_t hi)
{
	sl_ctx *c = arg;
	size_t blk = c->len * c->inner;
	for (size_t o = lo; o < hi; o++) {
		float *dx = c->dx + (o * c->size + c->start) * c->inner;
		const float *dy = c->dy + o * blk;
		for (size_t j = 0; j < blk; j++)
			dx[j] += dy[j];
	}
}

sl_tensor *sl_slice(sl_tape *tp, sl_tensor *x, int dim, int start, int len)
{
	dim = sh_dim(dim, x->ndim);
	SL_ASSERT(start >= 0 && len >= 1 && start <= x->shape[dim] - len);
	int shape[SL_MAXDIM];
	memcpy(shape, x->shape, sizeof shape);
	shape[dim] = len;
	sl_tensor *ins[1] = { x };
	sl_node n = sl_node_make(tp, SL_OP_SLICE, ins, 1, x->ndim, shape);
	n.i[0] = dim;
	n.i[1] = start;
	n.i[2] = len;
	return sl_tape_apply(tp, &n);
}

static sl_ctx slice_ctx_of(const sl_node *n, size_t *outer)
{
	const sl_tensor *x = n->in[0];
	sl_ctx c = { 0 };
	sh_split(x, n->i[0], outer, &c.inner);
	c.size = (size_t)x->shape[n->i[0]];
	c.start = (size_t)n->i[1];
	c.len = (size_t)n->i[2];
	return c;
}

void sl_op_slice_forward(sl_tape *tp, sl_node *n)
{
	size_t outer;
	sl_ctx c = slice_ctx_of(n, &outer);
	c.x = n->in[0]->data;
	c.y = n->out->data;
	sh_run(tp, outer, sl_tensor_numel(n->out), slice_fwd_rows, &c);
}

void sl_op_slice_backward(sl_tape *tp, sl_node *n)
{
	sl_tensor *x = n->in[0];
	if (!x->requires_grad)
		return;
	size_t outer;
	sl_ctx c = slice_ctx_of(n, &outer);
	c.dy = n->out->grad;
	c.dx = sl_tape_grad(tp, x);
	sh_run(tp, outer, sl_tensor_numel(n->out), slice_bwd_rows, &c);
}

/* concat: y (outer, sum_k size_k, inner); row o of y is the row o blocks of
 * x_0, x_1, ... one after the other. An input may appear more than once: its
 * gradient gets each contribution, and since threads split outer rows, one
 * thread owns all of a row's contributions. */
typedef struct cat_ctx {
	sl_tensor **xs;
	float **dxs;          /* per input: gradient to accumulate into, or NULL */
	int n, dim;
	size_t inner, total;  /* total = sum_k size_k along dim */
	float *y;
	const float *dy;
} cat_ctx;

static void cat_fwd_rows(void *arg, size_t lo, size_t hi)
{
	cat_ctx *c = arg;
	for (size_t o = lo; o < hi; o++) {
		float *y = c->y + o * c->total * c->inner;
		for (int k = 0; k < c->n; k++) {
			size_t blk = (size_t)c->xs[k]->shape[c->dim] * c->inner;
			memcpy(y, c->xs[k]->data + o * blk, blk * sizeof(float));
			y += blk;
		}
	}
}

static void cat_bwd_rows(void *arg, size_t lo, size_t hi)
{
	cat_ctx *c = arg;
	for (size_t o = lo; o < hi; o++) {
		const float *dy = c->dy + o * c->total * c->inner;
		for (int k = 0; k < c->n; k++) {
			size_t blk = (size_t)c->xs[k]->shape[c->dim] * c->inner;
			float *dx = c->dxs[k];
			if (dx) {
				dx += o * blk;
				for (size_t j = 0; j < blk; j++)
					dx[j] += dy[j];
			}
			dy += blk;
		}
	}
}

sl_tensor *sl_concat(sl_tape *tp, sl_tensor **xs, int n, int dim)
{
	SL_ASSERT(n >= 1);
	sl_tensor *x0 = xs[0];
	dim = sh_dim(dim, x0->ndim);
	int shape[SL_MAXDIM];
	memcpy(shape, x0->shape, sizeof shape);
	shape[dim] = 0;
	for (int k = 0; k < n; k++) {
		SL_ASSERT(xs[k] && xs[k]->ndim == x0->ndim);
		for (int d = 0; d < x0->ndim; d++)
			SL_ASSERT(d == dim || xs[k]->shape[d] == x0->shape[d]);
		shape[dim] += xs[k]->shape[dim];
	}
	/* n may be large: the input list lives in the arena, not on the stack */
	sl_tensor **ins = sl_arena_alloc(tp->arena, (size_t)n * sizeof *ins);
	memcpy(ins, xs, (size_t)n * sizeof *ins);
	sl_node nd = sl_node_make(tp, SL_OP_CONCAT, ins, n, x0->ndim, shape);
	nd.i[0] = dim;
	return sl_tape_apply(tp, &nd);
}

static cat_ctx cat_ctx_of(const sl_node *n, size_t *outer)
{
	cat_ctx c = { .xs = n->in, .n = n->nin, .dim = n->i[0] };
	sh_split(n->out, c.dim, outer, &c.inner);
	c.total = (size_t)n->out->shape[c.dim];
	return c;
}

void sl_op_concat_forward(sl_tape *tp, sl_node *n)
{
	size_t outer;
	cat_ctx c = cat_ctx_of(n, &outer);
	c.y = n->out->data;
	sh_run(tp, outer, sl_tensor_numel(n->out), cat_fwd_rows, &c);
}

void sl_op_concat_backward(sl_tape *tp, sl_node *n)
{
	size_t outer;
	cat_ctx c = cat_ctx_of(n, &outer);
	c.dy = n->out->grad;
	c.dxs = sl_arena_alloc(tp->arena, (size_t)n->nin * sizeof *c.dxs);
	for (int k = 0; k < n->nin; k++)
		c.dxs[k] = n->in[k]->requires_grad ? sl_tape_grad(tp, n->in[k]) : NULL;
	sh_run(tp, outer, sl_tensor_numel(n->out), cat_bwd_rows, &c);
}

/* ---- embedding: y[r, :] = table[ids[r], :] ------------------------------- */

typedef struct emb_ctx {
	const int32_t *ids;
	size_t R, D;
	const float *table, *dy;
	const float *x;       /* sl_embedding_add's addend (R, D), or NULL */
	float *y, *dtable;
	float *dx;            /* its gradient to add dy into, or NULL */
	int fx;               /* dx fresh */
} emb_ctx;

static void emb_fwd_rows(void *arg, size_t lo, size_t hi)
{
	emb_ctx *c = arg;
	size_t D = c->D;
	for (size_t r = lo; r < hi; r++) {
		const float *t = c->table + (size_t)c->ids[r] * D;
		if (!c->x) {
			memcpy(c->y + r * D, t, D * sizeof(float));
			continue;
		}
		/* x + table row, as sl_add(x, embedding) adds them */
		const float *x = c->x + r * D;
		float *y = c->y + r * D;
		for (size_t j = 0; j < D; j++)
			y[j] = x[j] + t[j];
	}
}

/* dx[lo:hi] += dy[lo:hi] (sl_embedding_add's addend), elements */
static void emb_dx_range(void *arg, size_t lo, size_t hi)
{
	emb_ctx *c = arg;
	if (c->fx)
		for (size_t i = lo; i < hi; i++)
			c->dx[i] = 0.0f + c->dy[i];
	else
		for (size_t i = lo; i < hi; i++)
			c->dx[i] += c->dy[i];
}

/* dtable[ids[r], lo:hi] += dy[r, lo:hi] for r = 0, 1, ... in order: a thread
 * owns a band of columns, so repeated ids never race and every element sums
 * its contributions in id order. */
static void emb_bwd_cols(void *arg, size_t lo, size_t hi)
{
	emb_ctx *c = arg;
	for (size_t r = 0; r < c->R; r++) {
		float *dt = c->dtable + (size_t)c->ids[r] * c->D;
		const float *dy = c->dy + r * c->D;
		for (size_t j = lo; j < hi; j++)
			dt[j] += dy[j];
	}
}

static sl_tensor *embedding(sl_tape *tp, sl_tensor *table, const int32_t *ids, int ndim, const int *shape,
			    sl_tensor *x)
{
	SL_ASSERT(table->ndim == 2 && ndim >= 1 && ndim <= 3);
	int oshape[SL_MAXDIM];
	size_t R = 1;
	for (int d = 0; d < ndim; d++) {
		SL_ASSERT(shape[d] >= 1);
		oshape[d] = shape[d];
		R *= (size_t)shape[d];
	}
	oshape[ndim] = table->shape[1];
	/* the caller's ids may not outlive the step: keep a copy in the arena */
	int32_t *own = sl_arena_alloc(tp->arena, R * sizeof *own);
	for (size_t r = 0; r < R; r++) {
		SL_ASSERT(ids[r] >= 0 && ids[r] < table->shape[0]);
		own[r] = ids[r];
	}
	sl_tensor *ins[2] = { table, x };
	sl_node n = sl_node_make(tp, SL_OP_EMBEDDING, ins, x ? 2 : 1, ndim + 1, oshape);
	SL_ASSERT(!x || sl_tensor_same_shape(x, n.out));
	n.ids = own;
	n.nids = R;
	return sl_tape_apply(tp, &n);
}

sl_tensor *sl_embedding(sl_tape *tp, sl_tensor *table, const int32_t *ids, int ndim, const int *shape)
{
	return embedding(tp, table, ids, ndim, shape, NULL);
}

sl_tensor *sl_embedding_add(sl_tape *tp, sl_tensor *x, sl_tensor *table, const int32_t *ids)
{
	SL_ASSERT(x->ndim >= 2 && x->ndim <= 4);
	return embedding(tp, table, ids, x->ndim - 1, x->shape, x);
}

void sl_op_embedding_forward(sl_tape *tp, sl_node *n)
{
	sl_tensor *t = n->in[0];
	emb_ctx c = { .ids = n->ids, .R = n->nids, .D = (size_t)t->shape[1], .table = t->data,
		      .x = n->nin > 1 ? n->in[1]->data : NULL, .y = n->out->data };
	sh_run(tp, c.R, c.R * c.D, emb_fwd_rows, &c);
}

void sl_op_embedding_backward(sl_tape *tp, sl_node *n)
{
	sl_tensor *t = n->in[0], *x = n->nin > 1 ? n->in[1] : NULL;
	emb_ctx c = { .ids = n->ids, .R = n->nids, .D = (size_t)t->shape[1], .dy = n->out->grad };
	/* the addend's share first, as sl_add's backward ran before the lookup's */
	if (x && x->requires_grad && (c.dx = sl_tape_grad_handoff(tp, x, n, &c.fx)))
		sh_run(tp, c.R * c.D, c.R * c.D, emb_dx_range, &c);
	if (!t->requires_grad)
		return;
	c.dtable = sl_tape_grad(tp, t);
	sh_run(tp, c.D, c.R * c.D, emb_bwd_cols, &c);
}
