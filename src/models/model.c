/* model.c - the list of model kinds (pointers only: each kind is defined
 * next to its code), models from option tables, and the one generation
 * path. */
#include "seqlab/model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const sl_model_kind *const sl_model_kinds[] = {
	&sl_model_transformer,
	&sl_model_gpt,
	&sl_model_mamba,
	&sl_model_hybrid,
	NULL,
};

const sl_model_kind *sl_model_kind_find(const char *name)
{
	for (int i = 0; sl_model_kinds[i]; i++)
		if (strcmp(sl_model_kinds[i]->name, name) == 0)
			return sl_model_kinds[i];
	return NULL;
}

const char *sl_model_kind_names(int lm)
{
	static _Thread_local char buf[512];
	size_t k = 0;
	buf[0] = 0;
	for (int i = 0; sl_model_kinds[i] && k < sizeof buf; i++)
		if (!lm || sl_model_kinds[i]->lm)
			k += (size_t)snprintf(buf + k, sizeof buf - k, "%s%s", k ? ", " : "", sl_model_kinds[i]->name);
	return buf;
}

const sl_optspec *sl_model_options(const sl_model_kind *kind)
{
	return kind->options ? kind->options : sl_stack_options(kind->stack);
}

sl_model *sl_model_new(const sl_model_kind *kind, const char *const *keys, const char *const *vals, int n,
		       const sl_model_shape *shape, const sl_rng *rng)
{
	const sl_optspec *t = sl_model_options(kind);
	void *cfg = sl_xcalloc(1, kind->cfg_size);
	if (kind->stack)
		sl_stack_defaults(cfg); /* the stack's options a preset does not offer */
	sl_optspec_defaults(t, cfg);
	for (int i = 0; i < n; i++) {
		/* every row with the key: mixers that share an option share its value */
		const sl_optspec *s = sl_optspec_find(t, keys[i]);
		if (!s) {
			sl_optspec_set(t, cfg, keys[i], vals[i]); /* the error, with a suggestion */
			free(cfg);
			return NULL;
		}
		for (; s->key; s++)
			if (strcmp(s->key, keys[i]) == 0 && sl_optspec_set(s, cfg, keys[i], vals[i]) != SL_OK) {
				free(cfg);
				return NULL;
			}
	}
	void *impl = kind->create(kind, cfg, shape, rng);
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
	const sl_optspec *t = sl_model_options(m->kind);
	size_t k = (size_t)snprintf(buf, n, "%s", m->kind->name);
	for (const sl_optspec *s = t; s->key && k < n; s++) {
		if (sl_optspec_find(t, s->key) != s) /* a shared key, written once */
			continue;
		char v[SL_OPT_STRMAX];
		sl_optspec_format(s, m->cfg, v, sizeof v);
		k += (size_t)snprintf(buf + k, n - k, " %s=%s", s->key, v);
	}
	return buf;
}

int sl_model_can_step(const sl_model *m)
{
	return m->kind->can_step && m->kind->can_step(m->impl);
}

/* ---- generation ------------------------------------------------------------- */

/* Records token tok of sequence b at step t; counts b finished at eos or at
 * the last step. */
static void emit(int32_t *out, int *len, int *live, int b, int t, int maxT, int tok, int eos)
{
	out[(size_t)b * maxT + t] = tok;
	if (len[b] < 0 && (tok == eos || t == maxT - 1)) {
		len[b] = t + 1;
		(*live)--;
	}
}

/* A prefix LM in step mode: feed `src eos sos`, then generate. */
static void step_greedy(sl_model *m, sl_tape *tp, const int32_t *src, int B, int S, int maxT, int sos, int eos,
			int V, int32_t *out, int *len)
{
	void *st = m->kind->state_new(m->impl, B);
	float *logits = sl_xmalloc((size_t)B * V * sizeof *logits);
	int32_t *tok = sl_xmalloc((size_t)B * sizeof *tok);
	int ok = st != NULL;
	for (int t = 0; ok && t < S + 2; t++) {
		for (int b = 0; b < B; b++)
			tok[b] = t < S ? src[(size_t)b * S + t] : t == S ? eos : sos;
		ok = m->kind->step(m->impl, tp, st, tok, logits) == SL_OK;
		sl_tape_reset(tp);
	}
	int live = B;
	for (int b = 0; b < B; b++)
		len[b] = -1;
	for (int t = 0; t < maxT && live > 0; t++) {
		if (t > 0 && ok) {
			ok = m->kind->step(m->impl, tp, st, tok, logits) == SL_OK;
			sl_tape_reset(tp);
		}
		for (int b = 0; b < B; b++) {
			int k = ok ? sl_argmax(logits + (size_t)b * V, V) : eos; /* past the positions: stop */
			tok[b] = k;
			emit(out, len, &live, b, t, maxT, k, eos);
		}
	}
	free(tok);
	free(logits);
	if (st)
		m->kind->state_free(st);
}

/* A prefix LM by re-running it on the growing sequence. */
static void rerun_greedy(sl_model *m, sl_tape *tp, const int32_t *src, int B, int S, int maxT, int sos, int eos,
			 int V, int32_t *out, int *len)
{
	int ge = tp->grad_enabled, tr = tp->training;
	tp->grad_enabled = 0;
	tp->training = 0;
	int Lmax = S + 1 + maxT;
	int32_t *x = sl_xmalloc((size_t)B * Lmax * sizeof *x);
	int live = B;
	for (int i = 0; i < B; i++) {
		len[i] = -1;
		memcpy(x + (size_t)i * Lmax, src + (size_t)i * S, (size_t)S * sizeof *x);
		x[(size_t)i * Lmax + S] = eos;
		x[(size_t)i * Lmax + S + 1] = sos;
	}
	for (int t = 0; t < maxT && live > 0; t++) {
		int L = S + 2 + t;
		int32_t *xt = sl_arena_alloc(tp->arena, (size_t)B * L * sizeof *xt);
		for (int i = 0; i < B; i++)
			memcpy(xt + (size_t)i * L, x + (size_t)i * Lmax, (size_t)L * sizeof *xt);
		sl_tensor *logits = m->kind->lm(m->impl, tp, xt, B, L);
		for (int i = 0; i < B; i++) {
			int tok = logits ? sl_argmax(logits->data + ((size_t)i * L + L - 1) * V, V) : eos;
			if (L < Lmax)
				x[(size_t)i * Lmax + L] = tok;
			emit(out, len, &live, i, t, maxT, tok, eos);
		}
	}
	free(x);
	tp->grad_enabled = ge;
	tp->training = tr;
}

void sl_model_greedy(sl_model *m, sl_tape *tp, const int32_t *src, int B, int S, int maxT, int sos, int eos, int V,
		     int32_t *out, int *len)
{
	if (m->kind->greedy)
		m->kind->greedy(m->impl, tp, src, B, S, maxT, sos, eos, out, len);
	else if (sl_model_can_step(m))
		step_greedy(m, tp, src, B, S, maxT, sos, eos, V, out, len);
	else
		rerun_greedy(m, tp, src, B, S, maxT, sos, eos, V, out, len);
}
