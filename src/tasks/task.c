/* task.c - what every task shares: batches, mistakes, references, and the
 * list of task kinds (pointers only: each kind is defined in its own file). */
#include "seqlab/task.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const sl_task_kind *const sl_task_kinds[] = {
	&sl_task_piglatin,
	&sl_task_recall,
	&sl_task_mqar,
	&sl_task_copy,
	&sl_task_charlm,
	&sl_task_pixels,
	&sl_task_series,
	NULL,
};

const sl_task_kind *sl_task_kind_find(const char *name)
{
	for (int i = 0; sl_task_kinds[i]; i++)
		if (strcmp(sl_task_kinds[i]->name, name) == 0)
			return sl_task_kinds[i];
	return NULL;
}

const char *sl_task_kind_names(void)
{
	static _Thread_local char buf[256];
	size_t k = 0;
	buf[0] = 0;
	for (int i = 0; sl_task_kinds[i] && k < sizeof buf; i++)
		k += (size_t)snprintf(buf + k, sizeof buf - k, "%s%s", i ? ", " : "", sl_task_kinds[i]->name);
	return buf;
}

const sl_task_kind *sl_task_kind_with_option(const char *key, const sl_task_kind *except)
{
	for (int i = 0; sl_task_kinds[i]; i++)
		if (sl_task_kinds[i] != except && sl_optspec_find(sl_task_kinds[i]->options, key))
			return sl_task_kinds[i];
	return NULL;
}

void sl_batch_free(sl_batch *b)
{
	free(b->src);
	free(b->inp);
	free(b->tgt);
	free(b->x);
	free(b->y);
	b->src = b->inp = b->tgt = NULL;
	b->x = b->y = NULL;
}

void sl_mistakes_add(sl_mistakes *m, const char *src, const char *out, const char *want)
{
	if (m->n == m->cap) {
		m->cap = m->cap ? 2 * m->cap : 64;
		m->src = sl_xrealloc(m->src, (size_t)m->cap * sizeof(char *));
		m->out = sl_xrealloc(m->out, (size_t)m->cap * sizeof(char *));
		m->want = sl_xrealloc(m->want, (size_t)m->cap * sizeof(char *));
	}
	m->src[m->n] = sl_xstrdup(src);
	m->out[m->n] = sl_xstrdup(out);
	m->want[m->n] = sl_xstrdup(want);
	m->n++;
}

void sl_mistakes_clear(sl_mistakes *m)
{
	for (int i = 0; i < m->n; i++) {
		free(m->src[i]);
		free(m->out[i]);
		free(m->want[i]);
	}
	free(m->src);
	free(m->out);
	free(m->want);
	memset(m, 0, sizeof *m);
}

void sl_task_ref(sl_task *t)
{
	t->refs++;
}

void sl_task_unref(sl_task *t)
{
	if (t && --t->refs <= 0)
		t->ops->free(t);
}


/* ---- random plans and the language-model loss ---- */

sl_task_plan *sl_task_plan_new(uint64_t task_seed, int nbatches, int bsz, uint64_t seed, int64_t epoch)
{
	sl_task_plan *p = sl_xcalloc(1, sizeof *p);
	p->bsz = bsz;
	p->n = nbatches;
	sl_rng root;
	sl_rng_seed(&root, task_seed);
	sl_rng train = sl_rng_split_str(&root, "train"), run = sl_rng_split(&train, seed);
	p->rng = sl_rng_split(&run, (uint64_t)epoch);
	return p;
}

void sl_task_plan_free(void *plan)
{
	free(plan);
}

int sl_task_plan_batches(const void *plan)
{
	return ((const sl_task_plan *)plan)->n;
}

sl_rng sl_task_plan_rng(const sl_task_plan *p, int index)
{
	return sl_rng_split(&p->rng, (uint64_t)index);
}

sl_tensor *sl_task_lm_loss(sl_model *m, sl_tape *tp, const sl_batch *b, int *count)
{
	if (!m->kind->lm) {
		sl_errorf("a %s cannot do this task: it needs a language model (%s)", m->kind->name, sl_model_kind_names(1));
		return NULL;
	}
	sl_tensor *logits = m->kind->lm(m->impl, tp, b->inp, b->B, b->T);
	return logits ? sl_cross_entropy(tp, logits, b->tgt, -1, count) : NULL;
}

int sl_task_lm_fit(sl_model *m, const sl_batch *b)
{
	if (!sl_model_fits(m) || !m->kind->lm) {
		sl_errorf("a %s is not fitted in closed form", m->kind->name);
		return SL_ERR;
	}
	sl_fit_batch f = { .B = b->B, .T = b->T, .tok = b->inp, .tgt = b->tgt, .pool = b->pool };
	return m->kind->fit_add(m->impl, &f);
}
