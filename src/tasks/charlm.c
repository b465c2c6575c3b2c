/* charlm.c - character-level language modelling (seed 003's Tiny
 * Shakespeare experiment; karpathy/nanoGPT data/shakespeare_char): any text
 * file, its vocabulary the distinct bytes of the text (its characters, for
 * ASCII text), the first 90 % for training and the last 10 % for
 * validation, as nanoGPT splits it; training batches are random windows of
 * ctx characters (inputs) and the next character at every position
 * (targets), drawn from (task seed, run seed, epoch, batch index); the
 * validation loss is the mean cross-entropy per character in nats (bits per
 * character: / ln 2) over consecutive windows of the validation text, the
 * same every time, and val_acc the next-character accuracy. Without file= it
 * reads /usr/share/common-licenses/GPL-3, an English text every Debian
 * system has (package base-files). */
#include "seqlab/task.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHARLM_DEFAULT "/usr/share/common-licenses/GPL-3"
#define CHARLM_MAX_BYTES (64u << 20)
#define EVAL_CHUNK 32

typedef struct charlm_config {
	char file[SL_OPT_STRMAX];
	int ctx, batches, eval;
} charlm_config;

#define OFF(f) offsetof(charlm_config, f)
static const sl_optspec options[] = {
	{ "file", SL_OPT_STR, OFF(file), "", 0, 0, NULL,
	  "the text (any bytes; default " CHARLM_DEFAULT ", from Debian's base-files)" },
	{ "ctx", SL_OPT_INT, OFF(ctx), "64", 2, 4096, NULL, "context: the characters a training window holds" },
	{ "batches", SL_OPT_INT, OFF(batches), "100", 1, 1000000, NULL, "batches in a nominal epoch, drawn from the seed" },
	{ "eval", SL_OPT_INT, OFF(eval), "32768", 64, 100000000, NULL,
	  "validation characters scored (consecutive windows from the start of the split)" },
	{ NULL, 0, 0, NULL, 0, 0, NULL, NULL },
};
#undef OFF

typedef struct charlm {
	int32_t *tok;          /* the text as token ids */
	size_t n, ntrain;      /* characters; the first ntrain train */
	int vocab, ctx, batches, eval;
	unsigned char chars[256]; /* token -> byte */
	int32_t ids[256];         /* byte -> token, or -1 */
	uint64_t seed;
} charlm;

static void *plan_new(sl_task *t, int bsz, uint64_t seed, int64_t epoch, int shuffle)
{
	(void)shuffle;
	const charlm *c = t->impl;
	return sl_task_plan_new(c->seed, c->batches, bsz, seed, epoch);
}

/* bsz random windows of the training split */
static void batch(sl_task *t, const void *plan, int index, sl_batch *b)
{
	memset(b, 0, sizeof *b);
	const charlm *c = t->impl;
	const sl_task_plan *p = plan;
	sl_rng r = sl_task_plan_rng(p, index);
	int T = c->ctx;
	b->B = p->bsz;
	b->S = 0;
	b->T = T;
	b->src = NULL;
	b->inp = sl_xmalloc((size_t)b->B * T * sizeof(int32_t));
	b->tgt = sl_xmalloc((size_t)b->B * T * sizeof(int32_t));
	uint32_t span = (uint32_t)(c->ntrain - (size_t)T); /* starts 0 .. ntrain - T - 1 */
	for (int i = 0; i < b->B; i++) {
		size_t s = sl_rng_below(&r, span);
		memcpy(b->inp + (size_t)i * T, c->tok + s, (size_t)T * sizeof(int32_t));
		memcpy(b->tgt + (size_t)i * T, c->tok + s + 1, (size_t)T * sizeof(int32_t));
	}
}

static sl_tensor *loss(sl_task *t, sl_model *m, sl_tape *tp, const sl_batch *b, int *count)
{
	(void)t;
	return sl_task_lm_loss(m, tp, b, count);
}

/* consecutive windows of ctx over the validation split, eval characters */
static void eval(sl_task *t, sl_model *m, sl_tape *tp, sl_eval *e, sl_mistakes *mk)
{
	(void)mk;
	const charlm *c = t->impl;
	int T = c->ctx, ge = tp->grad_enabled, tr = tp->training, ok = 1;
	size_t nval = c->n - c->ntrain, nwin = (nval - 1) / (size_t)T;
	if (nwin * (size_t)T > (size_t)c->eval)
		nwin = (size_t)c->eval / (size_t)T;
	double loss_sum = 0;
	long scored = 0, correct = 0;
	int32_t *x = sl_xmalloc((size_t)EVAL_CHUNK * T * sizeof *x), *y = sl_xmalloc((size_t)EVAL_CHUNK * T * sizeof *y);
	for (size_t w0 = 0; w0 < nwin && ok; w0 += EVAL_CHUNK) {
		int B = (int)(nwin - w0 < EVAL_CHUNK ? nwin - w0 : EVAL_CHUNK);
		for (int i = 0; i < B; i++) {
			const int32_t *s = c->tok + c->ntrain + (w0 + (size_t)i) * T;
			memcpy(x + (size_t)i * T, s, (size_t)T * sizeof *x);
			memcpy(y + (size_t)i * T, s + 1, (size_t)T * sizeof *y);
		}
		sl_tape_reset(tp);
		tp->grad_enabled = 0;
		tp->training = 0;
		sl_tensor *logits = m->kind->lm ? m->kind->lm(m->impl, tp, x, B, T) : NULL;
		if (!logits) {
			ok = 0;
			break;
		}
		int count = 0;
		sl_tensor *l = sl_cross_entropy(tp, logits, y, -1, &count);
		loss_sum += (double)l->data[0] * count;
		for (size_t i = 0; i < (size_t)B * T; i++) {
			scored++;
			correct += sl_argmax(logits->data + i * c->vocab, c->vocab) == y[i];
		}
	}
	free(x);
	free(y);
	sl_tape_reset(tp);
	tp->grad_enabled = ge;
	tp->training = tr;
	e->val_loss = ok && scored ? loss_sum / scored : NAN;
	e->val_acc = ok && scored ? (double)correct / scored : NAN;
	e->cer = NAN;
	e->words = (int)scored;
	e->correct = (int)correct;
}

