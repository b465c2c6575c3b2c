/* test_ops_shape.c - reshape, transpose, slice, concat, embedding, dropout,
 * causal conv1d, and the linear/matmul/block-diagonal ops: finite-difference gradient
 * checks (no pool and a 2-thread pool), forward values against index
 * arithmetic or naive loops, threaded-equals-serial bit identity on shapes
 * big enough to split, and linear's threaded path against a double
 * reference. */
#include "gradcheck.h"

#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- helpers ------------------------------------------------------------- */

/* What a build function needs besides its tensor inputs. */
typedef struct ctx {
	int d0, d1;           /* transpose */
	int dim, start, len;  /* slice, concat (dim) */
	int n;                /* concat: number of inputs */
	int ndim, shape[4];   /* reshape target; embedding ids shape */
	const int32_t *ids;   /* embedding */
	float p;              /* dropout */
	int ta, tb;           /* matmul */
	int bias;             /* linear, conv1d: in[2] is the bias */
	gc_build_fn inner;    /* b_twice: the op under test */
} ctx;

static sl_rng rng;

#define SHAPE(...) (int[]){ __VA_ARGS__ }
#define NDIM(...) ((int)(sizeof((int[]){ __VA_ARGS__ }) / sizeof(int)))
/* A heap input of the given shape, uniform in [-1, 1). */
#define INPUT(...) gc_input(&rng, NDIM(__VA_ARGS__), SHAPE(__VA_ARGS__), -1.0f, 1.0f)

static void free_all(sl_tensor **in, int n)
{
	for (int k = 0; k < n; k++)
		gc_free(in[k]);
}

/* Gradient check at 0 (no pool) and 2 threads; tolerances fit ops that are
 * linear in each input (the only error is float rounding). */
static void gc_both(const char *name, gc_build_fn fn, ctx *c, sl_tensor **in, int nin)
{
	for (int th = 0; th <= 2; th += 2) {
		char nm[200];
		snprintf(nm, sizeof nm, "%s, threads %d", name, th);
		gc_check(nm, fn, c, in, nin, 1e-2, 1e-4, 1e-3, th);
	}
}

/* The same for an op with a nonlinear part (the fused SiLU): the central
 * difference's own error, of order eps^2 times the third derivative, comes on
 * top of rounding; the tolerances of test_ops.c's fused nonlinear ops. */
static void gc_both_nonlinear(const char *name, gc_build_fn fn, ctx *c, sl_tensor **in, int nin)
{
	for (int th = 0; th <= 2; th += 2) {
		char nm[200];
		snprintf(nm, sizeof nm, "%s, threads %d", name, th);
		gc_check(nm, fn, c, in, nin, 1e-2, 5e-4, 2e-3, th);
	}
}

static void unravel(size_t i, int ndim, const int *shape, int *idx)
{
	for (int d = ndim - 1; d >= 0; d--) {
		idx[d] = (int)(i % (size_t)shape[d]);
		i /= (size_t)shape[d];
	}
}

static size_t ravel(int ndim, const int *shape, const int *idx)
{
	size_t i = 0;
	for (int d = 0; d < ndim; d++)
		i = i * (size_t)shape[d] + (size_t)idx[d];
	return i;
}

/* One forward and backward run with a fixed output gradient; keeps copies of
 * the output, the output gradient and every input gradient. */
#define MAXIN 16
typedef struct run_res {
	float *y, *dy;
	size_t ny;
	float *g[MAXIN];
	size_t ng[MAXIN];
	int ok;
} run_res;

static run_res run_op(gc_build_fn fn, void *c, sl_tensor **in, int nin, int threads)
{
	SL_ASSERT(nin <= MAXIN);
	run_res res = { 0 };
	sl_arena *arena = sl_arena_new(0);
	sl_pool *pool = threads > 0 ? sl_pool_new(threads) : NULL;
	sl_tape *tp = sl_tape_new(arena, pool);
	tp->training = 1;
	tp->dropout_key = 4242;
	for (int k = 0; k < nin; k++)
		if (in[k] && in[k]->requires_grad)
			memset(in[k]->grad, 0, sl_tensor_numel(in[k]) * sizeof(float));
	sl_tensor *y = fn(tp, in, c);
	res.ny = sl_tensor_numel(y);
	res.y = malloc(res.ny * sizeof(float));
	res.dy = malloc(res.ny * sizeof(float));
	memcpy(res.y, y->data, res.ny * sizeof(float));
	sl_rng r;
	sl_rng_seed(&r, 777);
	for (size_t i = 0; i < res.ny; i++)
		res.dy[i] = 2.0f * sl_rng_float(&r) - 1.0f;
	res.ok = sl_tape_backward_from(tp, y, res.dy) == SL_OK;
	for (int k = 0; k < nin; k++)
		if (in[k] && in[k]->requires_grad) {
			res.ng[k] = sl_tensor_numel(in[k]);
			res.g[k] = malloc(res.ng[k] * sizeof(float));
			memcpy(res.g[k], in[k]->grad, res.ng[k] * sizeof(float));
		}
	sl_tape_free(tp);
	sl_pool_free(pool);
	sl_arena_free(arena);
	return res;
}

static void res_free(run_res *r)
{
	free(r->y);
	free(r->dy);
	for (int k = 0; k < MAXIN; k++)
		free(r->g[k]);
}

static int res_same(const run_res *a, const run_res *b)
{
	if (!a->ok || !b->ok || a->ny != b->ny || memcmp(a->y, b->y, a->ny * sizeof(float)))
		return 0;
	for (int k = 0; k < MAXIN; k++) {
		if (!a->g[k] != !b->g[k])
			return 0;
		if (a->g[k] && memcmp(a->g[k], b->g[k], a->ng[k] * sizeof(float)))
			return 0;
	}
	return 1;
}

/* The output and every gradient of a 2-thread run have the same bits as a
 * serial run. */
static void check_threads_same(const char *name, gc_build_fn fn, ctx *c, sl_tensor **in, int nin)
{
	run_res s = run_op(fn, c, in, nin, 0), t = run_op(fn, c, in, nin, 2);
	TAP_OK(res_same(&s, &t), "%s: 2 threads give the serial bits (output and gradients)", name);
	res_free(&s);
	res_free(&t);
}

/* max |a - ref| <= tol * max |ref| */
static void check_close(const char *name, const float *a, const double *ref, size_t n, double tol)
{
	double err = 0, big = 0;
	size_t wi = 0;
	for (size_t i = 0; i < n; i++) {
		double e = fabs(a[i] - ref[i]);
		if (e > err) {
			err = e;
			wi = i;
		}
		if (fabs(ref[i]) > big)
			big = fabs(ref[i]);
	}
	if (!TAP_OK(err <= tol * big, "%s: within %g of the reference (relative to max %.4g)", name, tol, big))
		tap_diag("worst at %zu: got %.9g, reference %.9g", wi, a[wi], ref[wi]);
}

/* Runs fn in a child and passes when it dies by SIGABRT (an SL_ASSERT). */
static void check_aborts(const char *name, void (*fn)(void))
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		if (!freopen("/dev/null", "w", stderr))
			_exit(3);
		fn();
		_exit(0);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	TAP_OK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "%s aborts (SL_ASSERT)", name);
}

/* ---- build functions ------------------------------------------------------ */

static sl_tensor *b_reshape(sl_tape *tp, sl_tensor **in, void *v)
{
	ctx *c = v;
	return sl_reshape(tp, in[0], c->ndim, c->shape);
}

