/* args.c - typed getters over a command's words, with one-line errors. */
#include "seqlab/args.h"
#include "seqlab/commands.h"
#include "seqlab/common.h"
#include "seqlab/session.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Remembers the first error only: "MESSAGE; usage: USAGE". */
static void note(sl_args *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(sl_args *a, const char *fmt, ...)
{
	if (a->err[0])
		return;
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(a->err, sizeof a->err, fmt, ap);
	va_end(ap);
	if (k >= 0 && (size_t)k < sizeof a->err)
		snprintf(a->err + k, sizeof a->err - (size_t)k, "; usage: %s", a->cmd->usage);
}

/* key=value as it could be typed back: a value with blanks or quotes is
 * quoted, so the message shows where it begins and ends. */
static const char *shown(const sl_word *w, char *buf, size_t n)
{
	const char *v = w->value;
	if (!v[strcspn(v, " \t\n\r'\"\\;#")])
		snprintf(buf, n, "%s=%s", w->key, v);
	else if (!strchr(v, '\''))
		snprintf(buf, n, "%s='%s'", w->key, v);
	else
		snprintf(buf, n, "%s=\"%s\"", w->key, v);
	return buf;
}

static int listed(const char *const *list, const char *s)
{
	for (; list && *list; list++)
		if (strcmp(*list, s) == 0)
			return 1;
	return 0;
}

/* The option word for key, marked used; NULL if absent. A repeated key or an
 * empty value is an error (noted; NULL returned). */
static sl_word *take(sl_args *a, const char *key)
{
	/* A getter may only ask for keys the table lists (so completion and
	 * the manual's test see every option), unless the row lists none. */
	SL_ASSERT(!a->cmd->opts || listed(a->cmd->opts, key));
	sl_word *found = NULL;
	for (int i = 0; i < a->n; i++) {
		sl_word *w = &a->w[i];
		if (!w->key || strcmp(w->key, key) != 0)
			continue;
		w->used = 1;
		if (found) {
			note(a, "%s= is given twice", key);
			return NULL;
		}
		found = w;
	}
	if (found && !found->value[0]) {
		note(a, "%s= needs a value", key);
		return NULL;
	}
	return found;
}

const char *sl_args_word(sl_args *a)
{
	for (int i = 0; i < a->n; i++)
		if (!a->w[i].key && !a->w[i].used) {
			a->w[i].used = 1;
			return a->w[i].text;
		}
	return NULL;
}

const char *sl_args_any(sl_args *a)
{
	for (int i = 0; i < a->n; i++)
		if (!a->w[i].used) {
			a->w[i].used = 1;
			return a->w[i].text;
		}
	return NULL;
}

int sl_args_words_left(const sl_args *a)
{
	int k = 0;
	for (int i = 0; i < a->n; i++)
		k += !a->w[i].key && !a->w[i].used;
	return k;
}

/* Decimal digits with an optional leading '-', nothing else. */
static int is_decimal(const char *v)
{
	if (*v == '-')
		v++;
	if (!*v)
		return 0;
	for (; *v; v++)
		if (*v < '0' || *v > '9')
			return 0;
	return 1;
}

int sl_args_int(sl_args *a, const char *key, long long lo, long long hi, long long *out)
{
	char sh[300];
	sl_word *w = take(a, key);
	if (!w)
		return 0;
	if (!is_decimal(w->value)) {
		note(a, "%s is not an integer", shown(w, sh, sizeof sh));
		return 0;
	}
	errno = 0;
	long long v = strtoll(w->value, NULL, 10);
	if (errno == ERANGE || v < lo || v > hi) {
		note(a, "%s is out of range (%lld..%lld)", shown(w, sh, sizeof sh), lo, hi);
		return 0;
	}
	*out = v;
	return 1;
}

int sl_args_u64(sl_args *a, const char *key, uint64_t *out)
{
	char sh[300];
	sl_word *w = take(a, key);
	if (!w)
		return 0;
	if (!is_decimal(w->value)) {
		note(a, "%s is not an integer", shown(w, sh, sizeof sh));
		return 0;
	}
	errno = 0;
	unsigned long long v = w->value[0] == '-' ? 0 : strtoull(w->value, NULL, 10);
	if (w->value[0] == '-' || errno == ERANGE) {
		note(a, "%s is out of range (0..%llu)", shown(w, sh, sizeof sh), (unsigned long long)UINT64_MAX);
		return 0;
	}
	*out = (uint64_t)v;
	return 1;
}

int sl_args_float(sl_args *a, const char *key, double lo, double hi, double *out)
{
	char sh[300];
	sl_word *w = take(a, key);
	if (!w)
		return 0;
	const char *v = w->value;
	char *end;
	errno = 0;
	double x = strtod(v, &end);
	/* strtod skips blanks and reads hex, inf and nan: accept only what a
	 * person writes as a decimal number */
	int ok = *end == 0 && (*v == '-' || *v == '+' || *v == '.' || (*v >= '0' && *v <= '9')) &&
		 !strpbrk(v, "xXnN");
	if (!ok) {
		note(a, "%s is not a number", shown(w, sh, sizeof sh));
		return 0;
	}
	if (!isfinite(x) || (errno == ERANGE && fabs(x) > 1)) {
		note(a, "%s is not a finite number", shown(w, sh, sizeof sh));
		return 0;
	}
	if (x < lo || x > hi) {
		note(a, "%s is out of range (%g..%g)", shown(w, sh, sizeof sh), lo, hi);
		return 0;
	}
	*out = x;
	return 1;
}

int sl_args_str(sl_args *a, const char *key, const char **out)
{
	SL_ASSERT(!a->cmd->opts || listed(a->cmd->opts, key));
	sl_word *found = NULL;
	for (int i = 0; i < a->n; i++) {
		sl_word *w = &a->w[i];
		if (!w->key || strcmp(w->key, key) != 0)
			continue;
		w->used = 1;
		if (found) {
			note(a, "%s= is given twice", key);
			return 0;
		}
		found = w;
	}
	if (!found)
		return 0;
	*out = found->value;
	return 1;
}

int sl_args_enum(sl_args *a, const char *key, const char *const *choices, int *out)
{
	char sh[300];
	sl_word *w = take(a, key);
	if (!w)
		return 0;
	char list[512];
	size_t k = 0;
	list[0] = 0;
	for (int i = 0; choices[i]; i++) {
		if (strcmp(choices[i], w->value) == 0) {
			*out = i;
			return 1;
		}
		if (k < sizeof list)
			k += (size_t)snprintf(list + k, sizeof list - k, "%s%s", i ? ", " : "", choices[i]);
	}
	const char *near = sl_args_suggest(w->value, choices);
	if (near)
		note(a, "%s is not one of %s; did you mean '%s'?", shown(w, sh, sizeof sh), list, near);
	else
		note(a, "%s is not one of %s", shown(w, sh, sizeof sh), list);
	return 0;
}

int sl_args_bool(sl_args *a, const char *key, int *out)
{
	static const char *const yes[] = {"on", "true", "yes", "1"};
	static const char *const no[] = {"off", "false", "no", "0"};
	char sh[300];
	sl_word *w = take(a, key);
	if (!w)
		return 0;
	for (size_t i = 0; i < SL_COUNT(yes); i++) {
		if (strcasecmp(w->value, yes[i]) == 0) {
			*out = 1;
			return 1;
		}
		if (strcasecmp(w->value, no[i]) == 0) {
			*out = 0;
			return 1;
		}
	}
	note(a, "%s is not on or off (on/off, true/false, yes/no, 1/0)", shown(w, sh, sizeof sh));
	return 0;
}

int sl_args_next_option(sl_args *a, const char **key, const char **value)
{
	for (int i = 0; i < a->n; i++)
		if (a->w[i].key && !a->w[i].used) {
			a->w[i].used = 1;
			*key = a->w[i].key;
			*value = a->w[i].value;
			return 1;
		}
	return 0;
}

int sl_args_end(sl_args *a)
{
	if (a->err[0])
		return sl_fail(a->s, "%s", a->err);
	for (int i = 0; i < a->n; i++) {
		const sl_word *w = &a->w[i];
		if (!w->key || w->used)
			continue;
		const char *near = sl_args_suggest(w->key, a->cmd->opts);
		if (near)
			return sl_fail(a->s, "unknown option '%s'; did you mean '%s'?", w->key, near);
		return sl_args_fail(a, "unknown option '%s'", w->key);
	}
	for (int i = 0; i < a->n; i++)
		if (!a->w[i].key && !a->w[i].used)
			return sl_args_fail(a, "unexpected argument '%s'", a->w[i].text);
	return SL_OK;
}

int sl_args_fail(sl_args *a, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return sl_fail(a->s, "%s; usage: %s", msg, a->cmd->usage);
}

int sl_args_distance(const char *a, const char *b)
{
	size_t n = strlen(a), m = strlen(b);
	/* three rows of the (n+1) x (m+1) table: i-2, i-1, i */
	int *d = sl_xmalloc(3 * (m + 1) * sizeof *d);
	int *r2 = d, *r1 = d + (m + 1), *r0 = d + 2 * (m + 1);
	for (size_t j = 0; j <= m; j++)
		r1[j] = (int)j;
	for (size_t i = 1; i <= n; i++) {
		r0[0] = (int)i;
		for (size_t j = 1; j <= m; j++) {
			int cost = a[i - 1] != b[j - 1];
			int v = SL_MIN(r1[j] + 1, r0[j - 1] + 1);
			v = SL_MIN(v, r1[j - 1] + cost);
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
				v = SL_MIN(v, r2[j - 2] + 1);
			r0[j] = v;
		}
		int *t = r2;
		r2 = r1;
		r1 = r0;
		r0 = t;
	}
	int res = r1[m];
	free(d);
	return res;
}

const char *sl_args_suggest(const char *word, const char *const *candidates)
{
	/* a typo is one edit in a short word, two in a longer one */
	int limit = strlen(word) <= 3 ? 1 : 2;
	const char *best = NULL;
	int bd = limit + 1;
	for (; candidates && *candidates; candidates++) {
		int d = sl_args_distance(word, *candidates);
		if (d < bd) {
			bd = d;
			best = *candidates;
		}
	}
	return best;
}
