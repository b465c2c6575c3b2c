/* op_linear.c - dense layers and matrix products, on seqlab's matrix kernel
 * (sl_gemm) or OpenBLAS sgemm.
 *
 * OpenBLAS runs single-threaded; we split the work ourselves with a fixed
 * partition (rows of x for the forward pass and dx; for the weight gradient,
 * rows of dW, or with seqlab's kernel a relay of its sums over the rows of
 * x: lb_run), which is faster on these skinny shapes (DESIGN.md section 2)
 * and keeps results independent of timing. */
#include "ops_impl.h"

#include <cblas.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

void openblas_set_num_threads(int num_threads);
char *openblas_get_corename(void);

static pthread_once_t blas_once = PTHREAD_ONCE_INIT;

static void blas_init(void)
{
	openblas_set_num_threads(1);
}

static int gemm_own = -1; /* -1: not chosen yet (auto) */
static pthread_once_t gemm_once = PTHREAD_ONCE_INIT;

/* First use without a choice: SEQLAB_GEMM's ("openblas" or "seqlab"; the
 * front-ends report a bad value), else seqlab's kernel where there is one. */
static void gemm_auto(void)
{
	if (gemm_own >= 0)
		return;
	const char *env = getenv("SEQLAB_GEMM");
	gemm_own = env && !strcmp(env, "openblas") ? 0 : sl_gemm_available();
}

int sl_gemm_select(const char *name)
{
	if (!strcmp(name, "auto")) {
		gemm_own = sl_gemm_available();
	} else if (!strcmp(name, "seqlab")) {
		if (!sl_gemm_available()) {
			sl_errorf("gemm: this build has no vector kernel of its own (it needs AVX-512); use openblas");
			return SL_ERR;
		}
		gemm_own = 1;
	} else if (!strcmp(name, "openblas")) {
		gemm_own = 0;
	} else {
		sl_errorf("gemm: unknown kernel '%s' (auto, seqlab or openblas)", name);
		return SL_ERR;
	}
	return SL_OK;
}

const char *sl_gemm_name(void)
{
	pthread_once(&gemm_once, gemm_auto);
	return gemm_own ? "seqlab" : "openblas";
}

