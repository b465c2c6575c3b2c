/* test_esn.c - the echo-state network and the series task: the ridge
 * read-out equals the normal equations' solution (float64, bias not
 * regularised) computed here from a reservoir written out again; the
 * spectral radius of W (dgeev here) is within 1e-3 of rho; the first 50
 * Mackey-Glass values equal numpy's from the stated recurrence and the same
 * history; free running equals teacher forcing on the fed-back values; the
 * fit is deterministic; and the models and values it refuses. */
#include "seqlab/model.h"
#include "seqlab/series.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void dgeev_(const char *jobvl, const char *jobvr, const int *n, double *a, const int *lda, double *wr, double *wi,
	    double *vl, const int *ldvl, double *vr, const int *ldvr, double *work, const int *lwork, int *info);

static sl_model *make_esn(const char *units, const char *rho, const char *ridge, const char *leak, int din,
			  uint64_t seed)
{
	const char *keys[] = { "units", "rho", "ridge", "leak" }, *vals[] = { units, rho, ridge, leak };
	sl_model_shape shape = { .vocab = 1, .maxlen = 1000, .din = din, .dout = din };
	sl_rng r;
	sl_rng_seed(&r, seed);
	return sl_model_new(&sl_model_esn, keys, vals, 4, &shape, &r);
}

/* Solves the n x n system A z = b (row-major, both destroyed) by Gaussian
 * elimination with partial pivoting, in long double; z into b. */
static void gauss(long double *A, long double *b, int n)
{
	for (int k = 0; k < n; k++) {
		int p = k;
		for (int i = k + 1; i < n; i++)
			if (fabsl(A[(size_t)i * n + k]) > fabsl(A[(size_t)p * n + k]))
				p = i;
		for (int j = 0; j < n; j++) {
			long double t = A[(size_t)k * n + j];
			A[(size_t)k * n + j] = A[(size_t)p * n + j];
			A[(size_t)p * n + j] = t;
		}
		long double t = b[k];
		b[k] = b[p];
		b[p] = t;
		for (int i = k + 1; i < n; i++) {
			long double f = A[(size_t)i * n + k] / A[(size_t)k * n + k];
			for (int j = k; j < n; j++)
				A[(size_t)i * n + j] -= f * A[(size_t)k * n + j];
			b[i] -= f * b[k];
		}
	}
	for (int k = n - 1; k >= 0; k--) {
		for (int j = k + 1; j < n; j++)
			b[k] -= A[(size_t)k * n + j] * b[j];
		b[k] /= A[(size_t)k * n + k];
	}
}

/* The states of the reservoir for inputs u (T), dense, in double, from the
 * model's parameters: x = (1-a)x + a tanh(W x + Win [1; u]). */
static void states(const sl_model *m, const float *u, int T, double leak, double *X)
{
	const sl_tensor *W = sl_params_find(m->ps, "esn.W"), *Win = sl_params_find(m->ps, "esn.Win");
	int N = W->shape[0];
	double *x = calloc((size_t)N, sizeof *x), *pre = malloc((size_t)N * sizeof *pre);
	for (int t = 0; t < T; t++) {
		for (int i = 0; i < N; i++) {
			double a = Win->data[i * 2] + (double)Win->data[i * 2 + 1] * u[t];
			for (int j = 0; j < N; j++)
				a += (double)W->data[(size_t)i * N + j] * x[j];
			pre[i] = a;
		}
		for (int i = 0; i < N; i++)
			x[i] = (1 - leak) * x[i] + leak * tanh(pre[i]);
		memcpy(X + (size_t)t * N, x, (size_t)N * sizeof *x);
	}
	free(x);
	free(pre);
}

