/* esn.c - the echo-state network (seed 002; reservoirpy's Reservoir >> Ridge):
 * a fixed random reservoir and a linear read-out fitted in closed form.
 *
 *   x_t = (1 - α) x_{t-1} + α tanh(W x_{t-1} + W_in [1; u_t])     x_0 = 0
 *   y_t = W_out x_t + b_out
 *
 * W (N, N): each entry nonzero with probability `density`, N(0, 1), then
 * scaled so that its spectral radius (the largest |eigenvalue|, from
 * LAPACK's dgeev on the dense matrix) is ρ. W_in (N, 1 + din): entries
 * ±1 with probability `input_density`, column 0 (the bias) times
 * bias_scaling, the others times input_scaling. A token input is one-hot
 * (din = the vocabulary), so W_in [1; u] picks a column.
 *
 * The read-out is ridge regression on the states of the fitted positions,
 * centred first so that the bias is not regularised:
 *   W_out = C_yx (C_xx + βI)^-1,  b_out = ȳ - W_out x̄,
 * with C_xx = Σ (x - x̄)(x - x̄)ᵀ and C_yx = Σ (y - ȳ)(x - x̄)ᵀ; X Xᵀ and
 * Y Xᵀ accumulate in float64 by BLAS (dsyrk, dgemm) over chunks of states,
 * and the system is solved by LAPACK's Cholesky solver (dposv). For token
 * tasks y is the one-hot target and the scores W_out x + b act as logits.
 *
 * Every matrix lives in the parameter store (float32), so save, load and
 * replay give the same predictions; the reservoir runs in float64. */
#include "seqlab/model.h"
#include "seqlab/fastmath.h"

#include <cblas.h>
#include <math.h>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* LAPACK (Fortran calling convention) */
void dgeev_(const char *jobvl, const char *jobvr, const int *n, double *a, const int *lda, double *wr, double *wi,
	    double *vl, const int *ldvl, double *vr, const int *ldvr, double *work, const int *lwork, int *info);
void dposv_(const char *uplo, const int *n, const int *nrhs, double *a, const int *lda, double *b, const int *ldb,
	    int *info);

typedef struct sl_esn_config {
	int units;
	float rho, leak, input_scaling, bias_scaling, density, input_density, ridge;
} sl_esn_config;

#define OFF(f) offsetof(sl_esn_config, f)
static const sl_optspec esn_options[] = {
	{ "units", SL_OPT_INT, OFF(units), "100", 1, 65536, NULL, "reservoir units N" },
	{ "rho", SL_OPT_FLOAT, OFF(rho), "1.25", 0, 100, NULL, "spectral radius W is scaled to (> 0)" },
	{ "leak", SL_OPT_FLOAT, OFF(leak), "0.3", 0, 1, NULL, "leak rate α: x = (1-α)x + α tanh(...) (> 0)" },
	{ "input_scaling", SL_OPT_FLOAT, OFF(input_scaling), "1", 0, 1e6, NULL, "scale of W_in's input columns" },
	{ "bias_scaling", SL_OPT_FLOAT, OFF(bias_scaling), "1", 0, 1e6, NULL, "scale of W_in's bias column" },
	{ "density", SL_OPT_FLOAT, OFF(density), "0.1", 0, 1, NULL, "fraction of W's entries that are nonzero" },
	{ "input_density", SL_OPT_FLOAT, OFF(input_density), "0.1", 0, 1, NULL,
	  "fraction of W_in's entries that are nonzero (±1)" },
	{ "ridge", SL_OPT_FLOAT, OFF(ridge), "1e-5", 0, 1e9, NULL, "ridge β of the read-out's regression" },
	{ NULL, 0, 0, NULL, 0, 0, NULL, NULL },
};
#undef OFF

/* States a chunk of the fit holds before it is added to X Xᵀ. */
#define CHUNK 256

