/* lru.c - the LRU mixer (letter L; Orvieto et al. 2023, "Resurrecting
 * recurrent neural networks for long sequences"; NicolasZucchet/minimal-LRU
 * lru/model.py): a residual block
 *
 *   u = LayerNorm(h);  x_t = λ ⊙ x_{t-1} + γ ⊙ (B u_t);  y_t = Re(C x_t) + D ⊙ u_t;
 *   h + out1(g) ⊙ σ(out2(g)),  g = GELU(y)
 *
 * with λ_n = exp(-exp(ν_n) + i exp(θ_n)) (stable by construction),
 * γ_n = sqrt(1 - |λ_n|²) (stored as its log, trained), B (N x H) and C
 * (H x N) complex, D (H) real. The ring initialisation draws |λ|² uniformly
 * in [r_min², r_max²] and the phase in [0, max_phase].
 *
 * Stored as seqlab's layers: B as one linear layer of weight [B_re; B_im]
 * (2N, H), C as [C_re, -C_im] (H, 2N) so Re(C x) is one product with
 * [x_re; x_im] (the sign is absorbed: C's parts are drawn symmetric). As
 * the reference trains it, ν, θ, γ and B are a parameter group at half the
 * learning rate without weight decay (info lists the groups). Where
 * this differs from minimal-LRU: GELU is the exact (erf) form where flax's
 * default is tanh's approximation, and out1/out2 start as torch's Linear
 * rather than lecun-normal. */
#include "seqlab/mixer.h"
#include "seqlab/nn.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct lru_config {
	int state;            /* N complex lanes */
	float r_min, r_max;   /* the ring of initial |λ| */
	float max_phase;
	int scan;             /* enum sl_ssm_scan: seq, parallel (no log-space scan) */
} lru_config;
static_assert(sizeof(lru_config) <= SL_MIXER_CFG_MAX, "the LRU's config fits a stack's slot");

static const char *const scan_names[] = { "seq", "parallel", "log", NULL };

#define OFF(f) offsetof(lru_config, f)
static const sl_optspec options[] = {
	{ "state", SL_OPT_INT, OFF(state), "16", 1, 4096, NULL, "state size N (complex lanes)" },
	{ "r_min", SL_OPT_FLOAT, OFF(r_min), "0", 0, 0.9999, NULL, "LRU: smallest initial |lambda|" },
	{ "r_max", SL_OPT_FLOAT, OFF(r_max), "1", 0.0001, 1, NULL, "LRU: largest initial |lambda|" },
	{ "max_phase", SL_OPT_FLOAT, OFF(max_phase), "6.28", 0, 6.2832, NULL, "LRU: largest initial phase of lambda" },
	{ "scan", SL_OPT_ENUM, OFF(scan), "seq", 0, 0, scan_names, "scan: plain loop, Blelloch, log-space" },
	{ NULL, 0, 0, NULL, 0, 0, NULL, NULL },
};
#undef OFF

typedef struct lru_layer {
	sl_nn_norm norm;
	sl_nn_linear B, C, out1, out2;
	sl_tensor *nu_log, *theta_log, *gamma_log, *D;
	/* the last forward pass, for the views: x (B, T, 2N) */
	const float *x;
	int T;
} lru_layer;

static int check(const void *cfg, const sl_mixer_ctx *ctx)
{
	const lru_config *c = cfg;
	(void)ctx;
	if (c->r_min >= c->r_max) {
		sl_errorf("r_min=%g must be below r_max=%g", c->r_min, c->r_max);
		return SL_ERR;
	}
	if (c->scan == 2) {
		sl_errorf("scan=log: the LRU's complex lanes have the loop and Blelloch's scan (seq, parallel)");
		return SL_ERR;
	}
	return SL_OK;
}

