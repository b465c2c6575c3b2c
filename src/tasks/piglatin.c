/* piglatin.c - the Pig-Latin rule, data sets, split and batches. */
#include "seqlab/piglatin.h"
#include "seqlab/common.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sl_pl_token(int c)
{
	if (c == '-')
		return SL_PL_DASH;
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 1;
	if (c == '\'')
		return SL_PL_APOS;
	return -1;
}

int sl_pl_char(int t)
{
	if (t == SL_PL_DASH)
		return '-';
	if (t >= 1 && t <= 26)
		return 'a' + t - 1;
	if (t == SL_PL_SOS)
		return '^';
	if (t == SL_PL_EOS)
		return '$';
	if (t == SL_PL_APOS)
		return '\'';
	return '?';
}

int sl_pl_vocab(const sl_pl_data *d)
{
	return d && d->apostrophes ? SL_PL_VOCAB_APOS : SL_PL_VOCAB;
}

int sl_pl_encode(const sl_pl_data *d, const char *word, int32_t *tok, int max)
{
	int n = 0, vocab = sl_pl_vocab(d);
	for (const char *p = word; *p; p++) {
		int t = sl_pl_token((unsigned char)*p);
		if (t < 0 || t >= vocab || n >= max) /* '\'' is token 29 of 30 only */
			return -1;
		tok[n++] = t;
	}
	return n;
}

/* ---- the rule ------------------------------------------------------------- */

static int is_vowel(int c)
{
	return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u' || c == 'y';
}

/* Appends s[0..len) to out at *k; 0 on overflow. */
static int put(char *out, size_t n, size_t *k, const char *s, size_t len)
{
	if (*k + len + 1 > n)
		return 0;
	memcpy(out + *k, s, len);
	*k += len;
	out[*k] = 0;
	return 1;
}

static int piece(const char *p, size_t len, char *out, size_t n, size_t *k)
{
	if (len == 0)
		return 1;
	if (strchr("aeiou", p[0]))
		return put(out, n, k, p, len) && put(out, n, k, "way", 3);
	size_t v = 0;
	while (v < len && !is_vowel((unsigned char)p[v]))
		v++;
	/* a 'u' right after a moved 'q' moves with it: quit -> itquay */
	if (v < len && v > 0 && p[v - 1] == 'q' && p[v] == 'u')
		v++;
	return put(out, n, k, p + v, len - v) && put(out, n, k, p, v) && put(out, n, k, "ay", 2);
}

int sl_piglatin_rule(const char *word, char *out, size_t n)
{
	size_t k = 0;
	if (n)
		out[0] = 0;
	if (!*word) {
		sl_errorf("empty word");
		return SL_ERR;
	}
	for (const char *c = word; *c; c++)
		if (!(*c >= 'a' && *c <= 'z') && *c != '-' && *c != '\'') {
			sl_errorf("'%s': only lowercase a-z, '-' and '\\'' can be translated", word);
			return SL_ERR;
		}
	const char *p = word;
	for (;;) {
		size_t len = strcspn(p, "-'");
		if (!piece(p, len, out, n, &k))
			goto overflow;
		if (!p[len])
			return SL_OK;
		if (!put(out, n, &k, p + len, 1))
			goto overflow;
		p += len + 1;
	}
overflow:
	sl_errorf("'%s': translation longer than %zu characters", word, n ? n - 1 : 0);
	return SL_ERR;
}

/* ---- data sets ------------------------------------------------------------ */

void sl_pl_data_free(sl_pl_data *d)
{
	if (!d)
		return;
	for (int i = 0; i < d->n; i++) {
		free(d->src[i]);
		free(d->tgt[i]);
	}
	free(d->src);
	free(d->tgt);
	free(d->split);
	for (int i = 0; i < d->nissues; i++)
		free(d->issues[i]);
	free(d->issues);
	free(d);
}

