/* screen.c - the screen's main loop: the terminal, signals, readline in
 * callback mode, keys, and a trainer thread that advances training in
 * slices.
 *
 * Two threads. The trainer runs sl_workbench_tick() in slices while a job
 * is active, holding the session lock during each slice and publishing what
 * the panes show after it (scr_publish, a few times per frame); between
 * slices it yields whenever the main thread asks for the lock. The main
 * thread polls stdin, a self-pipe for signals, a pipe the trainer pokes and
 * gnuplot's answer; it feeds keystrokes to readline and echoes them, and
 * draws the panes from the published data, all without the session lock, so
 * neither an echo nor a frame waits for a training step or an evaluation; it
 * takes the lock only to run the lines typed (queued until it has it) and to
 * complete. Nor does it wait for gnuplot: a plot is sent, and painted when
 * its answer is in. While a run trains, the main thread wakes only for keys,
 * for the lines typed and for a frame every SCR_FRAME seconds: on two cores,
 * each wakeup delays a training thread. Training is the same sequence of
 * steps whatever the screen does: commands run between slices, at step
 * boundaries, exactly as in plain mode.
 *
 * Input is read from stdin with read() (curses never reads): at the prompt
 * the bytes go to readline one at a time through rl_getc_function, so
 * readline decodes escape sequences and runs its own key bindings (ours are
 * added for PgUp/PgDn, F1, F6, Shift-Tab, Ctrl-L); with a pane focused the
 * screen decodes the few keys it needs itself. Readline never touches the
 * terminal modes, never catches signals and never prints: redisplay, the
 * completion list and the bell are ours. SIGWINCH, SIGINT, SIGTERM and SIGHUP
 * only set flags and write to the self-pipe; the terminal is restored at
 * every exit, by atexit() and by the handlers of fatal signals. */
#include "prompt.h"
#include "screen_int.h"
#include "seqlab/screen.h"

#include "config.h"

#include "seqlab/commands.h"
#include "seqlab/sweep.h"
#include "seqlab/workbench.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <readline/history.h>
#include <readline/readline.h>

#define SLICE 0.02          /* seconds of training per slice of the trainer */
#define PROMPT "seqlab> "
#define PROMPT_MORE "...> "

/* One screen per process: readline and signals are process-wide anyway. */
static scr g;

static void show_tab(int pane);

/* ---- signals and the terminal ---------------------------------------------- */

static int sig_pipe[2] = { -1, -1 };
static volatile sig_atomic_t got_winch, got_int, got_term, got_quit;
static struct termios saved_tio;
static int have_tio;
static char restore_seq[256];
static size_t restore_len;
static volatile sig_atomic_t curses_up;

static void on_signal(int sig)
{
	int e = errno;
	if (sig == SIGWINCH)
		got_winch = 1;
	else if (sig == SIGINT)
		got_int = 1;
	else if (sig == SIGQUIT)
		got_quit = 1;
	else
		got_term = 1;
	if (sig_pipe[1] >= 0) {
		char c = 0;
		ssize_t r = write(sig_pipe[1], &c, 1);
		(void)r;
	}
	errno = e;
}

/* From a signal handler: only async-signal-safe calls. */
static void emergency_restore(void)
{
	if (!curses_up)
		return;
	if (restore_len) {
		ssize_t r = write(STDOUT_FILENO, restore_seq, restore_len);
		(void)r;
	}
	if (have_tio)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved_tio);
}

static void on_fatal(int sig)
{
	emergency_restore();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void restore_at_exit(void)
{
	if (curses_up && !isendwin())
		endwin();
	if (curses_up && have_tio)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved_tio);
	curses_up = 0;
}

static struct sigaction old_act[32];
/* SIGQUIT (Ctrl-\) is caught: on the screen it would end seqlab without a
 * word and lose the unsaved runs; it only says how to quit. */
static const int caught[] = { SIGWINCH, SIGINT, SIGTERM, SIGHUP, SIGQUIT };
static const int fatal[] = {
	SIGABRT, SIGILL, SIGFPE,
#if !defined(__SANITIZE_ADDRESS__)
	SIGSEGV, SIGBUS, /* AddressSanitizer reports these itself */
#endif
};

static void signals_install(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESTART;
	for (size_t i = 0; i < SL_COUNT(caught); i++)
		sigaction(caught[i], &sa, &old_act[caught[i]]);
	sa.sa_handler = on_fatal;
	sa.sa_flags = SA_RESETHAND;
	for (size_t i = 0; i < SL_COUNT(fatal); i++)
		sigaction(fatal[i], &sa, &old_act[fatal[i]]);
}

static void signals_restore(void)
{
	for (size_t i = 0; i < SL_COUNT(caught); i++)
		sigaction(caught[i], &old_act[caught[i]], NULL);
	for (size_t i = 0; i < SL_COUNT(fatal); i++)
		sigaction(fatal[i], &old_act[fatal[i]], NULL);
}

/* ---- tracing (for bench/screen_latency) ------------------------------------ */

/* SEQLAB_SCREEN_TRACE=FILE: one line per event, with CLOCK_MONOTONIC seconds:
 *   echo T N      the prompt line, N bytes long, reached the terminal
 *   out T TEXT    an output line */
static FILE *trace_fp;

static double mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- the session lock and the trainer ------------------------------------------ */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static atomic_int want_lock;  /* the main thread waits for mu: the trainer yields */
static atomic_int training;   /* a job is active, as of the last look under mu */
static atomic_int pause_req;  /* Ctrl-C: pause at the next step boundary */
static int trainer_stop;      /* under mu */
static int held;              /* main thread: how deep it holds mu */
static pthread_t trainer_tid;
static int trainer_up;
static int wake_pipe[2] = { -1, -1 };

