/* gnuplot.c - a gnuplot child on pipes: datablocks in, dumb-terminal text out, read up to a
 * marker with a deadline; the text plotter stands in whenever gnuplot cannot. A request is a
 * small state machine (pump) driven either to its end (the synchronous calls) or a step at a
 * time from the caller's poll loop (send, collect); one is in flight at a time, so the answers
 * on the pipe are always in the order of the requests.
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

/* ---- the handle ---- */

/* One script sent and its answer, read up to the marker. */
enum { REQ_IDLE, REQ_BUSY, REQ_DONE, REQ_FAILED };

typedef struct req {
	int state;       /* REQ_*; REQ_FAILED: gnuplot was stopped, a notice says why */
	buf msg;         /* the script, then the marker's print */
	size_t sent;     /* of msg */
	buf out, err;    /* its stdout (up to the marker) and stderr */
	char mark[48];
	double limit;    /* seconds it may take */
	double deadline; /* sl_now() */
} req;

struct sl_gnuplot {
	pid_t pid;        /* -1 when not running */
	int in, out, err; /* our ends: its stdin, stdout, stderr */
	double timeout;   /* seconds per request */
	unsigned seq;     /* marker counter */
	char notice[512]; /* pending message, "" when none */
	char shown[512];  /* the last one handed out */
	/* the plot sent by sl_gnuplot_send until it is collected: its request, its size, and a
	 * copy of its series and options for the text plotter should gnuplot fail */
	req cur;
	int cur_w, cur_h;
	sl_series *cur_s;
	int cur_ns;
	sl_plot_opts cur_o;
};

static void req_free(req *r)
{
	free(r->msg.s);
	free(r->out.s);
	free(r->err.s);
	memset(r, 0, sizeof *r);
}

static char *dup_or_null(const char *s)
{
	return s ? sl_xstrdup(s) : NULL;
}

/* Keeps a copy of the plot sent, for the text plotter should gnuplot fail on it. */
static void keep(sl_gnuplot *gp, const sl_series *s, int ns, const sl_plot_opts *o)
{
	gp->cur_s = sl_xcalloc((size_t)SL_MAX(ns, 1), sizeof *gp->cur_s);
	gp->cur_ns = ns;
	for (int k = 0; k < ns; k++) {
		int n = s[k].n;
		double *x = NULL, *y = sl_xmalloc((size_t)SL_MAX(n, 1) * sizeof *y);
		if (n)
			memcpy(y, s[k].y, (size_t)n * sizeof *y);
		if (s[k].x) {
			x = sl_xmalloc((size_t)SL_MAX(n, 1) * sizeof *x);
			if (n)
				memcpy(x, s[k].x, (size_t)n * sizeof *x);
		}
		gp->cur_s[k] = (sl_series){dup_or_null(s[k].name), x, y, n, s[k].y2};
	}
	gp->cur_o = *o;
	gp->cur_o.title = dup_or_null(o->title);
	for (int i = 0; i < 4; i++)
		gp->cur_o.mark_label[i] = i < o->nmarks ? dup_or_null(o->mark_label[i]) : NULL;
	gp->cur_o.xlabel = dup_or_null(o->xlabel);
	gp->cur_o.ylabel = dup_or_null(o->ylabel);
	gp->cur_o.y2label = dup_or_null(o->y2label);
}

