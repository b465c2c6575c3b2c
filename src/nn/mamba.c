/* mamba.c - the Mamba mixer (letter M; Gu and Dao, 2023): a pre-RMSNorm
 * residual block of in-projection, causal depthwise convolution, SiLU, the
 * selective scan with input-dependent delta, B and C, a SiLU gate and an
 * out-projection; its recurrent step mode; its views (delta, the decay each
 * earlier input keeps, B, C). The mamba model is a stack of these. */
#include "seqlab/fastmath.h"
#include "seqlab/mixer.h"
#include "seqlab/nn.h"
#include "seqlab/ssm.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { AINIT_S4D_REAL, AINIT_CONST, AINIT_S4D_LIN };

typedef struct mamba_config {
	int state, expand, conv, dt_rank; /* dt_rank 0: ceil(hidden / 16) */
	int a_init;                       /* AINIT_* */
	int disc, scan;                   /* enum sl_ssm_disc, sl_ssm_scan */
	float dt_min, dt_max;             /* delta initialised log-uniform in [dt_min, dt_max] */
} mamba_config;
static_assert(sizeof(mamba_config) <= SL_MIXER_CFG_MAX, "mamba's config fits a stack's slot");

static const char *const ainit_names[] = { "s4d-real", "const", "s4d-lin", NULL };
static const char *const disc_names[] = { "zoh", "zoh-approx", "bilinear", "euler", NULL };
static const char *const scan_names[] = { "seq", "parallel", "log", NULL };

#define OFF(f) offsetof(mamba_config, f)
static const sl_optspec options[] = {
	{ "state", SL_OPT_INT, OFF(state), "16", 1, 256, NULL, "SSM state size N per channel" },
	{ "expand", SL_OPT_INT, OFF(expand), "2", 1, 8, NULL, "inner width as a multiple of hidden" },
	{ "conv", SL_OPT_INT, OFF(conv), "4", 1, 16, NULL, "causal depthwise convolution width" },
	{ "dt_rank", SL_OPT_INT, OFF(dt_rank), "0", 0, 1024, NULL, "rank of the delta projection; 0 = ceil(hidden/16)" },
	{ "a_init", SL_OPT_ENUM, OFF(a_init), "s4d-real", 0, 0, ainit_names,
	  "A initialisation: s4d-real A_n = -(n+1), const A = -1, s4d-lin A = -1/2" },
	{ "disc", SL_OPT_ENUM, OFF(disc), "zoh-approx", 0, 0, disc_names, "discretisation" },
	{ "scan", SL_OPT_ENUM, OFF(scan), "seq", 0, 0, scan_names, "scan: plain loop, Blelloch, log-space" },
	{ "dt_min", SL_OPT_FLOAT, OFF(dt_min), "0.001", 1e-6, 10, NULL, "smallest initial delta" },
	{ "dt_max", SL_OPT_FLOAT, OFF(dt_max), "0.1", 1e-6, 10, NULL, "largest initial delta" },
	{ NULL, 0, 0, NULL, 0, 0, NULL, NULL },
};
#undef OFF

typedef struct mamba_layer {
	sl_nn_norm norm;
	sl_nn_linear in_proj, x_proj, dt_proj, out_proj;
	sl_tensor *conv_w, *conv_b, *A_log, *D;
	/* the last forward pass, for the views: delta (B, T, E), Bm and Cm
	 * (B, T, N); valid until the tape is reset */
	float *delta, *Bm, *Cm;
	int T;
} mamba_layer;

/* The inner width E, delta rank R and state size N of a configuration. */
static void dims(const mamba_config *c, int hidden, int *E, int *R, int *N)
{
	*E = c->expand * hidden;
	*R = c->dt_rank ? c->dt_rank : (hidden + 15) / 16;
	*N = c->state;
}

static int check(const void *cfg, const sl_mixer_ctx *ctx)
{
	const mamba_config *c = cfg;
	(void)ctx;
	if (c->dt_min > c->dt_max) {
		sl_errorf("dt_min=%g exceeds dt_max=%g", c->dt_min, c->dt_max);
		return SL_ERR;
	}
	return SL_OK;
}

