/* test_ssm.c - the fused selective scan: golden values, finite-difference
 * gradients of all seven inputs under every discretisation and scan, the
 * scans' agreement with each other and with a double-precision reference,
 * the log scan's error against length, and bit identity across threads.
 *
 * Stated tolerances (normwise: max |got - want| / max |want| over a tensor,
 * for the output and every gradient, T in {1, 2, 7, 64, 257}, Mamba-like and
 * stiff inputs; measured worst in brackets):
 *   parallel vs seq   1e-5  (8e-7)   Blelloch reassociates products and sums
 *   log vs seq        1e-4  (2e-5)   float32 log space: error grows with |ΔA| T
 *   seq vs double     1e-5  (2e-7)   outputs only */
#include "gradcheck.h"
#include "seqlab/ssm.h"

#define TOL_PARALLEL 1e-5
#define TOL_LOG 1e-4
#define TOL_REF 1e-5

enum { R_GC, R_MAMBA, R_STIFF, R_EXTREME };

typedef struct ssm_case {
	int disc, scan;
} ssm_case;

/* in[] = x, delta, A, Bm, Cm, Dskip, z; the last two may be NULL */
static sl_tensor *build(sl_tape *tp, sl_tensor **in, void *ctx)
{
	ssm_case *c = ctx;
	return sl_ssm(tp, in[0], in[1], in[2], in[3], in[4], in[5], in[6], c->disc, c->scan);
}

/* Random inputs for a regime:
 *   R_GC      Δ in [0.1, 0.8), A in [-2.5, -0.3): w down to -2, so euler's Ā
 *             goes negative; bilinear's stays positive
 *   R_MAMBA   Δ log-uniform in [1e-3, 1e-1], A = -(n+1) (S4D-real), as Mamba
 *   R_STIFF   Δ in [0.05, 0.95), A in [-6, -1) ([-2, -1) for euler): Ā of
 *             either sign, |Ā| < 1
 *   R_EXTREME Δ in [5, 10), A = -10(n+1): w from -50 to -1600, e^w underflows */
static void make_inputs(sl_tensor **in, uint64_t seed, int B, int T, int D, int N, int gate, int regime,
			int disc)
{
	sl_rng r;
	sl_rng_seed(&r, seed);
	int xs[3] = { B, T, D }, as[2] = { D, N }, bs[3] = { B, T, N }, ds[1] = { D };
	in[0] = gc_input(&r, 3, xs, -1, 1);
	in[1] = gc_input(&r, 3, xs, 0.1f, 0.8f);
	in[2] = gc_input(&r, 2, as, -2.5f, -0.3f);
	in[3] = gc_input(&r, 3, bs, -1, 1);
	in[4] = gc_input(&r, 3, bs, -1, 1);
	in[5] = gate ? gc_input(&r, 1, ds, -1, 1) : NULL;
	in[6] = gate ? gc_input(&r, 3, xs, -2, 2) : NULL;
	size_t nx = (size_t)B * T * D;
	for (size_t i = 0; i < nx; i++) {
		float u = sl_rng_float(&r);
		if (regime == R_MAMBA)
			in[1]->data[i] = expf(logf(1e-3f) + u * (logf(1e-1f) - logf(1e-3f)));
		else if (regime == R_STIFF)
			in[1]->data[i] = 0.05f + 0.9f * u;
		else if (regime == R_EXTREME)
			in[1]->data[i] = 5.0f + 5.0f * u;
	}
	for (int d = 0; d < D; d++)
		for (int n = 0; n < N; n++) {
			float u = sl_rng_float(&r), *a = &in[2]->data[d * N + n];
			if (regime == R_MAMBA)
				*a = -(float)(n + 1);
			else if (regime == R_STIFF)
				*a = disc == SL_SSM_EULER ? -1.0f - u : -1.0f - 5.0f * u;
			else if (regime == R_EXTREME)
				*a = -10.0f * (float)(n + 1);
		}
}

static void free_inputs(sl_tensor **in)
{
	for (int i = 0; i < 7; i++)
		gc_free(in[i]);
}

/* ---- a double-precision reference of the forward pass ---------------------- */

static void reference(sl_tensor **in, int disc, double *out)
{
	int B = in[0]->shape[0], T = in[0]->shape[1], D = in[0]->shape[2], N = in[2]->shape[1];
	for (int b = 0; b < B; b++)
		for (int d = 0; d < D; d++) {
			double h[64] = { 0 };
			for (int t = 0; t < T; t++) {
				size_t r = (size_t)b * T + t, i = r * D + d;
				double dt = in[1]->data[i], u = in[0]->data[i], y = 0;
				for (int n = 0; n < N; n++) {
					double a = in[2]->data[d * N + n], w = dt * a, ab, g;
					switch (disc) {
					case SL_SSM_ZOH: ab = exp(w); g = expm1(w) / a; break;
					case SL_SSM_ZOH_APPROX: ab = exp(w); g = dt; break;
					case SL_SSM_BILINEAR: ab = (1 + w / 2) / (1 - w / 2); g = dt / (1 - w / 2); break;
					default: ab = 1 + w; g = dt; break;
					}
					h[n] = ab * h[n] + g * in[3]->data[r * N + n] * u;
					y += in[4]->data[r * N + n] * h[n];
				}
				if (in[5])
					y += in[5]->data[d] * u;
				if (in[6]) {
					double z = in[6]->data[i];
					y *= z / (1 + exp(-z));
				}
				out[i] = y;
			}
		}
}

