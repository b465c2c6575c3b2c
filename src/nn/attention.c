/* attention.c - the attention mixers: a residual block of causal multi-head
 * self-attention (optionally local: the last `window` keys; rotary positions
 * when the stack's pe is rope) and an optional GELU MLP, with LayerNorms
 * before (pre) or after (post) each sublayer. Letter A is softmax attention
 * (attn=linear makes it linear); letter F is the same block with causal
 * linear attention (Katharopoulos et al. 2020: φ = elu + 1), whose recurrent
 * form is its step mode. gpt is a stack of A blocks; hybrids mix them with
 * other mixers. */
#include "seqlab/mixer.h"
#include "seqlab/nn.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct attn_config {
	int heads, mlp; /* mlp: inner width as a multiple of hidden; 0 = no MLP */
	int norm;       /* 0 pre-LN, 1 post-LN */
	int window;     /* local attention: the last `window` keys; 0 = all */
	float rope_base;
	int attn;       /* ATTN_SOFTMAX or ATTN_LINEAR */
} attn_config;

enum { ATTN_SOFTMAX, ATTN_LINEAR };
static_assert(sizeof(attn_config) <= SL_MIXER_CFG_MAX, "attention's config fits a stack's slot");

static const char *const norm_names[] = { "pre", "post", NULL };
static const char *const attn_names[] = { "softmax", "linear", NULL };

#define OFF(f) offsetof(attn_config, f)
static const sl_optspec options[] = {
	{ "heads", SL_OPT_INT, OFF(heads), "4", 1, 64, NULL, "attention heads (divide hidden)" },
	{ "mlp", SL_OPT_INT, OFF(mlp), "4", 0, 16, NULL, "MLP width as a multiple of hidden; 0 = no MLP" },
	{ "norm", SL_OPT_ENUM, OFF(norm), "pre", 0, 0, norm_names, "LayerNorm before (pre) or after (post) each sublayer" },
	{ "window", SL_OPT_INT, OFF(window), "0", 0, 1000000, NULL, "local attention: the last N keys; 0 = all" },
	{ "rope_base", SL_OPT_FLOAT, OFF(rope_base), "10000", 2, 1e9, NULL, "RoPE frequency base (pe=rope)" },
	{ "attn", SL_OPT_ENUM, OFF(attn), "softmax", 0, 0, attn_names,
	  "softmax, or linear: phi(q).phi(k) with phi = elu + 1 (causal; a recurrent step mode)" },
	{ NULL, 0, 0, NULL, 0, 0, NULL, NULL },
};
/* F's: the same rows but attn, which F fixes at linear */
static const sl_optspec lin_options[] = {
	{ "heads", SL_OPT_INT, OFF(heads), "4", 1, 64, NULL, "attention heads (divide hidden)" },
	{ "mlp", SL_OPT_INT, OFF(mlp), "4", 0, 16, NULL, "MLP width as a multiple of hidden; 0 = no MLP" },
	{ "norm", SL_OPT_ENUM, OFF(norm), "pre", 0, 0, norm_names, "LayerNorm before (pre) or after (post) each sublayer" },
	{ NULL, 0, 0, NULL, 0, 0, NULL, NULL },
};
#undef OFF

/* F's config: attention's with attn=linear (and no window, no rope) */
static attn_config as_linear(const void *cfg)
{
	attn_config c = *(const attn_config *)cfg;
	c.attn = ATTN_LINEAR;
	c.window = 0;
	return c;
}

typedef struct attn_layer {
	sl_nn_norm n1, n2;
	sl_nn_mha attn;
	sl_nn_mlp mlp;
	int has_mlp;
	float *probs; /* (B, heads, T, T) of the last forward pass, until the tape is reset */
	int B, T;
} attn_layer;

static int check(const void *cfg, const sl_mixer_ctx *ctx)
{
	const attn_config *c = cfg;
	if (c->heads < 1 || ctx->hidden % c->heads) {
		sl_errorf("hidden=%d is not divisible by heads=%d", ctx->hidden, c->heads);
		return SL_ERR;
	}
	if (ctx->pe == SL_POS_ROPE && (ctx->hidden / c->heads) % 2) {
		sl_errorf("pe=rope needs an even head width (hidden/heads = %d)", ctx->hidden / c->heads);
		return SL_ERR;
	}
	if (c->attn == ATTN_LINEAR && c->window > 0) {
		sl_errorf("attn=linear attends to every earlier position: window=%d does not apply", c->window);
		return SL_ERR;
	}
	return SL_OK;
}

