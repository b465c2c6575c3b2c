/* args.h - a command's arguments, and typed getters that validate them.
 *
 * A handler reads everything first, then calls sl_args_end(), and changes
 * state only after that succeeded, so a bad command changes nothing:
 *
 *	uint64_t seed;
 *	long long threads;
 *	int has_seed = sl_args_u64(a, "seed", &seed);
 *	int has_threads = sl_args_int(a, "threads", 1, SL_THREADS_MAX, &threads);
 *	if (sl_args_end(a) != SL_OK)
 *		return SL_ERR;
 *
 * A getter returns 1 when the option was given and is valid (and stores it),
 * 0 when it is absent or invalid. The first invalid value is remembered, and
 * sl_args_end() reports it as one line naming the option, what was wrong and
 * the command's usage, e.g.
 *	threads=0 is out of range (1..64); usage: set [seed=N] [threads=N]
 * sl_args_end() also rejects options nobody asked for (suggesting the nearest
 * key) and plain words nobody took. */
#ifndef SEQLAB_ARGS_H
#define SEQLAB_ARGS_H

#include <stdint.h>

typedef struct sl_session sl_session;
struct sl_cmd;

/* One word of a command after quoting is removed. */
typedef struct sl_word {
	const char *text;  /* the whole word: "hidden=64", "shopping", "=" */
	const char *key;   /* "hidden" for an option, NULL for a plain word */
	const char *value; /* "64" for an option (maybe ""), NULL for a plain word */
	int used;          /* taken by a getter */
} sl_word;

/* The words after a command's name. Built by the interpreter; its fields are
 * the interpreter's, handlers use the functions below. */
typedef struct sl_args {
	sl_session *s;
	const struct sl_cmd *cmd;
	sl_word *w;
	int n;
	char err[1024]; /* the first error a getter found, "" if none */
} sl_args;

/* ---- plain words, in order ---- */
/* The next plain word not yet taken, or NULL. */
const char *sl_args_word(sl_args *a);
/* The next word of either kind not yet taken, in command order, as typed
 * after quote removal ("hidden=64" for an option); NULL when none is left. */
const char *sl_args_any(sl_args *a);
/* The number of plain words not yet taken. */
int sl_args_words_left(const sl_args *a);

/* ---- options (key=value) ---- */
int sl_args_int(sl_args *a, const char *key, long long lo, long long hi, long long *out);
/* Any unsigned 64-bit integer (a seed). */
int sl_args_u64(sl_args *a, const char *key, uint64_t *out);
/* A finite number in [lo, hi]: nan and inf are rejected. */
int sl_args_float(sl_args *a, const char *key, double lo, double hi, double *out);
/* Any text, the empty string included; valid while the handler runs. */
int sl_args_str(sl_args *a, const char *key, const char **out);
/* One of choices (NULL-terminated); *out is its index. */
int sl_args_enum(sl_args *a, const char *key, const char *const *choices, int *out);
/* on/off, true/false, yes/no, 1/0; *out is 1 or 0. */
int sl_args_bool(sl_args *a, const char *key, int *out);
/* Takes the next option not yet taken, in command order, for handlers whose
 * keys come from elsewhere (an option table); 0 when none is left. */
int sl_args_next_option(sl_args *a, const char **key, const char **value);

/* Reports the first remembered error, else an unknown option, else a
 * leftover plain word, through the session. SL_OK if there is none. */
int sl_args_end(sl_args *a);

/* Reports "MESSAGE; usage: USAGE" through the session; returns SL_ERR. */
int sl_args_fail(sl_args *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Edit distance (optimal string alignment: insertions, deletions,
 * substitutions, adjacent transpositions). */
int sl_args_distance(const char *a, const char *b);
/* The candidate (NULL-terminated list) nearest to word, or NULL if none is
 * near enough to be a likely typo. */
const char *sl_args_suggest(const char *word, const char *const *candidates);

#endif
