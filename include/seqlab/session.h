/* session.h - the session: settings, the thread pool, and the one interpreter
 * that runs every command, whatever its source.
 *
 * Every front-end hands text to sl_session_exec() (a whole script or a -c
 * argument) or, line by line, to sl_session_feed() (a pipe, a prompt). The
 * interpreter splits the text into commands, looks each one up in the command
 * table (commands.h) and runs its handler. Handlers never print: they emit
 * lines through sl_out()/sl_info() and fail through sl_fail(); the front-end
 * decides where the lines go by installing an output callback.
 *
 * The language (seqlab(5)):
 *   - commands end at `;` or at the end of a line; empty commands are skipped;
 *   - words are separated by blanks; 'single quotes' take everything literally;
 *     "double quotes" understand \" \\ \n \t (any other backslash stays as it
 *     is); outside quotes a backslash takes the next character literally;
 *   - a backslash at the end of a line joins the next line to it;
 *   - `#` where a word could start begins a comment to the end of the line;
 *   - quotes do not span lines: a quote still open at the end of a line is an
 *     error of that command (write \n inside double quotes for a newline);
 *   - a word `key=value` whose key matches [A-Za-z_][A-Za-z0-9_.]* and is not
 *     quoted is an option (the value may be quoted: key="a b"); every other
 *     word, a lone `=` included, is a plain word.
 *
 * Errors are reported as one line "[ORIGIN:LINE: ]CMD: message": the location
 * when the text has an origin (a file name) or spans several lines ("line N: "
 * then), the command name when the command was found. */
#ifndef SEQLAB_SESSION_H
#define SEQLAB_SESSION_H

#include "seqlab/common.h"
#include "seqlab/pool.h"

#include <stdint.h>

typedef struct sl_session sl_session;

/* The kinds of output line. */
enum {
	SL_OUT_RESULT, /* a key=value result */
	SL_OUT_INFO,   /* text for people: help, listings */
	SL_OUT_ERROR   /* one-line error, without any "error: " prefix */
};

/* Receives each output line, without its newline. */
typedef void (*sl_output_fn)(void *ud, int kind, const char *line);
/* Receives each successful state-changing command (SL_CMD_STATE) as one line
 * of canonical text that runs the same command again (the journal's input). */
typedef void (*sl_accept_fn)(void *ud, const char *text);

#define SL_THREADS_MAX 64      /* set threads=N: 1..SL_THREADS_MAX */
#define SL_SOURCE_DEPTH_MAX 16 /* source inside source inside ... */

/* A session with default settings: seed 0, one thread per CPU (at most
 * SL_THREADS_MAX). Returns NULL and sets the error if the thread pool cannot
 * be created. Output is dropped until sl_session_set_output(). */
sl_session *sl_session_new(void);
void sl_session_free(sl_session *s);

void sl_session_set_output(sl_session *s, sl_output_fn fn, void *ud);
void sl_session_get_output(const sl_session *s, sl_output_fn *fn, void **ud);
void sl_session_set_accept(sl_session *s, sl_accept_fn fn, void *ud);

/* ---- the journal (journal.h) ---- */
/* The session's journal: it starts with the settings the session began
 * with, and the interpreter appends every successful SL_CMD_STATE command.
 * Owned by the session. */
struct sl_journal;
struct sl_journal *sl_session_journal(sl_session *s);
/* Replaces the journal (`load`); returns the old one, which the caller now
 * owns. */
struct sl_journal *sl_session_set_journal(sl_session *s, struct sl_journal *j);
/* Records one canonical command line as if a state-changing command had
 * just succeeded: appends it to the journal and calls the accept callback.
 * For state changes that end later than their command (a training job). */
void sl_session_record(sl_session *s, const char *text);
/* Turns recording on or off (nothing is recorded while `load` recreates a
 * session); returns the previous setting. */
int sl_session_set_recording(sl_session *s, int on);

/* ---- untrusted text ---- */
/* Decides whether a command may run, given its words after the name (n of
 * them): SL_OK, or SL_ERR with the error set (the command is then reported
 * as failing, with that error, and not run). */
struct sl_cmd;
struct sl_word;
typedef int (*sl_filter_fn)(void *ud, const struct sl_cmd *cmd, const struct sl_word *w, int n);
/* While a filter is set, every command goes through it first (`load` lets a
 * saved state.sl run only set, task and model; `replay` lets a journal run
 * only state-changing commands). NULL removes it. */
void sl_session_set_filter(sl_session *s, sl_filter_fn fn, void *ud);
void sl_session_get_filter(const sl_session *s, sl_filter_fn *fn, void **ud);

/* Keep going after a failing command (default: stop at the first). */
void sl_session_set_keep_going(sl_session *s, int on);
int sl_session_keep_going(const sl_session *s);

/* The quit flag, set by the `quit` command: the interpreter stops, and
 * front-ends stop reading. */
void sl_session_quit(sl_session *s);
int sl_session_quitting(const sl_session *s);

/* Commands that have failed since the session began (lexing errors and
 * unknown commands included). */
int sl_session_failures(const sl_session *s);

/* The width text for people (help) is wrapped to: 72 columns, or what a
 * front-end says its output pane holds (20..200), so that it is wrapped
 * once, to the pane. */
void sl_session_set_text_width(sl_session *s, int cols);
int sl_session_text_width(const sl_session *s);

/* ---- settings ---- */
uint64_t sl_session_seed(const sl_session *s);
void sl_session_set_seed(sl_session *s, uint64_t seed);
int sl_session_threads(const sl_session *s);
/* Replaces the pool by one of n threads (1..SL_THREADS_MAX). On failure
 * returns SL_ERR with the error set, and the old pool stays. */