static void test_ridge(void)
{
	const int N = 30, T = 400, warm = 50;
	const double beta = 1e-3, leak = 0.5;
	sl_model *m = make_esn("30", "0.9", "1e-3", "0.5", 1, 11);
	TAP_OK(m != NULL, "esn units=30 made");
	if (!m)
		return;
	float *u = malloc((size_t)T * sizeof *u), *y = malloc((size_t)T * sizeof *y);
	sl_rng r;
	sl_rng_seed(&r, 3);
	for (int t = 0; t < T; t++) {
		u[t] = (float)sin(0.1 * t) + 0.1f * (float)sl_rng_normal(&r);
		y[t] = t < warm ? NAN : (float)(0.5 * sin(0.1 * t + 0.3) + 0.2);
	}
	sl_fit_batch fb = { .B = 1, .T = T, .x = u, .y = y, .din = 1, .dout = 1 };
	double mse = NAN;
	int st = m->kind->fit_add(m->impl, &fb);
	st = st == SL_OK ? m->kind->fit_solve(m->impl, &mse) : st;
	TAP_OK(st == SL_OK, "fit_add + fit_solve");
	/* the normal equations of min |y - W x - b|^2 + beta |W|^2 over the
	 * fitted positions: [X'X + beta I, X'1; 1'X, n] [W'; b] = [X'y; 1'y] */
	double *X = malloc((size_t)T * N * sizeof *X);
	states(m, u, T, leak, X);
	int n1 = N + 1;
	long double *A = calloc((size_t)n1 * n1, sizeof *A), *b = calloc((size_t)n1, sizeof *b);
	for (int t = warm; t < T; t++) {
		const double *x = X + (size_t)t * N;
		for (int i = 0; i < n1; i++) {
			double xi = i < N ? x[i] : 1.0;
			for (int j = 0; j < n1; j++)
				A[(size_t)i * n1 + j] += (long double)xi * (j < N ? x[j] : 1.0);
			b[i] += (long double)xi * y[t];
		}
	}
	for (int i = 0; i < N; i++)
		A[(size_t)i * n1 + i] += beta;
	gauss(A, b, n1);
	const sl_tensor *Wout = sl_params_find(m->ps, "esn.Wout"), *bout = sl_params_find(m->ps, "esn.bout");
	double err = 0, big = 0;
	for (int i = 0; i < N; i++) {
		err = fmax(err, fabs(Wout->data[i] - (double)b[i]));
		big = fmax(big, fabs((double)b[i]));
	}
	err = fmax(err, fabs(bout->data[0] - (double)b[N]));
	TAP_OK(err <= 1e-5 * fmax(1, big), "ridge read-out equals the normal equations' solution (max |diff| %.3g, "
					   "max |w| %.3g)", err, big);
	/* predictions: the model's reservoir against the one written out here */
	sl_arena *ar = sl_arena_new(1 << 20);
	sl_tape *tp = sl_tape_new(ar, NULL);
	tp->grad_enabled = 0;
	sl_tensor *p = m->kind->regress(m->impl, tp, u, 1, T, T);
	double perr = 0;
	for (int t = 0; t < T; t++) {
		double want = bout->data[0];
		for (int i = 0; i < N; i++)
			want += (double)Wout->data[i] * X[(size_t)t * N + i];
		perr = fmax(perr, fabs(p->data[t] - want));
	}
	TAP_OK(perr < 1e-5, "predictions equal the written-out reservoir's (max |diff| %.3g)", perr);
	double sse = 0;
	for (int t = warm; t < T; t++)
		sse += ((double)p->data[t] - y[t]) * ((double)p->data[t] - y[t]);
	sse /= T - warm;
	TAP_OK(fabs(mse - sse) <= 1e-6 * sse + 1e-12, "the fit's own training MSE %.9g equals the predictions' %.9g",
	       mse, sse);
	/* free running from f: the same as teacher forcing on the values fed back */
	int f = 300;
	float *pf = malloc((size_t)T * sizeof *pf), *u2 = malloc((size_t)T * sizeof *u2);
	sl_tape_reset(tp);
	memcpy(pf, m->kind->regress(m->impl, tp, u, 1, T, f)->data, (size_t)T * sizeof *pf);
	for (int t = 0; t < T; t++)
		u2[t] = t < f ? u[t] : pf[t - 1];
	sl_tape_reset(tp);
	sl_tensor *p2 = m->kind->regress(m->impl, tp, u2, 1, T, T);
	TAP_OK(memcmp(p2->data, pf, (size_t)T * sizeof *pf) == 0,
	       "free running from position %d equals teacher forcing on its fed-back outputs, bit for bit", f);
	/* the fit again: the same bits */
	float w0 = Wout->data[0], b0 = bout->data[0];
	st = m->kind->fit_add(m->impl, &fb);
	st = st == SL_OK ? m->kind->fit_solve(m->impl, &mse) : st;
	TAP_OK(st == SL_OK && Wout->data[0] == w0 && bout->data[0] == b0, "a second fit gives the same bits");
	/* nothing to fit */
	for (int t = 0; t < T; t++)
		y[t] = NAN;
	st = m->kind->fit_add(m->impl, &fb);
	st = st == SL_OK ? m->kind->fit_solve(m->impl, &mse) : st;
	TAP_OK(st == SL_ERR && strstr(sl_error(), "no positions"), "a fit with nothing to fit fails: %s", sl_error());
	sl_tape_free(tp);
	sl_arena_free(ar);
	free(u), free(y), free(X), free(A), free(b), free(pf), free(u2);
	sl_model_free(m);
}