static void add(void *layer, sl_params *ps, const char *prefix, const void *cfg, const sl_mixer_ctx *ctx)
{
	mamba_layer *ly = layer;
	const mamba_config *c = cfg;
	int H = ctx->hidden, K = c->conv, E, R, N;
	dims(c, H, &E, &R, &N);
	char name[64];
#define N_(suffix) (snprintf(name, sizeof name, "%s.%s", prefix, suffix), name)
	sl_nn_norm_add(&ly->norm, ps, N_("norm"), H, 1);
	sl_nn_linear_add(&ly->in_proj, ps, N_("in_proj"), H, 2 * E, 0);
	int cw[2] = { E, K };
	float cb = 1.0f / sqrtf((float)K); /* torch Conv1d: fan_in = K (one channel per group) */
	ly->conv_w = sl_params_add(ps, N_("conv.w"), 2, cw, 0);
	sl_params_set_init(ps, ly->conv_w, SL_INIT_UNIFORM, -cb, cb);
	ly->conv_b = sl_params_add(ps, N_("conv.b"), 1, &E, SL_PARAM_NO_DECAY);
	sl_params_set_init(ps, ly->conv_b, SL_INIT_UNIFORM, -cb, cb);
	sl_nn_linear_add(&ly->x_proj, ps, N_("x_proj"), E, R + 2 * N, 0);
	sl_nn_linear_add(&ly->dt_proj, ps, N_("dt_proj"), R, E, 1);
	float ds = 1.0f / sqrtf((float)R);
	sl_params_set_init(ps, ly->dt_proj.w, SL_INIT_UNIFORM, -ds, ds);
	sl_params_set_init(ps, ly->dt_proj.b, SL_INIT_MANUAL, 0, 0);
	int an[2] = { E, N };
	ly->A_log = sl_params_add(ps, N_("A_log"), 2, an, SL_PARAM_NO_DECAY);
	sl_params_set_init(ps, ly->A_log, SL_INIT_MANUAL, 0, 0);
	ly->D = sl_params_add(ps, N_("D"), 1, &E, SL_PARAM_NO_DECAY);
	sl_params_set_init(ps, ly->D, SL_INIT_CONST, 1, 0);
	sl_nn_linear_add(&ly->out_proj, ps, N_("out_proj"), E, H, 0);
#undef N_
}

static void init(void *layer, const void *cfg, const sl_mixer_ctx *ctx, const sl_rng *rng)
{
	mamba_layer *ly = layer;
	const mamba_config *c = cfg;
	int E, R, N;
	dims(c, ctx->hidden, &E, &R, &N);
	/* delta log-uniform in [dt_min, dt_max]; the bias is its inverse softplus */
	sl_rng r = sl_rng_split_str(rng, ly->dt_proj.b->name);
	for (int e = 0; e < E; e++) {
		double lo = log(c->dt_min), hi = log(c->dt_max);
		double dt = exp(lo + (hi - lo) * sl_rng_double(&r));
		dt = dt < 1e-4 ? 1e-4 : dt;
		ly->dt_proj.b->data[e] = (float)(dt + log(-expm1(-dt)));
	}
	for (int e = 0; e < E; e++)
		for (int n = 0; n < N; n++) {
			double a = c->a_init == AINIT_S4D_REAL ? n + 1 : c->a_init == AINIT_CONST ? 1 : 0.5;
			ly->A_log->data[(size_t)e * N + n] = (float)log(a);
		}
}

