/* gpt.c - the decoder-only Transformer and its attention block. */
#include "seqlab/gpt.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const norm_names[] = { "pre", "post", NULL };
static const char *const pe_names[] = { "learned", "rope", "none", "sinusoidal", NULL };

#define OFF(f) offsetof(sl_gpt_config, f)
const sl_optspec sl_gpt_options[] = {
	{ "hidden", SL_OPT_INT, OFF(hidden), "64", 2, 1024, NULL, "model width" },
	{ "layers", SL_OPT_INT, OFF(layers), "2", 1, SL_GPT_MAX_LAYERS, NULL, "attention blocks" },
	{ "heads", SL_OPT_INT, OFF(heads), "4", 1, 64, NULL, "attention heads (divide hidden)" },
	{ "mlp", SL_OPT_INT, OFF(mlp), "4", 0, 16, NULL, "MLP width as a multiple of hidden; 0 = no MLP" },
	{ "norm", SL_OPT_ENUM, OFF(norm), "pre", 0, 0, norm_names, "LayerNorm before (pre) or after (post) each sublayer" },
	{ "pe", SL_OPT_ENUM, OFF(pe), "learned", 0, 0, pe_names,
	  "positions: learned (a table of maxlen rows), rope (rotary), none, sinusoidal" },
	{ "window", SL_OPT_INT, OFF(window), "0", 0, 1000000, NULL, "local attention: the last N keys; 0 = all" },
	{ "rope_base", SL_OPT_FLOAT, OFF(rope_base), "10000", 2, 1e9, NULL, "RoPE frequency base" },
	{ "dropout", SL_OPT_FLOAT, OFF(dropout), "0", 0, 0.9, NULL, "dropout after embeddings and sublayers" },
	{ NULL, 0, 0, NULL, 0, 0, NULL, NULL },
};

/* ---- the block ---------------------------------------------------------------- */

void sl_gpt_block_add(sl_gpt_block *blk, sl_params *ps, const char *name, int hidden, int heads, int mlp_inner,
		      int post)
{
	char buf[96];
	memset(blk, 0, sizeof *blk);
	blk->post = post;
	snprintf(buf, sizeof buf, "%s.n1", name);
	sl_nn_norm_add(&blk->n1, ps, buf, hidden, 0);
	snprintf(buf, sizeof buf, "%s.attn", name);
	sl_nn_mha_add(&blk->attn, ps, buf, hidden, heads);
	if (mlp_inner > 0) {
		blk->has_mlp = 1;
		snprintf(buf, sizeof buf, "%s.n2", name);
		sl_nn_norm_add(&blk->n2, ps, buf, hidden, 0);
		snprintf(buf, sizeof buf, "%s.mlp", name);
		sl_nn_mlp_add(&blk->mlp, ps, buf, hidden, mlp_inner);
	}
}

/* causal self-attention of h, with queries and keys rotated when rope */
static sl_tensor *attend(const sl_gpt_block *blk, sl_tape *tp, sl_tensor *h, int rope, float base, int window,
			 float **probs)
{
	const sl_nn_mha *a = &blk->attn;
	int hidden = sl_tensor_dim(h, -1);
	float scale = 1.0f / sqrtf((float)(hidden / a->heads));
	sl_tensor *q = sl_nn_linear_forward(&a->q, tp, h);
	sl_tensor *k = sl_nn_linear_forward(&a->k, tp, h);
	sl_tensor *v = sl_nn_linear_forward(&a->v, tp, h);
	if (rope) {
		q = sl_rope(tp, q, a->heads, 0, base);
		k = sl_rope(tp, k, a->heads, 0, base);
	}
	sl_tensor *o = sl_attention(tp, q, k, v, a->heads, 1, window, scale, probs);
	return sl_nn_linear_forward(&a->o, tp, o);
}

sl_tensor *sl_gpt_block_forward(const sl_gpt_block *blk, sl_tape *tp, sl_tensor *x, int rope, float rope_base,
				int window, float dropout, float **probs)
{
	if (blk->post) {
		x = sl_add(tp, x, sl_dropout(tp, attend(blk, tp, x, rope, rope_base, window, probs), dropout));
		x = sl_nn_norm_forward(&blk->n1, tp, x);
		if (blk->has_mlp) {
			x = sl_add(tp, x, sl_dropout(tp, sl_nn_mlp_forward(&blk->mlp, tp, x), dropout));
			x = sl_nn_norm_forward(&blk->n2, tp, x);
		}
		return x;
	}
	sl_tensor *h = sl_nn_norm_forward(&blk->n1, tp, x);
	x = sl_add(tp, x, sl_dropout(tp, attend(blk, tp, h, rope, rope_base, window, probs), dropout));
	if (blk->has_mlp) {
		h = sl_nn_norm_forward(&blk->n2, tp, x);
		x = sl_add(tp, x, sl_dropout(tp, sl_nn_mlp_forward(&blk->mlp, tp, h), dropout));
	}
	return x;
}

/* ---- the model ---------------------------------------------------------------- */