/* reshape of an op's output, then reshape back through a transpose */
static sl_tensor *b_reshape_chain(sl_tape *tp, sl_tensor **in, void *v)
{
	ctx *c = v;
	sl_tensor *t = sl_transpose(tp, sl_reshape(tp, in[0], c->ndim, c->shape), 0, -1);
	return sl_reshape(tp, t, in[0]->ndim, in[0]->shape);
}

static sl_tensor *b_transpose(sl_tape *tp, sl_tensor **in, void *v)
{
	ctx *c = v;
	return sl_transpose(tp, in[0], c->d0, c->d1);
}

static sl_tensor *b_slice(sl_tape *tp, sl_tensor **in, void *v)
{
	ctx *c = v;
	return sl_slice(tp, in[0], c->dim, c->start, c->len);
}

/* two overlapping slices of x joined: x's gradient gets both */
static sl_tensor *b_slice_overlap(sl_tape *tp, sl_tensor **in, void *v)
{
	ctx *c = v;
	sl_tensor *xs[2] = { sl_slice(tp, in[0], c->dim, 0, c->len),
			     sl_slice(tp, in[0], c->dim, c->start, c->len) };
	return sl_concat(tp, xs, 2, c->dim);
}

static sl_tensor *b_concat(sl_tape *tp, sl_tensor **in, void *v)
{
	ctx *c = v;
	return sl_concat(tp, in, c->n, c->dim);
}

/* x, y, x: the same input twice */
static sl_tensor *b_concat_repeat(sl_tape *tp, sl_tensor **in, void *v)
{
	ctx *c = v;
	sl_tensor *xs[3] = { in[0], in[1], in[0] };
	return sl_concat(tp, xs, 3, c->dim);
}

static sl_tensor *b_embedding(sl_tape *tp, sl_tensor **in, void *v)
{
	ctx *c = v;
	return sl_embedding(tp, in[0], c->ids, c->ndim, c->shape);
}

/* two lookups of the same table: dtable accumulates over nodes */
static sl_tensor *b_embedding_twice(sl_tape *tp, sl_tensor **in, void *v)
{
	ctx *c = v;
	sl_tensor *e[2] = { sl_embedding(tp, in[0], c->ids, c->ndim, c->shape),
			    sl_embedding(tp, in[0], c->ids + 1, c->ndim, c->shape) };
	return sl_concat(tp, e, 2, -1);
}

/* in: table, x. The addend through sl_scale(., 1), so its gradient buffer
 * is the tape's own (handed the output's, or fresh); _acc: x used again
 * after, so the op adds into a buffer written before it. */
static sl_tensor *b_emb_add(sl_tape *tp, sl_tensor **in, void *v)
{
	const ctx *c = v;
	(void)c;
	return sl_embedding_add(tp, sl_scale(tp, in[1], 1.0f), in[0], c->ids);
}

static sl_tensor *b_emb_add_chain(sl_tape *tp, sl_tensor **in, void *v)
{
	const ctx *c = v;
	sl_tensor *x = sl_scale(tp, in[1], 1.0f);
	return sl_add(tp, x, sl_embedding(tp, in[0], c->ids, x->ndim - 1, x->shape));
}

static sl_tensor *b_emb_add_acc(sl_tape *tp, sl_tensor **in, void *v)
{
	const ctx *c = v;
	sl_tensor *x = sl_scale(tp, in[1], 1.0f);
	return sl_add(tp, sl_embedding_add(tp, x, in[0], c->ids), x);
}

static sl_tensor *b_emb_add_acc_chain(sl_tape *tp, sl_tensor **in, void *v)
{
	const ctx *c = v;
	sl_tensor *x = sl_scale(tp, in[1], 1.0f);
	return sl_add(tp, sl_add(tp, x, sl_embedding(tp, in[0], c->ids, x->ndim - 1, x->shape)), x);
}

static sl_tensor *b_dropout(sl_tape *tp, sl_tensor **in, void *v)
{
	ctx *c = v;
	return sl_dropout(tp, in[0], c->p);
}

/* two dropouts of x in one step: two masks, both gradients reach x */
static sl_tensor *b_dropout_twice(sl_tape *tp, sl_tensor **in, void *v)
{
	ctx *c = v;
	sl_tensor *d[2] = { sl_dropout(tp, in[0], c->p), sl_dropout(tp, in[0], c->p) };
	return sl_concat(tp, d, 2, 0);
}

/* concat(op(in), op(in)) along dim 0: the second backward into the same
 * inputs must accumulate (+=) onto the first */
static sl_tensor *b_twice(sl_tape *tp, sl_tensor **in, void *v)
{
	ctx *c = v;
	sl_tensor *y[2] = { c->inner(tp, in, v), c->inner(tp, in, v) };
	return sl_concat(tp, y, 2, 0);
}

static sl_tensor *b_conv(sl_tape *tp, sl_tensor **in, void *v)
{
	ctx *c = v;
	return sl_conv1d_causal(tp, in[0], in[1], c->bias ? in[2] : NULL);
}

static sl_tensor *b_conv_silu(sl_tape *tp, sl_tensor **in, void *v)
{
	ctx *c = v;
	return sl_conv1d_causal_silu(tp, in[0], in[1], c->bias ? in[2] : NULL);
}

/* the fused op on columns [start, start + C) of in[0], read in place or sliced */
static sl_tensor *b_conv_silu_at(sl_tape *tp, sl_tensor **in, void *v)
{
	ctx *c = v;
	return sl_conv1d_causal_silu_at(tp, in[0], c->start, in[1], c->bias ? in[2] : NULL);
}

static sl_tensor *b_slice_conv_silu(sl_tape *tp, sl_tensor **in, void *v)
{
	ctx *c = v;
	return sl_conv1d_causal_silu(tp, sl_slice(tp, in[0], 2, c->start, in[1]->shape[0]), in[1],
				     c->bias ? in[2] : NULL);
}

static sl_tensor *b_conv_then_silu(sl_tape *tp, sl_tensor **in, void *v)
{
	ctx *c = v;
	return sl_silu(tp, sl_conv1d_causal(tp, in[0], in[1], c->bias ? in[2] : NULL));
}

static sl_tensor *b_linear(sl_tape *tp, sl_tensor **in, void *v)
{
	ctx *c = v;
	return sl_linear(tp, in[0], in[1], c->bias ? in[2] : NULL);
}

static sl_tensor *b_matmul(sl_tape *tp, sl_tensor **in, void *v)
{
	ctx *c = v;
	return sl_matmul(tp, in[0], in[1], c->ta, c->tb);
}

/* A tape on a fresh arena, no pool, training on; free with tape_done(). */
static sl_tape *tape_new(void)
{
	sl_tape *tp = sl_tape_new(sl_arena_new(0), NULL);
	tp->training = 1;
	tp->dropout_key = 31;
	return tp;
}

static void tape_done(sl_tape *tp)
{
	sl_arena *a = tp->arena;
	sl_tape_free(tp);
	sl_arena_free(a);
}

/* ---- reshape -------------------------------------------------------------- */