static void poke(void)
{
	char c = 0;
	ssize_t r = write(wake_pipe[1], &c, 1);
	(void)r;
}

/* The main thread takes the session lock (and waits for the trainer's slice). */
static void lock(void)
{
	if (held++)
		return;
	atomic_store(&want_lock, 1);
	pthread_mutex_lock(&mu);
	atomic_store(&want_lock, 0);
}

/* ... or not, if the trainer is in a slice: it yields at its end and pokes. */
static int trylock(void)
{
	if (held) {
		held++;
		return 1;
	}
	atomic_store(&want_lock, 1);
	if (pthread_mutex_trylock(&mu) != 0)
		return 0;
	atomic_store(&want_lock, 0);
	held = 1;
	return 1;
}

static void unlock(void)
{
	if (--held)
		return;
	atomic_store(&training, sl_workbench_training(sl_session_workbench(g.s)));
	pthread_cond_signal(&cv);
	pthread_mutex_unlock(&mu);
}

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	scr_log_add(&g, LOG_NOTE, buf);
}

static void *trainer(void *arg)
{
	(void)arg;
	sl_workbench *wb = sl_session_workbench(g.s);
	double published = 0;
	pthread_mutex_lock(&mu);
	while (!trainer_stop) {
		int active = sl_workbench_training(wb);
		if (atomic_exchange(&pause_req, 0) && active) {
			sl_train_progress p;
			sl_workbench_progress(g.s, &p);
			char name[64];
			snprintf(name, sizeof name, "%s", p.run ? p.run->name : "?");
			sl_workbench_pause(g.s);
			g.state = p.run ? "paused" : "idle";
			if (p.run) /* a sweep says itself how it stopped */
				note("paused: Ctrl-C (the run keeps its weights; 'train %s ...' goes on)", name);
			atomic_store(&training, 0);
			scr_publish(&g, sl_now());
			poke();
			continue;
		}
		if (atomic_load(&want_lock) || !active) {
			if (atomic_load(&want_lock))
				poke(); /* the main thread may be waiting in poll() */
			pthread_cond_wait(&cv, &mu);
			continue;
		}
		const char *what = sl_workbench_sweep_progress(g.s, &(sl_sweep_progress){ 0 }) ? "sweep" : "train";
		if (sl_workbench_tick(g.s, SLICE) != SL_OK) {
			char e[1200];
			snprintf(e, sizeof e, "error: %s: %s", what, sl_error());
			scr_log_add(&g, SL_OUT_ERROR, e);
		}
		int done = !sl_workbench_training(wb);
		if (done) {
			if (strcmp(g.state, "paused"))
				g.state = "idle";
			atomic_store(&training, 0);
		}
		/* what the panes show, a few times per frame (not after every
		 * slice: the main thread draws only every SCR_FRAME) */
		double now = sl_now();
		if (done || now - published >= SCR_FRAME / 4) {
			scr_publish(&g, now);
			published = now;
		}
		if (done)
			poke();
	}
	pthread_mutex_unlock(&mu);
	return NULL;
}

/* ---- output and views (under the session lock, on either thread) ----------- */

static void on_output(void *ud, int kind, const char *line)
{
	scr *sc = ud;
	if (kind == SL_OUT_RESULT && sl_display_refreshing(sc->s))
		return; /* a watched view's result line, again */
	if (kind == SL_OUT_ERROR) {
		char *e = sl_xmalloc(strlen(line) + 8);
		sprintf(e, "error: %s", line);
		scr_log_add(sc, kind, e);
		free(e);
	} else {
		scr_log_add(sc, kind, line);
	}
	if (trace_fp)
		fprintf(trace_fp, "out %.6f %s\n", mono(), line);
}

static void on_view(void *ud, const sl_view *v)
{
	scr *sc = ud;
	/* a watched view redrawn keeps its place */
	scr_view_set(sc, v, sl_display_refreshing(sc->s));
	if (!sl_display_refreshing(sc->s)) /* a command's view: show it */
		show_tab(PANE_HEAT);
}

/* `plot` (main thread, under the session lock): publish the new curves */
static void on_plot(void *ud, const sl_plot_spec *spec)
{
	scr *sc = ud;
	pthread_mutex_lock(&sc->dmu);
	sc->snap_sig = 0;
	sc->snap_t = 0;
	pthread_mutex_unlock(&sc->dmu);
	atomic_store(&sc->publish, 1);
	sc->curve_scroll = 0;
	show_tab(PANE_CURVES);
}

/* ---- readline ---------------------------------------------------------------- */

static unsigned char inbuf[4096];
static int inlen, inpos;

static int rl_getc_cb(FILE *f)
{
	(void)f;
	return inpos < inlen ? inbuf[inpos++] : EOF;
}

static int rl_avail_cb(void)
{
	return inpos < inlen;
}

static void rl_redisplay_cb(void)
{
	scr_draw_prompt(&g, 1);
	if (trace_fp && !scr_question)
		fprintf(trace_fp, "echo %.6f %d\n", mono(), rl_end);
}

/* The completion list goes to the log, in columns. */
static void rl_matches_cb(char **matches, int n, int maxlen)
{
	int w = g.lay.pane[PANE_LOG].w > 0 ? g.lay.pane[PANE_LOG].w : g.cols;
	int colw = maxlen + 2, per = SL_MAX(w / colw, 1);
	char line[1024];
	size_t k = 0;
	for (int i = 1; i <= n; i++) {
		int w1 = snprintf(line + k, sizeof line - k, "%-*s", colw, matches[i]);
		k = SL_MIN(k + (size_t)(w1 > 0 ? w1 : 0), sizeof line - 1);
		if (i % per == 0 || i == n || k + (size_t)colw + 1 >= sizeof line) {
			scr_log_add(&g, LOG_NOTE, line);
			k = 0;
		}
	}
	scr_log_scroll(&g, -INT_MAX);
}

