/* test_rnn_seq.c - the recurrent cells' fused op (sl_rnn_seq, op_rnn.c):
 * finite-difference gradient checks of every cell (and the LSTM with its
 * cell state out), from zero and from given initial states, on no pool and
 * two threads; the forward pass and every gradient equal to the cell written
 * with tape ops (ref_step below, over t, then concatenated) at a realistic
 * size, both for the whole sequence and for the op stepped one position at
 * a time from the carried states (sl_rnn_cell_step, a decoder's and the
 * mixers' step mode); the same bits for any thread count
 * (with seqlab's matrix kernel; with OpenBLAS's, run after run);
 * the trace's views and state Jacobian equal to what the per-step path
 * shows and backpropagates; each mixer's step mode equal to its full
 * forward pass at that size. */
#include "seqlab/mixer.h"
#include "seqlab/rnn.h"
#include "gradcheck.h"

#include <math.h>
#include <stdio.h>

static const char *const cell_names[] = { "elman", "gru", "lstm" };

static int gates(int kind)
{
	return kind == SL_RNN_TANH ? 1 : kind == SL_RNN_GRU ? 3 : 4;
}

typedef struct seq_case {
	int kind, with_c, init; /* init: from the given states in[3] (h0), in[4] (c0) */
} seq_case;

static sl_tensor *build_seq(sl_tape *tp, sl_tensor **in, void *ctx)
{
	seq_case *c = ctx;
	return sl_rnn_seq(tp, c->kind, in[0], in[1], c->kind == SL_RNN_GRU ? in[2] : NULL, c->init ? in[3] : NULL,
			  c->init && c->kind == SL_RNN_LSTM ? in[4] : NULL, c->with_c, NULL);
}

/* The cell written with tape ops, one step (what sl_rnn_cell_step was before
 * it ran the op): the reference the op is held to. Arguments as
 * sl_rnn_cell_step's. */
static sl_tensor *ref_step(const sl_rnn_cell *ly, sl_tape *tp, sl_tensor *xg, sl_tensor *h, sl_tensor **c,
			   sl_tensor **shown)
{
	int H = ly->H;
	sl_tensor *hg = sl_nn_linear_forward(&ly->wh, tp, h), *dummy;
	if (!shown)
		shown = &dummy;
	*shown = NULL;
	if (ly->kind == SL_RNN_TANH)
		return sl_tanh(tp, sl_add(tp, xg, hg));
	if (ly->kind == SL_RNN_GRU) {
		sl_tensor *r = sl_sigmoid(tp, sl_add(tp, sl_slice(tp, xg, 2, 0, H), sl_slice(tp, hg, 2, 0, H)));
		sl_tensor *z = sl_sigmoid(tp, sl_add(tp, sl_slice(tp, xg, 2, H, H), sl_slice(tp, hg, 2, H, H)));
		sl_tensor *hh = sl_bias(tp, sl_slice(tp, hg, 2, 2 * H, H), ly->bhg);
		sl_tensor *g = sl_tanh(tp, sl_add(tp, sl_slice(tp, xg, 2, 2 * H, H), sl_mul(tp, r, hh)));
		*shown = z;
		/* (1 - z) g + z h = g + z (h - g) */
		return sl_add(tp, g, sl_mul(tp, z, sl_add(tp, h, sl_scale(tp, g, -1.0f))));
	}
	sl_tensor *pre = sl_add(tp, xg, hg);
	sl_tensor *i = sl_sigmoid(tp, sl_slice(tp, pre, 2, 0, H)), *f = sl_sigmoid(tp, sl_slice(tp, pre, 2, H, H));
	sl_tensor *g = sl_tanh(tp, sl_slice(tp, pre, 2, 2 * H, H)), *o = sl_sigmoid(tp, sl_slice(tp, pre, 2, 3 * H, H));
	*c = sl_add(tp, sl_mul(tp, f, *c), sl_mul(tp, i, g));
	*shown = f;
	return sl_mul(tp, o, sl_tanh(tp, *c));
}