typedef struct esn {
	sl_esn_config c;
	int N, din, dout;
	int tokens;           /* inputs and targets are tokens (one-hot of din = dout = vocab) */
	double radius;        /* W's spectral radius after scaling (dgeev) */
	long nnz;             /* nonzeros of W */
	sl_params *ps;
	sl_tensor *W, *Win, *Wout, *bout;
	/* the fit's accumulators (float64), NULL when nothing is added */
	double *xx, *yx, *sx, *sy; /* (N, N), (dout, N), (N), (dout) */
	double *syy;               /* (dout): Σ y² */
	double *cx, *cy;           /* a chunk: (CHUNK, ldx) states (zero past N), (CHUNK, dout) targets */
	int nc, ldx;               /* ldx: N rounded up to the X Xᵀ kernel's block */
	long nfit;                 /* states added */
} esn;

/* W as compressed sparse rows, built from the parameters (its float32
 * values: half the bytes a step streams) */
typedef struct csr {
	int *row;     /* (N + 1) */
	int *col;
	float *val;
} csr;

static void csr_build(const esn *e, csr *s)
{
	int N = e->N;
	const float *W = e->W->data;
	long nnz = 0;
	for (size_t i = 0; i < (size_t)N * N; i++)
		nnz += W[i] != 0.0f;
	s->row = sl_xmalloc((size_t)(N + 1) * sizeof *s->row);
	s->col = sl_xmalloc((size_t)(nnz ? nnz : 1) * sizeof *s->col);
	s->val = sl_xmalloc((size_t)(nnz ? nnz : 1) * sizeof *s->val);
	long k = 0;
	for (int i = 0; i < N; i++) {
		s->row[i] = (int)k;
		for (int j = 0; j < N; j++) {
			float w = W[(size_t)i * N + j];
			if (w != 0.0f) {
				s->col[k] = j;
				s->val[k++] = w;
			}
		}
	}
	s->row[N] = (int)k;
}

static void csr_free(csr *s)
{
	free(s->row);
	free(s->col);
	free(s->val);
}

/* One reservoir update: x = (1-α)x + α tanh(W x + W_in [1; u]); u is din
 * reals, or the token tok (u NULL). pre is scratch (N). The rows' sums are
 * split over the pool's threads when the reservoir is large (each row's sum
 * is one thread's, in the same order: the bits do not depend on the count),
 * then the state is updated once every row is done. */
typedef struct res_ctx {
	const esn *e;
	const csr *s;
	const double *x, *u;
	double *pre;
	int tok;
} res_ctx;

#define RES_PAR_NNZ 20000 /* nonzeros from which a step is split over threads */

static void res_rows(void *arg, size_t lo, size_t hi)
{
	const res_ctx *c = arg;
	const esn *e = c->e;
	const csr *s = c->s;
	const double *x = c->x, *u = c->u;
	int cols = 1 + e->din, tok = c->tok;
	const float *Win = e->Win->data;
	for (int i = (int)lo; i < (int)hi; i++) {
		int k = s->row[i], end = s->row[i + 1];
#if defined(__AVX512F__)
		/* eight nonzeros a gather, two chains; the rest masked */
		__m512d v0 = _mm512_setzero_pd(), v1 = _mm512_setzero_pd();
		for (; k + 16 <= end; k += 16) {
			__m256i c0 = _mm256_loadu_si256((const __m256i *)(s->col + k));
			__m256i c1 = _mm256_loadu_si256((const __m256i *)(s->col + k + 8));
			__m512d w0 = _mm512_cvtps_pd(_mm256_loadu_ps(s->val + k));
			__m512d w1 = _mm512_cvtps_pd(_mm256_loadu_ps(s->val + k + 8));
			v0 = _mm512_fmadd_pd(w0, _mm512_i32gather_pd(c0, x, 8), v0);
			v1 = _mm512_fmadd_pd(w1, _mm512_i32gather_pd(c1, x, 8), v1);
		}
		for (; k < end; k += 8) {
			__mmask8 m = (__mmask8)(end - k >= 8 ? 0xff : (1u << (end - k)) - 1);
			__m256i ci = _mm256_maskz_loadu_epi32(m, s->col + k);
			__m512d w = _mm512_cvtps_pd(_mm256_maskz_loadu_ps(m, s->val + k));
			v0 = _mm512_fmadd_pd(w, _mm512_mask_i32gather_pd(_mm512_setzero_pd(), m, ci, x, 8), v0);
		}
		double a = _mm512_reduce_add_pd(_mm512_add_pd(v0, v1));
#else
		double a = 0, a2 = 0;
		for (; k + 1 < end; k += 2) { /* two chains: the gathers overlap */
			a += (double)s->val[k] * x[s->col[k]];
			a2 += (double)s->val[k + 1] * x[s->col[k + 1]];
		}
		if (k < end)
			a += (double)s->val[k] * x[s->col[k]];
		a += a2;
#endif
		const float *wi = Win + (size_t)i * cols;
		a += wi[0];
		if (u)
			for (int d = 0; d < e->din; d++)
				a += wi[1 + d] * u[d];
		else
			a += wi[1 + tok];
		c->pre[i] = a;
	}
}

