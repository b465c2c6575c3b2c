/* test_core.c - arena, thread pool, tensor helpers, parameter store, tape. */
#include "seqlab/ops.h"
#include "seqlab/params.h"
#include "tap.h"
#include "seqlab/fastmath.h"

#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

static void test_arena(void)
{
	sl_arena *a = sl_arena_new(1024);
	int aligned = 1;
	void *first = NULL;
	for (int i = 0; i < 100; i++) {
		void *p = sl_arena_alloc(a, (size_t)(i * 7 + 1));
		aligned &= ((uintptr_t)p % 64) == 0;
		if (!i)
			first = p;
	}
	TAP_OK(aligned, "arena: allocations are 64-byte aligned");
	size_t used = sl_arena_used(a);
	TAP_OK(used >= 100 * 64 && sl_arena_peak(a) == used, "arena: used %zu, peak tracks it", used);
	unsigned char *z = sl_arena_calloc(a, 5000);
	int zero = 1;
	for (int i = 0; i < 5000; i++)
		zero &= z[i] == 0;
	TAP_OK(zero, "arena: calloc is zero-filled");
	memset(z, 0xff, 5000);
	sl_arena_reset(a);
	TAP_OK(sl_arena_used(a) == 0, "arena: reset empties it");
	/* after spilling, the arena merges into one chunk: the same step allocates
	 * contiguously from the start */
	void *p0 = sl_arena_alloc(a, 64);
	for (int i = 0; i < 99; i++)
		sl_arena_alloc(a, (size_t)(i * 7 + 1));
	sl_arena_calloc(a, 5000);
	void *last = sl_arena_alloc(a, 64);
	TAP_OK((unsigned char *)last > (unsigned char *)p0 &&
		       (size_t)((unsigned char *)last - (unsigned char *)p0) < used + 5100,
	       "arena: after a reset the whole step fits one chunk");
	z = sl_arena_calloc(a, 5000);
	zero = 1;
	for (int i = 0; i < 5000; i++)
		zero &= z[i] == 0;
	TAP_OK(zero, "arena: calloc zero-fills reused memory");
	(void)first;
	sl_arena_free(a);
	/* a chunk of 2 MB or more starts on a 2 MB boundary (for huge pages),
	 * a spilled step's merged chunk too, and all of it is usable */
	a = sl_arena_new(3u << 20);
	unsigned char *big = sl_arena_alloc(a, 3u << 20);
	memset(big, 1, 3u << 20);
	sl_arena_alloc(a, 1u << 20); /* spills into a second chunk */
	sl_arena_reset(a);
	unsigned char *merged = sl_arena_alloc(a, 4u << 20);
	memset(merged, 2, 4u << 20);
	TAP_OK((uintptr_t)big % (2u << 20) == 0 && (uintptr_t)merged % (2u << 20) == 0,
	       "arena: chunks of 2 MB or more are 2 MB aligned (a step's and the merged one)");
	sl_arena_free(a);
}

typedef struct pool_probe {
	atomic_int calls;
	int tids[8];
	int nth;
	int *hits;
} pool_probe;

static void probe_fn(void *ctx, int tid, int nth)
{
	pool_probe *p = ctx;
	atomic_fetch_add(&p->calls, 1);
	p->tids[tid] = 1;
	if (tid == 0)
		p->nth = nth;
}

static void hit_fn(void *ctx, size_t lo, size_t hi)
{
	pool_probe *p = ctx;
	for (size_t i = lo; i < hi; i++)
		p->hits[i]++;
}

/* sl_pool_for2's second loop: indices after the first loop's 1000 */
static void hit_fn2(void *ctx, size_t lo, size_t hi)
{
	pool_probe *p = ctx;
	for (size_t i = lo; i < hi; i++)
		p->hits[1000 + i]++;
}

static void nested_fn(void *ctx, int tid, int nth)
{
	pool_probe *p = ctx;
	/* a pool call from inside a task runs serially on this thread */
	pool_probe inner = { 0 };
	sl_pool_run((sl_pool *)p->hits, probe_fn, &inner);
	if (inner.calls == 1 && inner.nth == 1)
		atomic_fetch_add(&p->calls, 1);
}

