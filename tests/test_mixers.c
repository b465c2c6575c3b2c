/* test_mixers.c - every registered mixer, walked from sl_mixers: the table
 * is complete (letters and names unique, options with defaults and help),
 * a stack of one block of it passes a finite-difference gradient check,
 * its step mode (if it has one) equals the full forward pass, and each view
 * it offers returns grids of the sequence's shape. A new mixer is tested
 * here without a line of this file changing. */
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
	return sl_cross_entropy(tp, f->m->kind->lm(f->m->impl, tp, f->x, f->B, f->T), f->y, -1, NULL);
}

/* hybrid pattern=LL (two blocks of the mixer) at a small width */
static sl_model *stack_of(const sl_mixer_kind *k, uint64_t seed)
{
	char pattern[3] = { k->letter, k->letter, 0 };
	const char *keys[] = { "pattern", "hidden", "heads", "state", "expand", "dt_min", "dt_max" };
	const char *vals[] = { pattern, "8", "2", "4", "1", "0.05", "0.5" };
	sl_model_shape shape = { .vocab = 7, .maxlen = 16 };
	sl_rng r;
	sl_rng_seed(&r, seed);
	return sl_model_new(sl_model_kind_find("hybrid"), keys, vals, 7, &shape, &r);
}

static void test_table(void)
{
	int n = 0, good = 1;
	for (int i = 0; sl_mixers[i]; i++, n++) {
		const sl_mixer_kind *k = sl_mixers[i];
		good &= k->name && k->summary && k->options && k->cfg_size <= SL_MIXER_CFG_MAX && k->layer_size > 0;
		good &= k->check && k->add && k->forward && k->work && (!k->views || k->view);
		good &= !k->step == !k->state_new && !k->step == !k->state_free && !k->step == !k->state_reorder;
		good &= sl_mixer_by_letter(k->letter) == k && sl_mixer_find(k->name) == k && sl_mixer_index(k) == i;
		for (const sl_optspec *o = k->options; o->key; o++)
			good &= o->def && o->help && *o->help;
	}
	TAP_OK(good && n == SL_MIXER_COUNT, "%d mixers: every row complete, letters and names unique", n);
}

static void test_mixer(const sl_mixer_kind *k)
{
	fixture f = { .B = 2, .T = 6 };
	f.m = stack_of(k, 3);
	if (!TAP_OK(f.m != NULL, "%s: a stack of two %c blocks builds (%s)", k->name, k->letter, f.m ? "" : sl_error()))
		return;
	sl_rng r;
	sl_rng_seed(&r, 4);
	for (int i = 0; i < 12; i++) {
		f.x[i] = (int32_t)sl_rng_below(&r, 7);
		f.y[i] = i % 5 == 4 ? -1 : (int32_t)sl_rng_below(&r, 7);
	}
	char label[64];
	snprintf(label, sizeof label, "%s: gradients through the stack", k->name);
	gc_check(label, loss_fn, &f, f.m->ps->t, f.m->ps->n, 1e-2, 3e-3, 3e-2, 0);

	sl_arena *a = sl_arena_new(0);
	sl_tape *tp = sl_tape_new(a, NULL);
	tp->grad_enabled = 0;
	sl_tensor *full = f.m->kind->lm(f.m->impl, tp, f.x, f.B, f.T);
	float *want = malloc((size_t)f.B * f.T * 7 * sizeof *want);
	memcpy(want, full->data, (size_t)f.B * f.T * 7 * sizeof *want);
	/* the views, from this forward pass (sequence 0) */
	for (int v = 0; k->views && k->views[v].name; v++) {
		sl_mixer_grid g[16];
		int ng = f.m->kind->layer_view(f.m->impl, 1, v, g, 16);
		int shape_ok = ng > 0;
		for (int i = 0; i < ng; i++)
			shape_ok &= (g[i].row_kind != SL_GRID_POS || g[i].rows == f.T) && g[i].rows > 0 &&
				    g[i].cols > 0 && g[i].v && (g[i].col_kind != SL_GRID_POS || g[i].cols == f.T);
		for (int i = 0; i < ng; i++)
			for (int j = 0; j < g[i].rows * g[i].cols; j++)
				shape_ok &= isfinite(g[i].v[j]);
		TAP_OK(shape_ok, "%s: view %s gives %d grid(s) of the sequence's shape, finite", k->name,
		       k->views[v].name, ng);
		sl_mixer_grids_free(g, ng);
	}
	sl_tape_reset(tp);
	if (sl_model_can_step(f.m)) {
		void *st = f.m->kind->state_new(f.m->impl, f.B);
		double worst = 0;
		for (int t = 0; t < f.T; t++) {
			int32_t tok[2] = { f.x[t], f.x[f.T + t] };
			float got[2 * 7];
			f.m->kind->step(f.m->impl, tp, st, tok, got);
			sl_tape_reset(tp);
			for (int b = 0; b < f.B; b++)
				for (int v = 0; v < 7; v++)
					worst = fmax(worst, fabs(got[b * 7 + v] - want[((size_t)b * f.T + t) * 7 + v]));
		}
		f.m->kind->state_free(st);
		TAP_OK(worst < 1e-4, "%s: step mode equals the full forward pass (max diff %.2g)", k->name, worst);
	} else {
		TAP_OK(!k->step || k->can_step, "%s: no step mode in this configuration, and the stack says so",
		       k->name);
	}
	free(want);
	sl_tape_free(tp);
	sl_arena_free(a);
	sl_model_free(f.m);
}