/* Completion from the command table (which knows the runs: under the lock);
 * file names where it offers nothing. */
static char **complete(const char *text, int start, int end)
{
	(void)end;
	return sl_prompt_complete(g.s, lock, unlock, text, start);
}

/* ---- focus, help, search ----------------------------------------------------- */

enum { MODE_PROMPT, MODE_PANE, MODE_SEARCH, MODE_CONFIRM };
static int mode = MODE_PROMPT;
static char *confirm_line;  /* the line that quits, run on 'y' */
static char *saved_line;    /* the prompt's text during a search */
static int saved_point;
static char question[512];
static int more;            /* a continued line is pending: "...> " */

/* New windows for a new size or zoom (under the lock: the heatmap's and
 * the curves' cells are the trainer's too). */
static void relayout(void)
{
	lock();
	scr_windows(&g);
	unlock();
}

/* A tabbed layout shows pane (when the prompt has the focus). */
static void show_tab(int pane)
{
	if (g.tab == pane)
		return;
	g.tab = pane;
	if (g.lay.tabbed && g.focus == FOCUS_PROMPT) {
		relayout();
		g.dirty_all = 1;
	}
}

static void set_focus(int f)
{
	int zoomed = g.zoom;
	if (f >= 0 && f != g.tab && g.lay.tabbed) {
		g.tab = f; /* the pane focused stays shown back at the prompt */
		g.focus = f;
		relayout();
	}
	g.focus = f;
	mode = f == FOCUS_PROMPT ? MODE_PROMPT : MODE_PANE;
	if (f == FOCUS_PROMPT)
		g.zoom = 0;
	curs_set(f == FOCUS_PROMPT ? 1 : 0);
	if (zoomed != g.zoom || (g.zoom && f != FOCUS_PROMPT))
		relayout();
	g.dirty_all = 1;
}

static void focus_step(int dir)
{
	int f = g.focus + dir; /* prompt (-1), log, curves, heatmap, prompt */
	if (f >= PANE_COUNT)
		f = FOCUS_PROMPT;
	if (f < FOCUS_PROMPT)
		f = PANE_COUNT - 1;
	set_focus(f);
}

static void show_help(void)
{
	g.help = 1;
	g.dirty_all = 1;
}

static void on_line(char *line);

/* A search line ends in readline's line handler, which must not reinstall
 * handlers or replace the line (readline clears it after the handler
 * returns): the pattern waits here for process_input. */
static int search_ended;
static char *search_line;

static void search_handler(char *line)
{
	search_ended = 1;
	free(search_line);
	search_line = line;
}

static void search_done(char *line)
{
	if (line && *line) {
		snprintf(g.search, sizeof g.search, "%s", line);
		if (!scr_log_search(&g, g.search, 1, 1))
			note("not found: %s", g.search);
	}
	free(line);
	rl_callback_handler_remove();
	rl_callback_handler_install(more ? PROMPT_MORE : PROMPT, on_line);
	if (saved_line) {
		rl_replace_line(saved_line, 0);
		rl_point = SL_MIN(saved_point, rl_end);
		free(saved_line);
		saved_line = NULL;
	}
	set_focus(PANE_LOG);
}

static void search_start(void)
{
	free(saved_line);
	saved_line = sl_xstrdup(rl_line_buffer ? rl_line_buffer : "");
	saved_point = rl_point;
	rl_callback_handler_remove();
	mode = MODE_SEARCH;
	rl_callback_handler_install("/", search_handler);
	curs_set(1);
	scr_draw_prompt(&g, 1);
}

/* ---- files run as if typed (under the lock) ---------------------------------- */

/* A file's lines, fed one per loop turn while nothing trains: FILE given to
 * seqlab, or `source FILE` typed alone on a line. One file at a time. */
typedef struct script {
	char *text, *p;     /* NULL: none */
	char *origin;
	int operand;        /* FILE from the command line: its failures count */
	int failed;         /* a command of the operand failed */
} script;

static script cur;

static void script_end(void)
{
	free(cur.text);
	free(cur.origin);
	cur.text = cur.p = cur.origin = NULL;
}

static void script_start(const char *path, int operand)
{
	char *text = sl_session_read_file(path);
	if (!text) {
		sl_session_exec_file(g.s, path); /* reports "cannot open" */
		if (operand)
			cur.failed = 1;
		return;
	}
	cur.text = cur.p = text;
	cur.origin = sl_xstrdup(path);
	cur.operand = operand;
}

static void after_command(int was_training)
{
	if (!was_training && sl_workbench_training(sl_session_workbench(g.s)))
		g.state = "training";
}

static void script_step(int keep_going)
{
	if (!*cur.p) {
		if (sl_session_feed_end(g.s, cur.origin) != SL_OK && cur.operand)
			cur.failed = 1;
		script_end();
		return;
	}
	char *nl = strchr(cur.p, '\n');
	size_t n = nl ? (size_t)(nl - cur.p + 1) : strlen(cur.p);
	char *line = strndup(cur.p, n);
	cur.p += n;
	size_t len = strlen(line);
	char *shown = strndup(line, len && line[len - 1] == '\n' ? len - 1 : len);
	/* the file's commands, after "FILE> " as typed ones follow the prompt;
	 * not its blank and comment lines, nor a lone echo, whose output is the
	 * line again */
	const char *p = shown + strspn(shown, " \t");
	int lone_echo = !strncmp(p, "echo", 4) && (!p[4] || p[4] == ' ' || p[4] == '\t') && !strpbrk(p, ";\\");
	if (*p && *p != '#' && !lone_echo && !sl_session_feed_pending(g.s)) {
		const char *base = strrchr(cur.origin, '/');
		char *echo = sl_xmalloc(strlen(shown) + strlen(cur.origin) + 4);
		sprintf(echo, "%s> %s", base ? base + 1 : cur.origin, shown);
		scr_log_add(&g, LOG_ECHO, echo);
		free(echo);
	} else if (*p && *p != '#' && !lone_echo) {
		scr_log_add(&g, LOG_ECHO, shown); /* a continued line */
	}
	free(shown);
	int was = sl_workbench_training(sl_session_workbench(g.s));
	int st = sl_session_feed(g.s, line, cur.origin);
	free(line);
	after_command(was);
	if (st != SL_OK) {
		if (cur.operand)
			cur.failed = 1;
		if (!keep_going) {
			note("%s: stopped at the first failing command", cur.origin);
			sl_session_feed_end(g.s, cur.origin);
			script_end();
		}
	}
}