/* Records a line about a pair of the file (rule mismatch, conflict). */
static void add_issue(sl_pl_data *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add_issue(sl_pl_data *d, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	d->issues = sl_xrealloc(d->issues, (size_t)(d->nissues + 1) * sizeof *d->issues);
	d->issues[d->nissues++] = sl_xstrdup(buf);
}

/* A word made only of a-z and '-' (and '\'' with apostrophes), with at least
 * one letter, not too long. */
static int valid_word(const char *w, int apostrophes)
{
	int letters = 0;
	size_t n = 0;
	for (; *w; w++, n++) {
		if (*w >= 'a' && *w <= 'z')
			letters++;
		else if (*w != '-' && !(apostrophes && *w == '\''))
			return 0;
	}
	return letters > 0 && n <= SL_PL_MAXLEN;
}

/* Open-addressing set of strings, for duplicates. */
typedef struct strset {
	char **keys;
	int *vals;
	size_t cap, n;
} strset;

static void strset_init(strset *s, size_t expect)
{
	s->cap = 64;
	while (s->cap < 2 * expect + 16)
		s->cap *= 2;
	s->keys = sl_xcalloc(s->cap, sizeof *s->keys);
	s->vals = sl_xcalloc(s->cap, sizeof *s->vals);
	s->n = 0;
}

static void strset_free(strset *s)
{
	free(s->keys);
	free(s->vals);
}

/* Slot of key: either holding it or empty. Keys are borrowed. */
static size_t strset_slot(const strset *s, const char *key)
{
	size_t i = (size_t)sl_hash_str(key) & (s->cap - 1);
	while (s->keys[i] && strcmp(s->keys[i], key) != 0)
		i = (i + 1) & (s->cap - 1);
	return i;
}

static void strset_grow(strset *s)
{
	strset t;
	strset_init(&t, s->cap);
	for (size_t i = 0; i < s->cap; i++)
		if (s->keys[i]) {
			size_t j = strset_slot(&t, s->keys[i]);
			t.keys[j] = s->keys[i];
			t.vals[j] = s->vals[i];
			t.n++;
		}
	strset_free(s);
	*s = t;
}

/* Returns the value stored for key, or inserts val and returns -1. */
static int strset_put(strset *s, char *key, int val)
{
	if (2 * (s->n + 1) > s->cap)
		strset_grow(s);
	size_t i = strset_slot(s, key);
	if (s->keys[i])
		return s->vals[i];
	s->keys[i] = key;
	s->vals[i] = val;
	s->n++;
	return -1;
}

static sl_pl_data *data_new(uint64_t seed, int apostrophes)
{
	sl_pl_data *d = sl_xcalloc(1, sizeof *d);
	d->seed = seed;
	d->apostrophes = apostrophes;
	return d;
}

static void data_add(sl_pl_data *d, int *cap, char *src, char *tgt)
{
	if (d->n == *cap) {
		*cap = *cap ? 2 * *cap : 1024;
		d->src = sl_xrealloc(d->src, (size_t)*cap * sizeof *d->src);
		d->tgt = sl_xrealloc(d->tgt, (size_t)*cap * sizeof *d->tgt);
	}
	d->src[d->n] = src;
	d->tgt[d->n] = tgt;
	d->n++;
}

/* 80/20 split by a seeded hash of the source word: a word's side never
 * depends on the other words. Also counts rule mismatches. */
static void data_finish(sl_pl_data *d)
{
	d->split = sl_xmalloc((size_t)(d->n ? d->n : 1) * sizeof *d->split);
	d->ntrain = d->nval = 0;
	char buf[4 * SL_PL_MAXLEN];
	for (int i = 0; i < d->n; i++) {
		uint64_t h = sl_hash64(d->seed ^ sl_hash_str(d->src[i]));
		d->split[i] = (h % 100) < 20;
		if (d->split[i])
			d->nval++;
		else
			d->ntrain++;
		if (sl_piglatin_rule(d->src[i], buf, sizeof buf) != SL_OK || strcmp(buf, d->tgt[i]) != 0) {
			d->rule_mismatches++;
			add_issue(d, "rule_mismatch word=%s file=%s rule=%s", d->src[i], d->tgt[i], buf);
		}
	}
}

sl_pl_data *sl_pl_load_pairs(const char *path, uint64_t seed, int apostrophes)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		sl_errorf("%s: %s", path, strerror(errno));
		return NULL;
	}
	sl_pl_data *d = data_new(seed, apostrophes);
	strset seen;
	strset_init(&seen, 4096);
	int cap = 0;
	char line[1024];
	while (fgets(line, sizeof line, f)) {
		size_t len = strlen(line);
		if (len == sizeof line - 1 && line[len - 1] != '\n') {
			int c;
			while ((c = fgetc(f)) != EOF && c != '\n')
				;
			d->bad_lines++;
			continue;
		}
		char *save = NULL;
		char *a = strtok_r(line, " \t\r\n", &save);
		char *b = a ? strtok_r(NULL, " \t\r\n", &save) : NULL;
		char *extra = b ? strtok_r(NULL, " \t\r\n", &save) : NULL;
		if (!a)
			continue; /* blank line */
		if (!b || extra || !valid_word(a, apostrophes) || !valid_word(b, apostrophes)) {
			d->bad_lines++;
			continue;
		}
		char *src = sl_xstrdup(a);
		int prev = strset_put(&seen, src, d->n);
		if (prev >= 0) {
			if (strcmp(d->tgt[prev], b) == 0) {
				d->duplicates++;
			} else {
				if (!d->conflicts)
					snprintf(d->conflict_example, sizeof d->conflict_example, "%s -> %s, %s",
						 src, d->tgt[prev], b);
				d->conflicts++;
				add_issue(d, "conflict word=%s kept=%s other=%s", src, d->tgt[prev], b);
			}
			free(src);
			continue;
		}
		data_add(d, &cap, src, sl_xstrdup(b));
	}
	int err = ferror(f);
	fclose(f);
	strset_free(&seen);
	if (err) {
		sl_errorf("%s: read error", path);
		sl_pl_data_free(d);
		return NULL;
	}
	if (d->n == 0) {
		sl_errorf("%s: no usable 'english piglatin' pair (%d bad lines)", path, d->bad_lines);
		sl_pl_data_free(d);
		return NULL;
	}
	data_finish(d);
	return d;
}