static void reservoir_step(const esn *e, const csr *s, sl_pool *pool, double *x, double *pre, const double *u,
			   int tok)
{
	int N = e->N;
	res_ctx c = { .e = e, .s = s, .x = x, .u = u, .pre = pre, .tok = tok };
	if (pool && s->row[N] >= RES_PAR_NNZ)
		sl_pool_for(pool, (size_t)N, res_rows, &c);
	else
		res_rows(&c, 0, (size_t)N);
	double al = e->c.leak;
	for (int i = 0; i < N; i++)
		x[i] = (1 - al) * x[i] + al * sl_dtanh(pre[i]); /* vectorised; |error| < 1e-15 */
}

/* y = W_out x + b_out (dout) */
static void readout(const esn *e, const double *x, double *y)
{
	for (int o = 0; o < e->dout; o++) {
		const float *w = e->Wout->data + (size_t)o * e->N;
		double a = e->bout->data[o];
		for (int i = 0; i < e->N; i++)
			a += w[i] * x[i];
		y[o] = a;
	}
}

/* ---- the spectral radius ---- */

/* The largest |eigenvalue| of the n x n matrix a (destroyed), by dgeev;
 * -1 if LAPACK fails. */
static double spectral_radius(double *a, int n)
{
	double *wr = sl_xmalloc((size_t)n * sizeof *wr), *wi = sl_xmalloc((size_t)n * sizeof *wi), q, dummy = 0;
	int lwork = -1, info = 0, one = 1;
	dgeev_("N", "N", &n, a, &n, wr, wi, &dummy, &one, &dummy, &one, &q, &lwork, &info);
	lwork = info == 0 ? (int)q : 4 * n;
	double *work = sl_xmalloc((size_t)lwork * sizeof *work);
	dgeev_("N", "N", &n, a, &n, wr, wi, &dummy, &one, &dummy, &one, work, &lwork, &info);
	double r = -1;
	if (info == 0) {
		r = 0;
		for (int i = 0; i < n; i++)
			r = fmax(r, hypot(wr[i], wi[i]));
	}
	free(work);
	free(wr);
	free(wi);
	return r;
}

/* ---- the model kind ---- */

