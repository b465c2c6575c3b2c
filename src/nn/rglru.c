/* rglru.c - the RG-LRU mixer (letter R; De et al. 2024, "Griffin";
 * google-deepmind/recurrentgemma torch/layers.py and modules.py): the
 * residual block of Hawk and Griffin around the recurrent block
 *
 *   u = RMSNorm(h);  y = GELU(W_y u);  x = conv4(W_x u);
 *   r_t = σ(W_a x_t + b_a),  i_t = σ(W_i x_t + b_i)      (block-diagonal, heads blocks)
 *   log a_t = -8 r_t softplus(Λ);  z_t = a_t z_{t-1} + sqrt(1 - a_t²) (i_t x_t),
 *   z_0 = i_0 x_0 (the reference's reset: no sqrt(1 - a²) at the first position)
 *   h' = h + W_o(z ⊙ y);  then h' + MLP(RMSNorm(h')), MLP = down(GELU(up0) ⊙ up1)
 *
 * with Λ initialised so that a_t at r_t = 1 is a0^8... precisely a0² uniform
 * in [0.9², 0.999²] and Λ = softplus⁻¹(-½ log a0²) (rnn_param_init), the gate
 * weights N(0, 1/block width) with zero biases. The MLP is mlp x hidden wide
 * (3 in the reference; mlp=0: none). Where this differs from recurrentgemma:
 * GELU is the exact (erf) form where the reference uses tanh's
 * approximation, RMSNorm's gain is stored as g (initialised 1) rather than
 * 1 + scale (initialised 0) -- the same function, but weight decay pulls g
 * to 0 where the reference pulls scale to 0 (seqlab puts no decay on gains)
 * -- and W_x, W_y, W_o and the convolution start as torch's defaults. */
#include "seqlab/mixer.h"
#include "seqlab/nn.h"
#include "seqlab/fastmath.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct rglru_config {
	int width;    /* the recurrence's width; 0 = hidden */
	int heads;    /* blocks of the gates' block-diagonal weights */
	int conv;     /* temporal convolution width */
	int mlp;      /* MLP width as a multiple of hidden; 0 = none */
	int scan;     /* enum sl_ssm_scan: seq or parallel */
} rglru_config;
static_assert(sizeof(rglru_config) <= SL_MIXER_CFG_MAX, "the RG-LRU's config fits a stack's slot");

static const char *const scan_names[] = { "seq", "parallel", "log", NULL };

#define OFF(f) offsetof(rglru_config, f)
static const sl_optspec options[] = {
	{ "width", SL_OPT_INT, OFF(width), "0", 0, 4096, NULL, "RG-LRU: the recurrence's width; 0 = hidden" },
	{ "heads", SL_OPT_INT, OFF(heads), "4", 1, 64, NULL, "heads (the RG-LRU's gates: diagonal blocks)" },
	{ "conv", SL_OPT_INT, OFF(conv), "4", 1, 16, NULL, "causal depthwise convolution width" },
	{ "mlp", SL_OPT_INT, OFF(mlp), "3", 0, 16, NULL, "MLP width as a multiple of hidden; 0 = no MLP" },
	{ "scan", SL_OPT_ENUM, OFF(scan), "seq", 0, 0, scan_names, "scan: plain loop, Blelloch, log-space" },
	{ NULL, 0, 0, NULL, 0, 0, NULL, NULL },
};
#undef OFF

/* y = x W + b with W block-diagonal: heads blocks (bw, bw) */
typedef struct bd_linear {
	sl_tensor *w, *b; /* (heads, bw, bw), (heads * bw) */
	int heads, bw;
} bd_linear;

typedef struct rglru_layer {
	sl_nn_norm norm, norm2;
	sl_nn_linear wy, wx, wo;
	sl_tensor *conv_w, *conv_b, *a_param;
	bd_linear ga, gi;
	sl_nn_linear up0, up1, down;
	int has_mlp, W;
	/* the last forward pass, for the views: the a-gate's input (B, T, W) */
	const float *gate_a;
	int T;
} rglru_layer;

static int width(const rglru_config *c, int hidden)
{
	return c->width ? c->width : hidden;
}

static int check(const void *cfg, const sl_mixer_ctx *ctx)
{
	const rglru_config *c = cfg;
	int W = width(c, ctx->hidden);
	if (W % c->heads) {
		sl_errorf("the RG-LRU's width %d is not divisible by heads=%d", W, c->heads);
		return SL_ERR;
	}
	if (c->scan == 2) {
		sl_errorf("scan=log: the RG-LRU has the loop and Blelloch's scan (seq, parallel)");
		return SL_ERR;
	}
	return SL_OK;
}

