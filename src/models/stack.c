/* stack.c - language models as stacks of mixer blocks, and the presets that
 * are stacks: gpt, mamba, hybrid. */
#include "seqlab/stack.h"
#include "seqlab/model.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- options ----------------------------------------------------------------- */

static const char *const pe_names[] = { "learned", "rope", "none", "sinusoidal", NULL };

#define OFF(f) offsetof(sl_stack_config, f)
static const sl_optspec stack_options[] = {
	{ "pattern", SL_OPT_STR, OFF(pattern), "MA", 0, 0, NULL, "blocks bottom up, a letter each (see help model)" },
	{ "hidden", SL_OPT_INT, OFF(hidden), "64", 2, 1024, NULL, "model width" },
	{ "layers", SL_OPT_INT, OFF(layers), "2", 1, SL_STACK_MAX_LAYERS, NULL, "blocks" },
	{ "pe", SL_OPT_ENUM, OFF(pe), "none", 0, 0, pe_names,
	  "positions: learned (a table of maxlen rows), rope (rotary, in attention), none, sinusoidal" },
	{ "dropout", SL_OPT_FLOAT, OFF(dropout), "0", 0, 0.9, NULL, "dropout after the embeddings and sublayers" },
	{ NULL, 0, 0, NULL, 0, 0, NULL, NULL },
};
#undef OFF

void sl_stack_defaults(sl_stack_config *cfg)
{
	sl_optspec_defaults(stack_options, cfg);
}

/* The composed tables of the presets below, built once. */
enum { MAX_OPTS = 96, MAX_PRESETS = 8 };
static struct composed {
	const sl_stack_preset *p;
	sl_optspec t[MAX_OPTS];
	char defs[512];
	char help[128];
} composed[MAX_PRESETS];
static int ncomposed;

/* Appends table t's rows to c at offset base, with c's preset's defaults. */
static void compose_rows(struct composed *c, int *n, const sl_optspec *t, size_t base, size_t *used)
{
	for (const sl_optspec *s = t; s->key; s++) {
		SL_ASSERT(*n + 1 < MAX_OPTS);
		sl_optspec r = *s;
		r.offset += base;
		/* a default the preset overrides: "key=value" in its defaults */
		const char *d = c->p->defaults ? c->p->defaults : "";
		size_t kl = strlen(s->key);
		for (const char *q = d; (q = strstr(q, s->key)); q += kl)
			if ((q == d || q[-1] == ' ') && q[kl] == '=') {
				size_t vl = strcspn(q + kl + 1, " ");
				SL_ASSERT(*used + vl + 1 <= sizeof c->defs);
				char *v = c->defs + *used;
				memcpy(v, q + kl + 1, vl);
				v[vl] = 0;
				*used += vl + 1;
				r.def = v;
				break;
			}
		if (strcmp(r.key, "pattern") == 0) {
			snprintf(c->help, sizeof c->help, "blocks bottom up, a letter each: %s", sl_mixer_legend());
			r.help = c->help;
		}
		/* mixers that share a key share its value, so one default: the
		 * first's (or the preset's) */
		for (int i = 0; i < *n; i++)
			if (strcmp(c->t[i].key, r.key) == 0)
				r.def = c->t[i].def;
		c->t[(*n)++] = r;
	}
}

static void compose(struct composed *c)
{
	int n = 0;
	size_t used = 0;
	/* the stack's options the preset offers, in its order */
	const char *w = c->p->stack_opts;
	while (*w) {
		size_t l = strcspn(w, " ");
		for (const sl_optspec *s = stack_options; s->key; s++)
			if (strlen(s->key) == l && strncmp(s->key, w, l) == 0) {
				sl_optspec one[2] = { *s, { 0 } };
				compose_rows(c, &n, one, 0, &used);
			}
		w += l;
		w += strspn(w, " ");
	}
	for (int i = 0; sl_mixers[i]; i++)
		if (c->p->repeat ? sl_mixers[i]->letter == c->p->repeat
				 : !c->p->letters || strchr(c->p->letters, sl_mixers[i]->letter))
			compose_rows(c, &n, sl_mixers[i]->options,
				     offsetof(sl_stack_config, mix) + (size_t)i * SL_MIXER_CFG_MAX, &used);
	c->t[n] = (sl_optspec){ 0 };
}

const sl_optspec *sl_stack_options(const sl_stack_preset *p)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	pthread_mutex_lock(&lock);
	int i = 0;
	while (i < ncomposed && composed[i].p != p)
		i++;
	if (i == ncomposed) {
		SL_ASSERT(ncomposed < MAX_PRESETS);
		composed[i].p = p;
		compose(&composed[i]);
		ncomposed++;
	}
	pthread_mutex_unlock(&lock);
	return composed[i].t;
}