static void *esn_create(const sl_model_kind *kind, const void *cfg, const sl_model_shape *shape, const sl_rng *rng)
{
	(void)kind;
	sl_blas_single(); /* its LAPACK and BLAS calls: no OpenBLAS threads spinning beside the reservoir's */
	const sl_esn_config *c = cfg;
	if (!(c->rho > 0)) {
		sl_errorf("rho=%g: the spectral radius must be > 0", (double)c->rho);
		return NULL;
	}
	if (!(c->leak > 0)) {
		sl_errorf("leak=%g: the leak rate must be in (0, 1]", (double)c->leak);
		return NULL;
	}
	if (!(c->density > 0)) {
		sl_errorf("density=%g: W needs nonzero entries (density in (0, 1])", (double)c->density);
		return NULL;
	}
	esn *e = sl_xcalloc(1, sizeof *e);
	e->c = *c;
	int N = e->N = c->units;
	e->tokens = shape->dout <= 0;
	e->din = e->tokens ? shape->vocab : shape->din;
	e->dout = e->tokens ? shape->vocab : shape->dout;
	e->ps = sl_params_new();
	e->W = sl_params_add(e->ps, "esn.W", 2, (int[]){ N, N }, SL_PARAM_NO_DECAY);
	e->Win = sl_params_add(e->ps, "esn.Win", 2, (int[]){ N, 1 + e->din }, SL_PARAM_NO_DECAY);
	e->Wout = sl_params_add(e->ps, "esn.Wout", 2, (int[]){ e->dout, N }, SL_PARAM_NO_DECAY);
	e->bout = sl_params_add(e->ps, "esn.bout", 1, (int[]){ e->dout }, SL_PARAM_NO_DECAY);
	sl_params_alloc(e->ps);
	sl_rng rw = sl_rng_split_str(rng, "esn.W"), ri = sl_rng_split_str(rng, "esn.Win");
	/* W: sparse N(0, 1), scaled to spectral radius rho (in float64) */
	double *w = sl_xmalloc((size_t)N * N * sizeof *w), *a = sl_xmalloc((size_t)N * N * sizeof *a);
	for (size_t i = 0; i < (size_t)N * N; i++) {
		w[i] = sl_rng_double(&rw) < c->density ? sl_rng_normal(&rw) : 0.0;
		e->nnz += w[i] != 0.0;
	}
	memcpy(a, w, (size_t)N * N * sizeof *a);
	double r0 = spectral_radius(a, N);
	free(a);
	if (!(r0 > 1e-12)) {
		free(w);
		sl_params_free(e->ps);
		free(e);
		if (r0 < 0)
			sl_errorf("LAPACK's dgeev failed on the %dx%d reservoir", N, N);
		else
			sl_errorf("the reservoir's spectral radius is 0 at density=%g with units=%d (no cycles): raise "
				  "density or units",
				  (double)c->density, N);
		return NULL;
	}
	double scale = c->rho / r0;
	for (size_t i = 0; i < (size_t)N * N; i++)
		e->W->data[i] = (float)(w[i] * scale);
	free(w);
	e->radius = r0 * scale;
	/* W_in: sparse ±1; column 0 the bias */
	int cols = 1 + e->din;
	for (int i = 0; i < N; i++)
		for (int j = 0; j < cols; j++) {
			int on = sl_rng_double(&ri) < c->input_density;
			double sign = sl_rng_below(&ri, 2) ? 1.0 : -1.0;
			e->Win->data[(size_t)i * cols + j] =
				on ? (float)(sign * (j == 0 ? c->bias_scaling : c->input_scaling)) : 0.0f;
		}
	return e;
}

static void fit_forget(esn *e)
{
	free(e->xx);
	free(e->yx);
	free(e->sx);
	free(e->sy);
	free(e->syy);
	free(e->cx);
	free(e->cy);
	e->xx = e->yx = e->sx = e->sy = e->syy = e->cx = e->cy = NULL;
	e->nc = 0;
	e->nfit = 0;
}

static void esn_destroy(void *impl)
{
	esn *e = impl;
	fit_forget(e);
	sl_params_free(e->ps);
	free(e);
}

static sl_params *esn_params(void *impl)
{
	return ((esn *)impl)->ps;
}

/* X Xᵀ's kernel: blocks of SYRK_R rows by SYRK_C columns of C, the columns
 * as vectors of 8 doubles; every sum adds its chunk's terms in the order of
 * k. Our own, not dsyrk's: on processors Debian's OpenBLAS 0.3.21 does not
 * know it runs generic SSE3 kernels, a third of this rate. */
#define SYRK_R 4
#define SYRK_C 24
typedef double v8d __attribute__((vector_size(64)));

/* C (N, N) upper triangle += Xᵀ X for X (nk, ldx), the columns past N zero
 * (some entries below the diagonal get sums too: the solve reads the upper
 * triangle only). Twelve named sums, so they stay in registers. */