static sl_tensor *forward(void *layer, const void *cfg, const sl_mixer_ctx *ctx, sl_tape *tp, sl_tensor *h)
{
	mamba_layer *ly = layer;
	const mamba_config *c = cfg;
	int E, R, N;
	dims(c, ctx->hidden, &E, &R, &N);
	sl_tensor *u = sl_nn_norm_forward(&ly->norm, tp, h);
	/* (B, T, 2E): x and z, read in place by the conv (columns [0, E)) and
	 * the scan's gate (columns [E, 2E)) */
	sl_tensor *xz = sl_nn_linear_forward(&ly->in_proj, tp, u);
	sl_tensor *xc = sl_conv1d_causal_silu_at(tp, xz, 0, ly->conv_w, ly->conv_b);
	sl_tensor *dbc = sl_nn_linear_forward(&ly->x_proj, tp, xc);          /* (B, T, R + 2N) */
	sl_tensor *dt = sl_slice(tp, dbc, 2, 0, R);
	sl_tensor *Bm = sl_slice(tp, dbc, 2, R, N), *Cm = sl_slice(tp, dbc, 2, R + N, N);
	sl_tensor *A = sl_scale(tp, sl_exp(tp, ly->A_log), -1.0f);               /* (E, N) */
	/* delta = softplus(dt_proj(dt)) (B, T, E), the softplus inside the scan */
	sl_tensor *delta;
	sl_tensor *y = sl_ssm_softplus_at(tp, xc, sl_nn_linear_forward(&ly->dt_proj, tp, dt), A, Bm, Cm, ly->D, xz, E,
					  c->disc, c->scan, &delta);
	ly->delta = delta->data;
	ly->Bm = Bm->data;
	ly->Cm = Cm->data;
	ly->T = sl_tensor_dim(h, 1);
	/* h + out_proj(y) in one op (the same bits as the add after it) */
	return sl_nn_linear_residual(&ly->out_proj, tp, y, h, 0.0f);
}

/* ---- step mode -------------------------------------------------------------- */

typedef struct mamba_state {
	int B;
	size_t conv_w, h_w; /* floats per sequence in conv and h */
	float *conv; /* (B, E, K-1): the last K-1 inputs of each channel, oldest first */
	float *h;    /* (B, E, N) */
} mamba_state;

static void *state_new(const void *layer, const void *cfg, const sl_mixer_ctx *ctx, int B)
{
	(void)layer;
	const mamba_config *c = cfg;
	int E, R, N, K = c->conv;
	dims(c, ctx->hidden, &E, &R, &N);
	mamba_state *st = sl_xcalloc(1, sizeof *st);
	st->B = B;
	st->conv_w = (size_t)E * (K > 1 ? K - 1 : 1);
	st->h_w = (size_t)E * N;
	st->conv = sl_xcalloc((size_t)B * E * (K > 1 ? K - 1 : 1), sizeof(float));
	st->h = sl_xcalloc((size_t)B * E * N, sizeof(float));
	return st;
}

static void state_reorder(void *state, const int *parent, int n)
{
	mamba_state *st = state;
	sl_mixer_reorder_rows(st->conv, st->conv_w * sizeof(float), st->B, parent, n);
	sl_mixer_reorder_rows(st->h, st->h_w * sizeof(float), st->B, parent, n);
}

static void state_free(void *state)
{
	mamba_state *st = state;
	if (!st)
		return;
	free(st->conv);
	free(st->h);
	free(st);
}

static inline float silu1(float v)
{
	return v / (1.0f + sl_fexp(-v));
}