static void test_reshape(void)
{
	sl_tape *tp = tape_new();
	sl_tensor *x = INPUT(2, 3, 4);
	sl_tensor *y = sl_reshape(tp, x, 2, SHAPE(6, 4));
	TAP_OK(y->data == x->data && y->ndim == 2 && y->shape[0] == 6 && y->shape[1] == 4,
	       "reshape (2,3,4) -> (6,4) shares x's data");
	TAP_OK(y->requires_grad, "reshape of a tensor needing a gradient needs one");
	sl_tensor *z = sl_reshape(tp, y, 4, SHAPE(1, 2, 12, 1));
	TAP_OK(z->data == x->data && z->ndim == 4 && z->shape[2] == 12, "reshape of a reshape shares data too");
	x->requires_grad = 0;
	TAP_OK(!sl_reshape(tp, x, 1, SHAPE(24))->requires_grad, "reshape of a constant needs no gradient");
	x->requires_grad = 1;
	tape_done(tp);

	ctx c = { .ndim = 2, .shape = { 6, 4 } };
	gc_both("reshape (2,3,4) -> (6,4)", b_reshape, &c, &x, 1);
	ctx c4 = { .ndim = 4, .shape = { 3, 1, 2, 4 } };
	gc_both("reshape (2,3,4) -> (3,1,2,4)", b_reshape, &c4, &x, 1);
	gc_both("reshape -> transpose -> reshape", b_reshape_chain, &c4, &x, 1);
	c4.inner = b_reshape;
	gc_both("reshape twice, (2,3,4) -> (3,1,2,4)", b_twice, &c4, &x, 1);
	gc_free(x);
	sl_tensor *x2 = INPUT(5, 6);
	ctx c1 = { .ndim = 1, .shape = { 30 } };
	gc_both("reshape (5,6) -> (30)", b_reshape, &c1, &x2, 1);
	gc_free(x2);
}

/* ---- transpose ------------------------------------------------------------ */

/* y[idx] == x[idx with d0 and d1 swapped] for every element. */
static int transpose_placed(const sl_tensor *x, const sl_tensor *y, int d0, int d1)
{
	int idx[4];
	size_t n = sl_tensor_numel(y);
	for (size_t i = 0; i < n; i++) {
		unravel(i, y->ndim, y->shape, idx);
		int t = idx[d0];
		idx[d0] = idx[d1];
		idx[d1] = t;
		if (y->data[i] != x->data[ravel(x->ndim, x->shape, idx)])
			return 0;
	}
	return 1;
}

static void test_transpose(void)
{
	static const int shapes[3][4] = { { 5, 7 }, { 2, 3, 4 }, { 2, 3, 4, 5 } };
	for (int s = 0; s < 3; s++) {
		int nd = s + 2;
		sl_tensor *x = gc_input(&rng, nd, shapes[s], -1, 1);
		int bad = 0, nshape = 0;
		for (int d0 = -nd; d0 < nd; d0++)
			for (int d1 = -nd; d1 < nd; d1++) {
				sl_tape *tp = tape_new();
				sl_tensor *y = sl_transpose(tp, x, d0, d1);
				int a = d0 < 0 ? d0 + nd : d0, b = d1 < 0 ? d1 + nd : d1;
				if (y->ndim != nd || y->shape[a] != x->shape[b] || y->shape[b] != x->shape[a])
					nshape++;
				else if (!transpose_placed(x, y, a, b))
					bad++;
				tape_done(tp);
			}
		TAP_OK(!nshape && !bad, "transpose of a %d-D tensor, every pair of dims (negative too): "
		       "shapes and placement", nd);
		gc_free(x);
	}

	struct { int nd, shape[4], d0, d1; } gc[] = {
		{ 2, { 5, 4 }, 0, 1 },
		{ 3, { 2, 3, 4 }, 0, 2 },
		{ 3, { 2, 3, 4 }, -1, -2 },
		{ 4, { 2, 3, 2, 4 }, 1, 2 },
		{ 4, { 2, 3, 2, 4 }, 0, -1 },
	};
	for (size_t i = 0; i < SL_COUNT(gc); i++) {
		sl_tensor *x = gc_input(&rng, gc[i].nd, gc[i].shape, -1, 1);
		ctx c = { .d0 = gc[i].d0, .d1 = gc[i].d1 };
		char nm[80];
		snprintf(nm, sizeof nm, "transpose %d-D dims %d,%d", gc[i].nd, gc[i].d0, gc[i].d1);
		gc_both(nm, b_transpose, &c, &x, 1);
		if (i == 3) {
			c.inner = b_transpose;
			gc_both("transpose twice, 4-D dims 1,2", b_twice, &c, &x, 1);
		}
		gc_free(x);
	}

	/* (B, T, H, Dh) -> (B, H, T, Dh) and a strided last-dim swap, big enough to split */
	sl_tensor *x = INPUT(4, 64, 4, 32);
	ctx c = { .d0 = 1, .d1 = 2 };
	check_threads_same("transpose (4,64,4,32) dims 1,2", b_transpose, &c, &x, 1);
	c.d0 = 1;
	c.d1 = 3;
	check_threads_same("transpose (4,64,4,32) dims 1,3", b_transpose, &c, &x, 1);
	gc_free(x);
}

/* ---- slice and concat ----------------------------------------------------- */

static void test_slice(void)
{
	sl_tensor *x = INPUT(3, 4, 5);
	int bad = 0, nshape = 0;
	for (int dim = 0; dim < 3; dim++)
		for (int start = 0; start < x->shape[dim]; start++)
			for (int len = 1; start + len <= x->shape[dim]; len++) {
				sl_tape *tp = tape_new();
				sl_tensor *y = sl_slice(tp, x, dim - 3 * (start & 1), start, len);
				if (y->ndim != 3 || y->shape[dim] != len)
					nshape++;
				int idx[4];
				for (size_t i = 0; i < sl_tensor_numel(y) && !nshape; i++) {
					unravel(i, 3, y->shape, idx);
					idx[dim] += start;
					bad += y->data[i] != x->data[ravel(3, x->shape, idx)];
				}
				tape_done(tp);
			}
	TAP_OK(!nshape && !bad, "slice (3,4,5): every dim, start, len (negative dims too): placement");

	ctx c = { .dim = 1, .start = 1, .len = 2 };
	gc_both("slice (3,4,5) dim 1 [1,3)", b_slice, &c, &x, 1);
	c = (ctx){ .dim = -1, .start = 2, .len = 3 };
	gc_both("slice (3,4,5) dim -1 [2,5)", b_slice, &c, &x, 1);
	c = (ctx){ .dim = 0, .start = 1, .len = 2 };
	gc_both("slice (3,4,5) dim 0 [1,3)", b_slice, &c, &x, 1);
	c = (ctx){ .dim = 2, .start = 1, .len = 3 };
	gc_both("concat of overlapping slices [0,3) [1,4)", b_slice_overlap, &c, &x, 1);
	gc_free(x);
	sl_tensor *x4 = INPUT(2, 3, 4, 3);
	c = (ctx){ .dim = 2, .start = 1, .len = 2 };
	gc_both("slice (2,3,4,3) dim 2 [1,3)", b_slice, &c, &x4, 1);
	gc_free(x4);

	sl_tensor *big = INPUT(16, 64, 64);
	c = (ctx){ .dim = 1, .start = 5, .len = 40 };
	check_threads_same("slice (16,64,64) dim 1", b_slice, &c, &big, 1);
	gc_free(big);
}