static int encode(sl_task *t, const char *text, int32_t *out, int max)
{
	const charlm *c = t->impl;
	int n = 0;
	for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
		if (c->ids[*p] < 0) {
			sl_errorf("the character '%c' (byte %d) is not in the text's vocabulary", isprint(*p) ? *p : '?', *p);
			return -1;
		}
		if (n == max) {
			sl_errorf("the prompt has more than %d characters", max);
			return -1;
		}
		out[n++] = c->ids[*p];
	}
	return n;
}

static void decode(sl_task *t, const int32_t *tok, int n, char *out)
{
	const charlm *c = t->impl;
	for (int i = 0; i < n; i++)
		out[i] = (char)c->chars[tok[i]];
	out[n] = 0;
}

static void task_free(sl_task *t)
{
	charlm *c = t->impl;
	free(c->tok);
	free(c);
	free(t);
}

static const sl_task_ops charlm_ops = {
	.name = "charlm",
	.plan_new = plan_new,
	.plan_free = sl_task_plan_free,
	.plan_batches = sl_task_plan_batches,
	.batch = batch,
	.loss = loss,
	.eval = eval,
	.encode = encode,
	.decode = decode,
	.free = task_free,
};

/* the whole file, at most CHARLM_MAX_BYTES; NULL with the error set */
static unsigned char *read_text(const char *path, size_t *len)
{
	int fd = sl_open_regular(path);
	if (fd < 0)
		return NULL;
	size_t cap = 1 << 16, n = 0;
	unsigned char *b = sl_xmalloc(cap);
	for (;;) {
		if (n == cap) {
			if (cap >= CHARLM_MAX_BYTES) {
				sl_errorf("cannot read '%s': more than the %u MB a text may have", path, CHARLM_MAX_BYTES >> 20);
				free(b);
				close(fd);
				return NULL;
			}
			cap *= 2;
			b = sl_xrealloc(b, cap);
		}
		ssize_t k = read(fd, b + n, cap - n);
		if (k < 0) {
			sl_errorf("cannot read '%s': %s", path, strerror(errno));
			free(b);
			close(fd);
			return NULL;
		}
		if (k == 0)
			break;
		n += (size_t)k;
	}
	close(fd);
	*len = n;
	return b;
}

static sl_task *create(void *cfg, uint64_t given, uint64_t seed, char *info, size_t n)
{
	(void)given;
	charlm_config *cc = cfg;
	const char *path = *cc->file ? cc->file : CHARLM_DEFAULT;
	size_t len;
	unsigned char *text = read_text(path, &len);
	if (!text) {
		if (!*cc->file) {
			char why[512];
			snprintf(why, sizeof why, "%s", sl_error());
			sl_errorf("%s (the default text comes with Debian's base-files; or give file=PATH)", why);
		}
		return NULL;
	}
	size_t ntrain = (size_t)(len * 0.9);
	if (len < 4 || ntrain <= (size_t)cc->ctx + 1 || len - ntrain <= (size_t)cc->ctx + 1) {
		free(text);
		sl_errorf("%s: %zu characters are too few for ctx=%d (each split needs more than a window)", path, len,
			  cc->ctx);
		return NULL;
	}
	if (ntrain - (size_t)cc->ctx > UINT32_MAX) {
		free(text);
		sl_errorf("%s: too long", path);
		return NULL;
	}
	charlm *c = sl_xcalloc(1, sizeof *c);
	int seen[256] = { 0 };
	for (size_t i = 0; i < len; i++)
		seen[text[i]] = 1;
	for (int b = 0; b < 256; b++) {
		c->ids[b] = seen[b] ? c->vocab : -1;
		if (seen[b])
			c->chars[c->vocab++] = (unsigned char)b;
	}
	c->tok = sl_xmalloc(len * sizeof *c->tok);
	for (size_t i = 0; i < len; i++)
		c->tok[i] = c->ids[text[i]];
	free(text);
	c->n = len;
	c->ntrain = ntrain;
	c->ctx = cc->ctx;
	c->batches = cc->batches;
	c->eval = cc->eval;
	c->seed = seed;
	sl_task *t = sl_xcalloc(1, sizeof *t);
	t->ops = &charlm_ops;
	t->impl = c;
	t->shape.vocab = c->vocab;
	t->shape.maxlen = c->ctx;
	if (!*cc->file) /* the description names the text it read */
		snprintf(cc->file, sizeof cc->file, "%s", path);
	snprintf(info, n, "task=charlm chars=%zu vocab=%d train=%zu val=%zu ctx=%d uniform_loss=%.4f source=%s", len,
		 c->vocab, ntrain, len - ntrain, c->ctx, log((double)c->vocab), path);
	return t;
}

const sl_task_kind sl_task_charlm = {
	.name = "charlm",
	.summary = "character-level language modelling on any text: 90/10 split, random windows, loss in nats",
	.options = options,
	.cfg_size = sizeof(charlm_config),
	.create = create,
};
