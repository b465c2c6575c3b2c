/* test_ops.c - elementwise, normalisation, softmax and cross-entropy ops:
 * finite-difference gradient checks, golden forward values, the edge cases of
 * cross-entropy, and threaded-equals-serial bit identity. */
#include "gradcheck.h"
#include "seqlab/fastmath.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#define IGNORE (-100)

/* ---- gradient checks ------------------------------------------------------ */

/* What a build function needs besides its tensor inputs. */
typedef struct gc_ctx {
	float s;            /* scale */
	float eps;          /* norms */
	const int32_t *t;   /* cross-entropy targets, one per row */
	int32_t tbuf[64];
	gc_build_fn inner;  /* b_resid: the op under test */
} gc_ctx;

static sl_tensor *b_add(sl_tape *tp, sl_tensor **in, void *c) { (void)c; return sl_add(tp, in[0], in[1]); }
static sl_tensor *b_mul(sl_tape *tp, sl_tensor **in, void *c) { (void)c; return sl_mul(tp, in[0], in[1]); }
static sl_tensor *b_add_self(sl_tape *tp, sl_tensor **in, void *c) { (void)c; return sl_add(tp, in[0], in[0]); }
static sl_tensor *b_mul_self(sl_tape *tp, sl_tensor **in, void *c) { (void)c; return sl_mul(tp, in[0], in[0]); }
static sl_tensor *b_scale(sl_tape *tp, sl_tensor **in, void *c) { return sl_scale(tp, in[0], ((gc_ctx *)c)->s); }
static sl_tensor *b_bias(sl_tape *tp, sl_tensor **in, void *c) { (void)c; return sl_bias(tp, in[0], in[1]); }
static sl_tensor *b_gelu(sl_tape *tp, sl_tensor **in, void *c) { (void)c; return sl_gelu(tp, in[0]); }
static sl_tensor *b_silu(sl_tape *tp, sl_tensor **in, void *c) { (void)c; return sl_silu(tp, in[0]); }
static sl_tensor *b_relu(sl_tape *tp, sl_tensor **in, void *c) { (void)c; return sl_relu(tp, in[0]); }
static sl_tensor *b_tanh(sl_tape *tp, sl_tensor **in, void *c) { (void)c; return sl_tanh(tp, in[0]); }
static sl_tensor *b_sigmoid(sl_tape *tp, sl_tensor **in, void *c) { (void)c; return sl_sigmoid(tp, in[0]); }
static sl_tensor *b_softplus(sl_tape *tp, sl_tensor **in, void *c) { (void)c; return sl_softplus(tp, in[0]); }
static sl_tensor *b_exp(sl_tape *tp, sl_tensor **in, void *c) { (void)c; return sl_exp(tp, in[0]); }
static sl_tensor *b_softmax(sl_tape *tp, sl_tensor **in, void *c) { (void)c; return sl_softmax(tp, in[0]); }
static sl_tensor *b_gelu_mul(sl_tape *tp, sl_tensor **in, void *c) { (void)c; return sl_gelu_mul(tp, in[0], in[1]); }
static sl_tensor *b_gelu_mul_self(sl_tape *tp, sl_tensor **in, void *c) { (void)c; return sl_gelu_mul(tp, in[0], in[0]); }

static sl_tensor *b_layernorm(sl_tape *tp, sl_tensor **in, void *c)
{
	return sl_layernorm(tp, in[0], in[1], in[2], ((gc_ctx *)c)->eps);
}

static sl_tensor *b_layernorm_nob(sl_tape *tp, sl_tensor **in, void *c)
{
	return sl_layernorm(tp, in[0], in[1], NULL, ((gc_ctx *)c)->eps);
}

static sl_tensor *b_rmsnorm(sl_tape *tp, sl_tensor **in, void *c)
{
	return sl_rmsnorm(tp, in[0], in[1], ((gc_ctx *)c)->eps);
}

static sl_tensor *b_cross_entropy(sl_tape *tp, sl_tensor **in, void *c)
{
	return sl_cross_entropy(tp, in[0], ((gc_ctx *)c)->t, IGNORE, NULL);
}

/* layernorm -> gelu -> cross-entropy, the chain of the threaded test */
static sl_tensor *b_chain(sl_tape *tp, sl_tensor **in, void *c)
{
	sl_tensor *h = sl_layernorm(tp, in[0], in[1], in[2], ((gc_ctx *)c)->eps);
	return sl_cross_entropy(tp, sl_gelu(tp, h), ((gc_ctx *)c)->t, IGNORE, NULL);
}

/* Inputs used twice: every backward must accumulate (+=) into gradients
 * that another op has already written. */
static sl_tensor *b_resid(sl_tape *tp, sl_tensor **in, void *c)
{
	return sl_add(tp, ((gc_ctx *)c)->inner(tp, in, c), in[0]);
}

static sl_tensor *b_bias_twice(sl_tape *tp, sl_tensor **in, void *c)
{
	(void)c;
	return sl_bias(tp, sl_bias(tp, in[0], in[1]), in[1]);
}

static sl_tensor *b_layernorm_twice(sl_tape *tp, sl_tensor **in, void *c)
{
	float eps = ((gc_ctx *)c)->eps;
	return sl_layernorm(tp, sl_layernorm(tp, in[0], in[1], in[2], eps), in[1], in[2], eps);
}

static sl_tensor *b_rmsnorm_twice(sl_tape *tp, sl_tensor **in, void *c)
{
	float eps = ((gc_ctx *)c)->eps;
	return sl_rmsnorm(tp, sl_rmsnorm(tp, in[0], in[1], eps), in[1], eps);
}

static sl_tensor *b_cross_entropy_twice(sl_tape *tp, sl_tensor **in, void *c)
{
	return sl_add(tp, b_cross_entropy(tp, in, c), b_cross_entropy(tp, in, c));
}

/* How a case's inputs are laid out, given the shape of x (..., C). */
enum { IN_X, IN_XX, IN_XC, IN_XCC };

typedef struct gc_case {
	const char *name;
	gc_build_fn fn;
	int layout;
	float lo, hi;              /* x's values */
	double eps, atol, rtol;
} gc_case;

static const gc_case cases[] = {
	{ "add", b_add, IN_XX, -2, 2, 1e-2, 1e-4, 1e-3 },
	{ "mul", b_mul, IN_XX, -2, 2, 1e-2, 1e-4, 1e-3 },
	{ "add(x, x)", b_add_self, IN_X, -2, 2, 1e-2, 1e-4, 1e-3 },
	{ "mul(x, x)", b_mul_self, IN_X, -2, 2, 1e-2, 1e-4, 1e-3 },
	{ "scale", b_scale, IN_X, -2, 2, 1e-2, 1e-4, 1e-3 },
	{ "bias", b_bias, IN_XC, -2, 2, 1e-2, 1e-4, 1e-3 },
	{ "gelu", b_gelu, IN_X, -3, 3, 1e-3, 1e-4, 1e-3 },
	{ "silu", b_silu, IN_X, -4, 4, 1e-3, 1e-4, 1e-3 },
	{ "relu", b_relu, IN_X, -2, 2, 1e-3, 1e-4, 1e-3 },
	{ "tanh", b_tanh, IN_X, -2, 2, 1e-3, 1e-4, 1e-3 },
	{ "sigmoid", b_sigmoid, IN_X, -4, 4, 1e-3, 1e-4, 1e-3 },
	/* spans both branches of the threshold at 20 */
	{ "softplus", b_softplus, IN_X, -6, 26, 1e-2, 5e-4, 1e-3 },
	{ "exp", b_exp, IN_X, -2, 2, 1e-3, 1e-4, 1e-3 },
	{ "gelu_mul", b_gelu_mul, IN_XX, -3, 3, 1e-3, 1e-4, 1e-3 },
	{ "gelu_mul(x, x)", b_gelu_mul_self, IN_X, -3, 3, 1e-3, 1e-4, 1e-3 },
	{ "layernorm", b_layernorm, IN_XCC, -2, 2, 1e-3, 5e-4, 5e-3 },
	{ "layernorm (no bias)", b_layernorm_nob, IN_XC, -2, 2, 1e-3, 5e-4, 5e-3 },
	{ "rmsnorm", b_rmsnorm, IN_XC, -2, 2, 1e-3, 5e-4, 5e-3 },
	{ "softmax", b_softmax, IN_X, -3, 3, 1e-3, 2e-4, 2e-3 },
	{ "cross_entropy", b_cross_entropy, IN_X, -3, 3, 1e-3, 1e-4, 2e-3 },
	{ "layernorm+gelu+cross_entropy", b_chain, IN_XCC, -2, 2, 1e-3, 2e-4, 5e-3 },
	{ "bias twice", b_bias_twice, IN_XC, -2, 2, 1e-2, 1e-4, 1e-3 },
	{ "layernorm twice", b_layernorm_twice, IN_XCC, -2, 2, 1e-3, 5e-4, 5e-3 },
	{ "rmsnorm twice", b_rmsnorm_twice, IN_XC, -2, 2, 1e-3, 5e-4, 5e-3 },
	{ "cross_entropy twice", b_cross_entropy_twice, IN_X, -3, 3, 1e-3, 1e-4, 2e-3 },
};

