/* commands.h - the command table: one static array in commands.c drives
 * dispatch, `help`, usage errors, completion and the manual's test.
 *
 * A feature adds a command by writing a handler (usually in its own module)
 * and adding one row to the table:
 *
 *	{
 *		.name = "set",
 *		.usage = "set [seed=N] [threads=N]",
 *		.summary = "change settings",
 *		.help = "Changes ...",
 *		.flags = SL_CMD_STATE,
 *		.run = cmd_set,
 *		.opts = SL_OPTS("seed", "threads"),
 *	},
 */
#ifndef SEQLAB_COMMANDS_H
#define SEQLAB_COMMANDS_H

#include "seqlab/args.h"
#include "seqlab/session.h"

#include <stddef.h>

/* Flags of a command. */
enum {
	SL_CMD_STATE = 1 << 0,  /* changes the session's state: the journal records it */
	SL_CMD_RECORDS = 1 << 1 /* records its own journal line when it ends (train) */
};

/* Receives one completion candidate (a whole word, e.g. "threads="). */
typedef void (*sl_complete_add)(void *ctx, const char *candidate);

typedef struct sl_cmd sl_cmd;

/* Adds the candidates for word argi (1 = the first word after the command
 * name) that start with prefix. May be NULL. */
typedef void (*sl_cmd_complete_fn)(sl_session *s, const sl_cmd *cmd, int argi, const char *prefix,
				   sl_complete_add add, void *ctx);

/* Runs a command: parse every argument with the args.h getters, then
 * sl_args_end(), then change state. Returns SL_OK, or SL_ERR via sl_fail(). */
typedef int (*sl_cmd_fn)(sl_session *s, sl_args *a);

struct sl_cmd {
	const char *name;    /* what the user types */
	const char *usage;   /* one line, starting with the name */
	const char *summary; /* one line for the command list */
	const char *help;    /* a paragraph (wrapped when shown; \n starts a new one) */
	unsigned flags;      /* SL_CMD_* */
	sl_cmd_fn run;
	/* The option keys the command accepts, NULL-terminated: completion, the
	 * manual's test, and a check that getters ask only for listed keys. NULL
	 * for a command with no options, or with options only its completer knows
	 * (then getters may take any key). */
	const char *const *opts;
	sl_cmd_complete_fn complete;
};

/* A NULL-terminated option list for .opts. */
#define SL_OPTS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* The row for name (exact match), or NULL. */
const sl_cmd *sl_command_find(const char *name);
/* The rows, in table order: i in [0, sl_command_count()). */
int sl_command_count(void);
const sl_cmd *sl_command_at(int i);
/* The command name nearest to name by edit distance, or NULL if none is near. */
const char *sl_command_suggest(const char *name);

/* During completion: word i of the line before the cursor's word (0: the
 * command name), or NULL. For completers whose candidates depend on an
 * earlier word (model NAME = KIND key=...). */
const char *sl_complete_word(int i);

/* Completion for a line being typed: text is the line up to the cursor.
 * Calls add for every candidate for the word under the cursor (a command
 * name, a `key=` of the command's options, or what its completer offers). */
void sl_command_complete(sl_session *s, const char *text, sl_complete_add add, void *ctx);

#endif