static void forget(sl_gnuplot *gp)
{
	for (int k = 0; k < gp->cur_ns; k++) {
		free((char *)gp->cur_s[k].name);
		free((double *)gp->cur_s[k].x);
		free((double *)gp->cur_s[k].y);
	}
	free(gp->cur_s);
	free((char *)gp->cur_o.title);
	for (int i = 0; i < 4; i++)
		free((char *)gp->cur_o.mark_label[i]);
	free((char *)gp->cur_o.xlabel);
	free((char *)gp->cur_o.ylabel);
	free((char *)gp->cur_o.y2label);
	gp->cur_s = NULL;
	gp->cur_ns = 0;
	memset(&gp->cur_o, 0, sizeof gp->cur_o);
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
		/* below the training threads: no keystroke waits for a plot */
		int nv = nice(SL_GNUPLOT_NICE);
		(void)nv;
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
	if (!path || !*path)
		path = getenv("SEQLAB_GNUPLOT");
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
	req_free(&gp->cur);
	forget(gp);
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

/* write() without SIGPIPE: a dead reader must not raise it in the caller, so it is blocked
 * for the call and the one our write may have raised is consumed. */
static ssize_t write_quiet(int fd, const char *s, size_t n)
{
	sigset_t pipe_set, old, pend;
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	sigemptyset(&pend);
	sigpending(&pend);
	int was_pending = sigismember(&pend, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	ssize_t w = write(fd, s, n);
	int e = errno;
	if (w < 0 && e == EPIPE && !was_pending) {
		struct timespec zero = {0, 0};
		sigtimedwait(&pipe_set, NULL, &zero);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = e;
	return w;
}

static void req_begin(sl_gnuplot *gp, req *r, const char *script, size_t len, double limit)
{
	r->msg.n = r->out.n = r->err.n = 0;
	put(&r->msg, script, len);
	snprintf(r->mark, sizeof r->mark, "__seqlab_%u__", ++gp->seq);
	putf(&r->msg, "set print '-'\nprint '%s'\n", r->mark);
	put(&r->out, "", 0);
	put(&r->err, "", 0);
	r->sent = 0;
	r->limit = limit;
	r->deadline = sl_now() + limit;
	r->state = REQ_BUSY;
}

/* The request failed: gnuplot is stopped and a notice says why. */
static void req_fail(sl_gnuplot *gp, req *r, const char *why)
{
	if (!strcmp(why, "did not answer"))
		notice(gp, "gnuplot did not answer within %g s and was stopped; curves use the built-in "
		       "text plotter", r->limit);
	else
		notice(gp, "gnuplot %s; curves use the built-in text plotter", why);
	stop(gp);
	r->state = REQ_FAILED;
}

/* Moves a request on: writes what gnuplot takes of the script, collects its stdout up to the
 * marker (into r->out) and its stderr (into r->err). With block it waits until the answer is
 * complete or the deadline has passed, else it returns as soon as nothing more can be done
 * now. A timeout, EOF or a write error stops gnuplot (req_fail). Returns r->state. */
static int pump(sl_gnuplot *gp, req *r, int block)
{
	int late = 0; /* past the deadline: one last read, then give up */
	while (r->state == REQ_BUSY) {
		const char *at = find_mark(&r->out, r->mark);
		if (at) {
			r->out.n = (size_t)(at - r->out.s);
			r->out.s[r->out.n] = 0;
			if (gp->err >= 0)
				drain(gp->err, &r->err); /* its error messages precede the marker */
			r->state = REQ_DONE;
			break;
		}
		if (late) {
			req_fail(gp, r, "did not answer");
			break;
		}
		double left = r->deadline - sl_now();
		late = left <= 0;
		int ms = late || !block ? 0 : (int)ceil(left * 1000);
		struct pollfd p[3] = {{gp->out, POLLIN, 0}, {gp->err, POLLIN, 0}, {-1, POLLOUT, 0}};
		if (r->sent < r->msg.n)
			p[2].fd = gp->in;
		int k = poll(p, 3, ms);
		if (k < 0 && errno != EINTR) {
			req_fail(gp, r, "could not be polled");
			break;
		}
		if (k < 0) {
			late = 0; /* interrupted: that was not the last read */
			continue;
		}
		if (k == 0) {
			if (!block && !late)
				break; /* nothing more now */
			continue;
		}
		if (p[2].revents & (POLLOUT | POLLERR | POLLHUP)) {
			ssize_t w = write_quiet(gp->in, r->msg.s + r->sent, r->msg.n - r->sent);
			if (w > 0) {
				r->sent += (size_t)w;
			} else if (w < 0 && errno != EAGAIN && errno != EINTR) {
				req_fail(gp, r, "stopped reading its input");
				break;
			}
		}
		if ((p[1].revents & (POLLIN | POLLHUP | POLLERR)) && !drain(gp->err, &r->err))
			close_fd(&gp->err); /* gnuplot may still be alive: stdout decides */
		if ((p[0].revents & (POLLIN | POLLHUP | POLLERR)) && !drain(gp->out, &r->out) &&
		    !find_mark(&r->out, r->mark)) {
			req_fail(gp, r, "exited");
			break;
		}
	}
	return r->state;
}

/* Sends script and waits for the answer (up to the marker, into r->out; stderr into r->err),
 * at most limit seconds. A plot sent by sl_gnuplot_send and not answered yet is waited for
 * first (its answer stays for sl_gnuplot_collect), so requests never overlap on the pipes.
 * SL_OK, or SL_ERR when gnuplot failed (stopped, notice set). */
static int request(sl_gnuplot *gp, req *r, const char *script, size_t len, double limit)
{
	if (gp->cur.state == REQ_BUSY)
		pump(gp, &gp->cur, 1);
	if (!sl_gnuplot_ok(gp)) {
		r->state = REQ_FAILED;
		return SL_ERR;
	}
	req_begin(gp, r, script, len, limit);
	return pump(gp, r, 1) == REQ_DONE ? SL_OK : SL_ERR;
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
	/* below the plot in files too: inside, it hid the curves at 1 (accuracy) */
	putf(b, "set key %s\n", dumb ? "bmargin center horizontal" : "bmargin center horizontal maxrows 3");
	if (!dumb)
		puts_(b, "set grid\n");
	if (logy)
		puts_(b, "set logscale y\n");
	if (o->fix_x)
		putf(b, "set xrange [%.9g:%.9g]\n", o->xmin, o->xmax);
	if (o->fix_y)
		putf(b, "set yrange [%.9g:%.9g]\n", o->ymin, o->ymax);
	/* a second axis on the right: 0 to just above 1 for values in [0, 1] */
	int y2 = 0, unit = 1;
	for (int k = 0; k < ns; k++)
		if (s[k].y2 && used[k]) {
			y2 = 1;
			for (int i = 0; i < s[k].n; i++)
				if (isfinite(s[k].y[i]) && (s[k].y[i] < 0 || s[k].y[i] > 1))
					unit = 0;
		}
	if (y2) {
		puts_(b, "set ytics nomirror\nset y2tics\n");
		if (o->y2label) {
			puts_(b, "set y2label ");
			put_quoted(b, o->y2label);
			puts_(b, "\n");
		}
		if (unit)
			puts_(b, "set y2range [0:1.05]\n");
	}
	for (int i = 0; i < SL_MIN(o->nmarks, 4); i++) {
		if (!isfinite(o->mark_x[i]))
			continue;
		putf(b, "set arrow from %.9g, graph 0 to %.9g, graph 1 nohead %s lc rgb '#777777'\n", o->mark_x[i],
		     o->mark_x[i], dumb ? "" : "dt 2 lw 1.5");
		if (o->mark_label[i] && !dumb) { /* in text it would cross the curves: the caller says it */
			putf(b, "set label %d ", i + 1);
			put_quoted(b, o->mark_label[i]);
			putf(b, " at %.9g, graph 0.04 offset 0.5,0 left tc rgb '#555555'\n", o->mark_x[i]);
		}
	}
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
			putf(b, "%s$SL%d using 1:2%s ", first ? "" : ", ", k, s[k].y2 ? " axes x1y2" : "");
			if (dumb)
				putf(b, "with dots lc rgb '#%s' notitle", c);
			else
				putf(b, "with lines lc rgb '#a0%s' notitle", c);
			first = 0;
		}
		putf(b, "%s$SL%d using 1:%d%s with lines lw %d lc rgb '#%s' title ", first ? "" : ", ", k,
		     smooth ? 3 : 2, s[k].y2 ? " axes x1y2" : "", dumb ? 1 : 2, c);
		put_quoted(b, s[k].name ? s[k].name : "");
		first = 0;
	}
	puts_(b, "\n");
	free(used);
	return drawn;
}

/* The dumb-terminal script for a W x H plot; returns how many series it draws. */
static int dumb_script(buf *b, const sl_series *s, int ns, const sl_plot_opts *o, int W, int H)
{
	putf(b, "reset\nset terminal dumb size %d,%d nofeed %s\nset output\n", W, H,
	     o->color ? "ansi256" : "mono");
	return put_plot(b, s, ns, o, 1, 8 * W);
}

/* Paints the page of an answered request into W x H cells appended to out. SL_OK, or SL_ERR
 * with a notice when the page is blank (gnuplot's error, if it gave one). */
static int paint(sl_gnuplot *gp, const req *r, int W, int H, sl_cells *out)
{
	char msg[256];
	int rc = SL_ERR;
	sl_cells *tmp = sl_cells_new();
	sl_cells_parse_ansi(tmp, r->out.s ? r->out.s : "", (int)r->out.n);
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
		const char *e = first_error(&r->err, 1, msg, sizeof msg);
		notice(gp, "gnuplot: %s; drawn by the built-in text plotter", e ? e : "no plot came back");
	}
	sl_cells_free(tmp);
	return rc;
}