/* Fills in c->t for R rows of V classes, every third row ignored. */
static void make_targets(gc_ctx *c, size_t R, int V)
{
	SL_ASSERT(R <= SL_COUNT(c->tbuf));
	for (size_t r = 0; r < R; r++)
		c->tbuf[r] = r % 3 == 1 ? IGNORE : (int32_t)((r * 5 + 2) % (size_t)V);
	c->t = c->tbuf;
}

/* resid: check x + op(x) instead of op(x) */
static void run_case(const gc_case *k, int ndim, const int *shape, int threads, int resid)
{
	sl_rng r;
	sl_rng_seed(&r, 7);
	sl_tensor *in[3] = { NULL, NULL, NULL };
	int C = shape[ndim - 1];
	int nin = 1;
	in[0] = gc_input(&r, ndim, shape, k->lo, k->hi);
	if (k->fn == b_relu) /* keep finite differences off the kink at 0 */
		for (size_t i = 0; i < sl_tensor_numel(in[0]); i++)
			if (fabsf(in[0]->data[i]) < 0.05f)
				in[0]->data[i] += 0.1f;
	if (k->layout == IN_XX)
		in[nin++] = gc_input(&r, ndim, shape, k->lo, k->hi);
	if (k->layout == IN_XC || k->layout == IN_XCC)
		in[nin++] = gc_input(&r, 1, &C, 0.5f, 1.5f); /* gain or bias */
	if (k->layout == IN_XCC)
		in[nin++] = gc_input(&r, 1, &C, -1.0f, 1.0f); /* bias */
	gc_ctx c = { .s = -1.7f, .eps = 1e-5f, .inner = k->fn };
	make_targets(&c, sl_tensor_rows(in[0]), C);

	char name[128], sh[32];
	snprintf(name, sizeof name, "%s%s %s, %s", resid ? "x + " : "", k->name,
		 sl_shape_str(in[0], sh, sizeof sh), threads ? "2 threads" : "no pool");
	gc_check(name, resid ? b_resid : k->fn, &c, in, nin, k->eps, k->atol, k->rtol, threads);
	for (int i = 0; i < nin; i++)
		gc_free(in[i]);
}

static void test_gradients(void)
{
	static const int s2[2] = { 5, 7 }, s3[3] = { 2, 3, 6 };
	for (size_t i = 0; i < SL_COUNT(cases); i++)
		for (int th = 0; th <= 2; th += 2) {
			run_case(&cases[i], 2, s2, th, 0);
			run_case(&cases[i], 3, s3, th, 0);
		}
	/* every op whose output has x's shape also adds into a gradient that
	 * the residual branch wrote first */
	for (size_t i = 0; i < SL_COUNT(cases); i++)
		if (cases[i].fn != b_cross_entropy && cases[i].fn != b_chain &&
		    cases[i].fn != b_cross_entropy_twice)
			run_case(&cases[i], 3, s3, 0, 1);
}

/* ---- golden forward values ------------------------------------------------ */

/* A heap tensor holding vals (no gradient unless rg); free with gc_free(). */
static sl_tensor *tensor_of(int ndim, const int *shape, const float *vals, int rg)
{
	sl_rng r;
	sl_rng_seed(&r, 1);
	sl_tensor *t = gc_input(&r, ndim, shape, 0, 1);
	if (vals)
		memcpy(t->data, vals, sl_tensor_numel(t) * sizeof(float));
	t->requires_grad = rg;
	return t;
}

typedef sl_tensor *(*act_fn)(sl_tape *, sl_tensor *);

/* The activation at one point, on a fresh tape. */
static float act_at(sl_tape *tp, act_fn f, float x)
{
	int one = 1;
	sl_tensor *t = tensor_of(1, &one, &x, 0);
	float y = f(tp, t)->data[0];
	gc_free(t);
	return y;
}

static double sigmoid_d(double x)
{
	return 1 / (1 + exp(-x));
}

static void test_activation_values(void)
{
	sl_arena *a = sl_arena_new(0);
	sl_tape *tp = sl_tape_new(a, NULL);
	TAP_NEAR(act_at(tp, sl_gelu, 1), 0.8413447, 2e-7, "gelu(1)");
	TAP_NEAR(act_at(tp, sl_gelu, -1), -0.1586553, 2e-7, "gelu(-1)");
	TAP_NEAR(act_at(tp, sl_gelu, 0), 0, 0, "gelu(0) = 0");
	TAP_NEAR(act_at(tp, sl_gelu, -10), 0, 1e-20, "gelu(-10) ~ 0");
	TAP_NEAR(act_at(tp, sl_silu, 1), 0.7310586, 2e-7, "silu(1)");
	TAP_NEAR(act_at(tp, sl_silu, -100), 0, 1e-30, "silu(-100) is finite, ~0");
	TAP_NEAR(act_at(tp, sl_softplus, 0), log(2.0), 1e-7, "softplus(0) = log 2");
	TAP_OK(act_at(tp, sl_softplus, 30) == 30.0f, "softplus(30) = 30 exactly (threshold 20)");
	TAP_NEAR(act_at(tp, sl_softplus, 5), log1p(exp(5.0)), 1e-6, "softplus(5)");
	TAP_NEAR(act_at(tp, sl_softplus, -30), exp(-30.0), 1e-18, "softplus(-30) ~ e^-30");
	TAP_NEAR(act_at(tp, sl_relu, -0.5f), 0, 0, "relu(-0.5) = 0");
	TAP_NEAR(act_at(tp, sl_relu, 0.5f), 0.5, 0, "relu(0.5) = 0.5");
	TAP_NEAR(act_at(tp, sl_tanh, 0.7f), tanh(0.7), 1e-7, "tanh(0.7)");
	TAP_NEAR(act_at(tp, sl_sigmoid, 0.3f), sigmoid_d(0.3), 1e-7, "sigmoid(0.3)");
	TAP_NEAR(act_at(tp, sl_sigmoid, -200), 0, 0, "sigmoid(-200) = 0, no NaN");
	TAP_NEAR(act_at(tp, sl_sigmoid, 200), 1, 0, "sigmoid(200) = 1");
	TAP_NEAR(act_at(tp, sl_exp, 1.5f), exp(1.5), 1e-6, "exp(1.5)");

	/* add, mul, scale, bias on known values */
	int s[2] = { 2, 3 }, c3 = 3;
	float xa[6] = { 1, 2, 3, 4, 5, 6 }, xb[6] = { -1, 0.5f, 2, 0, 1, -3 }, bv[3] = { 10, 20, 30 };
	sl_tensor *ta = tensor_of(2, s, xa, 0), *tb = tensor_of(2, s, xb, 0), *tv = tensor_of(1, &c3, bv, 0);
	sl_tensor *sum = sl_add(tp, ta, tb), *prod = sl_mul(tp, ta, tb), *sc = sl_scale(tp, ta, 0.5f);
	sl_tensor *bi = sl_bias(tp, ta, tv);
	int ok = 1;
	for (int i = 0; i < 6; i++)
		ok &= sum->data[i] == xa[i] + xb[i] && prod->data[i] == xa[i] * xb[i] &&
		      sc->data[i] == 0.5f * xa[i] && bi->data[i] == xa[i] + bv[i % 3];
	TAP_OK(ok, "add, mul, scale, bias of known values");
	gc_free(ta);
	gc_free(tb);
	gc_free(tv);
	sl_tape_free(tp);
	sl_arena_free(a);
}

static void test_norm_values(void)
{
	sl_arena *a = sl_arena_new(0);
	sl_tape *tp = sl_tape_new(a, NULL);
	sl_rng r;
	sl_rng_seed(&r, 3);
	enum { R = 4, C = 64 };
	int shape[2] = { R, C }, c = C;
	/* rows far from zero mean: the statistics must not cancel */
	sl_tensor *x = gc_input(&r, 2, shape, 98, 102);
	x->requires_grad = 0;
	float ones[C], zeros[C];
	for (int j = 0; j < C; j++) {
		ones[j] = 1;
		zeros[j] = 0;
	}
	sl_tensor *g = tensor_of(1, &c, ones, 0), *b = tensor_of(1, &c, zeros, 0);
	sl_tensor *y = sl_layernorm(tp, x, g, b, 1e-5f);
	sl_tensor *y2 = sl_layernorm(tp, x, g, NULL, 1e-5f);
	double worst_m = 0, worst_v = 0;
	for (int i = 0; i < R; i++) {
		double m = 0, v = 0;
		for (int j = 0; j < C; j++)
			m += y->data[i * C + j];
		m /= C;
		for (int j = 0; j < C; j++)
			v += (y->data[i * C + j] - m) * (y->data[i * C + j] - m);
		v /= C;
		worst_m = fmax(worst_m, fabs(m));
		worst_v = fmax(worst_v, fabs(v - 1));
	}
	TAP_NEAR(worst_m, 0, 1e-5, "layernorm: rows have mean 0");
	TAP_NEAR(worst_v, 0, 1e-4, "layernorm: rows have variance 1");
	TAP_OK(memcmp(y->data, y2->data, sizeof(float) * R * C) == 0, "layernorm: b = NULL equals b = 0");

	sl_tensor *z = sl_rmsnorm(tp, x, g, 1e-5f);
	double worst = 0;
	for (int i = 0; i < R; i++) {
		double ms = 0;
		for (int j = 0; j < C; j++)
			ms += (double)z->data[i * C + j] * z->data[i * C + j];
		worst = fmax(worst, fabs(ms / C - 1));
	}
	TAP_NEAR(worst, 0, 1e-5, "rmsnorm: rows have mean square 1");

	sl_tensor *p = sl_softmax(tp, x);
	worst = 0;
	for (int i = 0; i < R; i++) {
		double s = 0;
		for (int j = 0; j < C; j++)
			s += p->data[i * C + j];
		worst = fmax(worst, fabs(s - 1));
	}
	TAP_NEAR(worst, 0, 1e-6, "softmax: rows sum to 1");

	/* large logits: softmax(1000 + v) = softmax(v) */
	int s4 = 4;
	float big[4] = { 1000, 1001, 1002, 999 };
	sl_tensor *tb = tensor_of(1, &s4, big, 0);
	sl_tensor *pb = sl_softmax(tp, tb);
	double den = exp(0.0) + exp(1.0) + exp(2.0) + exp(-1.0);
	int ok = 1;
	for (int j = 0; j < 4; j++)
		ok &= isfinite(pb->data[j]) && fabs(pb->data[j] - exp(big[j] - 1000.0) / den) < 1e-6;
	TAP_OK(ok, "softmax: stable for logits around 1000");

	gc_free(x);
	gc_free(g);
	gc_free(b);
	gc_free(tb);
	sl_tape_free(tp);
	sl_arena_free(a);
}

