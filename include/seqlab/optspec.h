/* optspec.h - option tables: the key=value options of a model, task or
 * optimizer described as data (key, type, default, range, choices, help), so
 * one table drives parsing, validation, defaults, `help`, completion and the
 * manual. Values land in a config struct at the given offsets. */
#ifndef SEQLAB_OPTSPEC_H
#define SEQLAB_OPTSPEC_H

#include <stddef.h>

enum sl_opt_type {
	SL_OPT_INT,    /* int */
	SL_OPT_FLOAT,  /* float */
	SL_OPT_ENUM,   /* int: index into choices */
	SL_OPT_BOOL,   /* int: 0/1 from on/off/true/false/yes/no/1/0 */
	SL_OPT_STR     /* char[SL_OPT_STRMAX] */
};

#define SL_OPT_STRMAX 256

typedef struct sl_optspec {
	const char *key;
	int type;
	size_t offset;               /* of the field in the config struct */
	const char *def;             /* default value, as typed */
	double lo, hi;               /* allowed range (numbers) */
	const char *const *choices;  /* ENUM: NULL-terminated names */
	const char *help;            /* one line */
} sl_optspec;

/* Tables end with an entry whose key is NULL. */
const sl_optspec *sl_optspec_find(const sl_optspec *t, const char *key);
/* Sets every field to its default. */
void sl_optspec_defaults(const sl_optspec *t, void *cfg);
/* Parses val for key into cfg. SL_ERR with a one-line error such as
 * "hidden=abc is not an integer (8..1024)" or "unknown option 'hiden'
 * (did you mean 'hidden'?)"; cfg is unchanged on error. */
int sl_optspec_set(const sl_optspec *t, void *cfg, const char *key, const char *val);
/* Writes the value of field `s` in cfg as text (the form sl_optspec_set reads). */
void sl_optspec_format(const sl_optspec *s, const void *cfg, char *buf, size_t n);
/* The closest key to `key` by edit distance (<= 2), or NULL. */
const char *sl_optspec_suggest(const sl_optspec *t, const char *key);

/* Levenshtein distance. */
int sl_edit_distance(const char *a, const char *b);

#endif
