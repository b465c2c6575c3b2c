/* s4d.c - the S4D mixer (letter S; Gu et al. 2022; state-spaces/s4
 * models/s4/s4d.py and example.py): a diagonal linear time-invariant state
 * space per channel, applied as a causal convolution with its kernel
 * (computed once per forward pass) and stepped as a recurrence when
 * decoding:
 *
 *   K = S4D kernel (op_s4d.c);  y = K * u + D ⊙ u;  o = W GELU(y) (H -> 2H);
 *   h' = LayerNorm(h + o[:H] ⊙ σ(o[H:]))              (example.py, prenorm off)
 *
 * Initialisations: S4D-Lin A_n = -1/2 + iπn, S4D-Inv A_n = -1/2 +
 * i(N/π)(N/(2n+1) - 1), S4D-Real A_n = -(n+1), n < N/2 (N = state); C
 * complex normal (variance 1/2 a part); D ~ N(0,1); log Δ uniform in
 * [log dt_min, log dt_max]. Its optimizer rule: log Δ and A at lr <= 1e-3
 * and no weight decay (info lists the group). An LTI model: the same
 * kernel whatever the input, which is why it cannot select (the selective
 * copying task shows it). Where this differs from the reference: the
 * convolution is direct (the reference uses an FFT of length 2L; direct is
 * faster at seqlab's lengths and exact), and disc=zoh-approx means zoh
 * here. */
#include "seqlab/mixer.h"
#include "seqlab/nn.h"
#include "seqlab/ssm.h"

#include <assert.h>
#include <complex.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct s4d_config {
	int state;          /* N: N/2 complex modes per channel */
	int init;           /* INIT_LIN, INIT_INV, INIT_REAL */
	int disc;           /* enum sl_ssm_disc: zoh (zoh-approx too) or bilinear */
	float dt_min, dt_max;
} s4d_config;
static_assert(sizeof(s4d_config) <= SL_MIXER_CFG_MAX, "S4D's config fits a stack's slot");

enum { INIT_LIN, INIT_INV, INIT_REAL };
static const char *const init_names[] = { "lin", "inv", "real", NULL };
static const char *const disc_names[] = { "zoh", "zoh-approx", "bilinear", "euler", NULL };

#define OFF(f) offsetof(s4d_config, f)
static const sl_optspec options[] = {
	{ "state", SL_OPT_INT, OFF(state), "16", 2, 256, NULL, "state size N (S4D: N/2 complex modes)" },
	{ "init", SL_OPT_ENUM, OFF(init), "lin", 0, 0, init_names,
	  "S4D's A: lin -1/2+i pi n, inv -1/2+i(N/pi)(N/(2n+1)-1), real -(n+1)" },
	{ "disc", SL_OPT_ENUM, OFF(disc), "zoh", 0, 0, disc_names, "discretisation" },
	{ "dt_min", SL_OPT_FLOAT, OFF(dt_min), "0.001", 1e-6, 10, NULL, "smallest initial delta" },
	{ "dt_max", SL_OPT_FLOAT, OFF(dt_max), "0.1", 1e-6, 10, NULL, "largest initial delta" },
	{ NULL, 0, 0, NULL, 0, 0, NULL, NULL },
};
#undef OFF

typedef struct s4d_layer {
	sl_tensor *log_dt, *A_re_log, *A_im, *C, *D;
	sl_nn_linear out;
	sl_nn_norm norm;
	int M;              /* complex modes */
	const float *K;     /* the last forward pass's kernel (H, T), for the view */
	int T;
} s4d_layer;

static int bilinear(const s4d_config *c)
{
	return c->disc == SL_SSM_BILINEAR;
}

static int check(const void *cfg, const sl_mixer_ctx *ctx)
{
	const s4d_config *c = cfg;
	(void)ctx;
	if (c->disc == SL_SSM_EULER) {
		sl_errorf("disc=euler: S4D discretises by zoh or bilinear");
		return SL_ERR;
	}
	if (c->dt_min > c->dt_max) {
		sl_errorf("dt_min=%g exceeds dt_max=%g", c->dt_min, c->dt_max);
		return SL_ERR;
	}
	if (c->state % 2) {
		sl_errorf("state=%d: S4D's state is N/2 complex modes, so N is even", c->state);
		return SL_ERR;
	}
	return SL_OK;
}