typedef struct ranked {
	uint64_t key;
	char *word;
} ranked;

static int ranked_cmp(const void *a, const void *b)
{
	const ranked *x = a, *y = b;
	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return strcmp(x->word, y->word);
}

/* Takes ownership of the unique words; samples n (0: all) and builds pairs. */
static sl_pl_data *from_unique(char **words, int nw, int n, uint64_t seed, int have_compounds, int apostrophes)
{
	ranked *r = sl_xmalloc((size_t)(nw ? nw : 1) * sizeof *r);
	for (int i = 0; i < nw; i++) {
		r[i].key = sl_hash64(seed * 0x9e3779b97f4a7c15ull ^ sl_hash_str(words[i]));
		r[i].word = words[i];
	}
	qsort(r, (size_t)nw, sizeof *r, ranked_cmp);
	int take = n > 0 && n < nw ? n : nw;
	sl_pl_data *d = data_new(seed, apostrophes);
	int cap = 0;
	strset seen;
	strset_init(&seen, (size_t)take);
	char buf[4 * SL_PL_MAXLEN];
	int ncomp = have_compounds ? 0 : take / 100, made = 0;
	for (int i = 0; i < take - ncomp; i++) {
		strset_put(&seen, r[i].word, d->n);
		if (sl_piglatin_rule(r[i].word, buf, sizeof buf) == SL_OK)
			data_add(d, &cap, sl_xstrdup(r[i].word), sl_xstrdup(buf));
	}
	/* hyphenated compounds from consecutive short sampled words */
	for (int i = 0; made < ncomp && i + 1 < take - ncomp; i += 2) {
		const char *a = r[i].word, *b = r[i + 1].word;
		if (strlen(a) + strlen(b) + 1 > 24)
			continue;
		char comp[2 * SL_PL_MAXLEN + 2];
		snprintf(comp, sizeof comp, "%s-%s", a, b);
		if (!valid_word(comp, apostrophes) || sl_piglatin_rule(comp, buf, sizeof buf) != SL_OK)
			continue;
		char *c = sl_xstrdup(comp);
		if (strset_put(&seen, c, d->n) >= 0) {
			free(c);
			continue;
		}
		data_add(d, &cap, c, sl_xstrdup(buf));
		made++;
	}
	/* fill up to the requested size if compounds ran short */
	for (int i = take - ncomp; made < ncomp && i < nw; i++, made++)
		if (sl_piglatin_rule(r[i].word, buf, sizeof buf) == SL_OK)
			data_add(d, &cap, sl_xstrdup(r[i].word), sl_xstrdup(buf));
	strset_free(&seen);
	for (int i = 0; i < nw; i++)
		free(words[i]);
	free(words);
	free(r);
	data_finish(d);
	return d;
}

