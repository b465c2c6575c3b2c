/* model.c - the model registry. */
#include "seqlab/model.h"
#include "seqlab/gpt.h"
#include "seqlab/hybrid.h"
#include "seqlab/mamba.h"
#include "seqlab/transformer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- transformer ---------------------------------------------------------- */

static void *tf_create(const void *cfg, const sl_model_shape *shape, const sl_rng *rng)
{
	sl_transformer_config c = *(const sl_transformer_config *)cfg;
	c.vocab = shape->vocab;
	c.maxlen = shape->maxlen;
	return sl_transformer_new(&c, rng);
}

static void tf_destroy(void *impl)
{
	sl_transformer_free(impl);
}

static sl_params *tf_params(void *impl)
{
	return ((sl_transformer *)impl)->ps;
}

static sl_tensor *tf_seq2seq(void *impl, sl_tape *tp, const int32_t *src, const int32_t *dec, int B, int S, int T)
{
	return sl_transformer_forward(impl, tp, src, dec, B, S, T);
}

static void tf_greedy(void *impl, sl_tape *tp, const int32_t *src, int B, int S, int maxT, int sos, int eos,
		      int32_t *out, int *len)
{
	sl_transformer_greedy(impl, tp, src, B, S, maxT, sos, eos, out, len);
}

static int tf_beam(void *impl, sl_tape *tp, const int32_t *src, int S, int maxT, int sos, int eos, int beam,
		   int32_t *out)
{
	return sl_transformer_beam(impl, tp, src, S, maxT, sos, eos, beam, out);
}

static const sl_model_kind transformer_kind = {
	.name = "transformer",
	.summary = "encoder-decoder Transformer (attention: encoder self, causal decoder self, cross)",
	.options = sl_transformer_options,
	.cfg_size = sizeof(sl_transformer_config),
	.create = tf_create,
	.destroy = tf_destroy,
	.params = tf_params,
	.seq2seq = tf_seq2seq,
	.greedy = tf_greedy,
	.beam = tf_beam,
};

/* ---- mamba ----------------------------------------------------------------- */

static void *mb_create(const void *cfg, const sl_model_shape *shape, const sl_rng *rng)
{
	sl_mamba_config c = *(const sl_mamba_config *)cfg;
	c.vocab = shape->vocab;
	c.maxlen = shape->maxlen;
	return sl_mamba_new_fixed(&c, shape->fixed_embed, shape->fixed_dim, rng);
}

static void mb_destroy(void *impl)
{
	sl_mamba_free(impl);
}

static sl_params *mb_params(void *impl)
{
	return ((sl_mamba *)impl)->ps;
}

static sl_tensor *mb_lm(void *impl, sl_tape *tp, const int32_t *x, int B, int T)
{
	return sl_mamba_forward(impl, tp, x, B, T);
}

/* Prefix-LM decoding in step mode: feed `src eos sos`, then generate. */
static void mb_greedy(void *impl, sl_tape *tp, const int32_t *src, int B, int S, int maxT, int sos, int eos,
		      int32_t *out, int *len)
{
	sl_mamba *m = impl;
	int V = m->cfg.vocab;
	sl_mamba_state *st = sl_mamba_state_new(m, B);
	float *logits = sl_xmalloc((size_t)B * V * sizeof *logits);
	int32_t *tok = sl_xmalloc((size_t)B * sizeof *tok);
	for (int t = 0; t < S + 2; t++) {
		for (int b = 0; b < B; b++)
			tok[b] = t < S ? src[(size_t)b * S + t] : t == S ? eos : sos;
		sl_mamba_step(m, tp, st, tok, logits);
		sl_tape_reset(tp);
	}
	int live = B;
	for (int b = 0; b < B; b++)
		len[b] = -1;
	for (int t = 0; t < maxT && live > 0; t++) {
		if (t > 0) {
			sl_mamba_step(m, tp, st, tok, logits);
			sl_tape_reset(tp);
		}
		for (int b = 0; b < B; b++) {
			int k = sl_argmax(logits + (size_t)b * V, V);
			out[(size_t)b * maxT + t] = k;
			tok[b] = k;
			if (len[b] < 0 && (k == eos || t == maxT - 1)) {
				len[b] = t + 1;
				live--;
			}
		}
	}
	free(tok);
	free(logits);
	sl_mamba_state_free(st);
}

static const sl_model_kind mamba_kind = {
	.name = "mamba",
	.summary = "Mamba: selective state-space blocks (a language model; a prefix LM for translation)",
	.options = sl_mamba_options,
	.cfg_size = sizeof(sl_mamba_config),
	.create = mb_create,
	.destroy = mb_destroy,
	.params = mb_params,
	.lm = mb_lm,
	.greedy = mb_greedy,
};