/* a relay: each part appends its index after the part before's, then
 * passes; the parts run in any order, the appends only in order */
typedef struct relay_probe {
	int stage, n, order[8];
} relay_probe;

static void relay_fn(void *ctx, int tid, int nth)
{
	relay_probe *p = ctx;
	(void)nth;
	for (volatile int spin = 0; spin < 1000 * (3 - tid % 3); spin++) /* later parts sometimes first */
		;
	sl_relay_wait(&p->stage, tid);
	p->order[p->n++] = tid;
	sl_relay_pass(&p->stage, tid);
}

static void test_pool(void)
{
	/* the fixed partition covers [0, n) exactly, in order, balanced */
	int ok = 1;
	for (int nth = 1; nth <= 5; nth++)
		for (size_t n = 0; n < 40; n++) {
			size_t next = 0;
			for (int t = 0; t < nth; t++) {
				size_t lo, hi;
				sl_range(n, t, nth, &lo, &hi);
				ok &= lo == next && hi >= lo && hi - lo <= n / (size_t)nth + 1;
				next = hi;
			}
			ok &= next == n;
		}
	TAP_OK(ok, "sl_range partitions [0, n) exactly and evenly");

	for (int nth = 1; nth <= 3; nth++) {
		sl_pool *p = sl_pool_new(nth);
		TAP_OK(p && sl_pool_size(p) == nth, "pool of %d threads starts", nth);
		int all = 1;
		for (int rep = 0; rep < 200; rep++) {
			pool_probe pr = { 0 };
			sl_pool_run(p, probe_fn, &pr);
			all &= pr.calls == nth && pr.nth == nth;
			for (int t = 0; t < nth; t++)
				all &= pr.tids[t] == 1;
		}
		TAP_OK(all, "pool of %d: every part runs once (200 rounds)", nth);
		int hits[1000] = { 0 };
		pool_probe pr = { .hits = hits };
		sl_pool_for(p, 1000, hit_fn, &pr);
		int once = 1;
		for (int i = 0; i < 1000; i++)
			once &= hits[i] == 1;
		TAP_OK(once, "pool of %d: sl_pool_for visits each index once", nth);
		int hits2[1000 + 37] = { 0 };
		pool_probe pp = { .hits = hits2 };
		sl_pool_for2(p, 1000, hit_fn, 37, hit_fn2, &pp);
		once = 1;
		for (int i = 0; i < 1000 + 37; i++)
			once &= hits2[i] == 1;
		sl_pool_for2(p, 0, hit_fn, 0, hit_fn2, &pp);
		for (int i = 0; i < 1000 + 37; i++)
			once &= hits2[i] == 1;
		TAP_OK(once, "pool of %d: sl_pool_for2 visits each index of both loops once", nth);
		pool_probe nest = { .hits = (int *)p };
		sl_pool_run(p, nested_fn, &nest);
		TAP_OK(nest.calls == nth, "pool of %d: nested runs are serial", nth);
		int inorder = 1;
		for (int rep = 0; rep < 200; rep++) {
			relay_probe rp = { 0 };
			sl_pool_run(p, relay_fn, &rp);
			inorder &= rp.n == nth && rp.stage == nth;
			for (int t = 0; t < rp.n; t++)
				inorder &= rp.order[t] == t;
		}
		TAP_OK(inorder, "pool of %d: a relay's parts pass in order (200 rounds)", nth);
		sl_pool_free(p);
	}
	pool_probe pr = { 0 };
	sl_pool_run(NULL, probe_fn, &pr);
	TAP_OK(pr.calls == 1 && pr.nth == 1, "a NULL pool runs serially");
	TAP_OK(sl_cpu_count() >= 1, "cpu count %d", sl_cpu_count());
}