static void test_gradcheck(void)
{
	sl_rng r;
	sl_rng_seed(&r, 17);
	enum { B = 3, T = 5, H = 4 };
	for (int kind = 0; kind < 3; kind++)
		for (int with_c = 0; with_c <= (kind == SL_RNN_LSTM); with_c++) {
			int G = gates(kind), sx[3] = { B, T, G * H }, sw[2] = { G * H, H }, sb[1] = { H }, sh[3] = { B, 1, H };
			sl_tensor *in[5] = { gc_input(&r, 3, sx, -1.5f, 1.5f), gc_input(&r, 2, sw, -0.8f, 0.8f),
					     kind == SL_RNN_GRU ? gc_input(&r, 1, sb, -0.5f, 0.5f) : NULL,
					     gc_input(&r, 3, sh, -0.9f, 0.9f),
					     kind == SL_RNN_LSTM ? gc_input(&r, 3, sh, -1.5f, 1.5f) : NULL };
			for (int init = 0; init <= 1; init++) {
				seq_case c = { kind, with_c, init };
				for (int th = 0; th <= 2; th += 2) {
					char name[80];
					snprintf(name, sizeof name, "rnn op %s%s%s threads=%d", cell_names[kind],
						 with_c ? " with c" : "", init ? " from given states" : "", th);
					gc_check(name, build_seq, &c, in, init ? 5 : 3, 1e-3, 2e-3, 2e-2, th);
				}
			}
			for (int i = 0; i < 5; i++)
				gc_free(in[i]);
		}
}

/* ---- the fused op against the per-step tape path ----------------------------- */

typedef struct run {
	float *y, *dxg, *dwh, *dbhg; /* output (B, T, W) and the gradients */
} run;

static void run_free(run *r)
{
	free(r->y);
	free(r->dxg);
	free(r->dwh);
	free(r->dbhg);
}

static float *copy(const float *x, size_t n)
{
	float *y = malloc(n * sizeof *y);
	memcpy(y, x, n * sizeof *y);
	return y;
}

enum { PASS_REF, PASS_SEQ, PASS_STEP };
static const char *const pass_names[] = { "tape-op", "fused", "stepped" };

/* One forward and backward pass of cell c over xg with output gradient g:
 * PASS_SEQ the whole sequence (sl_rnn_cell_seq), else per step, c_t after
 * h_t per row when with_c, concatenated: PASS_REF ref_step, PASS_STEP the
 * op one step at a time (sl_rnn_cell_step); on a pool of `threads` (0:
 * none). */
static run pass(const sl_rnn_cell *c, sl_params *ps, sl_tensor *xg, const float *g, int with_c, int mode,
		int threads)
{
	int B = xg->shape[0], T = xg->shape[1], H = c->H, G = c->G, W = with_c ? 2 * H : H;
	sl_arena *a = sl_arena_new(0);
	sl_pool *pool = threads ? sl_pool_new(threads) : NULL;
	sl_tape *tp = sl_tape_new(a, pool);
	sl_params_zero_grad(ps);
	memset(xg->grad, 0, (size_t)B * T * G * H * sizeof(float));
	sl_tensor *y;
	if (mode == PASS_SEQ) {
		y = sl_rnn_cell_seq(c, tp, xg, with_c, NULL);
	} else {
		sl_tensor *h = sl_rnn_zeros(tp, B, H), *cs = sl_rnn_zeros(tp, B, H);
		sl_tensor **outs = sl_arena_alloc(a, (size_t)T * sizeof *outs);
		for (int t = 0; t < T; t++) {
			sl_tensor *xt = sl_slice(tp, xg, 1, t, 1);
			h = mode == PASS_REF ? ref_step(c, tp, xt, h, &cs, NULL) : sl_rnn_cell_step(c, tp, xt, h, &cs, NULL);
			sl_tensor *hc[2] = { h, cs };
			outs[t] = with_c ? sl_concat(tp, hc, 2, 2) : h;
		}
		y = sl_concat(tp, outs, T, 1);
	}
	run r = { 0 };
	if (!TAP_OK(sl_tape_backward_from(tp, y, g) == SL_OK, "%s: the %s pass backpropagates (B=%d T=%d, %d threads)",
		    cell_names[c->kind], pass_names[mode], B, T, threads))
		goto done;
	r.y = copy(y->data, (size_t)B * T * W);
	r.dxg = copy(xg->grad, (size_t)B * T * G * H);
	r.dwh = copy(c->wh.w->grad, (size_t)G * H * H);
	if (c->bhg)
		r.dbhg = copy(c->bhg->grad, (size_t)H);
done:
	sl_tape_free(tp);
	sl_pool_free(pool);
	sl_arena_free(a);
	return r;
}