/* The file of a line that is only `source FILE` (a plain word), else NULL;
 * the caller frees it. */
static char *lone_source(const char *line)
{
	const char *p = line + strspn(line, " \t");
	if (strncmp(p, "source", 6) || !strchr(" \t", p[6]) || !p[6])
		return NULL;
	p += 6;
	p += strspn(p, " \t");
	size_t n = strcspn(p, " \t");
	if (!n || p[n + strspn(p + n, " \t")] || strpbrk(p, "'\"\\;#"))
		return NULL;
	return strndup(p, n);
}

/* ---- running lines ------------------------------------------------------------- */

/* Whether text runs `quit` (or `quit!`, *forced) as a command: the first word
 * of each command, outside quotes and comments. */
static int line_quits(const char *text, int *forced)
{
	int found = 0;
	*forced = 0;
	const char *p = text;
	while (*p) {
		while (*p == ' ' || *p == '\t' || *p == ';' || *p == '\n')
			p++;
		const char *w = p;
		while (*p && !strchr(" \t;\n'\"\\", *p))
			p++;
		size_t n = (size_t)(p - w);
		if (n == 4 && !strncmp(w, "quit", 4) && (!*p || strchr(" \t;\n", *p)))
			found = 1;
		if (n == 5 && !strncmp(w, "quit!", 5) && (!*p || strchr(" \t;\n", *p)))
			found = *forced = 1;
		/* skip to the end of this command */
		char q = 0;
		for (; *p; p++) {
			if (q) {
				if (*p == q)
					q = 0;
			} else if (*p == '\'' || *p == '"') {
				q = *p;
			} else if (*p == '\\' && p[1]) {
				p++;
			} else if (*p == '#' && strchr(" \t;", p[-1])) {
				/* a comment where a word could start */
				while (*p && *p != '\n')
					p++;
				break;
			} else if (*p == ';' || *p == '\n') {
				break;
			}
		}
	}
	return found;
}

/* Runs that have trained since the last save or load: work that quitting
 * drops. */
static int unsaved(char *names, size_t n)
{
	sl_workbench *wb = sl_session_workbench(g.s);
	int count = 0;
	size_t k = 0;
	names[0] = 0;
	for (int i = 0; i < sl_workbench_nruns(wb); i++) {
		const sl_run *r = sl_workbench_run_at(wb, i);
		if (sl_run_unsaved(r)) {
			if (k < n)
				k += (size_t)snprintf(names + k, n - k, "%s%s", count ? ", " : "", r->name);
			count++;
		}
	}
	return count;
}

/* Lines typed, waiting for the session lock. */
static char **queue;
static int nqueue, capqueue;

static void enqueue(const char *line)
{
	if (nqueue == capqueue) {
		capqueue = capqueue ? 2 * capqueue : 8;
		queue = sl_xrealloc(queue, (size_t)capqueue * sizeof *queue);
	}
	queue[nqueue++] = sl_xstrdup(line);
}

static char *dequeue(void)
{
	char *l = queue[0];
	memmove(queue, queue + 1, (size_t)(nqueue - 1) * sizeof *queue);
	nqueue--;
	return l;
}

/* Runs a typed line (under the lock). */
static void run_line(const char *line)
{
	int was = sl_workbench_training(sl_session_workbench(g.s));
	char *file = lone_source(line);
	if (file && !sl_session_feed_pending(g.s)) {
		/* on the screen a sourced file waits for training, line by line */
		if (cur.text)
			note("%s is still running; 'source %s' when it is done", cur.origin, file);
		else
			script_start(file, 0);
	} else if (cur.text) {
		/* typed while a file runs: apart from the file's line count */
		sl_session_exec(g.s, line, NULL);
	} else {
		sl_session_feed(g.s, line, NULL);
	}
	free(file);
	after_command(was);
	int m = sl_session_feed_pending(g.s);
	if (m != more) {
		more = m;
		rl_set_prompt(more ? PROMPT_MORE : PROMPT);
		scr_draw_prompt(&g, 0);
	}
}

/* A line that quits asks first when runs would be lost (under the lock);
 * returns 1 when it waits for the answer. */
static int ask_quit(const char *line)
{
	char names[256];
	int forced;
	int quits = line_quits(line, &forced);
	int n = quits && !forced ? unsaved(names, sizeof names) : 0;
	if (!n)
		return 0;
	free(confirm_line);
	confirm_line = sl_xstrdup(line);
	snprintf(question, sizeof question, "%s %s trained and %s not saved. Quit anyway? [y/N] ", n == 1 ? "Run" : "Runs",
		 names, n == 1 ? "is" : "are");
	scr_question = question;
	mode = MODE_CONFIRM;
	scr_draw_prompt(&g, 1);
	return 1;
}