/* ---- the stack --------------------------------------------------------------- */

sl_stack *sl_stack_new(const sl_stack_preset *p, const sl_stack_config *cfg, int vocab, int maxlen,
		       const float *fixed, int fixed_dim, const sl_rng *rng)
{
	int H = cfg->hidden;
	char pattern[SL_OPT_STRMAX];
	if (p->repeat) {
		SL_ASSERT(cfg->layers >= 1 && cfg->layers <= SL_STACK_MAX_LAYERS);
		memset(pattern, p->repeat, (size_t)cfg->layers);
		pattern[cfg->layers] = 0;
	} else {
		snprintf(pattern, sizeof pattern, "%s", cfg->pattern);
	}
	int n = (int)strlen(pattern);
	if (n < 1 || n > SL_STACK_MAX_LAYERS) {
		sl_errorf("pattern=%s: 1 to %d letters (%s)", pattern, SL_STACK_MAX_LAYERS, sl_mixer_legend());
		return NULL;
	}
	for (int l = 0; l < n; l++) {
		if (!sl_mixer_by_letter(pattern[l])) {
			sl_errorf("pattern=%s: '%c' is not a block (%s)", pattern, pattern[l], sl_mixer_legend());
			return NULL;
		}
		if (p->letters && !strchr(p->letters, pattern[l])) {
			sl_errorf("pattern=%s: this kind's blocks are %s ('%c' is not one; hybrid takes any)", pattern,
				  p->letters, pattern[l]);
			return NULL;
		}
	}
	if (vocab < 1 || maxlen < 1) {
		sl_errorf("bad model shape (vocab=%d maxlen=%d)", vocab, maxlen);
		return NULL;
	}
	if (cfg->pe == SL_POS_SINUSOIDAL && H % 2) {
		sl_errorf("hidden=%d must be even for sinusoidal positions", H);
		return NULL;
	}
	if (fixed && fixed_dim > H) {
		sl_errorf("the task's fixed embeddings have %d dimensions: hidden=%d is too small", fixed_dim, H);
		return NULL;
	}
	sl_mixer_ctx ctx = { .hidden = H, .pe = cfg->pe, .dropout = cfg->dropout };
	for (int i = 0; sl_mixers[i]; i++)
		if (strchr(pattern, sl_mixers[i]->letter) && sl_mixers[i]->check(cfg->mix[i], &ctx) != SL_OK)
			return NULL;

	sl_stack *m = sl_xcalloc(1, sizeof *m);
	m->cfg = *cfg;
	snprintf(m->cfg.pattern, sizeof m->cfg.pattern, "%s", pattern);
	m->cfg.layers = n;
	m->vocab = vocab;
	m->maxlen = maxlen;
	m->n = n;
	m->ctx = ctx;
	m->ps = sl_params_new();
	m->emb_fixed = fixed != NULL;
	if (fixed)
		sl_nn_embedding_fixed(&m->emb, fixed, vocab, fixed_dim, H);
	else
		sl_nn_embedding_add(&m->emb, m->ps, "emb", vocab, H);
	int ps2[2] = { maxlen, H };
	if (cfg->pe == SL_POS_LEARNED) {
		m->pos = sl_params_add(m->ps, "pos", 2, ps2, SL_PARAM_NO_DECAY);
		sl_params_set_init(m->ps, m->pos, SL_INIT_NORMAL, 0, 0.02f);
	} else if (cfg->pe == SL_POS_SINUSOIDAL) {
		m->sin_table = sl_xmalloc((size_t)maxlen * H * sizeof(float));
		sl_nn_sinusoid(m->sin_table, maxlen, H);
		sl_shape_set(&m->sin_pos, 2, ps2);
		m->sin_pos.data = m->sin_table;
	}
	for (int l = 0; l < n; l++) {
		const sl_mixer_kind *k = m->mixer[l] = sl_mixer_by_letter(pattern[l]);
		char prefix[16];
		snprintf(prefix, sizeof prefix, "l%d", l);
		m->layer[l] = sl_xcalloc(1, k->layer_size);
		k->add(m->layer[l], m->ps, prefix, cfg->mix[sl_mixer_index(k)], &ctx);
	}
	const sl_mixer_kind *last = m->mixer[n - 1];
	m->has_norm_f = !(last->normalises && last->normalises(cfg->mix[sl_mixer_index(last)]));
	if (m->has_norm_f)
		sl_nn_norm_add(&m->norm_f, m->ps, "norm_f", H, p->rms);
	sl_nn_linear_add(&m->out, m->ps, "out", H, vocab, 1);
	sl_params_alloc(m->ps);
	sl_params_init(m->ps, rng);
	for (int l = 0; l < n; l++)
		if (m->mixer[l]->init)
			m->mixer[l]->init(m->layer[l], cfg->mix[sl_mixer_index(m->mixer[l])], &ctx, rng);
	return m;
}