/* max |x - y| / max |y| */
static double rel_err(const float *x, const float *y, size_t n)
{
	double d = 0, m = 0;
	for (size_t i = 0; i < n; i++) {
		d = fmax(d, fabs((double)x[i] - y[i]));
		m = fmax(m, fabs((double)y[i]));
	}
	return m > 0 ? d / m : d;
}

static int same_bits(const float *x, const float *y, size_t n)
{
	return (!x && !y) || (x && y && memcmp(x, y, n * sizeof *x) == 0);
}

/* a cell of width H with torch's initialisation, and its xg and an output
 * gradient of the given shape */
static sl_params *cell_of(sl_rnn_cell *c, int kind, int H, sl_rng *r)
{
	sl_params *ps = sl_params_new();
	sl_rnn_cell_add(c, ps, "c", kind, H, H);
	sl_params_alloc(ps);
	sl_params_init(ps, r);
	return ps;
}

static void test_equivalence(void)
{
	enum { B = 8, T = 20, H = 64 };
	const double tol = 1e-5;
	for (int kind = 0; kind < 3; kind++)
		for (int with_c = 0; with_c <= (kind == SL_RNN_LSTM); with_c++) {
			sl_rng r;
			sl_rng_seed(&r, 100 + kind);
			sl_rnn_cell c = { 0 };
			sl_params *ps = cell_of(&c, kind, H, &r);
			int G = c.G, W = with_c ? 2 * H : H, sx[3] = { B, T, G * H };
			sl_tensor *xg = gc_input(&r, 3, sx, -1.5f, 1.5f);
			float *g = malloc((size_t)B * T * W * sizeof *g);
			for (int i = 0; i < B * T * W; i++)
				g[i] = 2 * sl_rng_float(&r) - 1;
			run s = pass(&c, ps, xg, g, with_c, PASS_REF, 0);
			for (int mode = PASS_SEQ; mode <= PASS_STEP; mode++) {
				run f = pass(&c, ps, xg, g, with_c, mode, 2);
				if (f.y && s.y) {
					double ey = rel_err(f.y, s.y, (size_t)B * T * W);
					double ex = rel_err(f.dxg, s.dxg, (size_t)B * T * G * H);
					double ew = rel_err(f.dwh, s.dwh, (size_t)G * H * H);
					double eb = c.bhg ? rel_err(f.dbhg, s.dbhg, H) : 0;
					const char *nm = cell_names[kind], *wc = with_c ? " with c" : "", *pn = pass_names[mode];
					TAP_OK(ey <= tol, "%s%s B=%d T=%d H=%d: the %s forward pass equals the tape ops' "
					       "(relative %.2g)", nm, wc, B, T, H, pn, ey);
					/* the product is seqlab's fused multiply-add chain in both, the
					 * gates rounded as the tape ops round them: the same bits */
					if (!strcmp(sl_gemm_name(), "seqlab"))
						TAP_OK(same_bits(f.y, s.y, (size_t)B * T * W), "%s%s %s: ... bit for bit", nm, wc, pn);
					TAP_OK(ex <= tol && ew <= tol && eb <= tol,
					       "%s%s %s: its gradients equal the tape ops' (relative: xg %.2g, W_h %.2g, b_hg %.2g)",
					       nm, wc, pn, ex, ew, eb);
				}
				run_free(&f);
			}
			run_free(&s);
			free(g);
			gc_free(xg);
			sl_params_free(ps);
		}
}

/* the same bits on no pool and on 1, 2 and 3 threads (7 sequences: uneven
 * slices; large enough for dW_h's product to split too), with seqlab's
 * matrix kernel, whose every element is one fixed chain of fused
 * multiply-adds; with OpenBLAS's (SEQLAB_GEMM=openblas), whose edge tiles
 * may sum otherwise, the same bits run after run at each thread count */