static sl_tensor *step(const void *layer, const void *cfg, const sl_mixer_ctx *ctx, sl_tape *tp, void *state,
		       sl_tensor *x)
{
	const mamba_layer *ly = layer;
	const mamba_config *c = cfg;
	mamba_state *st = state;
	int B = st->B, K = c->conv, E, R, N;
	dims(c, ctx->hidden, &E, &R, &N);
	int s3[3] = { B, 1, E };
	sl_tensor *u = sl_nn_norm_forward(&ly->norm, tp, x);
	sl_tensor *xz = sl_nn_linear_forward(&ly->in_proj, tp, u); /* (B, 1, 2E) */
	sl_tensor *xc = sl_tape_tensor(tp, 3, s3);
	const float *w = ly->conv_w->data, *cb = ly->conv_b->data;
	for (int b = 0; b < B; b++) {
		float *buf = st->conv + (size_t)b * E * (K - 1);
		const float *xi = xz->data + (size_t)b * 2 * E;
		for (int e = 0; e < E; e++) {
			float *be = buf + (size_t)e * (K - 1);
			float acc = cb[e] + w[(size_t)e * K + K - 1] * xi[e];
			for (int k = 0; k < K - 1; k++)
				acc += w[(size_t)e * K + k] * be[k];
			for (int k = 0; k + 1 < K - 1; k++)
				be[k] = be[k + 1];
			if (K > 1)
				be[K - 2] = xi[e];
			xc->data[(size_t)b * E + e] = silu1(acc);
		}
	}
	sl_tensor *dbc = sl_nn_linear_forward(&ly->x_proj, tp, xc);
	sl_tensor *dt = sl_slice(tp, dbc, 2, 0, R);
	sl_tensor *delta = sl_softplus(tp, sl_nn_linear_forward(&ly->dt_proj, tp, dt)); /* (B, 1, E) */
	sl_tensor *y = sl_tape_tensor(tp, 3, s3);
	float *Aneg = sl_arena_alloc(tp->arena, (size_t)E * N * sizeof(float));
	for (int i = 0; i < E * N; i++)
		Aneg[i] = -sl_fexp(ly->A_log->data[i]);
	float *ab = sl_arena_alloc(tp->arena, (size_t)N * sizeof(float));
	float *bxs = sl_arena_alloc(tp->arena, (size_t)N * sizeof(float));
	for (int b = 0; b < B; b++) {
		const float *Bn = dbc->data + (size_t)b * (R + 2 * N) + R, *Cn = Bn + N;
		const float *xi = xc->data + (size_t)b * E, *z = xz->data + (size_t)b * 2 * E + E;
		const float *dl = delta->data + (size_t)b * E;
		float *h = st->h + (size_t)b * E * N;
		for (int e = 0; e < E; e++) {
			float acc = 0.0f, xe = xi[e];
			float *he = h + (size_t)e * N;
			/* this channel's N states discretised and advanced as the op
			 * does (its operations in its order): Ā and g, h = Ā h + g B x
			 * fused, y = C.h + D x, out = y z σ(z) */
			sl_ssm_disc_row(c->disc, dl[e], Aneg + (size_t)e * N, N, ab, bxs);
			for (int n = 0; n < N; n++)
				bxs[n] *= Bn[n] * xe;
			for (int n = 0; n < N; n++) {
				float hv = SL_FMA(ab[n], he[n], bxs[n]);
				he[n] = hv;
				acc = SL_FMA(Cn[n], hv, acc);
			}
			acc = SL_FMA(ly->D->data[e], xe, acc);
			y->data[(size_t)b * E + e] = acc * z[e] * (1.0f / (1.0f + sl_fexp(-z[e])));
		}
	}
	return sl_nn_linear_residual(&ly->out_proj, tp, y, x, 0.0f);
}

/* ---- views ------------------------------------------------------------------ */

enum { VIEW_DECAY, VIEW_DELTA, VIEW_B, VIEW_C };
static const sl_mixer_view views[] = {
	[VIEW_DECAY] = { "decay", "the weight the state at row t still gives the input at column s, "
				  "prod Abar over (s, t], averaged over channels and states" },
	[VIEW_DELTA] = { "delta", "the step size per position and channel" },
	[VIEW_B] = { "B", "the input matrix B per position and state" },
	[VIEW_C] = { "C", "the output matrix C per position and state" },
	{ NULL, NULL },
};

/* Abar (T, E, N) of sequence 0 of the last forward pass (caller frees). */
static float *abar_of(const mamba_layer *ly, const mamba_config *c, int T, int E, int N)
{
	int ds[3] = { 1, T, E }, as[2] = { E, N };
	sl_tensor delta = { .data = ly->delta }, A = { 0 };
	sl_shape_set(&delta, 3, ds);
	sl_shape_set(&A, 2, as);
	float *Aneg = sl_xmalloc((size_t)E * N * sizeof *Aneg);
	for (int i = 0; i < E * N; i++)
		Aneg[i] = -expf(ly->A_log->data[i]);
	A.data = Aneg;
	float *abar = sl_xmalloc((size_t)T * E * N * sizeof *abar);
	sl_ssm_abar(c->disc, &delta, &A, abar);
	free(Aneg);
	return abar;
}