/* ---- gpt ------------------------------------------------------------------- */

static void *gpt_create(const void *cfg, const sl_model_shape *shape, const sl_rng *rng)
{
	sl_gpt_config c = *(const sl_gpt_config *)cfg;
	c.vocab = shape->vocab;
	c.maxlen = shape->maxlen;
	c.fixed_embed = shape->fixed_embed;
	c.fixed_dim = shape->fixed_dim;
	return sl_gpt_new(&c, rng);
}

static void gpt_destroy(void *impl)
{
	sl_gpt_free(impl);
}

static sl_params *gpt_params(void *impl)
{
	return ((sl_gpt *)impl)->ps;
}

static sl_tensor *gpt_lm(void *impl, sl_tape *tp, const int32_t *x, int B, int T)
{
	return sl_gpt_forward(impl, tp, x, B, T);
}

static const sl_model_kind gpt_kind = {
	.name = "gpt",
	.summary = "decoder-only Transformer (a language model; a prefix LM for translation)",
	.options = sl_gpt_options,
	.cfg_size = sizeof(sl_gpt_config),
	.create = gpt_create,
	.destroy = gpt_destroy,
	.params = gpt_params,
	.lm = gpt_lm,
};

/* ---- hybrid ---------------------------------------------------------------- */

static void *hy_create(const void *cfg, const sl_model_shape *shape, const sl_rng *rng)
{
	sl_hybrid_config c = *(const sl_hybrid_config *)cfg;
	c.vocab = shape->vocab;
	c.maxlen = shape->maxlen;
	c.fixed_embed = shape->fixed_embed;
	c.fixed_dim = shape->fixed_dim;
	return sl_hybrid_new(&c, rng);
}

static void hy_destroy(void *impl)
{
	sl_hybrid_free(impl);
}

static sl_params *hy_params(void *impl)
{
	return ((sl_hybrid *)impl)->ps;
}

static sl_tensor *hy_lm(void *impl, sl_tape *tp, const int32_t *x, int B, int T)
{
	return sl_hybrid_forward(impl, tp, x, B, T);
}

static const sl_model_kind hybrid_kind = {
	.name = "hybrid",
	.summary = "Mamba and attention blocks stacked by a pattern (MA, MAM, ...; a language model)",
	.options = sl_hybrid_options,
	.cfg_size = sizeof(sl_hybrid_config),
	.create = hy_create,
	.destroy = hy_destroy,
	.params = hy_params,
	.lm = hy_lm,
};

const sl_model_kind *const sl_model_kinds[] = { &transformer_kind, &mamba_kind, &gpt_kind, &hybrid_kind, NULL };

const sl_model_kind *sl_model_kind_find(const char *name)
{
	for (int i = 0; sl_model_kinds[i]; i++)
		if (strcmp(sl_model_kinds[i]->name, name) == 0)
			return sl_model_kinds[i];
	return NULL;
}

sl_model *sl_model_new(const sl_model_kind *kind, const char *const *keys, const char *const *vals, int n,
		       const sl_model_shape *shape, const sl_rng *rng)
{
	void *cfg = sl_xcalloc(1, kind->cfg_size);
	sl_optspec_defaults(kind->options, cfg);
	for (int i = 0; i < n; i++)
		if (sl_optspec_set(kind->options, cfg, keys[i], vals[i]) != SL_OK) {
			free(cfg);
			return NULL;
		}
	void *impl = kind->create(cfg, shape, rng);
	if (!impl) {
		free(cfg);
		return NULL;
	}
	sl_model *m = sl_xcalloc(1, sizeof *m);
	m->kind = kind;
	m->impl = impl;
	m->cfg = cfg;
	m->ps = kind->params(impl);
	return m;
}

void sl_model_free(sl_model *m)
{
	if (!m)
		return;
	m->kind->destroy(m->impl);
	free(m->cfg);
	free(m);
}

char *sl_model_spec(const sl_model *m, char *buf, size_t n)
{
	size_t k = (size_t)snprintf(buf, n, "%s", m->kind->name);
	for (const sl_optspec *s = m->kind->options; s->key && k < n; s++) {
		char v[SL_OPT_STRMAX];
		sl_optspec_format(s, m->cfg, v, sizeof v);
		k += (size_t)snprintf(buf + k, n - k, " %s=%s", s->key, v);
	}
	return buf;
}