/* The options given, or all defaults for NULL. */
static const sl_plot_opts *opts_or_none(const sl_plot_opts *o)
{
	static const sl_plot_opts none = {0};
	return o ? o : &none;
}

int sl_gnuplot_plot(sl_gnuplot *gp, sl_cells *out, const sl_series *s, int ns,
                    const sl_plot_opts *o)
{
	o = opts_or_none(o);
	if (sl_plot_check(s, ns, o))
		return SL_ERR;
	const int W = o->width > 0 ? o->width : 80, H = o->height > 0 ? o->height : 24;
	if (sl_gnuplot_ok(gp)) {
		buf script = {0};
		req r = {0};
		int drawn = dumb_script(&script, s, ns, o, W, H);
		int rc = drawn && request(gp, &r, script.s, script.n, gp->timeout) == SL_OK
		                 ? paint(gp, &r, W, H, out)
		                 : SL_ERR;
		free(script.s);
		req_free(&r);
		if (rc == SL_OK)
			return SL_OK;
	}
	if (sl_plot_render(out, s, ns, o, NULL))
		return SL_ERR;
	return SL_GNUPLOT_TEXT;
}

int sl_gnuplot_send(sl_gnuplot *gp, sl_cells *out, const sl_series *s, int ns,
                    const sl_plot_opts *o)
{
	o = opts_or_none(o);
	if (sl_gnuplot_pending(gp)) {
		sl_errorf("gnuplot: a plot is already in flight");
		return SL_ERR;
	}
	if (sl_plot_check(s, ns, o))
		return SL_ERR;
	const int W = o->width > 0 ? o->width : 80, H = o->height > 0 ? o->height : 24;
	if (sl_gnuplot_ok(gp)) {
		buf script = {0};
		int drawn = dumb_script(&script, s, ns, o, W, H);
		if (drawn) {
			/* nothing waits for it: a niced gnuplot on a busy machine may take long */
			req_begin(gp, &gp->cur, script.s, script.n, SL_GNUPLOT_SLACK * gp->timeout);
			free(script.s);
			keep(gp, s, ns, o);
			gp->cur_w = W;
			gp->cur_h = H;
			pump(gp, &gp->cur, 0); /* what the pipe takes now */
			return SL_OK;
		}
		free(script.s);
	}
	if (sl_plot_render(out, s, ns, o, NULL))
		return SL_ERR;
	return SL_GNUPLOT_TEXT;
}