static void add(void *layer, sl_params *ps, const char *prefix, const void *cfg, const sl_mixer_ctx *ctx)
{
	lru_layer *ly = layer;
	const lru_config *c = cfg;
	int H = ctx->hidden, N = c->state;
	char name[64];
#define N_(suffix) (snprintf(name, sizeof name, "%s.%s", prefix, suffix), name)
	sl_nn_norm_add(&ly->norm, ps, N_("norm"), H, 0);
	sl_nn_linear_add(&ly->B, ps, N_("B"), H, 2 * N, 0);
	sl_params_set_init(ps, ly->B.w, SL_INIT_NORMAL, 0, 1.0f / sqrtf(2.0f * H));
	ly->nu_log = sl_params_add(ps, N_("nu_log"), 1, &N, SL_PARAM_NO_DECAY);
	sl_params_set_init(ps, ly->nu_log, SL_INIT_MANUAL, 0, 0);
	ly->theta_log = sl_params_add(ps, N_("theta_log"), 1, &N, SL_PARAM_NO_DECAY);
	sl_params_set_init(ps, ly->theta_log, SL_INIT_MANUAL, 0, 0);
	ly->gamma_log = sl_params_add(ps, N_("gamma_log"), 1, &N, SL_PARAM_NO_DECAY);
	sl_params_set_init(ps, ly->gamma_log, SL_INIT_MANUAL, 0, 0);
	sl_nn_linear_add(&ly->C, ps, N_("C"), 2 * N, H, 0);
	sl_params_set_init(ps, ly->C.w, SL_INIT_NORMAL, 0, 1.0f / sqrtf((float)N));
	ly->D = sl_params_add(ps, N_("D"), 1, &H, SL_PARAM_NO_DECAY);
	sl_params_set_init(ps, ly->D, SL_INIT_NORMAL, 0, 1);
	sl_nn_linear_add(&ly->out1, ps, N_("out1"), H, H, 1);
	sl_nn_linear_add(&ly->out2, ps, N_("out2"), H, H, 1);
	/* the reference's optimizer groups: ν, θ, γ and B at half the learning
	 * rate, without weight decay */
	ps->flags[sl_params_index(ps, ly->B.w->name)] |= SL_PARAM_NO_DECAY;
	const sl_tensor *half[] = { ly->nu_log, ly->theta_log, ly->gamma_log, ly->B.w };
	for (int i = 0; i < 4; i++)
		sl_params_set_lr_scale(ps, half[i], 0.5f);
#undef N_
}

/* the ring: |λ|² uniform in [r_min², r_max²], phase uniform in [0, max_phase] */
static void init(void *layer, const void *cfg, const sl_mixer_ctx *ctx, const sl_rng *rng)
{
	(void)ctx;
	lru_layer *ly = layer;
	const lru_config *c = cfg;
	sl_rng r = sl_rng_split_str(rng, ly->nu_log->name);
	double lo = (double)c->r_min * c->r_min, hi = (double)c->r_max * c->r_max;
	for (int n = 0; n < c->state; n++) {
		double u1 = sl_rng_double(&r), u2 = sl_rng_double(&r);
		double nu = log(-0.5 * log(u1 * (hi - lo) + lo));
		double th = log(c->max_phase * u2);
		if (!isfinite(nu))
			nu = log(-0.5 * log(1e-12)); /* u1 at 0 with r_min 0: |λ| ~ 1e-6 */
		if (!isfinite(th))
			th = log(1e-6);
		double mod = exp(-exp(nu));
		ly->nu_log->data[n] = (float)nu;
		ly->theta_log->data[n] = (float)th;
		ly->gamma_log->data[n] = (float)log(sqrt(1 - mod * mod));
	}
}

/* h + out1(g) ⊙ σ(out2(g)), g = GELU(Re(C x) + D ⊙ u): the fused ops (one
 * pass each way for the skip and GELU; out1 and out2 as one product over
 * both weights, [o1, o2], whose halves the gate and the residual take in
 * one pass; the chain's bits), or the chain when dropout sits before the
 * residual */
static sl_tensor *tail(const lru_layer *ly, sl_tape *tp, sl_tensor *h, sl_tensor *u, sl_tensor *x, float dropout)
{
	sl_tensor *g = sl_gelu_skip(tp, sl_nn_linear_forward(&ly->C, tp, x), u, ly->D);
	if (!tp->training || dropout == 0.0f)
		return sl_glu_residual(tp, h, sl_linear_pair(tp, g, ly->out1.w, ly->out1.b, ly->out2.w, ly->out2.b),
				       NULL);
	sl_tensor *o2 = sl_nn_linear_forward(&ly->out2, tp, g);
	sl_tensor *o1 = sl_nn_linear_forward(&ly->out1, tp, g);
	return sl_add(tp, h, sl_dropout(tp, sl_mul(tp, o1, sl_sigmoid(tp, o2)), dropout));
}