/* y's placement: along dim the inputs follow one another. */
static int concat_placed(sl_tensor **xs, int n, int dim, const sl_tensor *y)
{
	int idx[4];
	for (size_t i = 0; i < sl_tensor_numel(y); i++) {
		unravel(i, y->ndim, y->shape, idx);
		int k = 0;
		while (idx[dim] >= xs[k]->shape[dim])
			idx[dim] -= xs[k++]->shape[dim];
		if (k >= n || y->data[i] != xs[k]->data[ravel(y->ndim, xs[k]->shape, idx)])
			return 0;
	}
	return 1;
}

static void test_concat(void)
{
	int bad = 0;
	for (int dim = 0; dim < 3; dim++) {
		sl_tensor *xs[3];
		for (int k = 0; k < 3; k++) {
			int shape[3] = { 2, 3, 4 };
			shape[dim] = k + 1;
			xs[k] = gc_input(&rng, 3, shape, -1, 1);
		}
		sl_tape *tp = tape_new();
		sl_tensor *y = sl_concat(tp, xs, 3, dim - 3 * (dim & 1));
		bad += y->shape[dim] != 6 || !concat_placed(xs, 3, dim, y);
		tape_done(tp);
		ctx c = { .n = 3, .dim = dim };
		char nm[80];
		snprintf(nm, sizeof nm, "concat of 3 (sizes 1,2,3) along dim %d", dim);
		gc_both(nm, b_concat, &c, xs, 3);
		free_all(xs, 3);
	}
	TAP_OK(!bad, "concat of 3 along each dim of a 3-D tensor (negative too): shape and placement");

	/* more inputs than any stack array of the ops */
	enum { N = 12 };
	sl_tensor *xs[N];
	for (int k = 0; k < N; k++)
		xs[k] = gc_input(&rng, 4, SHAPE(2, 1 + k % 3, 2, 2), -1, 1);
	sl_tape *tp = tape_new();
	sl_tensor *y = sl_concat(tp, xs, N, 1);
	TAP_OK(y->shape[1] == 24 && concat_placed(xs, N, 1, y), "concat of %d 4-D inputs: placement", N);
	tape_done(tp);
	ctx c = { .n = N, .dim = 1 };
	gc_both("concat of 12 4-D inputs along dim 1", b_concat, &c, xs, N);
	free_all(xs, N);

	sl_tensor *xy[2] = { INPUT(3, 2), INPUT(3, 4) };
	c = (ctx){ .dim = -1 };
	gc_both("concat (x, y, x): an input twice", b_concat_repeat, &c, xy, 2);
	free_all(xy, 2);

	sl_tensor *big[3] = { INPUT(32, 16, 64), INPUT(32, 16, 32), INPUT(32, 16, 64) };
	c = (ctx){ .n = 3, .dim = 2 };
	check_threads_same("concat 3 x (32,16,*) along dim 2", b_concat, &c, big, 3);
	free_all(big, 3);
}

/* ---- embedding ------------------------------------------------------------ */

static void test_embedding(void)
{
	sl_tensor *table = INPUT(7, 4);
	int32_t ids[8] = { 3, 0, 6, 3, 1, 5, 3, 0 };
	sl_tape *tp = tape_new();
	sl_tensor *y = sl_embedding(tp, table, ids, 2, SHAPE(2, 3));
	int ok = y->ndim == 3 && y->shape[0] == 2 && y->shape[1] == 3 && y->shape[2] == 4;
	for (int r = 0; r < 6 && ok; r++)
		ok = !memcmp(y->data + 4 * r, table->data + 4 * ids[r], 4 * sizeof(float));
	TAP_OK(ok, "embedding (7,4) with ids (2,3): shape (2,3,4), the right rows");
	sl_tensor *y1 = sl_embedding(tp, table, ids, 1, SHAPE(8));
	sl_tensor *y3 = sl_embedding(tp, table, ids, 3, SHAPE(2, 2, 2));
	TAP_OK(y1->ndim == 2 && y1->shape[0] == 8 && y3->ndim == 4 && y3->shape[2] == 2 && y3->shape[3] == 4 &&
	       !memcmp(y1->data, y3->data, 32 * sizeof(float)),
	       "embedding with 1-D and 3-D ids: shapes (8,4) and (2,2,2,4)");

	/* the ids are copied: overwriting the caller's buffer before backward
	 * changes nothing */
	sl_tape_reset(tp);
	int32_t tmp[6];
	memcpy(tmp, ids, sizeof tmp);
	memset(table->grad, 0, 28 * sizeof(float));
	y = sl_embedding(tp, table, tmp, 2, SHAPE(2, 3));
	for (int r = 0; r < 6; r++)
		tmp[r] = 2;
	float dy[24];
	for (int i = 0; i < 24; i++)
		dy[i] = (float)(i + 1);
	sl_tape_backward_from(tp, y, dy);
	float want[28] = { 0 };
	for (int r = 0; r < 6; r++)
		for (int j = 0; j < 4; j++)
			want[4 * ids[r] + j] += dy[4 * r + j];
	TAP_OK(!memcmp(want, table->grad, sizeof want), "embedding keeps its own copy of the ids");
	tape_done(tp);

	ctx c = { .ids = ids, .ndim = 2, .shape = { 2, 3 } };
	gc_both("embedding (7,4) ids (2,3), repeated ids", b_embedding, &c, &table, 1);
	c = (ctx){ .ids = ids, .ndim = 3, .shape = { 1, 2, 3 } };
	gc_both("embedding (7,4) ids (1,2,3), two lookups", b_embedding_twice, &c, &table, 1);
	gc_free(table);
	sl_tensor *t2 = INPUT(3, 9);
	int32_t small[3] = { 1, 1, 2 };
	c = (ctx){ .ids = small, .ndim = 1, .shape = { 3 } };
	gc_both("embedding (3,9) ids (3)", b_embedding, &c, &t2, 1);
	gc_free(t2);

	/* many repeats of few rows, big enough to split the columns */
	enum { R = 2048, V = 50 };
	int32_t *bid = malloc(R * sizeof *bid);
	for (int r = 0; r < R; r++)
		bid[r] = (int32_t)sl_rng_below(&rng, V);
	sl_tensor *bt = INPUT(V, 64);
	c = (ctx){ .ids = bid, .ndim = 2, .shape = { 32, 64 } };
	check_threads_same("embedding (50,64) ids (32,64)", b_embedding, &c, &bt, 1);

	/* x + embedding in one op against the two, bit for bit, 0 and 2 threads */
	sl_tensor *ea[2] = { bt, INPUT(32, 64, 64) };
	static const struct {
		const char *name;
		gc_build_fn fused, chain;
	} eas[] = { { "embedding_add", b_emb_add, b_emb_add_chain },
		    { "embedding_add, its addend used again", b_emb_add_acc, b_emb_add_acc_chain } };
	for (size_t i = 0; i < SL_COUNT(eas); i++)
		for (int th = 0; th <= 2; th += 2) {
			run_res f = run_op(eas[i].fused, &c, ea, 2, th), k = run_op(eas[i].chain, &c, ea, 2, 0);
			TAP_OK(res_same(&f, &k), "%s, threads %d: the bits of add(x, embedding) (output and gradients)",
			       eas[i].name, th);
			res_free(&f);
			res_free(&k);
		}
	gc_free(ea[1]);
	gc_free(bt);
	free(bid);

	sl_tensor *sa[2] = { INPUT(7, 4), INPUT(2, 3, 4) };
	c = (ctx){ .ids = ids };
	gc_both("embedding_add (7,4) to x (2,3,4), repeated ids", b_emb_add, &c, sa, 2);
	gc_both("embedding_add, its addend used again", b_emb_add_acc, &c, sa, 2);
	free_all(sa, 2);
}

