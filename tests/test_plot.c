/* test_plot.c - the built-in text plotter, EMA smoothing, SGR parsing, and the gnuplot bridge. */
#include "seqlab/cells.h"
#include "seqlab/common.h"
#include "seqlab/gnuplot.h"
#include "seqlab/plot.h"
#include "tap.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *line(const sl_cells *c, int i)
{
	static char buf[1024];
	char *s = sl_cells_line_string(c, i);
	snprintf(buf, sizeof buf, "%s", s);
	free(s);
	return buf;
}

static int find_line(const sl_cells *c, const char *needle)
{
	for (int i = 0; i < c->n; i++)
		if (strstr(line(c, i), needle))
			return i;
	return -1;
}

static uint32_t at(const sl_cells *c, int row, int col)
{
	if (row < 0 || row >= c->n || col < 0 || col >= c->line[row].n)
		return 0;
	return c->line[row].cell[col].ch;
}

static void test_ema(void)
{
	const double y[3] = {1, 2, 3};
	double s[3];
	sl_plot_ema(s, y, 3, 0.5);
	/* m1 = .5, s1 = .5/.5; m2 = .25 + 1 = 1.25, s2 = 1.25/.75; m3 = .625 + 1.5, s3 = 2.125/.875 */
	TAP_NEAR(s[0], 1.0, 1e-12, "ema: first value is the value (debiased)");
	TAP_NEAR(s[1], 1.25 / 0.75, 1e-12, "ema: second");
	TAP_NEAR(s[2], 2.125 / 0.875, 1e-12, "ema: third");
	const double g[3] = {1, NAN, 3};
	sl_plot_ema(s, g, 3, 0.5);
	TAP_OK(isnan(s[1]), "ema: NaN stays a gap");
	TAP_NEAR(s[2], (0.25 + 1.5) / 0.75, 1e-12, "ema: NaN does not count");
	sl_plot_ema(s, y, 3, 0);
	TAP_OK(s[0] == 1 && s[1] == 2 && s[2] == 3, "ema: weight 0 is the raw series");
	double a[3] = {4, 4, 4};
	sl_plot_ema(a, a, 3, 0.9);
	TAP_NEAR(a[2], 4, 1e-12, "ema in place; a constant stays constant");
}

static void test_point(void)
{
	const double x1[1] = {5}, y1[1] = {5}, x2[2] = {0, 10}, y2[2] = {0, 10};
	sl_series s[2] = {{"first", x1, y1, 1, 0}, {"second", x2, y2, 2, 0}};
	sl_plot_opts o = {.title = "T", .xlabel = "step", .ylabel = "loss", .width = 61, .height = 20,
	                  .fix_x = 1, .xmax = 10, .fix_y = 1, .ymax = 10};
	sl_cells *c = sl_cells_new();
	sl_plot_layout L;
	TAP_OK(sl_plot_render(c, s, 2, &o, &L) == SL_OK, "render");
	TAP_OK(c->n == 20 && sl_cells_width(c) <= 61, "exactly 20 lines, at most 61 columns (%d, %d)",
	       c->n, sl_cells_width(c));
	int col = L.px + (int)lround(0.5 * (L.pw - 1)), row = L.py + (int)lround(0.5 * (L.ph - 1));
	/* the second series' line passes near the middle too, but is drawn after? no: series 0
	 * draws first, series 1 over it; so check the corners for series 1 and the middle region
	 * for series 0's glyph where the diagonal does not pass */
	TAP_OK(at(c, L.py + L.ph - 1, L.px) == sl_plot_glyph(1) && at(c, L.py, L.px + L.pw - 1) == sl_plot_glyph(1),
	       "series 2 from the bottom-left to the top-right corner");
	sl_series one = {"p", x1, y1, 1, 0};
	sl_cells_clear(c);
	sl_plot_render(c, &one, 1, &o, &L);
	TAP_OK(at(c, row, col) == '*', "(5,5) on [0,10]^2 lands in the middle cell (%d,%d)", row, col);
	int stars = 0;
	for (int r = L.py; r < L.py + L.ph; r++)
		for (int k = L.px; k < L.px + L.pw; k++)
			stars += at(c, r, k) == '*';
	TAP_OK(stars == 1, "a single point is a single glyph");
	TAP_OK(!strncmp(line(c, 0) + (61 - 1) / 2, "T", 1), "title centred: '%s'", line(c, 0));
	TAP_OK(!strncmp(line(c, 1), "loss", 4) && strstr(line(c, 1), "* p"),
	       "y label and legend line: '%s'", line(c, 1));
	TAP_OK(strstr(line(c, c->n - 1), "step") != NULL, "x label last");
	int axis = L.py + L.ph;
	TAP_OK(at(c, axis, L.px - 1) == '+' && at(c, axis, L.px + 3) == '-', "x axis under the plot");
	const char *ticks = line(c, axis + 1);
	TAP_OK(strstr(ticks, "0") && strstr(ticks, "10"), "x tick labels: '%s'", ticks);
	TAP_OK(at(c, L.py, L.px - 1) == '+' && strstr(line(c, L.py), "10") == line(c, L.py),
	       "y tick 10 at the top: '%s'", line(c, L.py));
	sl_cells_free(c);
}