sl_pl_data *sl_pl_from_list(const char *const *list, int n, uint64_t seed, int apostrophes)
{
	char **words = sl_xmalloc((size_t)(n ? n : 1) * sizeof *words);
	int nw = 0;
	strset seen;
	strset_init(&seen, (size_t)n);
	for (int i = 0; i < n; i++) {
		if (!valid_word(list[i], apostrophes))
			continue;
		char *w = sl_xstrdup(list[i]);
		if (strset_put(&seen, w, nw) >= 0) {
			free(w);
			continue;
		}
		words[nw++] = w;
	}
	strset_free(&seen);
	if (nw == 0) {
		free(words);
		sl_errorf(apostrophes ? "no usable word (a-z, '-' and apostrophes)" : "no usable word (a-z and '-')");
		return NULL;
	}
	/* an explicit list is taken whole, without synthetic compounds */
	return from_unique(words, nw, 0, seed, 1, apostrophes);
}

sl_pl_data *sl_pl_from_words(const char *path, int corpus, int n, uint64_t seed, int apostrophes)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		sl_errorf("%s: %s", path, strerror(errno));
		return NULL;
	}
	int cap = 4096, nw = 0, comp = 0;
	char **words = sl_xmalloc((size_t)cap * sizeof *words);
	strset seen;
	strset_init(&seen, 65536);
	char w[SL_PL_MAXLEN + 2];
	int len = 0, bad = 0, c;
	/* A word list: one word a line, taken only if all lowercase a-z (or '-',
	 * or '\'' with apostrophes). A corpus: runs of letters (lowercased), '-'
	 * (and '\'' with apostrophes) inside a run kept. */
	for (;;) {
		c = fgetc(f);
		int letter = corpus ? isalpha(c) && c < 128 : (c >= 'a' && c <= 'z');
		int joint = c == '-' || (apostrophes && c == '\'');
		int inner = joint && len > 0 && w[len - 1] != '-' && w[len - 1] != '\'';
		int sep = corpus ? !(letter || inner) : (c == '\n' || c == EOF || c == '\r');
		if (!sep) {
			if (!corpus && !letter && !joint)
				bad = 1;
			if (len <= SL_PL_MAXLEN)
				w[len] = (char)(corpus ? tolower(c) : c);
			len++;
			continue;
		}
		while (len > 0 && len <= SL_PL_MAXLEN && (w[len - 1] == '-' || (apostrophes && w[len - 1] == '\'')))
			len--;
		if (len > 0 && len <= SL_PL_MAXLEN && !bad) {
			w[len] = 0;
			if (valid_word(w, apostrophes)) {
				char *dup = sl_xstrdup(w);
				if (strset_put(&seen, dup, nw) >= 0) {
					free(dup);
				} else {
					if (nw == cap) {
						cap *= 2;
						words = sl_xrealloc(words, (size_t)cap * sizeof *words);
					}
					comp |= strchr(dup, '-') != NULL;
					words[nw++] = dup;
				}
			}
		}
		len = 0;
		bad = 0;
		if (c == EOF)
			break;
	}
	int err = ferror(f);
	fclose(f);
	strset_free(&seen);
	if (err || nw == 0) {
		sl_errorf(err ? "%s: read error" : "%s: no usable word (lowercase a-z)", path);
		for (int i = 0; i < nw; i++)
			free(words[i]);
		free(words);
		return NULL;
	}
	if (n > nw) {
		sl_errorf("%s: %d usable words, fewer than the %d asked for", path, nw, n);
		for (int i = 0; i < nw; i++)
			free(words[i]);
		free(words);
		return NULL;
	}
	return from_unique(words, nw, n, seed, comp, apostrophes);
}

/* ---- batches -------------------------------------------------------------- */

typedef struct keyed {
	int s, t;      /* source and target length */
	uint64_t r;    /* shuffle key */
	int idx;
} keyed;

static int keyed_cmp(const void *a, const void *b)
{
	const keyed *x = a, *y = b;
	if (x->s != y->s)
		return x->s - y->s;
	if (x->t != y->t)
		return x->t - y->t;
	if (x->r != y->r)
		return x->r < y->r ? -1 : 1;
	return x->idx - y->idx;
}