void sl_stack_free(sl_stack *m)
{
	if (!m)
		return;
	if (m->emb_fixed)
		sl_nn_embedding_fixed_free(&m->emb);
	for (int l = 0; l < m->n; l++)
		free(m->layer[l]);
	sl_params_free(m->ps);
	free(m->sin_table);
	free(m);
}

static const void *mixcfg(const sl_stack *m, int l)
{
	return m->cfg.mix[sl_mixer_index(m->mixer[l])];
}

/* h (B, T, H) + the rows pos0..pos0+T-1 of table (rows >= pos0+T) */
static sl_tensor *add_positions(sl_tape *tp, sl_tensor *h, sl_tensor *table, int B, int T, int pos0)
{
	int32_t *pid = sl_arena_alloc(tp->arena, (size_t)B * T * sizeof(int32_t));
	for (int b = 0; b < B; b++)
		for (int t = 0; t < T; t++)
			pid[(size_t)b * T + t] = pos0 + t;
	return sl_embedding_add(tp, h, table, pid);
}

/* The embedded tokens x (B, T) at positions pos0.., with dropout. */
static sl_tensor *embed(sl_stack *m, sl_tape *tp, const int32_t *x, int B, int T, int pos0)
{
	const sl_stack_config *c = &m->cfg;
	if (c->pe == SL_POS_LEARNED && pos0 + T > m->maxlen) {
		sl_errorf("a sequence of %d tokens is longer than the %d learned positions", pos0 + T, m->maxlen);
		return NULL;
	}
	sl_tensor *h = sl_nn_embedding_forward(&m->emb, tp, x, B, T);
	if (c->pe == SL_POS_LEARNED) {
		h = add_positions(tp, h, m->pos, B, T, pos0);
	} else if (c->pe == SL_POS_SINUSOIDAL) {
		sl_tensor *table = &m->sin_pos;
		if (pos0 + T > m->maxlen) { /* sinusoids extend to any length */
			int s[2] = { pos0 + T, c->hidden };
			table = sl_tape_tensor(tp, 2, s);
			sl_nn_sinusoid(table->data, pos0 + T, c->hidden);
		}
		h = add_positions(tp, h, table, B, T, pos0);
	}
	return sl_dropout(tp, h, c->dropout);
}

static sl_tensor *head(sl_stack *m, sl_tape *tp, sl_tensor *h)
{
	if (m->has_norm_f)
		h = sl_nn_norm_forward(&m->norm_f, tp, h);
	return sl_nn_linear_forward(&m->out, tp, h);
}

sl_tensor *sl_stack_forward_probe(sl_stack *m, sl_tape *tp, const int32_t *x, int B, int T, sl_tensor **stream)
{
	sl_tensor *h = embed(m, tp, x, B, T, 0);
	if (!h)
		return NULL;
	tp->keep_grads = 1; /* the caller reads the stream's gradients */
	/* a leaf copy of the embedded input, so the gradient stops there */
	sl_tensor *leaf = sl_tape_tensor(tp, h->ndim, h->shape);
	memcpy(leaf->data, h->data, sl_tensor_numel(h) * sizeof(float));
	leaf->requires_grad = 1;
	leaf->grad = NULL;
	stream[0] = h = leaf;
	for (int l = 0; l < m->n; l++)
		stream[l + 1] = h = m->mixer[l]->forward(m->layer[l], mixcfg(m, l), &m->ctx, tp, h);
	return head(m, tp, h);
}

sl_tensor *sl_stack_forward(sl_stack *m, sl_tape *tp, const int32_t *x, int B, int T)
{
	sl_tensor *h = embed(m, tp, x, B, T, 0);
	if (!h)
		return NULL;
	for (int l = 0; l < m->n; l++)
		h = m->mixer[l]->forward(m->layer[l], mixcfg(m, l), &m->ctx, tp, h);
	return head(m, tp, h);
}

/* ---- step mode ----------------------------------------------------------------- */

