/* session.c - the session object and the interpreter: lexing text into
 * commands, dispatching them through the command table, reporting errors.
 * The language is described in session.h and seqlab(5). */
#include "seqlab/session.h"
#include "seqlab/journal.h"
#include "seqlab/workbench.h"

#include <signal.h>
#include "seqlab/args.h"
#include "seqlab/commands.h"
#include "seqlab/display.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sl_session {
	uint64_t seed;
	int threads;
	sl_pool *pool;

	int quit;       /* `quit` was run */
	int keep_going; /* go on after a failing command */
	int failures;   /* errors reported so far */
	int depth;      /* exec_text calls active (source nests them) */

	sl_output_fn out;
	void *out_ud;
	sl_accept_fn accept;
	void *accept_ud;
	sl_journal *journal; /* every accepted state-changing command */
	int recording;       /* append to the journal (off while `load` runs state.sl) */

	char fail[2048]; /* the running handler's error, from sl_fail() */
	int fail_set;

	/* sl_session_feed: lines waiting for the end of a continuation */
	char *pend;
	size_t pend_len, pend_cap;
	int feed_line; /* physical lines fed since the last feed_end */
	int pend_line; /* the line the pending text starts on */

	sl_workbench *wb;              /* tasks, runs, the training job */
	volatile sig_atomic_t interrupt; /* Ctrl-C: stop at the next step boundary */
	int async;                     /* the front-end ticks training itself */
	sl_view_fn view;
	void *view_ud;
	int text_width; /* help's wrap width (0: 72) */
	sl_filter_fn filter; /* the commands an untrusted text may run */
	void *filter_ud;
};

/* ---- the session object ---- */

sl_session *sl_session_new(void)
{
	int n = SL_MIN(sl_cpu_count(), SL_THREADS_MAX);
	sl_pool *pool = sl_pool_new(n);
	if (!pool)
		return NULL;
	sl_session *s = sl_xcalloc(1, sizeof *s);
	s->threads = n;
	s->pool = pool;
	s->wb = sl_workbench_new();
	s->journal = sl_journal_new(s->seed, s->threads);
	s->recording = 1;
	return s;
}

void sl_session_free(sl_session *s)
{
	if (!s)
		return;
	sl_workbench_free(s->wb);
	sl_journal_free(s->journal);
	sl_pool_free(s->pool);
	free(s->pend);
	free(s);
}

void sl_session_set_output(sl_session *s, sl_output_fn fn, void *ud)
{
	s->out = fn;
	s->out_ud = ud;
}

sl_workbench *sl_session_workbench(sl_session *s)
{
	return s->wb;
}

void sl_session_interrupt(sl_session *s)
{
	s->interrupt = 1;
}

int sl_session_interrupted(const sl_session *s)
{
	return s->interrupt != 0;
}

void sl_session_clear_interrupt(sl_session *s)
{
	s->interrupt = 0;
}

void sl_session_set_async(sl_session *s, int on)
{
	s->async = !!on;
}

int sl_session_async(const sl_session *s)
{
	return s->async;
}

void sl_session_set_text_width(sl_session *s, int cols)
{
	s->text_width = cols < 20 ? 20 : cols > 200 ? 200 : cols;
}

int sl_session_text_width(const sl_session *s)
{
	return s->text_width ? s->text_width : 72;
}

void sl_session_set_view(sl_session *s, sl_view_fn fn, void *ud)
{
	s->view = fn;
	s->view_ud = ud;
}

void sl_session_view(sl_session *s, const sl_view *v)
{
	sl_display_keep_view(s, v); /* for `heatmap save` */
	if (s->view) {
		s->view(s->view_ud, v);
		return;
	}
	/* no renderer: a numeric dump, one line per row */
	for (int k = 0; k < v->n; k++) {
		const sl_view_matrix *m = &v->m[k];
		sl_info(s, "%s", m->title ? m->title : "");
		for (int i = 0; i < m->rows; i++) {
			char line[4096];
			size_t n = 0;
			n += (size_t)snprintf(line, sizeof line, "row=%s values=", m->row_labels ? m->row_labels[i] : "");
			for (int j = 0; j < m->cols && n < sizeof line - 16; j++)
				n += (size_t)snprintf(line + n, sizeof line - n, j ? ",%.4g" : "%.4g",
						      m->v[(size_t)i * m->cols + j]);
			sl_info(s, "%s", line);
		}
	}
}