static void confirm_answer(int yes)
{
	scr_question = NULL;
	mode = g.focus == FOCUS_PROMPT ? MODE_PROMPT : MODE_PANE;
	char *line = confirm_line;
	confirm_line = NULL;
	if (yes && line) {
		lock();
		run_line(line);
		unlock();
	} else {
		note("not quitting ('quit!' quits without asking)");
	}
	free(line);
	scr_draw_prompt(&g, 1);
}

/* Runs the queued lines, unless a question waits (under the lock). Each is
 * echoed to the log as it runs, so output follows its line. */
static void run_queue(void)
{
	while (nqueue && mode != MODE_CONFIRM && !sl_session_quitting(g.s)) {
		char *line = dequeue();
		char *echo = sl_xmalloc(strlen(line) + 16);
		sprintf(echo, "%s%s", sl_session_feed_pending(g.s) ? PROMPT_MORE : PROMPT, line);
		scr_log_add(&g, LOG_ECHO, echo);
		free(echo);
		scr_log_scroll(&g, -INT_MAX);
		show_tab(PANE_LOG); /* a line typed: its output (plot and views show their panes) */
		if (!ask_quit(line))
			run_line(line);
		free(line);
	}
}

static void on_line(char *line)
{
	if (!line) {
		/* Ctrl-D on an empty line */
		enqueue("quit");
		return;
	}
	if (*line) {
		HIST_ENTRY *last = history_length > 0 ? history_get(history_base + history_length - 1) : NULL;
		if (!last || strcmp(last->line, line) != 0)
			add_history(line);
	}
	enqueue(line);
	free(line);
}

/* ---- key bindings at the prompt ---------------------------------------------- */

static int key_pgup(int count, int key)
{
	scr_log_scroll(&g, scr_page(&g, PANE_LOG));
	return 0;
}

static int key_pgdn(int count, int key)
{
	scr_log_scroll(&g, -scr_page(&g, PANE_LOG));
	return 0;
}

static int key_line_up(int count, int key)
{
	scr_log_scroll(&g, 1);
	return 0;
}

static int key_line_down(int count, int key)
{
	scr_log_scroll(&g, -1);
	return 0;
}

static int key_help(int count, int key)
{
	show_help();
	return 0;
}

static int key_next_pane(int count, int key)
{
	focus_step(1);
	return 0;
}

static int key_redraw(int count, int key)
{
	clearok(curscr, TRUE);
	g.dirty_all = 1;
	return 0;
}

static void bind_keys(void)
{
	static const struct {
		const char *seq;
		rl_command_func_t *fn;
	} b[] = {
		{ "\\e[5~", key_pgup },        { "\\e[6~", key_pgdn },
		{ "\\e[1;2A", key_line_up },   { "\\e[1;2B", key_line_down },
		{ "\\e[1;5A", key_line_up },   { "\\e[1;5B", key_line_down },
		{ "\\eOP", key_help },         { "\\e[11~", key_help },
		{ "\\e[17~", key_next_pane },  { "\\e[Z", key_next_pane },
		{ "\\C-l", key_redraw },
	};
	for (size_t i = 0; i < SL_COUNT(b); i++)
		rl_bind_keyseq(b[i].seq, b[i].fn);
}

/* ---- keys with a pane focused -------------------------------------------------- */

enum { K_NONE = 256, K_UP, K_DOWN, K_LEFT, K_RIGHT, K_PGUP, K_PGDN, K_HOME, K_END, K_F1, K_F6, K_BTAB, K_ESC,
       K_OTHER };

/* Waits briefly for the rest of an escape sequence. */
static int more_input(void)
{
	if (inlen == (int)sizeof inbuf)
		return 0;
	struct pollfd p = { .fd = STDIN_FILENO, .events = POLLIN };
	if (poll(&p, 1, 30) <= 0)
		return 0;
	ssize_t n = read(STDIN_FILENO, inbuf + inlen, sizeof inbuf - (size_t)inlen);
	if (n <= 0)
		return 0;
	inlen += (int)n;
	return 1;
}

static int next_key(void)
{
	int c = inbuf[inpos++];
	if (c != 0x1b)
		return c;
	if (inpos >= inlen && !more_input())
		return K_ESC;
	int c1 = inbuf[inpos];
	if (c1 != '[' && c1 != 'O') {
		inpos++;
		return K_OTHER; /* Alt-something */
	}
	inpos++;
	char params[16];
	int np = 0;
	for (;;) {
		if (inpos >= inlen && !more_input())
			return K_OTHER;
		int d = inbuf[inpos++];
		if (d >= 0x40 && d <= 0x7e) {
			params[np] = 0;
			switch (d) {
			case 'A':
				return K_UP;
			case 'B':
				return K_DOWN;
			case 'C':
				return K_RIGHT;
			case 'D':
				return K_LEFT;
			case 'H':
				return K_HOME;
			case 'F':
				return K_END;
			case 'P':
				return K_F1;
			case 'Z':
				return K_BTAB;
			case '~': {
				int v = atoi(params);
				return v == 5 ? K_PGUP : v == 6 ? K_PGDN : v == 1 || v == 7 ? K_HOME
				       : v == 4 || v == 8 ? K_END : v == 11 ? K_F1 : v == 17 ? K_F6 : K_OTHER;
			}
			default:
				return K_OTHER;
			}
		}
		if (np < (int)sizeof params - 1)
			params[np++] = (char)d;
	}
}

/* Arrows move the heatmap's cell cursor when it shows one matrix. */
static int heat_cursor_key(int k)
{
	int di = 0, dj = 0;
	switch (k) {
	case K_UP:
	case 'k':
		di = -1;
		break;
	case K_DOWN:
	case 'j':
		di = 1;
		break;
	case K_LEFT:
	case 'h':
		dj = -1;
		break;
	case K_RIGHT:
	case 'l':
		dj = 1;
		break;
	default:
		return 0;
	}
	lock();
	int moved = scr_heat_cursor(&g, di, dj);
	unlock();
	return moved;
}