static void test_logy(void)
{
	double x[5] = {0, 1, 2, 3, 4}, y[5] = {100, 10, 1, 0.1, 0.01};
	sl_series s = {"loss", x, y, 5, 0};
	sl_plot_opts o = {.width = 50, .height = 20, .logy = 1};
	sl_cells *c = sl_cells_new();
	sl_plot_layout L;
	TAP_OK(sl_plot_render(c, &s, 1, &o, &L) == SL_OK, "log-y render");
	TAP_NEAR(L.ymin, -2, 1e-12, "log range from 1e-2");
	TAP_NEAR(L.ymax, 2, 1e-12, "log range to 1e2");
	const char *want[5] = {"100", "10", "1", "0.1", "0.01"};
	int prev = -1, ok = 1;
	for (int d = 0; d < 5; d++) {
		int row = L.py + (int)lround((L.ymax - (2 - d)) / (L.ymax - L.ymin) * (L.ph - 1));
		char lab[16];
		int n = (int)strlen(want[d]);
		snprintf(lab, sizeof lab, "%.*s", n, line(c, row) + (L.px - 1 - n));
		if (strcmp(lab, want[d]) || row <= prev || at(c, row, L.px - 1) != '+') {
			ok = 0;
			tap_diag("decade %s expected on line %d: '%s'", want[d], row, line(c, row));
		}
		prev = row;
	}
	TAP_OK(ok, "decade ticks 100 .. 0.01, top to bottom, evenly placed");
	/* the points of a power law are a straight line: each on its decade's line */
	int col = L.px + (int)lround((2 - L.xmin) / (L.xmax - L.xmin) * (L.pw - 1));
	int row = L.py + (int)lround((L.ymax - 0) / (L.ymax - L.ymin) * (L.ph - 1));
	TAP_OK(at(c, row, col) == '*', "y=1 at x=2 on the '1' line");
	/* non-positive values are left out, not a crash */
	y[2] = 0;
	y[3] = -1;
	sl_cells_clear(c);
	TAP_OK(sl_plot_render(c, &s, 1, &o, &L) == SL_OK, "zero and negative values on log-y are skipped");
	sl_cells_free(c);
}

static void test_smooth_legend(void)
{
	double y1[40], y2[40];
	for (int i = 0; i < 40; i++) {
		y1[i] = 2 + ((i % 2) ? 0.5 : -0.5) - 0.02 * i;
		y2[i] = 1 + ((i % 3) ? 0.3 : -0.3);
	}
	sl_series s[2] = {{"run-a", NULL, y1, 40, 0}, {"run-b", NULL, y2, 40, 0}};
	sl_plot_opts o = {.width = 70, .height = 18, .smooth = 0.8, .color = 1};
	sl_cells *c = sl_cells_new();
	TAP_OK(sl_plot_render(c, s, 2, &o, NULL) == SL_OK, "smoothed render");
	int leg = find_line(c, "* run-a  + run-b  . raw");
	TAP_OK(leg >= 0, "legend names each series with its glyph, and the raw dots");
	int dots = 0, stars = 0, plus = 0, colored = 0;
	for (int r = 0; r < c->n; r++)
		for (int k = 0; k < c->line[r].n; k++) {
			const sl_cell *cell = &c->line[r].cell[k];
			dots += cell->ch == '.';
			stars += cell->ch == '*';
			plus += cell->ch == '+';
			colored += cell->ch == '*' && cell->fg == sl_plot_color(0);
		}
	TAP_OK(dots > 10 && stars > 10 && plus > 10, "raw dots under two smoothed curves");
	TAP_OK(colored > 10, "series colours carried in the cells");
	o.no_raw = 1;
	sl_cells_clear(c);
	sl_plot_render(c, s, 2, &o, NULL);
	TAP_OK(find_line(c, ". raw") < 0, "no_raw: raw left out of the legend");

	sl_series none = {"empty", NULL, NULL, 0, 0};
	sl_cells_clear(c);
	TAP_OK(sl_plot_render(c, &none, 1, &o, NULL) == SL_OK && find_line(c, "(no data)") >= 0,
	       "an empty series draws axes and '(no data)'");
	o.height = 4;
	TAP_OK(sl_plot_render(c, s, 2, &o, NULL) == SL_ERR, "too small: error '%s'", sl_error());
	sl_cells_free(c);
}