/* ---- one forward + backward, everything copied out -------------------------- */

typedef struct run_out {
	float *out, *g[7];
	size_t nout, n[7];
} run_out;

/* threads < 0: no pool. dout_i = sin(0.37 i + 0.1). */
/* How run_ssm treats in[1]: as delta (0), or as the pre-activation of the
 * fused softplus (1) or of the softplus op composed with sl_ssm (2); with 1
 * or 2, run_delta holds the delta it computed. */
static int run_sp;
static float *run_delta;

static void run_ssm(sl_tensor **in, int disc, int scan, int threads, run_out *ro)
{
	sl_arena *a = sl_arena_new(0);
	sl_pool *pool = threads > 0 ? sl_pool_new(threads) : NULL;
	sl_tape *tp = sl_tape_new(a, pool);
	for (int k = 0; k < 7; k++)
		if (in[k])
			memset(in[k]->grad, 0, sl_tensor_numel(in[k]) * sizeof(float));
	sl_tensor *out, *delta = NULL;
	if (run_sp == 1)
		out = sl_ssm_softplus(tp, in[0], in[1], in[2], in[3], in[4], in[5], in[6], disc, scan, &delta);
	else if (run_sp == 2)
		out = sl_ssm(tp, in[0], delta = sl_softplus(tp, in[1]), in[2], in[3], in[4], in[5], in[6], disc, scan);
	else
		out = sl_ssm(tp, in[0], in[1], in[2], in[3], in[4], in[5], in[6], disc, scan);
	if (delta) {
		free(run_delta);
		run_delta = malloc(sl_tensor_numel(delta) * sizeof(float));
		memcpy(run_delta, delta->data, sl_tensor_numel(delta) * sizeof(float));
	}
	ro->nout = sl_tensor_numel(out);
	ro->out = malloc(ro->nout * sizeof(float));
	memcpy(ro->out, out->data, ro->nout * sizeof(float));
	float *dout = malloc(ro->nout * sizeof(float));
	for (size_t i = 0; i < ro->nout; i++)
		dout[i] = sinf(0.37f * (float)i + 0.1f);
	sl_tape_backward_from(tp, out, dout);
	free(dout);
	for (int k = 0; k < 7; k++) {
		ro->n[k] = in[k] ? sl_tensor_numel(in[k]) : 0;
		ro->g[k] = NULL;
		if (in[k]) {
			ro->g[k] = malloc(ro->n[k] * sizeof(float));
			memcpy(ro->g[k], in[k]->grad, ro->n[k] * sizeof(float));
		}
	}
	sl_tape_free(tp);
	sl_pool_free(pool);
	sl_arena_free(a);
}

static void run_free(run_out *ro)
{
	free(ro->out);
	for (int k = 0; k < 7; k++)
		free(ro->g[k]);
}

/* max |a - ref| / max |ref| */
static double nerr(const float *a, const float *ref, size_t n)
{
	double e = 0, m = 0;
	for (size_t i = 0; i < n; i++) {
		e = fmax(e, fabs((double)a[i] - ref[i]));
		m = fmax(m, fabs((double)ref[i]));
	}
	return m > 0 ? e / m : e;
}

static double nerr_d(const float *a, const double *ref, size_t n)
{
	double e = 0, m = 0;
	for (size_t i = 0; i < n; i++) {
		e = fmax(e, fabs(a[i] - ref[i]));
		m = fmax(m, fabs(ref[i]));
	}
	return m > 0 ? e / m : e;
}

/* The worst normwise error over the output and all gradients. */
static double run_err(const run_out *a, const run_out *ref)
{
	double e = nerr(a->out, ref->out, a->nout);
	for (int k = 0; k < 7; k++)
		if (a->g[k])
			e = fmax(e, nerr(a->g[k], ref->g[k], a->n[k]));
	return e;
}

static int run_same(const run_out *a, const run_out *b)
{
	int same = memcmp(a->out, b->out, a->nout * sizeof(float)) == 0;
	for (int k = 0; k < 7; k++)
		if (a->g[k])
			same &= memcmp(a->g[k], b->g[k], a->n[k] * sizeof(float)) == 0;
	return same;
}

/* ---- names ----------------------------------------------------------------- */

static void test_names(void)
{
	int ok = 1;
	for (int i = 0; i < SL_SSM_DISC_COUNT; i++)
		ok &= sl_ssm_disc_parse(sl_ssm_disc_name(i)) == i;
	for (int i = 0; i < SL_SSM_SCAN_COUNT; i++)
		ok &= sl_ssm_scan_parse(sl_ssm_scan_name(i)) == i;
	TAP_OK(ok && sl_ssm_disc_parse("zoh-approx") == SL_SSM_ZOH_APPROX && sl_ssm_scan_parse("log") == SL_SSM_LOG,
	       "option names round-trip");
	TAP_OK(sl_ssm_disc_parse("ZOH") < 0 && sl_ssm_scan_parse("") < 0 && sl_ssm_disc_parse(NULL) < 0 &&
		       sl_ssm_disc_name(9)[0] == '?' && sl_ssm_scan_name(-1)[0] == '?',
	       "unknown names are refused");
}