static void pane_key(int k)
{
	int pane = g.focus, page = scr_page(&g, pane);
	if (pane == PANE_HEAT && heat_cursor_key(k)) {
		g.dirty_all = 1;
		return;
	}
	switch (k) {
	case K_UP:
	case 'k':
		scr_scroll(&g, pane, 1);
		break;
	case K_DOWN:
	case 'j':
		scr_scroll(&g, pane, -1);
		break;
	case K_PGUP:
	case 'b':
		scr_scroll(&g, pane, page);
		break;
	case K_PGDN:
	case ' ':
		scr_scroll(&g, pane, -page);
		break;
	case K_HOME:
	case 'g':
	case '<':
		scr_scroll(&g, pane, INT_MAX);
		break;
	case K_END:
	case 'G':
	case '>':
		scr_scroll(&g, pane, -INT_MAX);
		break;
	case '\t':
	case K_F6:
		focus_step(1);
		break;
	case K_BTAB:
		focus_step(-1);
		break;
	case 'q':
	case K_ESC:
	case '\r':
	case '\n':
		set_focus(FOCUS_PROMPT);
		break;
	case 'z':
		g.zoom = !g.zoom;
		relayout();
		break;
	case '?':
	case K_F1:
		show_help();
		break;
	case '/':
		if (pane == PANE_LOG)
			search_start();
		break;
	case 'n':
	case 'N':
		if (pane == PANE_LOG && g.search[0] && !scr_log_search(&g, g.search, k == 'n' ? 1 : -1, 0))
			note("not found: %s", g.search);
		break;
	case 0x0c: /* Ctrl-L */
		key_redraw(0, 0);
		break;
	default:
		break;
	}
	g.dirty_all = 1;
}

/* Hands every byte read to whoever takes input now. Readline may hold one
 * key back (rl_pending_input: it reads typeahead while it inserts, and keeps
 * the first key that is not a plain character for the next call). */
static void process_input(void)
{
	while ((inpos < inlen || (rl_pending_input && (mode == MODE_PROMPT || mode == MODE_SEARCH))) &&
	       !got_term) {
		if (inpos < inlen && g.help) {
			next_key();
			g.help = 0;
			g.dirty_all = 1;
			continue;
		}
		if (inpos < inlen && mode == MODE_CONFIRM) {
			int k = next_key();
			confirm_answer(k == 'y' || k == 'Y');
			continue;
		}
		if (inpos < inlen && mode == MODE_PANE) {
			pane_key(next_key());
			continue;
		}
		if (mode != MODE_PROMPT && mode != MODE_SEARCH)
			break; /* a key readline held back, but readline no longer has the input */
		rl_callback_read_char();
		if (search_ended) {
			search_ended = 0;
			char *l = search_line;
			search_line = NULL;
			search_done(l);
		}
	}
	inpos = inlen = 0;
}

/* ---- the loop ------------------------------------------------------------------ */

static void resize(void)
{
	struct winsize ws;
	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0) {
		resizeterm(ws.ws_row, ws.ws_col);
		g.lines = ws.ws_row;
		g.cols = ws.ws_col;
	} else {
		g.lines = LINES;
		g.cols = COLS;
	}
	rl_set_screen_size(1, g.cols);
	relayout();
	clearok(curscr, TRUE);
}

static void on_interrupt(void)
{
	if (g.help) {
		g.help = 0;
		g.dirty_all = 1;
		return;
	}
	if (mode == MODE_CONFIRM) {
		confirm_answer(0);
		return;
	}
	if (mode == MODE_SEARCH) {
		search_done(NULL);
		return;
	}
	if (cur.text) {
		/* one Ctrl-C stops a sourced file, not only its current line */
		note("%s: stopped by Ctrl-C; its remaining lines do not run", cur.origin);
		script_end();
		if (!atomic_load(&training))
			return;
	}
	if (atomic_load(&training)) {
		/* the trainer pauses at its next step boundary */
		atomic_store(&pause_req, 1);
		return;
	}
	/* no training: Ctrl-C drops the line being typed */
	if (mode == MODE_PROMPT) {
		rl_callback_sigcleanup();
		rl_replace_line("", 0);
		rl_point = rl_end = 0;
		rl_mark = 0;
		scr_draw_prompt(&g, 1);
	}
}

static void drain(int fd)
{
	char buf[256];
	while (read(fd, buf, sizeof buf) > 0)
		;
}

