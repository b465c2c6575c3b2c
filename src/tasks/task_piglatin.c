/* task_piglatin.c - Pig-Latin as a task: batches, the training loss for
 * encoder-decoders and prefix language models, evaluation, translation. */
#include "seqlab/ops.h"
#include "seqlab/optspec.h"
#include "seqlab/piglatin.h"

#include <math.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sl_pl_max_target(const char *src, int S)
{
	int pieces = 1;
	for (const char *p = src; *p; p++)
		pieces += *p == '-' || *p == '\'';
	return S + 3 * pieces + 1;
}

/* ---- plans and batches ------------------------------------------------------ */

static void *pl_plan_new(sl_task *t, int bsz, uint64_t seed, int64_t epoch, int shuffle)
{
	return sl_pl_plan_new(t->impl, 0, bsz, seed, epoch, shuffle);
}

static void pl_plan_free(void *plan)
{
	sl_pl_plan_free(plan);
}

static int pl_plan_batches(const void *plan)
{
	return ((const sl_pl_plan *)plan)->nbatches;
}

static void to_batch(sl_pl_batch *pb, sl_batch *b)
{
	memset(b, 0, sizeof *b);
	b->B = pb->B;
	b->S = pb->S;
	b->T = pb->T + 1;
	b->src = pb->src;
	b->inp = pb->dec;
	b->tgt = pb->out;
}

static void pl_batch(sl_task *t, const void *plan, int index, sl_batch *b)
{
	sl_pl_batch pb;
	sl_pl_batch_fill(t->impl, plan, index, &pb);
	to_batch(&pb, b);
}

/* ---- the loss: seq2seq, or a prefix LM over source EOS SOS target ----------- */

/* x (B, S + 1 + T): source, EOS, then the decoder input (SOS target); y the
 * next token on the target part, -1 elsewhere. */
static void prefix_fill(const sl_batch *b, int32_t *x, int32_t *y)
{
	int B = b->B, S = b->S, T = b->T, L = S + 1 + T;
	for (int i = 0; i < B; i++) {
		int32_t *xi = x + (size_t)i * L, *yi = y + (size_t)i * L;
		memcpy(xi, b->src + (size_t)i * S, (size_t)S * sizeof(int32_t));
		xi[S] = SL_PL_EOS;
		memcpy(xi + S + 1, b->inp + (size_t)i * T, (size_t)T * sizeof(int32_t));
		for (int p = 0; p < L; p++)
			yi[p] = p >= S + 1 ? b->tgt[(size_t)i * T + (p - S - 1)] : -1;
	}
}

static void prefix_lm(const sl_batch *b, sl_tape *tp, int32_t **x, int32_t **y, int *L)
{
	*L = b->S + 1 + b->T;
	*x = sl_arena_alloc(tp->arena, (size_t)b->B * *L * sizeof(int32_t));
	*y = sl_arena_alloc(tp->arena, (size_t)b->B * *L * sizeof(int32_t));
	prefix_fill(b, *x, *y);
}

/* A closed-form fit sees the prefix LM's sequences. */
static int pl_fit(sl_task *t, sl_model *m, const sl_batch *b)
{
	(void)t;
	int L = b->S + 1 + b->T;
	sl_batch lm = { .B = b->B, .T = L };
	lm.inp = sl_xmalloc((size_t)b->B * L * sizeof(int32_t));
	lm.tgt = sl_xmalloc((size_t)b->B * L * sizeof(int32_t));
	prefix_fill(b, lm.inp, lm.tgt);
	int st = sl_task_lm_fit(m, &lm);
	sl_batch_free(&lm);
	return st;
}

static sl_tensor *pl_loss(sl_task *t, sl_model *m, sl_tape *tp, const sl_batch *b, int *count)
{
	(void)t;
	if (m->kind->seq2seq) {
		sl_tensor *logits = m->kind->seq2seq(m->impl, tp, b->src, b->inp, b->B, b->S, b->T);
		return sl_cross_entropy(tp, logits, b->tgt, -1, count);
	}
	if (m->kind->lm) {
		int32_t *x, *y;
		int L;
		prefix_lm(b, tp, &x, &y, &L);
		sl_tensor *logits = m->kind->lm(m->impl, tp, x, b->B, L);
		return sl_cross_entropy(tp, logits, y, -1, count);
	}
	sl_errorf("a %s cannot translate", m->kind->name);
	return NULL;
}