static void bd_add(bd_linear *l, sl_params *ps, const char *name, int W, int heads)
{
	char buf[96];
	l->heads = heads;
	l->bw = W / heads;
	int s[3] = { heads, l->bw, l->bw };
	snprintf(buf, sizeof buf, "%s.w", name);
	l->w = sl_params_add(ps, buf, 3, s, 0);
	sl_params_set_init(ps, l->w, SL_INIT_NORMAL, 0, 1.0f / sqrtf((float)l->bw));
	snprintf(buf, sizeof buf, "%s.b", name);
	l->b = sl_params_add(ps, buf, 1, &W, SL_PARAM_NO_DECAY);
}

/* one op: a strided product per block, the bias added (no transposes) */
static sl_tensor *bd_forward(const bd_linear *l, sl_tape *tp, sl_tensor *x)
{
	return sl_bdlinear(tp, x, l->w, l->b);
}

static void add(void *layer, sl_params *ps, const char *prefix, const void *cfg, const sl_mixer_ctx *ctx)
{
	rglru_layer *ly = layer;
	const rglru_config *c = cfg;
	int H = ctx->hidden, W = width(c, H), K = c->conv;
	ly->W = W;
	char name[64];
#define N_(suffix) (snprintf(name, sizeof name, "%s.%s", prefix, suffix), name)
	sl_nn_norm_add(&ly->norm, ps, N_("norm"), H, 1);
	sl_nn_linear_add(&ly->wy, ps, N_("wy"), H, W, 1);
	sl_nn_linear_add(&ly->wx, ps, N_("wx"), H, W, 1);
	int cw[2] = { W, K };
	float cb = 1.0f / sqrtf((float)K);
	ly->conv_w = sl_params_add(ps, N_("conv.w"), 2, cw, 0);
	sl_params_set_init(ps, ly->conv_w, SL_INIT_UNIFORM, -cb, cb);
	ly->conv_b = sl_params_add(ps, N_("conv.b"), 1, &W, SL_PARAM_NO_DECAY);
	sl_params_set_init(ps, ly->conv_b, SL_INIT_UNIFORM, -cb, cb);
	bd_add(&ly->ga, ps, N_("gate_a"), W, c->heads);
	bd_add(&ly->gi, ps, N_("gate_x"), W, c->heads);
	ly->a_param = sl_params_add(ps, N_("a_param"), 1, &W, SL_PARAM_NO_DECAY);
	sl_params_set_init(ps, ly->a_param, SL_INIT_MANUAL, 0, 0);
	sl_nn_linear_add(&ly->wo, ps, N_("wo"), W, H, 1);
	if (c->mlp > 0) {
		ly->has_mlp = 1;
		sl_nn_norm_add(&ly->norm2, ps, N_("norm2"), H, 1);
		sl_nn_linear_add(&ly->up0, ps, N_("up0"), H, c->mlp * H, 1);
		sl_nn_linear_add(&ly->up1, ps, N_("up1"), H, c->mlp * H, 1);
		sl_nn_linear_add(&ly->down, ps, N_("down"), c->mlp * H, H, 1);
	}
#undef N_
}

/* rnn_param_init: a0² uniform in [0.9², 0.999²], Λ = softplus⁻¹(-½ log a0²) */
static void init(void *layer, const void *cfg, const sl_mixer_ctx *ctx, const sl_rng *rng)
{
	(void)cfg;
	(void)ctx;
	rglru_layer *ly = layer;
	sl_rng r = sl_rng_split_str(rng, ly->a_param->name);
	double lo = 0.9 * 0.9 + 1e-8, hi = 0.999 * 0.999 + 1e-8;
	for (int d = 0; d < ly->W; d++) {
		double u = lo + (hi - lo) * sl_rng_double(&r);
		double v = -0.5 * log(u); /* softplus(Λ) */
		ly->a_param->data[d] = (float)log(expm1(v));
	}
}

static sl_tensor *mlp(rglru_layer *ly, sl_tape *tp, sl_tensor *h, float p)
{
	if (!ly->has_mlp)
		return h;
	sl_tensor *u = sl_nn_norm_forward(&ly->norm2, tp, h);
	sl_tensor *g = sl_gelu_mul(tp, sl_nn_linear_forward(&ly->up0, tp, u), sl_nn_linear_forward(&ly->up1, tp, u));
	return sl_add(tp, h, sl_dropout(tp, sl_nn_linear_forward(&ly->down, tp, g), p));
}