static void add(void *layer, sl_params *ps, const char *prefix, const void *cfg, const sl_mixer_ctx *ctx)
{
	attn_layer *blk = layer;
	const attn_config *c = cfg;
	int H = ctx->hidden;
	char buf[96];
	snprintf(buf, sizeof buf, "%s.n1", prefix);
	sl_nn_norm_add(&blk->n1, ps, buf, H, 0);
	snprintf(buf, sizeof buf, "%s.attn", prefix);
	sl_nn_mha_add(&blk->attn, ps, buf, H, c->heads);
	if (c->mlp > 0) {
		blk->has_mlp = 1;
		snprintf(buf, sizeof buf, "%s.n2", prefix);
		sl_nn_norm_add(&blk->n2, ps, buf, H, 0);
		snprintf(buf, sizeof buf, "%s.mlp", prefix);
		sl_nn_mlp_add(&blk->mlp, ps, buf, H, c->mlp * H);
	}
}

/* res + dropout(causal self-attention of h, p), with queries and keys
 * rotated when rope; the sum in the output projection's op */
static sl_tensor *attend(attn_layer *blk, const attn_config *c, const sl_mixer_ctx *ctx, sl_tape *tp, sl_tensor *h,
			 sl_tensor *res, float p)
{
	const sl_nn_mha *a = &blk->attn;
	float scale = 1.0f / sqrtf((float)(ctx->hidden / a->heads));
	sl_tensor *q = sl_nn_linear_forward(&a->q, tp, h);
	sl_tensor *k = sl_nn_linear_forward(&a->k, tp, h);
	sl_tensor *v = sl_nn_linear_forward(&a->v, tp, h);
	if (ctx->pe == SL_POS_ROPE) {
		q = sl_rope(tp, q, a->heads, 0, c->rope_base);
		k = sl_rope(tp, k, a->heads, 0, c->rope_base);
	}
	sl_tensor *o = c->attn == ATTN_LINEAR ? sl_linear_attention(tp, q, k, v, a->heads, 1, &blk->probs)
					      : sl_attention(tp, q, k, v, a->heads, 1, c->window, scale, &blk->probs);
	blk->B = sl_tensor_dim(h, 0);
	blk->T = sl_tensor_dim(h, 1);
	return sl_nn_linear_residual(&a->o, tp, o, res, p);
}

static sl_tensor *forward(void *layer, const void *cfg, const sl_mixer_ctx *ctx, sl_tape *tp, sl_tensor *x)
{
	attn_layer *blk = layer;
	const attn_config *c = cfg;
	float p = ctx->dropout;
	if (c->norm == 1) {
		x = sl_nn_norm_forward(&blk->n1, tp, attend(blk, c, ctx, tp, x, x, p));
		if (blk->has_mlp)
			x = sl_nn_norm_forward(&blk->n2, tp, sl_nn_mlp_residual(&blk->mlp, tp, x, x, p));
		return x;
	}
	x = attend(blk, c, ctx, tp, sl_nn_norm_forward(&blk->n1, tp, x), x, p);
	if (blk->has_mlp)
		x = sl_nn_mlp_residual(&blk->mlp, tp, sl_nn_norm_forward(&blk->n2, tp, x), x, p);
	return x;
}

static int normalises(const void *cfg)
{
	return ((const attn_config *)cfg)->norm == 1;
}

/* ---- step mode ---------------------------------------------------------------------
 * Softmax attention keeps a key/value cache: each step appends the token's
 * key and value (rotated at its position when pe=rope) and attends to the
 * cache (its last `window` keys when local). Linear attention keeps its
 * recurrent state: S_t = S_{t-1} + φ(k_t) v_tᵀ, z_t = z_{t-1} + φ(k_t) per
 * head, and y_t = φ(q_t)ᵀ S_t / (φ(q_t)ᵀ z_t + 1e-6). */

typedef struct attn_state {
	int B, H, Dh, linear, pos, cap;
	float *k, *v; /* softmax: (B, cap, H Dh) caches */
	float *S;     /* linear: (B, H, Dh, Dh) */
	float *z;     /* linear: (B, H, Dh) */
} attn_state;

static void *state_new(const void *layer, const void *cfg, const sl_mixer_ctx *ctx, int B)
{
	(void)layer;
	const attn_config *c = cfg;
	attn_state *st = sl_xcalloc(1, sizeof *st);
	st->B = B;
	st->H = c->heads;
	st->Dh = ctx->hidden / c->heads;
	st->linear = c->attn == ATTN_LINEAR;
	if (st->linear) {
		st->S = sl_xcalloc((size_t)B * st->H * st->Dh * st->Dh, sizeof(float));
		st->z = sl_xcalloc((size_t)B * st->H * st->Dh, sizeof(float));
	}
	return st;
}

static void state_free(void *state)
{
	attn_state *st = state;
	if (!st)
		return;
	free(st->k);
	free(st->v);
	free(st->S);
	free(st->z);
	free(st);
}

