/* test_mamba.c - the mamba preset (a stack of Mamba mixers): gradients
 * through the whole model for every discretisation, step mode equal to the
 * full forward pass, the initialisation of A and delta, and the generic
 * generation path (step mode and re-running give the same tokens). */
#include "seqlab/model.h"
#include "gradcheck.h"

typedef struct fixture {
	sl_model *m;
	int32_t x[2 * 6], y[2 * 6];
	int B, T;
} fixture;

static sl_tensor *loss_fn(sl_tape *tp, sl_tensor **in, void *ctx)
{
	(void)in;
	fixture *f = ctx;
	sl_tensor *logits = f->m->kind->lm(f->m->impl, tp, f->x, f->B, f->T);
	return sl_cross_entropy(tp, logits, f->y, -1, NULL);
}

static sl_model *mamba(const char *disc, const char *a_init, const char *dt_min, const char *dt_max, const char *hidden,
		       uint64_t seed)
{
	const char *k[] = { "hidden", "layers", "state", "expand", "conv", "disc", "a_init", "dt_min", "dt_max" };
	const char *v[] = { hidden, "2", "3", "2", "3", disc, a_init, dt_min, dt_max };
	sl_model_shape shape = { .vocab = 7, .maxlen = 16 };
	sl_rng r;
	sl_rng_seed(&r, seed);
	return sl_model_new(sl_model_kind_find("mamba"), k, v, 9, &shape, &r);
}

static const char *const discs[] = { "zoh", "zoh-approx", "bilinear", "euler" };