static sl_tensor *forward(void *layer, const void *cfg, const sl_mixer_ctx *ctx, sl_tape *tp, sl_tensor *h)
{
	rglru_layer *ly = layer;
	const rglru_config *c = cfg;
	sl_tensor *u = sl_nn_norm_forward(&ly->norm, tp, h);
	sl_tensor *y = sl_nn_linear_forward(&ly->wy, tp, u); /* W_y u: GELU applies in sl_gelu_mul with z */
	sl_tensor *x = sl_conv1d_causal(tp, sl_nn_linear_forward(&ly->wx, tp, u), ly->conv_w, ly->conv_b);
	sl_tensor *ga = bd_forward(&ly->ga, tp, x), *gi = bd_forward(&ly->gi, tp, x);
	sl_tensor *z = sl_rglru(tp, x, ga, gi, ly->a_param, c->scan == 1);
	ly->gate_a = ga->data;
	ly->T = sl_tensor_dim(h, 1);
	h = sl_add(tp, h, sl_dropout(tp, sl_nn_linear_forward(&ly->wo, tp, sl_gelu_mul(tp, y, z)), ctx->dropout));
	return mlp(ly, tp, h, ctx->dropout);
}

/* ---- step mode ------------------------------------------------------------------- */

/* a_t = exp(-8 σ(ga) softplus(Λ)) as the op computes it (fastmath.h's
 * sigmoid and exp), for the step and the views */
static inline float a_of(float ga, float sp)
{
	return sl_fexp(-8.0f * sl_fsigmoid(ga) * sp);
}

typedef struct rglru_state {
	int B, W, K;
	float *conv; /* (B, W, K-1): the last K-1 inputs of each channel, oldest first */
	float *z;    /* (B, W) */
	int t;       /* steps taken: the first has no sqrt(1 - a²) */
} rglru_state;

static void *state_new(const void *layer, const void *cfg, const sl_mixer_ctx *ctx, int B)
{
	(void)ctx;
	const rglru_layer *ly = layer;
	const rglru_config *c = cfg;
	rglru_state *st = sl_xcalloc(1, sizeof *st);
	st->B = B;
	st->W = ly->W;
	st->K = c->conv;
	st->conv = sl_xcalloc((size_t)B * ly->W * (c->conv > 1 ? c->conv - 1 : 1), sizeof(float));
	st->z = sl_xcalloc((size_t)B * ly->W, sizeof(float));
	return st;
}

static void state_free(void *state)
{
	rglru_state *st = state;
	if (!st)
		return;
	free(st->conv);
	free(st->z);
	free(st);
}

static void state_reorder(void *state, const int *parent, int n)
{
	rglru_state *st = state;
	size_t cw = (size_t)st->W * (st->K > 1 ? st->K - 1 : 1) * sizeof(float);
	sl_mixer_reorder_rows(st->conv, cw, st->B, parent, n);
	sl_mixer_reorder_rows(st->z, (size_t)st->W * sizeof(float), st->B, parent, n);
}

static sl_tensor *step(const void *layer, const void *cfg, const sl_mixer_ctx *ctx, sl_tape *tp, void *state,
		       sl_tensor *h)
{
	(void)cfg;
	rglru_layer *ly = (rglru_layer *)layer;
	rglru_state *st = state;
	int B = st->B, W = st->W, K = st->K;
	sl_tensor *u = sl_nn_norm_forward(&ly->norm, tp, h);
	sl_tensor *y = sl_nn_linear_forward(&ly->wy, tp, u);
	sl_tensor *xin = sl_nn_linear_forward(&ly->wx, tp, u); /* (B, 1, W) */
	int s3[3] = { B, 1, W };
	sl_tensor *x = sl_tape_tensor(tp, 3, s3);
	const float *w = ly->conv_w->data, *cb = ly->conv_b->data;
	for (int b = 0; b < B; b++) {
		float *buf = st->conv + (size_t)b * W * (K - 1);
		const float *xi = xin->data + (size_t)b * W;
		for (int e = 0; e < W; e++) {
			float *be = buf + (size_t)e * (K - 1);
			float acc = cb[e];
			/* the op's order: taps oldest first, the current input last */
			for (int k = 0; k < K - 1; k++)
				acc += w[(size_t)e * K + k] * be[k];
			acc += w[(size_t)e * K + K - 1] * xi[e];
			for (int k = 0; k + 1 < K - 1; k++)
				be[k] = be[k + 1];
			if (K > 1)
				be[K - 2] = xi[e];
			x->data[(size_t)b * W + e] = acc;
		}
	}
	sl_tensor *ga = bd_forward(&ly->ga, tp, x), *gi = bd_forward(&ly->gi, tp, x);
	sl_tensor *z = sl_tape_tensor(tp, 3, s3);
	for (int e = 0; e < W; e++) {
		float v = ly->a_param->data[e], sp = v > 20.0f ? v : log1pf(expf(v));
		for (int b = 0; b < B; b++) {
			size_t k = (size_t)b * W + e;
			float i = sl_fsigmoid(gi->data[k]), a = a_of(ga->data[k], sp);
			float m = st->t ? sqrtf(fmaxf(1.0f - a * a, 0.0f)) : 1.0f;
			st->z[k] = a * st->z[k] + m * i * x->data[k];
			z->data[k] = st->z[k];
		}
	}
	st->t++;
	h = sl_add(tp, h, sl_nn_linear_forward(&ly->wo, tp, sl_gelu_mul(tp, y, z)));
	return mlp(ly, tp, h, ctx->dropout);
}