static void test_tensor(void)
{
	sl_tensor t = { 0 };
	int shape[3] = { 2, 3, 4 };
	TAP_OK(sl_shape_set(&t, 3, shape) == 24 && sl_tensor_numel(&t) == 24, "numel of (2,3,4)");
	TAP_OK(sl_tensor_rows(&t) == 6 && sl_tensor_dim(&t, -1) == 4 && sl_tensor_dim(&t, 0) == 2,
	       "rows and negative dims");
	char buf[32];
	TAP_OK(strcmp(sl_shape_str(&t, buf, sizeof buf), "(2, 3, 4)") == 0, "shape string %s", buf);
	sl_tensor u = t;
	TAP_OK(sl_tensor_same_shape(&t, &u), "same shape");
	u.shape[1] = 5;
	TAP_OK(!sl_tensor_same_shape(&t, &u), "different shape");
}

static void test_params(void)
{
	sl_params *ps = sl_params_new();
	int s1[2] = { 3, 5 }, s2[1] = { 7 }, bad[2] = { 3, 0 };
	sl_tensor *w = sl_params_add(ps, "l.w", 2, s1, 0);
	sl_tensor *b = sl_params_add(ps, "l.b", 1, s2, SL_PARAM_NO_DECAY);
	TAP_OK(w && b && w->data == NULL, "declare parameters before allocation");
	TAP_OK(sl_params_add(ps, "l.w", 1, s2, 0) == NULL && strstr(sl_error(), "twice"),
	       "duplicate name rejected: %s", sl_error());
	TAP_OK(sl_params_add(ps, "z", 2, bad, 0) == NULL, "zero dimension rejected: %s", sl_error());
	sl_params_alloc(ps);
	TAP_OK(w->data == ps->data && b->data == ps->data + 16 && b->grad == ps->grad + 16,
	       "tensors point into one block, 64-byte aligned offsets");
	TAP_OK(sl_params_count(ps) == 22 && ps->total == 32, "count %zu, block %zu", sl_params_count(ps),
	       ps->total);
	TAP_OK(sl_params_find(ps, "l.b") == b && sl_params_find(ps, "nope") == NULL, "find by name");
	TAP_OK(sl_params_add(ps, "late", 1, s2, 0) == NULL, "no declarations after allocation");
	sl_rng r;
	sl_rng_seed(&r, 1);
	sl_init_normal(w, &r, 0, 1);
	sl_init_const(b, 0.5f);
	w->grad[3] = 2;
	sl_params_zero_grad(ps);
	TAP_OK(w->grad[3] == 0 && b->data[6] == 0.5f, "zero_grad clears gradients only");
	sl_params_free(ps);
}

static void test_tape(void)
{
	sl_arena *a = sl_arena_new(0);
	sl_tape *tp = sl_tape_new(a, NULL);
	sl_params *ps = sl_params_new();
	int ws[2] = { 2, 3 }, bs[1] = { 2 }, xs[2] = { 1, 3 };
	sl_tensor *w = sl_params_add(ps, "w", 2, ws, 0), *b = sl_params_add(ps, "b", 1, bs, 0);
	sl_params_alloc(ps);
	float wv[6] = { 1, 2, 3, 4, 5, 6 }, bv[2] = { 0.5f, -1 };
	memcpy(w->data, wv, sizeof wv);
	memcpy(b->data, bv, sizeof bv);
	sl_tensor *x = sl_tape_tensor(tp, 2, xs);
	x->data[0] = 1, x->data[1] = -1, x->data[2] = 2;
	sl_tensor *y = sl_linear(tp, x, w, b);
	TAP_OK(y->ndim == 2 && y->shape[0] == 1 && y->shape[1] == 2, "linear output shape");
	TAP_OK(y->data[0] == 1 - 2 + 6 + 0.5f && y->data[1] == 4 - 5 + 12 - 1, "linear values %g %g",
	       y->data[0], y->data[1]);
	TAP_OK(y->requires_grad && tp->n == 1, "an op on parameters is recorded");
	TAP_OK(sl_tape_backward(tp, y) == SL_OK, "backward");
	TAP_OK(w->grad[0] == 1 && w->grad[1] == -1 && w->grad[5] == 2 && b->grad[1] == 1,
	       "dW = dy^T x, db = dy");
	TAP_OK(x->grad == NULL, "no gradient for an input that does not need one");
	/* a second backward accumulates into the parameter gradients */
	sl_tape_reset(tp);
	x = sl_tape_tensor(tp, 2, xs);
	x->data[0] = 1, x->data[1] = -1, x->data[2] = 2;
	y = sl_linear(tp, x, w, b);
	sl_tape_backward(tp, y);
	TAP_OK(w->grad[5] == 4 && b->grad[1] == 2, "gradients accumulate across steps");
	/* with gradients off, nothing is recorded */
	sl_tape_reset(tp);
	tp->grad_enabled = 0;
	x = sl_tape_tensor(tp, 2, xs);
	memset(x->data, 0, 3 * sizeof(float));
	y = sl_linear(tp, x, w, b);
	TAP_OK(tp->n == 0 && !y->requires_grad, "no recording when gradients are off");
	TAP_OK(sl_tape_backward(tp, y) == SL_ERR && strstr(sl_error(), "does not depend"),
	       "backward without parameters fails: %s", sl_error());
	TAP_OK(strcmp(sl_op_name(SL_OP_LINEAR), "linear") == 0 && strcmp(sl_op_name(-1), "?") == 0,
	       "op names");
	int named = 1;
	for (int i = 0; i < SL_OP_COUNT; i++)
		named &= sl_ops[i].name && sl_ops[i].forward && sl_ops[i].backward;
	TAP_OK(named, "every op has a name, a forward and a backward");
	sl_params_free(ps);
	sl_tape_free(tp);
	sl_arena_free(a);
}

