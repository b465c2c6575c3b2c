/* optspec.c - parsing and validating key=value options from a table. */
#include "seqlab/optspec.h"
#include "seqlab/common.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const sl_optspec *sl_optspec_find(const sl_optspec *t, const char *key)
{
	for (; t->key; t++)
		if (strcmp(t->key, key) == 0)
			return t;
	return NULL;
}

const char *sl_optspec_suggest(const sl_optspec *t, const char *key)
{
	const char *best = NULL;
	int bd = 3;
	for (; t->key; t++) {
		int d = sl_edit_distance(t->key, key);
		if (d < bd) {
			bd = d;
			best = t->key;
		}
	}
	return best;
}

static int parse_number(const sl_optspec *s, const char *val, double *out)
{
	char *end;
	errno = 0;
	if (s->type == SL_OPT_INT) {
		long long v = strtoll(val, &end, 10);
		if (!*val || *end || errno) {
			sl_errorf("%s=%s is not an integer (%.0f..%.0f)", s->key, val, s->lo, s->hi);
			return SL_ERR;
		}
		*out = (double)v;
		if (*out < s->lo || *out > s->hi) {
			sl_errorf("%s=%s is out of range (%.0f..%.0f)", s->key, val, s->lo, s->hi);
			return SL_ERR;
		}
		return SL_OK;
	}
	double v = strtod(val, &end);
	if (!*val || *end || errno == ERANGE || !isfinite(v)) {
		sl_errorf("%s=%s is not a finite number (%g..%g)", s->key, val, s->lo, s->hi);
		return SL_ERR;
	}
	if (v < s->lo || v > s->hi) {
		sl_errorf("%s=%s is out of range (%g..%g)", s->key, val, s->lo, s->hi);
		return SL_ERR;
	}
	*out = v;
	return SL_OK;
}

int sl_optspec_set(const sl_optspec *t, void *cfg, const char *key, const char *val)
{
	const sl_optspec *s = sl_optspec_find(t, key);
	if (!s) {
		const char *near = sl_optspec_suggest(t, key);
		if (near)
			sl_errorf("unknown option '%s' (did you mean '%s'?)", key, near);
		else
			sl_errorf("unknown option '%s'", key);
		return SL_ERR;
	}
	char *field = (char *)cfg + s->offset;
	double v;
	switch (s->type) {
	case SL_OPT_INT:
		if (parse_number(s, val, &v) != SL_OK)
			return SL_ERR;
		*(int *)field = (int)v;
		return SL_OK;
	case SL_OPT_FLOAT:
		if (parse_number(s, val, &v) != SL_OK)
			return SL_ERR;
		*(float *)field = (float)v;
		return SL_OK;
	case SL_OPT_BOOL:
		if (!strcasecmp(val, "on") || !strcasecmp(val, "true") || !strcasecmp(val, "yes") || !strcmp(val, "1"))
			*(int *)field = 1;
		else if (!strcasecmp(val, "off") || !strcasecmp(val, "false") || !strcasecmp(val, "no") ||
			 !strcmp(val, "0"))
			*(int *)field = 0;
		else {
			sl_errorf("%s=%s is not on or off", s->key, val);
			return SL_ERR;
		}
		return SL_OK;
	case SL_OPT_ENUM: {
		char list[256];
		size_t k = 0;
		for (int i = 0; s->choices[i]; i++) {
			if (strcmp(s->choices[i], val) == 0) {
				*(int *)field = i;
				return SL_OK;
			}
			k += (size_t)snprintf(list + k, k < sizeof list ? sizeof list - k : 0, "%s%s", i ? "|" : "",
					      s->choices[i]);
		}
		sl_errorf("%s=%s is not one of %s", s->key, val, list);
		return SL_ERR;
	}
	case SL_OPT_STR:
		if (strlen(val) >= SL_OPT_STRMAX) {
			sl_errorf("%s: value longer than %d characters", s->key, SL_OPT_STRMAX - 1);
			return SL_ERR;
		}
		strcpy(field, val);
		return SL_OK;
	}
	SL_ASSERT(!"bad option type");
	return SL_ERR;
}

void sl_optspec_defaults(const sl_optspec *t, void *cfg)
{
	for (; t->key; t++)
		SL_ASSERT(sl_optspec_set(t, cfg, t->key, t->def) == SL_OK);
}

void sl_optspec_format(const sl_optspec *s, const void *cfg, char *buf, size_t n)
{
	const char *field = (const char *)cfg + s->offset;
	switch (s->type) {
	case SL_OPT_INT:
		snprintf(buf, n, "%d", *(const int *)field);
		break;
	case SL_OPT_FLOAT: {
		/* the shortest %g that reads back as the same float (a saved
		 * session recreates its models from this text) */
		float f = *(const float *)field;
		for (int prec = 6; prec <= 9; prec++) {
			snprintf(buf, n, "%.*g", prec, (double)f);
			if (strtof(buf, NULL) == f)
				break;
		}
		break;
	}
	case SL_OPT_BOOL:
		snprintf(buf, n, "%s", *(const int *)field ? "on" : "off");
		break;
	case SL_OPT_ENUM:
		snprintf(buf, n, "%s", s->choices[*(const int *)field]);
		break;
	default:
		snprintf(buf, n, "%s", field);
		break;
	}
}

int sl_edit_distance(const char *a, const char *b)
{
	size_t n = strlen(a), m = strlen(b);
	int *row = sl_xmalloc((m + 1) * sizeof *row);
	for (size_t j = 0; j <= m; j++)
		row[j] = (int)j;
	for (size_t i = 1; i <= n; i++) {
		int diag = row[0];
		row[0] = (int)i;
		for (size_t j = 1; j <= m; j++) {
			int up = row[j];
			int v = diag + (a[i - 1] != b[j - 1]);
			v = SL_MIN(v, up + 1);
			v = SL_MIN(v, row[j - 1] + 1);
			row[j] = v;
			diag = up;
		}
	}
	int d = row[m];
	free(row);
	return d;
}
