/* gnuplot.c - a gnuplot child on pipes: datablocks in, dumb-terminal text out, read up to a
 * marker with a deadline; the text plotter stands in whenever gnuplot cannot.
 *
 * Facts this relies on (gnuplot 5.4): popen is one-way, so the child gets three pipes; gnuplot
 * reading a pipe keeps going after an error and reports it on stderr; `print` after
 * `set print '-'` lands on stdout after the plot, and with `nofeed` glued to its last row; the
 * dumb terminal starts each page with a form feed; `help` or a bare `set terminal` would wait
 * on a pager, so neither is ever sent. */
#include "seqlab/gnuplot.h"
#include "seqlab/common.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct sl_gnuplot {
	pid_t pid;        /* -1 when not running */
	int in, out, err; /* our ends: its stdin, stdout, stderr */
	double timeout;   /* seconds per request */
	unsigned seq;     /* marker counter */
	char notice[512]; /* pending message, "" when none */
	char shown[512];  /* the last one handed out */
};

/* tab10, the same hues as the text plotter's xterm-256 colours */
static const char *const hex[] = {"1f77b4", "ff7f0e", "2ca02c", "d62728", "9467bd",
                                  "8c564b", "e377c2", "7f7f7f", "bcbd22", "17becf"};

/* ---- a growing string ---- */

typedef struct buf {
	char *s;
	size_t n, cap;
} buf;

static void put(buf *b, const char *s, size_t n)
{
	if (b->n + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 1024;
		while (cap < b->n + n + 1)
			cap *= 2;
		b->s = sl_xrealloc(b->s, cap);
		b->cap = cap;
	}
	memcpy(b->s + b->n, s, n);
	b->n += n;
	b->s[b->n] = 0;
}

static void puts_(buf *b, const char *s)
{
	put(b, s, strlen(s));
}

static void putf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(buf *b, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n < (int)sizeof tmp) {
		put(b, tmp, (size_t)n);
		return;
	}
	char *big = sl_xmalloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	put(b, big, (size_t)n);
	free(big);
}

/* s as a gnuplot single-quoted string: '' stands for ', control characters become blanks. */
static void put_quoted(buf *b, const char *s)
{
	puts_(b, "'");
	for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
		if (*p == '\'')
			puts_(b, "''");
		else if (*p < ' ' || *p == 0x7f)
			puts_(b, " ");
		else
			put(b, (const char *)p, 1);
	}
	puts_(b, "'");
}

/* ---- the child ---- */

