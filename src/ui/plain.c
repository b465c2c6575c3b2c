/* plain.c - the plain line front-end: output to stdout/stderr, commands from
 * a stream, and a small readline prompt (the screen will replace it). */
#include "seqlab/plain.h"
#include "seqlab/commands.h"
#include "seqlab/heatmap.h"
#include "prompt.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <readline/history.h>
#include <readline/readline.h>

static void plain_output(void *ud, int kind, const char *line)
{
	if (kind == SL_OUT_ERROR) {
		fflush(stdout);
		fprintf(stderr, "error: %s\n", line);
	} else {
		fputs(line, stdout);
		fputc('\n', stdout);
	}
}

/* Views as text heatmaps: a grid of all matrices, as wide as the terminal
 * (or 120 columns in a pipe), in 256 colours on a colour terminal. */
static void plain_view(void *ud, const sl_view *v)
{
	(void)ud;
	int tty = isatty(STDOUT_FILENO), width = 120;
	struct winsize ws;
	if (tty && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20)
		width = ws.ws_col;
	const char *term = getenv("TERM");
	int color = tty && term && strstr(term, "256") && !getenv("NO_COLOR");
	sl_heatmap *hm = sl_xcalloc((size_t)(v->n ? v->n : 1), sizeof *hm);
	for (int i = 0; i < v->n; i++) {
		const sl_view_matrix *m = &v->m[i];
		hm[i] = (sl_heatmap){ .v = m->v, .rows = m->rows, .cols = m->cols, .row_labels = m->row_labels,
				      .col_labels = m->col_labels, .title = m->title, .fixed = m->fixed,
				      .lo = m->lo, .hi = m->hi };
	}
	sl_heatmap_opts o = { .style = color ? SL_HEATMAP_COLOR256 : SL_HEATMAP_MONO, .width = width };
	sl_cells *c = sl_cells_new();
	int st = v->n == 1 ? sl_heatmap_render(c, &hm[0], &o, NULL) : sl_heatmap_grid(c, hm, v->n, &o);
	if (v->caption)
		printf("%s\n", v->caption);
	if (st == SL_OK) {
		char *text = sl_cells_string(c, color);
		fputs(text, stdout);
		free(text);
	} else {
		printf("(%s)\n", sl_error());
	}
	sl_cells_free(c);
	free(hm);
}

/* Ctrl-C stops a running `train` at the next step; pressed again before
 * anything consumed the first, it ends seqlab as usual. */
static sl_session *sigint_session;

static void on_sigint(int sig)
{
	if (sigint_session && !sl_session_interrupted(sigint_session)) {
		sl_session_interrupt(sigint_session);
		return;
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

void sl_plain_attach(sl_session *s)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	sl_session_set_output(s, plain_output, NULL);
	sl_session_set_view(s, plain_view, NULL);
	sigint_session = s;
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_sigint;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
}

int sl_plain_run_stream(sl_session *s, FILE *in, const char *origin)
{
	char *line = NULL;
	size_t cap = 0;
	int st = SL_OK;
	for (;;) {
		if (sl_session_quitting(s))
			break;
		/* one line, at most SL_LINE_MAX bytes: an input without newlines
		 * (a device) must not grow without end */
		size_t n = 0;
		int c = EOF;
		while (n <= SL_LINE_MAX && (c = getc(in)) != EOF) {
			if (n + 2 > cap) {
				cap = cap ? 2 * cap : 256;
				line = sl_xrealloc(line, cap);
			}
			line[n++] = (char)c;
			if (c == '\n')
				break;
		}
		if (n == 0)
			break;
		line[n] = 0;
		if (n > SL_LINE_MAX) {
			char msg[128];
			snprintf(msg, sizeof msg, "a line longer than %d bytes; the rest of the input is not read",
				 SL_LINE_MAX);
			sl_session_report(s, origin, sl_session_feed_lines(s) + 1, msg);
			free(line);
			return SL_ERR;
		}
		if (sl_session_feed_len(s, line, n, origin) != SL_OK) {
			st = SL_ERR;
			if (!sl_session_keep_going(s))
				break;
		}
		if (c == EOF)
			break;
	}
	free(line);
	if (!sl_session_quitting(s) && (st == SL_OK || sl_session_keep_going(s)))
		if (sl_session_feed_end(s, origin) != SL_OK)
			st = SL_ERR;
	return st;
}

/* ---- the prompt ---- */

static sl_session *prompt_session;

static char **complete(const char *text, int start, int end)
{
	(void)end;
	return sl_prompt_complete(prompt_session, NULL, NULL, text, start);
}

int sl_plain_prompt(sl_session *s)
{
	char *hist = sl_prompt_history_path();
	prompt_session = s;
	rl_readline_name = "seqlab";
	rl_completer_word_break_characters = " \t\n;";
	rl_attempted_completion_function = complete;
	using_history();
	stifle_history(1000);
	if (hist)
		read_history(hist);
	while (!sl_session_quitting(s)) {
		char *line = readline(sl_session_feed_pending(s) ? "...> " : "seqlab> ");
		if (!line) {
			fputc('\n', stdout);
			break;
		}
		if (*line) {
			HIST_ENTRY *last = history_length > 0 ? history_get(history_base + history_length - 1) : NULL;
			if (!last || strcmp(last->line, line) != 0)
				add_history(line);
		}
		sl_session_clear_interrupt(s);
		sl_session_feed(s, line, NULL);
		free(line);
	}
	if (!sl_session_quitting(s))
		sl_session_feed_end(s, NULL);
	if (hist) {
		write_history(hist);
		free(hist);
	}
	sl_prompt_complete_free();
	return SL_OK;
}
