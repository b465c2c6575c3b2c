/* model.c - the list of model kinds (pointers only: each kind is defined
 * next to its code), models from option tables, and the one generation
 * path. */
#include "seqlab/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const sl_model_kind *const sl_model_kinds[] = {
	&sl_model_transformer,
	&sl_model_rnn,
	&sl_model_gpt,
	&sl_model_mamba,
	&sl_model_hybrid,
	&sl_model_s4d,
	&sl_model_lru,
	&sl_model_hawk,
	&sl_model_griffin,
	&sl_model_elman,
	&sl_model_gru,
	&sl_model_lstm,
	&sl_model_esn,
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

void *sl_model_config(const sl_model_kind *kind, const char *const *keys, const char *const *vals, int n,
		       int strict)
{
	const sl_optspec *t = sl_model_options(kind);
	void *cfg = sl_xcalloc(1, kind->cfg_size);
	if (kind->stack)
		sl_stack_defaults(cfg); /* the stack's options a preset does not offer */
	sl_optspec_defaults(t, cfg);
	for (int i = 0; i < n; i++) {
		/* every row with the key: mixers that share an option share its value */
		const sl_optspec *s = sl_optspec_find(t, keys[i]);
		int bad = !s;
		if (!s)
			sl_optspec_set(t, cfg, keys[i], vals[i]); /* the error, with a suggestion */
		for (; s && s->key; s++)
			if (strcmp(s->key, keys[i]) == 0 && sl_optspec_set(s, cfg, keys[i], vals[i]) != SL_OK)
				bad = 1;
		if (bad && strict) {
			free(cfg);
			return NULL;
		}
	}
	return cfg;
}