/* ---- decoding ----------------------------------------------------------------- */

static void greedy(sl_task *t, sl_model *m, sl_tape *tp, const int32_t *src, int B, int S, int maxT, int32_t *out,
		   int *len)
{
	sl_model_greedy(m, tp, src, B, S, maxT, SL_PL_SOS, SL_PL_EOS, t->shape.vocab, out, len);
}

/* Decoded tokens up to EOS as a string. */
static void detok(const int32_t *tok, int len, char *out, size_t n)
{
	size_t k = 0;
	for (int i = 0; i < len && k + 1 < n; i++) {
		if (tok[i] == SL_PL_EOS)
			break;
		out[k++] = (char)sl_pl_char(tok[i]);
	}
	out[k] = 0;
}

static void pl_eval(sl_task *t, sl_model *m, sl_tape *tp, sl_eval *e, sl_mistakes *mk)
{
	const sl_pl_data *d = t->impl;
	sl_pl_plan *p = sl_pl_plan_new(d, 1, 256, d->seed, 0, 0);
	double loss_sum = 0, chars = 0, edits = 0, tchars = 0;
	int words = 0, correct = 0;
	for (int bi = 0; bi < p->nbatches; bi++) {
		sl_pl_batch pb;
		sl_batch b;
		sl_pl_batch_fill(d, p, bi, &pb);
		to_batch(&pb, &b);
		sl_tape_reset(tp);
		tp->training = 0;
		tp->grad_enabled = 0;
		int count = 0;
		sl_tensor *loss = pl_loss(t, m, tp, &b, &count);
		if (loss) {
			loss_sum += (double)loss->data[0] * count;
			chars += count;
		}
		sl_tape_reset(tp);
		int maxT = sl_pl_max_target(d->src[pb.idx[0]], b.S);
		int32_t *dec = sl_xmalloc((size_t)b.B * maxT * sizeof *dec);
		int *len = sl_xmalloc((size_t)b.B * sizeof *len);
		greedy(t, m, tp, b.src, b.B, b.S, maxT, dec, len);
		sl_tape_reset(tp);
		for (int i = 0; i < b.B; i++) {
			char got[4 * SL_PL_MAXLEN];
			detok(dec + (size_t)i * maxT, len[i], got, sizeof got);
			const char *want = d->tgt[pb.idx[i]];
			words++;
			tchars += (double)strlen(want);
			if (strcmp(got, want) == 0) {
				correct++;
			} else {
				edits += sl_edit_distance(got, want);
				if (mk)
					sl_mistakes_add(mk, d->src[pb.idx[i]], got, want);
			}
		}
		free(dec);
		free(len);
		sl_batch_free(&b);
	}
	sl_pl_plan_free(p);
	e->val_loss = chars > 0 ? loss_sum / chars : NAN;
	e->val_acc = words ? (double)correct / words : 0;
	e->cer = tchars > 0 ? edits / tchars : 0;
	e->words = words;
	e->correct = correct;
}

int sl_pl_translate(sl_task *t, sl_model *m, sl_tape *tp, const char *word, int beam, char *out, size_t n)
{
	const sl_pl_data *d = t->impl;
	int32_t src[SL_PL_MAXLEN];
	int S = sl_pl_encode(d, word, src, SL_PL_MAXLEN);
	if (S <= 0) {
		sl_errorf("'%s': a word of lowercase a-z and '-'%s (at most %d characters) is needed", word,
			  d->apostrophes ? " (and apostrophes)" : "", SL_PL_MAXLEN);
		return SL_ERR;
	}
	int maxT = sl_pl_max_target(word, S);
	int32_t *dec = sl_xmalloc((size_t)maxT * sizeof *dec);
	int len;
	sl_tape_reset(tp);
	if (beam > 1)
		len = sl_model_beam(m, tp, src, S, maxT, SL_PL_SOS, SL_PL_EOS, beam, t->shape.vocab, dec);
	else
		greedy(t, m, tp, src, 1, S, maxT, dec, &len);
	sl_tape_reset(tp);
	detok(dec, len, out, n);
	free(dec);
	return SL_OK;
}