int sl_gnuplot_pending(const sl_gnuplot *gp)
{
	return gp && gp->cur.state != REQ_IDLE;
}

int sl_gnuplot_pollfds(const sl_gnuplot *gp, struct pollfd *p, int max, int *ms, int lazy)
{
	*ms = -1;
	if (!gp || gp->cur.state == REQ_IDLE)
		return 0;
	*ms = 0;
	if (gp->cur.state != REQ_BUSY)
		return 0; /* answered or failed: collect it */
	const req *r = &gp->cur;
	double left = r->deadline - sl_now();
	*ms = left > 0 ? (int)ceil(left * 1000) : 0;
	if (lazy && r->sent >= r->msg.n && !r->out.n && !r->err.n)
		return 0; /* all sent, nothing back yet: the answer can wait in the pipe */
	int n = 0;
	struct pollfd want[3] = {{gp->out, POLLIN, 0}, {gp->err, POLLIN, 0}, {gp->in, POLLOUT, 0}};
	for (int i = 0; i < 3 && n < max; i++) {
		if (want[i].fd < 0 || (i == 2 && r->sent >= r->msg.n))
			continue;
		p[n++] = want[i];
	}
	return n;
}

int sl_gnuplot_collect(sl_gnuplot *gp, sl_cells *out)
{
	if (!sl_gnuplot_pending(gp)) {
		sl_errorf("gnuplot: no plot in flight");
		return SL_ERR;
	}
	if (pump(gp, &gp->cur, 0) == REQ_BUSY)
		return SL_GNUPLOT_PENDING;
	int rc = SL_ERR;
	if (gp->cur.state == REQ_DONE)
		rc = paint(gp, &gp->cur, gp->cur_w, gp->cur_h, out);
	if (rc != SL_OK)
		rc = sl_plot_render(out, gp->cur_s, gp->cur_ns, &gp->cur_o, NULL) ? SL_ERR : SL_GNUPLOT_TEXT;
	req_free(&gp->cur);
	forget(gp);
	return rc;
}