int sl_session_set_threads(sl_session *s, int n);
/* The session's pool; owned by the session, replaced by set_threads. */
sl_pool *sl_session_pool(sl_session *s);

/* ---- the workbench: tasks, runs, training ---- */
typedef struct sl_workbench sl_workbench;
sl_workbench *sl_session_workbench(sl_session *s);

/* Ctrl-C: a running `train` stops at the next step boundary (the run keeps
 * its weights). Safe to call from a signal handler. */
void sl_session_interrupt(sl_session *s);
int sl_session_interrupted(const sl_session *s);
void sl_session_clear_interrupt(sl_session *s);

/* Asynchronous front-ends (the screen) run `train` in slices themselves
 * (sl_workbench_tick); otherwise `train` returns when training ends. */
void sl_session_set_async(sl_session *s, int on);
int sl_session_async(const sl_session *s);

/* ---- views: matrices a front-end draws (attention grids, SSM internals) ---- */
typedef struct sl_view_matrix {
	const char *title;             /* "L0 H3" */
	const float *v;                /* (rows, cols), row-major */
	int rows, cols;
	const char *const *row_labels; /* rows strings, or NULL */
	const char *const *col_labels;
	int fixed;                     /* shade over [lo, hi] instead of the data's range */
	float lo, hi;
} sl_view_matrix;

typedef struct sl_view {
	const char *caption;
	int n;
	const sl_view_matrix *m;       /* n matrices, shown as a grid */
} sl_view;

typedef void (*sl_view_fn)(void *ud, const sl_view *v);
/* The front-end's renderer; without one, views are dumped as row=... lines. */
void sl_session_set_view(sl_session *s, sl_view_fn fn, void *ud);
/* Shows a view (valid only during the call). */
void sl_session_view(sl_session *s, const sl_view *v);

/* ---- running commands ---- */

/* Runs every command in text. origin names the text in error locations (a
 * file name), or is NULL (a -c argument, a prompt line). Stops at the first
 * failing command unless keep-going is set, and after `quit`. Returns SL_OK
 * if no command failed, SL_ERR otherwise (the errors have been reported). */
int sl_session_exec(sl_session *s, const char *text, const char *origin);

/* Runs the file at path (origin: the path as given). A file that cannot be
 * read is reported as "cannot open 'PATH': strerror". Returns like exec. */
int sl_session_exec_file(sl_session *s, const char *path);

/* The largest file read whole (scripts, journals, histories), and the
 * longest line a front-end reads from a stream. */
#define SL_FILE_MAX (64 << 20)
#define SL_LINE_MAX (1 << 20)

/* Reads a whole text file into a NUL-terminated string the caller frees.
 * Only a regular file of at most SL_FILE_MAX bytes is read (not a device, a
 * pipe or a directory: those could never end), and one holding a NUL byte is
 * refused. Returns NULL with the error "cannot open 'PATH': strerror",
 * "cannot read 'PATH': not a regular file (a device)", "PATH:LINE: a NUL
 * byte ..." on failure. */
char *sl_session_read_file(const char *path);
/* SL_OK if path can be opened and is a regular file (what a task or import
 * reads); SL_ERR with the error as sl_session_read_file() words it. */
int sl_session_regular_file(const char *path);
/* The same, with its length in *len (it may hold NUL bytes) if len is not NULL. */
char *sl_session_read_file_len(const char *path, size_t *len);

/* The streaming form, for a front-end that reads one physical line at a
 * time. Each call takes one line (with or without its newline). A line
 * ending in a continuation backslash is kept pending and nothing runs; once a
 * line completes the text, the pending lines run as one text through the
 * same interpreter, with line numbers counted across calls (origin as for
 * exec). Returns SL_OK (also when pending) or SL_ERR if a command failed. */
int sl_session_feed(sl_session *s, const char *line, const char *origin);
/* The same for a line of n bytes that may hold a NUL byte: such a line is
 * not run (an error naming it is reported) and SL_ERR is returned. */
int sl_session_feed_len(sl_session *s, const char *line, size_t n, const char *origin);
/* Reports a front-end's error through the session as one line
 * "[ORIGIN:]LINE: MSG" (no location when line is 0); returns SL_ERR. */
int sl_session_report(sl_session *s, const char *origin, int line, const char *msg);
/* The number of lines fed since the last feed_end. */
int sl_session_feed_lines(const sl_session *s);
/* Nonzero while a continuation is pending (a front-end shows "...> "). */
int sl_session_feed_pending(const sl_session *s);
/* End of input: runs what is pending, and restarts line numbers at 1. */
int sl_session_feed_end(sl_session *s, const char *origin);

/* The words as one line that the interpreter reads back as the same words
 * (the same plain words and options), quoting only where needed. The caller
 * frees the result. */
struct sl_word;
char *sl_session_format_words(const struct sl_word *w, int n);
/* The words of the first command of text, read by the one lexer every
 * command goes through (quotes, escapes, key=value): NULL with the error
 * set if it has none or a quote is unterminated. Free with sl_words_free. */
typedef struct sl_words {
	struct sl_word *w;
	int n;
	char *store;
} sl_words;
sl_words *sl_session_lex(const char *text);
void sl_words_free(sl_words *ws);

/* ---- for command handlers ---- */

/* Emits one result line (key=value) / one line of text. */
void sl_out(sl_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sl_info(sl_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Sets the running command's error message (one line; the interpreter adds
 * the location and the command name) and returns SL_ERR, for
 * `return sl_fail(s, ...)`. A handler that returns SL_ERR without calling it
 * is reported with sl_error(), unless a nested command (source) has already
 * reported its own error. */
int sl_fail(sl_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The current source nesting depth (0 at top level); used by `source`. */
int sl_session_depth(const sl_session *s);

#endif