static int same_run(const run *a, const run *b, int B, int T, int G, int H)
{
	return a->y && b->y && same_bits(a->y, b->y, (size_t)B * T * H) &&
	       same_bits(a->dxg, b->dxg, (size_t)B * T * G * H) && same_bits(a->dwh, b->dwh, (size_t)G * H * H) &&
	       same_bits(a->dbhg, b->dbhg, H);
}

static void test_threads(void)
{
	enum { B = 7, T = 20, H = 64 };
	int own = !strcmp(sl_gemm_name(), "seqlab");
	for (int kind = 0; kind < 3; kind++) {
		sl_rng r;
		sl_rng_seed(&r, 200 + kind);
		sl_rnn_cell c = { 0 };
		sl_params *ps = cell_of(&c, kind, H, &r);
		int G = c.G, sx[3] = { B, T, G * H };
		sl_tensor *xg = gc_input(&r, 3, sx, -1.5f, 1.5f);
		float *g = malloc((size_t)B * T * H * sizeof *g);
		for (int i = 0; i < B * T * H; i++)
			g[i] = 2 * sl_rng_float(&r) - 1;
		int repeat = 1, across = 1;
		for (int mode = PASS_SEQ; mode <= PASS_STEP; mode++) {
			run base = pass(&c, ps, xg, g, 0, mode, 0);
			for (int th = 0; th <= 3; th++) {
				run o = pass(&c, ps, xg, g, 0, mode, th), o2 = pass(&c, ps, xg, g, 0, mode, th);
				repeat &= same_run(&o, &o2, B, T, G, H);
				across &= same_run(&o, &base, B, T, G, H);
				run_free(&o);
				run_free(&o2);
			}
			run_free(&base);
		}
		if (own)
			TAP_OK(repeat && across, "%s: the same bits (output, every gradient; the whole sequence and stepped) on no "
			       "pool and on 1, 2, 3 threads",
			       cell_names[kind]);
		else
			TAP_OK(repeat, "%s: the same bits run after run on no pool and on 1, 2, 3 threads (OpenBLAS's "
			       "products; across thread counts: %s)", cell_names[kind], across ? "the same" : "not the same");
		free(g);
		gc_free(xg);
		sl_params_free(ps);
	}
}

/* ---- the trace: views and the state Jacobian -------------------------------- */

static void test_trace(void)
{
	enum { B = 3, T = 12, H = 16 };
	for (int kind = 0; kind < 3; kind++) {
		sl_rng r;
		sl_rng_seed(&r, 300 + kind);
		sl_rnn_cell c = { 0 };
		sl_params *ps = cell_of(&c, kind, H, &r);
		int sx[3] = { B, T, c.G * H };
		sl_tensor *xg = gc_input(&r, 3, sx, -1.5f, 1.5f);
		sl_arena *a = sl_arena_new(0);
		sl_tape *tp = sl_tape_new(a, NULL);
		/* the fused pass's trace */
		const sl_rnn_trace *tr;
		sl_rnn_cell_seq(&c, tp, xg, 0, &tr);
		float gate[T * H], state[T * H], jac[T], want[T];
		sl_rnn_trace_seq0(tr, gate, state);
		/* the per-step pass: what it shows of sequence 0, its Jacobian by a
		 * backward pass per unit of h_p (the mixers' way before the op) */
		sl_tensor *h = sl_rnn_zeros(tp, B, H), *cs = sl_rnn_zeros(tp, B, H), *outs[T];
		sl_tensor *h2 = sl_rnn_zeros(tp, B, H), *cs2 = sl_rnn_zeros(tp, B, H); /* the op stepped */
		double dv = 0;
		for (int t = 0; t < T; t++) {
			sl_tensor *shown, *shown2;
			outs[t] = h = ref_step(&c, tp, sl_slice(tp, xg, 1, t, 1), h, &cs, &shown);
			h2 = sl_rnn_cell_step(&c, tp, sl_slice(tp, xg, 1, t, 1), h2, &cs2, &shown2);
			for (int j = 0; j < H; j++) {
				dv = fmax(dv, fabs(state[t * H + j] - h->data[j]));
				dv = fmax(dv, fabs(state[t * H + j] - h2->data[j]));
				if (shown)
					dv = fmax(dv, fmax(fabs(gate[t * H + j] - shown->data[j]),
							   fabs(gate[t * H + j] - shown2->data[j])));
			}
			if ((shown == NULL) != (shown2 == NULL))
				dv = INFINITY;
		}
		TAP_OK(dv < 1e-6, "%s: the trace's gate and h of sequence 0 are the per-step passes' (tape ops, the op "
		       "stepped; max diff %.2g)", cell_names[kind], dv);
		int p = T - 2;
		double acc[T] = { 0 };
		float *e = calloc((size_t)B * H, sizeof *e);
		for (int j = 0; j < H; j++) {
			sl_tape_zero_grads(tp);
			e[j] = 1.0f;
			sl_tape_backward_from(tp, outs[p], e);
			e[j] = 0.0f;
			for (int t = 0; t <= p; t++)
				for (int k = 0; outs[t]->grad && k < H; k++)
					acc[t] += (double)outs[t]->grad[k] * outs[t]->grad[k];
		}
		for (int t = 0; t <= p; t++)
			want[t] = (float)sqrt(acc[t] / H);
		sl_rnn_trace_jacobian(tr, p, jac);
		double worst = 0;
		for (int t = 0; t <= p; t++)
			worst = fmax(worst, fabs(jac[t] - want[t]) / (1e-6 + want[t]));
		TAP_OK(worst < 1e-4 && fabs(jac[p] - 1) < 1e-6,
		       "%s: the trace's state Jacobian equals the per-step backward passes' (worst relative %.2g; "
		       "%.3g at %d back)", cell_names[kind], worst, jac[0], p);
		free(e);
		sl_tape_free(tp);
		sl_arena_free(a);
		gc_free(xg);
		sl_params_free(ps);
	}
}