static void state_reorder(void *state, const int *parent, int n)
{
	attn_state *st = state;
	size_t D = (size_t)st->H * st->Dh;
	sl_mixer_reorder_rows(st->k, (size_t)st->cap * D * sizeof(float), st->B, parent, n);
	sl_mixer_reorder_rows(st->v, (size_t)st->cap * D * sizeof(float), st->B, parent, n);
	sl_mixer_reorder_rows(st->S, (size_t)st->H * st->Dh * st->Dh * sizeof(float), st->B, parent, n);
	sl_mixer_reorder_rows(st->z, D * sizeof(float), st->B, parent, n);
}

/* the caches grown to hold position pos (doubling; rows keep their place) */
static void cache_grow(attn_state *st, int need)
{
	if (need <= st->cap)
		return;
	int cap = st->cap ? st->cap : 16;
	while (cap < need)
		cap *= 2;
	size_t D = (size_t)st->H * st->Dh;
	for (int w = 0; w < 2; w++) {
		float **c = w ? &st->v : &st->k;
		float *n = sl_xcalloc((size_t)st->B * cap * D, sizeof *n);
		for (int b = 0; b < st->B && *c; b++)
			memcpy(n + (size_t)b * cap * D, *c + (size_t)b * st->cap * D, (size_t)st->pos * D * sizeof *n);
		free(*c);
		*c = n;
	}
	st->cap = cap;
}

static inline float phi(float x)
{
	return x > 0.0f ? x + 1.0f : expf(x);
}

/* one token's attention sublayer: h (B, 1, hidden) */
static sl_tensor *attend_step(const attn_layer *blk, const attn_config *c, const sl_mixer_ctx *ctx, attn_state *st,
			      sl_tape *tp, sl_tensor *h)
{
	const sl_nn_mha *a = &blk->attn;
	sl_tensor *q = sl_nn_linear_forward(&a->q, tp, h);
	sl_tensor *k = sl_nn_linear_forward(&a->k, tp, h);
	sl_tensor *v = sl_nn_linear_forward(&a->v, tp, h);
	if (ctx->pe == SL_POS_ROPE) { /* rotated at this token's position */
		q = sl_rope(tp, q, a->heads, st->pos, c->rope_base);
		k = sl_rope(tp, k, a->heads, st->pos, c->rope_base);
	}
	int B = st->B, H = st->H, Dh = st->Dh, D = H * Dh, s3[3] = { B, 1, D };
	sl_tensor *o = sl_tape_tensor(tp, 3, s3);
	if (!st->linear) {
		cache_grow(st, st->pos + 1);
		for (int b = 0; b < B; b++) {
			memcpy(st->k + ((size_t)b * st->cap + st->pos) * D, k->data + (size_t)b * D, (size_t)D * sizeof(float));
			memcpy(st->v + ((size_t)b * st->cap + st->pos) * D, v->data + (size_t)b * D, (size_t)D * sizeof(float));
		}
		st->pos++;
		sl_attention_cached(tp, q, st->k, st->v, st->pos, st->cap, H, c->window, 1.0f / sqrtf((float)Dh), o, NULL);
		return sl_nn_linear_forward(&a->o, tp, o);
	}
	st->pos++;
	for (int b = 0; b < B; b++)
		for (int hd = 0; hd < H; hd++) {
			size_t off = (size_t)b * D + (size_t)hd * Dh;
			float *S = st->S + ((size_t)b * H + hd) * Dh * Dh, *z = st->z + ((size_t)b * H + hd) * Dh;
			float den = 0.0f;
			for (int i = 0; i < Dh; i++) {
				float fk = phi(k->data[off + i]);
				z[i] += fk;
				for (int j = 0; j < Dh; j++)
					S[(size_t)i * Dh + j] += fk * v->data[off + j];
			}
			for (int i = 0; i < Dh; i++)
				den += phi(q->data[off + i]) * z[i];
			den += 1e-6f;
			for (int j = 0; j < Dh; j++) {
				float num = 0.0f;
				for (int i = 0; i < Dh; i++)
					num += phi(q->data[off + i]) * S[(size_t)i * Dh + j];
				o->data[off + j] = num / den;
			}
		}
	return sl_nn_linear_forward(&a->o, tp, o);
}

static sl_tensor *step(const void *layer, const void *cfg, const sl_mixer_ctx *ctx, sl_tape *tp, void *state,
		       sl_tensor *x)
{
	const attn_layer *blk = layer;
	const attn_config *c = cfg;
	if (c->norm == 1) {
		x = sl_add(tp, x, attend_step(blk, c, ctx, state, tp, x));
		x = sl_nn_norm_forward(&blk->n1, tp, x);
		if (blk->has_mlp) {
			x = sl_add(tp, x, sl_nn_mlp_forward(&blk->mlp, tp, x));
			x = sl_nn_norm_forward(&blk->n2, tp, x);
		}
		return x;
	}
	sl_tensor *h = sl_nn_norm_forward(&blk->n1, tp, x);
	x = sl_add(tp, x, attend_step(blk, c, ctx, state, tp, h));
	if (blk->has_mlp) {
		h = sl_nn_norm_forward(&blk->n2, tp, x);
		x = sl_add(tp, x, sl_nn_mlp_forward(&blk->mlp, tp, h));
	}
	return x;
}

