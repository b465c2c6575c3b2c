/* hybrid.c - Mamba and attention blocks stacked by a pattern of letters. */
#include "seqlab/hybrid.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* the choices of mamba.c's options, in the same order (enum sl_mamba_ainit,
 * sl_ssm_disc, sl_ssm_scan) */
static const char *const ainit_names[] = { "s4d-real", "const", "s4d-lin", NULL };
static const char *const disc_names[] = { "zoh", "zoh-approx", "bilinear", "euler", NULL };
static const char *const scan_names[] = { "seq", "parallel", "log", NULL };
static const char *const pe_names[] = { "none", "rope", NULL };

#define OFF(f) offsetof(sl_hybrid_config, f)
const sl_optspec sl_hybrid_options[] = {
	{ "pattern", SL_OPT_STR, OFF(pattern), "MA", 0, 0, NULL, "blocks bottom up: M = Mamba, A = attention" },
	{ "hidden", SL_OPT_INT, OFF(hidden), "64", 2, 1024, NULL, "model width" },
	{ "heads", SL_OPT_INT, OFF(heads), "4", 1, 64, NULL, "attention heads (divide hidden)" },
	{ "mlp", SL_OPT_INT, OFF(mlp), "0", 0, 16, NULL, "MLP after each attention, width as a multiple of hidden; 0 = none" },
	{ "window", SL_OPT_INT, OFF(window), "0", 0, 1000000, NULL, "local attention: the last N keys; 0 = all" },
	{ "pe", SL_OPT_ENUM, OFF(rope), "none", 0, 0, pe_names, "positions in the attention blocks: none or rope" },
	{ "rope_base", SL_OPT_FLOAT, OFF(rope_base), "10000", 2, 1e9, NULL, "RoPE frequency base" },
	{ "state", SL_OPT_INT, OFF(state), "16", 1, 256, NULL, "Mamba: SSM state size N per channel" },
	{ "expand", SL_OPT_INT, OFF(expand), "2", 1, 8, NULL, "Mamba: inner width as a multiple of hidden" },
	{ "conv", SL_OPT_INT, OFF(conv), "4", 1, 16, NULL, "Mamba: causal depthwise convolution width" },
	{ "dt_rank", SL_OPT_INT, OFF(dt_rank), "0", 0, 1024, NULL, "Mamba: rank of the delta projection; 0 = ceil(hidden/16)" },
	{ "a_init", SL_OPT_ENUM, OFF(a_init), "s4d-real", 0, 0, ainit_names, "Mamba: A initialisation" },
	{ "disc", SL_OPT_ENUM, OFF(disc), "zoh-approx", 0, 0, disc_names, "Mamba: discretisation" },
	{ "scan", SL_OPT_ENUM, OFF(scan), "seq", 0, 0, scan_names, "Mamba: scan" },
	{ "dt_min", SL_OPT_FLOAT, OFF(dt_min), "0.001", 1e-6, 10, NULL, "Mamba: smallest initial delta" },
	{ "dt_max", SL_OPT_FLOAT, OFF(dt_max), "0.1", 1e-6, 10, NULL, "Mamba: largest initial delta" },
	{ NULL, 0, 0, NULL, 0, 0, NULL, NULL },
};