/* ---- golden values: one channel, one state, T = 3 ----------------------------
 *
 * Δ = (1/2, 1, 1/4), A = -1, B = (1, 2, -1), C = (1, 1/2, 2), x = (1, -1, 2),
 * D = 1/2, so w = ΔA = (-1/2, -1, -1/4) and y_t = C_t h_t + x_t / 2.
 *   euler:      Ā = 1 + w = (1/2, 0, 3/4), B̄x = ΔBx = (1/2, -2, -1/2)
 *               h = (1/2, -2, -2),  y = (1, -3/2, -3)
 *   bilinear:   Ā = (1 + w/2)/(1 - w/2) = (3/5, 1/3, 7/9),
 *               B̄x = Δ/(1 - w/2) Bx = (2/5, -4/3, -4/9)
 *               h = (2/5, -6/5, -62/45),  y = (9/10, -11/10, -79/45)
 *   zoh-approx: Ā = e^w, B̄x = ΔBx = (1/2, -2, -1/2)
 *               h1 = 1/2, h2 = e^-1/2 - 2, h3 = e^-1/4 h2 - 1/2
 *   zoh:        Ā = e^w, B̄x = (e^w - 1)/A Bx = (1 - e^w) Bx
 *               h1 = 1 - e^-1/2, h2 = e^-1 h1 - 2(1 - e^-1), h3 = e^-1/4 h2 - 2(1 - e^-1/4)
 * With the gate z = (0, 1, -1): out = y (0, silu(1), silu(-1)). */
static void test_golden(void)
{
	float dt[3] = { 0.5f, 1.0f, 0.25f }, A[1] = { -1.0f }, Bv[3] = { 1, 2, -1 }, Cv[3] = { 1, 0.5f, 2 };
	float xv[3] = { 1, -1, 2 }, Dv[1] = { 0.5f }, zv[3] = { 0, 1, -1 };
	sl_tensor x = { .data = xv, .ndim = 3, .shape = { 1, 3, 1 } };
	sl_tensor delta = { .data = dt, .ndim = 3, .shape = { 1, 3, 1 } };
	sl_tensor a = { .data = A, .ndim = 2, .shape = { 1, 1 } };
	sl_tensor Bm = { .data = Bv, .ndim = 3, .shape = { 1, 3, 1 } };
	sl_tensor Cm = { .data = Cv, .ndim = 3, .shape = { 1, 3, 1 } };
	sl_tensor Ds = { .data = Dv, .ndim = 1, .shape = { 1 } };
	sl_tensor z = { .data = zv, .ndim = 3, .shape = { 1, 3, 1 } };
	double e1 = exp(-0.5), e2 = exp(-1.0), e3 = exp(-0.25);
	double want[SL_SSM_DISC_COUNT][3], abar[SL_SSM_DISC_COUNT][3] = {
		[SL_SSM_ZOH] = { e1, e2, e3 },
		[SL_SSM_ZOH_APPROX] = { e1, e2, e3 },
		[SL_SSM_BILINEAR] = { 3.0 / 5, 1.0 / 3, 7.0 / 9 },
		[SL_SSM_EULER] = { 0.5, 0, 0.75 },
	};
	double h1, h2, h3;
	h1 = 1 - e1, h2 = e2 * h1 - 2 * (1 - e2), h3 = e3 * h2 - 2 * (1 - e3);
	double *w = want[SL_SSM_ZOH];
	w[0] = h1 + 0.5, w[1] = 0.5 * h2 - 0.5, w[2] = 2 * h3 + 1;
	h1 = 0.5, h2 = 0.5 * e2 - 2, h3 = e3 * h2 - 0.5;
	w = want[SL_SSM_ZOH_APPROX];
	w[0] = h1 + 0.5, w[1] = 0.5 * h2 - 0.5, w[2] = 2 * h3 + 1;
	w = want[SL_SSM_BILINEAR];
	w[0] = 0.9, w[1] = -1.1, w[2] = -79.0 / 45;
	w = want[SL_SSM_EULER];
	w[0] = 1, w[1] = -1.5, w[2] = -3;
	double silu[3] = { 0, 1 / (1 + exp(-1.0)), -1 / (1 + exp(1.0)) };

	sl_arena *ar = sl_arena_new(0);
	sl_tape *tp = sl_tape_new(ar, NULL);
	for (int disc = 0; disc < SL_SSM_DISC_COUNT; disc++) {
		float ab[3];
		sl_ssm_abar(disc, &delta, &a, ab);
		double ea = 0;
		for (int t = 0; t < 3; t++)
			ea = fmax(ea, fabs(ab[t] - abar[disc][t]));
		TAP_OK(ea < 1e-6, "golden %s: Ā = (%.7f, %.7f, %.7f) (err %.2g)", sl_ssm_disc_name(disc), ab[0], ab[1],
		       ab[2], ea);
		for (int scan = 0; scan < SL_SSM_SCAN_COUNT; scan++) {
			sl_tensor *y = sl_ssm(tp, &x, &delta, &a, &Bm, &Cm, &Ds, NULL, disc, scan);
			sl_tensor *o = sl_ssm(tp, &x, &delta, &a, &Bm, &Cm, &Ds, &z, disc, scan);
			double ey = 0, eo = 0;
			for (int t = 0; t < 3; t++) {
				ey = fmax(ey, fabs(y->data[t] - want[disc][t]));
				eo = fmax(eo, fabs(o->data[t] - want[disc][t] * silu[t]));
			}
			if (!TAP_OK(ey < 2e-6 && eo < 2e-6, "golden %s, %s scan: y and gated out (err %.2g, %.2g)",
				    sl_ssm_disc_name(disc), sl_ssm_scan_name(scan), ey, eo))
				tap_diag("y = (%.7f, %.7f, %.7f), want (%.7f, %.7f, %.7f)", y->data[0], y->data[1],
					 y->data[2], want[disc][0], want[disc][1], want[disc][2]);
			sl_tape_reset(tp);
		}
	}
	sl_tape_free(tp);
	sl_arena_free(ar);
}