static void add(void *layer, sl_params *ps, const char *prefix, const void *cfg, const sl_mixer_ctx *ctx)
{
	s4d_layer *ly = layer;
	const s4d_config *c = cfg;
	int H = ctx->hidden, M = c->state / 2, sHM[2] = { H, M }, sC[3] = { H, M, 2 };
	ly->M = M;
	char name[64];
#define N_(suffix) (snprintf(name, sizeof name, "%s.%s", prefix, suffix), name)
	ly->log_dt = sl_params_add(ps, N_("log_dt"), 1, &H, SL_PARAM_NO_DECAY);
	sl_params_set_init(ps, ly->log_dt, SL_INIT_MANUAL, 0, 0);
	ly->A_re_log = sl_params_add(ps, N_("A_re_log"), 2, sHM, SL_PARAM_NO_DECAY);
	sl_params_set_init(ps, ly->A_re_log, SL_INIT_MANUAL, 0, 0);
	ly->A_im = sl_params_add(ps, N_("A_im"), 2, sHM, SL_PARAM_NO_DECAY);
	sl_params_set_init(ps, ly->A_im, SL_INIT_MANUAL, 0, 0);
	ly->C = sl_params_add(ps, N_("C"), 3, sC, 0);
	sl_params_set_init(ps, ly->C, SL_INIT_NORMAL, 0, sqrtf(0.5f));
	ly->D = sl_params_add(ps, N_("D"), 1, &H, 0);
	sl_params_set_init(ps, ly->D, SL_INIT_NORMAL, 0, 1);
	sl_nn_linear_add(&ly->out, ps, N_("out"), H, 2 * H, 1);
	sl_nn_norm_add(&ly->norm, ps, N_("norm"), H, 0);
	/* the reference's rule: Δ and A at lr <= 1e-3, no weight decay */
	const sl_tensor *slow[] = { ly->log_dt, ly->A_re_log, ly->A_im };
	for (int i = 0; i < 3; i++)
		sl_params_set_lr_cap(ps, slow[i], 1e-3f);
#undef N_
}

static void init(void *layer, const void *cfg, const sl_mixer_ctx *ctx, const sl_rng *rng)
{
	s4d_layer *ly = layer;
	const s4d_config *c = cfg;
	int H = ctx->hidden, M = ly->M, N = c->state;
	sl_rng r = sl_rng_split_str(rng, ly->log_dt->name);
	double lo = log(c->dt_min), hi = log(c->dt_max);
	for (int h = 0; h < H; h++)
		ly->log_dt->data[h] = (float)(lo + (hi - lo) * sl_rng_double(&r));
	for (int h = 0; h < H; h++)
		for (int n = 0; n < M; n++) {
			size_t i = (size_t)h * M + n;
			double re = 0.5, im;
			if (c->init == INIT_REAL) {
				re = n + 1;
				im = 0;
			} else if (c->init == INIT_INV) {
				im = N / M_PI * ((double)N / (2 * n + 1) - 1);
			} else {
				im = M_PI * n;
			}
			ly->A_re_log->data[i] = (float)log(re);
			ly->A_im->data[i] = (float)im;
		}
}

/* the block from g = GELU(y) on: out, the gated residual, the norm */
static sl_tensor *block_g(s4d_layer *ly, sl_tape *tp, sl_tensor *h, sl_tensor *g)
{
	sl_tensor *o = sl_nn_linear_forward(&ly->out, tp, g); /* (B, T, 2H) */
	/* h + o[..., :H] ⊙ σ(o[..., H:]), fused */
	return sl_nn_norm_forward(&ly->norm, tp, sl_glu_residual(tp, h, o, NULL));
}

static sl_tensor *block(s4d_layer *ly, sl_tape *tp, sl_tensor *h, sl_tensor *y)
{
	return block_g(ly, tp, h, sl_gelu(tp, y));
}

static sl_tensor *forward(void *layer, const void *cfg, const sl_mixer_ctx *ctx, sl_tape *tp, sl_tensor *h)
{
	s4d_layer *ly = layer;
	const s4d_config *c = cfg;
	int T = sl_tensor_dim(h, 1);
	sl_tensor *K = sl_s4d_kernel(tp, ly->log_dt, ly->A_re_log, ly->A_im, ly->C, T, bilinear(c));
	ly->K = K->data;
	ly->T = T;
	sl_tensor *skip = sl_colmul(tp, h, ly->D), *conv = sl_causal_conv(tp, h, K);
	if (!tp->training || ctx->dropout == 0.0f) /* GELU(conv + D ⊙ h): the sum and GELU fused */
		return block_g(ly, tp, h, sl_gelu_skip(tp, conv, skip, NULL));
	return block(ly, tp, h, sl_dropout(tp, sl_add(tp, conv, skip), ctx->dropout));
}

static int normalises(const void *cfg)
{
	(void)cfg;
	return 1;
}

/* ---- step mode: x <- Ā x + B̄ u, y = 2 Re(C x) + D u (in double) -------------------- */

typedef struct s4d_state {
	int B, H, M;
	double complex *x; /* (B, H, M) */
} s4d_state;

static void *state_new(const void *layer, const void *cfg, const sl_mixer_ctx *ctx, int B)
{
	(void)cfg;
	const s4d_layer *ly = layer;
	s4d_state *st = sl_xcalloc(1, sizeof *st);
	st->B = B;
	st->H = ctx->hidden;
	st->M = ly->M;
	st->x = sl_xcalloc((size_t)B * st->H * st->M, sizeof *st->x);
	return st;
}

static void state_free(void *state)
{
	s4d_state *st = state;
	if (st)
		free(st->x);
	free(st);
}

static void state_reorder(void *state, const int *parent, int n)
{
	s4d_state *st = state;
	sl_mixer_reorder_rows(st->x, (size_t)st->H * st->M * sizeof *st->x, st->B, parent, n);
}