/* ---- views ------------------------------------------------------------------------ */

static const sl_mixer_view views[] = {
	{ "a", "the recurrence gate a_t per position and channel (near 1: remember; near 0: forget)" },
	{ NULL, NULL },
};

/* z_t = a_t ⊙ z_{t-1} + ...: ∂z_p/∂z_t = diag(prod a over (t, p]), a_t as
 * the view computes it */
static int jacobian(const void *layer, const void *cfg, const sl_mixer_ctx *ctx, sl_tape *tp, int p, float *norm)
{
	(void)cfg;
	(void)ctx;
	(void)tp;
	const rglru_layer *ly = layer;
	if (!ly->gate_a || p < 0 || p >= ly->T) {
		sl_errorf("the RG-LRU block has not run yet");
		return SL_ERR;
	}
	int T = ly->T, W = ly->W;
	float *a = sl_xmalloc((size_t)T * W * sizeof *a);
	for (int e = 0; e < W; e++) {
		float v = ly->a_param->data[e], sp = v > 20.0f ? v : log1pf(expf(v));
		for (int t = 0; t < T; t++) {
			a[(size_t)t * W + e] = a_of(ly->gate_a[(size_t)t * W + e], sp);
		}
	}
	sl_mixer_diag_jacobian(a, (size_t)W, W, p, norm);
	free(a);
	return SL_OK;
}

static int view(const void *layer, const void *cfg, const sl_mixer_ctx *ctx, int which, sl_mixer_grid *out, int max)
{
	(void)cfg;
	(void)ctx;
	(void)which;
	const rglru_layer *ly = layer;
	if (!ly->gate_a) {
		sl_errorf("the RG-LRU block has not run yet");
		return 0;
	}
	if (max < 1)
		return 0;
	int T = ly->T, W = ly->W;
	sl_mixer_grid *g = out;
	memset(g, 0, sizeof *g);
	snprintf(g->title, sizeof g->title, "a_t (position x channel)");
	g->rows = T;
	g->cols = W;
	g->col_kind = SL_GRID_INDEX;
	g->fixed = 1;
	g->lo = 0;
	g->hi = 1;
	g->v = sl_xmalloc((size_t)T * W * sizeof *g->v);
	for (int e = 0; e < W; e++) {
		float v = ly->a_param->data[e], sp = v > 20.0f ? v : log1pf(expf(v));
		for (int t = 0; t < T; t++) { /* sequence 0 */
			g->v[(size_t)t * W + e] = a_of(ly->gate_a[(size_t)t * W + e], sp);
		}
	}
	return 1;
}

static void work(const void *cfg, const sl_mixer_ctx *ctx, double B, double T, sl_work *w)
{
	const rglru_config *c = cfg;
	int H = ctx->hidden, W = width(c, H), bw = W / c->heads;
	w->lin(w->ud, B * T, H, W);
	w->lin(w->ud, B * T, H, W);
	w->lin(w->ud, B * T * c->heads, bw, bw);
	w->lin(w->ud, B * T * c->heads, bw, bw);
	w->lin(w->ud, B * T, W, H);
	if (c->mlp) {
		w->lin(w->ud, B * T, H, c->mlp * H);
		w->lin(w->ud, B * T, H, c->mlp * H);
		w->lin(w->ud, B * T, c->mlp * H, H);
	}
}

const sl_mixer_kind sl_mixer_rglru = {
	.letter = 'R',
	.name = "rglru",
	.summary = "Hawk/Griffin's recurrent block: gated real diagonal recurrence (RG-LRU), conv, GELU gate, MLP",
	.options = options,
	.cfg_size = sizeof(rglru_config),
	.layer_size = sizeof(rglru_layer),
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