/* Writes file (.png, .svg, .pdf, chosen by its extension; W x H pixels) with
 * the plot script body after the terminal and the output are set. SL_OK, or
 * SL_ERR with a one-line sl_error. */
static int save_file(sl_gnuplot *gp, const char *file, int W, int H, const buf *body)
{
	const char *dot = file ? strrchr(file, '.') : NULL;
	char term[128];
	if (dot && !strcasecmp(dot, ".png"))
		snprintf(term, sizeof term, "pngcairo size %d,%d noenhanced", W, H);
	else if (dot && !strcasecmp(dot, ".svg"))
		snprintf(term, sizeof term, "svg size %d,%d noenhanced", W, H);
	else if (dot && !strcasecmp(dot, ".pdf"))
		snprintf(term, sizeof term, "pdfcairo size %.2fin,%.2fin noenhanced", W / 100.0, H / 100.0);
	else {
		sl_errorf("%s must end in .png, .svg or .pdf", file && *file ? file : "the file");
		return SL_ERR;
	}
	for (const char *p = file; *p; p++)
		if ((unsigned char)*p < ' ') {
			sl_errorf("control character in the file name");
			return SL_ERR;
		}
	if (!sl_gnuplot_ok(gp)) {
		sl_errorf("gnuplot is not running, cannot write %s", file);
		return SL_ERR;
	}

	buf script = {0};
	req r = {0};
	char msg[256];
	int rc = SL_ERR;
	/* a file takes longer than a text plot, and gnuplot runs niced */
	const double limit = SL_GNUPLOT_SLACK * gp->timeout;
	/* first the output file alone, so a bad path never sends an image to our stdout pipe */
	putf(&script, "reset\nset terminal %s\nset output ", term);
	put_quoted(&script, file);
	puts_(&script, "\n");
	if (request(gp, &r, script.s, script.n, limit)) {
		sl_errorf("gnuplot failed, %s not written", file);
		goto out;
	}
	if (first_error(&r.err, 0, msg, sizeof msg)) {
		sl_errorf("%s: %s", file, msg);
		goto out;
	}
	script.n = 0;
	put(&script, body->s ? body->s : "", body->n);
	puts_(&script, "unset output\n");
	if (request(gp, &r, script.s, script.n, limit)) {
		sl_errorf("gnuplot failed, %s not written", file);
		goto out;
	}
	struct stat st;
	if (first_error(&r.err, 0, msg, sizeof msg))
		sl_errorf("%s: %s", file, msg);
	else if (stat(file, &st) || st.st_size == 0)
		sl_errorf("gnuplot wrote nothing to %s", file);
	else
		rc = SL_OK;
out:
	free(script.s);
	req_free(&r);
	return rc;
}

int sl_gnuplot_save(sl_gnuplot *gp, const char *file, const sl_series *s, int ns,
                    const sl_plot_opts *o)
{
	o = opts_or_none(o);
	sl_plot_opts big = *o;
	big.width = big.height = 0; /* the file's size is in pixels */
	if (sl_plot_check(s, ns, &big))
		return SL_ERR;
	buf body = {0};
	if (!put_plot(&body, s, ns, o, 0, 0)) {
		/* nothing to draw: still write a valid, empty plot */
		puts_(&body, "set xrange [0:1]\nset yrange [0:1]\nplot NaN notitle\n");
	}
	int rc = save_file(gp, file, 1000, 600, &body);
	free(body.s);
	return rc;
}