static void test_ansi(void)
{
	const char *t = "\f\033[0;39mab\033[38;5;128mc\033[0m\td\r\n\033[31;42mx\033[38;2;255;0;0my";
	sl_cells *c = sl_cells_new();
	sl_cells_parse_ansi(c, t, (int)strlen(t));
	TAP_OK(c->n == 2, "two lines (%d)", c->n);
	TAP_OK(c->line[0].n == 9 && c->line[0].cell[2].ch == 'c' && c->line[0].cell[2].fg == 128 &&
	       c->line[0].cell[1].fg == -1 && c->line[0].cell[8].ch == 'd' && c->line[0].cell[8].fg == -1,
	       "256-colour run, reset, tab to column 8");
	TAP_OK(c->line[1].cell[0].fg == 1 && c->line[1].cell[0].bg == 2 && c->line[1].cell[1].fg == 196,
	       "basic colours and 24-bit mapped to the cube");
	TAP_OK(sl_cells_rgb256(0x80, 0x80, 0x80) >= 232, "grey maps to the grey ramp");
	sl_cells_free(c);
}

/* ---- gnuplot ---- */

static int on_path(const char *prog)
{
	const char *path = getenv("PATH");
	char dir[4096];
	while (path && *path) {
		const char *e = strchr(path, ':');
		size_t n = e ? (size_t)(e - path) : strlen(path);
		snprintf(dir, sizeof dir, "%.*s/%s", (int)n, path, prog);
		if (access(dir, X_OK) == 0)
			return 1;
		path = e ? e + 1 : NULL;
	}
	return 0;
}

/* Two decaying loss curves of 50 points over x (the arrays s points into). */
static void two_curves(double *x, double *y1, double *y2, sl_series s[2])
{
	for (int i = 0; i < 50; i++) {
		x[i] = i * 10;
		y1[i] = 3 * exp(-i / 15.0) + 0.1;
		y2[i] = 2 * exp(-i / 25.0) + 0.2;
	}
	s[0] = (sl_series){"transformer", x, y1, 50, 0};
	s[1] = (sl_series){"mamba", x, y2, 50, 0};
}