static double radius_of(const sl_model *m)
{
	const sl_tensor *W = sl_params_find(m->ps, "esn.W");
	int n = W->shape[0], lwork = 8 * n, info = 0, one = 1;
	double *a = malloc((size_t)n * n * sizeof *a), *wr = malloc((size_t)n * sizeof *wr),
	       *wi = malloc((size_t)n * sizeof *wi), *work = malloc((size_t)lwork * sizeof *work), d = 0;
	for (size_t i = 0; i < (size_t)n * n; i++)
		a[i] = W->data[i];
	dgeev_("N", "N", &n, a, &n, wr, wi, &d, &one, &d, &one, work, &lwork, &info);
	double r = 0;
	for (int i = 0; i < n; i++)
		r = fmax(r, hypot(wr[i], wi[i]));
	free(a), free(wr), free(wi), free(work);
	return info == 0 ? r : -1;
}

static void test_radius(void)
{
	static const struct {
		const char *units, *rho;
	} cases[] = { { "50", "0.9" }, { "100", "1.25" }, { "300", "1" }, { "200", "0.5" } };
	for (size_t c = 0; c < SL_COUNT(cases); c++) {
		sl_model *m = make_esn(cases[c].units, cases[c].rho, "1e-5", "0.3", 1, 5 + c);
		if (!TAP_OK(m != NULL, "esn units=%s rho=%s made", cases[c].units, cases[c].rho))
			continue;
		double r = radius_of(m), want = atof(cases[c].rho);
		TAP_NEAR(r, want, 1e-3, "spectral radius of W (dgeev of its float32 values) is rho=%s", cases[c].rho);
		char info[512];
		m->kind->info(m->impl, info, sizeof info);
		TAP_OK(strstr(info, "spectral_radius=") != NULL, "info shows it: %s", info);
		sl_model_free(m);
	}
}

static void test_refused(void)
{
	sl_model *m = make_esn("10", "0", "1e-5", "0.3", 1, 1);
	TAP_OK(!m && strstr(sl_error(), "rho=0") && !strchr(sl_error(), '\n'), "rho=0 refused: %s", sl_error());
	m = make_esn("10", "-1", "1e-5", "0.3", 1, 1);
	TAP_OK(!m && strstr(sl_error(), "rho"), "rho=-1 refused: %s", sl_error());
	m = make_esn("10", "1", "1e-5", "0", 1, 1);
	TAP_OK(!m && strstr(sl_error(), "leak"), "leak=0 refused: %s", sl_error());
	/* a model that cannot regress, on a regression task */
	const sl_model_kind *gpt = sl_model_kind_find("gpt");
	sl_model_shape shape = { .vocab = 1, .maxlen = 100, .din = 1, .dout = 1 };
	sl_rng r;
	sl_rng_seed(&r, 1);
	m = gpt ? sl_model_new(gpt, NULL, NULL, 0, &shape, &r) : NULL;
	TAP_OK(gpt && !m && strstr(sl_error(), "regresses (esn"), "a gpt on a regression task refused: %s",
	       sl_error());
}

/* Token inputs: the step mode (a token at a time) equals the full pass, bit
 * for bit, also after reordering the states as beam search does. */
static void test_tokens_step(void)
{
	enum { V = 7, B = 3, T = 20 };
	const char *keys[] = { "units", "leak" }, *vals[] = { "40", "0.7" };
	sl_model_shape shape = { .vocab = V, .maxlen = 100 };
	sl_rng r;
	sl_rng_seed(&r, 9);
	sl_model *m = sl_model_new(&sl_model_esn, keys, vals, 2, &shape, &r);
	if (!TAP_OK(m != NULL, "a token esn made"))
		return;
	int32_t tok[B * T], tgt[B * T];
	for (int i = 0; i < B * T; i++) {
		tok[i] = (int32_t)sl_rng_below(&r, V);
		tgt[i] = (int32_t)sl_rng_below(&r, V);
	}
	sl_fit_batch fb = { .B = B, .T = T, .tok = tok, .tgt = tgt };
	double mse;
	int st = m->kind->fit_add(m->impl, &fb);
	TAP_OK(st == SL_OK && m->kind->fit_solve(m->impl, &mse) == SL_OK, "a ridge read-out on one-hot targets");
	sl_arena *ar = sl_arena_new(1 << 20);
	sl_tape *tp = sl_tape_new(ar, NULL);
	tp->grad_enabled = 0;
	sl_tensor *full = m->kind->lm(m->impl, tp, tok, B, T);
	void *state = m->kind->state_new(m->impl, B);
	float logits[B * V];
	int32_t cur[B];
	int same = 1;
	for (int t = 0; t < T; t++) {
		for (int b = 0; b < B; b++)
			cur[b] = tok[b * T + t];
		m->kind->step(m->impl, tp, state, cur, logits);
		for (int b = 0; b < B; b++)
			same &= memcmp(logits + b * V, full->data + ((size_t)b * T + t) * V, V * sizeof(float)) == 0;
	}
	TAP_OK(m->kind->can_step(m->impl) && same, "step mode equals the full pass, bit for bit (%d x %d tokens)", B, T);
	/* reorder: rows (2, 0) take the old rows 2 and 0; one more step each */
	int parent[2] = { 2, 0 };
	m->kind->state_reorder(state, parent, 2);
	int32_t nxt[B] = { 1, 4, 0 };
	m->kind->step(m->impl, tp, state, nxt, logits);
	int32_t seq[T + 1];
	memcpy(seq, tok + 2 * T, T * sizeof *seq);
	seq[T] = 1;
	sl_tape_reset(tp);
	sl_tensor *ref = m->kind->lm(m->impl, tp, seq, 1, T + 1);
	TAP_OK(memcmp(logits, ref->data + (size_t)T * V, V * sizeof(float)) == 0,
	       "after state_reorder a row continues its parent's sequence");
	m->kind->state_free(state);
	sl_tape_free(tp);
	sl_arena_free(ar);
	sl_model_free(m);
}