#if defined(__AVX512F__)
/* How many of a sweep of [lo, hi) in steps of `step` (its first vectors,
 * those below lo + 0.1, replaced by the sixteen `edges`) the sixteen-lane v
 * gives other bits than the scalar f for (NaN for NaN counts as the same);
 * the inputs' count in *n. */
static long lanes_differ(__m512 (*v)(__m512), float (*f)(float), float lo, float hi, float step, const float *edges,
			 long *n)
{
	long differ = 0;
	float xs[16], ys[16];
	*n = 0;
	for (float x0 = lo; x0 < hi; x0 += 16 * step) {
		for (int j = 0; j < 16; j++)
			xs[j] = x0 < lo + 0.1f ? edges[j] : x0 + j * step;
		_mm512_storeu_ps(ys, v(_mm512_loadu_ps(xs)));
		for (int j = 0; j < 16; j++, (*n)++) {
			float y1 = f(xs[j]);
			differ += isnan(y1) ? !isnan(ys[j]) : memcmp(&y1, &ys[j], sizeof y1) != 0;
		}
	}
	return differ;
}

/* the scalar loops the sixteen-lane softplus stands for: the body, then x
 * above the threshold */
static float softplus_scalar(float x)
{
	float y = sl_fsoftplus_body(x);
	return x > SL_SOFTPLUS_THRESHOLD ? x : y;
}
#endif

