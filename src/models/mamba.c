/* mamba.c - the Mamba LM: blocks, full forward, recurrent step mode. */
#include "seqlab/mamba.h"
#include "seqlab/fastmath.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const ainit_names[] = { "s4d-real", "const", "s4d-lin", NULL };
static const char *const disc_names[] = { "zoh", "zoh-approx", "bilinear", "euler", NULL };
static const char *const scan_names[] = { "seq", "parallel", "log", NULL };

#define OFF(f) offsetof(sl_mamba_config, f)
const sl_optspec sl_mamba_options[] = {
	{ "hidden", SL_OPT_INT, OFF(hidden), "64", 4, 1024, NULL, "model width" },
	{ "layers", SL_OPT_INT, OFF(layers), "2", 1, 16, NULL, "Mamba blocks" },
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

/* The inner width E, Δ rank R and state size N of a configuration. */
static void dims(const sl_mamba_config *cfg, int *E, int *R, int *N)
{
	*E = cfg->expand * cfg->hidden;
	*R = cfg->dt_rank ? cfg->dt_rank : (cfg->hidden + 15) / 16;
	*N = cfg->state;
}

void sl_mamba_layer_add(sl_mamba_layer *ly, sl_params *ps, const char *prefix, const sl_mamba_config *cfg)
{
	int H = cfg->hidden, K = cfg->conv, E, R, N;
	dims(cfg, &E, &R, &N);
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

void sl_mamba_layer_init(sl_mamba_layer *ly, const sl_mamba_config *cfg, const sl_rng *rng)
{
	int E, R, N;
	dims(cfg, &E, &R, &N);
	/* Δ log-uniform in [dt_min, dt_max]; the bias is its inverse softplus */
	sl_rng r = sl_rng_split_str(rng, ly->dt_proj.b->name);
	for (int e = 0; e < E; e++) {
		double lo = log(cfg->dt_min), hi = log(cfg->dt_max);
		double dt = exp(lo + (hi - lo) * sl_rng_double(&r));
		dt = dt < 1e-4 ? 1e-4 : dt;
		ly->dt_proj.b->data[e] = (float)(dt + log(-expm1(-dt)));
	}
	for (int e = 0; e < E; e++)
		for (int n = 0; n < N; n++) {
			double a = cfg->a_init == SL_AINIT_S4D_REAL ? n + 1 : cfg->a_init == SL_AINIT_CONST ? 1 : 0.5;
			ly->A_log->data[(size_t)e * N + n] = (float)log(a);
		}
}

sl_mamba *sl_mamba_new(const sl_mamba_config *cfg, const sl_rng *rng)
{
	return sl_mamba_new_fixed(cfg, NULL, 0, rng);
}

sl_mamba *sl_mamba_new_fixed(const sl_mamba_config *cfg, const float *fixed, int fixed_dim, const sl_rng *rng)
{
	if (cfg->layers > 16) {
		sl_errorf("layers=%d: at most 16", cfg->layers);
		return NULL;
	}
	if (cfg->dt_min > cfg->dt_max) {
		sl_errorf("dt_min=%g exceeds dt_max=%g", cfg->dt_min, cfg->dt_max);
		return NULL;
	}
	if (fixed && fixed_dim > cfg->hidden) {
		sl_errorf("the task's fixed embeddings have %d dimensions: hidden=%d is too small", fixed_dim,
			  cfg->hidden);
		return NULL;
	}
	sl_mamba *m = sl_xcalloc(1, sizeof *m);
	m->cfg = *cfg;
	int H = cfg->hidden;
	dims(cfg, &m->E, &m->R, &m->N);
	m->ps = sl_params_new();
	m->emb_fixed = fixed != NULL;
	if (fixed)
		sl_nn_embedding_fixed(&m->emb, fixed, cfg->vocab, fixed_dim, H);
	else
		sl_nn_embedding_add(&m->emb, m->ps, "emb", cfg->vocab, H);
	m->layer = sl_xcalloc((size_t)cfg->layers, sizeof *m->layer);
	for (int l = 0; l < cfg->layers; l++) {
		char prefix[16];
		snprintf(prefix, sizeof prefix, "l%d", l);
		sl_mamba_layer_add(&m->layer[l], m->ps, prefix, cfg);
	}
	sl_nn_norm_add(&m->norm_f, m->ps, "norm_f", H, 1);
	sl_nn_linear_add(&m->out, m->ps, "out", H, cfg->vocab, 1);
	sl_params_alloc(m->ps);
	sl_params_init(m->ps, rng);
	for (int l = 0; l < cfg->layers; l++)
		sl_mamba_layer_init(&m->layer[l], cfg, rng);
	return m;
}

void sl_mamba_free(sl_mamba *m)
{
	if (!m)
		return;
	if (m->emb_fixed)
		sl_nn_embedding_fixed_free(&m->emb);
	sl_params_free(m->ps);
	free(m->layer);
	free(m);
}

sl_tensor *sl_mamba_layer_forward(const sl_mamba_layer *ly, const sl_mamba_config *cfg, sl_tape *tp, sl_tensor *h,
				  float **delta_out, float **B_out, float **C_out)
{
	int E, R, N;
	dims(cfg, &E, &R, &N);
	sl_tensor *u = sl_nn_norm_forward(&ly->norm, tp, h);
	sl_tensor *xz = sl_nn_linear_forward(&ly->in_proj, tp, u);           /* (B, T, 2E) */
	sl_tensor *xi = sl_slice(tp, xz, 2, 0, E), *z = sl_slice(tp, xz, 2, E, E);
	sl_tensor *xc = sl_silu(tp, sl_conv1d_causal(tp, xi, ly->conv_w, ly->conv_b));
	sl_tensor *dbc = sl_nn_linear_forward(&ly->x_proj, tp, xc);          /* (B, T, R + 2N) */
	sl_tensor *dt = sl_slice(tp, dbc, 2, 0, R);
	sl_tensor *Bm = sl_slice(tp, dbc, 2, R, N), *Cm = sl_slice(tp, dbc, 2, R + N, N);
	sl_tensor *delta = sl_softplus(tp, sl_nn_linear_forward(&ly->dt_proj, tp, dt)); /* (B, T, E) */
	sl_tensor *A = sl_scale(tp, sl_exp(tp, ly->A_log), -1.0f);               /* (E, N) */
	sl_tensor *y = sl_ssm(tp, xc, delta, A, Bm, Cm, ly->D, z, cfg->disc, cfg->scan);
	if (delta_out)
		*delta_out = delta->data;
	if (B_out)
		*B_out = Bm->data;
	if (C_out)
		*C_out = Cm->data;
	return sl_add(tp, h, sl_nn_linear_forward(&ly->out_proj, tp, y));
}

sl_tensor *sl_mamba_forward(sl_mamba *m, sl_tape *tp, const int32_t *x, int B, int T)
{
	sl_tensor *h = sl_nn_embedding_forward(&m->emb, tp, x, B, T);
	for (int l = 0; l < m->cfg.layers; l++)
		h = sl_mamba_layer_forward(&m->layer[l], &m->cfg, tp, h, &m->delta[l], &m->Bm[l], &m->Cm[l]);
	m->last_B = B;
	m->last_T = T;
	return sl_nn_linear_forward(&m->out, tp, sl_nn_norm_forward(&m->norm_f, tp, h));
}

/* ---- step mode -------------------------------------------------------------- */

struct sl_mamba_state {
	int B, L;
	float **conv; /* per layer (B, E, K-1): the last K-1 inputs of each channel, oldest first */
	float **h;    /* per layer (B, E, N) */
};

sl_mamba_state *sl_mamba_state_new(const sl_mamba *m, int B)
{
	sl_mamba_state *st = sl_xcalloc(1, sizeof *st);
	int L = m->cfg.layers, K = m->cfg.conv;
	st->B = B;
	st->L = L;
	st->conv = sl_xcalloc((size_t)L, sizeof *st->conv);
	st->h = sl_xcalloc((size_t)L, sizeof *st->h);
	for (int l = 0; l < L; l++) {
		st->conv[l] = sl_xcalloc((size_t)B * m->E * (K > 1 ? K - 1 : 1), sizeof(float));
		st->h[l] = sl_xcalloc((size_t)B * m->E * m->N, sizeof(float));
	}
	return st;
}

void sl_mamba_state_free(sl_mamba_state *st)
{
	if (!st)
		return;
	for (int l = 0; l < st->L; l++) {
		free(st->conv[l]);
		free(st->h[l]);
	}
	free(st->conv);
	free(st->h);
	free(st);
}

static inline float silu1(float v)
{
	return v / (1.0f + sl_fexp(-v));
}

void sl_mamba_step(sl_mamba *m, sl_tape *tp, sl_mamba_state *st, const int32_t *tok, float *logits)
{
	int ge = tp->grad_enabled, tr = tp->training;
	tp->grad_enabled = 0;
	tp->training = 0;
	int B = st->B, E = m->E, R = m->R, N = m->N, K = m->cfg.conv, H = m->cfg.hidden;
	int s3[3] = { B, 1, E };
	sl_tensor *x = sl_nn_embedding_forward(&m->emb, tp, tok, B, 1);
	for (int l = 0; l < m->cfg.layers; l++) {
		sl_mamba_layer *ly = &m->layer[l];
		sl_tensor *u = sl_nn_norm_forward(&ly->norm, tp, x);
		sl_tensor *xz = sl_nn_linear_forward(&ly->in_proj, tp, u); /* (B, 1, 2E) */
		sl_tensor *xc = sl_tape_tensor(tp, 3, s3);
		const float *w = ly->conv_w->data, *cb = ly->conv_b->data;
		for (int b = 0; b < B; b++) {
			float *buf = st->conv[l] + (size_t)b * E * (K - 1);
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
			float *h = st->h[l] + (size_t)b * E * N;
			for (int e = 0; e < E; e++) {
				float acc = ly->D->data[e] * xi[e], d = dl[e], xe = xi[e];
				const float *Ae = Aneg + (size_t)e * N;
				float *he = h + (size_t)e * N;
				/* the discretisation of this channel's N states, vectorised over n */
				switch (m->cfg.disc) {
				case SL_SSM_ZOH:
					for (int n = 0; n < N; n++) {
						float a = sl_fexp(d * Ae[n]);
						ab[n] = a;
						bxs[n] = (a - 1.0f) / Ae[n] * Bn[n] * xe;
					}
					break;
				case SL_SSM_BILINEAR:
					for (int n = 0; n < N; n++) {
						float wv = d * Ae[n], q = 1.0f / (1.0f - wv / 2);
						ab[n] = (1.0f + wv / 2) * q;
						bxs[n] = d * q * Bn[n] * xe;
					}
					break;
				case SL_SSM_EULER:
					for (int n = 0; n < N; n++) {
						ab[n] = 1.0f + d * Ae[n];
						bxs[n] = d * Bn[n] * xe;
					}
					break;
				default:
					for (int n = 0; n < N; n++) {
						ab[n] = sl_fexp(d * Ae[n]);
						bxs[n] = d * Bn[n] * xe;
					}
					break;
				}
				for (int n = 0; n < N; n++) {
					float hv = ab[n] * he[n] + bxs[n];
					he[n] = hv;
					acc += Cn[n] * hv;
				}
				y->data[(size_t)b * E + e] = acc * silu1(z[e]);
			}
		}
		x = sl_add(tp, x, sl_nn_linear_forward(&ly->out_proj, tp, y));
	}
	sl_tensor *lg = sl_nn_linear_forward(&m->out, tp, sl_nn_norm_forward(&m->norm_f, tp, x));
	memcpy(logits, lg->data, (size_t)B * m->cfg.vocab * sizeof(float));
	(void)H;
	tp->grad_enabled = ge;
	tp->training = tr;
}