int main(void)
{
	for (int disc = 0; disc < 4; disc++) {
		/* larger deltas than the default so the state carries information */
		fixture f = { .B = 2, .T = 6 };
		f.m = mamba(discs[disc], disc % 2 ? "const" : "s4d-real", "0.05", "0.5", "8", 5 + (uint64_t)disc);
		sl_rng r;
		sl_rng_seed(&r, 5 + (uint64_t)disc);
		for (int i = 0; i < 12; i++) {
			f.x[i] = (int32_t)sl_rng_below(&r, 7);
			f.y[i] = i % 5 == 4 ? -1 : (int32_t)sl_rng_below(&r, 7);
		}
		char label[64];
		snprintf(label, sizeof label, "mamba disc=%s", discs[disc]);
		gc_check(label, loss_fn, &f, f.m->ps->t, f.m->ps->n, 1e-2, 3e-3, 3e-2, 0);

		/* step mode: feeding the tokens one at a time gives the same logits */
		sl_arena *a = sl_arena_new(0);
		sl_tape *tp = sl_tape_new(a, NULL);
		tp->grad_enabled = 0;
		sl_tensor *full = f.m->kind->lm(f.m->impl, tp, f.x, f.B, f.T);
		int V = 7;
		float *want = malloc((size_t)f.B * f.T * V * sizeof *want);
		memcpy(want, full->data, (size_t)f.B * f.T * V * sizeof *want);
		sl_tape_reset(tp);
		TAP_OK(sl_model_can_step(f.m), "mamba disc=%s: a stack of Mamba blocks has step mode", discs[disc]);
		void *st = f.m->kind->state_new(f.m->impl, f.B);
		double worst = 0;
		for (int t = 0; t < f.T; t++) {
			int32_t tok[2] = { f.x[t], f.x[f.T + t] };
			float got[2 * 7];
			f.m->kind->step(f.m->impl, tp, st, tok, got);
			sl_tape_reset(tp);
			for (int b = 0; b < f.B; b++)
				for (int v = 0; v < V; v++)
					worst = fmax(worst, fabs(got[b * V + v] - want[((size_t)b * f.T + t) * V + v]));
		}
		TAP_OK(worst < 1e-4, "mamba disc=%s: step mode equals the full forward pass (max diff %.2g)", discs[disc],
		       worst);
		f.m->kind->state_free(st);
		free(want);
		sl_tape_free(tp);
		sl_arena_free(a);
		sl_model_free(f.m);
	}
	/* initialisation: A_n = -(n+1) for s4d-real, -1 for const; delta in range */
	sl_model *m = mamba("zoh-approx", "s4d-real", "0.001", "0.1", "32", 9);
	const sl_tensor *A = sl_params_find(m->ps, "l0.A_log"), *dtb = sl_params_find(m->ps, "l1.dt_proj.b");
	const sl_tensor *xp = sl_params_find(m->ps, "l0.x_proj.w");
	int ok = A && dtb && xp;
	for (int n = 0; ok && n < 3; n++)
		ok &= fabsf(expf(A->data[n]) - (float)(n + 1)) < 1e-5f;
	TAP_OK(ok, "s4d-real: A_n = -(n+1)");
	double lo = 1, hi = 0;
	for (int e = 0; dtb && e < dtb->shape[0]; e++) {
		double bias = dtb->data[e];
		double dt = bias > 20 ? bias : log1p(exp(bias));
		lo = fmin(lo, dt);
		hi = fmax(hi, dt);
	}
	TAP_OK(lo >= 0.00099 && hi <= 0.1001 && hi / lo > 5, "initial delta in [0.001, 0.1] (%.4g..%.4g)", lo, hi);
	TAP_OK(xp && xp->shape[0] - 2 * 3 == 2, "dt_rank auto = ceil(32/16) = %d", xp ? xp->shape[0] - 6 : -1);
	sl_model_free(m);
	m = mamba("zoh-approx", "const", "0.001", "0.1", "32", 9);
	TAP_OK(sl_params_find(m->ps, "l0.A_log")->data[5] == 0.0f, "const: A = -1");
	sl_model_free(m);
	TAP_OK(mamba("zoh", "s4d-real", "0.5", "0.1", "8", 9) == NULL && strstr(sl_error(), "dt_min"),
	       "dt_min > dt_max refused: %s", sl_error());

	/* the generation path: step mode and re-running the model decode alike */
	m = mamba("zoh", "s4d-real", "0.05", "0.5", "8", 11);
	sl_model *g;
	{
		const char *k[] = { "hidden", "heads", "mlp", "pe" }, *v[] = { "8", "2", "1", "none" };
		sl_model_shape shape = { .vocab = 7, .maxlen = 16 };
		sl_rng r;
		sl_rng_seed(&r, 11);
		g = sl_model_new(sl_model_kind_find("gpt"), k, v, 4, &shape, &r);
	}
	sl_arena *a = sl_arena_new(0);
	sl_tape *tp = sl_tape_new(a, NULL);
	int32_t src[2 * 3] = { 2, 3, 4, 4, 3, 2 }, o1[2 * 5], o2[2 * 5];
	int l1[2], l2[2];
	sl_model_greedy(m, tp, src, 2, 3, 5, 1, 0, 7, o1, l1);
	sl_tape_reset(tp);
	/* the same model without its step mode: a gpt's kind lends nothing, so
	 * compare against re-running by hand through a kind copy without step */
	sl_model_kind nostep = *m->kind;
	nostep.can_step = NULL;
	const sl_model_kind *keep = m->kind;
	m->kind = &nostep;
	sl_model_greedy(m, tp, src, 2, 3, 5, 1, 0, 7, o2, l2);
	m->kind = keep;
	int same = l1[0] == l2[0] && l1[1] == l2[1];
	for (int b = 0; same && b < 2; b++)
		same = !memcmp(o1 + b * 5, o2 + b * 5, (size_t)l1[b] * sizeof *o1);
	TAP_OK(same, "greedy decoding in step mode equals re-running the model (lengths %d %d)", l1[0], l1[1]);
	/* beam search in step mode: width 1 is greedy; a wider beam finds a
	 * hypothesis at least as probable as greedy's (scored by forward) */
	{
		int32_t b1[5], b3[5];
		int n1 = sl_model_beam(m, tp, src, 3, 5, 1, 0, 1, 7, b1);
		TAP_OK(n1 == l1[0] && !memcmp(b1, o1, (size_t)n1 * sizeof *b1), "beam=1 in step mode is greedy decoding");
		int n3 = sl_model_beam(m, tp, src, 3, 5, 1, 0, 3, 7, b3);
		double lp[2] = { 0, 0 };
		for (int w = 0; w < 2; w++) {
			const int32_t *hy = w ? b3 : b1;
			int n = w ? n3 : n1;
			int32_t x[3 + 2 + 5];
			memcpy(x, src, 3 * sizeof *x);
			x[3] = 0;
			x[4] = 1;
			memcpy(x + 5, hy, (size_t)n * sizeof *x);
			sl_tape_reset(tp);
			sl_tensor *lg = m->kind->lm(m->impl, tp, x, 1, 5 + n - 1);
			for (int t = 0; t < n; t++) {
				const float *z = lg->data + (size_t)(4 + t) * 7;
				double mx = z[0], s = 0;
				for (int v = 1; v < 7; v++)
					mx = fmax(mx, z[v]);
				for (int v = 0; v < 7; v++)
					s += exp(z[v] - mx);
				lp[w] += z[hy[t]] - mx - log(s);
			}
		}
		TAP_OK(n3 >= 1 && lp[1] >= lp[0] - 1e-4, "beam=3 scores %.4f >= greedy's %.4f", lp[1], lp[0]);
		sl_tape_reset(tp);
	}
	TAP_OK(sl_model_can_step(g), "gpt steps through its key/value caches");
	sl_tape_reset(tp);
	sl_model_greedy(g, tp, src, 2, 3, 5, 1, 0, 7, o2, l2);
	TAP_OK(l2[0] >= 1 && l2[0] <= 5 && l2[1] >= 1 && l2[1] <= 5, "gpt decodes in step mode");
	sl_tape_free(tp);
	sl_arena_free(a);
	sl_model_free(m);
	sl_model_free(g);
	return tap_done();
}