void sl_session_set_filter(sl_session *s, sl_filter_fn fn, void *ud)
{
	s->filter = fn;
	s->filter_ud = ud;
}

void sl_session_get_filter(const sl_session *s, sl_filter_fn *fn, void **ud)
{
	*fn = s->filter;
	*ud = s->filter_ud;
}

void sl_session_set_accept(sl_session *s, sl_accept_fn fn, void *ud)
{
	s->accept = fn;
	s->accept_ud = ud;
}

void sl_session_record(sl_session *s, const char *text)
{
	if (!s->recording)
		return;
	sl_journal_append(s->journal, text);
	if (s->accept)
		s->accept(s->accept_ud, text);
}

sl_journal *sl_session_journal(sl_session *s)
{
	return s->journal;
}

sl_journal *sl_session_set_journal(sl_session *s, sl_journal *j)
{
	sl_journal *old = s->journal;
	s->journal = j;
	return old;
}

int sl_session_set_recording(sl_session *s, int on)
{
	int was = s->recording;
	s->recording = !!on;
	return was;
}

void sl_session_get_output(const sl_session *s, sl_output_fn *fn, void **ud)
{
	*fn = s->out;
	*ud = s->out_ud;
}

void sl_session_set_keep_going(sl_session *s, int on)
{
	s->keep_going = !!on;
}

int sl_session_keep_going(const sl_session *s)
{
	return s->keep_going;
}

void sl_session_quit(sl_session *s)
{
	s->quit = 1;
}

int sl_session_quitting(const sl_session *s)
{
	return s->quit;
}

int sl_session_failures(const sl_session *s)
{
	return s->failures;
}

int sl_session_depth(const sl_session *s)
{
	return s->depth;
}

uint64_t sl_session_seed(const sl_session *s)
{
	return s->seed;
}

void sl_session_set_seed(sl_session *s, uint64_t seed)
{
	s->seed = seed;
}

int sl_session_threads(const sl_session *s)
{
	return s->threads;
}

int sl_session_set_threads(sl_session *s, int n)
{
	SL_ASSERT(n >= 1 && n <= SL_THREADS_MAX);
	if (n == s->threads)
		return SL_OK;
	sl_pool *p = sl_pool_new(n);
	if (!p)
		return SL_ERR;
	sl_pool_free(s->pool);
	s->pool = p;
	s->threads = n;
	return SL_OK;
}

sl_pool *sl_session_pool(sl_session *s)
{
	return s->pool;
}

/* ---- output ---- */

static char *vformat(const char *fmt, va_list ap)
{
	va_list aq;
	va_copy(aq, ap);
	int n = vsnprintf(NULL, 0, fmt, aq);
	va_end(aq);
	if (n < 0)
		n = 0;
	char *b = sl_xmalloc((size_t)n + 1);
	vsnprintf(b, (size_t)n + 1, fmt, ap);
	return b;
}

/* One callback per line of text. */
static void emit(sl_session *s, int kind, char *text)
{
	if (!s->out)
		return;
	for (char *p = text;;) {
		char *nl = strchr(p, '\n');
		if (nl)
			*nl = 0;
		s->out(s->out_ud, kind, p);
		if (!nl)
			break;
		p = nl + 1;
	}
}

void sl_out(sl_session *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *b = vformat(fmt, ap);
	va_end(ap);
	emit(s, SL_OUT_RESULT, b);
	free(b);
}

void sl_info(sl_session *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *b = vformat(fmt, ap);
	va_end(ap);
	emit(s, SL_OUT_INFO, b);
	free(b);
}

int sl_fail(sl_session *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->fail, sizeof s->fail, fmt, ap);
	va_end(ap);
	s->fail_set = 1;
	return SL_ERR;
}

/* Where a command came from, for error locations. */
struct loc {
	const char *origin; /* a file name, or NULL */
	int line;
	int show_line; /* prefix "ORIGIN:LINE: " (or "line N: ") */
};

