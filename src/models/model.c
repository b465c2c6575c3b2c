/* model.c - the model registry. */
#include "seqlab/model.h"
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

const sl_model_kind *const sl_model_kinds[] = { &transformer_kind, NULL };

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