struct sl_stack_state {
	int B, pos, n;
	const sl_mixer_kind *kind[SL_STACK_MAX_LAYERS];
	void *layer[SL_STACK_MAX_LAYERS];
};

/* Nonzero if block l steps a token at a time in its configuration. */
static int layer_steps(const sl_stack *m, int l)
{
	const sl_mixer_kind *k = m->mixer[l];
	return k->step && k->state_reorder && (!k->can_step || k->can_step(mixcfg(m, l), &m->ctx));
}

int sl_stack_can_step(const sl_stack *m)
{
	for (int l = 0; l < m->n; l++)
		if (!layer_steps(m, l))
			return 0;
	return 1;
}

sl_stack_state *sl_stack_state_new(const sl_stack *m, int B)
{
	for (int l = 0; l < m->n; l++)
		if (!layer_steps(m, l)) {
			sl_errorf("block %d (%s) has no step mode", l, m->mixer[l]->name);
			return NULL;
		}
	sl_stack_state *st = sl_xcalloc(1, sizeof *st);
	st->B = B;
	st->n = m->n;
	for (int l = 0; l < m->n; l++) {
		st->kind[l] = m->mixer[l];
		st->layer[l] = m->mixer[l]->state_new(m->layer[l], mixcfg(m, l), &m->ctx, B);
	}
	return st;
}

void sl_stack_state_free(sl_stack_state *st)
{
	if (!st)
		return;
	for (int l = 0; l < st->n; l++)
		st->kind[l]->state_free(st->layer[l]);
	free(st);
}

void sl_stack_state_reorder(sl_stack_state *st, const int *parent, int n)
{
	for (int l = 0; l < st->n; l++)
		st->kind[l]->state_reorder(st->layer[l], parent, n);
}

int sl_stack_step(sl_stack *m, sl_tape *tp, sl_stack_state *st, const int32_t *tok, float *logits)
{
	int ge = tp->grad_enabled, tr = tp->training, rc = SL_ERR;
	tp->grad_enabled = 0;
	tp->training = 0;
	sl_tensor *x = embed(m, tp, tok, st->B, 1, st->pos);
	if (x) {
		for (int l = 0; l < m->n; l++)
			x = m->mixer[l]->step(m->layer[l], mixcfg(m, l), &m->ctx, tp, st->layer[l], x);
		sl_tensor *lg = head(m, tp, x);
		memcpy(logits, lg->data, (size_t)st->B * m->vocab * sizeof(float));
		st->pos++;
		rc = SL_OK;
	}
	tp->grad_enabled = ge;
	tp->training = tr;
	return rc;
}

/* ---- the presets: model kinds that are stacks ----------------------------------- */

static void *create(const sl_model_kind *kind, const void *cfg, const sl_model_shape *shape, const sl_rng *rng)
{
	return sl_stack_new(kind->stack, cfg, shape->vocab, shape->maxlen, shape->fixed_embed, shape->fixed_dim, rng);
}

static void destroy(void *impl)
{
	sl_stack_free(impl);
}

static sl_params *params(void *impl)
{
	return ((sl_stack *)impl)->ps;
}

static sl_tensor *lm(void *impl, sl_tape *tp, const int32_t *x, int B, int T)
{
	return sl_stack_forward(impl, tp, x, B, T);
}

static sl_tensor *lm_probe(void *impl, sl_tape *tp, const int32_t *x, int B, int T, sl_tensor **stream)
{
	return sl_stack_forward_probe(impl, tp, x, B, T, stream);
}

static int layer_jacobian(void *impl, int l, sl_tape *tp, int p, float *norm)
{
	sl_stack *m = impl;
	if (!m->mixer[l]->jacobian) {
		sl_errorf("block %d (%s) has no recurrent state on the tape", l, m->mixer[l]->name);
		return SL_ERR;
	}
	return m->mixer[l]->jacobian(m->layer[l], mixcfg(m, l), &m->ctx, tp, p, norm);
}

static int can_step(void *impl)
{
	return sl_stack_can_step(impl);
}

static void *state_new(void *impl, int B)
{
	return sl_stack_state_new(impl, B);
}

static void state_free(void *st)
{
	sl_stack_state_free(st);
}

static void state_reorder(void *st, const int *parent, int n)
{
	sl_stack_state_reorder(st, parent, n);
}

static int step(void *impl, sl_tape *tp, void *st, const int32_t *tok, float *logits)
{
	return sl_stack_step(impl, tp, st, tok, logits);
}

static int layers(void *impl)
{
	return ((sl_stack *)impl)->n;
}