/* Tics from labels: all of them up to 48, else every k-th; label i at i + at. */
static void put_tics(buf *b, const char *axis, const char *const *labels, int n, double at)
{
	if (!labels || n <= 0) {
		putf(b, "unset %stics\n", axis);
		return;
	}
	int every = (n + 47) / 48, wide = 0;
	for (int i = 0; i < n; i++)
		wide |= labels[i] && strlen(labels[i]) > 1;
	/* labels of several characters under narrow columns overlap: stand them up */
	if (axis[0] == 'x')
		puts_(b, wide ? "set xtics rotate by 90 right\n" : "set xtics norotate\n");
	putf(b, "set %stics (", axis);
	for (int i = 0, first = 1; i < n; i += every, first = 0) {
		if (!first)
			puts_(b, ", ");
		put_quoted(b, labels[i] ? labels[i] : "");
		putf(b, " %g", i + at);
	}
	puts_(b, ") scale 0 font ',9'\n");
}

int sl_gnuplot_save_view(sl_gnuplot *gp, const char *file, const sl_view *v)
{
	if (!v || v->n < 1) {
		sl_errorf("no heatmap to write");
		return SL_ERR;
	}
	int n = v->n, C = n <= 4 ? n : n <= 8 ? 4 : n <= 16 ? (n + 3) / 4 : (int)ceil(sqrt((double)n));
	C = SL_MAX(1, SL_MIN(C, 8));
	int R = (n + C - 1) / C;
	int W = SL_MIN(60 + 380 * C, 3200), H = SL_MIN(90 + 360 * R, 3200);
	buf b = {0};
	for (int k = 0; k < n; k++) {
		const sl_view_matrix *m = &v->m[k];
		/* a single row (or column) is written twice: gnuplot draws no
		 * image of a matrix one pixel high */
		int rr = m->rows == 1 ? 2 : m->rows, cc = m->cols == 1 ? 2 : m->cols;
		putf(&b, "$H%d << EOD\n", k);
		for (int i = 0; i < rr; i++) {
			for (int j = 0; j < cc; j++) {
				if (j)
					puts_(&b, " ");
				put_num(&b, m->v[(size_t)(i % m->rows) * m->cols + j % m->cols]);
			}
			puts_(&b, "\n");
		}
		puts_(&b, "EOD\n");
	}
	/* white to dark blue, as the screen's shading runs light to dark */
	puts_(&b, "set palette defined (0 '#ffffff', 0.5 '#6baed6', 1 '#08306b')\n"
		  "unset key\nset tics out nomirror\nset colorbox\n");
	putf(&b, "set multiplot layout %d,%d title ", R, C);
	put_quoted(&b, v->caption ? v->caption : "");
	puts_(&b, "\n");
	for (int k = 0; k < n; k++) {
		const sl_view_matrix *m = &v->m[k];
		puts_(&b, "set title ");
		put_quoted(&b, m->title ? m->title : "");
		puts_(&b, "\n");
		int rr = m->rows == 1 ? 2 : m->rows, cc = m->cols == 1 ? 2 : m->cols;
		putf(&b, "set xrange [-0.5:%g]\nset yrange [%g:-0.5]\n", cc - 0.5, rr - 0.5);
		put_tics(&b, "x", m->col_labels, m->cols, m->cols == 1 ? 0.5 : 0);
		put_tics(&b, "y", m->row_labels, m->rows, m->rows == 1 ? 0.5 : 0);
		if (m->fixed)
			putf(&b, "set cbrange [%.9g:%.9g]\n", (double)m->lo, (double)m->hi);
		else
			puts_(&b, "set autoscale cb\n");
		if (m->rows > 0 && m->cols > 0)
			putf(&b, "plot $H%d matrix with image\n", k);
		else
			puts_(&b, "plot NaN notitle\n");
	}
	puts_(&b, "unset multiplot\n");
	int rc = save_file(gp, file, W, H, &b);
	free(b.s);
	return rc;
}