#if defined(__clang__)
#define SYRK_CONTRACT /* clang: the pragma in the body */
#else
#define SYRK_CONTRACT __attribute__((optimize("fp-contract=fast")))
#endif
SYRK_CONTRACT /* fused multiply-adds, as BLAS kernels */
static void syrk_upper(double *C, int N, const double *X, int nk, int ldx)
{
#if defined(__clang__)
#pragma clang fp contract(fast)
#endif
	for (int i0 = 0; i0 < N; i0 += SYRK_R)
		for (int j0 = i0 / SYRK_C * SYRK_C; j0 < N; j0 += SYRK_C) {
			v8d a00 = { 0 }, a01 = { 0 }, a02 = { 0 }, a10 = { 0 }, a11 = { 0 }, a12 = { 0 };
			v8d a20 = { 0 }, a21 = { 0 }, a22 = { 0 }, a30 = { 0 }, a31 = { 0 }, a32 = { 0 };
			for (int k = 0; k < nk; k++) {
				const double *xk = X + (size_t)k * ldx;
				v8d c0, c1, c2;
				memcpy(&c0, xk + j0, sizeof c0);
				memcpy(&c1, xk + j0 + 8, sizeof c1);
				memcpy(&c2, xk + j0 + 16, sizeof c2);
				double r0 = xk[i0], r1 = xk[i0 + 1], r2 = xk[i0 + 2], r3 = xk[i0 + 3];
				a00 += r0 * c0, a01 += r0 * c1, a02 += r0 * c2;
				a10 += r1 * c0, a11 += r1 * c1, a12 += r1 * c2;
				a20 += r2 * c0, a21 += r2 * c1, a22 += r2 * c2;
				a30 += r3 * c0, a31 += r3 * c1, a32 += r3 * c2;
			}
			v8d acc[SYRK_R][SYRK_C / 8] = {
				{ a00, a01, a02 }, { a10, a11, a12 }, { a20, a21, a22 }, { a30, a31, a32 }
			};
			for (int r = 0; r < SYRK_R && i0 + r < N; r++) {
				double *c = C + (size_t)(i0 + r) * N;
				const double *a = (const double *)acc[r];
				for (int j = j0; j < j0 + SYRK_C && j < N; j++)
					c[j] += a[j - j0];
			}
		}
}

/* The chunk into the sums: X Xᵀ += Xcᵀ Xc (upper triangle), Y Xᵀ += Ycᵀ Xc. */
static void fit_flush(esn *e)
{
	if (!e->nc)
		return;
	int N = e->N;
	syrk_upper(e->xx, N, e->cx, e->nc, e->ldx);
	cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, e->dout, N, e->nc, 1.0, e->cy, e->dout, e->cx, e->ldx,
		    1.0, e->yx, N);
	e->nc = 0;
}

/* Adds state x with target y (dout) to the fit. */
static void fit_row(esn *e, const double *x, const double *y)
{
	int N = e->N;
	memcpy(e->cx + (size_t)e->nc * e->ldx, x, (size_t)N * sizeof *x);
	memcpy(e->cy + (size_t)e->nc * e->dout, y, (size_t)e->dout * sizeof *y);
	for (int i = 0; i < N; i++)
		e->sx[i] += x[i];
	for (int o = 0; o < e->dout; o++) {
		e->sy[o] += y[o];
		e->syy[o] += y[o] * y[o];
	}
	e->nfit++;
	if (++e->nc == CHUNK)
		fit_flush(e);
}