sl_pl_plan *sl_pl_plan_new(const sl_pl_data *d, int which, int bsz, uint64_t seed, long epoch, int shuffle)
{
	SL_ASSERT(bsz >= 1);
	int n = which ? d->nval : d->ntrain;
	keyed *k = sl_xmalloc((size_t)(n ? n : 1) * sizeof *k);
	uint64_t ekey = sl_hash64(seed ^ sl_hash64((uint64_t)epoch + 0x51ed));
	int m = 0;
	for (int i = 0; i < d->n; i++)
		if (d->split[i] == which) {
			k[m].s = (int)strlen(d->src[i]);
			k[m].t = (int)strlen(d->tgt[i]);
			k[m].r = shuffle ? sl_hash64(ekey ^ sl_hash64((uint64_t)i)) : 0;
			k[m].idx = i;
			m++;
		}
	qsort(k, (size_t)m, sizeof *k, keyed_cmp);
	sl_pl_plan *p = sl_xcalloc(1, sizeof *p);
	p->total = m;
	p->order = sl_xmalloc((size_t)(m ? m : 1) * sizeof *p->order);
	int cap = m / bsz + 64;
	p->start = sl_xmalloc((size_t)cap * sizeof *p->start);
	p->count = sl_xmalloc((size_t)cap * sizeof *p->count);
	for (int i = 0; i < m; i++)
		p->order[i] = k[i].idx;
	for (int i = 0; i < m;) {
		int j = i;
		while (j < m && k[j].s == k[i].s && k[j].t == k[i].t)
			j++;
		for (int b = i; b < j; b += bsz) {
			if (p->nbatches == cap) {
				cap *= 2;
				p->start = sl_xrealloc(p->start, (size_t)cap * sizeof *p->start);
				p->count = sl_xrealloc(p->count, (size_t)cap * sizeof *p->count);
			}
			p->start[p->nbatches] = b;
			p->count[p->nbatches] = SL_MIN(bsz, j - b);
			p->nbatches++;
		}
		i = j;
	}
	free(k);
	if (shuffle && p->nbatches > 1) {
		/* shuffle the batch order from (seed, epoch) */
		sl_rng r;
		sl_rng_seed(&r, ekey);
		int *perm = sl_xmalloc((size_t)p->nbatches * sizeof *perm);
		for (int i = 0; i < p->nbatches; i++)
			perm[i] = i;
		sl_rng_shuffle(&r, perm, p->nbatches);
		int *st = sl_xmalloc((size_t)p->nbatches * sizeof *st);
		int *ct = sl_xmalloc((size_t)p->nbatches * sizeof *ct);
		for (int i = 0; i < p->nbatches; i++) {
			st[i] = p->start[perm[i]];
			ct[i] = p->count[perm[i]];
		}
		free(p->start);
		free(p->count);
		free(perm);
		p->start = st;
		p->count = ct;
	}
	return p;
}

void sl_pl_plan_free(sl_pl_plan *p)
{
	if (!p)
		return;
	free(p->start);
	free(p->count);
	free(p->order);
	free(p);
}

void sl_pl_batch_fill(const sl_pl_data *d, const sl_pl_plan *p, int b, sl_pl_batch *out)
{
	SL_ASSERT(b >= 0 && b < p->nbatches);
	const int *idx = p->order + p->start[b];
	int B = p->count[b];
	int S = (int)strlen(d->src[idx[0]]), T = (int)strlen(d->tgt[idx[0]]);
	out->B = B;
	out->S = S;
	out->T = T;
	out->idx = idx;
	out->src = sl_xmalloc((size_t)B * S * sizeof(int32_t));
	out->dec = sl_xmalloc((size_t)B * (T + 1) * sizeof(int32_t));
	out->out = sl_xmalloc((size_t)B * (T + 1) * sizeof(int32_t));
	for (int i = 0; i < B; i++) {
		int32_t *s = out->src + (size_t)i * S, *dd = out->dec + (size_t)i * (T + 1),
			*o = out->out + (size_t)i * (T + 1);
		SL_ASSERT(sl_pl_encode(d, d->src[idx[i]], s, S) == S);
		dd[0] = SL_PL_SOS;
		SL_ASSERT(sl_pl_encode(d, d->tgt[idx[i]], dd + 1, T) == T);
		memcpy(o, dd + 1, (size_t)T * sizeof(int32_t));
		o[T] = SL_PL_EOS;
	}
}

void sl_pl_batch_free(sl_pl_batch *b)
{
	free(b->src);
	free(b->dec);
	free(b->out);
	b->src = b->dec = b->out = NULL;
}