/* ---- finite-difference gradients --------------------------------------------- */

static void test_gradients(void)
{
	char label[160];
	for (int disc = 0; disc < SL_SSM_DISC_COUNT; disc++)
		for (int scan = 0; scan < SL_SSM_SCAN_COUNT; scan++)
			for (int gate = 0; gate <= 1; gate++) {
				sl_tensor *in[7];
				make_inputs(in, (uint64_t)(100 * disc + 10 * scan + gate), 2, 5, 3, 4, gate, R_GC, disc);
				ssm_case c = { disc, scan };
				for (int th = 0; th <= 2; th += 2) {
					snprintf(label, sizeof label, "ssm %s, %s scan, %s, %s", sl_ssm_disc_name(disc),
						 sl_ssm_scan_name(scan), gate ? "with z and D" : "without z and D",
						 th ? "2 threads" : "no pool");
					gc_check(label, build, &c, in, 7, 1e-2, 1e-3, 1e-2, th);
				}
				free_inputs(in);
			}
	/* a size that takes the threaded path (16 channel blocks over 2 threads);
	 * one case: the partition is the same for every scan and discretisation,
	 * and test_threads() compares all of them with the serial path bit for bit */
	sl_tensor *in[7];
	make_inputs(in, 777, 2, 8, 32, 8, 1, R_GC, SL_SSM_ZOH);
	ssm_case c = { SL_SSM_ZOH, SL_SSM_PARALLEL };
	gc_check("ssm zoh, parallel scan, B=2 T=8 D=32 N=8, 2 threads", build, &c, in, 7, 1e-2, 1e-3, 1e-2, 2);
	free_inputs(in);
}

/* Only some inputs need gradients: those get the same gradients as when all do. */
static void test_partial_grads(void)
{
	sl_tensor *in[7];
	make_inputs(in, 4242, 2, 7, 5, 3, 1, R_GC, SL_SSM_BILINEAR);
	run_out all, some;
	run_ssm(in, SL_SSM_BILINEAR, SL_SSM_SEQ, -1, &all);
	for (int k = 0; k < 7; k++)
		in[k]->requires_grad = k == 1 || k == 4;     /* delta and C */
	run_ssm(in, SL_SSM_BILINEAR, SL_SSM_SEQ, -1, &some);
	int untouched = 1;
	for (int k = 0; k < 7; k++)
		if (k != 1 && k != 4)
			for (size_t i = 0; i < some.n[k]; i++)
				untouched &= some.g[k][i] == 0.0f;
	TAP_OK(memcmp(all.out, some.out, all.nout * sizeof(float)) == 0 &&
		       memcmp(all.g[1], some.g[1], all.n[1] * sizeof(float)) == 0 &&
		       memcmp(all.g[4], some.g[4], all.n[4] * sizeof(float)) == 0 && untouched,
	       "ssm: gradients of a subset of inputs equal those of the full backward; the rest stay zero");
	run_free(&all);
	run_free(&some);
	/* forward without recording (no saved state) gives the same output */
	sl_arena *a = sl_arena_new(0);
	sl_tape *tp = sl_tape_new(a, NULL);
	for (int k = 0; k < 7; k++)
		in[k]->requires_grad = 1;
	for (int scan = 0; scan < SL_SSM_SCAN_COUNT; scan++) {
		tp->grad_enabled = 1;
		sl_tensor *o1 = sl_ssm(tp, in[0], in[1], in[2], in[3], in[4], in[5], in[6], SL_SSM_ZOH, scan);
		tp->grad_enabled = 0;
		sl_tensor *o2 = sl_ssm(tp, in[0], in[1], in[2], in[3], in[4], in[5], in[6], SL_SSM_ZOH, scan);
		TAP_OK(o1->requires_grad && !o2->requires_grad &&
			       memcmp(o1->data, o2->data, sl_tensor_numel(o1) * sizeof(float)) == 0,
		       "ssm %s scan: forward without a tape equals forward with one", sl_ssm_scan_name(scan));
		sl_tape_reset(tp);
	}
	sl_tape_free(tp);
	sl_arena_free(a);
	free_inputs(in);
}

/* ---- the three scans agree ----------------------------------------------------- */