sl_gpt *sl_gpt_new(const sl_gpt_config *cfg, const sl_rng *rng)
{
	int H = cfg->hidden, V = cfg->vocab, L = cfg->maxlen;
	if (cfg->heads < 1 || H % cfg->heads) {
		sl_errorf("hidden=%d is not divisible by heads=%d", H, cfg->heads);
		return NULL;
	}
	if (cfg->pe == SL_GPT_PE_ROPE && (H / cfg->heads) % 2) {
		sl_errorf("pe=rope needs an even head width (hidden/heads = %d)", H / cfg->heads);
		return NULL;
	}
	if (cfg->pe == SL_GPT_PE_SINUSOIDAL && H % 2) {
		sl_errorf("hidden=%d must be even for sinusoidal positions", H);
		return NULL;
	}
	if (cfg->layers < 1 || cfg->layers > SL_GPT_MAX_LAYERS || V < 1 || L < 1) {
		sl_errorf("bad gpt shape (layers=%d vocab=%d maxlen=%d)", cfg->layers, V, L);
		return NULL;
	}
	if (cfg->fixed_embed && cfg->fixed_dim > H) {
		sl_errorf("the task's fixed embeddings have %d dimensions: hidden=%d is too small", cfg->fixed_dim, H);
		return NULL;
	}
	sl_gpt *m = sl_xcalloc(1, sizeof *m);
	m->cfg = *cfg;
	m->cfg.fixed_embed = NULL; /* copied into emb below; the task's pointer is not kept */
	m->cfg.fixed_dim = cfg->fixed_embed ? cfg->fixed_dim : 0;
	m->ps = sl_params_new();
	if (cfg->fixed_embed)
		sl_nn_embedding_fixed(&m->emb, cfg->fixed_embed, V, cfg->fixed_dim, H);
	else
		sl_nn_embedding_add(&m->emb, m->ps, "emb", V, H);
	int ps2[2] = { L, H };
	if (cfg->pe == SL_GPT_PE_LEARNED) {
		m->pos = sl_params_add(m->ps, "pos", 2, ps2, SL_PARAM_NO_DECAY);
		sl_params_set_init(m->ps, m->pos, SL_INIT_NORMAL, 0, 0.02f);
	} else if (cfg->pe == SL_GPT_PE_SINUSOIDAL) {
		m->sin_table = sl_xmalloc((size_t)L * H * sizeof(float));
		sl_nn_sinusoid(m->sin_table, L, H);
		sl_shape_set(&m->sin_pos, 2, ps2);
		m->sin_pos.data = m->sin_table;
	}
	m->block = sl_xcalloc((size_t)cfg->layers, sizeof *m->block);
	for (int l = 0; l < cfg->layers; l++) {
		char name[32];
		snprintf(name, sizeof name, "l%d", l);
		sl_gpt_block_add(&m->block[l], m->ps, name, H, cfg->heads, cfg->mlp * H, cfg->norm == 1);
	}
	if (cfg->norm == 0)
		sl_nn_norm_add(&m->norm_f, m->ps, "norm_f", H, 0);
	sl_nn_linear_add(&m->out, m->ps, "out", H, V, 1);
	sl_params_alloc(m->ps);
	sl_params_init(m->ps, rng);
	return m;
}

void sl_gpt_free(sl_gpt *m)
{
	if (!m)
		return;
	if (m->cfg.fixed_dim)
		sl_nn_embedding_fixed_free(&m->emb);
	sl_params_free(m->ps);
	free(m->sin_table);
	free(m->block);
	free(m);
}

/* positions 0..T-1 as a (B, T, H) tensor from table (rows >= T) */
static sl_tensor *positions(sl_tape *tp, sl_tensor *table, int B, int T)
{
	int32_t *pid = sl_arena_alloc(tp->arena, (size_t)B * T * sizeof(int32_t));
	for (int b = 0; b < B; b++)
		for (int t = 0; t < T; t++)
			pid[(size_t)b * T + t] = t;
	int s[2] = { B, T };
	return sl_embedding(tp, table, pid, 2, s);
}

sl_tensor *sl_gpt_forward(sl_gpt *m, sl_tape *tp, const int32_t *x, int B, int T)
{
	const sl_gpt_config *c = &m->cfg;
	if (c->pe == SL_GPT_PE_LEARNED && T > c->maxlen) {
		sl_errorf("a sequence of %d tokens is longer than the %d learned positions", T, c->maxlen);
		return NULL;
	}
	sl_tensor *h = sl_nn_embedding_forward(&m->emb, tp, x, B, T);
	if (c->pe == SL_GPT_PE_LEARNED) {
		h = sl_add(tp, h, positions(tp, m->pos, B, T));
	} else if (c->pe == SL_GPT_PE_SINUSOIDAL) {
		sl_tensor *table = &m->sin_pos;
		if (T > c->maxlen) { /* sinusoids extend to any length */
			int s[2] = { T, c->hidden };
			table = sl_tape_tensor(tp, 2, s);
			sl_nn_sinusoid(table->data, T, c->hidden);
		}
		h = sl_add(tp, h, positions(tp, table, B, T));
	}
	h = sl_dropout(tp, h, c->dropout);
	for (int l = 0; l < c->layers; l++)
		h = sl_gpt_block_forward(&m->block[l], tp, h, c->pe == SL_GPT_PE_ROPE, c->rope_base, c->window,
					 c->dropout, &m->probs[l]);
	m->probs_B = B;
	m->probs_T = T;
	if (c->norm == 0)
		h = sl_nn_norm_forward(&m->norm_f, tp, h);
	return sl_nn_linear_forward(&m->out, tp, h);
}