static void test_fastmath(void)
{
	double e_exp = 0, e_erf = 0;
	for (float x = -87.0f; x < 88.0f; x += 0.00093f) {
		double want = exp((double)x);
		e_exp = fmax(e_exp, fabs(sl_fexp(x) - want) / want);
	}
	for (float x = -7.0f; x < 7.0f; x += 0.0001f)
		e_erf = fmax(e_erf, fabs(sl_ferf(x) - erf((double)x)));
	TAP_OK(e_exp < 3e-7, "fast exp: relative error %.2g < 3e-7 on [-87, 88]", e_exp);
	TAP_OK(e_erf < 5e-7, "fast erf: absolute error %.2g < 5e-7 on [-7, 7]", e_erf);
	TAP_OK(sl_fexp(-200.0f) == 0 && sl_fexp(0) == 1 && isfinite(sl_fexp(1000.0f)), "fast exp at the edges");
	/* the fused multiply-add exp (the selective scan's): as accurate, and
	 * where SL_FMA fuses, not as sl_fexp in every bit (it must differ
	 * somewhere, or the fused form would round nothing differently; a
	 * build without fused multiply-adds rounds as sl_fexp does) */
	double e_fma = 0;
	long fdiff = 0;
	for (float x = -87.0f; x < 88.0f; x += 0.00093f) {
		double want = exp((double)x);
		float y0 = sl_fexp(x), y1 = sl_fexp_fma(x);
		e_fma = fmax(e_fma, fabs(y1 - want) / want);
		fdiff += memcmp(&y0, &y1, sizeof y0) != 0;
	}
	TAP_OK(e_fma < 3e-7 && (fdiff > 0) == SL_FMA_FUSED, "fused exp: relative error %.2g < 3e-7 on [-87, 88] (%ld values differ from sl_fexp's)",
	       e_fma, fdiff);
	TAP_OK(sl_fexp_fma(-200.0f) == 0 && sl_fexp_fma(-87.31f) == 0 && sl_fexp_fma(0) == 1 &&
		       isfinite(sl_fexp_fma(1000.0f)) && isnan(sl_fexp_fma(NAN)) && sl_fexp_fma(-1e30f) == 0,
	       "fused exp at the edges");
	/* the selective scan's 2^t: relative error where the result is normal,
	 * and the edges (underflow to denormals and 0, overflow, NaN) */
	double e_exp2 = 0;
	for (float t = -126.0f; t < 127.0f; t += 0.000617f) {
		double want = exp2((double)t);
		e_exp2 = fmax(e_exp2, fabs(sl_fexp2_fma(t) - want) / want);
	}
	TAP_OK(e_exp2 < 1.5e-7, "fused exp2: relative error %.2g < 1.5e-7 on [-126, 127]", e_exp2);
	TAP_OK(sl_fexp2_fma(0) == 1 && sl_fexp2_fma(-149.0f) == ldexpf(1.0f, -149) && sl_fexp2_fma(-160.0f) == 0 &&
		       sl_fexp2_fma(-1e30f) == 0 && sl_fexp2_fma(-INFINITY) == 0 && sl_fexp2_fma(200.0f) == INFINITY &&
		       sl_fexp2_fma(INFINITY) == INFINITY && isnan(sl_fexp2_fma(NAN)) && sl_fexp2_fma(-130.0f) > 0,
	       "fused exp2 at the edges (denormals, 0, overflow, NaN)");
	double e_tanh = 0, r_tanh = 0;
	for (float x = -12.0f; x < 12.0f; x += 0.000731f) {
		double want = tanh((double)x), d = fabs(sl_ftanh(x) - want);
		e_tanh = fmax(e_tanh, d);
		r_tanh = fmax(r_tanh, d / fmax(fabs(want), 1e-30));
	}
	for (float x = 1e-30f; x < 1.0f; x *= 1.37f) /* tiny arguments: relative */
		r_tanh = fmax(r_tanh, fabs(sl_ftanh(-x) - tanh((double)-x)) / tanh((double)x));
	TAP_OK(e_tanh < 1e-7 && r_tanh < 2e-7, "fast tanh: absolute error %.2g < 1e-7, relative %.2g < 2e-7 on [-12, 12]",
	       e_tanh, r_tanh);
	TAP_OK(sl_ftanh(100.0f) == 1 && sl_ftanh(-100.0f) == -1 && sl_ftanh(0) == 0 && signbit(sl_ftanh(-0.0f)) &&
		       isnan(sl_ftanh(NAN)) && sl_ftanh(INFINITY) == 1,
	       "fast tanh at the edges (±1, ±0, NaN)");
#if defined(__AVX512F__)
	/* the sixteen-lane exps give their scalar forms' bits: a sweep, the
	 * edges, NaN */
	static const float exp_edges[16] = { -87.3f, 88.7f, -0.0f, INFINITY, -INFINITY, NAN, -87.29999f, 88.70001f,
					     1e-30f, -1e-30f, -1e30f, 1e30f, -3e6f, -NAN, -0.34657f, -87.0f };
	long n = 0, differ = lanes_differ(sl_fexp16, sl_fexp, -120.0f, 120.0f, 0.00371f, exp_edges, &n);
	TAP_OK(differ == 0, "sixteen-lane fast exp: the bits of the scalar one on %ld inputs (%ld differ)", n, differ);
	differ = lanes_differ(sl_fexp16_fma, sl_fexp_fma, -120.0f, 120.0f, 0.00371f, exp_edges, &n);
	TAP_OK(differ == 0, "sixteen-lane fused exp: the bits of the scalar one on %ld inputs (%ld differ)", n, differ);
	/* sl_fexp2_16_fma against sl_fexp2_fma: a sweep over [-170, 140] and the edges */
	static const float exp2_edges[16] = { -160.0f, 128.0f, -0.0f, INFINITY, -INFINITY, NAN, -149.0f, 127.6f,
					      1e-30f, -1e-30f, -1e30f, 1e30f, -126.5f, -NAN, 0.5f, -0.5f };
	differ = lanes_differ(sl_fexp2_16_fma, sl_fexp2_fma, -170.0f, 140.0f, 0.00291f, exp2_edges, &n);
	TAP_OK(differ == 0, "sixteen-lane fused exp2: the bits of the scalar one on %ld inputs (%ld differ)", n, differ);
	/* the sixteen-lane softplus gives the scalar loops' bits (the body, then
	 * x above the threshold): a sweep across both sides of 0 and of 20, and
	 * the edges */
	static const float sp_edges[16] = { 0.0f, -0.0f, 20.0f, INFINITY, -INFINITY, NAN, 20.000002f, 19.999998f,
					    1e-30f, -1e-30f, -1e30f, 1e30f, -87.3f, -NAN, 0.34657f, -0.34657f };
	differ = lanes_differ(sl_fsoftplus16, softplus_scalar, -100.0f, 100.0f, 0.00173f, sp_edges, &n);
	TAP_OK(differ == 0, "sixteen-lane softplus: the bits of the scalar one on %ld inputs (%ld differ)", n, differ);
	/* and the sigmoid, on the same sweep */
	static const float sg_edges[16] = { 0.0f, -0.0f, 87.3f, INFINITY, -INFINITY, NAN, -87.3f, 88.7f,
					    1e-30f, -1e-30f, -1e30f, 1e30f, -87.29999f, -NAN, 0.34657f, -0.34657f };
	differ = lanes_differ(sl_fsigmoid16, sl_fsigmoid, -100.0f, 100.0f, 0.00173f, sg_edges, &n);
	TAP_OK(differ == 0, "sixteen-lane sigmoid: the bits of the scalar one on %ld inputs (%ld differ)", n, differ);
#endif
}