static void test_gnuplot(void)
{
	if (!on_path("gnuplot")) {
		TAP_OK(1, "gnuplot bridge # SKIP no gnuplot on PATH");
		return;
	}
	double x[50], y1[50], y2[50];
	sl_series s[2];
	two_curves(x, y1, y2, s);
	sl_plot_opts o = {.title = "Loss curves", .xlabel = "step", .ylabel = "loss", .width = 72,
	                  .height = 22};
	sl_gnuplot *gp = sl_gnuplot_new(NULL);
	TAP_OK(sl_gnuplot_ok(gp) && !sl_gnuplot_notice(gp), "gnuplot started, no notice");
	sl_cells *c = sl_cells_new();
	double t0 = sl_now();
	int rc = sl_gnuplot_plot(gp, c, s, 2, &o);
	TAP_OK(rc == SL_OK, "gnuplot drew (rc %d, notice %s)", rc, sl_gnuplot_notice(gp));
	TAP_OK(c->n == 22, "22 lines back (%d)", c->n);
	TAP_OK(find_line(c, "Loss curves") >= 0, "title round-trips");
	TAP_OK(find_line(c, "step") >= 0 && find_line(c, "loss") >= 0, "axis labels round-trip");
	TAP_OK(find_line(c, "+-----") >= 0, "axis border drawn");
	TAP_OK(find_line(c, "transformer") >= 0 && find_line(c, "mamba") >= 0, "legend names");
	TAP_OK(find_line(c, "__seqlab_") < 0, "no marker in the plot");

	/* a second plot on the same process: the marker framing holds */
	o.title = "Second";
	o.logy = 1;
	o.smooth = 0.6;
	o.color = 1;
	sl_cells_clear(c);
	rc = sl_gnuplot_plot(gp, c, s, 2, &o);
	TAP_OK(rc == SL_OK && c->n == 22 && find_line(c, "Second") >= 0 && find_line(c, "Loss curves") < 0,
	       "second plot: its own title, nothing left over (rc %d, %d lines)", rc, c->n);
	int colored = 0;
	for (int r = 0; r < c->n; r++)
		for (int k = 0; k < c->line[r].n; k++)
			colored += c->line[r].cell[k].fg >= 0;
	TAP_OK(colored > 10, "ansi256 colours parsed into cells (%d)", colored);
	tap_diag("two plots in %.0f ms", (sl_now() - t0) * 1000);

	/* awkward data: quotes in a name, an empty series, an all-NaN series */
	double nan[3] = {NAN, NAN, NAN};
	sl_series odd[3] = {{"it's \"q\" @x $y", x, y1, 50, 0}, {"empty", NULL, NULL, 0, 0}, {"nan", NULL, nan, 3, 0}};
	o = (sl_plot_opts){.title = "odd", .width = 60, .height = 16};
	sl_cells_clear(c);
	t0 = sl_now();
	rc = sl_gnuplot_plot(gp, c, odd, 3, &o);
	TAP_OK(rc == SL_OK && find_line(c, "it's \"q\" @x $y") >= 0, "quoted name drawn verbatim (rc %d)", rc);
	TAP_OK(sl_now() - t0 < 1.5, "no hang");
	sl_cells_clear(c);
	rc = sl_gnuplot_plot(gp, c, odd + 1, 2, &o);
	TAP_OK(rc == SL_GNUPLOT_TEXT && find_line(c, "(no data)") >= 0 && sl_gnuplot_ok(gp),
	       "nothing drawable: text plotter, gnuplot still up (rc %d)", rc);
	sl_cells_clear(c);
	o.fix_y = 1;
	o.ymin = 0;
	o.ymax = 5;
	o.logy = 1;
	TAP_OK(sl_gnuplot_plot(gp, c, s, 2, &o) == SL_ERR, "invalid options rejected before gnuplot");
	o.fix_y = o.logy = 0;

	/* export */
	char dir[] = "/tmp/seqlab-plot-XXXXXX", png[64], svg[64], bad[64];
	TAP_OK(mkdtemp(dir) != NULL, "temp dir");
	snprintf(png, sizeof png, "%s/c.png", dir);
	snprintf(svg, sizeof svg, "%s/c.svg", dir);
	snprintf(bad, sizeof bad, "%s/no/such/dir/c.png", dir);
	struct stat st;
	o = (sl_plot_opts){.title = "export", .xlabel = "step", .smooth = 0.5};
	rc = sl_gnuplot_save(gp, png, s, 2, &o);
	TAP_OK(rc == SL_OK && stat(png, &st) == 0 && st.st_size > 100, "PNG written (%s)",
	       rc ? sl_error() : "ok");
	FILE *f = fopen(png, "rb");
	unsigned char magic[4] = {0};
	if (f) {
		TAP_OK(fread(magic, 1, 4, f) == 4 && magic[0] == 0x89 && magic[1] == 'P', "PNG magic");
		fclose(f);
	}
	rc = sl_gnuplot_save(gp, svg, s, 2, &o);
	TAP_OK(rc == SL_OK && stat(svg, &st) == 0 && st.st_size > 100, "SVG written (%s)",
	       rc ? sl_error() : "ok");
	rc = sl_gnuplot_save(gp, bad, s, 2, &o);
	TAP_OK(rc == SL_ERR && strstr(sl_error(), "cannot open") && !strchr(sl_error(), '\n'),
	       "bad path: one-line error '%s'", sl_error());
	TAP_OK(sl_gnuplot_save(gp, "curves.jpg", s, 2, &o) == SL_ERR && strstr(sl_error(), ".png"),
	       "unknown extension refused");
	sl_cells_clear(c);
	o = (sl_plot_opts){.title = "after", .width = 60, .height = 16};
	TAP_OK(sl_gnuplot_plot(gp, c, s, 2, &o) == SL_OK && c->n == 16 && find_line(c, "after") >= 0,
	       "plotting works after a failed save");
	unlink(png);
	unlink(svg);
	rmdir(dir);

	/* a hung "gnuplot" is killed after the timeout and the text plotter takes over */
	char hang[] = "/tmp/seqlab-hang-XXXXXX";
	int fd = mkstemp(hang);
	if (fd >= 0) {
		const char *sh = "#!/bin/sh\nexec sleep 30\n";
		TAP_OK(write(fd, sh, strlen(sh)) == (ssize_t)strlen(sh), "fake gnuplot written");
		close(fd);
		chmod(hang, 0700);
		sl_gnuplot *hung = sl_gnuplot_new(hang);
		sl_gnuplot_set_timeout(hung, 0.3);
		sl_cells_clear(c);
		t0 = sl_now();
		rc = sl_gnuplot_plot(hung, c, s, 2, &o);
		double dt = sl_now() - t0;
		const char *n = sl_gnuplot_notice(hung);
		TAP_OK(rc == SL_GNUPLOT_TEXT && dt < 1.0 && !sl_gnuplot_ok(hung), "timeout after %.2f s", dt);
		TAP_OK(n && strstr(n, "did not answer"), "notice: %s", n ? n : "(none)");
		sl_gnuplot_free(hung);
		unlink(hang);
	}
	sl_gnuplot_free(gp);
	sl_cells_free(c);
}