static void pl_free(sl_task *t)
{
	sl_pl_data_free(t->impl);
	free(t);
}

static const sl_task_ops piglatin_ops = {
	.name = "piglatin",
	.plan_new = pl_plan_new,
	.plan_free = pl_plan_free,
	.plan_batches = pl_plan_batches,
	.batch = pl_batch,
	.loss = pl_loss,
	.fit = pl_fit,
	.eval = pl_eval,
	.free = pl_free,
};

sl_task *sl_pl_task_new(sl_pl_data *d, const char *desc)
{
	sl_task *t = sl_xcalloc(1, sizeof *t);
	t->ops = &piglatin_ops;
	t->impl = d;
	t->shape.vocab = sl_pl_vocab(d);
	/* the longest sequence a model sees: a prefix LM's source, EOS, SOS and a
	 * target three characters longer per piece */
	t->shape.maxlen = 2 * SL_PL_MAXLEN + 3 * 8 + 4;
	snprintf(t->desc, sizeof t->desc, "%s", desc ? desc : "piglatin");
	return t;
}

const sl_pl_data *sl_pl_task_data(const sl_task *t)
{
	return t && t->ops == &piglatin_ops ? t->impl : NULL;
}

/* ---- the task kind ---------------------------------------------------------------- */

typedef struct pl_config {
	char file[SL_OPT_STRMAX], words[SL_OPT_STRMAX], corpus[SL_OPT_STRMAX], size[SL_OPT_STRMAX];
	int list, apostrophes;
} pl_config;

#define OFF(f) offsetof(pl_config, f)
static const sl_optspec pl_options[] = {
	{ "file", SL_OPT_STR, OFF(file), "", 0, 0, NULL,
	  "pairs in the homework's format (\"english piglatin\" a line): a-z and '-', duplicates dropped" },
	{ "words", SL_OPT_STR, OFF(words), "", 0, 0, NULL,
	  "a word list, one a line, turned into pairs by the rule (default /usr/share/dict/words)" },
	{ "corpus", SL_OPT_STR, OFF(corpus), "", 0, 0, NULL, "any text: its words, turned into pairs by the rule" },
	{ "size", SL_OPT_STR, OFF(size), "small", 0, 0, NULL,
	  "words= and corpus=: small (3,198 words), large (22,402), all, or a count, sampled by a hash of (seed, word)" },
	{ "list", SL_OPT_BOOL, OFF(list), "off", 0, 0, NULL,
	  "file=: then list every conflict and every pair that differs from the rule, a line each" },
	{ "apostrophes", SL_OPT_BOOL, OFF(apostrophes), "off", 0, 0, NULL,
	  "keep words with ' (won't -> onway'tay): ' becomes a 30th token" },
	{ NULL, 0, 0, NULL, 0, 0, NULL, NULL },
};
#undef OFF