/* -log softmax(row)[t], in double */
static double nll(const float *row, int V, int t)
{
	double m = row[0], s = 0;
	for (int j = 1; j < V; j++)
		m = fmax(m, row[j]);
	for (int j = 0; j < V; j++)
		s += exp(row[j] - m);
	return log(s) + m - row[t];
}

static void test_cross_entropy_values(void)
{
	sl_arena *a = sl_arena_new(0);
	sl_tape *tp = sl_tape_new(a, NULL);
	enum { R = 3, V = 4 };
	int shape[2] = { R, V };
	float lv[R * V] = { 0.5f, -1, 2, 0.25f, 3, 3, 3, 3, -2, 1.5f, 0, 0.75f };
	sl_tensor *x = tensor_of(2, shape, lv, 1);
	int32_t t[R] = { 2, IGNORE, 0 };
	int count = -1;
	sl_tensor *loss = sl_cross_entropy(tp, x, t, IGNORE, &count);
	double want = (nll(lv, V, 2) + nll(lv + 2 * V, V, 0)) / 2;
	TAP_OK(loss->ndim == 1 && loss->shape[0] == 1, "cross_entropy: output shape (1)");
	TAP_OK(count == 2, "cross_entropy: *count is the number of counted rows (%d)", count);
	TAP_NEAR(loss->data[0], want, 1e-6, "cross_entropy: equals -log softmax by hand");

	/* the ids are copied: clobbering the caller's buffer before backward is harmless */
	t[0] = 1;
	t[2] = 3;
	TAP_OK(sl_tape_backward(tp, loss) == SL_OK, "cross_entropy: backward runs");
	int zero = 1;
	for (int j = 0; j < V; j++)
		zero &= x->grad[V + j] == 0.0f;
	TAP_OK(zero, "cross_entropy: an ignored row gets exactly zero gradient");
	double worst = 0;
	const int rows[2] = { 0, 2 }, tg[2] = { 2, 0 };
	for (int k = 0; k < 2; k++) {
		const float *row = lv + rows[k] * V;
		double m = row[0], s = 0;
		for (int j = 1; j < V; j++)
			m = fmax(m, row[j]);
		for (int j = 0; j < V; j++)
			s += exp(row[j] - m);
		for (int j = 0; j < V; j++) {
			double g = (exp(row[j] - m) / s - (j == tg[k])) / 2;
			worst = fmax(worst, fabs(x->grad[rows[k] * V + j] - g));
		}
	}
	TAP_NEAR(worst, 0, 1e-7, "cross_entropy: gradient is (softmax - onehot) / count");

	/* large logits stay finite and exact */
	sl_tape_reset(tp);
	float big[R * V];
	for (int i = 0; i < R * V; i++)
		big[i] = 1000.0f + lv[i];
	sl_tensor *xb = tensor_of(2, shape, big, 0);
	int32_t t2[R] = { 2, 1, 0 };
	loss = sl_cross_entropy(tp, xb, t2, IGNORE, NULL);
	want = (nll(lv, V, 2) + nll(lv + V, V, 1) + nll(lv + 2 * V, V, 0)) / 3;
	TAP_OK(isfinite(loss->data[0]), "cross_entropy: finite for logits around 1000");
	TAP_NEAR(loss->data[0], want, 1e-5, "cross_entropy: logits around 1000 match by hand");

	/* every row ignored: loss 0, count 0, gradient 0 */
	sl_tape_reset(tp);
	memset(x->grad, 0, sizeof(float) * R * V);
	int32_t none[R] = { IGNORE, IGNORE, IGNORE };
	count = -1;
	loss = sl_cross_entropy(tp, x, none, IGNORE, &count);
	TAP_OK(loss->data[0] == 0.0f && count == 0, "cross_entropy: all ignored gives loss 0, count 0");
	TAP_OK(sl_tape_backward(tp, loss) == SL_OK, "cross_entropy: all ignored, backward runs");
	zero = 1;
	for (int i = 0; i < R * V; i++)
		zero &= x->grad[i] == 0.0f;
	TAP_OK(zero, "cross_entropy: all ignored gives zero gradient");

	gc_free(x);
	gc_free(xb);
	sl_tape_free(tp);
	sl_arena_free(a);
}

/* An out-of-range target is a programmer error: the process aborts. */
static void test_cross_entropy_bad_target(void)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		if (!freopen("/dev/null", "w", stderr))
			_exit(3);
		sl_arena *a = sl_arena_new(0);
		sl_tape *tp = sl_tape_new(a, NULL);
		int shape[2] = { 2, 4 };
		sl_tensor *x = tensor_of(2, shape, NULL, 1);
		int32_t t[2] = { 1, 4 };
		sl_cross_entropy(tp, x, t, IGNORE, NULL);
		_exit(0);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	TAP_OK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "cross_entropy: target == V aborts (SL_ASSERT)");
}

/* ---- threaded equals serial ------------------------------------------------ */

/* Runs build(in) forward on a tape with a pool of `threads`, then backward
 * from the output gradient dout (or from a scalar loss when dout is NULL).
 * Returns a heap buffer: the output followed by every input gradient. */
static float *run_with_threads(gc_build_fn fn, void *ctx, sl_tensor **in, int nin, const float *dout,
			       int threads, size_t *len)
{
	sl_arena *a = sl_arena_new(0);
	sl_pool *pool = sl_pool_new(threads);
	sl_tape *tp = sl_tape_new(a, pool);
	for (int k = 0; k < nin; k++)
		memset(in[k]->grad, 0, sl_tensor_numel(in[k]) * sizeof(float));
	sl_tensor *out = fn(tp, in, ctx);
	size_t n = sl_tensor_numel(out);
	*len = n;
	for (int k = 0; k < nin; k++)
		*len += sl_tensor_numel(in[k]);
	float *res = malloc(*len * sizeof(float));
	memcpy(res, out->data, n * sizeof(float));
	int st = dout ? sl_tape_backward_from(tp, out, dout) : sl_tape_backward(tp, out);
	SL_ASSERT(st == SL_OK);
	for (int k = 0; k < nin; k++) {
		size_t m = sl_tensor_numel(in[k]);
		memcpy(res + n, in[k]->grad, m * sizeof(float));
		n += m;
	}
	sl_tape_free(tp);
	sl_pool_free(pool);
	sl_arena_free(a);
	return res;
}

/* Forward output and all gradients are bit-identical with 1 and 2 threads. */
static void check_threads(const char *name, gc_build_fn fn, void *ctx, sl_tensor **in, int nin,
			  const float *dout)
{
	size_t n1, n2, n3;
	float *r1 = run_with_threads(fn, ctx, in, nin, dout, 1, &n1);
	float *r2 = run_with_threads(fn, ctx, in, nin, dout, 2, &n2);
	float *r3 = run_with_threads(fn, ctx, in, nin, dout, 3, &n3);
	int finite = 1;
	for (size_t i = 0; i < n1; i++)
		finite &= isfinite(r1[i]);
	TAP_OK(n1 == n2 && n1 == n3 && finite && memcmp(r1, r2, n1 * sizeof(float)) == 0 &&
		       memcmp(r1, r3, n1 * sizeof(float)) == 0,
	       "%s: output and gradients bit-identical with 1, 2 and 3 threads", name);
	free(r1);
	free(r2);
	free(r3);
}

/* Backward writes a fresh gradient buffer instead of zero-filling it and
 * adding (linear, add, mul, scale, activations, attention): the same bits as
 * the zero-fill path, which a buffer requested before backward takes. The
 * chain uses tensors twice (sl_add(h, h), attention with q = k), so a buffer
 * is fresh for its first writer only. */