/* ---- gnuplot, asynchronously ---- */

/* Polls what sl_gnuplot_pollfds names and collects, until the plot is done or limit seconds
 * pass; returns the last status. */
static int await(sl_gnuplot *gp, sl_cells *c, double limit)
{
	double end = sl_now() + limit;
	int rc;
	while ((rc = sl_gnuplot_collect(gp, c)) == SL_GNUPLOT_PENDING && sl_now() < end) {
		struct pollfd p[3];
		int ms, n = sl_gnuplot_pollfds(gp, p, 3, &ms, 0);
		poll(p, (nfds_t)n, SL_MIN(ms, 100));
	}
	return rc;
}

/* Writes a fake gnuplot into a temporary file (path: its name); 0 on failure. */
static int fake_gnuplot(char *path, const char *script)
{
	int fd = mkstemp(path);
	if (fd < 0)
		return 0;
	int ok = write(fd, script, strlen(script)) == (ssize_t)strlen(script);
	close(fd);
	chmod(path, 0700);
	return ok;
}

/* A gnuplot that answers every plot 0.5 s late, with a page of its own. */
static const char *const slow_sh =
	"#!/bin/sh\n"
	"while IFS= read -r l; do\n"
	"  case $l in\n"
	"  \"print '__seqlab_\"*) m=${l#print \\'}; m=${m%\\'}\n"
	"    sleep 0.5; printf '\\f\\n slow fake plot\\n%s\\n' \"$m\";;\n"
	"  esac\n"
	"done\n";