sl_hybrid *sl_hybrid_new(const sl_hybrid_config *cfg, const sl_rng *rng)
{
	int H = cfg->hidden, n = (int)strlen(cfg->pattern);
	if (n < 1 || n > SL_HYBRID_MAX_LAYERS) {
		sl_errorf("pattern=%s: 1 to %d letters (M = Mamba, A = attention)", cfg->pattern, SL_HYBRID_MAX_LAYERS);
		return NULL;
	}
	for (int l = 0; l < n; l++)
		if (cfg->pattern[l] != 'M' && cfg->pattern[l] != 'A') {
			sl_errorf("pattern=%s: '%c' is not a block (M = Mamba, A = attention)", cfg->pattern,
				  cfg->pattern[l]);
			return NULL;
		}
	if (cfg->heads < 1 || H % cfg->heads) {
		sl_errorf("hidden=%d is not divisible by heads=%d", H, cfg->heads);
		return NULL;
	}
	if (cfg->rope && (H / cfg->heads) % 2) {
		sl_errorf("pe=rope needs an even head width (hidden/heads = %d)", H / cfg->heads);
		return NULL;
	}
	if (cfg->dt_min > cfg->dt_max) {
		sl_errorf("dt_min=%g exceeds dt_max=%g", cfg->dt_min, cfg->dt_max);
		return NULL;
	}
	if (cfg->fixed_embed && cfg->fixed_dim > H) {
		sl_errorf("the task's fixed embeddings have %d dimensions: hidden=%d is too small", cfg->fixed_dim, H);
		return NULL;
	}
	sl_hybrid *m = sl_xcalloc(1, sizeof *m);
	m->cfg = *cfg;
	m->cfg.fixed_embed = NULL;
	m->cfg.fixed_dim = cfg->fixed_embed ? cfg->fixed_dim : 0;
	m->n = n;
	m->mcfg = (sl_mamba_config){ .hidden = H, .layers = 1, .state = cfg->state, .expand = cfg->expand,
				     .conv = cfg->conv, .dt_rank = cfg->dt_rank, .a_init = cfg->a_init,
				     .disc = cfg->disc, .scan = cfg->scan, .dt_min = cfg->dt_min,
				     .dt_max = cfg->dt_max, .vocab = cfg->vocab, .maxlen = cfg->maxlen };
	m->ps = sl_params_new();
	if (cfg->fixed_embed)
		sl_nn_embedding_fixed(&m->emb, cfg->fixed_embed, cfg->vocab, cfg->fixed_dim, H);
	else
		sl_nn_embedding_add(&m->emb, m->ps, "emb", cfg->vocab, H);
	for (int l = 0; l < n; l++) {
		char prefix[16];
		snprintf(prefix, sizeof prefix, "l%d", l);
		if (cfg->pattern[l] == 'M')
			sl_mamba_layer_add(&m->mamba[l], m->ps, prefix, &m->mcfg);
		else
			sl_gpt_block_add(&m->attn[l], m->ps, prefix, H, cfg->heads, cfg->mlp * H, 0);
	}
	sl_nn_norm_add(&m->norm_f, m->ps, "norm_f", H, 1);
	sl_nn_linear_add(&m->out, m->ps, "out", H, cfg->vocab, 1);
	sl_params_alloc(m->ps);
	sl_params_init(m->ps, rng);
	for (int l = 0; l < n; l++)
		if (cfg->pattern[l] == 'M')
			sl_mamba_layer_init(&m->mamba[l], &m->mcfg, rng);
	return m;
}

void sl_hybrid_free(sl_hybrid *m)
{
	if (!m)
		return;
	if (m->cfg.fixed_dim)
		sl_nn_embedding_fixed_free(&m->emb);
	sl_params_free(m->ps);
	free(m);
}

sl_tensor *sl_hybrid_forward(sl_hybrid *m, sl_tape *tp, const int32_t *x, int B, int T)
{
	const sl_hybrid_config *c = &m->cfg;
	sl_tensor *h = sl_nn_embedding_forward(&m->emb, tp, x, B, T);
	for (int l = 0; l < m->n; l++) {
		if (c->pattern[l] == 'M')
			h = sl_mamba_layer_forward(&m->mamba[l], &m->mcfg, tp, h, &m->delta[l], NULL, NULL);
		else
			h = sl_gpt_block_forward(&m->attn[l], tp, h, c->rope, c->rope_base, c->window, 0,
						 &m->probs[l]);
	}
	return sl_nn_linear_forward(&m->out, tp, sl_nn_norm_forward(&m->norm_f, tp, h));
}