static void fresh_chain(sl_tape *tp, sl_tensor **in, sl_tensor **mid)
{
	sl_tensor *h = sl_linear(tp, in[0], in[1], NULL);             /* (2, 6, 8) */
	sl_tensor *g = sl_gelu(tp, h);
	sl_tensor *a = sl_add(tp, g, g);
	sl_tensor *m = sl_mul(tp, a, sl_tanh(tp, h));
	sl_tensor *v = sl_scale(tp, sl_silu(tp, m), 0.5f);
	sl_tensor *o = sl_attention(tp, a, a, v, 2, 1, 0, 0.35f, NULL);
	mid[0] = h, mid[1] = g, mid[2] = a, mid[3] = m, mid[4] = v, mid[5] = o;
}

static void test_fresh_grads(void)
{
	sl_rng r;
	sl_rng_seed(&r, 11);
	int xs[3] = { 2, 6, 5 }, ws[2] = { 8, 5 };
	sl_tensor *in[2] = { gc_input(&r, 3, xs, -1, 1), gc_input(&r, 2, ws, -1, 1) };
	size_t nx = 60, nw = 40;
	float first[100];
	for (int pass = 0; pass < 2; pass++) {
		sl_arena *ar = sl_arena_new(0);
		sl_tape *tp = sl_tape_new(ar, NULL);
		memset(in[0]->grad, 0, nx * sizeof(float));
		memset(in[1]->grad, 0, nw * sizeof(float));
		sl_tensor *mid[6];
		fresh_chain(tp, in, mid);
		if (pass == 1) /* every buffer zero-filled before backward: accumulate only */
			for (int i = 0; i < 5; i++)
				sl_tape_grad(tp, mid[i]);
		size_t no = sl_tensor_numel(mid[5]);
		float *dout = malloc(no * sizeof *dout);
		for (size_t i = 0; i < no; i++)
			dout[i] = cosf((float)i);
		sl_tape_backward_from(tp, mid[5], dout);
		free(dout);
		if (pass == 0) {
			memcpy(first, in[0]->grad, nx * sizeof(float));
			memcpy(first + nx, in[1]->grad, nw * sizeof(float));
		} else {
			TAP_OK(memcmp(first, in[0]->grad, nx * sizeof(float)) == 0 &&
				       memcmp(first + nx, in[1]->grad, nw * sizeof(float)) == 0,
			       "fresh gradient buffers written directly give the bits of zero-fill and add");
		}
		sl_tape_free(tp);
		sl_arena_free(ar);
	}
	gc_free(in[0]);
	gc_free(in[1]);
}

/* sl_gelu_mul against sl_mul and sl_gelu, bit for bit: the inputs through
 * sl_scale(., 1) so the gradient buffers are the tape's own (fresh); in[1]
 * == in[0] gives the one-buffer case. mode 0: fused; 1: mul(gelu(x), u);
 * 2: mul(u, gelu(x)) */
static int gm_mode;

static sl_tensor *b_gm(sl_tape *tp, sl_tensor **in, void *c)
{
	(void)c;
	sl_tensor *x = sl_scale(tp, in[0], 1.0f), *u = in[1] == in[0] ? x : sl_scale(tp, in[1], 1.0f);
	if (gm_mode == 0)
		return sl_gelu_mul(tp, x, u);
	return gm_mode == 1 ? sl_mul(tp, sl_gelu(tp, x), u) : sl_mul(tp, u, sl_gelu(tp, x));
}

static void test_gelu_mul_composed(void)
{
	enum { N = 4 * 80 * 128 };
	int shape[3] = { 4, 80, 128 };
	sl_rng r;
	sl_rng_seed(&r, 5);
	sl_tensor *x = gc_input(&r, 3, shape, -4, 4), *u = gc_input(&r, 3, shape, -2, 2);
	float *dout = malloc(N * sizeof(float));
	for (size_t i = 0; i < N; i++)
		dout[i] = 2.0f * sl_rng_float(&r) - 1.0f;
	for (int self = 0; self <= 1; self++)
		for (int th = 1; th <= 2; th++) {
			sl_tensor *in[2] = { x, self ? x : u };
			size_t n0, n1, n2;
			gm_mode = 0;
			float *f = run_with_threads(b_gm, NULL, in, 2 - self, dout, th, &n0);
			gm_mode = 1;
			float *a = run_with_threads(b_gm, NULL, in, 2 - self, dout, th, &n1);
			gm_mode = 2;
			float *b = run_with_threads(b_gm, NULL, in, 2 - self, dout, th, &n2);
			TAP_OK(n0 == n1 && n0 == n2 && !memcmp(f, a, n0 * sizeof *f) && !memcmp(f, b, n0 * sizeof *f),
			       "gelu_mul%s, %d thread(s): the bits of mul(gelu(x), u) and mul(u, gelu(x)), output and "
			       "gradients", self ? "(x, x)" : "", th);
			free(f);
			free(a);
			free(b);
		}
	free(dout);
	gc_free(x);
	gc_free(u);
}

static void test_threads(void)
{
	/* (B, T, C) = (4, 80, 128): R*C = 40960 elements takes every parallel
	 * path (elementwise, rows and the column sums of dg/db). */
	enum { B = 4, T = 80, C = 128 };
	int shape[3] = { B, T, C }, c = C;
	size_t N = (size_t)B * T * C, R = (size_t)B * T;
	sl_rng r;
	sl_rng_seed(&r, 11);
	sl_tensor *x = gc_input(&r, 3, shape, -3, 3);
	sl_tensor *x2 = gc_input(&r, 3, shape, -3, 3);
	sl_tensor *g = gc_input(&r, 1, &c, 0.5f, 1.5f);
	sl_tensor *b = gc_input(&r, 1, &c, -1, 1);
	float *dout = malloc(N * sizeof(float));
	for (size_t i = 0; i < N; i++)
		dout[i] = 2.0f * sl_rng_float(&r) - 1.0f;

	int32_t *t = malloc(R * sizeof *t);
	for (size_t i = 0; i < R; i++)
		t[i] = i % 7 == 3 ? IGNORE : (int32_t)sl_rng_below(&r, C);
	gc_ctx k = { .s = 0.37f, .eps = 1e-5f, .t = t };

	/* the chain: layernorm -> gelu -> cross-entropy, a scalar loss */
	sl_tensor *in3[3] = { x, g, b };
	check_threads("layernorm+gelu+cross_entropy", b_chain, &k, in3, 3, NULL);

	/* every op alone, from a random output gradient */
	sl_tensor *in2[2] = { x, x2 };
	check_threads("add", b_add, &k, in2, 2, dout);
	check_threads("mul", b_mul, &k, in2, 2, dout);
	check_threads("scale", b_scale, &k, in2, 1, dout);
	sl_tensor *xg[2] = { x, g };
	check_threads("bias", b_bias, &k, xg, 2, dout);
	static const struct {
		const char *name;
		gc_build_fn fn;
	} acts[] = {
		{ "gelu", b_gelu }, { "silu", b_silu }, { "relu", b_relu }, { "tanh", b_tanh },
		{ "sigmoid", b_sigmoid }, { "softplus", b_softplus }, { "exp", b_exp },
		{ "softmax", b_softmax },
	};
	for (size_t i = 0; i < SL_COUNT(acts); i++)
		check_threads(acts[i].name, acts[i].fn, &k, in2, 1, dout);
	check_threads("layernorm", b_layernorm, &k, in3, 3, dout);
	check_threads("rmsnorm", b_rmsnorm, &k, xg, 2, dout);
	check_threads("gelu_mul", b_gelu_mul, &k, in2, 2, dout);
	check_threads("cross_entropy", b_cross_entropy, &k, in2, 1, NULL);

	/* 96 columns: the column sums (dg, db) in groups of 64, 32 and 16 at 1
	 * thread (64 + 32) and 2 (32 + 16 each) */
	int s96[3] = { B, T, 96 }, c96 = 96;
	sl_tensor *x96 = gc_input(&r, 3, s96, -3, 3), *g96 = gc_input(&r, 1, &c96, 0.5f, 1.5f),
		  *b96 = gc_input(&r, 1, &c96, -1, 1);
	float *d96 = malloc((size_t)B * T * 96 * sizeof(float));
	for (size_t i = 0; i < (size_t)B * T * 96; i++)
		d96[i] = 2.0f * sl_rng_float(&r) - 1.0f;
	sl_tensor *in96[3] = { x96, g96, b96 };
	check_threads("layernorm (96 columns)", b_layernorm, &k, in96, 3, d96);
	check_threads("bias (96 columns)", b_bias, &k, in96, 2, d96);
	free(d96);
	gc_free(x96);
	gc_free(g96);
	gc_free(b96);

	free(t);
	free(dout);
	gc_free(x);
	gc_free(x2);
	gc_free(g);
	gc_free(b);
}

/* ---- fused chains: gelu_skip, glu_residual ---------------------------------
 * Each against its chain of ops, bit for bit (output and every gradient),
 * with 1 and 2 threads, and by finite differences. The inputs pass through
 * sl_scale(x, 1) first so the fused op meets fresh gradient buffers, and the
 * builds reuse inputs so it also adds into buffers written before it. */

static sl_tensor *one(sl_tape *tp, sl_tensor *x) { return sl_scale(tp, x, 1.0f); }