static const sl_mixer_view views[] = {
	{ "attn", "each head's attention probabilities (row t attends to column s; linear: the implied, "
		  "normalised phi(q).phi(k))" },
	{ NULL, NULL },
};

static int view(const void *layer, const void *cfg, const sl_mixer_ctx *ctx, int which, sl_mixer_grid *out, int max)
{
	(void)cfg;
	(void)ctx;
	(void)which;
	const attn_layer *blk = layer;
	if (!blk->probs) {
		sl_errorf("the attention block has not run yet");
		return 0;
	}
	int H = blk->attn.heads, T = blk->T, n = H < max ? H : max;
	for (int h = 0; h < n; h++) {
		sl_mixer_grid *g = &out[h];
		memset(g, 0, sizeof *g);
		snprintf(g->title, sizeof g->title, "H%d", h);
		g->rows = g->cols = T;
		g->col_kind = SL_GRID_POS;
		g->v = sl_xmalloc((size_t)T * T * sizeof *g->v);
		memcpy(g->v, blk->probs + (size_t)h * T * T, (size_t)T * T * sizeof *g->v); /* sequence 0 */
		g->fixed = 1;
		g->lo = 0;
		g->hi = 1;
	}
	return n;
}

static void work(const void *cfg, const sl_mixer_ctx *ctx, double B, double T, sl_work *w)
{
	const attn_config *c = cfg;
	int H = ctx->hidden, F = c->mlp * H;
	for (int p = 0; p < 4; p++)
		w->lin(w->ud, B * T, H, H);
	if (F) {
		w->lin(w->ud, B * T, H, F);
		w->lin(w->ud, B * T, F, H);
	}
	w->other += 3.0 * B * 2 * (2.0 * T * T * H); /* causal (or windowed), counted dense */
}

/* ---- F: the linear-attention block, the A block's functions on attn=linear ---- */

static int lin_check(const void *cfg, const sl_mixer_ctx *ctx)
{
	attn_config c = as_linear(cfg);
	return check(&c, ctx);
}

static void lin_add(void *layer, sl_params *ps, const char *prefix, const void *cfg, const sl_mixer_ctx *ctx)
{
	attn_config c = as_linear(cfg);
	add(layer, ps, prefix, &c, ctx);
}

static sl_tensor *lin_forward(void *layer, const void *cfg, const sl_mixer_ctx *ctx, sl_tape *tp, sl_tensor *h)
{
	attn_config c = as_linear(cfg);
	return forward(layer, &c, ctx, tp, h);
}

static void *lin_state_new(const void *layer, const void *cfg, const sl_mixer_ctx *ctx, int B)
{
	attn_config c = as_linear(cfg);
	return state_new(layer, &c, ctx, B);
}

static sl_tensor *lin_step(const void *layer, const void *cfg, const sl_mixer_ctx *ctx, sl_tape *tp, void *state,
			   sl_tensor *h)
{
	attn_config c = as_linear(cfg);
	return step(layer, &c, ctx, tp, state, h);
}

static void lin_work(const void *cfg, const sl_mixer_ctx *ctx, double B, double T, sl_work *w)
{
	attn_config c = as_linear(cfg);
	work(&c, ctx, B, T, w);
}

const sl_mixer_kind sl_mixer_linattn = {
	.letter = 'F',
	.name = "linear",
	.summary = "causal linear attention, phi = elu + 1 (its recurrent form decodes), and an MLP",
	.options = lin_options,
	.cfg_size = sizeof(attn_config),
	.layer_size = sizeof(attn_layer),
	.check = lin_check,
	.add = lin_add,
	.forward = lin_forward,
	.normalises = normalises,
	.state_new = lin_state_new,
	.state_free = state_free,
	.state_reorder = state_reorder,
	.step = lin_step,
	.views = views,
	.view = view,
	.work = lin_work,
};

const sl_mixer_kind sl_mixer_attn = {
	.letter = 'A',
	.name = "attention",
	.summary = "causal multi-head self-attention (local with window=N) and an MLP, pre- or post-LayerNorm",
	.options = options,
	.cfg_size = sizeof(attn_config),
	.layer_size = sizeof(attn_layer),
	.check = check,
	.add = add,
	.forward = forward,
	.normalises = normalises,
	.state_new = state_new,
	.state_free = state_free,
	.state_reorder = state_reorder,
	.step = step,
	.views = views,
	.view = view,
	.work = work,
};