static void test_async(void)
{
	double x[50], y1[50], y2[50];
	sl_series s[2];
	two_curves(x, y1, y2, s);
	sl_plot_opts o = {.title = "async one", .width = 72, .height = 22};
	sl_cells *c = sl_cells_new();
	struct pollfd p[3];
	int ms;

	/* a slow gnuplot: send returns at once, the answer is collected when it is in */
	char slow[] = "/tmp/seqlab-slow-XXXXXX";
	if (fake_gnuplot(slow, slow_sh)) {
		sl_gnuplot *gp = sl_gnuplot_new(slow);
		TAP_OK(sl_gnuplot_ok(gp) && !sl_gnuplot_pending(gp), "slow gnuplot started, nothing in flight");
		TAP_OK(sl_gnuplot_pollfds(gp, p, 3, &ms, 0) == 0 && ms == -1, "nothing in flight: nothing to poll");
		TAP_OK(sl_gnuplot_collect(gp, c) == SL_ERR, "collect with nothing in flight: %s", sl_error());
		double t0 = sl_now();
		int rc = sl_gnuplot_send(gp, c, s, 2, &o);
		double dt = sl_now() - t0;
		TAP_OK(rc == SL_OK && sl_gnuplot_pending(gp) && dt < 0.2, "send returns at once (%.3f s)", dt);
		TAP_OK(c->n == 0, "nothing drawn yet");
		int n = sl_gnuplot_pollfds(gp, p, 3, &ms, 0);
		TAP_OK(n >= 1 && p[0].events == POLLIN && ms > 1000 && ms <= SL_GNUPLOT_SLACK * 2000,
		       "in flight: %d fds to poll, %d ms left", n, ms);
		TAP_OK(sl_gnuplot_pollfds(gp, p, 3, &ms, 1) == 0 && ms > 1000,
		       "lazy: all sent, nothing back yet: nothing to poll (%d ms left)", ms);
		TAP_OK(sl_gnuplot_collect(gp, c) == SL_GNUPLOT_PENDING && c->n == 0 && sl_gnuplot_pending(gp),
		       "collect before the answer: pending, out untouched");
		TAP_OK(sl_gnuplot_send(gp, c, s, 2, &o) == SL_ERR && strstr(sl_error(), "in flight"),
		       "a second send while one is in flight is refused: %s", sl_error());
		rc = await(gp, c, 3);
		dt = sl_now() - t0;
		TAP_OK(rc == SL_OK && find_line(c, "slow fake plot") >= 0 && !sl_gnuplot_pending(gp),
		       "the answer collected after %.2f s (rc %d)", dt, rc);
		TAP_OK(dt >= 0.45, "not before it came");

		/* a synchronous plot while one is in flight: it waits its turn, and the first
		 * answer stays for collect */
		sl_cells *d = sl_cells_new();
		sl_cells_clear(c);
		TAP_OK(sl_gnuplot_send(gp, c, s, 2, &o) == SL_OK, "sent again");
		rc = sl_gnuplot_plot(gp, d, s, 2, &o);
		TAP_OK(rc == SL_OK && find_line(d, "slow fake plot") >= 0 && sl_gnuplot_pending(gp),
		       "a synchronous plot in between (rc %d), the first still to collect", rc);
		TAP_OK(sl_gnuplot_pollfds(gp, p, 3, &ms, 0) == 0 && ms == 0, "answered: collect now");
		rc = sl_gnuplot_collect(gp, c);
		TAP_OK(rc == SL_OK && find_line(c, "slow fake plot") >= 0 && !sl_gnuplot_pending(gp),
		       "the first answer collected after it (rc %d)", rc);
		sl_cells_free(d);
		sl_gnuplot_free(gp);

		/* a gnuplot slower than the time limit: the text plotter draws the series sent (from
		 * its own copy: the caller's are gone by then) */
		gp = sl_gnuplot_new(slow);
		sl_gnuplot_set_timeout(gp, 0.05); /* a sent plot: 5 times that, under the fake's 0.5 s */
		double *yc = malloc(sizeof y1);
		memcpy(yc, y1, sizeof y1);
		char *name = strdup("copied");
		sl_series tmp = {name, NULL, yc, 50, 0};
		sl_cells_clear(c);
		TAP_OK(sl_gnuplot_send(gp, c, &tmp, 1, &o) == SL_OK, "sent to a gnuplot that is too slow");
		memset(yc, 0, sizeof y1);
		free(yc);
		free(name);
		rc = await(gp, c, 3);
		const char *note = sl_gnuplot_notice(gp);
		sl_cells *ref = sl_cells_new();
		sl_series same = {"copied", NULL, y1, 50, 0};
		sl_plot_render(ref, &same, 1, &o, NULL);
		char *a = sl_cells_string(c, 0), *b = sl_cells_string(ref, 0);
		TAP_OK(rc == SL_GNUPLOT_TEXT && !strcmp(a, b), "timed out: the text plotter drew the copy (rc %d)",
		       rc);
		TAP_OK(note && strstr(note, "did not answer") && !sl_gnuplot_ok(gp), "notice: %s",
		       note ? note : "(none)");
		free(a);
		free(b);
		sl_cells_free(ref);
		sl_cells_clear(c);
		TAP_OK(sl_gnuplot_send(gp, c, s, 2, &o) == SL_GNUPLOT_TEXT && !sl_gnuplot_pending(gp) &&
		       find_line(c, "async one") >= 0, "then send draws with the text plotter at once");
		sl_gnuplot_free(gp);
		unlink(slow);
	}

	/* a script bigger than the pipe, to a gnuplot that reads nothing: even a lazy caller
	 * polls its stdin, so that the rest goes as soon as it can */
	char deaf[] = "/tmp/seqlab-deaf-XXXXXX";
	if (fake_gnuplot(deaf, "#!/bin/sh\nexec sleep 30\n")) {
		enum { NS = 40, NP = 2000 }; /* put_plot keeps 8 x width points a series: ~0.6 MB */
		sl_series many[NS];
		char names[NS][16];
		double *big = malloc(NP * sizeof *big);
		for (int i = 0; i < NP; i++)
			big[i] = sin(i * 0.37) + 0.001 * i;
		for (int k = 0; k < NS; k++) {
			snprintf(names[k], sizeof names[k], "s%d", k);
			many[k] = (sl_series){names[k], NULL, big, NP, 0};
		}
		sl_gnuplot *gp = sl_gnuplot_new(deaf);
		sl_cells_clear(c);
		int rc = sl_gnuplot_send(gp, c, many, NS, &o);
		int n = sl_gnuplot_pollfds(gp, p, 3, &ms, 1), in = 0;
		for (int i = 0; i < n; i++)
			in += p[i].events == POLLOUT;
		TAP_OK(rc == SL_OK && in == 1, "lazy: a script that is not all written is polled (%d fds)", n);
		sl_gnuplot_free(gp);
		free(big);
		unlink(deaf);
	}

	/* SEQLAB_GNUPLOT names the program when none is given */
	setenv("SEQLAB_GNUPLOT", "/nonexistent/seqlab-gnuplot", 1);
	sl_gnuplot *gp = sl_gnuplot_new(NULL);
	const char *n = sl_gnuplot_notice(gp);
	TAP_OK(!sl_gnuplot_ok(gp) && n && strstr(n, "/nonexistent/seqlab-gnuplot"), "SEQLAB_GNUPLOT: %s",
	       n ? n : "(none)");
	sl_gnuplot_free(gp);
	unsetenv("SEQLAB_GNUPLOT");

	if (!on_path("gnuplot")) {
		TAP_OK(1, "async gnuplot # SKIP no gnuplot on PATH");
		sl_cells_free(c);
		return;
	}
	gp = sl_gnuplot_new(NULL);
	/* the child runs nicer than we do */
	errno = 0;
	int mine = getpriority(PRIO_PROCESS, 0), its = getpriority(PRIO_PROCESS, (id_t)sl_gnuplot_pid(gp));
	TAP_OK(errno == 0 && its == SL_MIN(mine + SL_GNUPLOT_NICE, 19), "gnuplot at nice %d (ours %d)", its, mine);
	sl_cells_clear(c);
	int rc = sl_gnuplot_send(gp, c, s, 2, &o);
	TAP_OK(rc == SL_OK && sl_gnuplot_pending(gp), "real gnuplot: sent");
	rc = await(gp, c, 3);
	TAP_OK(rc == SL_OK && c->n == 22 && find_line(c, "async one") >= 0 && find_line(c, "__seqlab_") < 0,
	       "real gnuplot: collected, 22 lines, no marker (rc %d)", rc);

	/* plot save while a plot is in flight: both come out right */
	char dir[] = "/tmp/seqlab-plot-XXXXXX", png[64];
	TAP_OK(mkdtemp(dir) != NULL, "temp dir");
	snprintf(png, sizeof png, "%s/c.png", dir);
	sl_cells_clear(c);
	o.title = "async two";
	TAP_OK(sl_gnuplot_send(gp, c, s, 2, &o) == SL_OK, "sent before a save");
	struct stat st;
	sl_plot_opts so = {.title = "saved"};
	rc = sl_gnuplot_save(gp, png, s, 2, &so);
	TAP_OK(rc == SL_OK && stat(png, &st) == 0 && st.st_size > 100, "saved while a plot was in flight (%s)",
	       rc ? sl_error() : "ok");
	rc = await(gp, c, 3);
	TAP_OK(rc == SL_OK && c->n == 22 && find_line(c, "async two") >= 0, "then the plot collected (rc %d)", rc);
	sl_cells_clear(c);
	o.title = "async three";
	TAP_OK(sl_gnuplot_send(gp, c, s, 2, &o) == SL_OK && await(gp, c, 3) == SL_OK &&
	       find_line(c, "async three") >= 0 && find_line(c, "async two") < 0,
	       "and the next plot is its own");
	unlink(png);
	rmdir(dir);

	/* gnuplot killed while a plot is in flight (stopped first, so that it cannot answer
	 * before): said once, the text plotter draws */
	sl_cells_clear(c);
	kill((pid_t)sl_gnuplot_pid(gp), SIGSTOP);
	TAP_OK(sl_gnuplot_send(gp, c, s, 2, &o) == SL_OK, "sent, then gnuplot is killed");
	kill((pid_t)sl_gnuplot_pid(gp), SIGKILL);
	rc = await(gp, c, 3);
	n = sl_gnuplot_notice(gp);
	TAP_OK(rc == SL_GNUPLOT_TEXT && find_line(c, "async three") >= 0 && !sl_gnuplot_ok(gp),
	       "killed: the text plotter drew it (rc %d)", rc);
	TAP_OK(n && strstr(n, "built-in text plotter"), "notice: %s", n ? n : "(none)");
	sl_gnuplot_free(gp);
	sl_cells_free(c);
}