/* in: a, x (..., C), d (C) */
static sl_tensor *b_gsk(sl_tape *tp, sl_tensor **in, void *c)
{
	(void)c;
	sl_tensor *x = one(tp, in[1]);
	return sl_add(tp, sl_gelu_skip(tp, one(tp, in[0]), x, in[2]), x);
}

static sl_tensor *b_gsk_chain(sl_tape *tp, sl_tensor **in, void *c)
{
	(void)c;
	sl_tensor *x = one(tp, in[1]);
	return sl_add(tp, sl_gelu(tp, sl_add(tp, one(tp, in[0]), sl_colmul(tp, x, in[2]))), x);
}

/* every gradient buffer fresh */
static sl_tensor *b_gsk_fresh(sl_tape *tp, sl_tensor **in, void *c)
{
	(void)c;
	return sl_gelu_skip(tp, one(tp, in[0]), one(tp, in[1]), in[2]);
}

static sl_tensor *b_gsk_fresh_chain(sl_tape *tp, sl_tensor **in, void *c)
{
	(void)c;
	sl_tensor *x = one(tp, in[1]);
	return sl_gelu(tp, sl_add(tp, one(tp, in[0]), sl_colmul(tp, x, in[2])));
}

/* d NULL: gelu(a + x) */
static sl_tensor *b_gadd(sl_tape *tp, sl_tensor **in, void *c)
{
	(void)c;
	sl_tensor *x = one(tp, in[1]);
	return sl_add(tp, sl_gelu_skip(tp, one(tp, in[0]), x, NULL), x);
}

static sl_tensor *b_gadd_chain(sl_tape *tp, sl_tensor **in, void *c)
{
	(void)c;
	sl_tensor *x = one(tp, in[1]);
	return sl_add(tp, sl_gelu(tp, sl_add(tp, one(tp, in[0]), x)), x);
}

static sl_tensor *b_colmul(sl_tape *tp, sl_tensor **in, void *c)
{
	(void)c;
	return sl_colmul(tp, in[0], in[1]);
}

/* a and x one tensor */
static sl_tensor *b_gsk_self(sl_tape *tp, sl_tensor **in, void *c)
{
	(void)c;
	sl_tensor *a = one(tp, in[0]);
	return sl_gelu_skip(tp, a, a, in[2]);
}

static sl_tensor *b_gsk_self_chain(sl_tape *tp, sl_tensor **in, void *c)
{
	(void)c;
	sl_tensor *a = one(tp, in[0]);
	return sl_gelu(tp, sl_add(tp, a, sl_colmul(tp, a, in[2])));
}

/* in: h, a, b (..., C) */
static sl_tensor *b_glr(sl_tape *tp, sl_tensor **in, void *c)
{
	(void)c;
	sl_tensor *a = one(tp, in[1]);
	return sl_add(tp, sl_glu_residual(tp, one(tp, in[0]), a, one(tp, in[2])), a);
}

static sl_tensor *b_glr_chain(sl_tape *tp, sl_tensor **in, void *c)
{
	(void)c;
	sl_tensor *a = one(tp, in[1]);
	sl_tensor *s = sl_sigmoid(tp, one(tp, in[2]));
	return sl_add(tp, sl_add(tp, one(tp, in[0]), sl_mul(tp, a, s)), a);
}

/* in: h (..., C), o (..., 2C): its halves as a and b */
static sl_tensor *b_glr_split(sl_tape *tp, sl_tensor **in, void *c)
{
	(void)c;
	sl_tensor *h = one(tp, in[0]);
	return sl_add(tp, sl_glu_residual(tp, h, one(tp, in[1]), NULL), h);
}

static sl_tensor *b_glr_split_chain(sl_tape *tp, sl_tensor **in, void *c)
{
	(void)c;
	sl_tensor *h = one(tp, in[0]), *o = one(tp, in[1]);
	int C = sl_tensor_dim(h, -1), d = o->ndim - 1;
	sl_tensor *s = sl_sigmoid(tp, sl_slice(tp, o, d, C, C));
	return sl_add(tp, sl_add(tp, h, sl_mul(tp, sl_slice(tp, o, d, 0, C), s)), h);
}

static void check_fused(const char *name, gc_build_fn fused, gc_build_fn chain, sl_tensor **in, int nin,
			const float *dout)
{
	size_t n1, n2, n3, n4;
	float *f1 = run_with_threads(fused, NULL, in, nin, dout, 1, &n1);
	float *f2 = run_with_threads(fused, NULL, in, nin, dout, 2, &n2);
	float *f3 = run_with_threads(fused, NULL, in, nin, dout, 3, &n4);
	float *c1 = run_with_threads(chain, NULL, in, nin, dout, 1, &n3);
	TAP_OK(n1 == n2 && n1 == n3 && n1 == n4 && memcmp(f1, c1, n1 * sizeof(float)) == 0 &&
		       memcmp(f2, c1, n1 * sizeof(float)) == 0 && memcmp(f3, c1, n1 * sizeof(float)) == 0,
	       "%s: output and gradients bit-identical to the chain's, 1, 2 and 3 threads", name);
	free(f1);
	free(f2);
	free(f3);
	free(c1);
}

/* ---- linear_residual: res + linear(x, w, b) --------------------------------
 * in: x (..., I), w (O, I), b (O), res (..., O). Against sl_add(res,
 * sl_linear(...)), the order sl_add's residual blocks write it in. */
static sl_tensor *b_lres(sl_tape *tp, sl_tensor **in, void *c)
{
	(void)c;
	return sl_linear_residual(tp, one(tp, in[0]), in[1], in[2], one(tp, in[3]));
}

static sl_tensor *b_lres_chain(sl_tape *tp, sl_tensor **in, void *c)
{
	(void)c;
	return sl_add(tp, one(tp, in[3]), sl_linear(tp, one(tp, in[0]), in[1], in[2]));
}

/* res used again after it: its gradient buffer is written before the fused
 * op adds into it */
static sl_tensor *b_lres_twice(sl_tape *tp, sl_tensor **in, void *c)
{
	(void)c;
	sl_tensor *r = one(tp, in[3]);
	return sl_add(tp, sl_linear_residual(tp, one(tp, in[0]), in[1], in[2], r), r);
}

static sl_tensor *b_lres_twice_chain(sl_tape *tp, sl_tensor **in, void *c)
{
	(void)c;
	sl_tensor *r = one(tp, in[3]);
	return sl_add(tp, sl_add(tp, r, sl_linear(tp, one(tp, in[0]), in[1], in[2])), r);
}

/* no bias: in[2] unused */
static sl_tensor *b_lres_nob(sl_tape *tp, sl_tensor **in, void *c)
{
	(void)c;
	return sl_linear_residual(tp, one(tp, in[0]), in[1], NULL, one(tp, in[3]));
}

static sl_tensor *b_lres_nob_chain(sl_tape *tp, sl_tensor **in, void *c)
{
	(void)c;
	return sl_add(tp, one(tp, in[3]), sl_linear(tp, one(tp, in[0]), in[1], NULL));
}

/* the input is the residual (I = O): one gradient buffer for both */
static sl_tensor *b_lres_self(sl_tape *tp, sl_tensor **in, void *c)
{
	(void)c;
	sl_tensor *x = one(tp, in[0]);
	return sl_linear_residual(tp, x, in[1], in[2], x);
}

static sl_tensor *b_lres_self_chain(sl_tape *tp, sl_tensor **in, void *c)
{
	(void)c;
	sl_tensor *x = one(tp, in[0]);
	return sl_add(tp, x, sl_linear(tp, x, in[1], in[2]));
}

static void test_linear_residual(void)
{
	/* 320 rows: every product goes parallel with 2 threads; O = 40 and 24
	 * take the kernel's ragged column edge */
	enum { B = 4, T = 80, I = 64, O = 40, S = 24 };
	int xs[3] = { B, T, I }, ws[2] = { O, I }, rs[3] = { B, T, O }, o = O;
	int ss[3] = { B, T, S }, sws[2] = { S, S }, so = S;
	sl_rng r;
	sl_rng_seed(&r, 31);
	sl_tensor *in[4] = { gc_input(&r, 3, xs, -2, 2), gc_input(&r, 2, ws, -0.5f, 0.5f), gc_input(&r, 1, &o, -1, 1),
			     gc_input(&r, 3, rs, -3, 3) };
	sl_tensor *sin[3] = { gc_input(&r, 3, ss, -2, 2), gc_input(&r, 2, sws, -0.5f, 0.5f),
			      gc_input(&r, 1, &so, -1, 1) };
	float *dout = malloc((size_t)B * T * O * sizeof(float));
	for (size_t i = 0; i < (size_t)B * T * O; i++)
		dout[i] = 2.0f * sl_rng_float(&r) - 1.0f;
	check_fused("linear_residual", b_lres, b_lres_chain, in, 4, dout);
	check_fused("linear_residual, residual used twice", b_lres_twice, b_lres_twice_chain, in, 4, dout);
	check_fused("linear_residual (no bias)", b_lres_nob, b_lres_nob_chain, in, 4, dout);
	check_fused("linear_residual(x, w, b, x)", b_lres_self, b_lres_self_chain, sin, 3, dout);
	free(dout);
	for (int i = 0; i < 4; i++)
		gc_free(in[i]);
	for (int i = 0; i < 3; i++)
		gc_free(sin[i]);

	/* finite differences, small */
	int txs[3] = { 2, 3, 5 }, tws[2] = { 4, 5 }, trs[3] = { 2, 3, 4 }, to = 4;
	int tss[3] = { 2, 3, 4 }, tsw[2] = { 4, 4 };
	sl_rng_seed(&r, 37);
	sl_tensor *t[4] = { gc_input(&r, 3, txs, -2, 2), gc_input(&r, 2, tws, -1, 1), gc_input(&r, 1, &to, -1, 1),
			    gc_input(&r, 3, trs, -2, 2) };
	sl_tensor *ts[3] = { gc_input(&r, 3, tss, -2, 2), gc_input(&r, 2, tsw, -1, 1), gc_input(&r, 1, &to, -1, 1) };
	for (int th = 0; th <= 2; th += 2) {
		gc_check("linear_residual", b_lres, NULL, t, 4, 1e-2, 5e-4, 2e-3, th);
		gc_check("linear_residual, residual used twice", b_lres_twice, NULL, t, 4, 1e-2, 5e-4, 2e-3, th);
		gc_check("linear_residual(x, w, b, x)", b_lres_self, NULL, ts, 3, 1e-2, 5e-4, 2e-3, th);
	}
	for (int i = 0; i < 4; i++)
		gc_free(t[i]);
	for (int i = 0; i < 3; i++)
		gc_free(ts[i]);
}