static sl_tensor *step(const void *layer, const void *cfg, const sl_mixer_ctx *ctx, sl_tape *tp, void *state,
		       sl_tensor *h)
{
	s4d_layer *ly = (s4d_layer *)layer;
	const s4d_config *c = cfg;
	s4d_state *st = state;
	(void)ctx;
	int B = st->B, H = st->H, M = st->M, s3[3] = { B, 1, H };
	sl_tensor *y = sl_tape_tensor(tp, 3, s3);
	for (int hh = 0; hh < H; hh++) {
		double dt = exp((double)ly->log_dt->data[hh]);
		for (int b = 0; b < B; b++) {
			double u = h->data[(size_t)b * H + hh], acc = 0;
			for (int n = 0; n < M; n++) {
				size_t i = (size_t)hh * M + n;
				double complex A = -exp((double)ly->A_re_log->data[i]) + I * (double)ly->A_im->data[i];
				double complex w = dt * A, ab, bb;
				if (bilinear(c)) {
					ab = (1 + w / 2) / (1 - w / 2);
					bb = dt / (1 - w / 2);
				} else {
					ab = cexp(w);
					bb = cabs(w) < 1e-6 ? dt * (1 + w / 2) : (cexp(w) - 1) / A;
				}
				double complex *x = st->x + ((size_t)b * H + hh) * M + n;
				*x = ab * *x + bb * u;
				acc += 2 * creal(((double)ly->C->data[2 * i] + I * (double)ly->C->data[2 * i + 1]) * *x);
			}
			y->data[(size_t)b * H + hh] = (float)(acc + (double)ly->D->data[hh] * u);
		}
	}
	return block(ly, tp, h, y);
}

/* x_t = Abar x_{t-1} + Bbar u_t per channel and complex mode, Abar the same
 * at every step: ||∂x_p/∂x_t||_F² = 2 Σ |Abar|^{2(p-t)} */
static int jacobian(const void *layer, const void *cfg, const sl_mixer_ctx *ctx, sl_tape *tp, int p, float *norm)
{
	(void)ctx;
	(void)tp;
	const s4d_layer *ly = layer;
	const s4d_config *c = cfg;
	if (!ly->K || p < 0 || p >= ly->T) {
		sl_errorf("the S4D block has not run yet");
		return SL_ERR;
	}
	int H = ly->log_dt->shape[0], M = ly->M;
	float *r = sl_xmalloc((size_t)H * M * sizeof *r);
	for (int hh = 0; hh < H; hh++) {
		double dt = exp((double)ly->log_dt->data[hh]);
		for (int n = 0; n < M; n++) {
			size_t i = (size_t)hh * M + n;
			double complex w = dt * (-exp((double)ly->A_re_log->data[i]) + I * (double)ly->A_im->data[i]);
			r[i] = (float)cabs(bilinear(c) ? (1 + w / 2) / (1 - w / 2) : cexp(w));
		}
	}
	sl_mixer_diag_jacobian(r, 0, H * M, p, norm);
	free(r);
	return SL_OK;
}

/* ---- views ------------------------------------------------------------------------ */

static const sl_mixer_view views[] = {
	{ "kernel", "the convolution kernel K per channel (rows) and lag (columns): what the LTI model "
		    "does with every input, whatever the input" },
	{ NULL, NULL },
};

static int view(const void *layer, const void *cfg, const sl_mixer_ctx *ctx, int which, sl_mixer_grid *out, int max)
{
	(void)cfg;
	(void)which;
	const s4d_layer *ly = layer;
	if (!ly->K) {
		sl_errorf("the S4D block has not run yet");
		return 0;
	}
	if (max < 1)
		return 0;
	sl_mixer_grid *g = out;
	memset(g, 0, sizeof *g);
	snprintf(g->title, sizeof g->title, "K (channel x lag)");
	g->rows = ctx->hidden;
	g->cols = ly->T;
	g->row_kind = g->col_kind = SL_GRID_INDEX;
	g->v = sl_xmalloc((size_t)g->rows * g->cols * sizeof *g->v);
	memcpy(g->v, ly->K, (size_t)g->rows * g->cols * sizeof *g->v);
	return 1;
}

static void work(const void *cfg, const sl_mixer_ctx *ctx, double B, double T, sl_work *w)
{
	(void)cfg;
	int H = ctx->hidden;
	w->lin(w->ud, B * T, H, 2 * H);
	w->other += 3.0 * B * H * T * T; /* the causal convolution: T²/2 multiply-adds a channel */
}

const sl_mixer_kind sl_mixer_s4d = {
	.letter = 'S',
	.name = "s4d",
	.summary = "S4D: a diagonal LTI state space per channel, as a causal convolution with its kernel",
	.options = options,
	.cfg_size = sizeof(s4d_config),
	.layer_size = sizeof(s4d_layer),
	.check = check,
	.add = add,
	.init = init,
	.forward = forward,
	.normalises = normalises,
	.state_new = state_new,
	.state_free = state_free,
	.state_reorder = state_reorder,
	.step = step,
	.views = views,
	.view = view,
	.jacobian = jacobian,
	.work = work,
};