static void notice(sl_gnuplot *gp, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void notice(sl_gnuplot *gp, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(gp->notice, sizeof gp->notice, fmt, ap);
	va_end(ap);
	for (char *p = gp->notice; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Kills the child (if any) and reaps it. */
static void stop(sl_gnuplot *gp)
{
	close_fd(&gp->in);
	close_fd(&gp->out);
	close_fd(&gp->err);
	if (gp->pid > 0) {
		kill(gp->pid, SIGKILL);
		while (waitpid(gp->pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	gp->pid = -1;
}

static int start(sl_gnuplot *gp, const char *path)
{
	int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1}, ex[2] = {-1, -1};
	if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC) ||
	    pipe2(ex, O_CLOEXEC)) {
		notice(gp, "gnuplot: cannot make pipes (%s); curves use the built-in text plotter",
		       strerror(errno));
		goto fail;
	}
	pid_t pid = fork();
	if (pid < 0) {
		notice(gp, "gnuplot: cannot fork (%s); curves use the built-in text plotter",
		       strerror(errno));
		goto fail;
	}
	if (pid == 0) {
		/* the child: only async-signal-safe calls until exec */
		char *argv[] = {(char *)path, "-d", NULL}; /* -d: no ~/.gnuplot */
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		setpgid(0, 0); /* the terminal's Ctrl-C is ours to handle, not gnuplot's */
		if (dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0 || dup2(err[1], 2) < 0)
			_exit(126);
		execvp(path, argv);
		int e = errno;
		ssize_t w = write(ex[1], &e, sizeof e);
		(void)w;
		_exit(127);
	}
	close_fd(&in[0]);
	close_fd(&out[1]);
	close_fd(&err[1]);
	close_fd(&ex[1]);
	/* exec succeeded iff the close-on-exec pipe reads EOF */
	int e = 0;
	ssize_t r;
	while ((r = read(ex[0], &e, sizeof e)) < 0 && errno == EINTR)
		;
	close_fd(&ex[0]);
	gp->pid = pid;
	gp->in = in[1];
	gp->out = out[0];
	gp->err = err[0];
	if (r == (ssize_t)sizeof e) {
		stop(gp);
		notice(gp, "gnuplot not found (%s: %s); curves use the built-in text plotter", path,
		       strerror(e));
		return SL_ERR;
	}
	fcntl(gp->in, F_SETFL, fcntl(gp->in, F_GETFL) | O_NONBLOCK);
	fcntl(gp->out, F_SETFL, fcntl(gp->out, F_GETFL) | O_NONBLOCK);
	fcntl(gp->err, F_SETFL, fcntl(gp->err, F_GETFL) | O_NONBLOCK);
	return SL_OK;
fail:
	close_fd(&in[0]), close_fd(&in[1]), close_fd(&out[0]), close_fd(&out[1]);
	close_fd(&err[0]), close_fd(&err[1]), close_fd(&ex[0]), close_fd(&ex[1]);
	return SL_ERR;
}

sl_gnuplot *sl_gnuplot_new(const char *path)
{
	sl_gnuplot *gp = sl_xcalloc(1, sizeof *gp);
	gp->pid = -1;
	gp->in = gp->out = gp->err = -1;
	gp->timeout = 2.0;
	start(gp, path && *path ? path : "gnuplot");
	return gp;
}

void sl_gnuplot_free(sl_gnuplot *gp)
{
	if (!gp)
		return;
	if (gp->pid > 0) {
		/* EOF on its stdin ends gnuplot; wait a little for it, then insist */
		close_fd(&gp->in);
		double end = sl_now() + 0.5;
		char tmp[4096];
		for (;;) {
			int ms = (int)((end - sl_now()) * 1000);
			struct pollfd p = {gp->out, POLLIN, 0};
			if (ms <= 0 || poll(&p, 1, ms) <= 0)
				break;
			ssize_t r = read(gp->out, tmp, sizeof tmp);
			if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN))
				break;
		}
		int st;
		if (waitpid(gp->pid, &st, WNOHANG) == gp->pid)
			gp->pid = -1;
	}
	stop(gp);
	free(gp);
}

int sl_gnuplot_ok(const sl_gnuplot *gp)
{
	return gp && gp->pid > 0;
}

int sl_gnuplot_pid(const sl_gnuplot *gp)
{
	return gp && gp->pid > 0 ? (int)gp->pid : -1;
}

void sl_gnuplot_set_timeout(sl_gnuplot *gp, double seconds)
{
	gp->timeout = seconds > 0 ? seconds : 2.0;
}

const char *sl_gnuplot_notice(sl_gnuplot *gp)
{
	if (!gp || !gp->notice[0])
		return NULL;
	memcpy(gp->shown, gp->notice, sizeof gp->shown);
	gp->notice[0] = 0;
	return gp->shown;
}

/* Reads what fd has now into b; returns 0 at EOF or on an error, 1 otherwise. */
static int drain(int fd, buf *b)
{
	char tmp[8192];
	for (;;) {
		ssize_t r = read(fd, tmp, sizeof tmp);
		if (r > 0) {
			put(b, tmp, (size_t)r);
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		return r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
	}
}

/* Finds "mark\n" in b (at a line start or glued to the end of the last row). */
static const char *find_mark(const buf *b, const char *mark)
{
	if (!b->s)
		return NULL;
	size_t m = strlen(mark);
	for (const char *p = b->s; (p = strstr(p, mark)); p++)
		if (p[m] == '\n')
			return p;
	return NULL;
}

/* Sends script, then a marker print, and collects stdout up to the marker (into out) and
 * stderr (into err). On a timeout, EOF or a write error gnuplot is stopped, a notice set, and
 * SL_ERR returned. */
static int request(sl_gnuplot *gp, const char *script, size_t len, buf *out, buf *err)
{
	char mark[48];
	snprintf(mark, sizeof mark, "__seqlab_%u__", ++gp->seq);
	buf msg = {0};
	put(&msg, script, len);
	putf(&msg, "set print '-'\nprint '%s'\n", mark);

	/* a dead reader must not raise SIGPIPE in the caller: block it while writing, and
	 * consume the one our write may have raised */
	sigset_t pipe_set, old, pend;
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	sigemptyset(&pend);
	sigpending(&pend);
	int was_pending = sigismember(&pend, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);

	const double deadline = sl_now() + gp->timeout;
	size_t sent = 0;
	int rc = SL_ERR, epipe = 0;
	const char *why = NULL;
	out->n = err->n = 0;
	if (out->s)
		out->s[0] = 0;
	if (err->s)
		err->s[0] = 0;
	for (;;) {
		const char *at = find_mark(out, mark);
		if (at) {
			out->n = (size_t)(at - out->s);
			out->s[out->n] = 0;
			rc = SL_OK;
			break;
		}
		int ms = (int)ceil((deadline - sl_now()) * 1000);
		if (ms <= 0) {
			why = "did not answer";
			break;
		}
		struct pollfd p[3] = {{gp->out, POLLIN, 0}, {gp->err, POLLIN, 0}, {-1, POLLOUT, 0}};
		if (sent < msg.n)
			p[2].fd = gp->in;
		int k = poll(p, 3, ms);
		if (k < 0 && errno != EINTR) {
			why = "could not be polled";
			break;
		}
		if (k <= 0)
			continue;
		if (p[2].revents & (POLLOUT | POLLERR | POLLHUP)) {
			ssize_t w = write(gp->in, msg.s + sent, msg.n - sent);
			if (w > 0) {
				sent += (size_t)w;
			} else if (w < 0 && errno != EAGAIN && errno != EINTR) {
				epipe = errno == EPIPE;
				why = "stopped reading its input";
				break;
			}
		}
		if ((p[1].revents & (POLLIN | POLLHUP | POLLERR)) && !drain(gp->err, err))
			close_fd(&gp->err); /* gnuplot may still be alive: stdout decides */
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			if (!drain(gp->out, out) && !find_mark(out, mark)) {
				why = "exited";
				break;
			}
		}
	}
	if (rc == SL_OK && gp->err >= 0)
		drain(gp->err, err); /* its error messages precede the marker */
	if (epipe && !was_pending) {
		struct timespec zero = {0, 0};
		sigtimedwait(&pipe_set, NULL, &zero);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	free(msg.s);
	if (rc != SL_OK) {
		if (why && !strcmp(why, "did not answer"))
			notice(gp, "gnuplot did not answer within %g s and was stopped; curves use the "
			       "built-in text plotter", gp->timeout);
		else
			notice(gp, "gnuplot %s; curves use the built-in text plotter", why ? why : "failed");
		stop(gp);
	}
	return rc;
}

/* The first error gnuplot reported in err ("line 3: x range is invalid" -> "x range is
 * invalid", with a following "system error: ..." appended), or NULL if there is none.
 * Warnings count only when warnings is set. Writes into msg. */
static const char *first_error(const buf *err, int warnings, char *msg, size_t n)
{
	if (!err->s || !err->n)
		return NULL;
	const char *p = err->s;
	while (*p) {
		const char *e = strchr(p, '\n');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		const char *q = p;
		while (q < p + len && *q == ' ')
			q++;
		int num = 0;
		if (!strncmp(q, "line ", 5)) {
			const char *d = q + 5;
			while (*d >= '0' && *d <= '9')
				d++, num = 1;
			if (num && *d == ':') {
				q = d + 1;
				while (*q == ' ')
					q++;
			} else {
				num = 0;
			}
		}
		if (num && (warnings || strncmp(q, "warning:", 8))) {
			size_t k = (size_t)(p + len - q);
			snprintf(msg, n, "%.*s", (int)SL_MIN(k, n - 1), q);
			/* a "system error: ..." line right after says why */
			if (e && !strncmp(e + 1, "system error: ", 14)) {
				const char *s = e + 1 + 14;
				const char *se = strchr(s, '\n');
				size_t have = strlen(msg);
				snprintf(msg + have, n - have, " (%.*s)", (int)(se ? se - s : (long)strlen(s)), s);
			}
			/* gnuplot pads messages with blanks */
			for (size_t have = strlen(msg); have && msg[have - 1] == ' '; have--)
				msg[have - 1] = 0;
			return msg;
		}
		p += len + (e ? 1 : 0);
	}
	return NULL;
}

/* ---- the plot script ---- */

static double yplot(double y, int logy)
{
	return isfinite(y) && !(logy && y <= 0) ? y : NAN;
}

static void put_num(buf *b, double v)
{
	if (isfinite(v))
		putf(b, "%.9g", v);
	else
		puts_(b, "NaN");
}

/* Datablocks $SL0.. with columns x, y (and smoothed y), then the plot command. Series without
 * a drawable point are left out. With max_points > 0 a long series is reduced to the min and
 * max of each of max_points/2 index buckets, which keeps its envelope at a text resolution.
 * Returns how many series are drawn. */
static int put_plot(buf *b, const sl_series *s, int ns, const sl_plot_opts *o, int dumb,
                    int max_points)
{
	const int smooth = o->smooth > 0, raw = !smooth || !o->no_raw, logy = o->logy;
	int drawn = 0;
	char *used = sl_xcalloc((size_t)SL_MAX(ns, 1), 1);
	for (int k = 0; k < ns; k++) {
		int n = s[k].n, valid = 0;
		for (int i = 0; i < n; i++) {
			double x = s[k].x ? s[k].x[i] : i;
			valid += isfinite(x) && !isnan(yplot(s[k].y[i], logy));
		}
		if (!valid)
			continue;
		used[k] = 1;
		drawn++;
		double *sm = NULL;
		if (smooth) {
			sm = sl_xmalloc((size_t)n * sizeof *sm);
			sl_plot_ema(sm, s[k].y, n, o->smooth);
		}
		putf(b, "$SL%d << EOD\n", k);
		int buckets = max_points > 0 && n > max_points ? max_points / 2 : 0;
		for (int q = 0; q < (buckets ? buckets : n); q++) {
			int i0 = buckets ? (int)((long)q * n / buckets) : q;
			int i1 = buckets ? (int)((long)(q + 1) * n / buckets) : q + 1;
			int lo = i0, hi = i0;
			for (int i = i0; i < i1; i++) {
				double y = yplot(s[k].y[i], logy);
				if (isnan(y))
					continue;
				if (isnan(yplot(s[k].y[lo], logy)) || y < s[k].y[lo])
					lo = i;
				if (isnan(yplot(s[k].y[hi], logy)) || y > s[k].y[hi])
					hi = i;
			}
			int pick[2] = {SL_MIN(lo, hi), SL_MAX(lo, hi)};
			for (int j = 0; j < (buckets && lo != hi ? 2 : 1); j++) {
				int i = pick[j];
				double x = s[k].x ? s[k].x[i] : i;
				if (!isfinite(x))
					continue;
				put_num(b, x);
				puts_(b, " ");
				put_num(b, yplot(s[k].y[i], logy));
				if (sm) {
					puts_(b, " ");
					put_num(b, yplot(sm[i], logy));
				}
				puts_(b, "\n");
			}
		}
		puts_(b, "EOD\n");
		free(sm);
	}
	if (o->title) {
		puts_(b, "set title ");
		put_quoted(b, o->title);
		puts_(b, "\n");
	}
	if (o->xlabel) {
		puts_(b, "set xlabel ");
		put_quoted(b, o->xlabel);
		puts_(b, "\n");
	}
	if (o->ylabel) {
		puts_(b, "set ylabel ");
		put_quoted(b, o->ylabel);
		puts_(b, "\n");
	}
	putf(b, "set key %s\n", dumb ? "bmargin center horizontal" : "top right");
	if (!dumb)
		puts_(b, "set grid\n");
	if (logy)
		puts_(b, "set logscale y\n");
	if (o->fix_x)
		putf(b, "set xrange [%.9g:%.9g]\n", o->xmin, o->xmax);
	if (o->fix_y)
		putf(b, "set yrange [%.9g:%.9g]\n", o->ymin, o->ymax);
	if (!drawn) {
		free(used);
		return 0;
	}
	puts_(b, "plot ");
	int first = 1;
	for (int k = 0; k < ns; k++) {
		if (!used[k])
			continue;
		const char *c = hex[k % (int)SL_COUNT(hex)];
		if (smooth && raw) {
			/* raw: dots in the text, faint lines in files; the legend names the smoothed */
			putf(b, "%s$SL%d using 1:2 ", first ? "" : ", ", k);
			if (dumb)
				putf(b, "with dots lc rgb '#%s' notitle", c);
			else
				putf(b, "with lines lc rgb '#a0%s' notitle", c);
			first = 0;
		}
		putf(b, "%s$SL%d using 1:%d with lines lw %d lc rgb '#%s' title ", first ? "" : ", ", k,
		     smooth ? 3 : 2, dumb ? 1 : 2, c);
		put_quoted(b, s[k].name ? s[k].name : "");
		first = 0;
	}
	puts_(b, "\n");
	free(used);
	return drawn;
}

int sl_gnuplot_plot(sl_gnuplot *gp, sl_cells *out, const sl_series *s, int ns,
                    const sl_plot_opts *o)
{
	static const sl_plot_opts none = {0};
	if (!o)
		o = &none;
	if (sl_plot_check(s, ns, o))
		return SL_ERR;
	const int W = o->width > 0 ? o->width : 80, H = o->height > 0 ? o->height : 24;
	if (!sl_gnuplot_ok(gp))
		goto text;

	buf script = {0}, rout = {0}, rerr = {0};
	putf(&script, "reset\nset terminal dumb size %d,%d nofeed %s\nset output\n", W, H,
	     o->color ? "ansi256" : "mono");
	int drawn = put_plot(&script, s, ns, o, 1, 8 * W);
	int rc = SL_ERR;
	if (drawn && request(gp, script.s, script.n, &rout, &rerr) == SL_OK) {
		char msg[256];
		sl_cells *tmp = sl_cells_new();
		sl_cells_parse_ansi(tmp, rout.s ? rout.s : "", (int)rout.n);
		/* the page: a form feed (dropped by the parser), then H rows */
		int first = 0;
		while (tmp->n - first > H && tmp->line[first].n == 0)
			first++;
		int blank = 1;
		for (int i = first; i < tmp->n && blank; i++)
			for (int j = 0; j < tmp->line[i].n; j++)
				if (tmp->line[i].cell[j].ch != ' ')
					blank = 0;
		if (!blank) {
			for (int i = first; i < SL_MIN(tmp->n, first + H); i++) {
				sl_cells_line *l = sl_cells_add(out);
				const sl_cells_line *src = &tmp->line[i];
				for (int j = 0; j < SL_MIN(src->n, W); j++)
					sl_cells_putc(l, src->cell[j].ch, src->cell[j].fg, src->cell[j].bg);
			}
			rc = SL_OK;
		} else {
			const char *e = first_error(&rerr, 1, msg, sizeof msg);
			notice(gp, "gnuplot: %s; drawn by the built-in text plotter",
			       e ? e : "no plot came back");
		}
		sl_cells_free(tmp);
	}
	free(script.s);
	free(rout.s);
	free(rerr.s);
	if (rc == SL_OK)
		return SL_OK;
text:
	if (sl_plot_render(out, s, ns, o, NULL))
		return SL_ERR;
	return SL_GNUPLOT_TEXT;
}

int sl_gnuplot_save(sl_gnuplot *gp, const char *file, const sl_series *s, int ns,
                    const sl_plot_opts *o)
{
	static const sl_plot_opts none = {0};
	if (!o)
		o = &none;
	sl_plot_opts big = *o;
	big.width = big.height = 0; /* the file's size is in pixels */
	if (sl_plot_check(s, ns, &big))
		return SL_ERR;
	const char *dot = file ? strrchr(file, '.') : NULL, *term = NULL;
	if (dot && !strcasecmp(dot, ".png"))
		term = "pngcairo size 1000,600 noenhanced";
	else if (dot && !strcasecmp(dot, ".svg"))
		term = "svg size 1000,600 noenhanced";
	else if (dot && !strcasecmp(dot, ".pdf"))
		term = "pdfcairo size 10in,6in noenhanced";
	if (!term) {
		sl_errorf("plot save: %s must end in .png, .svg or .pdf", file && *file ? file : "the file");
		return SL_ERR;
	}
	for (const char *p = file; *p; p++)
		if ((unsigned char)*p < ' ') {
			sl_errorf("plot save: control character in the file name");
			return SL_ERR;
		}
	if (!sl_gnuplot_ok(gp)) {
		sl_errorf("plot save: gnuplot is not running, cannot write %s", file);
		return SL_ERR;
	}

	buf script = {0}, rout = {0}, rerr = {0};
	char msg[256];
	int rc = SL_ERR;
	/* first the output file alone, so a bad path never sends an image to our stdout pipe */
	putf(&script, "reset\nset terminal %s\nset output ", term);
	put_quoted(&script, file);
	puts_(&script, "\n");
	if (request(gp, script.s, script.n, &rout, &rerr)) {
		sl_errorf("plot save: gnuplot failed, %s not written", file);
		goto out;
	}
	if (first_error(&rerr, 0, msg, sizeof msg)) {
		sl_errorf("plot save: %s: %s", file, msg);
		goto out;
	}
	script.n = 0;
	if (!put_plot(&script, s, ns, o, 0, 0)) {
		/* nothing to draw: still write a valid, empty plot */
		puts_(&script, "set xrange [0:1]\nset yrange [0:1]\nplot NaN notitle\n");
	}
	puts_(&script, "unset output\n");
	if (request(gp, script.s, script.n, &rout, &rerr)) {
		sl_errorf("plot save: gnuplot failed, %s not written", file);
		goto out;
	}
	struct stat st;
	if (first_error(&rerr, 0, msg, sizeof msg))
		sl_errorf("plot save: %s: %s", file, msg);
	else if (stat(file, &st) || st.st_size == 0)
		sl_errorf("plot save: gnuplot wrote nothing to %s", file);
	else
		rc = SL_OK;
out:
	free(script.s);
	free(rout.s);
	free(rerr.s);
	return rc;
}