/* ---- mlp: res + gelu(x W1^T + b1) W2^T + b2 ---------------------------------
 * in: x (..., H), w1 (F, H), b1 (F), w2 (H, F), b2 (H), res (..., H). Against
 * sl_linear, sl_gelu and sl_add(res, sl_linear(...)), the order the blocks
 * composed them in. */
static sl_tensor *b_mlp(sl_tape *tp, sl_tensor **in, void *c)
{
	(void)c;
	return sl_mlp(tp, one(tp, in[0]), in[1], in[2], in[3], in[4], one(tp, in[5]));
}

static sl_tensor *b_mlp_chain(sl_tape *tp, sl_tensor **in, void *c)
{
	(void)c;
	sl_tensor *g = sl_gelu(tp, sl_linear(tp, one(tp, in[0]), in[1], in[2]));
	return sl_add(tp, one(tp, in[5]), sl_linear(tp, g, in[3], in[4]));
}

/* no residual, no biases */
static sl_tensor *b_mlp_bare(sl_tape *tp, sl_tensor **in, void *c)
{
	(void)c;
	return sl_mlp(tp, one(tp, in[0]), in[1], NULL, in[3], NULL, NULL);
}

static sl_tensor *b_mlp_bare_chain(sl_tape *tp, sl_tensor **in, void *c)
{
	(void)c;
	return sl_linear(tp, sl_gelu(tp, sl_linear(tp, one(tp, in[0]), in[1], NULL)), in[3], NULL);
}

/* the input is the residual (post-norm blocks): one gradient buffer for both */
static sl_tensor *b_mlp_self(sl_tape *tp, sl_tensor **in, void *c)
{
	(void)c;
	sl_tensor *x = one(tp, in[0]);
	return sl_mlp(tp, x, in[1], in[2], in[3], in[4], x);
}

static sl_tensor *b_mlp_self_chain(sl_tape *tp, sl_tensor **in, void *c)
{
	(void)c;
	sl_tensor *x = one(tp, in[0]);
	return sl_add(tp, x, sl_linear(tp, sl_gelu(tp, sl_linear(tp, x, in[1], in[2])), in[3], in[4]));
}

/* the input's gradient written before the op adds into it, the residual
 * used again after it */
static sl_tensor *b_mlp_twice(sl_tape *tp, sl_tensor **in, void *c)
{
	(void)c;
	sl_tensor *x = one(tp, in[0]), *r = one(tp, in[5]);
	return sl_add(tp, sl_add(tp, sl_mlp(tp, x, in[1], in[2], in[3], in[4], r), r), x);
}

static sl_tensor *b_mlp_twice_chain(sl_tape *tp, sl_tensor **in, void *c)
{
	(void)c;
	sl_tensor *x = one(tp, in[0]), *r = one(tp, in[5]);
	sl_tensor *g = sl_gelu(tp, sl_linear(tp, x, in[1], in[2]));
	return sl_add(tp, sl_add(tp, sl_add(tp, r, sl_linear(tp, g, in[3], in[4])), r), x);
}

static void test_mlp(void)
{
	/* 320 rows of H = 40, F = 72: every pass goes parallel with 2 threads
	 * and the kernel meets ragged column edges in both products */
	enum { B = 4, T = 80, H = 40, F = 72 };
	int xs[3] = { B, T, H }, w1s[2] = { F, H }, w2s[2] = { H, F }, f = F, h = H;
	sl_rng r;
	sl_rng_seed(&r, 41);
	sl_tensor *in[6] = { gc_input(&r, 3, xs, -2, 2),      gc_input(&r, 2, w1s, -0.5f, 0.5f),
			     gc_input(&r, 1, &f, -1, 1),      gc_input(&r, 2, w2s, -0.5f, 0.5f),
			     gc_input(&r, 1, &h, -1, 1),      gc_input(&r, 3, xs, -3, 3) };
	float *dout = malloc((size_t)B * T * H * sizeof(float));
	for (size_t i = 0; i < (size_t)B * T * H; i++)
		dout[i] = 2.0f * sl_rng_float(&r) - 1.0f;
	check_fused("mlp", b_mlp, b_mlp_chain, in, 6, dout);
	check_fused("mlp (no residual, no biases)", b_mlp_bare, b_mlp_bare_chain, in, 6, dout);
	check_fused("mlp(x, ..., x)", b_mlp_self, b_mlp_self_chain, in, 6, dout);
	check_fused("mlp, gradients written before", b_mlp_twice, b_mlp_twice_chain, in, 6, dout);
	free(dout);
	for (int i = 0; i < 6; i++)
		gc_free(in[i]);

	/* finite differences, small */
	int txs[3] = { 2, 3, 4 }, tw1[2] = { 6, 4 }, tw2[2] = { 4, 6 }, tf = 6, th4 = 4;
	sl_rng_seed(&r, 43);
	sl_tensor *t[6] = { gc_input(&r, 3, txs, -2, 2), gc_input(&r, 2, tw1, -1, 1), gc_input(&r, 1, &tf, -1, 1),
			    gc_input(&r, 2, tw2, -1, 1), gc_input(&r, 1, &th4, -1, 1), gc_input(&r, 3, txs, -2, 2) };
	for (int th = 0; th <= 2; th += 2) {
		gc_check("mlp", b_mlp, NULL, t, 6, 1e-2, 5e-4, 2e-3, th);
		gc_check("mlp(x, ..., x)", b_mlp_self, NULL, t, 5, 1e-2, 5e-4, 2e-3, th);
	}
	for (int i = 0; i < 6; i++)
		gc_free(t[i]);
}

static void test_fused(void)
{
	/* (4, 80, 128): every pass goes parallel with 2 threads */
	enum { B = 4, T = 80, C = 128 };
	int s3[3] = { B, T, C }, s2c[3] = { B, T, 2 * C }, c = C;
	sl_rng r;
	sl_rng_seed(&r, 23);
	sl_tensor *a = gc_input(&r, 3, s3, -3, 3), *x = gc_input(&r, 3, s3, -3, 3), *b = gc_input(&r, 3, s3, -6, 6);
	sl_tensor *o = gc_input(&r, 3, s2c, -6, 6), *d = gc_input(&r, 1, &c, -1.5f, 1.5f);
	float *dout = malloc((size_t)B * T * C * sizeof(float));
	for (size_t i = 0; i < (size_t)B * T * C; i++)
		dout[i] = 2.0f * sl_rng_float(&r) - 1.0f;
	sl_tensor *gin[3] = { a, x, d }, *hin[3] = { a, x, b }, *sin[2] = { a, o };
	check_fused("gelu_skip", b_gsk, b_gsk_chain, gin, 3, dout);
	check_fused("gelu_skip, fresh buffers", b_gsk_fresh, b_gsk_fresh_chain, gin, 3, dout);
	check_fused("gelu_skip(a, x, NULL)", b_gadd, b_gadd_chain, gin, 2, dout);
	sl_tensor *cin[2] = { x, d };
	check_threads("colmul", b_colmul, NULL, cin, 2, dout);
	check_fused("gelu_skip(a, a, d)", b_gsk_self, b_gsk_self_chain, gin, 3, dout);
	check_fused("glu_residual", b_glr, b_glr_chain, hin, 3, dout);
	check_fused("glu_residual (halves)", b_glr_split, b_glr_split_chain, sin, 2, dout);
	free(dout);
	gc_free(a);
	gc_free(x);
	gc_free(b);
	gc_free(o);
	gc_free(d);

	/* finite differences, small */
	int t3[3] = { 2, 3, 6 }, t2c[3] = { 2, 3, 12 }, t = 6;
	sl_rng_seed(&r, 29);
	a = gc_input(&r, 3, t3, -2, 2), x = gc_input(&r, 3, t3, -2, 2), b = gc_input(&r, 3, t3, -4, 4);
	o = gc_input(&r, 3, t2c, -4, 4), d = gc_input(&r, 1, &t, -1.5f, 1.5f);
	sl_tensor *g2[3] = { a, x, d }, *h2[3] = { a, x, b }, *s2[2] = { a, o };
	for (int th = 0; th <= 2; th += 2) {
		gc_check("gelu_skip", b_gsk, NULL, g2, 3, 1e-2, 5e-4, 2e-3, th);
		gc_check("gelu_skip(a, a, d)", b_gsk_self, NULL, g2, 3, 1e-2, 5e-4, 2e-3, th);
		gc_check("gelu_skip(a, x, NULL)", b_gadd, NULL, g2, 2, 1e-2, 5e-4, 2e-3, th);
		gc_check("glu_residual", b_glr, NULL, h2, 3, 1e-2, 5e-4, 2e-3, th);
		gc_check("glu_residual (halves)", b_glr_split, NULL, s2, 2, 1e-2, 5e-4, 2e-3, th);
	}
	gc_free(a);
	gc_free(x);
	gc_free(b);
	gc_free(o);
	gc_free(d);
}

