/* screen_latency.c - how fast the screen echoes a keystroke while a run
 * trains, and how much training throughput the screen costs.
 *
 * Runs seqlab on its own pseudo-terminal (120x40, TERM=xterm-256color) with
 * SEQLAB_SCREEN_TRACE pointing at a file, types commands, starts training,
 * then types keys at random intervals. The time of a key is taken just
 * before it is written to the terminal; the time of its echo is the
 * screen's own trace line ("echo T N": the prompt line, N bytes long, was
 * written to the terminal at CLOCK_MONOTONIC T), so the figure includes the
 * wait for the training slice in progress. Keys are typed (at most KEYS)
 * until the run has trained S steps. Throughput: the same fresh model
 * trained for S steps on the screen with nothing typed, on the screen while
 * keys are typed, and in plain mode (seqlab -c) before and after those,
 * each from the summary line's steps= and train_s= (wall time of the train
 * command). Since
 * throughput varies by several percent from run to run on a shared
 * machine, the screen's own cost is also measured directly: the CPU time
 * of seqlab's main thread (input, drawing; the trainer thread runs the
 * steps) and of its gnuplot child during each training phase. This
 * program itself sleeps in poll() on the terminal while it waits, so that it
 * does not take CPU from the training it measures.
 *
 *   bench/screen_latency [-b SEQLAB] [-k KEYS] [-s STEPS] [-m 'MODEL OPTIONS'] [-t TASK OPTIONS]
 *
 * Not part of `make check`: run it on an otherwise idle machine
 * (bench/RESULTS.md, "Screen"). */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int master = -1;
static pid_t child = -1;
static FILE *trace;
static char tracebuf[1 << 16];
static size_t tracelen;
static char done_line[4096]; /* the last "stopped=done" output line seen */

static double mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "screen_latency: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	if (child > 0)
		kill(child, SIGKILL);
	exit(1);
}

/* Reads and drops the terminal's output for up to ms milliseconds. */
static void pump(int ms)
{
	double end = mono() + ms / 1000.0;
	char buf[65536];
	for (;;) {
		int left = (int)((end - mono()) * 1000);
		if (left < 0)
			left = 0;
		struct pollfd p = { .fd = master, .events = POLLIN };
		int n = poll(&p, 1, left);
		if (n > 0 && (p.revents & (POLLIN | POLLHUP))) {
			ssize_t r = read(master, buf, sizeof buf);
			if (r <= 0)
				return;
		}
		if (n == 0 || mono() >= end)
			return;
	}
}

/* The next complete trace line, or NULL (none yet). */
static const char *trace_line(void)
{
	static char line[4096];
	for (;;) {
		char *nl = memchr(tracebuf, '\n', tracelen);
		if (nl) {
			size_t n = (size_t)(nl - tracebuf);
			if (n >= sizeof line)
				n = sizeof line - 1;
			memcpy(line, tracebuf, n);
			line[n] = 0;
			size_t used = (size_t)(nl - tracebuf) + 1;
			memmove(tracebuf, tracebuf + used, tracelen - used);
			tracelen -= used;
			if (!strncmp(line, "out ", 4) && strstr(line, "stopped=done"))
				snprintf(done_line, sizeof done_line, "%s", line);
			return line;
		}
		clearerr(trace);
		size_t r = fread(tracebuf + tracelen, 1, sizeof tracebuf - tracelen, trace);
		if (r == 0)
			return NULL;
		tracelen += r;
	}
}

/* Waits (pumping output) for a trace line starting with prefix and
 * containing text; copies it to out. */
static void wait_trace(const char *prefix, const char *text, double seconds, char *out, size_t n)
{
	double end = mono() + seconds;
	while (mono() < end) {
		const char *l;
		while ((l = trace_line()))
			if (!strncmp(l, prefix, strlen(prefix)) && strstr(l, text)) {
				if (out)
					snprintf(out, n, "%s", l);
				return;
			}
		pump(100); /* wakes on the screen's output: seldom enough not to disturb training */
	}
	die("no trace line '%s ... %s' within %.0f s", prefix, text, seconds);
}

static void type(const char *s)
{
	size_t n = strlen(s);
	if (write(master, s, n) != (ssize_t)n)
		die("write: %s", strerror(errno));
}

/* Waits for the echo, at `after` or later, of a prompt line n bytes long;
 * returns its time. */
static double wait_echo(int n, double seconds, double after)
{
	double end = mono() + seconds;
	char want[32];
	snprintf(want, sizeof want, " %d", n);
	while (mono() < end) {
		const char *l;
		while ((l = trace_line())) {
			if (strncmp(l, "echo ", 5))
				continue;
			const char *sp = strrchr(l, ' ');
			double t = strtod(l + 5, NULL);
			if (sp && !strcmp(sp, want) && t >= after)
				return t;
		}
		pump(10); /* the echo's time comes from the trace, not from when we see it */
	}
	die("no echo of a %d-byte line within %.0f s", n, seconds);
	return 0;
}