static sl_task *pl_create(void *cfg, uint64_t given, uint64_t seed, char *info, size_t n)
{
	pl_config *c = cfg;
	const char *file = *c->file ? c->file : NULL, *words = *c->words ? c->words : NULL;
	const char *corpus = *c->corpus ? c->corpus : NULL;
	if (!!file + !!words + !!corpus > 1) {
		sl_errorf("give one of file=, words=, corpus=");
		return NULL;
	}
	int size = SL_PL_SMALL;
	if (strcmp(c->size, "small") == 0) {
		size = SL_PL_SMALL;
	} else if (strcmp(c->size, "large") == 0) {
		size = SL_PL_LARGE;
	} else if (strcmp(c->size, "all") == 0) {
		size = 0;
	} else {
		char *end;
		long v = strtol(c->size, &end, 10);
		if (!*c->size || *end || v < 1 || v > 10000000) {
			sl_errorf("size=%s is not small, large, all or a word count", c->size);
			return NULL;
		}
		size = (int)v;
	}
	if (file && (given & 8)) { /* size= (row 3) */
		sl_errorf("size= applies to words= and corpus=, not to a pair file");
		return NULL;
	}
	if (c->list && !file) {
		sl_errorf("list=on lists a pair file's disagreements: give file=PATH");
		return NULL;
	}
	/* a device or a pipe would be read for ever (a missing file: the reader says so) */
	const char *path = file ? file : words ? words : corpus;
	struct stat sb;
	if (path && stat(path, &sb) == 0) {
		int fd = sl_open_regular(path);
		if (fd < 0)
			return NULL;
		close(fd);
	}
	sl_pl_data *d;
	const char *source;
	if (file) {
		d = sl_pl_load_pairs(file, seed, c->apostrophes);
		source = file;
	} else {
		source = words ? words : corpus ? corpus : "/usr/share/dict/words";
		d = sl_pl_from_words(source, corpus != NULL, size, seed, c->apostrophes);
		if (!d && !words && !corpus) {
			char why[512];
			snprintf(why, sizeof why, "%s", sl_error());
			sl_errorf("%s (install the Debian package wamerican, or give words=PATH)", why);
			return NULL;
		}
		if (!words && !corpus) /* the description names the default list */
			snprintf(c->words, sizeof c->words, "%s", source);
	}
	if (!d)
		return NULL;
	if (d->ntrain == 0 || d->nval == 0) {
		sl_pl_data_free(d);
		sl_errorf("%s: too few words to split into training and validation sets", source);
		return NULL;
	}
	size_t k = (size_t)snprintf(info, n, "task=piglatin pairs=%d train=%d val=%d vocab=%d source=%s", d->n,
				    d->ntrain, d->nval, sl_pl_vocab(d), source);
	if (d->apostrophes && k < n) {
		int with = 0;
		for (int i = 0; i < d->n; i++)
			with += strchr(d->src[i], '\'') != NULL;
		k += (size_t)snprintf(info + k, n - k, " apostrophe_words=%d", with);
	}
	if (file && k < n)
		k += (size_t)snprintf(info + k, n - k, "\nbad_lines=%d duplicates=%d conflicts=%d rule_mismatches=%d",
				      d->bad_lines, d->duplicates, d->conflicts, d->rule_mismatches);
	if (d->conflicts && k < n)
		k += (size_t)snprintf(info + k, n - k,
				      "\nnote: %d source words have a second, different target (kept the first: %s)",
				      d->conflicts, d->conflict_example);
	if (file && d->rule_mismatches && k < n) { /* a file's qu-words may follow another convention */
		const char *first = "?";
		for (int i = 0; i < d->nissues; i++)
			if (!strncmp(d->issues[i], "rule_mismatch ", 14)) {
				first = d->issues[i] + 14;
				break;
			}
		snprintf(info + k, n - k,
			 "\nnote: %d pairs differ from seqlab's rule (first: %.200s); they are trained on as the file has them",
			 d->rule_mismatches, first);
	}
	d->list = c->list; /* the task command prints d->issues (more than info holds) */
	return sl_pl_task_new(d, "piglatin");
}

static int pl_describes(const void *cfg, const char *key)
{
	const pl_config *c = cfg;
	if (strcmp(key, "apostrophes") == 0) /* off: as before the option existed */
		return c->apostrophes;
	if (*c->file)
		return strcmp(key, "file") == 0;
	if (strcmp(key, "size") == 0)
		return 1;
	if (strcmp(key, "list") == 0) /* shows, makes nothing: not part of the task */
		return 0;
	return *((const char *)cfg + sl_optspec_find(pl_options, key)->offset) != 0;
}

const sl_task_kind sl_task_piglatin = {
	.name = "piglatin",
	.summary = "English to Pig-Latin translation: the homework's pairs, or pairs made by the rule from words",
	.options = pl_options,
	.cfg_size = sizeof(pl_config),
	.create = pl_create,
	.describes = pl_describes,
};
