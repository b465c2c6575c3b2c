/* gradcheck.h - finite-difference gradient checks for ops and layers.
 *
 * A check builds an output from some input tensors, backpropagates a random
 * output gradient g, and compares each input's analytic gradient with the
 * central difference of f = sum(out * g) (accumulated in double). */
#ifndef SEQLAB_GRADCHECK_H
#define SEQLAB_GRADCHECK_H

#include "seqlab/ops.h"
#include "seqlab/rng.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>

typedef sl_tensor *(*gc_build_fn)(sl_tape *tp, sl_tensor **in, void *ctx);

/* A heap tensor that requires a gradient, filled with uniform values in
 * [lo, hi). Free with gc_free(). */
__attribute__((unused)) static sl_tensor *gc_input(sl_rng *r, int ndim, const int *shape, float lo, float hi)
{
	sl_tensor *t = calloc(1, sizeof *t);
	size_t n = sl_shape_set(t, ndim, shape);
	t->data = malloc(n * sizeof(float));
	t->grad = calloc(n, sizeof(float));
	t->requires_grad = 1;
	for (size_t i = 0; i < n; i++)
		t->data[i] = lo + (hi - lo) * sl_rng_float(r);
	return t;
}

__attribute__((unused)) static void gc_free(sl_tensor *t)
{
	if (!t)
		return;
	free(t->data);
	free(t->grad);
	free(t);
}

static double gc_eval(sl_tape *tp, gc_build_fn fn, sl_tensor **in, void *ctx, const float *g)
{
	sl_tape_reset(tp);
	tp->grad_enabled = 0;
	sl_tensor *out = fn(tp, in, ctx);
	double f = 0;
	size_t n = sl_tensor_numel(out);
	for (size_t i = 0; i < n; i++)
		f += (double)out->data[i] * g[i];
	tp->grad_enabled = 1;
	return f;
}

/* Checks every element of every input that requires a gradient: passes when
 * |analytic - numeric| <= atol + rtol * |numeric|. Reports one TAP point per
 * input. `threads` sizes the pool (0: no pool). Returns the number of
 * failing inputs. */
static int gc_check(const char *name, gc_build_fn fn, void *ctx, sl_tensor **in, int nin,
		    double eps, double atol, double rtol, int threads)
{
	sl_arena *arena = sl_arena_new(0);
	sl_pool *pool = threads > 0 ? sl_pool_new(threads) : NULL;
	sl_tape *tp = sl_tape_new(arena, pool);
	sl_rng r;
	sl_rng_seed(&r, 12345);
	tp->training = 1;
	tp->dropout_key = 99;

	for (int k = 0; k < nin; k++)
		if (in[k] && in[k]->requires_grad)
			memset(in[k]->grad, 0, sl_tensor_numel(in[k]) * sizeof(float));
	sl_tensor *out = fn(tp, in, ctx);
	size_t nout = sl_tensor_numel(out);
	float *g = malloc(nout * sizeof(float));
	for (size_t i = 0; i < nout; i++)
		g[i] = 2.0f * sl_rng_float(&r) - 1.0f;
	int bad = 0;
	if (!TAP_OK(sl_tape_backward_from(tp, out, g) == SL_OK, "%s: backward runs", name)) {
		bad++;
		goto done;
	}
	for (int k = 0; k < nin; k++) {
		sl_tensor *t = in[k];
		if (!t || !t->requires_grad)
			continue;
		size_t n = sl_tensor_numel(t);
		float *ana = malloc(n * sizeof(float));
		memcpy(ana, t->grad, n * sizeof(float));
		double worst = 0, wa = 0, wn = 0;
		size_t wi = 0;
		int ok = 1;
		for (size_t i = 0; i < n; i++) {
			float keep = t->data[i];
			t->data[i] = keep + (float)eps;
			double fp = gc_eval(tp, fn, in, ctx, g);
			t->data[i] = keep - (float)eps;
			double fm = gc_eval(tp, fn, in, ctx, g);
			t->data[i] = keep;
			double num = (fp - fm) / (2 * eps);
			double err = fabs(ana[i] - num) - (atol + rtol * fabs(num));
			if (err > worst || i == 0) {
				worst = err;
				wa = ana[i];
				wn = num;
				wi = i;
			}
			if (err > 0)
				ok = 0;
		}
		if (!TAP_OK(ok, "%s: gradient of input %d (%zu elements)", name, k, n))
			tap_diag("worst at element %zu: analytic %.7g, numeric %.7g", wi, wa, wn);
		bad += !ok;
		free(ana);
	}
done:
	free(g);
	sl_tape_free(tp);
	sl_pool_free(pool);
	sl_arena_free(arena);
	return bad;
}

#endif