static void loop(void)
{
	double next_frame = 0;
	/* the quit flag is set only by commands, which run on this thread */
	while (!got_term && !sl_session_quitting(g.s)) {
		int busy = atomic_load(&training);
		int work = nqueue || (cur.text && !busy) || (!busy && atomic_load(&g.publish));
		double now = sl_now();
		/* work at once; while training, a frame at a time; else on demand */
		int timeout = work || g.dirty_all || (!busy && atomic_load(&g.dirty_log)) ? 0
			      : busy ? (int)SL_MAX(1, ceil((next_frame - now) * 1000)) : 1000;
		struct pollfd p[6] = {
			{ .fd = STDIN_FILENO, .events = POLLIN },
			{ .fd = sig_pipe[0], .events = POLLIN },
			{ .fd = wake_pipe[0], .events = POLLIN },
		};
		/* gnuplot's answer to the plot in flight: taken as it comes while
		 * nothing trains; while a run trains, at the next frame, so that
		 * gnuplot wakes no one (its time limit is checked then too) */
		int plot_ms, nplot = sl_gnuplot_pollfds(g.gp, p + 3, 3, &plot_ms, busy);
		if (plot_ms >= 0 && (!busy || nplot || plot_ms == 0))
			timeout = SL_MIN(timeout, plot_ms);
		int n = poll(p, (nfds_t)(3 + nplot), timeout);
		if (n < 0 && errno != EINTR)
			break;
		if (n > 0 && (p[1].revents & POLLIN))
			drain(sig_pipe[0]);
		if (n > 0 && (p[2].revents & POLLIN))
			drain(wake_pipe[0]);
		if (got_winch) {
			got_winch = 0;
			resize();
		}
		if (got_int) {
			got_int = 0;
			on_interrupt();
		}
		if (got_quit) {
			got_quit = 0;
			note("Ctrl-\\ does not quit seqlab: type quit (it asks before dropping trained runs), "
			     "or Ctrl-C to pause training");
		}
		if (n > 0 && (p[0].revents & (POLLIN | POLLHUP | POLLERR))) {
			ssize_t r = read(STDIN_FILENO, inbuf, sizeof inbuf);
			if (r <= 0 && !(r < 0 && errno == EINTR))
				break; /* the terminal is gone */
			if (r > 0) {
				inlen = (int)r;
				inpos = 0;
				process_input();
			}
		}
		/* the lines typed, a file's next line, a fresh publication: when
		 * the trainer lets go of the session lock (it yields at the end of
		 * its slice, and pokes) */
		busy = atomic_load(&training);
		work = nqueue || (cur.text && !busy) || (!busy && atomic_load(&g.publish));
		int ran = 0;
		if (work && trylock()) {
			run_queue();
			if (cur.text && !sl_workbench_training(sl_session_workbench(g.s)) && !sl_session_quitting(g.s))
				script_step(sl_session_keep_going(g.s));
			int quitting = sl_session_quitting(g.s);
			if (!quitting)
				scr_publish(&g, sl_now());
			unlock();
			if (quitting)
				break;
			ran = 1;
		}
		/* drawing needs no session lock: what changed, a frame at a time
		 * while training, and a plot when it comes */
		int plotted = scr_curves_collect(&g);
		now = sl_now();
		busy = atomic_load(&training);
		if (!busy || ran || plotted || g.dirty_all || now >= next_frame) {
			scr_draw(&g, now, 0);
			if (now >= next_frame)
				next_frame = now + SCR_FRAME;
		}
	}
}

/* ---- setup and teardown -------------------------------------------------------- */

static int make_pipe(int fds[2])
{
	if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) {
		sl_errorf("cannot make a pipe: %s", strerror(errno));
		return SL_ERR;
	}
	return SL_OK;
}

static void close_pipe(int fds[2])
{
	for (int i = 0; i < 2; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	fds[0] = fds[1] = -1;
}

/* readline 8.2's callback interface crashes (SIGSEGV in
 * _rl_dispatch_callback) when an incremental search (C-r) is ended by a
 * prefix key such as C-x and the key after it completes a sequence (C-r C-x
 * O, C-r C-x u): the search keeps a key-sequence context that the callback
 * then frees twice. Python's prompt crashes the same way. The way around:
 * make every prefix key but ESC (which the search handles itself) a search
 * terminator, so it ends the search and is consumed there, and the next key
 * starts afresh. Set after the init file is read, so an inputrc cannot undo
 * it; its terminators ESC and C-J stay. */
static void isearch_guard(void)
{
	char v[4 * 256 + 16] = "\"\\e\\C-j";
	size_t n = strlen(v);
	Keymap km = rl_get_keymap();
	for (int c = 1; c < 128 && km; c++) {
		if (c == 27 || km[c].type != ISKMAP)
			continue;
		if (c < 32)
			n += (size_t)snprintf(v + n, sizeof v - n, "\\C-%c", c + 96);
		else if (c != '"' && c != '\\')
			n += (size_t)snprintf(v + n, sizeof v - n, "%c", c);
	}
	snprintf(v + n, sizeof v - n, "\"");
	rl_variable_bind("isearch-terminators", v);
}

static void readline_setup(void)
{
	static FILE *devnull;
	if (!devnull)
		devnull = fopen("/dev/null", "w");
	rl_readline_name = "seqlab";
	rl_instream = stdin;
	rl_outstream = devnull ? devnull : stderr;
	rl_catch_signals = 0;
	rl_catch_sigwinch = 0;
	rl_change_environment = 0;
	rl_prep_term_function = NULL;
	rl_deprep_term_function = NULL;
	rl_getc_function = rl_getc_cb;
	rl_input_available_hook = rl_avail_cb;
	rl_redisplay_function = rl_redisplay_cb;
	rl_completion_display_matches_hook = rl_matches_cb;
	rl_completer_word_break_characters = " \t\n;";
	rl_attempted_completion_function = complete;
	rl_variable_bind("bell-style", "none");
	rl_callback_handler_install(PROMPT, on_line);
	bind_keys();
	isearch_guard();
	rl_set_screen_size(1, g.cols);
}

/* The terminal in curses mode, with the pipes and signals the main loop
 * polls: the SCREEN, or NULL with the error set (everything undone). */
static SCREEN *terminal_open(void)
{
	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
		sl_errorf("the screen needs a terminal");
		return NULL;
	}
	if (make_pipe(sig_pipe) != SL_OK)
		return NULL;
	if (make_pipe(wake_pipe) != SL_OK) {
		close_pipe(sig_pipe);
		return NULL;
	}
	have_tio = tcgetattr(STDIN_FILENO, &saved_tio) == 0;
	/* signals before curses, so that ncurses leaves SIGWINCH and SIGINT to us */
	signals_install();
	SCREEN *term = newterm(NULL, stdout, stdin);
	if (term && !scr_term_usable()) {
		endwin();
		delscreen(term);
		term = NULL;
	}
	if (!term) {
		signals_restore();
		close_pipe(sig_pipe);
		close_pipe(wake_pipe);
		sl_errorf("cannot use the terminal '%s'", getenv("TERM") ? getenv("TERM") : "");
		return NULL;
	}
	curses_up = 1;
	static int registered;
	if (!registered) {
		atexit(restore_at_exit);
		registered = 1;
	}
	restore_len = scr_restore_sequence(restore_seq, sizeof restore_seq);
	const char *t = getenv("SEQLAB_SCREEN_TRACE");
	trace_fp = t && *t ? fopen(t, "w") : NULL;
	if (trace_fp)
		setvbuf(trace_fp, NULL, _IOLBF, 0);
	set_escdelay(25);
	cbreak();
	noecho();
	nonl();
	intrflush(stdscr, FALSE);
	keypad(stdscr, FALSE);
	leaveok(stdscr, TRUE);
	typeahead(-1); /* we read the keys: no polling stdin in every refresh */
	return term;
}