/* the double tanh the reservoir uses, against libm over a sweep and at the
 * edges */
static void test_dtanh(void)
{
	double worst = 0;
	for (int i = -400000; i <= 400000; i++) {
		double x = i * 6.25e-5; /* [-25, 25] */
		worst = fmax(worst, fabs(sl_dtanh(x) - tanh(x)));
	}
	TAP_OK(worst < 1e-15, "double tanh: absolute error below 1e-15 on [-25, 25] (%.2g)", worst);
	TAP_OK(sl_dtanh(0.0) == 0 && sl_dtanh(1e300) == 1 && sl_dtanh(-1e300) == -1 && isnan(sl_dtanh(NAN)) &&
		       fabs(sl_dtanh(1e-9) - 1e-9) < 1e-15,
	       "double tanh at the edges (0, +-huge, NaN, tiny)");
}

static void test_split(void)
{
	char a[] = "train,5,,0.25";
	char *f[6];
	int n = sl_split(a, ',', f, 6);
	TAP_OK(n == 4 && !strcmp(f[0], "train") && !strcmp(f[1], "5") && !strcmp(f[2], "") && !strcmp(f[3], "0.25"),
	       "sl_split: fields in order, an empty one kept");
	char b[] = "a\tb\tc\td";
	n = sl_split(b, '\t', f, 2);
	TAP_OK(n == 2 && !strcmp(f[0], "a") && !strcmp(f[1], "b"), "sl_split: at most max fields, the rest dropped");
	char c[] = "";
	TAP_OK(sl_split(c, ',', f, 6) == 1 && !strcmp(f[0], ""), "sl_split: an empty line is one empty field");
	float x[5] = { 1, 3, -2, 3, 0 };
	TAP_OK(sl_argmax(x, 5) == 1 && sl_argmax(x, 1) == 0, "sl_argmax: the first largest");
}

int main(void)
{
	test_split();
	test_dtanh();
	test_fastmath();
	test_arena();
	test_pool();
	test_tensor();
	test_params();
	test_tape();
	return tap_done();
}