/* ---- Mackey-Glass against numpy ---- */

static void test_mackey_glass(void)
{
	enum { N = 50 };
	int hl = sl_mackey_glass_history_len(17, 1.0);
	TAP_OK(hl == 17, "history length floor(17/1) = %d", hl);
	double hist[17], x[N];
	sl_rng r;
	sl_rng_seed(&r, 5555);
	sl_mackey_glass_history(hl, 1.2, &r, hist);
	int inrange = 1;
	for (int i = 0; i < hl; i++)
		inrange &= hist[i] >= 1.1 && hist[i] <= 1.3;
	TAP_OK(inrange, "the history is x0 + 0.2 (U - 0.5), in [1.1, 1.3]");
	sl_mackey_glass(N, 17, 0.2, 0.1, 10, 1.2, 1.0, hist, x);
	TAP_OK(x[0] == 1.2, "the series starts at x0");
	const char *py = getenv("PYTHON3");
	if (!py || !*py)
		py = "python3";
	char path[] = "/tmp/seqlab-mg-XXXXXX";
	int fd = mkstemp(path);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!f) {
		printf("ok %d - Mackey-Glass equals numpy's # SKIP no temporary file\n", ++tap_n);
		return;
	}
	/* the stated recurrence (reservoirpy's _mg_rk4), in numpy float64 */
	fprintf(f, "import numpy as np\nhist = np.array([");
	for (int i = 0; i < hl; i++)
		fprintf(f, "%s%.17g", i ? ", " : "", hist[i]);
	fprintf(f, "], dtype=np.float64)\n"
		   "tau, a, b, n, x0, h, N = 17, 0.2, 0.1, 10.0, 1.2, 1.0, %d\n"
		   "hl = int(np.floor(float(tau) / h))\n"
		   "x = np.zeros(hl + N, dtype=np.float64)\n"
		   "x[:hl] = hist\n"
		   "xt = np.float64(x0)\n"
		   "for i in range(hl, hl + N):\n"
		   "    x[i] = xt\n"
		   "    xtau = x[i - hl]\n"
		   "    bh = -b * h\n"
		   "    k1 = bh * xt + a * xtau / (1.0 + xtau ** n)\n"
		   "    k2 = 2.0 * k1 + bh * k1\n"
		   "    k3 = 2.0 * k1 + bh * k2\n"
		   "    k4 = k1 + bh * k3\n"
		   "    xt = xt + (k1 + k2 + k3 + k4) / 6.0\n"
		   "print('\\n'.join('%%.17g' %% v for v in x[hl:]))\n",
		N);
	fclose(f);
	char cmd[1024];
	snprintf(cmd, sizeof cmd, "'%s' -c 'import numpy' 2>/dev/null && '%s' '%s'", py, py, path);
	FILE *p = popen(cmd, "r");
	int n = 0;
	double v, worst = 0;
	while (p && fscanf(p, "%lf", &v) == 1) {
		if (n < N)
			worst = fmax(worst, fabs(v - x[n]));
		n++;
	}
	int st = p ? pclose(p) : -1;
	unlink(path);
	if (n == 0 && st != 0)
		printf("ok %d - Mackey-Glass equals numpy's # SKIP python3-numpy not available\n", ++tap_n);
	else
		TAP_OK(n == N && worst <= 1e-12, "the first %d Mackey-Glass values equal numpy's from the same history "
						 "(max |diff| %.3g over %d)",
		       N, worst, n);
}

int main(void)
{
	test_ridge();
	test_radius();
	test_refused();
	test_tokens_step();
	test_mackey_glass();
	return tap_done();
}