static void terminal_close(SCREEN *term)
{
	endwin();
	delscreen(term);
	if (have_tio)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved_tio);
	curses_up = 0;
	signals_restore();
	close_pipe(sig_pipe);
	close_pipe(wake_pipe);
	if (trace_fp)
		fclose(trace_fp);
	trace_fp = NULL;
}

/* The screen's state, its panes and the session's hooks into it. */
static void screen_open(sl_session *s)
{
	memset(&g, 0, sizeof g);
	pthread_mutex_init(&g.dmu, NULL);
	g.s = s;
	g.focus = FOCUS_PROMPT;
	g.state = "idle";
	g.search_hit = -1;
	g.snap_drawn = g.view_drawn = g.status_drawn = (unsigned)-1;
	g.lines = LINES;
	g.cols = COLS;
	scr_colors_init(&g);
	g.gp = sl_gnuplot_new(NULL);
	/* the curve pane in braille where the terminal takes Unicode, unless
	 * SEQLAB_CURVES=gnuplot asks for gnuplot's dumb terminal */
	const char *curves = getenv("SEQLAB_CURVES");
	g.braille = MB_CUR_MAX > 1 && !(curves && !strcmp(curves, "gnuplot"));
	scr_windows(&g);
	curs_set(1);
	sl_session_set_output(s, on_output, &g);
	sl_session_set_view(s, on_view, &g);
	sl_display_hooks hooks = { .plot = on_plot, .save = scr_plot_save, .save_view = scr_view_save, .ud = &g };
	sl_display_set_hooks(s, &hooks);
}

static void screen_close(sl_session *s)
{
	sl_display_set_hooks(s, NULL);
	sl_session_set_view(s, NULL, NULL);
	sl_session_set_output(s, NULL, NULL);
	scr_windows_free(&g);
}

static void screen_free(void)
{
	sl_gnuplot_free(g.gp);
	sl_curves_free(&g.curve_data);
	sl_curves_free(&g.snap);
	scr_log_free(&g);
	scr_view_free(&g.view);
	sl_cells_free(g.curve_cells);
	sl_cells_free(g.curve_next);
	sl_cells_free(g.heat_cells);
	pthread_mutex_destroy(&g.dmu);
	memset(&g, 0, sizeof g);
	got_term = got_int = got_winch = got_quit = 0;
}

/* The prompt's state, the training thread, and their end. */
static void trainer_start(void)
{
	held = 0;
	trainer_stop = 0;
	atomic_store(&training, 0);
	atomic_store(&pause_req, 0);
	atomic_store(&want_lock, 0);
	trainer_up = pthread_create(&trainer_tid, NULL, trainer, NULL) == 0;
	if (!trainer_up)
		note("cannot start the training thread: training will not advance");
}

static void trainer_end(sl_session *s)
{
	if (trainer_up) {
		lock();
		trainer_stop = 1;
		unlock();
		pthread_join(trainer_tid, NULL);
		trainer_up = 0;
	}
	if (sl_workbench_training(sl_session_workbench(s)))
		sl_workbench_pause(s);
}

static void prompt_free(void)
{
	while (nqueue)
		free(dequeue());
	free(queue);
	queue = NULL;
	capqueue = 0;
	sl_prompt_complete_free();
	free(confirm_line);
	confirm_line = NULL;
	free(saved_line);
	saved_line = NULL;
	free(search_line);
	search_line = NULL;
	scr_question = NULL;
}

int sl_screen_run(sl_session *s, const char *file, int *script_failed)
{
	if (script_failed)
		*script_failed = 0;
	setlocale(LC_CTYPE, "");
	SCREEN *term = terminal_open();
	if (!term)
		return SL_ERR;
	screen_open(s);
	int was_async = sl_session_async(s);
	sl_session_set_async(s, 1);

	char *hist = sl_prompt_history_path();
	using_history();
	stifle_history(1000);
	if (hist)
		read_history(hist);
	mode = MODE_PROMPT;
	more = 0;
	nqueue = 0;
	readline_setup();
	note("seqlab %s: type 'help' for the commands, F1 for the keys, 'quit' to leave", PACKAGE_VERSION);
	memset(&cur, 0, sizeof cur);
	if (file)
		script_start(file, 1);
	scr_publish(&g, sl_now());
	scr_draw(&g, sl_now(), 1);
	trainer_start();

	loop();

	/* teardown, in the reverse order */
	trainer_end(s);
	rl_callback_handler_remove();
	if (hist) {
		write_history(hist);
		free(hist);
	}
	if (script_failed)
		*script_failed = cur.failed;
	script_end();
	prompt_free();
	sl_session_set_async(s, was_async);
	screen_close(s);
	terminal_close(term);
	screen_free();
	return SL_OK;
}

void sl_screen_attach_plot_save(sl_session *s)
{
	sl_display_hooks hooks = { .save = scr_plot_save, .save_view = scr_view_save, .ud = NULL };
	sl_display_set_hooks(s, &hooks);
}