static void test_scan_equivalence(void)
{
	static const int Ts[] = { 1, 2, 7, 64, 257 };
	static const int regimes[] = { R_MAMBA, R_STIFF };
	for (int ri = 0; ri < 2; ri++)
		for (int disc = 0; disc < SL_SSM_DISC_COUNT; disc++) {
			double worst[3] = { 0 };
			for (size_t ti = 0; ti < SL_COUNT(Ts); ti++) {
				int T = Ts[ti], B = 2, D = 4, N = 8;
				sl_tensor *in[7];
				make_inputs(in, 9000 + (uint64_t)(T * 8 + disc * 2 + ri), B, T, D, N, 1, regimes[ri], disc);
				run_out seq, par, lg;
				run_ssm(in, disc, SL_SSM_SEQ, -1, &seq);
				run_ssm(in, disc, SL_SSM_PARALLEL, -1, &par);
				run_ssm(in, disc, SL_SSM_LOG, -1, &lg);
				double *ref = malloc(seq.nout * sizeof *ref);
				reference(in, disc, ref);
				double ep = run_err(&par, &seq), el = run_err(&lg, &seq), er = nerr_d(seq.out, ref, seq.nout);
				worst[0] = fmax(worst[0], ep);
				worst[1] = fmax(worst[1], el);
				worst[2] = fmax(worst[2], er);
				TAP_OK(ep <= TOL_PARALLEL && el <= TOL_LOG && er <= TOL_REF,
				       "ssm %s, %s regime, T=%d: parallel (err %.2g) and log (err %.2g) match seq, seq matches double (err %.2g)",
				       sl_ssm_disc_name(disc), ri ? "stiff" : "mamba", T, ep, el, er);
				free(ref);
				run_free(&seq);
				run_free(&par);
				run_free(&lg);
				free_inputs(in);
			}
			tap_diag("%-10s %-5s worst over T: parallel-seq %.2g, log-seq %.2g, seq-double %.2g",
				 sl_ssm_disc_name(disc), ri ? "stiff" : "mamba", worst[0], worst[1], worst[2]);
		}
}

/* ---- the log scan's error against length ---------------------------------------- */

/* Normwise error max|y_log - y_seq| / max|y_seq| of the output (no gate, no
 * D) over one batch of D=4 channels, N=16 states, for length T; *eref gets
 * seq's own error against the double reference. */
static double log_scan_error(int T, int regime, int disc, double *eref)
{
	sl_tensor *in[7];
	make_inputs(in, 31337 + (uint64_t)T, 1, T, 4, 16, 0, regime, disc);
	for (int k = 0; k < 7; k++)
		if (in[k])
			in[k]->requires_grad = 0;
	sl_arena *a = sl_arena_new(0);
	sl_tape *tp = sl_tape_new(a, NULL);
	sl_tensor *ys = sl_ssm(tp, in[0], in[1], in[2], in[3], in[4], NULL, NULL, disc, SL_SSM_SEQ);
	sl_tensor *yl = sl_ssm(tp, in[0], in[1], in[2], in[3], in[4], NULL, NULL, disc, SL_SSM_LOG);
	size_t n = sl_tensor_numel(ys);
	double *ref = malloc(n * sizeof *ref);
	reference(in, disc, ref);
	double e = nerr(yl->data, ys->data, n);
	*eref = nerr_d(ys->data, ref, n);
	free(ref);
	sl_tape_free(tp);
	sl_arena_free(a);
	free_inputs(in);
	return e;
}

static void test_log_error_table(void)
{
	static const int Ts[] = { 16, 64, 256, 1024, 4096 };
	tap_diag("log scan error against length: max|log - seq| / max|seq| (seq - double in brackets)");
	tap_diag("  mamba: zoh-approx, Δ log-uniform [1e-3, 0.1], A = -(n+1), N = 16");
	tap_diag("  stiff: zoh, Δ in [0.05, 0.95), A in [-6, -1)");
	tap_diag("  extreme: zoh, Δ in [5, 10), A = -10(n+1): ΔA down to -1600, e^ΔA underflows");
	tap_diag("%6s  %-20s  %-20s  %-20s", "T", "mamba", "stiff", "extreme");
	double worst[3] = { 0 };
	int finite = 1;
	for (size_t i = 0; i < SL_COUNT(Ts); i++) {
		double r[3], e[3];
		e[0] = log_scan_error(Ts[i], R_MAMBA, SL_SSM_ZOH_APPROX, &r[0]);
		e[1] = log_scan_error(Ts[i], R_STIFF, SL_SSM_ZOH, &r[1]);
		e[2] = log_scan_error(Ts[i], R_EXTREME, SL_SSM_ZOH, &r[2]);
		char col[3][32];
		for (int k = 0; k < 3; k++) {
			snprintf(col[k], sizeof col[k], "%.2e (%.1e)", e[k], r[k]);
			worst[k] = fmax(worst[k], e[k]);
			finite &= isfinite(e[k]);
		}
		tap_diag("%6d  %-20s  %-20s  %-20s", Ts[i], col[0], col[1], col[2]);
	}
	TAP_OK(finite && worst[0] < 1e-3 && worst[1] < 1e-2 && worst[2] < 0.5,
	       "log scan error up to T=4096 within loose bounds (mamba %.2g < 1e-3, stiff %.2g < 1e-2, extreme %.2g < 0.5)",
	       worst[0], worst[1], worst[2]);
}

/* ---- threads ------------------------------------------------------------------ */

static void test_threads(void)
{
	for (int disc = 0; disc < SL_SSM_DISC_COUNT; disc++)
		for (int scan = 0; scan < SL_SSM_SCAN_COUNT; scan++) {
			sl_tensor *in[7];
			make_inputs(in, 555 + (uint64_t)(disc * 3 + scan), 2, 40, 48, 8, 1, R_STIFF, disc);
			run_out r0, r1, r2, r2b;
			run_ssm(in, disc, scan, -1, &r0);
			run_ssm(in, disc, scan, 1, &r1);
			run_ssm(in, disc, scan, 2, &r2);
			run_ssm(in, disc, scan, 2, &r2b);
			TAP_OK(run_same(&r0, &r1) && run_same(&r0, &r2) && run_same(&r2, &r2b),
			       "ssm %s, %s scan, B=2 T=40 D=48 N=8: no pool, 1 and 2 threads (twice) give identical outputs and gradients",
			       sl_ssm_disc_name(disc), sl_ssm_scan_name(scan));
			run_free(&r0);
			run_free(&r1);
			run_free(&r2);
			run_free(&r2b);
			free_inputs(in);
		}
}