static int esn_fit_add(void *impl, const sl_fit_batch *b)
{
	esn *e = impl;
	int N = e->N;
	if (e->tokens != (b->tok != NULL) || (!e->tokens && (b->din != e->din || b->dout != e->dout))) {
		fit_forget(e);
		sl_errorf("the esn was made for other data than this task's");
		return SL_ERR;
	}
	if (!e->xx) {
		e->xx = sl_xcalloc((size_t)N * N, sizeof *e->xx);
		e->yx = sl_xcalloc((size_t)e->dout * N, sizeof *e->yx);
		e->sx = sl_xcalloc((size_t)N, sizeof *e->sx);
		e->sy = sl_xcalloc((size_t)e->dout, sizeof *e->sy);
		e->syy = sl_xcalloc((size_t)e->dout, sizeof *e->syy);
		/* rows a block past N: the kernel reads whole blocks, zeros there */
		e->ldx = (N + SYRK_C - 1) / SYRK_C * SYRK_C;
		e->cx = sl_xcalloc((size_t)CHUNK * e->ldx, sizeof *e->cx);
		e->cy = sl_xmalloc((size_t)CHUNK * e->dout * sizeof *e->cy);
	}
	csr s;
	csr_build(e, &s);
	double *x = sl_xmalloc((size_t)N * sizeof *x), *pre = sl_xmalloc((size_t)N * sizeof *pre);
	double *u = sl_xmalloc((size_t)(e->din > 0 ? e->din : 1) * sizeof *u);
	double *y = sl_xcalloc((size_t)e->dout, sizeof *y);
	for (int bi = 0; bi < b->B; bi++) {
		memset(x, 0, (size_t)N * sizeof *x);
		for (int t = 0; t < b->T; t++) {
			size_t at = (size_t)bi * b->T + t;
			if (e->tokens) {
				int tok = b->tok[at];
				if (tok < 0 || tok >= e->din) {
					csr_free(&s);
					free(x), free(pre), free(u), free(y);
					fit_forget(e);
					sl_errorf("token %d is outside the esn's vocabulary of %d", tok, e->din);
					return SL_ERR;
				}
				reservoir_step(e, &s, b->pool, x, pre, NULL, tok);
				int want = b->tgt[at];
				if (want < 0 || want >= e->dout)
					continue;
				y[want] = 1.0;
				fit_row(e, x, y);
				y[want] = 0.0;
			} else {
				for (int d = 0; d < e->din; d++)
					u[d] = b->x[at * e->din + d];
				reservoir_step(e, &s, b->pool, x, pre, u, 0);
				int skip = 0;
				for (int o = 0; o < e->dout; o++) {
					y[o] = b->y[at * e->dout + o];
					skip |= isnan(y[o]);
				}
				if (!skip)
					fit_row(e, x, y);
			}
		}
	}
	csr_free(&s);
	free(x), free(pre), free(u), free(y);
	return SL_OK;
}

/* Centres the sums, adds βI and solves by Cholesky; W_out and b_out. The
 * training error from the sums: with centred C_xx, C_yx, C_yy, the squared
 * error of W is C_yy - 2 W·C_yx + W C_xx Wᵀ (the bias fits the means). */
static int esn_fit_solve(void *impl, double *mse)
{
	esn *e = impl;
	int N = e->N, D = e->dout, info = 0;
	if (!e->nfit) {
		fit_forget(e);
		sl_errorf("the esn's fit saw no positions to fit (all warm-up or unscored)");
		return SL_ERR;
	}
	fit_flush(e);
	double n = (double)e->nfit;
	double *mx = e->sx, *my = e->sy;
	for (int i = 0; i < N; i++)
		mx[i] /= n;
	for (int o = 0; o < D; o++)
		my[o] /= n;
	/* C_xx = X Xᵀ - n x̄ x̄ᵀ, both triangles (dsyrk filled the upper); a
	 * copy keeps it for the error, then + βI */
	double *A = e->xx;
	for (int i = 0; i < N; i++)
		for (int j = i; j < N; j++) {
			double v = A[(size_t)i * N + j] - n * mx[i] * mx[j];
			A[(size_t)i * N + j] = A[(size_t)j * N + i] = v;
		}
	double *Cxx = sl_xmalloc((size_t)N * N * sizeof *Cxx), *Cyx = sl_xmalloc((size_t)D * N * sizeof *Cyx);
	memcpy(Cxx, A, (size_t)N * N * sizeof *Cxx);
	for (int i = 0; i < N; i++)
		A[(size_t)i * N + i] += e->c.ridge;
	/* C_yx = Y Xᵀ - n ȳ x̄ᵀ: (D, N) row-major is column-major (N, D), the
	 * right-hand sides of C_xx W_outᵀ = C_yxᵀ */
	double *Bm = e->yx;
	for (int o = 0; o < D; o++)
		for (int i = 0; i < N; i++)
			Bm[(size_t)o * N + i] -= n * my[o] * mx[i];
	memcpy(Cyx, Bm, (size_t)D * N * sizeof *Cyx);
	dposv_("U", &N, &D, A, &N, Bm, &N, &info);
	if (info != 0) {
		free(Cxx);
		free(Cyx);
		fit_forget(e);
		if (info > 0)
			sl_errorf("the read-out's system is not positive definite (dposv: minor %d): raise ridge", info);
		else
			sl_errorf("LAPACK's dposv failed (info %d)", info);
		return SL_ERR;
	}
	double sse = 0, *cw = sl_xmalloc((size_t)N * sizeof *cw);
	for (int o = 0; o < D; o++) {
		double b = my[o];
		const double *w = Bm + (size_t)o * N;
		for (int i = 0; i < N; i++) {
			e->Wout->data[(size_t)o * N + i] = (float)w[i];
			b -= w[i] * mx[i];
		}
		e->bout->data[o] = (float)b;
		/* C_yy - 2 w·C_yx + w C_xx wᵀ for this output */
		cblas_dsymv(CblasRowMajor, CblasUpper, N, 1.0, Cxx, N, w, 1, 0.0, cw, 1);
		sse += e->syy[o] - n * my[o] * my[o] - 2 * cblas_ddot(N, w, 1, Cyx + (size_t)o * N, 1) +
		       cblas_ddot(N, w, 1, cw, 1);
	}
	*mse = fmax(sse, 0) / (n * D);
	free(cw);
	free(Cxx);
	free(Cyx);
	fit_forget(e);
	return SL_OK;
}