static void test_missing(void)
{
	double y[3] = {3, 2, 1};
	sl_series s = {"a", NULL, y, 3, 0};
	sl_plot_opts o = {.title = "fallback", .width = 40, .height = 12};
	sl_gnuplot *gp = sl_gnuplot_new("/nonexistent/bin/gnuplot");
	TAP_OK(!sl_gnuplot_ok(gp) && sl_gnuplot_pid(gp) < 0, "bogus path: not running");
	const char *n = sl_gnuplot_notice(gp);
	TAP_OK(n && strstr(n, "not found") && strstr(n, "built-in") && !strchr(n, '\n'), "one notice line: %s",
	       n ? n : "(none)");
	TAP_OK(sl_gnuplot_notice(gp) == NULL, "said once");
	sl_cells *c = sl_cells_new(), *ref = sl_cells_new();
	TAP_OK(sl_gnuplot_plot(gp, c, &s, 1, &o) == SL_GNUPLOT_TEXT, "plot falls back to text");
	sl_plot_render(ref, &s, 1, &o, NULL);
	char *a = sl_cells_string(c, 0), *b = sl_cells_string(ref, 0);
	TAP_OK(!strcmp(a, b), "same as the built-in plotter");
	TAP_OK(sl_gnuplot_notice(gp) == NULL, "no second notice on later plots");
	TAP_OK(sl_gnuplot_save(gp, "/tmp/x.png", &s, 1, &o) == SL_ERR && strstr(sl_error(), "not running"),
	       "save without gnuplot: '%s'", sl_error());
	free(a);
	free(b);
	sl_cells_free(c);
	sl_cells_free(ref);
	sl_gnuplot_free(gp);
}