static void emb_bad_id(void)
{
	sl_tape *tp = tape_new();
	sl_tensor *t = INPUT(5, 3);
	int32_t ids[2] = { 1, 5 };
	sl_embedding(tp, t, ids, 1, SHAPE(2));
}

static void emb_neg_id(void)
{
	sl_tape *tp = tape_new();
	sl_tensor *t = INPUT(5, 3);
	int32_t ids[2] = { -1, 0 };
	sl_embedding(tp, t, ids, 1, SHAPE(2));
}

/* ---- dropout -------------------------------------------------------------- */

static void dropout_p1(void)
{
	sl_tape *tp = tape_new();
	sl_tensor *x = INPUT(4);
	sl_dropout(tp, x, 1.0f);
}

static void test_dropout(void)
{
	enum { N = 100000 };
	sl_tensor *x = gc_input(&rng, 1, SHAPE(N), 1.0f, 2.0f);
	sl_tape *tp = tape_new();
	float p = 0.25f, scale = 1.0f / (1.0f - p);
	sl_tensor *y = sl_dropout(tp, x, p);
	size_t kept = 0, wrong = 0;
	for (size_t i = 0; i < N; i++) {
		if (y->data[i] != 0.0f) {
			kept++;
			wrong += fabsf(y->data[i] - x->data[i] * scale) > 1e-6f * y->data[i];
		}
	}
	double frac = (double)kept / N;
	if (!TAP_OK(fabs(frac - 0.75) <= 0.01, "dropout p=0.25 on 1e5 elements keeps 75%% +- 1%%"))
		tap_diag("kept %.4f", frac);
	TAP_OK(!wrong, "dropout scales kept elements by 1/(1-p)");
	sl_tensor *y2 = sl_dropout(tp, x, p);
	TAP_OK(memcmp(y->data, y2->data, N * sizeof(float)), "a second dropout in the step draws another mask");
	float *first = malloc(N * sizeof(float));
	memcpy(first, y->data, N * sizeof(float));
	sl_tape_reset(tp);
	y = sl_dropout(tp, x, p);
	TAP_OK(!memcmp(first, y->data, N * sizeof(float)), "after a tape reset the same key gives the same mask");
	sl_tape_reset(tp);
	tp->dropout_key++;
	y = sl_dropout(tp, x, p);
	TAP_OK(memcmp(first, y->data, N * sizeof(float)), "another step key gives another mask");
	free(first);
	TAP_OK(sl_dropout(tp, x, 0.0f) == x, "dropout p=0 is x itself");
	tp->training = 0;
	int nodes = tp->n;
	TAP_OK(sl_dropout(tp, x, 0.5f) == x && tp->n == nodes, "dropout when not training is x itself, no node");
	tape_done(tp);

	ctx c = { .p = 0.5f };
	check_threads_same("dropout p=0.5 on 1e5 elements", b_dropout, &c, &x, 1);
	gc_free(x);
	check_aborts("dropout p=1", dropout_p1);

	sl_tensor *a = INPUT(3, 7);
	c.p = 0.3f;
	gc_both("dropout p=0.3 (3,7)", b_dropout, &c, &a, 1);
	gc_both("dropout twice p=0.3 (3,7)", b_dropout_twice, &c, &a, 1);
	gc_free(a);
	sl_tensor *b = INPUT(2, 3, 2, 4);
	c.p = 0.6f;
	gc_both("dropout p=0.6 (2,3,2,4)", b_dropout, &c, &b, 1);
	gc_free(b);
}

/* ---- conv1d --------------------------------------------------------------- */

/* Double reference of the forward pass and of every gradient, from dy. */
static void conv_ref(const sl_tensor *x, const sl_tensor *w, const sl_tensor *b, const float *dy,
		     double *y, double *dx, double *dw, double *db)
{
	int B = x->shape[0], T = x->shape[1], C = x->shape[2], K = w->shape[1];
	memset(dx, 0, sizeof(double) * B * T * C);
	memset(dw, 0, sizeof(double) * C * K);
	memset(db, 0, sizeof(double) * C);
	for (int bb = 0; bb < B; bb++)
		for (int t = 0; t < T; t++)
			for (int c = 0; c < C; c++) {
				size_t o = ((size_t)bb * T + t) * C + c;
				double acc = b ? b->data[c] : 0.0;
				for (int k = 0; k < K; k++) {
					int s = t - K + 1 + k;
					if (s < 0)
						continue;
					size_t xi = ((size_t)bb * T + s) * C + c;
					acc += (double)w->data[c * K + k] * x->data[xi];
					dx[xi] += (double)w->data[c * K + k] * dy[o];
					dw[c * K + k] += (double)x->data[xi] * dy[o];
				}
				y[o] = acc;
				db[c] += dy[o];
			}
}

static void conv_compare(const char *name, sl_tensor **in, int bias, int threads, double tol)
{
	ctx c = { .bias = bias };
	run_res r = run_op(b_conv, &c, in, 3, threads);
	size_t n = r.ny;
	int C = in[1]->shape[0], K = in[1]->shape[1];
	double *y = malloc(n * sizeof *y), *dx = malloc(n * sizeof *dx);
	double *dw = malloc((size_t)C * K * sizeof *dw), *db = malloc((size_t)C * sizeof *db);
	conv_ref(in[0], in[1], bias ? in[2] : NULL, r.dy, y, dx, dw, db);
	char nm[160];
	snprintf(nm, sizeof nm, "%s, threads %d: y", name, threads);
	check_close(nm, r.y, y, n, tol);
	snprintf(nm, sizeof nm, "%s, threads %d: dx", name, threads);
	check_close(nm, r.g[0], dx, n, tol);
	snprintf(nm, sizeof nm, "%s, threads %d: dw", name, threads);
	check_close(nm, r.g[1], dw, (size_t)C * K, tol);
	if (bias) {
		snprintf(nm, sizeof nm, "%s, threads %d: db", name, threads);
		check_close(nm, r.g[2], db, (size_t)C, tol);
	}
	free(y);
	free(dx);
	free(dw);
	free(db);
	res_free(&r);
}

/* The convolution (silu: with the SiLU fused) of x (B, T, C) at 1 + silu
 * threads (0: no pool), backward from dout[b, t, j] = sin(0.37 (1000 r + j)),
 * r = b T + t; out gets y then dx, dw, db, each channel-major per row. */
static void conv_by_channel(sl_tensor **in, int silu, int threads, int C, float *y, float *dx, float *dw, float *db)
{
	sl_arena *arena = sl_arena_new(0);
	sl_pool *pool = threads > 0 ? sl_pool_new(threads) : NULL;
	sl_tape *tp = sl_tape_new(arena, pool);
	tp->training = 1;
	for (int k = 0; k < 3; k++)
		memset(in[k]->grad, 0, sl_tensor_numel(in[k]) * sizeof(float));
	sl_tensor *out = silu ? sl_conv1d_causal_silu(tp, in[0], in[1], in[2]) : sl_conv1d_causal(tp, in[0], in[1], in[2]);
	size_t rows = sl_tensor_rows(out);
	int W = in[0]->shape[2], K = in[1]->shape[1];
	float *dout = malloc(rows * W * sizeof(float));
	for (size_t r = 0; r < rows; r++)
		for (int j = 0; j < W; j++)
			dout[r * W + j] = sinf(0.37f * (float)(1000 * r + (size_t)j));
	sl_tape_backward_from(tp, out, dout);
	for (size_t r = 0; r < rows; r++)
		for (int j = 0; j < C; j++) {
			y[r * C + j] = out->data[r * W + j];
			dx[r * C + j] = in[0]->grad[r * W + j];
		}
	memcpy(dw, in[1]->grad, (size_t)C * K * sizeof(float));
	memcpy(db, in[2]->grad, (size_t)C * sizeof(float));
	free(dout);
	sl_tape_free(tp);
	sl_pool_free(pool);
	sl_arena_free(arena);
}