/* Reports one failure: "[ORIGIN:LINE: ][CMD: ]MESSAGE" on one line. */
static void report(sl_session *s, const struct loc *at, const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void report(sl_session *s, const struct loc *at, const char *cmd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *msg = vformat(fmt, ap);
	va_end(ap);
	char where[512] = "";
	if (at->show_line && at->origin)
		snprintf(where, sizeof where, "%s:%d: ", at->origin, at->line);
	else if (at->show_line)
		snprintf(where, sizeof where, "line %d: ", at->line);
	size_t n = strlen(where) + (cmd ? strlen(cmd) + 2 : 0) + strlen(msg) + 1;
	char *line = sl_xmalloc(n);
	snprintf(line, n, "%s%s%s%s", where, cmd ? cmd : "", cmd ? ": " : "", msg);
	for (char *p = line; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	s->failures++;
	if (s->out)
		s->out(s->out_ud, SL_OUT_ERROR, line);
	free(line);
	free(msg);
}

/* ---- the lexer ---- */

/* A command's words while it is being read: characters in one buffer, words
 * as offsets into it (the buffer moves as it grows). */
struct word_at {
	size_t text, key, value;
	int is_opt;
};

struct cmdbuf {
	char *buf;
	size_t len, cap;
	struct word_at *at;
	sl_word *w;
	int n, cap_w;
	int line; /* the line the command starts on */
};

static void cb_put(struct cmdbuf *cb, char c)
{
	if (cb->len == cb->cap) {
		cb->cap = cb->cap ? 2 * cb->cap : 256;
		cb->buf = sl_xrealloc(cb->buf, cb->cap);
	}
	cb->buf[cb->len++] = c;
}

/* Appends the n bytes at buf[from] and a NUL; returns where they start. */
static size_t cb_copy(struct cmdbuf *cb, size_t from, size_t n)
{
	size_t at = cb->len;
	for (size_t i = 0; i < n; i++)
		cb_put(cb, cb->buf[from + i]);
	cb_put(cb, 0);
	return at;
}

static int is_key(const char *k, size_t n)
{
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = k[i];
		int alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
		int digit = (c >= '0' && c <= '9') || c == '.';
		if (!alpha && !(i > 0 && digit))
			return 0;
	}
	return 1;
}

/* Ends the word that started at buf[start]; eq is the offset of its first
 * unquoted '=' (if nothing before it was quoted), or -1. */
static void cb_word(struct cmdbuf *cb, size_t start, long eq)
{
	cb_put(cb, 0);
	if (cb->n == cb->cap_w) {
		cb->cap_w = cb->cap_w ? 2 * cb->cap_w : 16;
		cb->at = sl_xrealloc(cb->at, (size_t)cb->cap_w * sizeof *cb->at);
		cb->w = sl_xrealloc(cb->w, (size_t)cb->cap_w * sizeof *cb->w);
	}
	struct word_at a = {.text = start};
	if (eq > 0 && is_key(cb->buf + start, (size_t)eq)) {
		size_t vlen = strlen(cb->buf + start + eq + 1);
		a.is_opt = 1;
		a.key = cb_copy(cb, start, (size_t)eq);
		a.value = cb_copy(cb, start + (size_t)eq + 1, vlen);
	}
	cb->at[cb->n++] = a;
}

/* Points the words into the buffer, once it no longer moves. */
static void cb_resolve(struct cmdbuf *cb)
{
	for (int i = 0; i < cb->n; i++) {
		const struct word_at *a = &cb->at[i];
		cb->w[i] = (sl_word){
			.text = cb->buf + a->text,
			.key = a->is_opt ? cb->buf + a->key : NULL,
			.value = a->is_opt ? cb->buf + a->value : NULL,
		};
	}
}

static void cb_free(struct cmdbuf *cb)
{
	free(cb->buf);
	free(cb->at);
	free(cb->w);
}

struct lexer {
	const char *p;
	int line;
};

enum { LEX_END, LEX_CMD, LEX_ERR };

static int is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

/* Reads the next command into cb. LEX_CMD: cb holds its words (at least
 * one). LEX_END: no command is left. LEX_ERR: err holds the message, cb the
 * words read before it, and the lexer has skipped to the end of the line. */
static int lex_command(struct lexer *lx, struct cmdbuf *cb, const char **err)
{
	const char *p = lx->p;
	cb->len = 0;
	cb->n = 0;
	cb->line = lx->line;
	for (;;) {
		char c = *p;
		/* between words */
		if (c == 0)
			break;
		if (is_blank(c)) {
			p++;
			continue;
		}
		if (c == '\n' || c == ';') {
			p++;
			if (c == '\n')
				lx->line++;
			if (cb->n > 0)
				break;
			continue;
		}
		if (c == '#') {
			while (*p && *p != '\n')
				p++;
			continue;
		}
		if (c == '\\' && p[1] == '\n') {
			p += 2;
			lx->line++;
			continue;
		}
		/* a word */
		if (cb->n == 0)
			cb->line = lx->line;
		size_t start = cb->len;
		long eq = -1;
		int quoted = 0;
		for (;;) {
			c = *p;
			if (c == 0 || c == '\n' || c == ';' || is_blank(c))
				break;
			if (c == '\\') {
				if (p[1] == '\n') {
					p += 2;
					lx->line++;
				} else if (p[1] == 0) {
					*err = "backslash at the end of the input";
					goto fail;
				} else {
					cb_put(cb, p[1]);
					quoted = 1;
					p += 2;
				}
				continue;
			}
			if (c == '\'') {
				for (p++; *p != '\''; p++) {
					if (*p == 0 || *p == '\n') {
						*err = "unterminated single quote";
						goto fail;
					}
					cb_put(cb, *p);
				}
				p++;
				quoted = 1;
				continue;
			}
			if (c == '"') {
				for (p++; *p != '"';) {
					if (*p == 0 || *p == '\n') {
						*err = "unterminated double quote";
						goto fail;
					}
					if (*p == '\\' && p[1] == '\n') {
						p += 2;
						lx->line++;
					} else if (*p == '\\' && (p[1] == '"' || p[1] == '\\')) {
						cb_put(cb, p[1]);
						p += 2;
					} else if (*p == '\\' && (p[1] == 'n' || p[1] == 't')) {
						cb_put(cb, p[1] == 'n' ? '\n' : '\t');
						p += 2;
					} else {
						cb_put(cb, *p++);
					}
				}
				p++;
				quoted = 1;
				continue;
			}
			if (c == '=' && eq < 0 && !quoted)
				eq = (long)(cb->len - start);
			cb_put(cb, c);
			p++;
		}
		cb_word(cb, start, eq);
	}
	lx->p = p;
	if (cb->n == 0)
		return LEX_END;
	cb_resolve(cb);
	return LEX_CMD;
fail:
	while (*p && *p != '\n')
		p++;
	lx->p = p;
	cb_resolve(cb);
	return LEX_ERR;
}

/* ---- canonical text (for the journal) ---- */

static void put_str(struct cmdbuf *o, const char *s)
{
	for (; *s; s++)
		cb_put(o, *s);
}

/* Appends s so that the lexer reads it back as one plain word (or, for an
 * option's value, as the value). */
static void put_quoted(struct cmdbuf *o, const char *s, int plain)
{
	int safe = *s != 0 && *s != '#';
	for (const char *p = s; *p && safe; p++) {
		char c = *p;
		safe = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		       strchr("_-+./:,@%^=", c);
	}
	/* a plain word that looks like key=value must stay plain */
	const char *eq = strchr(s, '=');
	if (safe && plain && eq && is_key(s, (size_t)(eq - s)))
		safe = 0;
	if (safe) {
		put_str(o, s);
	} else if (!strpbrk(s, "'\n\t")) {
		cb_put(o, '\'');
		put_str(o, s);
		cb_put(o, '\'');
	} else {
		cb_put(o, '"');
		for (; *s; s++) {
			if (*s == '"' || *s == '\\')
				cb_put(o, '\\');
			if (*s == '\n' || *s == '\t') {
				cb_put(o, '\\');
				cb_put(o, *s == '\n' ? 'n' : 't');
			} else {
				cb_put(o, *s);
			}
		}
		cb_put(o, '"');
	}
}

sl_words *sl_session_lex(const char *text)
{
	struct lexer lx = { .p = text, .line = 1 };
	struct cmdbuf cb = { 0 };
	const char *err = NULL;
	int r = lex_command(&lx, &cb, &err);
	if (r != LEX_CMD) {
		sl_errorf("%s", r == LEX_ERR ? err : "no words");
		cb_free(&cb);
		return NULL;
	}
	cb_resolve(&cb);
	sl_words *ws = sl_xcalloc(1, sizeof *ws);
	ws->w = cb.w;
	ws->n = cb.n;
	ws->store = cb.buf;
	free(cb.at);
	return ws;
}

void sl_words_free(sl_words *ws)
{
	if (!ws)
		return;
	free(ws->w);
	free(ws->store);
	free(ws);
}

char *sl_session_format_words(const sl_word *w, int n)
{
	struct cmdbuf o = {0};
	for (int i = 0; i < n; i++) {
		if (i)
			cb_put(&o, ' ');
		if (w[i].key) {
			put_str(&o, w[i].key);
			cb_put(&o, '=');
			put_quoted(&o, w[i].value, 0);
		} else {
			put_quoted(&o, w[i].text, 1);
		}
	}
	cb_put(&o, 0);
	return o.buf;
}

/* ---- running ---- */

static int run_command(sl_session *s, struct cmdbuf *cb, const struct loc *at)
{
	const char *name = cb->w[0].text;
	const sl_cmd *cmd = sl_command_find(name);
	if (!cmd) {
		const char *near = sl_command_suggest(name);
		if (near)
			report(s, at, NULL, "unknown command '%s'; did you mean '%s'?", name, near);
		else
			report(s, at, NULL, "unknown command '%s'; type 'help' for the list", name);
		return SL_ERR;
	}
	if (s->filter) {
		sl_error_clear();
		if (s->filter(s->filter_ud, cmd, cb->w + 1, cb->n - 1) != SL_OK) {
			report(s, at, cmd->name, "%s", sl_error());
			return SL_ERR;
		}
	}
	sl_args a = {.s = s, .cmd = cmd, .w = cb->w + 1, .n = cb->n - 1};
	int before = s->failures;
	s->fail_set = 0;
	sl_error_clear();
	int st = cmd->run(s, &a);
	if (st != SL_OK) {
		if (s->fail_set)
			report(s, at, cmd->name, "%s", s->fail);
		else if (s->failures == before)
			report(s, at, cmd->name, "%s", sl_error());
		s->fail_set = 0;
		return SL_ERR;
	}
	if ((cmd->flags & SL_CMD_STATE) && s->recording) {
		char *text = sl_session_format_words(cb->w, cb->n);
		sl_session_record(s, text);
		free(text);
	}
	return SL_OK;
}

/* The interpreter: every command of text, from line number first_line. */
static int exec_text(sl_session *s, const char *text, const char *origin, int first_line, int show_line)
{
	struct lexer lx = {.p = text, .line = first_line};
	struct cmdbuf cb = {0};
	int failed = 0;
	s->depth++;
	while (!s->quit) {
		const char *err = NULL;
		int r = lex_command(&lx, &cb, &err);
		if (r == LEX_END)
			break;
		struct loc at = {.origin = origin, .line = cb.line, .show_line = show_line};
		int st;
		if (r == LEX_ERR) {
			report(s, &at, cb.n > 0 ? cb.w[0].text : NULL, "%s", err);
			st = SL_ERR;
		} else {
			st = run_command(s, &cb, &at);
		}
		if (st != SL_OK) {
			failed++;
			if (!s->keep_going)
				break;
		}
	}
	s->depth--;
	cb_free(&cb);
	return failed ? SL_ERR : SL_OK;
}

int sl_session_exec(sl_session *s, const char *text, const char *origin)
{
	/* locations for a named text, or for an unnamed one of several lines */
	const char *nl = strchr(text, '\n');
	int several = nl && nl[strspn(nl, "\n \t\r")] != 0;
	return exec_text(s, text, origin, 1, origin != NULL || several);
}

/* Opens path for reading if it is a regular file; -1 with the error set. */
static int open_regular(const char *path, struct stat *sb)
{
	int fd = sl_open_regular(path);
	if (fd >= 0 && fstat(fd, sb) != 0) {
		sl_errorf("cannot open '%s': %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

int sl_session_regular_file(const char *path)
{
	struct stat sb;
	int fd = open_regular(path, &sb);
	if (fd < 0)
		return SL_ERR;
	close(fd);
	return SL_OK;
}

char *sl_session_read_file_len(const char *path, size_t *len)
{
	struct stat sb;
	int fd = open_regular(path, &sb);
	if (fd < 0)
		return NULL;
	if (sb.st_size > (off_t)SL_FILE_MAX) {
		sl_errorf("cannot read '%s': %lld bytes, more than the %d MB seqlab reads", path,
			  (long long)sb.st_size, SL_FILE_MAX >> 20);
		close(fd);
		return NULL;
	}
	/* read at most one byte past the limit: a file that grows is cut off */
	size_t n = 0, cap = (size_t)sb.st_size + 2;
	char *b = sl_xmalloc(cap);
	for (;;) {
		if (cap - n < 2) {
			if (cap > (size_t)SL_FILE_MAX + 1)
				break;
			cap = SL_MIN(2 * cap, (size_t)SL_FILE_MAX + 2);
			b = sl_xrealloc(b, cap);
		}
		ssize_t k = read(fd, b + n, cap - n - 1);
		if (k < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (k < 0) {
			sl_errorf("cannot read '%s': %s", path, strerror(errno));
			close(fd);
			free(b);
			return NULL;
		}
		if (k == 0)
			break;
		n += (size_t)k;
	}
	close(fd);
	if (n > SL_FILE_MAX) {
		sl_errorf("cannot read '%s': more than the %d MB seqlab reads", path, SL_FILE_MAX >> 20);
		free(b);
		return NULL;
	}
	b[n] = 0;
	if (len)
		*len = n;
	return b;
}

char *sl_session_read_file(const char *path)
{
	size_t len;
	char *t = sl_session_read_file_len(path, &len);
	if (!t)
		return NULL;
	const char *z = memchr(t, 0, len);
	if (z) {
		int line = 1;
		for (const char *p = t; p < z; p++)
			line += *p == '\n';
		sl_errorf("%s:%d: a NUL byte (not a text file?); nothing of it was run", path, line);
		free(t);
		return NULL;
	}
	return t;
}

int sl_session_exec_file(sl_session *s, const char *path)
{
	char *text = sl_session_read_file(path);
	if (!text) {
		struct loc none = {0};
		report(s, &none, NULL, "%s", sl_error());
		return SL_ERR;
	}
	int st = exec_text(s, text, path, 1, 1);
	free(text);
	return st;
}

/* ---- streaming ---- */

/* Whether text, which ends in a newline, ends in a continuation: a backslash
 * right before that newline, outside single quotes and comments. */
static int continues(const char *t)
{
	char q = 0;     /* the open quote, if any */
	int inword = 0; /* a '#' here would be inside a word */
	for (const char *p = t; *p; p++) {
		char c = *p;
		if (c == '\\' && q != '\'') {
			if (p[1] == '\n' && p[2] == 0)
				return 1;
			if (p[1] != '\n')
				inword = 1;
			if (p[1])
				p++;
			continue;
		}
		if (q) {
			if (c == q || c == '\n')
				q = 0;
			continue;
		}
		if (c == '\'' || c == '"') {
			q = c;
			inword = 1;
		} else if (c == '#' && !inword) {
			while (p[1] && p[1] != '\n')
				p++;
		} else {
			inword = !(is_blank(c) || c == '\n' || c == ';');
		}
	}
	return 0;
}

int sl_session_feed_len(sl_session *s, const char *line, size_t n, const char *origin)
{
	if (memchr(line, 0, n)) {
		/* the line would end at the NUL: refuse all of it */
		s->feed_line++;
		struct loc at = {.origin = origin, .line = s->feed_line, .show_line = 1};
		report(s, &at, NULL, "a NUL byte (not text?); the line was not run");
		return SL_ERR;
	}
	return sl_session_feed(s, line, origin);
}

int sl_session_report(sl_session *s, const char *origin, int line, const char *msg)
{
	struct loc at = {.origin = origin, .line = line, .show_line = line > 0};
	report(s, &at, NULL, "%s", msg);
	return SL_ERR;
}

int sl_session_feed(sl_session *s, const char *line, const char *origin)
{
	size_t n = strlen(line);
	if (s->pend_len == 0)
		s->pend_line = s->feed_line + 1;
	for (size_t i = 0; i < n; i++)
		s->feed_line += line[i] == '\n' && i + 1 < n;
	s->feed_line++;
	if (s->pend_len + n + 2 > s->pend_cap) {
		s->pend_cap = 2 * (s->pend_len + n + 2);
		s->pend = sl_xrealloc(s->pend, s->pend_cap);
	}
	memcpy(s->pend + s->pend_len, line, n);
	s->pend_len += n;
	if (n == 0 || line[n - 1] != '\n')
		s->pend[s->pend_len++] = '\n';
	s->pend[s->pend_len] = 0;
	if (continues(s->pend))
		return SL_OK;
	s->pend_len = 0;
	return exec_text(s, s->pend, origin, s->pend_line, origin != NULL);
}

int sl_session_feed_lines(const sl_session *s)
{
	return s->feed_line;
}

int sl_session_feed_pending(const sl_session *s)
{
	return s->pend_len > 0;
}

int sl_session_feed_end(sl_session *s, const char *origin)
{
	int st = SL_OK;
	if (s->pend_len > 0) {
		s->pend_len = 0;
		st = exec_text(s, s->pend, origin, s->pend_line, origin != NULL);
	}
	s->feed_line = 0;
	return st;
}