/* The braille plotter: a rising line lights dots along the diagonal, in
 * its colour; a series on the right axis gets labels 0 and 1 there; marks;
 * sizes. */
static void test_braille(void)
{
	double x[3] = { 0, 50, 100 }, y[3] = { 2, 1.5, 1 }, a[3] = { 0.2, 0.6, 1.0 };
	sl_series s[2] = { { .name = "loss", .x = x, .y = y, .n = 3 },
			   { .name = "val_acc", .x = x, .y = a, .n = 3, .y2 = 1 } };
	sl_plot_opts o = { .width = 60, .height = 16, .color = 1, .nmarks = 1, .mark_x = { 50 } };
	sl_cells *c = sl_cells_new();
	TAP_OK(sl_plot_render_braille(c, s, 2, &o) == SL_OK && c->n == 16, "braille: %d lines", c->n);
	int dots = 0, blue = 0, orange = 0, grey = 0, wide = 0;
	for (int i = 0; i < c->n; i++) {
		wide |= c->line[i].n > 60;
		for (int j = 0; j < c->line[i].n; j++) {
			uint32_t ch = c->line[i].cell[j].ch;
			if (ch > 0x2800 && ch <= 0x28FF) {
				dots++;
				blue += c->line[i].cell[j].fg == sl_plot_color(0);
				orange += c->line[i].cell[j].fg == sl_plot_color(1);
				grey += c->line[i].cell[j].fg == 244;
			}
		}
	}
	TAP_OK(!wide && dots > 40 && blue > 15 && orange > 15 && grey > 3,
	       "dots in braille cells, each series in its colour, the mark grey (%d dots: %d, %d, %d)", dots, blue,
	       orange, grey);
	TAP_OK(find_line(c, "loss") == 0 && strstr(line(c, 0), "val_acc (right)"), "legend: %s", line(c, 0));
	/* the right axis: 1 near the top, 0 at the bottom row of the plot */
	int one = -1, zero = -1;
	for (int i = 0; i < c->n; i++) {
		const char *l = line(c, i);
		if (strstr(l, "\u251c1") || strstr(l, "├1"))
			one = i;
		if (strstr(l, "├0") && !strstr(l, "├0."))
			zero = i;
	}
	TAP_OK(one >= 1 && one <= 3 && zero == c->n - 3, "right axis: 1 on line %d, 0 on line %d", one, zero);
	/* the top of val_acc (1.0) is below the frame's top: headroom */
	int top = -1;
	for (int i = 1; i < c->n - 2 && top < 0; i++)
		for (int j = 0; j < c->line[i].n; j++)
			if (c->line[i].cell[j].fg == sl_plot_color(1) && c->line[i].cell[j].ch > 0x2800)
				top = i;
	TAP_OK(top >= 1 && at(c, top, c->line[top].n - 1) != 0, "val_acc's top is inside the frame (line %d)", top);
	sl_cells_clear(c);
	o.width = 10;
	TAP_OK(sl_plot_render_braille(c, s, 2, &o) == SL_ERR, "too narrow: %s", sl_error());
	sl_cells_free(c);
}

int main(void)
{
	test_braille();
	test_ema();
	test_point();
	test_logy();
	test_smooth_legend();
	test_ansi();
	test_gnuplot();
	test_async();
	test_missing();
	return tap_done();
}
