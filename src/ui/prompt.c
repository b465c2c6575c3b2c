/* prompt.c - completion and history for the readline front-ends. */
#include "prompt.h"
#include "seqlab/commands.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <readline/readline.h>

static char **cands;
static size_t ncands, capcands;

static void add_candidate(void *ctx, const char *c)
{
	(void)ctx;
	for (size_t i = 0; i < ncands; i++)
		if (strcmp(cands[i], c) == 0)
			return;
	if (ncands == capcands) {
		capcands = capcands ? 2 * capcands : 16;
		cands = sl_xrealloc(cands, capcands * sizeof *cands);
	}
	cands[ncands++] = sl_xstrdup(c);
}

static void clear_candidates(void)
{
	for (size_t i = 0; i < ncands; i++)
		free(cands[i]);
	ncands = 0;
}

static char *next_candidate(const char *text, int state)
{
	static size_t i;
	(void)text;
	if (!state)
		i = 0;
	return i < ncands ? strdup(cands[i++]) : NULL;
}

char **sl_prompt_complete(sl_session *s, void (*lock)(void), void (*unlock)(void), const char *text, int start)
{
	clear_candidates();
	char *upto = strndup(rl_line_buffer, (size_t)rl_point);
	if (lock)
		lock();
	sl_command_complete(s, upto, add_candidate, NULL);
	if (unlock)
		unlock();
	/* nothing from the table after the command name: offer file names */
	int first = strspn(upto, " \t") == (size_t)start;
	free(upto);
	if (ncands == 0 && !first)
		return NULL;
	rl_attempted_completion_over = 1;
	int all_keys = ncands > 0;
	for (size_t i = 0; i < ncands; i++)
		all_keys &= cands[i][strlen(cands[i]) - 1] == '=';
	if (all_keys)
		rl_completion_suppress_append = 1;
	return rl_completion_matches(text, next_candidate);
}

void sl_prompt_complete_free(void)
{
	clear_candidates();
	free(cands);
	cands = NULL;
	capcands = 0;
}

char *sl_prompt_history_path(void)
{
	const char *home = getenv("HOME");
	if (!home || !*home)
		return NULL;
	size_t n = strlen(home) + sizeof "/.seqlab_history";
	char *p = sl_xmalloc(n);
	snprintf(p, n, "%s/.seqlab_history", home);
	return p;
}