static const sl_mixer_kind *layer_mixer(void *impl, int l)
{
	return ((sl_stack *)impl)->mixer[l];
}

static int layer_view(void *impl, int l, int which, sl_mixer_grid *out, int max)
{
	sl_stack *m = impl;
	return m->mixer[l]->view(m->layer[l], mixcfg(m, l), &m->ctx, which, out, max);
}

static void work(const void *impl, double B, double S, double T, sl_work *w)
{
	const sl_stack *m = impl;
	double L = S > 0 ? S + 1 + T : T; /* a prefix LM over source EOS SOS target */
	for (int l = 0; l < m->n; l++)
		m->mixer[l]->work(mixcfg(m, l), &m->ctx, B, L, w);
	w->lin(w->ud, B * L, m->ctx.hidden, m->vocab);
}

#define STACK_KIND \
	.cfg_size = sizeof(sl_stack_config), .create = create, .destroy = destroy, .params = params, .lm = lm, \
	.lm_probe = lm_probe, .layer_jacobian = layer_jacobian, \
	.can_step = can_step, .state_new = state_new, .state_free = state_free, .step = step, .state_reorder = state_reorder, .layers = layers, \
	.layer_mixer = layer_mixer, .layer_view = layer_view, .work = work

const sl_model_kind sl_model_gpt = {
	.name = "gpt",
	.summary = "decoder-only Transformer: attention blocks (a language model; a prefix LM for translation)",
	.stack = &(const sl_stack_preset){ .repeat = 'A', .rms = 0, .stack_opts = "hidden layers pe dropout",
					   .defaults = "pe=learned" },
	STACK_KIND,
};

const sl_model_kind sl_model_mamba = {
	.name = "mamba",
	.summary = "Mamba: selective state-space blocks (a language model; a prefix LM for translation)",
	.stack = &(const sl_stack_preset){ .repeat = 'M', .rms = 1, .stack_opts = "hidden layers" },
	STACK_KIND,
};

const sl_model_kind sl_model_s4d = {
	.name = "s4d",
	.summary = "S4D: diagonal LTI state spaces as causal convolutions (a language model)",
	.stack = &(const sl_stack_preset){ .repeat = 'S', .rms = 0, .stack_opts = "hidden layers dropout" },
	STACK_KIND,
};

const sl_model_kind sl_model_lru = {
	.name = "lru",
	.summary = "linear recurrent units: complex diagonal recurrences (a language model)",
	.stack = &(const sl_stack_preset){ .repeat = 'L', .rms = 0, .stack_opts = "hidden layers dropout" },
	STACK_KIND,
};

const sl_model_kind sl_model_hawk = {
	.name = "hawk",
	.summary = "Hawk: RG-LRU recurrent blocks with MLPs (a language model)",
	.stack = &(const sl_stack_preset){ .repeat = 'R', .rms = 1, .stack_opts = "hidden layers dropout" },
	STACK_KIND,
};

const sl_model_kind sl_model_griffin = {
	.name = "griffin",
	.summary = "Griffin: RG-LRU blocks and local attention by a pattern (RRA...; a language model)",
	.stack = &(const sl_stack_preset){ .repeat = 0, .letters = "RA", .rms = 1,
					   .stack_opts = "pattern hidden pe dropout",
					   .defaults = "pattern=RRA mlp=3 window=64 pe=rope" },
	STACK_KIND,
};

const sl_model_kind sl_model_elman = {
	.name = "elman",
	.summary = "Elman's tanh RNN blocks (a language model)",
	.stack = &(const sl_stack_preset){ .repeat = 'E', .rms = 0, .stack_opts = "hidden layers dropout" },
	STACK_KIND,
};

const sl_model_kind sl_model_gru = {
	.name = "gru",
	.summary = "GRU blocks (a language model)",
	.stack = &(const sl_stack_preset){ .repeat = 'U', .rms = 0, .stack_opts = "hidden layers dropout" },
	STACK_KIND,
};

const sl_model_kind sl_model_lstm = {
	.name = "lstm",
	.summary = "LSTM blocks (a language model)",
	.stack = &(const sl_stack_preset){ .repeat = 'C', .rms = 0, .stack_opts = "hidden layers dropout" },
	STACK_KIND,
};

const sl_model_kind sl_model_hybrid = {
	.name = "hybrid",
	.summary = "any mixers stacked by a pattern of letters (MA, MAM, ...; a language model)",
	.stack = &(const sl_stack_preset){ .repeat = 0, .rms = 1, .stack_opts = "pattern hidden pe dropout",
					   .defaults = "mlp=0" },
	STACK_KIND,
};
