/* prompt.h - what the plain prompt and the screen share of readline:
 * completion from the command table and the history file's place. */
#ifndef SEQLAB_UI_PROMPT_H
#define SEQLAB_UI_PROMPT_H

#include "seqlab/session.h"

/* readline's attempted-completion answer for `text` starting at `start`:
 * the command table's candidates for the line up to the cursor, or NULL
 * (readline then offers file names) where it has none past the command
 * name. lock/unlock, if not NULL, bracket the table's look at the session. */
char **sl_prompt_complete(sl_session *s, void (*lock)(void), void (*unlock)(void), const char *text, int start);
/* Frees what completion keeps between calls. */
void sl_prompt_complete_free(void);
/* $HOME/.seqlab_history (free it), or NULL without HOME. */
char *sl_prompt_history_path(void);

#endif