static sl_tensor *forward(void *layer, const void *cfg, const sl_mixer_ctx *ctx, sl_tape *tp, sl_tensor *h)
{
	lru_layer *ly = layer;
	const lru_config *c = cfg;
	(void)ctx;
	sl_tensor *u = sl_nn_norm_forward(&ly->norm, tp, h);
	sl_tensor *bu = sl_nn_linear_forward(&ly->B, tp, u);                        /* (B, T, 2N) */
	sl_tensor *x = sl_lru(tp, ly->nu_log, ly->theta_log, ly->gamma_log, bu, c->scan == 1);
	ly->x = x->data;
	ly->T = sl_tensor_dim(h, 1);
	return tail(ly, tp, h, u, x, ctx->dropout);
}

/* ---- step mode ------------------------------------------------------------------- */

typedef struct lru_state {
	int B, N;
	float *x; /* (B, 2N) */
} lru_state;

static void *state_new(const void *layer, const void *cfg, const sl_mixer_ctx *ctx, int B)
{
	(void)layer;
	(void)ctx;
	const lru_config *c = cfg;
	lru_state *st = sl_xcalloc(1, sizeof *st);
	st->B = B;
	st->N = c->state;
	st->x = sl_xcalloc((size_t)B * 2 * c->state, sizeof(float));
	return st;
}

static void state_free(void *state)
{
	lru_state *st = state;
	if (st)
		free(st->x);
	free(st);
}

static void state_reorder(void *state, const int *parent, int n)
{
	lru_state *st = state;
	sl_mixer_reorder_rows(st->x, 2 * (size_t)st->N * sizeof(float), st->B, parent, n);
}

static sl_tensor *step(const void *layer, const void *cfg, const sl_mixer_ctx *ctx, sl_tape *tp, void *state,
		       sl_tensor *h)
{
	const lru_layer *ly = layer;
	lru_state *st = state;
	(void)cfg;
	int B = st->B, N = st->N;
	sl_tensor *u = sl_nn_norm_forward(&ly->norm, tp, h);
	sl_tensor *bu = sl_nn_linear_forward(&ly->B, tp, u); /* (B, 1, 2N) */
	int s3[3] = { B, 1, 2 * N };
	sl_tensor *x = sl_tape_tensor(tp, 3, s3);
	for (int n = 0; n < N; n++) {
		/* λ and γ as the op computes them */
		double r = exp(-exp((double)ly->nu_log->data[n])), ph = exp((double)ly->theta_log->data[n]);
		float lr = (float)(r * cos(ph)), li = (float)(r * sin(ph));
		float gam = (float)exp((double)ly->gamma_log->data[n]);
		for (int b = 0; b < B; b++) {
			float *xs = st->x + (size_t)b * 2 * N;
			const float *bb = bu->data + (size_t)b * 2 * N;
			float xr = xs[n], xi = xs[N + n];
			float nr = (lr * xr - li * xi) + gam * bb[n], ni = (lr * xi + li * xr) + gam * bb[N + n];
			xs[n] = x->data[(size_t)b * 2 * N + n] = nr;
			xs[N + n] = x->data[(size_t)b * 2 * N + N + n] = ni;
		}
	}
	(void)ctx;
	return tail(ly, tp, h, u, x, 0.0f);
}

/* ---- views ------------------------------------------------------------------------ */

enum { VIEW_LAMBDA, VIEW_STATE };
static const sl_mixer_view views[] = {
	[VIEW_LAMBDA] = { "lambda", "the eigenvalues on the unit disc: how many fall in each cell "
				    "(rows: imaginary part from +1 down to -1; columns: real part from -1 to +1)" },
	[VIEW_STATE] = { "state", "|x_t| per position and state lane" },
	{ NULL, NULL },
};

#define DISC_BINS 21