sl_model *sl_model_new(const sl_model_kind *kind, const char *const *keys, const char *const *vals, int n,
		       const sl_model_shape *shape, const sl_rng *rng)
{
	if (shape->dout > 0 && !kind->regress) {
		char names[256] = "";
		size_t k = 0;
		for (int i = 0; sl_model_kinds[i] && k < sizeof names; i++)
			if (sl_model_kinds[i]->regress)
				k += (size_t)snprintf(names + k, sizeof names - k, "%s%s", k ? ", " : "", sl_model_kinds[i]->name);
		sl_errorf("a %s cannot do this task: it predicts real values, which needs a model that regresses (%s)",
			  kind->name, names);
		return NULL;
	}
	void *cfg = sl_model_config(kind, keys, vals, n, 1);
	if (!cfg)
		return NULL;
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

int sl_model_fits(const sl_model *m)
{
	return m->kind->fit_add && m->kind->fit_solve;
}

int sl_model_can_step(const sl_model *m)
{
	return m->kind->can_step && m->kind->can_step(m->impl);
}

const char *sl_model_decoding(const sl_model *m)
{
	int steps = m->kind->greedy ? !m->kind->greedy_steps || m->kind->greedy_steps(m->impl) : sl_model_can_step(m);
	return steps ? "step" : "rerun";
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

/* ---- greedy decoding and beam search ---------------------------------------- */

void sl_greedy_steps(const sl_beam_ops *ops, int B, int V, int maxT, int sos, int eos, int32_t *cur, int32_t *out,
		     int *len)
{
	int live = B;
	for (int b = 0; b < B; b++) {
		cur[b] = sos;
		len[b] = -1;
	}
	for (int t = 0; t < maxT && live > 0; t++) {
		const float *logits = ops->step(ops->ctx, cur, t);
		for (int b = 0; b < B; b++) {
			int tok = sl_argmax(logits + (size_t)b * V, V);
			out[(size_t)b * maxT + t] = tok;
			cur[b] = tok;
			if (len[b] < 0 && (tok == eos || t == maxT - 1)) {
				len[b] = t + 1;
				live--;
			}
		}
	}
}

int sl_beam_search(const sl_beam_ops *ops, int K, int V, int maxT, int sos, int eos, int32_t *out)
{
	int32_t *hyp = sl_xcalloc((size_t)K * maxT, sizeof *hyp), *ctok = sl_xcalloc((size_t)K, sizeof *ctok);
	int32_t *cur = sl_xcalloc((size_t)K, sizeof *cur), *best = sl_xcalloc((size_t)maxT, sizeof *best);
	int32_t *tmp = sl_xmalloc((size_t)K * maxT * sizeof *tmp);
	double *score = sl_xcalloc((size_t)K, sizeof *score), *nscore = sl_xcalloc((size_t)K, sizeof *nscore);
	int *parent = sl_xcalloc((size_t)K, sizeof *parent);
	double best_score = -INFINITY;
	int best_len = 0, live = 1; /* at t = 0 only beam 0 is distinct */
	for (int k = 0; k < K; k++)
		cur[k] = sos;
	for (int t = 0; t < maxT && live > 0; t++) {
		const float *logits = ops->step(ops->ctx, cur, t);
		/* the K best candidates (beam, token) by total log-probability; those
		 * ending in eos (or at the length cap) are finished, the rest go on,
		 * so a beam of width 1 is exactly greedy decoding */
		int n = 0;
		for (int k = 0; k < live; k++) {
			const float *z = logits + (size_t)k * V;
			float mx = z[sl_argmax(z, V)];
			double lse = 0;
			for (int v = 0; v < V; v++)
				lse += exp((double)z[v] - mx);
			lse = mx + log(lse);
			for (int v = 0; v < V; v++) {
				double s = score[k] + z[v] - lse;
				if (n == K && s <= nscore[K - 1])
					continue;
				int i = n < K ? n++ : K - 1;
				while (i > 0 && nscore[i - 1] < s) {
					nscore[i] = nscore[i - 1];
					parent[i] = parent[i - 1];
					ctok[i] = ctok[i - 1];
					i--;
				}
				nscore[i] = s;
				parent[i] = k;
				ctok[i] = v;
			}
		}
		int kept = 0;
		for (int i = 0; i < n; i++) {
			if (ctok[i] == eos || t == maxT - 1) {
				if (nscore[i] > best_score) {
					best_score = nscore[i];
					best_len = t + 1;
					memcpy(best, hyp + (size_t)parent[i] * maxT, (size_t)t * sizeof *best);
					best[t] = ctok[i];
				}
				continue;
			}
			nscore[kept] = nscore[i];
			parent[kept] = parent[i];
			ctok[kept] = ctok[i];
			kept++;
		}
		n = kept;
		/* stop when no unfinished hypothesis can beat the best finished one
		 * (scores only fall as hypotheses grow) */
		if (n == 0 || nscore[0] <= best_score)
			break;
		/* reorder histories and the decoder's state by parent */
		for (int i = 0; i < n; i++) {
			memcpy(tmp + (size_t)i * maxT, hyp + (size_t)parent[i] * maxT, (size_t)t * sizeof *tmp);
			tmp[(size_t)i * maxT + t] = ctok[i];
			cur[i] = ctok[i];
		}
		memcpy(hyp, tmp, (size_t)K * maxT * sizeof *tmp);
		ops->reorder(ops->ctx, parent, n, t);
		memcpy(score, nscore, (size_t)n * sizeof *score);
		live = n;
		/* dead beam slots keep decoding harmlessly; only the first `live` count */
		for (int i = n; i < K; i++)
			cur[i] = sos;
	}
	memcpy(out, best, (size_t)best_len * sizeof *out);
	free(hyp);
	free(ctok);
	free(cur);
	free(best);
	free(tmp);
	free(score);
	free(nscore);
	free(parent);
	return best_len;
}

/* a language model's beam search in step mode, after the prefix `src eos` */
typedef struct lm_beam {
	sl_model *m;
	sl_tape *tp;
	void *st;
	float *logits;
	int ok;
} lm_beam;

static const float *lm_beam_step(void *ctx, const int32_t *cur, int t)
{
	(void)t;
	lm_beam *b = ctx;
	if (b->ok)
		b->ok = b->m->kind->step(b->m->impl, b->tp, b->st, cur, b->logits) == SL_OK;
	sl_tape_reset(b->tp);
	return b->logits; /* past the positions: the last logits again (search ends at maxT) */
}

static void lm_beam_reorder(void *ctx, const int *parent, int n, int t)
{
	(void)t;
	lm_beam *b = ctx;
	b->m->kind->state_reorder(b->st, parent, n);
}

int sl_model_beam(sl_model *m, sl_tape *tp, const int32_t *src, int S, int maxT, int sos, int eos, int beam, int V,
		  int32_t *out)
{
	if (m->kind->beam)
		return m->kind->beam(m->impl, tp, src, S, maxT, sos, eos, beam, out);
	if (!sl_model_can_step(m) || !m->kind->state_reorder || beam <= 1) {
		int len;
		sl_model_greedy(m, tp, src, 1, S, maxT, sos, eos, V, out, &len);
		return len;
	}
	int ge = tp->grad_enabled, tr = tp->training;
	lm_beam b = { .m = m, .tp = tp, .st = m->kind->state_new(m->impl, beam), .ok = 1 };
	b.logits = sl_xcalloc((size_t)beam * V, sizeof *b.logits);
	int32_t *tok = sl_xmalloc((size_t)beam * sizeof *tok);
	b.ok = b.st != NULL;
	for (int t = 0; b.ok && t < S + 1; t++) { /* the prefix, the same in every row */
		for (int k = 0; k < beam; k++)
			tok[k] = t < S ? src[t] : eos;
		b.ok = m->kind->step(m->impl, tp, b.st, tok, b.logits) == SL_OK;
		sl_tape_reset(tp);
	}
	sl_beam_ops ops = { .ctx = &b, .step = lm_beam_step, .reorder = lm_beam_reorder };
	int len = sl_beam_search(&ops, beam, V, maxT, sos, eos, out);
	free(tok);
	free(b.logits);
	if (b.st)
		m->kind->state_free(b.st);
	tp->grad_enabled = ge;
	tp->training = tr;
	return len;
}

/* ---- sampling ---------------------------------------------------------------- */

/* One token from logits (V): greedy at temp <= 0, else softmax(logits/temp)
 * over the top_k (0: all) drawn with rng. */
static int32_t draw(const float *logits, int V, float temp, int top_k, sl_rng *rng, double *p)
{
	int best = sl_argmax(logits, V);
	if (temp <= 0.0f || top_k == 1)
		return best;
	float cut = -INFINITY;
	if (top_k > 0 && top_k < V) { /* the k-th largest logit: keep those >= it */
		float *tmp = sl_xmalloc((size_t)V * sizeof *tmp);
		memcpy(tmp, logits, (size_t)V * sizeof *tmp);
		for (int k = 0; k < top_k; k++) {
			int j = sl_argmax(tmp, V);
			cut = tmp[j];
			tmp[j] = -INFINITY;
		}
		free(tmp);
	}
	double mx = logits[best] / (double)temp, sum = 0;
	for (int v = 0; v < V; v++) {
		p[v] = logits[v] >= cut ? exp(logits[v] / (double)temp - mx) : 0.0;
		sum += p[v];
	}
	double u = sl_rng_double(rng) * sum, acc = 0;
	for (int v = 0; v < V; v++) {
		acc += p[v];
		if (u < acc && p[v] > 0)
			return v;
	}
	return best;
}

int sl_model_sample(sl_model *m, sl_tape *tp, const int32_t *prompt, int np, int n, float temp, int top_k, int V,
		    int ctx, sl_rng *rng, int rerun, void (*emit)(void *ud, int32_t tok), void *ud, int32_t *out)
{
	if (!m->kind->lm) {
		sl_errorf("a %s is not a language model: sample needs one (%s)", m->kind->name, sl_model_kind_names(1));
		return -1;
	}
	SL_ASSERT(np >= 1 && n >= 0 && ctx >= 1);
	int ge = tp->grad_enabled, tr = tp->training, made = 0;
	tp->grad_enabled = 0;
	tp->training = 0;
	double *p = sl_xmalloc((size_t)V * sizeof *p);
	float *logits = sl_xmalloc((size_t)V * sizeof *logits);
	void *st = !rerun && sl_model_can_step(m) ? m->kind->state_new(m->impl, 1) : NULL;
	int stepping = st != NULL;
	/* the context for re-running: the last ctx tokens */
	int32_t *win = sl_xmalloc((size_t)(np + n + 1) * sizeof *win);
	memcpy(win, prompt, (size_t)np * sizeof *win);
	int len = np;
	for (int i = 0; stepping && i < np; i++) {
		stepping = m->kind->step(m->impl, tp, st, &prompt[i], logits) == SL_OK;
		sl_tape_reset(tp);
	}
	for (; made < n; made++) {
		if (!stepping) { /* past the step mode's positions, or none: re-run the last ctx tokens */
			int L = len < ctx ? len : ctx;
			sl_tensor *lg = m->kind->lm(m->impl, tp, win + len - L, 1, L);
			if (!lg) {
				made = -1;
				break;
			}
			memcpy(logits, lg->data + (size_t)(L - 1) * V, (size_t)V * sizeof *logits);
			sl_tape_reset(tp);
		}
		int32_t tok = draw(logits, V, temp, top_k, rng, p);
		out[made] = tok;
		win[len++] = tok;
		if (emit)
			emit(ud, tok);
		if (stepping && made + 1 < n) {
			stepping = m->kind->step(m->impl, tp, st, &tok, logits) == SL_OK;
			sl_tape_reset(tp);
		}
	}
	if (st)
		m->kind->state_free(st);
	free(win);
	free(logits);
	free(p);
	tp->grad_enabled = ge;
	tp->training = tr;
	return made;
}