static double field(const char *line, const char *key)
{
	const char *p = strstr(line, key);
	return p ? strtod(p + strlen(key), NULL) : NAN;
}

/* CPU seconds (user + system) of /proc/PID/task/TID/stat, or of the
 * process when tid is 0. */
static double cpu_of(pid_t pid, pid_t tid)
{
	char path[128], buf[1024];
	if (tid)
		snprintf(path, sizeof path, "/proc/%d/task/%d/stat", (int)pid, (int)tid);
	else
		snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	const char *p = strrchr(buf, ')'); /* after the command name */
	if (!p)
		return 0;
	unsigned long ut = 0, st = 0;
	/* fields 3.. after ")": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return 0;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* The pid of the gnuplot child of pid, or 0. */
static pid_t gnuplot_of(pid_t pid)
{
	FILE *p = popen("ps -e -o pid=,ppid=,comm=", "r");
	if (!p)
		return 0;
	int a, b;
	char comm[64];
	pid_t found = 0;
	while (fscanf(p, "%d %d %63s", &a, &b, comm) == 3)
		if (b == (int)pid && !strncmp(comm, "gnuplot", 7))
			found = a;
	pclose(p);
	return found;
}

/* Trains in plain mode (seqlab -c): steps/s over train_s, and words_s. */
static void plain_run(const char *bin, const char *task, const char *model, int steps, double *sps, double *wps)
{
	char cmd[1024], line[4096];
	snprintf(cmd, sizeof cmd,
		 "%s -c 'task piglatin %s; model a = transformer %s; train a %d steps' 2>&1 | grep stopped=done", bin,
		 task, model, steps);
	FILE *p = popen(cmd, "r");
	*sps = *wps = NAN;
	if (p && fgets(line, sizeof line, p)) {
		*sps = field(line, "steps=") / field(line, "train_s=");
		*wps = field(line, "words_s=");
	}
	if (p)
		pclose(p);
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double pct(const double *v, int n, double p)
{
	int i = (int)ceil(p / 100 * n) - 1;
	return v[i < 0 ? 0 : i >= n ? n - 1 : i];
}

int main(int argc, char **argv)
{
	const char *bin = "./seqlab", *model = "", *task = "size=small";
	int keys = 200, steps = 300, c;
	while ((c = getopt(argc, argv, "b:k:s:m:t:h")) != -1) {
		switch (c) {
		case 'b':
			bin = optarg;
			break;
		case 'k':
			keys = atoi(optarg);
			break;
		case 's':
			steps = atoi(optarg);
			break;
		case 'm':
			model = optarg;
			break;
		case 't':
			task = optarg;
			break;
		default:
			fprintf(stderr, "usage: %s [-b SEQLAB] [-k KEYS] [-s STEPS] [-m 'MODEL OPTIONS'] [-t 'TASK OPTIONS']\n",
				argv[0]);
			return c == 'h' ? 0 : 2;
		}
	}
	char dir[] = "/tmp/screen_latency.XXXXXX";
	if (!mkdtemp(dir))
		die("mkdtemp: %s", strerror(errno));
	char path[512];
	snprintf(path, sizeof path, "%s/trace", dir);
	FILE *f = fopen(path, "w");
	if (!f)
		die("%s: %s", path, strerror(errno));
	fclose(f);

	/* plain mode before and after the screen, against drift on a shared machine */
	double plain1_sps, plain1_w, plain2_sps, plain2_w;
	plain_run(bin, task, model, steps, &plain1_sps, &plain1_w);

	struct winsize ws = { .ws_row = 40, .ws_col = 120 };
	child = forkpty(&master, NULL, NULL, &ws);
	if (child < 0)
		die("forkpty: %s", strerror(errno));
	if (child == 0) {
		setenv("TERM", "xterm-256color", 1);
		setenv("HOME", dir, 1);
		setenv("SEQLAB_SCREEN_TRACE", path, 1);
		execl(bin, bin, (char *)NULL);
		_exit(127);
	}
	trace = fopen(path, "r");
	if (!trace)
		die("%s: %s", path, strerror(errno));
	srand(1);

	char cmd[512], line[4096];
	wait_echo(0, 20, 0);
	snprintf(cmd, sizeof cmd, "task piglatin %s\r", task);
	type(cmd);
	wait_trace("out ", "task=", 60, NULL, 0);

	/* 1. throughput on the screen, nothing typed */
	snprintf(cmd, sizeof cmd, "model a = transformer %s\r", model);
	type(cmd);
	wait_trace("out ", "run=a kind=", 60, NULL, 0);
	pid_t gp = gnuplot_of(child);
	double m0 = cpu_of(child, child), g0 = gp ? cpu_of(gp, 0) : 0;
	snprintf(cmd, sizeof cmd, "train a %d steps\r", steps);
	type(cmd);
	wait_trace("out ", "stopped=done", 3600, line, sizeof line);
	double idle_main = cpu_of(child, child) - m0, idle_gp = gp ? cpu_of(gp, 0) - g0 : 0;
	double idle_steps = field(line, "steps="), idle_s = field(line, "train_s="), idle_w = field(line, "words_s=");

	/* 2. latency while a fresh run trains; throughput with typing */
	snprintf(cmd, sizeof cmd, "model b = transformer %s\r", model);
	type(cmd);
	wait_trace("out ", "run=b kind=", 60, NULL, 0);
	m0 = cpu_of(child, child);
	g0 = gp ? cpu_of(gp, 0) : 0;
	snprintf(cmd, sizeof cmd, "train b %d steps\r", steps);
	done_line[0] = 0;
	type(cmd);
	wait_echo(0, 20, 0);
	pump(300);
	while (trace_line())
		;
	double *lat = calloc((size_t)keys, sizeof *lat);
	int len = 0, got = 0;
	for (int i = 0; i < keys && !done_line[0]; i++) {
		pump(20 + rand() % 100);
		if (len == 40) {
			type("\025"); /* Ctrl-U */
			wait_echo(0, 60, 0);
			len = 0;
		}
		double t0 = mono();
		type("x");
		len++;
		double t1 = wait_echo(len, 60, t0);
		lat[got++] = (t1 - t0) * 1000;
	}
	type("\025");
	wait_echo(0, 60, 0);
	if (done_line[0])
		snprintf(line, sizeof line, "%s", done_line);
	else
		wait_trace("out ", "stopped=done", 3600, line, sizeof line);
	double busy_main = cpu_of(child, child) - m0, busy_gp = gp ? cpu_of(gp, 0) - g0 : 0;
	double busy_steps = field(line, "steps="), busy_s = field(line, "train_s="), busy_w = field(line, "words_s=");
	type("quit!\r");
	int st;
	double end = mono() + 30;
	while (waitpid(child, &st, WNOHANG) == 0 && mono() < end)
		pump(20);

	/* 3. plain mode again */
	plain_run(bin, task, model, steps, &plain2_sps, &plain2_w);
	double plain_sps = (plain1_sps + plain2_sps) / 2;

	qsort(lat, (size_t)got, sizeof *lat, cmp);
	double sum = 0;
	int over = 0;
	for (int i = 0; i < got; i++) {
		sum += lat[i];
		over += lat[i] > 50;
	}
	printf("keystroke-to-echo latency while training (%d keys, ms): median %.1f  mean %.1f  p90 %.1f  p99 %.1f  max %.1f  over 50 ms: %d\n",
	       got, pct(lat, got, 50), sum / got, pct(lat, got, 90), pct(lat, got, 99), lat[got - 1], over);
	printf("throughput, %d steps (steps/s over train_s wall time; words_s over training time):\n", steps);
	printf("  plain -c, before  %.2f steps/s  words_s=%.0f\n", plain1_sps, plain1_w);
	printf("  screen, idle      %.2f steps/s  words_s=%.0f  (train_s=%.2f)  %+.1f%% vs plain (mean)\n",
	       idle_steps / idle_s, idle_w, idle_s, 100 * ((idle_steps / idle_s) / plain_sps - 1));
	printf("  screen, typing    %.2f steps/s  words_s=%.0f  (train_s=%.2f)  %+.1f%% vs plain (mean)\n",
	       busy_steps / busy_s, busy_w, busy_s, 100 * ((busy_steps / busy_s) / plain_sps - 1));
	printf("  plain -c, after   %.2f steps/s  words_s=%.0f\n", plain2_sps, plain2_w);
	printf("the screen's own CPU while training (main thread; gnuplot%s), in %% of the train_s wall time:\n",
	       gp ? "" : " not running");
	printf("  screen, idle      main %.1f%%  gnuplot %.1f%%\n", 100 * idle_main / idle_s, 100 * idle_gp / idle_s);
	printf("  screen, typing    main %.1f%%  gnuplot %.1f%%\n", 100 * busy_main / busy_s, 100 * busy_gp / busy_s);
	free(lat);
	fclose(trace);
	unlink(path);
	snprintf(path, sizeof path, "%s/.seqlab_history", dir);
	unlink(path);
	rmdir(dir);
	return 0;
}