void sl_sgemm(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
	      const float *b, int ldb, float beta, float *c, int ldc)
{
	pthread_once(&gemm_once, gemm_auto);
	if (gemm_own) {
		sl_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
		return;
	}
	pthread_once(&blas_once, blas_init);
	cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
		    m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

/* C = bias + A B^T: sl_gemm_bias with seqlab's kernel, else the bias copied
 * into C's rows and cblas_sgemm with beta = 1 */
static void sgemm_bias(int m, int n, int k, const float *a, int lda, const float *b, int ldb,
		       const float *bias, float *c, int ldc)
{
	pthread_once(&gemm_once, gemm_auto);
	if (gemm_own) {
		sl_gemm_bias(m, n, k, a, lda, b, ldb, bias, c, ldc);
		return;
	}
	for (int i = 0; i < m; i++)
		memcpy(c + (size_t)i * ldc, bias, (size_t)n * sizeof(float));
	sl_sgemm(0, 1, m, n, k, 1.0f, a, lda, b, ldb, 1.0f, c, ldc);
}

/* C = res + (bias + A B^T) (bias may be NULL): sl_gemm_res with seqlab's
 * kernel, else the product stored and res added after it, as sl_add would */
static void sgemm_res(int m, int n, int k, const float *a, int lda, const float *b, int ldb, const float *bias,
		      const float *res, float *c, int ldc)
{
	pthread_once(&gemm_once, gemm_auto);
	if (gemm_own) {
		sl_gemm_res(m, n, k, a, lda, b, ldb, bias, res, ldc, c, ldc);
		return;
	}
	if (bias)
		sgemm_bias(m, n, k, a, lda, b, ldb, bias, c, ldc);
	else
		sl_sgemm(0, 1, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, ldc);
	for (size_t i = 0; i < (size_t)m * ldc; i++)
		c[i] = res[i] + c[i];
}

void sl_blas_single(void)
{
	pthread_once(&blas_once, blas_init);
}

const char *sl_blas_core(void)
{
	return openblas_get_corename();
}

/* ---- the backward of one or two linear layers on one input ----------------
 * dx = dy1 W1 (+ dy2 W2), dW_b += dy_bᵀ x, db_b += the rows of dy_b, with
 * dy (R, O) holding the layers' gradients side by side (columns [0, o1),
 * then [o1, o1 + o2)). The weight gradients' rows are sums over all R
 * rows. Split by their rows over the threads (OpenBLAS), every thread reads
 * all of x and dy, half of which another core's cache holds (the rows the
 * forward and the op before wrote there): at two threads this product
 * barely ran faster than on one. With seqlab's kernel they run as a relay
 * instead: the rows of dW (and db) in one group per thread, each group's
 * sums over the rows carried from part to part in row order
 * (sl_gemm_chain, parked exactly between parts), every part on its own
 * rows of x and dy, doing its rows of dx while it waits for a group. The
 * same sums in the same order as one call over all rows: the same bits
 * at any thread count. */

/* the residual's gradient, rows [lo, hi) of no columns: dres += dy (0 + dy
 * when fresh), first, as sl_add's backward ran before the layer's (dres may
 * be dx itself: then in that order too) */
static void res_rows_add(float *dres, int fresh, const float *dy, int no, size_t lo, size_t hi)
{
	if (!dres)
		return;
	if (fresh)
		for (size_t i = lo * (size_t)no; i < hi * (size_t)no; i++)
			dres[i] = 0.0f + dy[i];
	else
		for (size_t i = lo * (size_t)no; i < hi * (size_t)no; i++)
			dres[i] += dy[i];
}

/* rows [lo, hi) of a weight gradient, summed over all R rows, and the same
 * entries of the bias's: dW[lo:hi] (O', I) += dy[:, lo:hi]^T (O', R) . x
 * (R, I), db[o] += sum_r dy[r, o], rows in order (either may be NULL) */
static void dw_rows(const float *dy, const float *x, int R, int ni, int no, float *dw, float *db, size_t lo,
		    size_t hi)
{
	if (dw)
		sl_sgemm(1, 0, (int)(hi - lo), ni, R, 1.0f, dy + lo, no, x, ni, 1.0f, dw + lo * (size_t)ni, ni);
	if (db)
		sl_colsum_add(db, dy, (size_t)R, (size_t)no, lo, hi);
}

typedef struct lb_ctx {
	const float *x, *dy, *w[2];
	float *dx;
	float *dw, *db;       /* [dW1; dW2] (no, ni) and [db1, db2] (no), or NULL */
	int R, ni, no, nb, o[2];
	float dx_beta;        /* 0 when dx is a fresh buffer, else 1 */
	float *dres;          /* sl_linear_residual: the residual's gradient, or NULL */
	int fres;             /* dres fresh: written as 0 + dy */
	/* the relay: group g's stage and parked sums */
	int nparts;           /* the parts (and groups) they are for */
	int *stage;
	float **park;
} lb_ctx;

/* rows of dx at a time: two layers' products on them while they are in
 * cache; a relay's part looks at the next group between them */
#define LB_CHUNK 128

/* dx[lo:hi] (+)= dy1[lo:hi] W1 (+ dy2[lo:hi] W2) */
static void lb_dx_rows(void *arg, size_t lo, size_t hi)
{
	lb_ctx *c = arg;
	res_rows_add(c->dres, c->fres, c->dy, c->no, lo, hi);
	if (!c->dx)
		return;
	for (size_t r0 = lo, r1; r0 < hi; r0 = r1) {
		r1 = c->nb == 1 || hi - r0 < LB_CHUNK ? hi : r0 + LB_CHUNK;
		int off = 0;
		for (int b = 0; b < c->nb; b++) {
			sl_sgemm(0, 0, (int)(r1 - r0), c->ni, c->o[b], 1.0f, c->dy + r0 * (size_t)c->no + off, c->no,
				 c->w[b], c->ni, b ? 1.0f : c->dx_beta, c->dx + r0 * (size_t)c->ni, c->ni);
			off += c->o[b];
		}
	}
}

/* rows [lo, hi) of [dW1; dW2] and the same entries of [db1, db2], summed
 * over all rows */
static void lb_dw_rows(void *arg, size_t lo, size_t hi)
{
	lb_ctx *c = arg;
	dw_rows(c->dy, c->x, c->R, c->ni, c->no, c->dw, c->db, lo, hi);
}

/* part tid of the relay: its rows of dx, and its stretch of every group's sums */
static void lb_relay(void *arg, int tid, int nth)
{
	lb_ctx *c = arg;
	size_t r0, r1, next;
	if (nth != c->nparts) { /* run serially from inside another task: no relay */
		if (c->dx || c->dres)
			lb_dx_rows(c, 0, (size_t)c->R);
		lb_dw_rows(c, 0, (size_t)c->no);
		return;
	}
	sl_range((size_t)c->R, tid, nth, &r0, &r1);
	next = c->dx || c->dres ? r0 : r1;
	const float *dy = c->dy + r0 * (size_t)c->no;
	for (int g = 0; g < nth; g++) {
		size_t lo, hi;
		sl_range((size_t)c->no, g, nth, &lo, &hi);
		while (next < r1 && !sl_relay_ready(&c->stage[g], tid)) { /* dx while the group is not ready */
			size_t e = r1 - next < LB_CHUNK ? r1 : next + LB_CHUNK;
			lb_dx_rows(c, next, e);
			next = e;
		}
		sl_relay_wait(&c->stage[g], tid);
		if (c->dw && lo < hi)
			sl_gemm_chain(1, (int)(hi - lo), c->ni, (int)(r1 - r0), 1.0f, dy + lo, c->no,
				      c->x + r0 * (size_t)c->ni, c->ni, 1.0f, c->dw + lo * (size_t)c->ni, c->ni, c->park[g],
				      tid == 0, tid == nth - 1);
		if (c->db) /* db's sums run in place: the next part adds on */
			sl_colsum_add(c->db, dy, r1 - r0, (size_t)c->no, lo, hi);
		sl_relay_pass(&c->stage[g], tid);
	}
	if (next < r1)
		lb_dx_rows(c, next, r1);
}

/* dx into c->dx (set), the weights' and biases' gradients added into dw[b]
 * and db[b] (each NULL when not wanted). Two layers' go through one matrix
 * [dW1; dW2] (and [db1, db2]), their gradients copied in and back out, so
 * one product over the rows reads dy once for both (the copies are exact:
 * the same bits). */
static void lb_run(sl_tape *tp, lb_ctx *c, float *const dw[2], float *const db[2])
{
	size_t nw = (size_t)c->no * c->ni, off1 = (size_t)c->o[0];
	c->dw = c->nb == 1 ? dw[0] : NULL;
	c->db = c->nb == 1 ? db[0] : NULL;
	if (c->nb == 2 && (dw[0] || dw[1])) {
		c->dw = sl_arena_alloc(tp->arena, nw * sizeof(float));
		for (int b = 0; b < 2; b++) {
			float *d = c->dw + (b ? off1 * c->ni : 0);
			size_t n = (size_t)c->o[b] * c->ni;
			if (dw[b])
				memcpy(d, dw[b], n * sizeof(float));
			else
				memset(d, 0, n * sizeof(float));
		}
	}
	if (c->nb == 2 && (db[0] || db[1])) {
		c->db = sl_arena_alloc(tp->arena, (size_t)c->no * sizeof(float));
		for (int b = 0; b < 2; b++) {
			float *d = c->db + (b ? off1 : 0);
			if (db[b])
				memcpy(d, db[b], (size_t)c->o[b] * sizeof(float));
			else
				memset(d, 0, (size_t)c->o[b] * sizeof(float));
		}
	}
	size_t ndx = c->dx || c->dres ? (size_t)c->R : 0, ndw = c->dw || c->db ? (size_t)c->no : 0;
	int nth = sl_pool_size(tp->pool);
	pthread_once(&gemm_once, gemm_auto);
	if ((size_t)c->R * c->ni * c->no < SL_PAR_MIN_WORK) {
		if (ndx)
			lb_dx_rows(c, 0, ndx);
		if (ndw)
			lb_dw_rows(c, 0, ndw);
	} else if (!gemm_own || nth == 1 || !ndw) {
		/* dx's rows and dW's rows in one hand-off: neither reads what the other writes */
		sl_pool_for2(tp->pool, ndx, lb_dx_rows, ndw, lb_dw_rows, c);
	} else {
		c->nparts = nth;
		c->stage = sl_arena_alloc(tp->arena, (size_t)nth * sizeof *c->stage);
		memset(c->stage, 0, (size_t)nth * sizeof *c->stage);
		c->park = sl_arena_alloc(tp->arena, (size_t)nth * sizeof *c->park);
		for (int g = 0; g < nth; g++) {
			size_t lo, hi;
			sl_range((size_t)c->no, g, nth, &lo, &hi);
			size_t np = sl_gemm_park_floats((int)(hi - lo), c->ni);
			c->park[g] = c->dw && lo < hi ? sl_arena_alloc(tp->arena, np * sizeof(float)) : NULL;
		}
		sl_pool_run(tp->pool, lb_relay, c);
	}
	if (c->nb == 2)
		for (int b = 0; b < 2; b++) {
			if (dw[b])
				memcpy(dw[b], c->dw + (b ? off1 * c->ni : 0), (size_t)c->o[b] * c->ni * sizeof(float));
			if (db[b])
				memcpy(db[b], c->db + (b ? off1 : 0), (size_t)c->o[b] * sizeof(float));
		}
}

/* ---- linear: y (R, O) = x (R, I) . W^T (I, O) + b ------------------------ */

typedef struct lin_ctx {
	const float *x, *w, *b, *dy;
	const float *res;     /* sl_linear_residual: the residual (R, O), or NULL */
	float *y, *dx, *dw, *db;
	float *dres;          /* the residual's gradient, or NULL */
	int fres;             /* dres fresh: written as 0 + dy */
	float dx_beta;        /* 0 when dx is a fresh buffer, else 1 */
	int R, ni, no;
} lin_ctx;

static void lin_fwd_rows(void *arg, size_t lo, size_t hi)
{
	lin_ctx *c = arg;
	int r = (int)(hi - lo);
	float *y = c->y + lo * (size_t)c->no;
	/* y[lo:hi] = x[lo:hi] W^T (+ b: b + acc, one rounding) (+ res after it) */
	if (c->res)
		sgemm_res(r, c->no, c->ni, c->x + lo * (size_t)c->ni, c->ni, c->w, c->ni, c->b,
			  c->res + lo * (size_t)c->no, y, c->no);
	else if (c->b)
		sgemm_bias(r, c->no, c->ni, c->x + lo * (size_t)c->ni, c->ni, c->w, c->ni, c->b, y, c->no);
	else
		sl_sgemm(0, 1, r, c->no, c->ni, 1.0f, c->x + lo * (size_t)c->ni, c->ni, c->w, c->ni, 0.0f,
			 y, c->no);
}

static void res_rows(const lin_ctx *c, size_t lo, size_t hi)
{
	res_rows_add(c->dres, c->fres, c->dy, c->no, lo, hi);
}

static void lin_dw_rows(void *arg, size_t lo, size_t hi)
{
	lin_ctx *c = arg;
	dw_rows(c->dy, c->x, c->R, c->ni, c->no, c->dw, c->db, lo, hi);
}

static void lin_run(sl_tape *tp, size_t n, sl_range_fn fn, lin_ctx *c)
{
	if ((size_t)c->R * c->ni * c->no < SL_PAR_MIN_WORK)
		fn(c, 0, n);
	else
		sl_pool_for(tp->pool, n, fn, c);
}

/* The residual's gradient, asked for before any other: sl_add's backward,
 * which the op replaces, came before the layer's. Where nothing has written
 * it yet it takes dy's buffer (sl_tape_grad_handoff) in place of a copy; not
 * when the residual is x itself, whose gradient the op writes while its dW
 * still reads dy. */
static void res_grad(sl_tape *tp, sl_node *n, sl_tensor *res, const sl_tensor *x, float **dres, int *fres)
{
	if (!res || !res->requires_grad)
		return;
	if (res != x)
		*dres = sl_tape_grad_handoff(tp, res, n, fres);
	else
		*dres = sl_tape_grad_fresh(tp, res, fres);
}

static sl_tensor *linear(sl_tape *tp, sl_tensor *x, sl_tensor *w, sl_tensor *b, sl_tensor *res)
{
	SL_ASSERT(w->ndim == 2 && sl_tensor_dim(x, -1) == w->shape[1]);
	SL_ASSERT(!b || (b->ndim == 1 && b->shape[0] == w->shape[0]));
	int shape[SL_MAXDIM];
	memcpy(shape, x->shape, sizeof shape);
	shape[x->ndim - 1] = w->shape[0];
	sl_tensor *ins[4] = { x, w, b, res };
	sl_node n = sl_node_make(tp, SL_OP_LINEAR, ins, res ? 4 : 3, x->ndim, shape);
	SL_ASSERT(!res || sl_tensor_same_shape(res, n.out));
	return sl_tape_apply(tp, &n);
}

sl_tensor *sl_linear(sl_tape *tp, sl_tensor *x, sl_tensor *w, sl_tensor *b)
{
	return linear(tp, x, w, b, NULL);
}

sl_tensor *sl_linear_residual(sl_tape *tp, sl_tensor *x, sl_tensor *w, sl_tensor *b, sl_tensor *res)
{
	return linear(tp, x, w, b, res);
}

void sl_op_linear_forward(sl_tape *tp, sl_node *n)
{
	sl_tensor *x = n->in[0], *w = n->in[1], *b = n->in[2], *res = n->nin > 3 ? n->in[3] : NULL;
	lin_ctx c = { .x = x->data, .w = w->data, .b = b ? b->data : NULL, .res = res ? res->data : NULL,
		      .y = n->out->data, .R = (int)sl_tensor_rows(x), .ni = w->shape[1], .no = w->shape[0] };
	lin_run(tp, (size_t)c.R, lin_fwd_rows, &c);
}

void sl_op_linear_backward(sl_tape *tp, sl_node *n)
{
	sl_tensor *x = n->in[0], *w = n->in[1], *b = n->in[2], *res = n->nin > 3 ? n->in[3] : NULL;
	lb_ctx c = { .x = x->data, .dy = n->out->grad, .w = { w->data }, .R = (int)sl_tensor_rows(x),
		     .ni = w->shape[1], .no = w->shape[0], .nb = 1, .o = { w->shape[0] } };
	res_grad(tp, n, res, x, &c.dres, &c.fres);
	if (x->requires_grad) {
		int fresh;
		c.dx = sl_tape_grad_fresh(tp, x, &fresh);
		c.dx_beta = fresh ? 0.0f : 1.0f;
	}
	float *dw[2] = { w->requires_grad ? sl_tape_grad(tp, w) : NULL, NULL };
	float *db[2] = { b && b->requires_grad ? sl_tape_grad(tp, b) : NULL, NULL };
	lb_run(tp, &c, dw, db);
}

/* ---- linear_pair: y (R, O1 + O2) = [x W1^T + b1, x W2^T + b2] -------------
 * Two linear layers that read the same input (the LRU's out1 and out2), as
 * one op: the forward one product over both weights' panels (x read once),
 * the backward one pass for dx = dy1 W1 + dy2 W2 and both layers' weight
 * gradients (lb_run). Every element keeps the order of sums of the two
 * sl_linear calls, the second's backward first: dx = dy1 W1, then
 * + dy2 W2. */

typedef struct lp_ctx {
	const float *x, *w1, *b1, *w2, *b2;
	float *y;
	int R, ni, o1, o2;
} lp_ctx;

static void lp_fwd_rows(void *arg, size_t lo, size_t hi)
{
	lp_ctx *c = arg;
	int r = (int)(hi - lo), no = c->o1 + c->o2;
	const float *x = c->x + lo * (size_t)c->ni;
	float *y = c->y + lo * (size_t)no;
	pthread_once(&gemm_once, gemm_auto);
	if (gemm_own && c->b1 && c->b2) {
		sl_gemm_bias2(r, c->ni, x, c->ni, c->o1, c->w1, c->ni, c->b1, c->o2, c->w2, c->ni, c->b2, y, no);
		return;
	}
	if (c->b1)
		sgemm_bias(r, c->o1, c->ni, x, c->ni, c->w1, c->ni, c->b1, y, no);
	else
		sl_sgemm(0, 1, r, c->o1, c->ni, 1.0f, x, c->ni, c->w1, c->ni, 0.0f, y, no);
	if (c->b2)
		sgemm_bias(r, c->o2, c->ni, x, c->ni, c->w2, c->ni, c->b2, y + c->o1, no);
	else
		sl_sgemm(0, 1, r, c->o2, c->ni, 1.0f, x, c->ni, c->w2, c->ni, 0.0f, y + c->o1, no);
}

sl_tensor *sl_linear_pair(sl_tape *tp, sl_tensor *x, sl_tensor *w1, sl_tensor *b1, sl_tensor *w2, sl_tensor *b2)
{
	SL_ASSERT(w1->ndim == 2 && w2->ndim == 2 && sl_tensor_dim(x, -1) == w1->shape[1] &&
		  w2->shape[1] == w1->shape[1]);
	SL_ASSERT(!b1 || (b1->ndim == 1 && b1->shape[0] == w1->shape[0]));
	SL_ASSERT(!b2 || (b2->ndim == 1 && b2->shape[0] == w2->shape[0]));
	int shape[SL_MAXDIM];
	memcpy(shape, x->shape, sizeof shape);
	shape[x->ndim - 1] = w1->shape[0] + w2->shape[0];
	sl_tensor *ins[5] = { x, w1, b1, w2, b2 };
	sl_node n = sl_node_make(tp, SL_OP_LINEAR_PAIR, ins, 5, x->ndim, shape);
	return sl_tape_apply(tp, &n);
}

static lp_ctx lp_ctx_of(const sl_node *n)
{
	const sl_tensor *x = n->in[0], *w1 = n->in[1], *b1 = n->in[2], *w2 = n->in[3], *b2 = n->in[4];
	lp_ctx c = { .x = x->data, .w1 = w1->data, .b1 = b1 ? b1->data : NULL, .w2 = w2->data,
		     .b2 = b2 ? b2->data : NULL, .R = (int)sl_tensor_rows(x), .ni = w1->shape[1],
		     .o1 = w1->shape[0], .o2 = w2->shape[0] };
	return c;
}

void sl_op_linear_pair_forward(sl_tape *tp, sl_node *n)
{
	lp_ctx c = lp_ctx_of(n);
	c.y = n->out->data;
	if ((size_t)c.R * c.ni * (size_t)(c.o1 + c.o2) < SL_PAR_MIN_WORK)
		lp_fwd_rows(&c, 0, (size_t)c.R);
	else
		sl_pool_for(tp->pool, (size_t)c.R, lp_fwd_rows, &c);
}

void sl_op_linear_pair_backward(sl_tape *tp, sl_node *n)
{
	sl_tensor *x = n->in[0], *w1 = n->in[1], *b1 = n->in[2], *w2 = n->in[3], *b2 = n->in[4];
	lb_ctx c = { .x = x->data, .dy = n->out->grad, .w = { w1->data, w2->data }, .R = (int)sl_tensor_rows(x),
		     .ni = w1->shape[1], .no = w1->shape[0] + w2->shape[0], .nb = 2,
		     .o = { w1->shape[0], w2->shape[0] } };
	if (x->requires_grad) {
		int fresh;
		c.dx = sl_tape_grad_fresh(tp, x, &fresh);
		c.dx_beta = fresh ? 0.0f : 1.0f;
	}
	float *dw[2] = { w1->requires_grad ? sl_tape_grad(tp, w1) : NULL,
			 w2->requires_grad ? sl_tape_grad(tp, w2) : NULL };
	float *db[2] = { b1 && b1->requires_grad ? sl_tape_grad(tp, b1) : NULL,
			 b2 && b2->requires_grad ? sl_tape_grad(tp, b2) : NULL };
	lb_run(tp, &c, dw, db);
}

/* ---- mlp: y = res + gelu(x W1^T + b1) W2^T + b2 -------------------------
 * The position-wise MLP as one op, the same bits as sl_linear, sl_gelu and
 * sl_linear_residual (or sl_linear) one after the other: the same products
 * and the same GELU expressions (ops_impl.h), the GELU applied to each tile
 * of the first product as the kernel stores it (sl_gemm_epi_run), and in
 * backward its derivative to each tile of dy W2. What it saves: the GELU's
 * own passes over the (R, F) activations, three pool hand-offs of five.
 * Forward, per block of rows: h = x W1^T + b1, q = 1 + erf(h/√2), g = h/2 q
 * (h, q and g kept, n->saved), then y = res + (b2 + g W2^T). Backward:
 * (1) the residual's gradient and dh = 0 + (dy W2) gelu'(h), over rows, with
 * dW2 += dy^T g and db2 over W2's rows; (2) dx = dh W1 over rows, with dW1
 * += dh^T x and db1 relayed over the rows: linear's backward on dh (lb_run). */

typedef struct mlp_ctx {
	lin_ctx up, down;     /* the two layers: x -> h (dy: dh), g -> y */
	float *h, *q, *g;     /* (R, F) each */
	float *dh;            /* (R, F) */
} mlp_ctx;

/* forward epilogue on a block of h: its q and g */
static void mlp_gelu_tile(void *arg, float *c, int ldc, int rows, int cols)
{
	const mlp_ctx *m = arg;
	size_t off = (size_t)(c - m->h);
	for (int r = 0; r < rows; r++) {
		const float *h = c + (size_t)r * ldc;
		float *q = m->q + off + (size_t)r * ldc, *g = m->g + off + (size_t)r * ldc;
		for (int j = 0; j < cols; j++) {
			q[j] = sl_gelu_q(h[j]);
			g[j] = sl_gelu_fq(h[j], q[j]);
		}
	}
}

/* backward epilogue on a block of dy W2 (the GELU output's gradient, stored
 * in dh): dh = 0 + it gelu'(h), as sl_gelu's backward wrote a fresh buffer */
static void mlp_dgelu_tile(void *arg, float *c, int ldc, int rows, int cols)
{
	const mlp_ctx *m = arg;
	size_t off = (size_t)(c - m->dh);
	for (int r = 0; r < rows; r++) {
		float *d = c + (size_t)r * ldc;
		const float *h = m->h + off + (size_t)r * ldc, *q = m->q + off + (size_t)r * ldc;
		for (int j = 0; j < cols; j++)
			d[j] = 0.0f + d[j] * sl_gelu_dq(h[j], q[j]);
	}
}

/* C (m, n) = op(A) op(B) (+ bias), then epi over it: per tile in seqlab's
 * kernel, else once after OpenBLAS's product */
static void sgemm_epi(int ta, int tb, int m, int n, int k, const float *a, int lda, const float *b, int ldb,
		      const float *bias, float *c, int ldc, sl_gemm_epi epi, void *ectx)
{
	pthread_once(&gemm_once, gemm_auto);
	if (gemm_own) {
		sl_gemm_epi_run(ta, tb, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, bias, c, ldc, epi, ectx);
		return;
	}
	if (bias)
		sgemm_bias(m, n, k, a, lda, b, ldb, bias, c, ldc);
	else
		sl_sgemm(ta, tb, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, ldc);
	if (m > 0 && n > 0)
		epi(ectx, c, ldc, m, n);
}

static void mlp_fwd_rows(void *arg, size_t lo, size_t hi)
{
	mlp_ctx *m = arg;
	const lin_ctx *u = &m->up;
	int r = (int)(hi - lo);
	sgemm_epi(0, 1, r, u->no, u->ni, u->x + lo * (size_t)u->ni, u->ni, u->w, u->ni, u->b, m->h + lo * (size_t)u->no,
		  u->no, mlp_gelu_tile, m);
	lin_fwd_rows(&m->down, lo, hi); /* its rows of g are this block's */
}

/* backward (1), rows: the residual's gradient, then dh */
static void mlp_dh_rows(void *arg, size_t lo, size_t hi)
{
	mlp_ctx *m = arg;
	const lin_ctx *d = &m->down;
	res_rows(d, lo, hi);
	sgemm_epi(0, 0, (int)(hi - lo), d->ni, d->no, d->dy + lo * (size_t)d->no, d->no, d->w, d->ni, NULL,
		  m->dh + lo * (size_t)d->ni, d->ni, mlp_dgelu_tile, m);
}

static void mlp_dw2_rows(void *arg, size_t lo, size_t hi)
{
	lin_dw_rows(&((mlp_ctx *)arg)->down, lo, hi);
}

sl_tensor *sl_mlp(sl_tape *tp, sl_tensor *x, sl_tensor *w1, sl_tensor *b1, sl_tensor *w2, sl_tensor *b2,
		  sl_tensor *res)
{
	int H = sl_tensor_dim(x, -1);
	SL_ASSERT(w1->ndim == 2 && w1->shape[1] == H && w2->ndim == 2 && w2->shape[1] == w1->shape[0]);
	SL_ASSERT(!b1 || (b1->ndim == 1 && b1->shape[0] == w1->shape[0]));
	SL_ASSERT(!b2 || (b2->ndim == 1 && b2->shape[0] == w2->shape[0]));
	int shape[SL_MAXDIM];
	memcpy(shape, x->shape, sizeof shape);
	shape[x->ndim - 1] = w2->shape[0];
	sl_tensor *ins[6] = { x, w1, b1, w2, b2, res };
	sl_node n = sl_node_make(tp, SL_OP_MLP, ins, 6, x->ndim, shape);
	SL_ASSERT(!res || sl_tensor_same_shape(res, n.out));
	return sl_tape_apply(tp, &n);
}

/* the context of node n: the layers' shapes and weights, h, q, g at saved */
static mlp_ctx mlp_ctx_of(const sl_node *n, float *saved)
{
	sl_tensor *x = n->in[0], *w1 = n->in[1], *b1 = n->in[2], *w2 = n->in[3], *b2 = n->in[4], *res = n->in[5];
	int R = (int)sl_tensor_rows(x), F = w1->shape[0];
	mlp_ctx m = { .h = saved, .q = saved + (size_t)R * F, .g = saved + 2 * (size_t)R * F };
	m.up = (lin_ctx){ .x = x->data, .w = w1->data, .b = b1 ? b1->data : NULL, .y = m.h, .R = R,
			  .ni = w1->shape[1], .no = F };
	m.down = (lin_ctx){ .x = m.g, .w = w2->data, .b = b2 ? b2->data : NULL, .res = res ? res->data : NULL,
			    .y = n->out->data, .R = R, .ni = F, .no = w2->shape[0] };
	return m;
}

void sl_op_mlp_forward(sl_tape *tp, sl_node *n)
{
	size_t R = sl_tensor_rows(n->in[0]), F = (size_t)n->in[1]->shape[0];
	n->saved = sl_arena_alloc(tp->arena, 3 * R * F * sizeof(float));
	mlp_ctx m = mlp_ctx_of(n, n->saved);
	if (R * F * (size_t)(m.up.ni + m.down.no) < SL_PAR_MIN_WORK)
		mlp_fwd_rows(&m, 0, R);
	else
		sl_pool_for(tp->pool, R, mlp_fwd_rows, &m);
}

void sl_op_mlp_backward(sl_tape *tp, sl_node *n)
{
	sl_tensor *x = n->in[0], *w1 = n->in[1], *b1 = n->in[2], *w2 = n->in[3], *b2 = n->in[4], *res = n->in[5];
	mlp_ctx m = mlp_ctx_of(n, n->saved);
	size_t R = (size_t)m.up.R, F = (size_t)m.up.no;
	int serial = R * F * (size_t)(m.up.ni + m.down.no) < SL_PAR_MIN_WORK;
	/* (1) the residual's gradient first, then the GELU output's (fresh: it
	 * is the op's own) turned into dh, with the second layer's dW and db */
	m.down.dy = n->out->grad;
	res_grad(tp, n, res, x, &m.down.dres, &m.down.fres);
	m.down.dw = w2->requires_grad ? sl_tape_grad(tp, w2) : NULL;
	m.down.db = b2 && b2->requires_grad ? sl_tape_grad(tp, b2) : NULL;
	m.dh = sl_arena_alloc(tp->arena, R * F * sizeof(float));
	size_t nw2 = m.down.dw || m.down.db ? (size_t)m.down.no : 0;
	if (serial) {
		mlp_dh_rows(&m, 0, R);
		if (nw2)
			mlp_dw2_rows(&m, 0, nw2);
	} else {
		sl_pool_for2(tp->pool, R, mlp_dh_rows, nw2, mlp_dw2_rows, &m);
	}
	/* (2) the first layer's backward on dh: linear's (lb_run: dx over
	 * rows, dW1 and db1 a relay over them) */
	lb_ctx lc = { .x = m.up.x, .dy = m.dh, .w = { m.up.w }, .R = m.up.R, .ni = m.up.ni, .no = m.up.no, .nb = 1,
		      .o = { m.up.no } };
	if (x->requires_grad) {
		int fresh;
		lc.dx = sl_tape_grad_fresh(tp, x, &fresh);
		lc.dx_beta = fresh ? 0.0f : 1.0f;
	}
	float *dw[2] = { w1->requires_grad ? sl_tape_grad(tp, w1) : NULL, NULL };
	float *db[2] = { b1 && b1->requires_grad ? sl_tape_grad(tp, b1) : NULL, NULL };
	lb_run(tp, &lc, dw, db);
}

/* ---- matmul: C = op(A) op(B), optionally batched over a leading dimension - */

typedef struct mm_dims {
	int batch, M, N, K;
	int ta, tb;
	int lda, ldb;         /* leading dimensions as stored */
	size_t sa, sb, sc;    /* batch strides */
} mm_dims;

static mm_dims mm_dims_of(const sl_tensor *a, const sl_tensor *b, int ta, int tb)
{
	mm_dims d = { 0 };
	SL_ASSERT(a->ndim == b->ndim && (a->ndim == 2 || a->ndim == 3));
	int o = a->ndim - 2;
	d.batch = a->ndim == 3 ? a->shape[0] : 1;
	SL_ASSERT(a->ndim == 2 || b->shape[0] == d.batch);
	int ar = a->shape[o], ac = a->shape[o + 1], br = b->shape[o], bc = b->shape[o + 1];
	d.M = ta ? ac : ar;
	d.K = ta ? ar : ac;
	d.N = tb ? br : bc;
	SL_ASSERT((tb ? bc : br) == d.K);
	d.ta = ta;
	d.tb = tb;
	d.lda = ac;
	d.ldb = bc;
	d.sa = (size_t)ar * ac;
	d.sb = (size_t)br * bc;
	d.sc = (size_t)d.M * d.N;
	return d;
}

typedef struct mm_ctx {
	mm_dims d;
	const float *a, *b, *dc;
	float *c, *da, *db;
} mm_ctx;

static void mm_fwd(void *arg, size_t lo, size_t hi)
{
	mm_ctx *m = arg;
	const mm_dims *d = &m->d;
	for (size_t i = lo; i < hi; i++)
		sl_sgemm(d->ta, d->tb, d->M, d->N, d->K, 1.0f, m->a + i * d->sa, d->lda, m->b + i * d->sb,
			 d->ldb, 0.0f, m->c + i * d->sc, d->N);
}

static void mm_bwd(void *arg, size_t lo, size_t hi)
{
	mm_ctx *m = arg;
	const mm_dims *d = &m->d;
	for (size_t i = lo; i < hi; i++) {
		const float *a = m->a + i * d->sa, *b = m->b + i * d->sb, *dc = m->dc + i * d->sc;
		if (m->da) {
			float *da = m->da + i * d->sa;
			if (!d->ta) /* dA (M,K) += dC (M,N) op(B)^T (N,K) */
				sl_sgemm(0, !d->tb, d->M, d->K, d->N, 1.0f, dc, d->N, b, d->ldb, 1.0f, da, d->lda);
			else /* dA (K,M) += op(B) (K,N) dC^T (N,M) */
				sl_sgemm(d->tb, 1, d->K, d->M, d->N, 1.0f, b, d->ldb, dc, d->N, 1.0f, da, d->lda);
		}
		if (m->db) {
			float *db = m->db + i * d->sb;
			if (!d->tb) /* dB (K,N) += op(A)^T (K,M) dC (M,N) */
				sl_sgemm(!d->ta, 0, d->K, d->N, d->M, 1.0f, a, d->lda, dc, d->N, 1.0f, db, d->ldb);
			else /* dB (N,K) += dC^T (N,M) op(A) (M,K) */
				sl_sgemm(1, d->ta, d->N, d->K, d->M, 1.0f, dc, d->N, a, d->lda, 1.0f, db, d->ldb);
		}
	}
}

static void mm_run(sl_tape *tp, sl_range_fn fn, mm_ctx *m)
{
	const mm_dims *d = &m->d;
	if (d->batch == 1 || (size_t)d->batch * d->M * d->N * d->K < SL_PAR_MIN_WORK)
		fn(m, 0, (size_t)d->batch);
	else
		sl_pool_for(tp->pool, (size_t)d->batch, fn, m);
}

sl_tensor *sl_matmul(sl_tape *tp, sl_tensor *a, sl_tensor *b, int ta, int tb)
{
	mm_dims d = mm_dims_of(a, b, ta, tb);
	int shape[3] = { d.batch, d.M, d.N };
	sl_tensor *ins[2] = { a, b };
	sl_node n = a->ndim == 3 ? sl_node_make(tp, SL_OP_MATMUL, ins, 2, 3, shape)
				 : sl_node_make(tp, SL_OP_MATMUL, ins, 2, 2, shape + 1);
	n.i[0] = ta;
	n.i[1] = tb;
	return sl_tape_apply(tp, &n);
}

void sl_op_matmul_forward(sl_tape *tp, sl_node *n)
{
	mm_ctx m = { .d = mm_dims_of(n->in[0], n->in[1], n->i[0], n->i[1]),
		     .a = n->in[0]->data, .b = n->in[1]->data, .c = n->out->data };
	mm_run(tp, mm_fwd, &m);
}

void sl_op_matmul_backward(sl_tape *tp, sl_node *n)
{
	sl_tensor *a = n->in[0], *b = n->in[1];
	mm_ctx m = { .d = mm_dims_of(a, b, n->i[0], n->i[1]), .a = a->data, .b = b->data,
		     .dc = n->out->grad,
		     .da = a->requires_grad ? sl_tape_grad(tp, a) : NULL,
		     .db = b->requires_grad ? sl_tape_grad(tp, b) : NULL };
	mm_run(tp, mm_bwd, &m);
}

/* ---- block-diagonal linear: y_h = x_h W_h + b_h per block h ---------------- */

typedef struct bd_ctx {
	const float *x, *w, *b, *dy;
	float *y, *dx, *dw, *db;
	int R, heads, bw;
} bd_ctx;

static void bd_fwd_blocks(void *arg, size_t lo, size_t hi)
{
	bd_ctx *c = arg;
	int W = c->heads * c->bw, bw = c->bw;
	for (size_t h = lo; h < hi; h++) {
		size_t o = h * (size_t)bw;
		float *y = c->y + o;
		sl_sgemm(0, 0, c->R, bw, bw, 1.0f, c->x + o, W, c->w + h * (size_t)bw * bw, bw, 0.0f, y, W);
		if (!c->b)
			continue;
		/* then the bias, as sl_bias adds it: xW + b */
		const float *b = c->b + o;
		for (int r = 0; r < c->R; r++) {
			float *yr = y + (size_t)r * W;
			for (int j = 0; j < bw; j++)
				yr[j] += b[j];
		}
	}
}

static void bd_bwd_blocks(void *arg, size_t lo, size_t hi)
{
	bd_ctx *c = arg;
	int W = c->heads * c->bw, bw = c->bw;
	for (size_t h = lo; h < hi; h++) {
		size_t o = h * (size_t)bw;
		const float *dy = c->dy + o;
		if (c->dx) /* dx_h (R, bw) += dy_h W_hᵀ */
			sl_sgemm(0, 1, c->R, bw, bw, 1.0f, dy, W, c->w + h * (size_t)bw * bw, bw, 1.0f, c->dx + o, W);
		if (c->dw) /* dW_h (bw, bw) += x_hᵀ dy_h */
			sl_sgemm(1, 0, bw, bw, c->R, 1.0f, c->x + o, W, dy, W, 1.0f, c->dw + h * (size_t)bw * bw, bw);
		if (c->db) /* db_h += the rows of dy_h, in order */
			sl_colsum_add(c->db, c->dy, (size_t)c->R, (size_t)W, o, o + bw);
	}
}

static void bd_run(sl_tape *tp, sl_range_fn fn, bd_ctx *c)
{
	if (c->heads == 1 || (size_t)c->R * c->heads * c->bw * c->bw < SL_PAR_MIN_WORK)
		fn(c, 0, (size_t)c->heads);
	else
		sl_pool_for(tp->pool, (size_t)c->heads, fn, c);
}

sl_tensor *sl_bdlinear(sl_tape *tp, sl_tensor *x, sl_tensor *w, sl_tensor *b)
{
	SL_ASSERT(w->ndim == 3 && w->shape[1] == w->shape[2]);
	SL_ASSERT(sl_tensor_dim(x, -1) == w->shape[0] * w->shape[1]);
	SL_ASSERT(!b || (b->ndim == 1 && b->shape[0] == w->shape[0] * w->shape[1]));
	sl_tensor *ins[3] = { x, w, b };
	sl_node n = sl_node_make(tp, SL_OP_BDLINEAR, ins, 3, x->ndim, x->shape);
	return sl_tape_apply(tp, &n);
}

void sl_op_bdlinear_forward(sl_tape *tp, sl_node *n)
{
	sl_tensor *x = n->in[0], *w = n->in[1], *b = n->in[2];
	bd_ctx c = { .x = x->data, .w = w->data, .b = b ? b->data : NULL, .y = n->out->data,
		     .R = (int)sl_tensor_rows(x), .heads = w->shape[0], .bw = w->shape[1] };
	bd_run(tp, bd_fwd_blocks, &c);
}

void sl_op_bdlinear_backward(sl_tape *tp, sl_node *n)
{
	sl_tensor *x = n->in[0], *w = n->in[1], *b = n->in[2];
	bd_ctx c = { .x = x->data, .w = w->data, .dy = n->out->grad, .R = (int)sl_tensor_rows(x),
		     .heads = w->shape[0], .bw = w->shape[1],
		     .dx = x->requires_grad ? sl_tape_grad(tp, x) : NULL,
		     .dw = w->requires_grad ? sl_tape_grad(tp, w) : NULL,
		     .db = b && b->requires_grad ? sl_tape_grad(tp, b) : NULL };
	if (c.dx || c.dw || c.db)
		bd_run(tp, bd_bwd_blocks, &c);
}