/* The same bits as run_same but for the gradients of Bm and Cm (g[3], g[4]),
 * which may differ by their order of summation: their normwise difference
 * into *err (the worst so far). */
static int run_same_but_bc(const run_out *a, const run_out *b, double *err)
{
	int same = memcmp(a->out, b->out, a->nout * sizeof(float)) == 0;
	for (int k = 0; k < 7; k++) {
		if (!a->g[k])
			continue;
		if (k == 3 || k == 4)
			*err = fmax(*err, nerr(a->g[k], b->g[k], a->n[k]));
		else
			same &= memcmp(a->g[k], b->g[k], a->n[k] * sizeof(float)) == 0;
	}
	return same;
}

/* The 16-channel kernel (seq scan, D of 16 to 256) against the
 * one-channel-at-a-time kernel it stands for: the same bits for every
 * discretisation, state count (16 takes the AVX-512 kernel's sums over
 * lanes in registers), gate or none, at 1 and 2 threads, but for dB and dC:
 * the 16-channel kernels sum each group's channels by a halving tree
 * (lanes_tree16), the plain one in order, so those agree to rounding
 * (normwise 1e-6; the AVX-512 and portable 16-channel kernels, and 1 and 2
 * threads, still bit for bit). */
static void test_lanes(void)
{
	static const int Ds[] = { 16, 32, 64, 128, 256 }, Ns[] = { 16, 5 };
	double worst = 0;
	for (int disc = 0; disc < SL_SSM_DISC_COUNT; disc++)
		for (int di = 0; di < 5; di++)
			for (int ni = 0; ni < 2; ni++) {
				int D = Ds[di], N = Ns[ni], gate = (di + ni) % 2, T = 7 + di;
				sl_tensor *in[7];
				make_inputs(in, 900 + (uint64_t)(disc * 10 + di * 2 + ni), 3, T, D, N, gate,
					    ni ? R_STIFF : R_MAMBA, disc);
				run_out fast, plain, fast2, port;
				run_ssm(in, disc, SL_SSM_SEQ, 1, &fast);
				run_ssm(in, disc, SL_SSM_SEQ, 2, &fast2);
				sl_ssm_generic = 2;
				run_ssm(in, disc, SL_SSM_SEQ, 2, &port);
				sl_ssm_generic = 1;
				run_ssm(in, disc, SL_SSM_SEQ, 1, &plain);
				sl_ssm_generic = 0;
				double err = 0;
				int same = run_same_but_bc(&fast, &plain, &err);
				TAP_OK(same && err < 1e-6 && run_same(&fast, &fast2) && run_same(&fast, &port),
				       "ssm %s, D=%d N=%d T=%d%s: the 16-channel kernel (AVX-512 where built, and portable) gives the plain one's outputs and gradients, bit for bit (1 and 2 threads), dB and dC to %.2g (< 1e-6)",
				       sl_ssm_disc_name(disc), D, N, T, gate ? " gated" : "", err);
				worst = fmax(worst, err);
				run_free(&fast);
				run_free(&fast2);
				run_free(&port);
				run_free(&plain);
				free_inputs(in);
			}
	tap_diag("16-channel kernel against the plain one: dB and dC differ by at most %.2g normwise", worst);
}

/* sl_ssm_softplus against sl_softplus then sl_ssm: the same delta, outputs
 * and gradients bit for bit, on every kernel (AVX-512 16-channel where
 * built, its portable form, the plain one; the parallel and log scans), for
 * pre-activations on both sides of softplus's threshold (20); and its
 * finite-difference gradients. */
static sl_tensor *build_sp(sl_tape *tp, sl_tensor **in, void *ctx)
{
	ssm_case *c = ctx;
	return sl_ssm_softplus(tp, in[0], in[1], in[2], in[3], in[4], in[5], in[6], c->disc, c->scan, NULL);
}