/* The AVX-512 paths (channels in sixteens: forward's rows, the fused
 * backward's channels) against the plain loops: C channels against the
 * same C channels with one more beside them (C + 1, no sixteens), each
 * channel's arithmetic its own, so the first C give the same bits. */
static void test_conv1d_lanes(void)
{
	struct { int B, T, C, K; } cs[] = { { 3, 9, 16, 4 }, { 2, 20, 32, 4 }, { 4, 6, 48, 7 }, { 2, 3, 16, 4 },
					     { 8, 40, 128, 4 }, { 2, 9, 16, 1 }, { 2, 18, 32, 16 } };
	for (size_t i = 0; i < SL_COUNT(cs); i++)
		for (int silu = 0; silu < 2; silu++) {
			int B = cs[i].B, T = cs[i].T, C = cs[i].C, K = cs[i].K, same = 1;
			sl_tensor *wide[3] = { INPUT(B, T, C + 1), INPUT(C + 1, K), INPUT(C + 1) };
			sl_tensor *nar[3] = { INPUT(B, T, C), INPUT(C, K), INPUT(C) };
			for (size_t r = 0; r < (size_t)B * T; r++)
				for (int j = 0; j < C; j++)
					nar[0]->data[r * C + j] = 3.0f * wide[0]->data[r * (C + 1) + j];
			for (size_t r = 0; r < (size_t)B * T; r++)
				for (int j = 0; j <= C; j++)
					wide[0]->data[r * (C + 1) + j] *= 3.0f;
			memcpy(nar[1]->data, wide[1]->data, (size_t)C * K * sizeof(float));
			memcpy(nar[2]->data, wide[2]->data, (size_t)C * sizeof(float));
			size_t n = (size_t)B * T * C;
			float *a = malloc((2 * n + (size_t)C * K + C) * 2 * sizeof(float)), *b = a + 2 * n + (size_t)C * K + C;
			for (int th = 0; th <= 3; th += th ? 1 : 2) {
				conv_by_channel(nar, silu, th, C, a, a + n, a + 2 * n, a + 2 * n + (size_t)C * K);
				conv_by_channel(wide, silu, th, C, b, b + n, b + 2 * n, b + 2 * n + (size_t)C * K);
				same &= memcmp(a, b, (2 * n + (size_t)C * K + C) * sizeof(float)) == 0;
			}
			TAP_OK(same, "conv1d%s x (%d,%d,%d) K=%d: %d channels (sixteens) give the bits of the same channels beside one more (plain loops): outputs and gradients (no pool, 2, 3 threads)",
			       silu ? "+silu" : "", B, T, C, K, C);
			free(a);
			free_all(wide, 3);
			free_all(nar, 3);
		}
}

static void test_conv1d(void)
{
	struct { int B, T, C, K, bias; } cs[] = {
		{ 2, 7, 5, 4, 1 },
		{ 3, 2, 3, 4, 0 },  /* T < K: every output sees the padding */
		{ 1, 5, 2, 1, 1 },  /* K = 1: a per-channel scale */
	};
	for (size_t i = 0; i < SL_COUNT(cs); i++) {
		sl_tensor *in[3] = { INPUT(cs[i].B, cs[i].T, cs[i].C), INPUT(cs[i].C, cs[i].K), INPUT(cs[i].C) };
		char nm[120];
		snprintf(nm, sizeof nm, "conv1d x (%d,%d,%d) K=%d%s", cs[i].B, cs[i].T, cs[i].C, cs[i].K,
			 cs[i].bias ? " with bias" : "");
		conv_compare(nm, in, cs[i].bias, 0, 1e-6);
		ctx c = { .bias = cs[i].bias };
		gc_both(nm, b_conv, &c, in, cs[i].bias ? 3 : 2);
		if (i == 0) {
			c.inner = b_conv;
			gc_both("conv1d twice, x (2,7,5) K=4 with bias", b_twice, &c, in, 3);
		}
		free_all(in, 3);
	}

	/* the fused SiLU against the convolution then the SiLU op: the same
	 * outputs and gradients, bit for bit, serially and on 2 threads (sizes
	 * below and above the threading threshold; T < K and K - 1 the
	 * edges of backward's ring of dp rows, K = 1 a ring of one; channels
	 * in sixteens, the AVX-512 backward's, and not, and K = 16, its
	 * largest, and 17, past it; 3 threads split 128 channels off the
	 * sixteens); its gradients */
	struct { int B, T, C, K, bias; } fs[] = { { 2, 7, 5, 4, 1 },    { 3, 2, 3, 4, 0 },   { 8, 40, 128, 4, 1 },
						  { 2, 5, 16, 4, 0 },   { 3, 2, 32, 4, 1 },  { 4, 9, 48, 3, 1 },
						  { 2, 6, 16, 7, 0 },   { 8, 40, 64, 5, 0 }, { 2, 3, 8, 4, 1 },
						  { 3, 4, 6, 1, 1 },    { 3, 20, 40, 16, 1 }, { 2, 20, 32, 17, 0 },
						  { 8, 40, 128, 1, 0 } };
	for (size_t i = 0; i < SL_COUNT(fs); i++) {
		sl_tensor *in[3] = { INPUT(fs[i].B, fs[i].T, fs[i].C), INPUT(fs[i].C, fs[i].K), INPUT(fs[i].C) };
		for (size_t k = 0; k < sl_tensor_numel(in[0]); k++)
			in[0]->data[k] *= 3.0f; /* both sides of the SiLU's bend */
		ctx c = { .bias = fs[i].bias };
		int nin = fs[i].bias ? 3 : 2, same = 1;
		for (int th = 0; th <= 3; th += th ? 1 : 2) {
			run_res f = run_op(b_conv_silu, &c, in, nin, th), r = run_op(b_conv_then_silu, &c, in, nin, th);
			same &= f.ok && r.ok && memcmp(f.y, r.y, f.ny * sizeof(float)) == 0;
			for (int k = 0; k < nin; k++)
				same &= memcmp(f.g[k], r.g[k], f.ng[k] * sizeof(float)) == 0;
			res_free(&f);
			res_free(&r);
		}
		char nm[120];
		snprintf(nm, sizeof nm, "conv1d+silu x (%d,%d,%d) K=%d%s", fs[i].B, fs[i].T, fs[i].C, fs[i].K,
			 fs[i].bias ? " with bias" : "");
		TAP_OK(same, "%s: the fused op gives conv1d then silu's outputs and gradients, bit for bit (no pool, 2, 3 threads)",
		       nm);
		if (fs[i].B * fs[i].T * fs[i].C < 1000)
			gc_both_nonlinear(nm, b_conv_silu, &c, in, nin);
		free_all(in, 3);
	}

	/* the fused op on columns of a wider x (Mamba's [x | z]) against it on
	 * their slice: the same outputs and gradients (x's, every column), bit
	 * for bit, serially and on 2 threads; its gradients */
	struct { int B, T, Cx, col, C, K, bias; } ws[] = { { 2, 7, 13, 4, 5, 4, 1 },
							   { 8, 40, 256, 0, 128, 4, 1 },
							   { 4, 9, 96, 48, 48, 3, 0 } };
	for (size_t i = 0; i < SL_COUNT(ws); i++) {
		sl_tensor *in[3] = { INPUT(ws[i].B, ws[i].T, ws[i].Cx), INPUT(ws[i].C, ws[i].K), INPUT(ws[i].C) };
		ctx c = { .bias = ws[i].bias, .start = ws[i].col };
		int nin = ws[i].bias ? 3 : 2, same = 1;
		for (int th = 0; th <= 2; th += 2) {
			run_res f = run_op(b_conv_silu_at, &c, in, nin, th), r = run_op(b_slice_conv_silu, &c, in, nin, th);
			same &= f.ok && r.ok && f.ny == r.ny && memcmp(f.y, r.y, f.ny * sizeof(float)) == 0;
			for (int k = 0; k < nin; k++)
				same &= memcmp(f.g[k], r.g[k], f.ng[k] * sizeof(float)) == 0;
			res_free(&f);
			res_free(&r);
		}
		char nm[120];
		snprintf(nm, sizeof nm, "conv1d+silu on columns %d..%d of x (%d,%d,%d) K=%d%s", ws[i].col,
			 ws[i].col + ws[i].C - 1, ws[i].B, ws[i].T, ws[i].Cx, ws[i].K, ws[i].bias ? " with bias" : "");
		TAP_OK(same, "%s: in place, the same outputs and gradients as on the slice, bit for bit (no pool, 2 threads)",
		       nm);
		if (ws[i].B * ws[i].T * ws[i].Cx < 1000)
			gc_both_nonlinear(nm, b_conv_silu_at, &c, in, nin);
		free_all(in, 3);
	}

	/* Mamba's shape: big enough to split rows and channels */
	sl_tensor *in[3] = { INPUT(8, 64, 128), INPUT(128, 4), INPUT(128) };
	conv_compare("conv1d x (8,64,128) K=4", in, 1, 2, 1e-5);
	ctx c = { .bias = 1 };
	check_threads_same("conv1d x (8,64,128) K=4 with bias", b_conv, &c, in, 3);
	c.bias = 0;
	check_threads_same("conv1d x (8,64,128) K=4", b_conv, &c, in, 2);
	free_all(in, 3);
}