/* x_t = λ ⊙ x_{t-1} + ...: each complex state's Jacobian block is |λ|
 * times a rotation, so ||∂x_p/∂x_t||_F² = 2 Σ_n |λ_n|^{2(p-t)} */
static int jacobian(const void *layer, const void *cfg, const sl_mixer_ctx *ctx, sl_tape *tp, int p, float *norm)
{
	(void)ctx;
	(void)tp;
	const lru_layer *ly = layer;
	const lru_config *c = cfg;
	if (!ly->x || p < 0 || p >= ly->T) {
		sl_errorf("the LRU block has not run yet");
		return SL_ERR;
	}
	int N = c->state;
	float *r = sl_xmalloc((size_t)N * sizeof *r);
	for (int n = 0; n < N; n++)
		r[n] = (float)exp(-exp((double)ly->nu_log->data[n]));
	sl_mixer_diag_jacobian(r, 0, N, p, norm);
	free(r);
	return SL_OK;
}

static int view(const void *layer, const void *cfg, const sl_mixer_ctx *ctx, int which, sl_mixer_grid *out, int max)
{
	(void)ctx;
	const lru_layer *ly = layer;
	const lru_config *c = cfg;
	int N = c->state;
	if (max < 1)
		return 0;
	sl_mixer_grid *g = out;
	memset(g, 0, sizeof *g);
	if (which == VIEW_LAMBDA) {
		/* a scatter of λ drawn as counts in a grid over [-1, 1]²: the trained
		 * eigenvalues, whatever ran last */
		snprintf(g->title, sizeof g->title, "lambda on the unit disc (counts)");
		g->rows = g->cols = DISC_BINS;
		g->row_kind = g->col_kind = SL_GRID_INDEX;
		g->v = sl_xcalloc((size_t)DISC_BINS * DISC_BINS, sizeof *g->v);
		for (int n = 0; n < N; n++) {
			double r = exp(-exp((double)ly->nu_log->data[n])), ph = exp((double)ly->theta_log->data[n]);
			double re = r * cos(ph), im = r * sin(ph);
			int col = (int)floor((re + 1) / 2 * DISC_BINS), row = (int)floor((1 - im) / 2 * DISC_BINS);
			col = col < 0 ? 0 : col >= DISC_BINS ? DISC_BINS - 1 : col;
			row = row < 0 ? 0 : row >= DISC_BINS ? DISC_BINS - 1 : row;
			g->v[(size_t)row * DISC_BINS + col] += 1;
		}
		return 1;
	}
	if (!ly->x) {
		sl_errorf("the LRU block has not run yet");
		return 0;
	}
	int T = ly->T;
	snprintf(g->title, sizeof g->title, "|x| (position x state)");
	g->rows = T;
	g->cols = N;
	g->col_kind = SL_GRID_INDEX;
	g->v = sl_xmalloc((size_t)T * N * sizeof *g->v);
	for (int t = 0; t < T; t++)
		for (int n = 0; n < N; n++) { /* sequence 0 */
			float re = ly->x[(size_t)t * 2 * N + n], im = ly->x[(size_t)t * 2 * N + N + n];
			g->v[(size_t)t * N + n] = sqrtf(re * re + im * im);
		}
	return 1;
}

static void work(const void *cfg, const sl_mixer_ctx *ctx, double B, double T, sl_work *w)
{
	const lru_config *c = cfg;
	int H = ctx->hidden, N = c->state;
	w->lin(w->ud, B * T, H, 2 * N);
	w->lin(w->ud, B * T, 2 * N, H);
	w->lin(w->ud, B * T, H, H);
	w->lin(w->ud, B * T, H, H);
}

const sl_mixer_kind sl_mixer_lru = {
	.letter = 'L',
	.name = "lru",
	.summary = "linear recurrent unit: a complex diagonal recurrence, stable by construction, and a GLU",
	.options = options,
	.cfg_size = sizeof(lru_config),
	.layer_size = sizeof(lru_layer),
	.check = check,
	.add = add,
	.init = init,
	.forward = forward,
	.state_new = state_new,
	.state_free = state_free,
	.state_reorder = state_reorder,
	.step = step,
	.views = views,
	.view = view,
	.jacobian = jacobian,
	.work = work,
};