static sl_tensor *esn_regress(void *impl, sl_tape *tp, const float *x, int B, int T, int free_from)
{
	esn *e = impl;
	if (e->tokens) {
		sl_errorf("this esn reads tokens, not real values");
		return NULL;
	}
	if (free_from < T && e->din != e->dout) {
		sl_errorf("free running feeds the output back: it needs as many outputs as inputs (%d, %d)", e->dout,
			  e->din);
		return NULL;
	}
	int N = e->N;
	sl_tensor *out = sl_tape_tensor(tp, 3, (int[]){ B, T, e->dout });
	csr s;
	csr_build(e, &s);
	double *xs = sl_xmalloc((size_t)N * sizeof *xs), *pre = sl_xmalloc((size_t)N * sizeof *pre);
	double *u = sl_xmalloc((size_t)(e->din > 0 ? e->din : 1) * sizeof *u);
	double *y = sl_xcalloc((size_t)e->dout, sizeof *y);
	for (int b = 0; b < B; b++) {
		memset(xs, 0, (size_t)N * sizeof *xs);
		for (int t = 0; t < T; t++) {
			size_t at = (size_t)b * T + t;
			for (int d = 0; d < e->din; d++)
				u[d] = t >= free_from ? (double)(float)y[d] : x[at * e->din + d]; /* as written out */
			reservoir_step(e, &s, tp->pool, xs, pre, u, 0);
			readout(e, xs, y);
			for (int o = 0; o < e->dout; o++)
				out->data[at * e->dout + o] = (float)y[o];
		}
	}
	csr_free(&s);
	free(xs), free(pre), free(u), free(y);
	return out;
}

static sl_tensor *esn_lm(void *impl, sl_tape *tp, const int32_t *tok, int B, int T)
{
	esn *e = impl;
	if (!e->tokens) {
		sl_errorf("this esn reads real values, not tokens");
		return NULL;
	}
	int N = e->N, V = e->dout;
	sl_tensor *out = sl_tape_tensor(tp, 3, (int[]){ B, T, V });
	csr s;
	csr_build(e, &s);
	double *xs = sl_xmalloc((size_t)N * sizeof *xs), *pre = sl_xmalloc((size_t)N * sizeof *pre);
	double *y = sl_xmalloc((size_t)V * sizeof *y);
	int st = SL_OK;
	for (int b = 0; b < B && st == SL_OK; b++) {
		memset(xs, 0, (size_t)N * sizeof *xs);
		for (int t = 0; t < T; t++) {
			size_t at = (size_t)b * T + t;
			if (tok[at] < 0 || tok[at] >= e->din) {
				sl_errorf("token %d is outside the esn's vocabulary of %d", (int)tok[at], e->din);
				st = SL_ERR;
				break;
			}
			reservoir_step(e, &s, tp->pool, xs, pre, NULL, tok[at]);
			readout(e, xs, y);
			for (int v = 0; v < V; v++)
				out->data[at * V + v] = (float)y[v];
		}
	}
	csr_free(&s);
	free(xs), free(pre), free(y);
	return st == SL_OK ? out : NULL;
}