/* ---- linear and matmul ---------------------------------------------------- */

/* Double reference of linear: x (R, I), w (O, I), b (O) or NULL, dy (R, O). */
static void linear_ref(const sl_tensor *x, const sl_tensor *w, const sl_tensor *b, const float *dy,
		       double *y, double *dx, double *dw, double *db)
{
	size_t R = sl_tensor_rows(x);
	int I = w->shape[1], O = w->shape[0];
	for (size_t r = 0; r < R; r++)
		for (int o = 0; o < O; o++) {
			double acc = b ? b->data[o] : 0.0;
			for (int i = 0; i < I; i++)
				acc += (double)x->data[r * I + i] * w->data[(size_t)o * I + i];
			y[r * O + o] = acc;
		}
	for (size_t r = 0; r < R; r++)
		for (int i = 0; i < I; i++) {
			double acc = 0;
			for (int o = 0; o < O; o++)
				acc += (double)dy[r * O + o] * w->data[(size_t)o * I + i];
			dx[r * I + i] = acc;
		}
	for (int o = 0; o < O; o++) {
		for (int i = 0; i < I; i++) {
			double acc = 0;
			for (size_t r = 0; r < R; r++)
				acc += (double)dy[r * O + o] * x->data[r * I + i];
			dw[(size_t)o * I + i] = acc;
		}
		double acc = 0;
		for (size_t r = 0; r < R; r++)
			acc += dy[r * O + o];
		db[o] = acc;
	}
}

static void linear_compare(const char *name, sl_tensor **in, int bias, int threads, double tol)
{
	ctx c = { .bias = bias };
	run_res r = run_op(b_linear, &c, in, 3, threads);
	size_t nx = sl_tensor_numel(in[0]), nw = sl_tensor_numel(in[1]);
	int O = in[1]->shape[0];
	double *y = malloc(r.ny * sizeof *y), *dx = malloc(nx * sizeof *dx);
	double *dw = malloc(nw * sizeof *dw), *db = malloc((size_t)O * sizeof *db);
	linear_ref(in[0], in[1], bias ? in[2] : NULL, r.dy, y, dx, dw, db);
	char nm[160];
	snprintf(nm, sizeof nm, "%s, threads %d: y", name, threads);
	check_close(nm, r.y, y, r.ny, tol);
	snprintf(nm, sizeof nm, "%s, threads %d: dx", name, threads);
	check_close(nm, r.g[0], dx, nx, tol);
	snprintf(nm, sizeof nm, "%s, threads %d: dw", name, threads);
	check_close(nm, r.g[1], dw, nw, tol);
	if (bias) {
		snprintf(nm, sizeof nm, "%s, threads %d: db", name, threads);
		check_close(nm, r.g[2], db, (size_t)O, tol);
	}
	free(y);
	free(dx);
	free(dw);
	free(db);
	res_free(&r);
}

static void test_linear(void)
{
	struct { int nd, xs[3], O, bias; } cs[] = {
		{ 2, { 5, 4 }, 3, 1 },
		{ 2, { 5, 4 }, 3, 0 },
		{ 3, { 2, 3, 4 }, 5, 1 },
		{ 3, { 2, 3, 4 }, 5, 0 },
	};
	for (size_t i = 0; i < SL_COUNT(cs); i++) {
		int I = cs[i].xs[cs[i].nd - 1];
		sl_tensor *in[3] = { gc_input(&rng, cs[i].nd, cs[i].xs, -1, 1), INPUT(cs[i].O, I), INPUT(cs[i].O) };
		char nm[120];
		snprintf(nm, sizeof nm, "linear %d-D x, w (%d,%d)%s", cs[i].nd, cs[i].O, I,
			 cs[i].bias ? " with bias" : "");
		linear_compare(nm, in, cs[i].bias, 0, 1e-6);
		ctx c = { .bias = cs[i].bias };
		gc_both(nm, b_linear, &c, in, cs[i].bias ? 3 : 2);
		free_all(in, 3);
	}

	/* the threaded path: rows of x split over 2 threads, dW's sums relayed
	 * between them (seqlab's kernel) or its rows split (OpenBLAS) */
	sl_tensor *in[3] = { INPUT(512, 64), INPUT(256, 64), INPUT(256) };
	linear_compare("linear x (512,64) w (256,64)", in, 1, 2, 1e-5);
	ctx c = { .bias = 1 };
	run_res a = run_op(b_linear, &c, in, 3, 2), b = run_op(b_linear, &c, in, 3, 2);
	TAP_OK(res_same(&a, &b), "linear x (512,64) w (256,64): two runs at 2 threads have the same bits");
	res_free(&a);
	res_free(&b);
	free_all(in, 3);
}