/* ---- linear layers: the relay of the weight gradients, the pair ----------
 * A linear layer's weight and bias gradients are sums over every row, which
 * the threads pass along part to part (seqlab's kernel): output and every
 * gradient bit-identical at 1, 2 and 3 threads, on shapes that split
 * unevenly (rows, outputs). linear_pair against its two sl_linear calls
 * side by side (sl_concat), the second recorded first. */

/* in: x (..., I), w (O, I), b (O); x used twice (dx added onto) */
static sl_tensor *b_lin(sl_tape *tp, sl_tensor **in, void *c)
{
	(void)c;
	sl_tensor *x = one(tp, in[0]);
	return sl_add(tp, sl_linear(tp, x, in[1], in[2]), sl_linear(tp, x, in[1], NULL));
}

/* in: x (..., I), w1 (O1, I), b1, w2 (O2, I), b2 */
static sl_tensor *b_pair(sl_tape *tp, sl_tensor **in, void *c)
{
	(void)c;
	return sl_linear_pair(tp, one(tp, in[0]), in[1], in[2], in[3], in[4]);
}

static sl_tensor *b_pair_chain(sl_tape *tp, sl_tensor **in, void *c)
{
	(void)c;
	sl_tensor *x = one(tp, in[0]);
	sl_tensor *o2 = sl_linear(tp, x, in[3], in[4]);
	sl_tensor *o[2] = { sl_linear(tp, x, in[1], in[2]), o2 };
	return sl_concat(tp, o, 2, x->ndim - 1);
}

/* without biases (in[2] and in[4] unused) */
static sl_tensor *b_pair_nob(sl_tape *tp, sl_tensor **in, void *c)
{
	(void)c;
	return sl_linear_pair(tp, one(tp, in[0]), in[1], NULL, in[3], NULL);
}

static sl_tensor *b_pair_nob_chain(sl_tape *tp, sl_tensor **in, void *c)
{
	(void)c;
	sl_tensor *x = one(tp, in[0]);
	sl_tensor *o2 = sl_linear(tp, x, in[3], NULL);
	sl_tensor *o[2] = { sl_linear(tp, x, in[1], NULL), o2 };
	return sl_concat(tp, o, 2, x->ndim - 1);
}

/* x feeds a pair and a linear: the pair's dx added onto a written buffer */
static sl_tensor *b_pair_twice(sl_tape *tp, sl_tensor **in, void *c)
{
	(void)c;
	sl_tensor *x = one(tp, in[0]);
	sl_tensor *p = sl_linear_pair(tp, x, in[1], in[2], in[3], in[4]);
	return sl_add(tp, sl_slice(tp, p, x->ndim - 1, 0, in[1]->shape[0]), sl_linear(tp, x, in[1], NULL));
}

static sl_tensor *b_pair_twice_chain(sl_tape *tp, sl_tensor **in, void *c)
{
	(void)c;
	sl_tensor *x = one(tp, in[0]);
	sl_tensor *o2 = sl_linear(tp, x, in[3], in[4]);
	sl_tensor *o[2] = { sl_linear(tp, x, in[1], in[2]), o2 };
	sl_tensor *p = sl_concat(tp, o, 2, x->ndim - 1);
	return sl_add(tp, sl_slice(tp, p, x->ndim - 1, 0, in[1]->shape[0]), sl_linear(tp, x, in[1], NULL));
}

/* the pair against its chain, and every result against 1 thread's, at
 * 1, 2 and 3 threads; with OpenBLAS's products (SEQLAB_GEMM=openblas),
 * whose edge tiles may sum otherwise at another split of the rows, at 1
 * thread only */
static void check_linear(const char *name, gc_build_fn fn, gc_build_fn chain, sl_tensor **in, int nin,
			 const float *dout)
{
	int maxth = strcmp(sl_gemm_name(), "seqlab") ? 1 : 3, same = 1;
	size_t n0, n;
	float *ref = run_with_threads(chain ? chain : fn, NULL, in, nin, dout, 1, &n0);
	for (int th = 1; th <= maxth; th++) {
		float *r = run_with_threads(fn, NULL, in, nin, dout, th, &n);
		same &= n == n0 && memcmp(r, ref, n * sizeof(float)) == 0;
		free(r);
	}
	TAP_OK(same, "%s: output and gradients bit-identical to %s at %s", name,
	       chain ? "the chain's" : "1 thread's", maxth > 1 ? "1, 2 and 3 threads" : "1 thread (OpenBLAS)");
	free(ref);
}

static void test_linear(void)
{
	/* R = 3 x 77 rows, 96 in, 50 and 38 out: the relay's parts and groups
	 * split unevenly at 2 and 3 threads */
	enum { B = 3, T = 77, I = 96, O1 = 50, O2 = 38 };
	int xs[3] = { B, T, I }, w1s[2] = { O1, I }, w2s[2] = { O2, I }, b1s = O1, b2s = O2;
	sl_rng r;
	sl_rng_seed(&r, 31);
	sl_tensor *x = gc_input(&r, 3, xs, -2, 2), *w1 = gc_input(&r, 2, w1s, -0.5f, 0.5f);
	sl_tensor *w2 = gc_input(&r, 2, w2s, -0.5f, 0.5f), *b1 = gc_input(&r, 1, &b1s, -1, 1);
	sl_tensor *b2 = gc_input(&r, 1, &b2s, -1, 1);
	float *dout = malloc((size_t)B * T * (O1 + O2) * sizeof(float));
	for (size_t i = 0; i < (size_t)B * T * (O1 + O2); i++)
		dout[i] = 2.0f * sl_rng_float(&r) - 1.0f;
	sl_tensor *lin[3] = { x, w1, b1 }, *pin[5] = { x, w1, b1, w2, b2 };
	check_linear("linear (x used twice)", b_lin, NULL, lin, 3, dout);
	check_linear("linear_pair", b_pair, b_pair_chain, pin, 5, dout);
	check_linear("linear_pair, dx added onto", b_pair_twice, b_pair_twice_chain, pin, 5, dout);
	/* the pair without biases: two products, no bias in the store */
	check_linear("linear_pair (no biases)", b_pair_nob, b_pair_nob_chain, pin, 5, dout);
	free(dout);
	gc_free(x);
	gc_free(w1);
	gc_free(w2);
	gc_free(b1);
	gc_free(b2);

	/* finite differences: small (serial), and at 128 rows x 16 in x (8 + 8)
	 * out, just over the threshold of the threads (the relay at 2 and 3) */
	static const int dims[2][4] = { { 6, 5, 4, 3 }, { 128, 16, 8, 8 } };
	for (int d = 0; d < 2; d++) {
		int xs2[2] = { dims[d][0], dims[d][1] }, ws1[2] = { dims[d][2], dims[d][1] };
		int ws2[2] = { dims[d][3], dims[d][1] }, bs1 = dims[d][2], bs2 = dims[d][3];
		sl_rng_seed(&r, 37 + d);
		x = gc_input(&r, 2, xs2, -1, 1), w1 = gc_input(&r, 2, ws1, -1, 1), w2 = gc_input(&r, 2, ws2, -1, 1);
		b1 = gc_input(&r, 1, &bs1, -1, 1), b2 = gc_input(&r, 1, &bs2, -1, 1);
		sl_tensor *in[5] = { x, w1, b1, w2, b2 };
		for (int th = d ? 2 : 0; th <= (d ? 3 : 0); th++) {
			gc_check("linear_pair", b_pair, NULL, in, 5, 1e-2, 5e-4, 2e-3, th);
			gc_check("linear (x used twice)", b_lin, NULL, in, 3, 1e-2, 5e-4, 2e-3, th);
		}
		gc_free(x);
		gc_free(w1);
		gc_free(w2);
		gc_free(b1);
		gc_free(b2);
	}
}

/* ---- layernorm against the plain loops ------------------------------------
 * The row sums (vectorised over rows where the build has AVX-512) against
 * one row at a time, the column in order, and the gain and bias gradients
 * (sixteen columns at a time, in groups side by side, then one by one) against plain column
 * sums: the same bits, over row counts that leave partial blocks and widths
 * that leave columns past the last full group. */