/* ---- step mode: the reservoir's state per sequence, a token at a time ---- */

typedef struct esn_state {
	int B, N;
	double *x;    /* (B, N) */
	double *pre;  /* (N) scratch */
	double *y;    /* (V) */
	csr w;
} esn_state;

static int esn_can_step(void *impl)
{
	return ((esn *)impl)->tokens;
}

static void *esn_state_new(void *impl, int B)
{
	esn *e = impl;
	esn_state *st = sl_xcalloc(1, sizeof *st);
	st->B = B;
	st->N = e->N;
	st->x = sl_xcalloc((size_t)B * e->N, sizeof *st->x);
	st->pre = sl_xmalloc((size_t)e->N * sizeof *st->pre);
	st->y = sl_xmalloc((size_t)e->dout * sizeof *st->y);
	csr_build(e, &st->w);
	return st;
}

static void esn_state_free(void *state)
{
	esn_state *st = state;
	csr_free(&st->w);
	free(st->x);
	free(st->pre);
	free(st->y);
	free(st);
}

static int esn_step(void *impl, sl_tape *tp, void *state, const int32_t *tok, float *logits)
{
	(void)tp;
	esn *e = impl;
	esn_state *st = state;
	for (int b = 0; b < st->B; b++) {
		if (tok[b] < 0 || tok[b] >= e->din) {
			sl_errorf("token %d is outside the esn's vocabulary of %d", (int)tok[b], e->din);
			return SL_ERR;
		}
		double *x = st->x + (size_t)b * e->N;
		reservoir_step(e, &st->w, NULL, x, st->pre, NULL, tok[b]);
		readout(e, x, st->y);
		for (int v = 0; v < e->dout; v++)
			logits[(size_t)b * e->dout + v] = (float)st->y[v];
	}
	return SL_OK;
}

static void esn_state_reorder(void *state, const int *parent, int n)
{
	esn_state *st = state;
	size_t N = (size_t)st->N;
	double *old = sl_xmalloc((size_t)st->B * N * sizeof *old);
	memcpy(old, st->x, (size_t)st->B * N * sizeof *old);
	for (int i = 0; i < n; i++) /* row i becomes the old row parent[i] */
		memcpy(st->x + (size_t)i * N, old + (size_t)parent[i] * N, N * sizeof *old);
	free(old);
}

static void esn_info(const void *impl, char *buf, size_t n)
{
	const esn *e = impl;
	int fitted = 0;
	for (size_t i = 0; i < sl_tensor_numel(e->Wout) && !fitted; i++)
		fitted = e->Wout->data[i] != 0.0f;
	snprintf(buf, n, "units=%d spectral_radius=%.6f nonzeros=%ld inputs=%d%s outputs=%d readout=%s", e->N,
		 e->radius, e->nnz, e->din, e->tokens ? "(one-hot)" : "", e->dout, fitted ? "fitted" : "unfitted");
}

const sl_model_kind sl_model_esn = {
	.name = "esn",
	.summary = "echo-state network: fixed sparse reservoir, ridge-regression read-out fitted in closed form",
	.options = esn_options,
	.cfg_size = sizeof(sl_esn_config),
	.create = esn_create,
	.destroy = esn_destroy,
	.params = esn_params,
	.lm = esn_lm,
	.can_step = esn_can_step,
	.state_new = esn_state_new,
	.state_free = esn_state_free,
	.step = esn_step,
	.state_reorder = esn_state_reorder,
	.regress = esn_regress,
	.fit_add = esn_fit_add,
	.fit_solve = esn_fit_solve,
	.info = esn_info,
};
