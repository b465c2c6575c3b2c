/* journal.h - the session's journal, and sealed scripts.
 *
 * The journal is every accepted state-changing command of a session, one
 * canonical line each (session.h, sl_accept_fn), after a first line
 * `set seed=S threads=T` holding the settings it started from. Run through
 * the interpreter, it rebuilds the session: `replay`, or `seqlab -f`.
 *
 * On disk, the journal (journal.sl) and the script that recreates a saved
 * session's tasks and runs (state.sl) are sealed scripts: ordinary seqlab
 * scripts that begin and end with a comment line and can be checked:
 *
 *	# seqlab journal 1
 *	# seqlab 0.1.0, seed 0, threads 2, started 2025-01-31 12:00:00 UTC
 *	set seed=0 threads=2
 *	task piglatin words=/usr/share/dict/words size=200 seed=0
 *	...
 *	# end of journal: 5 commands, fnv1a64 6c62272e07bb0142
 *
 * The first line names the kind ("journal", "state") and the format
 * version; the last counts the command lines (every line that is neither
 * empty nor a comment) and holds the FNV-1a 64-bit hash of every byte before
 * it. A file that is truncated, has any byte changed, or lacks either line
 * is rejected with one line saying so. */
#ifndef SEQLAB_JOURNAL_H
#define SEQLAB_JOURNAL_H

#include "seqlab/common.h"

#include <stddef.h>
#include <stdint.h>

#define SL_JOURNAL_VERSION 1

/* FNV-1a, 64 bits: folds n bytes into h (start from SL_FNV_INIT). */
#define SL_FNV_INIT 0xcbf29ce484222325ull
uint64_t sl_fnv1a64(uint64_t h, const void *data, size_t n);

typedef struct sl_journal sl_journal;

/* A journal whose first command is `set seed=seed threads=threads`, with a
 * header comment naming the seqlab version and the date. */
sl_journal *sl_journal_new(uint64_t seed, int threads);
void sl_journal_free(sl_journal *j);

/* Appends one command line (copied; it must not contain a newline). */
void sl_journal_append(sl_journal *j, const char *line);
/* Command lines, in order (the first is the `set` line). */
int sl_journal_count(const sl_journal *j);
const char *sl_journal_line(const sl_journal *j, int i);

/* The journal as a sealed script; extra, if not NULL, is one more command
 * line written after the others (a training job still running). The caller
 * frees the result. */
char *sl_journal_text(const sl_journal *j, const char *extra);

/* A journal read back from a sealed script of kind "journal" (len bytes,
 * not necessarily NUL-terminated): its header comments and commands. NULL
 * with the error set if the text is not a valid sealed journal. */
sl_journal *sl_journal_parse(const char *text, size_t len);

/* ---- sealed scripts ---- */

/* A sealed script of kind (a lowercase word) from the comment lines
 * comments[0..ncomments) (without their "# ") and the command lines
 * lines[0..n). The caller frees the result. */
char *sl_sealed_text(const char *kind, const char *const *comments, int ncomments, const char *const *lines,
		     int n);

/* Checks that text[0..len) is a sealed script of kind: the first line, no
 * NUL byte, the end line, the command count and the hash. SL_OK, or SL_ERR
 * with the error "not a seqlab KIND", "truncated (no end line)", "damaged
 * (the hash does not match)"... */
int sl_sealed_check(const char *text, size_t len, const char *kind);

#endif