static void test_layernorm_exact(void)
{
	static const int shapes[][2] = { { 37, 13 }, { 50, 64 }, { 3, 8 }, { 17, 70 }, { 1, 5 }, { 9, 48 } };
	sl_rng r;
	sl_rng_seed(&r, 31);
	for (size_t si = 0; si < SL_COUNT(shapes); si++) {
		int R = shapes[si][0], C = shapes[si][1], s[2] = { R, C };
		sl_tensor *x = gc_input(&r, 2, s, -3, 5), *g = gc_input(&r, 1, &C, 0.5f, 1.5f);
		sl_tensor *b = gc_input(&r, 1, &C, -1, 1);
		float *dy = malloc((size_t)R * C * sizeof(float)), *y = malloc((size_t)R * C * sizeof(float));
		float *dx = calloc((size_t)R * C, sizeof(float)), *dg = calloc((size_t)C, sizeof(float));
		float *db = calloc((size_t)C, sizeof(float));
		for (int i = 0; i < R * C; i++)
			dy[i] = 2.0f * sl_rng_float(&r) - 1.0f;
		const float eps = 1e-5f;
		for (int i = 0; i < R; i++) {
			const float *xr = x->data + (size_t)i * C, *d = dy + (size_t)i * C;
			double su = 0, v = 0, s1 = 0, s2 = 0;
			for (int j = 0; j < C; j++)
				su += xr[j];
			double mu = su / (double)C;
			for (int j = 0; j < C; j++) {
				double e = xr[j] - mu;
				v += e * e;
			}
			float m = (float)mu, rs = (float)(1.0 / sqrt(v / (double)C + eps));
			for (int j = 0; j < C; j++)
				y[(size_t)i * C + j] = (xr[j] - m) * rs * g->data[j] + b->data[j];
			for (int j = 0; j < C; j++) {
				float dxh = d[j] * g->data[j], xh = (xr[j] - m) * rs;
				s1 += dxh;
				s2 += (double)dxh * xh;
			}
			float m1 = (float)(s1 / (double)C), m2 = (float)(s2 / (double)C);
			for (int j = 0; j < C; j++) {
				float dxh = d[j] * g->data[j], xh = (xr[j] - m) * rs;
				dx[(size_t)i * C + j] += rs * (dxh - m1 - xh * m2);
				dg[j] += d[j] * ((xr[j] - m) * rs);
				db[j] += d[j];
			}
		}
		sl_arena *a = sl_arena_new(0);
		sl_tape *tp = sl_tape_new(a, NULL);
		sl_tensor *out = sl_layernorm(tp, x, g, b, eps);
		int same = memcmp(out->data, y, (size_t)R * C * sizeof(float)) == 0;
		SL_ASSERT(sl_tape_backward_from(tp, out, dy) == SL_OK);
		same &= memcmp(x->grad, dx, (size_t)R * C * sizeof(float)) == 0;
		same &= memcmp(g->grad, dg, (size_t)C * sizeof(float)) == 0;
		same &= memcmp(b->grad, db, (size_t)C * sizeof(float)) == 0;
		TAP_OK(same, "layernorm (%d, %d): output, dx, dg and db bit-identical to the plain loops", R, C);
		sl_tape_free(tp);
		sl_arena_free(a);
		free(dy);
		free(y);
		free(dx);
		free(dg);
		free(db);
		gc_free(x);
		gc_free(g);
		gc_free(b);
	}
}

/* ---- rmsnorm against the plain loops --------------------------------------
 * The row sums (sixteen rows at a time in vectors where the build has
 * AVX-512) against one row at a time, the columns in order: the same bits,
 * over row counts that leave partial blocks and widths that leave columns
 * past the last group of eight. */
static void test_rmsnorm_exact(void)
{
	static const int shapes[][2] = { { 37, 13 }, { 50, 64 }, { 3, 8 }, { 17, 70 }, { 1, 5 }, { 33, 48 } };
	sl_rng r;
	sl_rng_seed(&r, 37);
	for (size_t si = 0; si < SL_COUNT(shapes); si++) {
		int R = shapes[si][0], C = shapes[si][1], s[2] = { R, C };
		sl_tensor *x = gc_input(&r, 2, s, -3, 5), *g = gc_input(&r, 1, &C, 0.5f, 1.5f);
		float *dy = malloc((size_t)R * C * sizeof(float)), *y = malloc((size_t)R * C * sizeof(float));
		float *dx = calloc((size_t)R * C, sizeof(float)), *dg = calloc((size_t)C, sizeof(float));
		for (int i = 0; i < R * C; i++)
			dy[i] = 2.0f * sl_rng_float(&r) - 1.0f;
		const float eps = 1e-5f;
		for (int i = 0; i < R; i++) {
			const float *xr = x->data + (size_t)i * C, *d = dy + (size_t)i * C;
			double ss = 0, s2 = 0;
			for (int j = 0; j < C; j++)
				ss += (double)xr[j] * xr[j];
			float rs = (float)(1.0 / sqrt(ss / (double)C + eps));
			for (int j = 0; j < C; j++)
				y[(size_t)i * C + j] = xr[j] * rs * g->data[j];
			for (int j = 0; j < C; j++)
				s2 += (double)(d[j] * g->data[j]) * (xr[j] * rs);
			float m2 = (float)(s2 / (double)C);
			for (int j = 0; j < C; j++) {
				dx[(size_t)i * C + j] += rs * (d[j] * g->data[j] - (xr[j] * rs) * m2);
				dg[j] += d[j] * (xr[j] * rs);
			}
		}
		sl_arena *a = sl_arena_new(0);
		sl_tape *tp = sl_tape_new(a, NULL);
		sl_tensor *out = sl_rmsnorm(tp, x, g, eps);
		int same = memcmp(out->data, y, (size_t)R * C * sizeof(float)) == 0;
		SL_ASSERT(sl_tape_backward_from(tp, out, dy) == SL_OK);
		same &= memcmp(x->grad, dx, (size_t)R * C * sizeof(float)) == 0;
		same &= memcmp(g->grad, dg, (size_t)C * sizeof(float)) == 0;
		TAP_OK(same, "rmsnorm (%d, %d): output, dx and dg bit-identical to the plain loops", R, C);
		sl_tape_free(tp);
		sl_arena_free(a);
		free(dy);
		free(y);
		free(dx);
		free(dg);
		gc_free(x);
		gc_free(g);
	}
}

/* ---- gelu with forward's 1 + erf kept --------------------------------------
 * Training keeps 1 + erf(x/√2) from forward for backward's derivative: the
 * output and gradient bit for bit the plain expressions of x, one thread and
 * two, a fresh gradient and an accumulated one. */
static void test_gelu_kept(void)
{
	enum { N = 3 * 50 * 96 };
	int shape[3] = { 3, 50, 96 };
	sl_rng r;
	sl_rng_seed(&r, 41);
	sl_tensor *x = gc_input(&r, 3, shape, -5, 5);
	float *dy = malloc(N * sizeof(float)), *y = malloc(N * sizeof(float)), *dx = malloc(N * sizeof(float));
	for (size_t i = 0; i < N; i++)
		dy[i] = 2.0f * sl_rng_float(&r) - 1.0f;
	const float s12 = 0.70710678118654752f, isq = 0.39894228040143268f;
	for (size_t i = 0; i < N; i++) {
		float v = x->data[i];
		y[i] = 0.5f * v * (1.0f + sl_ferf(v * s12));
		float d = 0.5f * (1.0f + sl_ferf(v * s12)) + v * isq * sl_fexp(-0.5f * v * v);
		dx[i] = 0.0f + dy[i] * d;
	}
	for (int th = 1; th <= 2; th++)
		for (int twice = 0; twice <= 1; twice++) {
			sl_pool *pool = th > 1 ? sl_pool_new(th) : NULL;
			sl_arena *a = sl_arena_new(0);
			sl_tape *tp = sl_tape_new(a, pool);
			sl_tensor *out = sl_gelu(tp, x);
			if (twice) /* x's gradient accumulated: dx + dx */
				out = sl_add(tp, out, sl_gelu(tp, x));
			SL_ASSERT(sl_tape_backward_from(tp, out, dy) == SL_OK);
			int same = 1;
			for (size_t i = 0; i < N; i++) {
				float want = twice ? dx[i] + dx[i] : dx[i], yw = twice ? y[i] + y[i] : y[i];
				same &= memcmp(&x->grad[i], &want, sizeof want) == 0 && memcmp(&out->data[i], &yw, sizeof yw) == 0;
			}
			TAP_OK(same, "gelu%s, %d thread(s): output and gradient bit for bit the plain expressions",
			       twice ? " twice" : "", th);
			memset(x->grad, 0, N * sizeof(float));
			sl_tape_free(tp);
			sl_arena_free(a);
			sl_pool_free(pool);
		}
	free(dy);
	free(y);
	free(dx);
	gc_free(x);
}

int main(void)
{
	test_activation_values();
	test_norm_values();
	test_cross_entropy_values();
	test_cross_entropy_bad_target();
	test_gradients();
	test_threads();
	test_fresh_grads();
	test_gelu_mul_composed();
	test_fused();
	test_linear_residual();
	test_mlp();
	test_linear();
	test_layernorm_exact();
	test_rmsnorm_exact();
	test_gelu_kept();
	return tap_done();
}