static void test_softplus_fused(void)
{
	static const int Ds[] = { 16, 48 };
	for (int disc = 0; disc < SL_SSM_DISC_COUNT; disc++)
		for (int scan = 0; scan < SL_SSM_SCAN_COUNT; scan++)
			for (int di = 0; di < 2; di++)
				for (int mode = 0; mode < (scan == SL_SSM_SEQ && di == 0 ? 3 : 1); mode++) {
					int D = Ds[di], N = di ? 5 : 16, gate = (disc + scan + mode) % 2;
					sl_tensor *in[7];
					make_inputs(in, 1300 + (uint64_t)(disc * 100 + scan * 10 + di * 3 + mode), 2, 9, D, N,
						    gate, R_MAMBA, disc);
					/* pre-activations of Mamba's deltas, a few past the threshold */
					size_t nx = sl_tensor_numel(in[1]);
					for (size_t i = 0; i < nx; i++)
						in[1]->data[i] = i % 37 == 5 ? 20.0f + (float)(i % 3) * 0.5f
									     : logf(expm1f(in[1]->data[i]));
					run_out fused, comp;
					float *dfused;
					sl_ssm_generic = mode;
					run_sp = 1;
					run_ssm(in, disc, scan, 2, &fused);
					dfused = run_delta;
					run_delta = NULL;
					run_sp = 2;
					run_ssm(in, disc, scan, 2, &comp);
					run_sp = 0;
					sl_ssm_generic = 0;
					int same = memcmp(dfused, run_delta, nx * sizeof(float)) == 0;
					TAP_OK(run_same(&fused, &comp) && same,
					       "ssm %s, %s scan, D=%d N=%d%s%s: the fused softplus gives softplus then ssm's delta, outputs and gradients, bit for bit",
					       sl_ssm_disc_name(disc), sl_ssm_scan_name(scan), D, N, gate ? " gated" : "",
					       mode == 1 ? ", plain kernel" : mode == 2 ? ", portable 16-channel kernel" : "");
					free(dfused);
					free(run_delta);
					run_delta = NULL;
					run_free(&fused);
					run_free(&comp);
					free_inputs(in);
				}
	for (int disc = 0; disc < SL_SSM_DISC_COUNT; disc++) {
		char label[160];
		sl_tensor *in[7];
		make_inputs(in, 1500 + (uint64_t)disc, 2, 5, 16, 4, 1, R_GC, disc);
		/* pre-activations: softplus of them in R_GC's range */
		for (size_t i = 0; i < sl_tensor_numel(in[1]); i++)
			in[1]->data[i] = logf(expm1f(in[1]->data[i]));
		ssm_case c = { disc, SL_SSM_SEQ };
		snprintf(label, sizeof label, "ssm with fused softplus, %s, seq scan, D=16", sl_ssm_disc_name(disc));
		gc_check(label, build_sp, &c, in, 7, 1e-2, 1e-3, 1e-2, 2);
		c.scan = SL_SSM_PARALLEL;
		snprintf(label, sizeof label, "ssm with fused softplus, %s, parallel scan, D=16", sl_ssm_disc_name(disc));
		gc_check(label, build_sp, &c, in, 7, 1e-2, 1e-3, 1e-2, 0);
		free_inputs(in);
	}
}

/* sl_ssm_softplus_at, the gate read in place from columns [zcol, zcol + D)
 * of a wider tensor, against sl_ssm_softplus on sl_slice of those columns:
 * the same outputs and gradients (the wide tensor's, every column), bit for
 * bit, on every kernel, at 1 and 2 threads; and with x and dt temporaries
 * (the gradients the op writes fresh). */
typedef struct at_out {
	float *v[8];
	size_t n[8];
} at_out;

static void run_gate_at(sl_tensor **in, sl_tensor *wide, int zcol, int disc, int scan, int threads, int at,
			at_out *ro)
{
	sl_arena *a = sl_arena_new(0);
	sl_pool *pool = threads > 0 ? sl_pool_new(threads) : NULL;
	sl_tape *tp = sl_tape_new(a, pool);
	sl_tensor *g[7] = { in[0], in[1], in[2], in[3], in[4], in[5], wide };
	for (int k = 0; k < 7; k++)
		memset(g[k]->grad, 0, sl_tensor_numel(g[k]) * sizeof(float));
	int D = in[0]->shape[2];
	/* at 2: x and dt through a scale by 1, temporaries whose gradients the
	 * op is the first to write (fresh buffers) */
	sl_tensor *x = at >= 2 ? sl_scale(tp, in[0], 1.0f) : in[0], *dt = at >= 2 ? sl_scale(tp, in[1], 1.0f) : in[1];
	/* at 3: z a temporary too, whose gradient the op is the first to write */
	sl_tensor *zw = at == 3 ? sl_scale(tp, wide, 1.0f) : wide;
	sl_tensor *out = at ? sl_ssm_softplus_at(tp, x, dt, in[2], in[3], in[4], in[5], zw, zcol, disc, scan, NULL)
			    : sl_ssm_softplus(tp, x, dt, in[2], in[3], in[4], in[5], sl_slice(tp, wide, 2, zcol, D), disc,
					      scan, NULL);
	size_t no = sl_tensor_numel(out);
	float *dout = malloc(no * sizeof(float));
	for (size_t i = 0; i < no; i++)
		dout[i] = sinf(0.37f * (float)i + 0.1f);
	sl_tape_backward_from(tp, out, dout);
	free(dout);
	for (int k = 0; k < 8; k++) {
		const sl_tensor *t = k < 7 ? g[k] : out;
		const float *src = k < 7 ? t->grad : t->data;
		ro->n[k] = sl_tensor_numel(t);
		ro->v[k] = malloc(ro->n[k] * sizeof(float));
		memcpy(ro->v[k], src, ro->n[k] * sizeof(float));
	}
	sl_tape_free(tp);
	sl_pool_free(pool);
	sl_arena_free(a);
}

/* The gate tests' inputs: make_inputs's at seed (Mamba's regime, gated),
 * dt turned into the raw value whose softplus it was, and a wide tensor
 * (B, T, width) of random values (wseed) holding z at columns [zcol,
 * zcol + D). */
