/* attention.c - the attention mixer (letter A): a residual block of causal
 * multi-head self-attention (optionally local: the last `window` keys;
 * rotary positions when the stack's pe is rope) and an optional GELU MLP,
 * with LayerNorms before (pre) or after (post) each sublayer. gpt is a stack
 * of these; hybrids mix them with other mixers. */
#include "seqlab/mixer.h"
#include "seqlab/nn.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct attn_config {
	int heads, mlp; /* mlp: inner width as a multiple of hidden; 0 = no MLP */
	int norm;       /* 0 pre-LN, 1 post-LN */
	int window;     /* local attention: the last `window` keys; 0 = all */
	float rope_base;
} attn_config;
static_assert(sizeof(attn_config) <= SL_MIXER_CFG_MAX, "attention's config fits a stack's slot");

static const char *const norm_names[] = { "pre", "post", NULL };

#define OFF(f) offsetof(attn_config, f)
static const sl_optspec options[] = {
	{ "heads", SL_OPT_INT, OFF(heads), "4", 1, 64, NULL, "attention heads (divide hidden)" },
	{ "mlp", SL_OPT_INT, OFF(mlp), "4", 0, 16, NULL, "MLP width as a multiple of hidden; 0 = no MLP" },
	{ "norm", SL_OPT_ENUM, OFF(norm), "pre", 0, 0, norm_names, "LayerNorm before (pre) or after (post) each sublayer" },
	{ "window", SL_OPT_INT, OFF(window), "0", 0, 1000000, NULL, "local attention: the last N keys; 0 = all" },
	{ "rope_base", SL_OPT_FLOAT, OFF(rope_base), "10000", 2, 1e9, NULL, "RoPE frequency base (pe=rope)" },
	{ NULL, 0, 0, NULL, 0, 0, NULL, NULL },
};
#undef OFF

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

/* causal self-attention of h, with queries and keys rotated when rope */
static sl_tensor *attend(attn_layer *blk, const attn_config *c, const sl_mixer_ctx *ctx, sl_tape *tp, sl_tensor *h)
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
	sl_tensor *o = sl_attention(tp, q, k, v, a->heads, 1, c->window, scale, &blk->probs);
	blk->B = sl_tensor_dim(h, 0);
	blk->T = sl_tensor_dim(h, 1);
	return sl_nn_linear_forward(&a->o, tp, o);
}

static sl_tensor *forward(void *layer, const void *cfg, const sl_mixer_ctx *ctx, sl_tape *tp, sl_tensor *x)
{
	attn_layer *blk = layer;
	const attn_config *c = cfg;
	float p = ctx->dropout;
	if (c->norm == 1) {
		x = sl_add(tp, x, sl_dropout(tp, attend(blk, c, ctx, tp, x), p));
		x = sl_nn_norm_forward(&blk->n1, tp, x);
		if (blk->has_mlp) {
			x = sl_add(tp, x, sl_dropout(tp, sl_nn_mlp_forward(&blk->mlp, tp, x), p));
			x = sl_nn_norm_forward(&blk->n2, tp, x);
		}
		return x;
	}
	sl_tensor *h = sl_nn_norm_forward(&blk->n1, tp, x);
	x = sl_add(tp, x, sl_dropout(tp, attend(blk, c, ctx, tp, h), p));
	if (blk->has_mlp) {
		h = sl_nn_norm_forward(&blk->n2, tp, x);
		x = sl_add(tp, x, sl_dropout(tp, sl_nn_mlp_forward(&blk->mlp, tp, h), p));
	}
	return x;
}

static int normalises(const void *cfg)
{
	return ((const attn_config *)cfg)->norm == 1;
}

static const sl_mixer_view views[] = {
	{ "attn", "each head's attention probabilities (row t attends to column s)" },
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
	.views = views,
	.view = view,
	.work = work,
};