/* attention's second mode: attn=linear steps in its recurrent form */
static void test_linear_step(void)
{
	const char *keys[] = { "layers", "hidden", "heads", "attn", "pe" };
	const char *vals[] = { "2", "8", "2", "linear", "learned" };
	sl_model_shape shape = { .vocab = 7, .maxlen = 16 };
	sl_rng r;
	sl_rng_seed(&r, 12);
	sl_model *m = sl_model_new(sl_model_kind_find("gpt"), keys, vals, 5, &shape, &r);
	int32_t x[2 * 6] = { 1, 2, 3, 4, 5, 6, 6, 5, 4, 3, 2, 1 };
	sl_arena *a = sl_arena_new(0);
	sl_tape *tp = sl_tape_new(a, NULL);
	tp->grad_enabled = 0;
	sl_tensor *full = m->kind->lm(m->impl, tp, x, 2, 6);
	float want[2 * 6 * 7];
	memcpy(want, full->data, sizeof want);
	sl_tape_reset(tp);
	TAP_OK(sl_model_can_step(m), "gpt attn=linear: a step mode (learned positions)");
	void *st = m->kind->state_new(m->impl, 2);
	double worst = 0;
	for (int t = 0; t < 6; t++) {
		int32_t tok[2] = { x[t], x[6 + t] };
		float got[2 * 7];
		m->kind->step(m->impl, tp, st, tok, got);
		sl_tape_reset(tp);
		for (int b = 0; b < 2; b++)
			for (int v = 0; v < 7; v++)
				worst = fmax(worst, fabs(got[b * 7 + v] - want[((size_t)b * 6 + t) * 7 + v]));
	}
	TAP_OK(worst < 1e-5, "gpt attn=linear: the recurrent step equals the parallel form (max diff %.2g)", worst);
	m->kind->state_free(st);
	sl_model_free(m);
	/* softmax attention steps through its key/value cache: rotary positions,
	 * a window, post-norm */
	static const char *const cases[][2] = { { "attn", "linear" }, { "attn", "softmax" }, { "window", "3" },
						{ "norm", "post" } };
	for (int c = 0; c < 4; c++) {
		const char *k2[] = { "pe", "hidden", "heads", cases[c][0] }, *v2[] = { "rope", "8", "2", cases[c][1] };
		sl_rng_seed(&r, 12);
		m = sl_model_new(sl_model_kind_find("gpt"), k2, v2, 4, &shape, &r);
		full = m->kind->lm(m->impl, tp, x, 2, 6);
		memcpy(want, full->data, sizeof want);
		sl_tape_reset(tp);
		st = m->kind->state_new(m->impl, 2);
		worst = 0;
		for (int t = 0; t < 6; t++) {
			int32_t tok[2] = { x[t], x[6 + t] };
			float got[2 * 7];
			m->kind->step(m->impl, tp, st, tok, got);
			sl_tape_reset(tp);
			for (int b = 0; b < 2; b++)
				for (int v = 0; v < 7; v++)
					worst = fmax(worst, fabs(got[b * 7 + v] - want[((size_t)b * 6 + t) * 7 + v]));
		}
		TAP_OK(worst < 1e-5, "gpt pe=rope %s=%s: the step (cache or recurrence) equals the forward pass (%.2g)",
		       cases[c][0], cases[c][1], worst);
		m->kind->state_free(st);
		sl_model_free(m);
	}
	sl_tape_free(tp);
	sl_arena_free(a);
}

int main(void)
{
	test_table();
	for (int i = 0; sl_mixers[i]; i++)
		test_mixer(sl_mixers[i]);
	test_linear_step();
	return tap_done();
}