static sl_tensor *gate_inputs(sl_tensor **in, uint64_t seed, uint64_t wseed, int disc, int B, int T, int D, int N,
			      int zcol, int width)
{
	make_inputs(in, seed, B, T, D, N, 1, R_MAMBA, disc);
	for (size_t i = 0; i < sl_tensor_numel(in[1]); i++)
		in[1]->data[i] = logf(expm1f(in[1]->data[i]));
	sl_rng r;
	sl_rng_seed(&r, wseed);
	int ws[3] = { B, T, width };
	sl_tensor *wide = gc_input(&r, 3, ws, -2, 2);
	for (int row = 0; row < B * T; row++)
		memcpy(wide->data + (size_t)row * width + zcol, in[6]->data + (size_t)row * D, (size_t)D * sizeof(float));
	return wide;
}

static void test_gate_at(void)
{
	static const int Ds[] = { 16, 128, 48 };
	for (int disc = 0; disc < SL_SSM_DISC_COUNT; disc++)
		for (int di = 0; di < 3; di++)
			for (int mode = 0; mode < (di < 2 ? 3 : 1); mode++) {
				int D = Ds[di], N = di == 2 ? 5 : 16, B = 2, T = 9, zcol = di == 1 ? D : 5;
				int scan = di == 2 ? SL_SSM_PARALLEL : SL_SSM_SEQ;
				sl_tensor *in[7];
				/* z among other columns: [zcol, zcol + D) of (B, T, zcol + D + 3) */
				int width = zcol + D + 3;
				sl_tensor *wide = gate_inputs(in, 1700 + (uint64_t)(disc * 10 + di * 3 + mode),
							      1800 + (uint64_t)disc, disc, B, T, D, N, zcol, width);
				int same = 1;
				sl_ssm_generic = mode;
				for (int th = 0; th <= 2; th += 2) {
					at_out x, y, f;
					run_gate_at(in, wide, zcol, disc, scan, th, 1, &x);
					run_gate_at(in, wide, zcol, disc, scan, th, 0, &y);
					run_gate_at(in, wide, zcol, disc, scan, th, 2, &f);
					for (int k = 0; k < 8; k++) {
						same &= x.n[k] == y.n[k] && memcmp(x.v[k], y.v[k], x.n[k] * sizeof(float)) == 0;
						same &= memcmp(f.v[k], y.v[k], x.n[k] * sizeof(float)) == 0;
						free(x.v[k]);
						free(y.v[k]);
						free(f.v[k]);
					}
				}
				sl_ssm_generic = 0;
				TAP_OK(same,
				       "ssm %s, %s scan, D=%d N=%d, gate at columns %d..%d of %d%s: the same outputs and gradients as on the sliced gate, bit for bit (no pool, 2 threads; x and dt as temporaries too)",
				       sl_ssm_disc_name(disc), sl_ssm_scan_name(scan), D, N, zcol, zcol + D - 1, width,
				       mode == 1 ? ", plain kernel" : mode == 2 ? ", portable 16-channel kernel" : "");
				gc_free(wide);
				free_inputs(in);
			}
}

/* The gate's gradient written fresh: z (B, T, 2D) a temporary with the
 * gate at columns [D, 2D) or [0, D) (Mamba's [x | z]), x and dt
 * temporaries too: the AVX-512 kernel writes dz and zeros the other half
 * where a zeroed buffer was added to; the same outputs and gradients (every
 * column of the wide tensor's) as the sliced gate, bit for bit, on every
 * kernel, with and without a pool. */
static void test_gate_fresh(void)
{
	static const int Ds[] = { 16, 128 };
	for (int disc = 0; disc < SL_SSM_DISC_COUNT; disc++)
		for (int di = 0; di < 2; di++)
			for (int zi = 0; zi < 2; zi++)
				for (int mode = 0; mode < 3; mode++) {
					int D = Ds[di], N = 16, B = 2, T = 9, zcol = zi ? 0 : D;
					sl_tensor *in[7];
					int width = 2 * D;
					sl_tensor *wide = gate_inputs(in, 2100 + (uint64_t)(disc * 20 + di * 6 + zi * 3 + mode),
								      2200 + (uint64_t)disc, disc, B, T, D, N, zcol, width);
					int same = 1;
					sl_ssm_generic = mode;
					for (int th = 0; th <= 2; th += 2) {
						at_out x, y;
						run_gate_at(in, wide, zcol, disc, SL_SSM_SEQ, th, 3, &x);
						run_gate_at(in, wide, zcol, disc, SL_SSM_SEQ, th, 0, &y);
						for (int k = 0; k < 8; k++) {
							same &= x.n[k] == y.n[k] &&
								memcmp(x.v[k], y.v[k], x.n[k] * sizeof(float)) == 0;
							free(x.v[k]);
							free(y.v[k]);
						}
					}
					sl_ssm_generic = 0;
					TAP_OK(same,
					       "ssm %s, D=%d, gate at columns %d..%d of %d, a temporary (its gradient fresh)%s: the sliced gate's outputs and gradients, bit for bit",
					       sl_ssm_disc_name(disc), D, zcol, zcol + D - 1, width,
					       mode == 1 ? ", plain kernel" : mode == 2 ? ", portable 16-channel kernel" : "");
					gc_free(wide);
					free_inputs(in);
				}
}

int main(void)
{
	test_names();
	test_golden();
	test_gradients();
	test_partial_grads();
	test_scan_equivalence();
	test_log_error_table();
	test_threads();
	test_lanes();
	test_softplus_fused();
	test_gate_at();
	test_gate_fresh();
	return tap_done();
}