/* C = op(A) op(B) by definition, for the forward value check. */
static int matmul_placed(const sl_tensor *a, const sl_tensor *b, int ta, int tb, const sl_tensor *y)
{
	int o = a->ndim - 2, batch = a->ndim == 3 ? a->shape[0] : 1;
	int ar = a->shape[o], ac = a->shape[o + 1], bc = b->shape[o + 1];
	int M = ta ? ac : ar, K = ta ? ar : ac, N = y->shape[o + 1];
	for (int p = 0; p < batch; p++)
		for (int i = 0; i < M; i++)
			for (int j = 0; j < N; j++) {
				double acc = 0;
				for (int k = 0; k < K; k++) {
					float av = ta ? a->data[(size_t)p * ar * ac + k * ac + i]
						      : a->data[(size_t)p * ar * ac + i * ac + k];
					float bv = tb ? b->data[(size_t)p * K * N + j * bc + k]
						      : b->data[(size_t)p * K * N + k * bc + j];
					acc += (double)av * bv;
				}
				if (fabs(acc - y->data[((size_t)p * M + i) * N + j]) > 1e-5)
					return 0;
			}
	return 1;
}

static void test_matmul(void)
{
	enum { M = 3, K = 4, N = 2, P = 2 };
	for (int batched = 0; batched <= 1; batched++)
		for (int ta = 0; ta <= 1; ta++)
			for (int tb = 0; tb <= 1; tb++) {
				int as[3] = { P, ta ? K : M, ta ? M : K }, bs[3] = { P, tb ? N : K, tb ? K : N };
				int nd = batched ? 3 : 2;
				sl_tensor *in[2] = { gc_input(&rng, nd, as + !batched, -1, 1),
						     gc_input(&rng, nd, bs + !batched, -1, 1) };
				char nm[120];
				snprintf(nm, sizeof nm, "matmul %s ta=%d tb=%d", batched ? "(2,M,K)x(2,K,N)" : "(M,K)x(K,N)",
					 ta, tb);
				sl_tape *tp = tape_new();
				sl_tensor *y = sl_matmul(tp, in[0], in[1], ta, tb);
				TAP_OK(y->ndim == nd && y->shape[nd - 2] == M && y->shape[nd - 1] == N &&
				       matmul_placed(in[0], in[1], ta, tb, y), "%s: shape and values", nm);
				tape_done(tp);
				ctx c = { .ta = ta, .tb = tb };
				gc_both(nm, b_matmul, &c, in, 2);
				free_all(in, 2);
			}
}


/* ---- block-diagonal linear -------------------------------------------------- */

/* sl_bdlinear(x, w, b), or (c->bias = 0) without b; in[0] x, in[1] w, in[2] b */
static sl_tensor *b_bdlinear(sl_tape *tp, sl_tensor **in, void *v)
{
	ctx *c = v;
	return sl_bdlinear(tp, in[0], in[1], c->bias ? in[2] : NULL);
}

/* the same function composed of shape ops, a batched product and a bias:
 * (..., heads, bw) -> (heads, rows, bw) x w -> back, + b (the RG-LRU's gates
 * before the fused op) */
static sl_tensor *b_bdlinear_composed(sl_tape *tp, sl_tensor **in, void *v)
{
	ctx *c = v;
	sl_tensor *x = in[0], *w = in[1];
	int heads = w->shape[0], bw = w->shape[1], R = (int)sl_tensor_rows(x);
	int s3[3] = { R, heads, bw };
	sl_tensor *xh = sl_transpose(tp, sl_reshape(tp, x, 3, s3), 0, 1);
	sl_tensor *y = sl_reshape(tp, sl_transpose(tp, sl_matmul(tp, xh, w, 0, 0), 0, 1), x->ndim, x->shape);
	return c->bias ? sl_bias(tp, y, in[2]) : y;
}

/* both gates of the RG-LRU on one input: the gradient of x gathers both */
static sl_tensor *b_bdlinear_pair(sl_tape *tp, sl_tensor **in, void *v)
{
	ctx *c = v;
	gc_build_fn f = c->inner;
	sl_tensor *a[3] = { in[0], in[1], in[2] }, *g[3] = { in[0], in[3], in[4] };
	return sl_mul(tp, f(tp, a, c), f(tp, g, c));
}

static void test_bdlinear(void)
{
	/* finite differences: 3-D x with 2 blocks of 4, with and without the bias */
	for (int bias = 1; bias >= 0; bias--) {
		sl_tensor *in[3] = { INPUT(2, 3, 8), INPUT(2, 4, 4), INPUT(8) };
		ctx c = { .bias = bias };
		char nm[120];
		snprintf(nm, sizeof nm, "bdlinear x (2,3,8) w (2,4,4)%s", bias ? " with bias" : "");
		gc_both(nm, b_bdlinear, &c, in, bias ? 3 : 2);
		free_all(in, 3);
	}
	sl_tensor *in1[2] = { INPUT(5, 6), INPUT(1, 6, 6) };
	gc_both("bdlinear one block: x (5,6) w (1,6,6)", b_bdlinear, &(ctx){ .bias = 0 }, in1, 2);
	free_all(in1, 2);

	/* against the composed path, at a size that splits the blocks over 2
	 * threads: the same bits with seqlab's matrix kernel (every element the
	 * same fused multiply-add chain), else within rounding */
	sl_tensor *in[5] = { INPUT(4, 64, 64), INPUT(4, 16, 16), INPUT(64), INPUT(4, 16, 16), INPUT(64) };
	int exact = sl_gemm_available() && !strcmp(sl_gemm_name(), "seqlab");
	for (int th = 0; th <= 2; th += 2) {
		ctx f = { .bias = 1, .inner = b_bdlinear }, k = { .bias = 1, .inner = b_bdlinear_composed };
		run_res a = run_op(b_bdlinear_pair, &f, in, 5, th), b = run_op(b_bdlinear_pair, &k, in, 5, th);
		char nm[160];
		snprintf(nm, sizeof nm, "bdlinear x (4,64,64), 4 blocks of 16, two on one x, threads %d", th);
		if (exact) {
			TAP_OK(res_same(&a, &b), "%s: the composed path's bits (output and gradients)", nm);
		} else {
			for (int k = -1; k < 5; k++) {
				const float *got = k < 0 ? a.y : a.g[k], *want = k < 0 ? b.y : b.g[k];
				size_t n = k < 0 ? a.ny : a.ng[k];
				double *ref = malloc(n * sizeof *ref);
				for (size_t i = 0; i < n; i++)
					ref[i] = want[i];
				char what[200];
				snprintf(what, sizeof what, "%s: %s near the composed path's", nm, k < 0 ? "y" : "a gradient");
				check_close(what, got, ref, n, 1e-5);
				free(ref);
			}
		}
		res_free(&a);
		res_free(&b);
	}
	ctx f = { .bias = 1, .inner = b_bdlinear };
	check_threads_same("bdlinear x (4,64,64), 4 blocks of 16", b_bdlinear_pair, &f, in, 5);
	free_all(in, 5);
}

int main(void)
{
	sl_rng_seed(&rng, 2024);
	check_aborts("embedding id == V", emb_bad_id);
	check_aborts("embedding id < 0", emb_neg_id);
	test_reshape();
	test_transpose();
	test_slice();
	test_concat();
	test_embedding();
	test_dropout();
	test_conv1d();
	test_conv1d_lanes();
	test_linear();
	test_matmul();
	test_bdlinear();
	return tap_done();
}
