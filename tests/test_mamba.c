/* test_mamba.c - the Mamba LM: gradients through the whole model for every
 * discretisation, step mode equal to the full forward pass, and the
 * initialisation of A and delta. */
#include "seqlab/mamba.h"
#include "gradcheck.h"

typedef struct fixture {
	sl_mamba *m;
	int32_t x[2 * 6], y[2 * 6];
	int B, T;
} fixture;

static sl_tensor *loss_fn(sl_tape *tp, sl_tensor **in, void *ctx)
{
	(void)in;
	fixture *f = ctx;
	sl_tensor *logits = sl_mamba_forward(f->m, tp, f->x, f->B, f->T);
	return sl_cross_entropy(tp, logits, f->y, -1, NULL);
}

static sl_mamba_config config(int disc, int a_init)
{
	sl_mamba_config c;
	sl_optspec_defaults(sl_mamba_options, &c);
	c.hidden = 8;
	c.layers = 2;
	c.state = 3;
	c.expand = 2;
	c.conv = 3;
	c.disc = disc;
	c.a_init = a_init;
	c.vocab = 7;
	c.maxlen = 16;
	/* larger deltas than the default so the state carries information */
	c.dt_min = 0.05f;
	c.dt_max = 0.5f;
	return c;
}

int main(void)
{
	for (int disc = 0; disc < SL_SSM_DISC_COUNT; disc++) {
		sl_mamba_config c = config(disc, disc % 2 ? SL_AINIT_CONST : SL_AINIT_S4D_REAL);
		sl_rng r;
		sl_rng_seed(&r, 5 + (uint64_t)disc);
		fixture f = { .B = 2, .T = 6 };
		f.m = sl_mamba_new(&c, &r);
		for (int i = 0; i < 12; i++) {
			f.x[i] = (int32_t)sl_rng_below(&r, 7);
			f.y[i] = i % 5 == 4 ? -1 : (int32_t)sl_rng_below(&r, 7);
		}
		char label[64];
		snprintf(label, sizeof label, "mamba disc=%s", sl_ssm_disc_name(disc));
		gc_check(label, loss_fn, &f, f.m->ps->t, f.m->ps->n, 1e-2, 3e-3, 3e-2, 0);

		/* step mode: feeding the tokens one at a time gives the same logits */
		sl_arena *a = sl_arena_new(0);
		sl_tape *tp = sl_tape_new(a, NULL);
		tp->grad_enabled = 0;
		sl_tensor *full = sl_mamba_forward(f.m, tp, f.x, f.B, f.T);
		int V = c.vocab;
		float *want = malloc((size_t)f.B * f.T * V * sizeof *want);
		memcpy(want, full->data, (size_t)f.B * f.T * V * sizeof *want);
		sl_tape_reset(tp);
		sl_mamba_state *st = sl_mamba_state_new(f.m, f.B);
		double worst = 0;
		for (int t = 0; t < f.T; t++) {
			int32_t tok[2] = { f.x[t], f.x[f.T + t] };
			float got[2 * 7];
			sl_mamba_step(f.m, tp, st, tok, got);
			sl_tape_reset(tp);
			for (int b = 0; b < f.B; b++)
				for (int v = 0; v < V; v++)
					worst = fmax(worst, fabs(got[b * V + v] - want[((size_t)b * f.T + t) * V + v]));
		}
		TAP_OK(worst < 1e-4, "mamba disc=%s: step mode equals the full forward pass (max diff %.2g)",
		       sl_ssm_disc_name(disc), worst);
		sl_mamba_state_free(st);
		free(want);
		sl_tape_free(tp);
		sl_arena_free(a);
		sl_mamba_free(f.m);
	}
	/* initialisation: A_n = -(n+1) for s4d-real, -1 for const; delta in range */
	sl_mamba_config c = config(SL_SSM_ZOH_APPROX, SL_AINIT_S4D_REAL);
	c.dt_min = 0.001f;
	c.dt_max = 0.1f;
	c.hidden = 32;
	sl_rng r;
	sl_rng_seed(&r, 9);
	sl_mamba *m = sl_mamba_new(&c, &r);
	int ok = 1;
	for (int n = 0; n < m->N; n++)
		ok &= fabsf(expf(m->layer[0].A_log->data[n]) - (float)(n + 1)) < 1e-5f;
	TAP_OK(ok, "s4d-real: A_n = -(n+1)");
	double lo = 1, hi = 0;
	for (int e = 0; e < m->E; e++) {
		double bias = m->layer[1].dt_proj.b->data[e];
		double dt = bias > 20 ? bias : log1p(exp(bias));
		lo = fmin(lo, dt);
		hi = fmax(hi, dt);
	}
	TAP_OK(lo >= 0.00099 && hi <= 0.1001 && hi / lo > 5, "initial delta in [0.001, 0.1] (%.4g..%.4g)", lo, hi);
	TAP_OK(m->R == 2, "dt_rank auto = ceil(32/16) = %d", m->R);
	sl_mamba_free(m);
	c.a_init = SL_AINIT_CONST;
	sl_rng_seed(&r, 9);
	m = sl_mamba_new(&c, &r);
	TAP_OK(m->layer[0].A_log->data[5] == 0.0f, "const: A = -1");
	sl_mamba_free(m);
	c.dt_min = 0.5f;
	c.dt_max = 0.1f;
	TAP_OK(sl_mamba_new(&c, &r) == NULL && strstr(sl_error(), "dt_min"), "dt_min > dt_max refused: %s", sl_error());
	return tap_done();
}