/* decay[t][s] = mean over channels and states of prod_{k=s+1..t} Abar_k */
static float *decay(const mamba_layer *ly, const mamba_config *c, int T, int E, int N)
{
	float *abar = abar_of(ly, c, T, E, N);
	float *dec = sl_xcalloc((size_t)T * T, sizeof *dec);
	double *prod = sl_xmalloc((size_t)E * N * sizeof *prod);
	for (int t = 0; t < T; t++) {
		/* walk s from t down to 0, multiplying in Abar_{s+1} */
		for (int i = 0; i < E * N; i++)
			prod[i] = 1;
		for (int s2 = t; s2 >= 0; s2--) {
			if (s2 < t)
				for (int i = 0; i < E * N; i++)
					prod[i] *= abar[(size_t)(s2 + 1) * E * N + i];
			double sum = 0;
			for (int i = 0; i < E * N; i++)
				sum += prod[i];
			dec[(size_t)t * T + s2] = (float)(sum / (E * N));
		}
	}
	free(prod);
	free(abar);
	return dec;
}

/* s_t = Abar_t ⊙ s_{t-1} + Bbar_t x_t: ∂s_p/∂s_t = diag(prod Abar over (t, p]) */
static int jacobian(const void *layer, const void *cfg, const sl_mixer_ctx *ctx, sl_tape *tp, int p, float *norm)
{
	(void)tp;
	const mamba_layer *ly = layer;
	if (!ly->delta || p < 0 || p >= ly->T) {
		sl_errorf("the mamba block has not run yet");
		return SL_ERR;
	}
	int E, R, N;
	dims(cfg, ctx->hidden, &E, &R, &N);
	float *abar = abar_of(ly, cfg, ly->T, E, N);
	sl_mixer_diag_jacobian(abar, (size_t)E * N, E * N, p, norm);
	free(abar);
	return SL_OK;
}

static int view(const void *layer, const void *cfg, const sl_mixer_ctx *ctx, int which, sl_mixer_grid *out, int max)
{
	const mamba_layer *ly = layer;
	const mamba_config *c = cfg;
	if (!ly->delta) {
		sl_errorf("the mamba block has not run yet");
		return 0;
	}
	if (max < 1)
		return 0;
	int E, R, N, T = ly->T;
	dims(c, ctx->hidden, &E, &R, &N);
	sl_mixer_grid *g = out;
	memset(g, 0, sizeof *g);
	g->rows = T;
	g->col_kind = SL_GRID_INDEX;
	switch (which) {
	case VIEW_DELTA:
		snprintf(g->title, sizeof g->title, "delta (position x channel)");
		g->cols = E;
		g->v = sl_xmalloc((size_t)T * E * sizeof *g->v);
		memcpy(g->v, ly->delta, (size_t)T * E * sizeof *g->v); /* sequence 0 */
		break;
	case VIEW_B:
	case VIEW_C:
		snprintf(g->title, sizeof g->title, "%s (position x state)", which == VIEW_B ? "B" : "C");
		g->cols = N;
		g->v = sl_xmalloc((size_t)T * N * sizeof *g->v);
		memcpy(g->v, which == VIEW_B ? ly->Bm : ly->Cm, (size_t)T * N * sizeof *g->v);
		break;
	default:
		snprintf(g->title, sizeof g->title, "decay (row t keeps column s)");
		g->cols = T;
		g->col_kind = SL_GRID_POS;
		g->v = decay(ly, c, T, E, N);
		g->fixed = 1;
		g->lo = 0;
		g->hi = 1;
		break;
	}
	return 1;
}

static void work(const void *cfg, const sl_mixer_ctx *ctx, double B, double T, sl_work *w)
{
	int H = ctx->hidden, E, R, N;
	dims(cfg, H, &E, &R, &N);
	w->lin(w->ud, B * T, H, 2 * E);
	w->lin(w->ud, B * T, E, R + 2 * N);
	w->lin(w->ud, B * T, R, E);
	w->lin(w->ud, B * T, E, H);
}

const sl_mixer_kind sl_mixer_mamba = {
	.letter = 'M',
	.name = "mamba",
	.summary = "Mamba's block: selective state space with input-dependent delta, B and C, gated",
	.options = options,
	.cfg_size = sizeof(mamba_config),
	.layer_size = sizeof(mamba_layer),
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