/* each mixer (E, U, C): its step mode equals its full forward pass (which
 * runs the op), B 8, T 20, H 64 */
static void test_step(const sl_mixer_kind *k)
{
	enum { B = 8, T = 20, H = 64 };
	sl_mixer_ctx ctx = { .hidden = H };
	char cfg[SL_MIXER_CFG_MAX] = { 0 };
	void *ly = calloc(1, k->layer_size);
	sl_params *ps = sl_params_new();
	k->add(ly, ps, "l0", cfg, &ctx);
	sl_params_alloc(ps);
	sl_rng r;
	sl_rng_seed(&r, 41);
	sl_params_init(ps, &r);
	sl_arena *a = sl_arena_new(0);
	sl_tape *tp = sl_tape_new(a, NULL);
	tp->grad_enabled = 0;
	int s3[3] = { B, T, H }, s1[3] = { B, 1, H };
	sl_tensor *x = sl_tape_tensor(tp, 3, s3);
	for (int i = 0; i < B * T * H; i++)
		x->data[i] = 2 * sl_rng_float(&r) - 1;
	float *u = copy(x->data, (size_t)B * T * H), *full = copy(k->forward(ly, cfg, &ctx, tp, x)->data, (size_t)B * T * H);
	void *st = k->state_new(ly, cfg, &ctx, B);
	double worst = 0;
	for (int t = 0; t < T; t++) {
		sl_tape_reset(tp);
		sl_tensor *xi = sl_tape_tensor(tp, 3, s1);
		for (int b = 0; b < B; b++)
			memcpy(xi->data + b * H, u + ((size_t)b * T + t) * H, H * sizeof(float));
		sl_tensor *y = k->step(ly, cfg, &ctx, tp, st, xi);
		for (int b = 0; b < B; b++)
			for (int j = 0; j < H; j++)
				worst = fmax(worst, fabs(y->data[b * H + j] - full[((size_t)b * T + t) * H + j]));
	}
	TAP_OK(worst < 1e-5, "%s: step mode equals the full forward pass at B=%d T=%d H=%d (max diff %.2g)", k->name,
	       B, T, H, worst);
	k->state_free(st);
	free(u);
	free(full);
	sl_tape_free(tp);
	sl_arena_free(a);
	sl_params_free(ps);
	free(ly);
}

int main(void)
{
	test_gradcheck();
	test_equivalence();
	test_threads();
	test_trace();
	test_step(&sl_mixer_elman);
	test_step(&sl_mixer_gru);
	test_step(&sl_mixer_lstm);
	return tap_done();
}
