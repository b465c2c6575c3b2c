/* plot.c - the built-in text plotter: series -> a W x H grid of cells with axes, ticks, legend. */
#include "seqlab/plot.h"
#include "seqlab/common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char glyphs[] = "*+xo#@%&=$";
/* tab10-like hues in the xterm-256 cube: blue, orange, green, red, purple, brown, pink, grey,
 * olive, cyan (brown 95, #875f5f, as tab10's #8c564b: 130, #af5f00, read as a second orange) */
static const int colors[] = {33, 208, 34, 160, 135, 95, 205, 245, 142, 37};

#define RAW_GLYPH '.'
#define MAX_TICKS 32

uint32_t sl_plot_glyph(int i)
{
	return (unsigned char)glyphs[(unsigned)i % (sizeof glyphs - 1)];
}

int sl_plot_color(int i)
{
	return colors[(unsigned)i % SL_COUNT(colors)];
}

void sl_plot_ema(double *out, const double *y, int n, double w)
{
	if (!(w >= 0))
		w = 0;
	if (w > 0.9999)
		w = 0.9999;
	double m = 0, wk = 1; /* wk = w^k */
	for (int i = 0; i < n; i++) {
		double v = y[i];
		if (!isfinite(v)) {
			out[i] = NAN;
			continue;
		}
		m = w * m + (1 - w) * v;
		wk *= w;
		out[i] = m / (1 - wk);
	}
}

/* A nice step (1, 2 or 5 x 10^k) near span/target. */
static double nice_step(double span, int target)
{
	double raw = span / SL_MAX(target, 1);
	double p = pow(10, floor(log10(raw))), f = raw / p;
	return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
}

int sl_plot_ticks(double lo, double hi, int target, double *t, int max)
{
	if (!(hi > lo) || !isfinite(lo) || !isfinite(hi) || max <= 0)
		return 0;
	double step = nice_step(hi - lo, target);
	int n = 0;
	for (double k = ceil(lo / step - 1e-9); n < max; k++) {
		double v = k * step;
		if (v > hi + step * 1e-9)
			break;
		t[n++] = fabs(v) < step * 1e-9 ? 0 : v;
	}
	return n;
}

/* A tick label: short, no "-0", no 0.30000000000000004. */
static void fmt_tick(char *s, size_t n, double v, int logy)
{
	if (logy)
		v = pow(10, v);
	if (v == 0)
		snprintf(s, n, "0");
	else if (fabs(v) >= 1e5 || fabs(v) < 1e-3) {
		/* 1e-05 -> 1e-5, 2.5e+06 -> 2.5e6 */
		char t[16], *e;
		snprintf(t, sizeof t, "%.3g", v);
		e = strchr(t, 'e');
		if (e) {
			char *d = e + 1;
			int neg = *d == '-';
			if (*d == '+' || *d == '-')
				d++;
			while (*d == '0' && d[1])
				d++;
			snprintf(s, n, "%.*se%s%s", (int)(e - t), t, neg ? "-" : "", d);
		} else {
			snprintf(s, n, "%s", t);
		}
	} else {
		snprintf(s, n, "%.4g", v);
	}
}

/* The y value a point is plotted at, or NaN when it cannot be (non-finite, or <= 0 on log). */
static double yval(double y, int logy)
{
	if (!isfinite(y) || (logy && y <= 0))
		return NAN;
	return logy ? log10(y) : y;
}

typedef struct grid {
	sl_cell *c; /* (ph, pw) */
	int pw, ph;
} grid;

static void plot_cell(grid *g, int col, int row, uint32_t ch, int fg)
{
	if (col >= 0 && col < g->pw && row >= 0 && row < g->ph)
		g->c[(size_t)row * (size_t)g->pw + (size_t)col] = (sl_cell){ch, (int16_t)fg, SL_COLOR_DEFAULT};
}

/* Bresenham from (c0, r0) to (c1, r1). */
static void plot_line(grid *g, int c0, int r0, int c1, int r1, uint32_t ch, int fg)
{
	int dc = abs(c1 - c0), dr = -abs(r1 - r0), sc = c0 < c1 ? 1 : -1, sr = r0 < r1 ? 1 : -1;
	int err = dc + dr;
	for (;;) {
		plot_cell(g, c0, r0, ch, fg);
		if (c0 == c1 && r0 == r1)
			break;
		int e2 = 2 * err;
		if (e2 >= dr) {
			err += dr;
			c0 += sc;
		}
		if (e2 <= dc) {
			err += dc;
			r0 += sr;
		}
	}
}

/* Clips the segment (a, b) to the box [xl, xh] x [yl, yh] (Liang-Barsky); 0 when outside. */
static int clip(double *ax, double *ay, double *bx, double *by, double xl, double xh, double yl,
                double yh)
{
	double t0 = 0, t1 = 1, dx = *bx - *ax, dy = *by - *ay;
	double p[4] = {-dx, dx, -dy, dy}, q[4] = {*ax - xl, xh - *ax, *ay - yl, yh - *ay};
	for (int i = 0; i < 4; i++) {
		if (p[i] == 0) {
			if (q[i] < 0)
				return 0;
			continue;
		}
		double r = q[i] / p[i];
		if (p[i] < 0)
			t0 = fmax(t0, r);
		else
			t1 = fmin(t1, r);
		if (t0 > t1)
			return 0;
	}
	double x = *ax, y = *ay;
	*ax = x + t0 * dx;
	*ay = y + t0 * dy;
	*bx = x + t1 * dx;
	*by = y + t1 * dy;
	return 1;
}

static void plot_series(grid *g, const sl_plot_layout *L, const double *x, const double *y, int n,
                        int logy, uint32_t ch, int fg)
{
	int have = 0;
	double pc = 0, pr = 0;
	double sx = (g->pw - 1) / (L->xmax - L->xmin), sy = (g->ph - 1) / (L->ymax - L->ymin);
	for (int i = 0; i < n; i++) {
		double xv = x ? x[i] : i, yv = yval(y[i], logy);
		if (!isfinite(xv) || isnan(yv)) {
			have = 0; /* a gap */
			continue;
		}
		double c = (xv - L->xmin) * sx, r = (L->ymax - yv) * sy;
		double ac = have ? pc : c, ar = have ? pr : r, bc = c, br = r;
		if (clip(&ac, &ar, &bc, &br, -0.5, g->pw - 0.5, -0.5, g->ph - 0.5))
			plot_line(g, (int)lround(ac), (int)lround(ar), (int)lround(bc), (int)lround(br), ch, fg);
		have = 1;
		pc = c;
		pr = r;
	}
}

int sl_plot_check(const sl_series *s, int ns, const sl_plot_opts *o)
{
	static const sl_plot_opts none = {0};
	if (!o)
		o = &none;
	const int W = o->width > 0 ? o->width : 80, H = o->height > 0 ? o->height : 24;
	const int need = (o->title && *o->title) + 1 + 2 + (o->xlabel && *o->xlabel) + 2;
	if (ns < 0 || (ns > 0 && !s)) {
		sl_errorf("plot: bad series list");
		return SL_ERR;
	}
	for (int k = 0; k < ns; k++)
		if (s[k].n < 0 || (s[k].n > 0 && !s[k].y)) {
			sl_errorf("plot: series %d has no y values", k);
			return SL_ERR;
		}
	if (W < 16 || H < need) {
		sl_errorf("plot: %dx%d is too small (need at least 16 columns and %d lines)", W, H, need);
		return SL_ERR;
	}
	if ((o->fix_x && !(o->xmax > o->xmin)) || (o->fix_y && !(o->ymax > o->ymin)) ||
	    (o->fix_y && o->logy && !(o->ymin > 0))) {
		sl_errorf("plot: bad fixed range");
		return SL_ERR;
	}
	if (!(o->smooth >= 0 && o->smooth < 1)) {
		sl_errorf("plot: smoothing weight must be in [0, 1)");
		return SL_ERR;
	}
	return SL_OK;
}

/* Appends s centred in width w (cut to w). */
static void put_centered(sl_cells_line *l, const char *s, int w)
{
	int n = sl_cells_strwidth(s), start = l->n;
	sl_cells_fill(l, ' ', SL_MAX(0, (w - n) / 2), SL_COLOR_DEFAULT, SL_COLOR_DEFAULT);
	sl_cells_puts(l, s, SL_MAX(0, start + w - l->n), SL_COLOR_DEFAULT, SL_COLOR_DEFAULT);
}

/* The text plot's title, then its y label and legend on one line (the
 * legend right-aligned after the label, cut if it must be). */
static void text_header(sl_cells *out, const sl_series *s, int ns, const sl_plot_opts *o, int W, int raw_too)
{
	if (o->title && *o->title)
		put_centered(sl_cells_add(out), o->title, W);
	sl_cells_line *l = sl_cells_add(out);
	if (o->ylabel)
		sl_cells_puts(l, o->ylabel, W, SL_COLOR_DEFAULT, SL_COLOR_DEFAULT);
	sl_cells_line leg = {0};
	for (int k = 0; k < ns; k++) {
		if (leg.n)
			sl_cells_fill(&leg, ' ', 2, SL_COLOR_DEFAULT, SL_COLOR_DEFAULT);
		sl_cells_putc(&leg, sl_plot_glyph(k), o->color ? sl_plot_color(k) : SL_COLOR_DEFAULT, SL_COLOR_DEFAULT);
		sl_cells_putc(&leg, ' ', SL_COLOR_DEFAULT, SL_COLOR_DEFAULT);
		sl_cells_puts(&leg, s[k].name ? s[k].name : "", -1, SL_COLOR_DEFAULT, SL_COLOR_DEFAULT);
	}
	if (ns > 0 && raw_too)
		sl_cells_puts(&leg, "  . raw", -1, SL_COLOR_DEFAULT, SL_COLOR_DEFAULT);
	int room = W - l->n - (l->n ? 2 : 0), n = SL_MIN(leg.n, SL_MAX(room, 0));
	sl_cells_fill(l, ' ', W - l->n - n, SL_COLOR_DEFAULT, SL_COLOR_DEFAULT);
	for (int i = 0; i < n; i++)
		sl_cells_putc(l, leg.cell[i].ch, leg.cell[i].fg, leg.cell[i].bg);
	free(leg.cell);
}

/* The plot's rows with the y axis; ticks mark the axis with '+'. */
static void text_rows(sl_cells *out, const grid *g, const double *yt, char (*ylab)[24], int nyt, int yw, double y0,
		      double y1)
{
	int tickrow[MAX_TICKS], ph = g->ph, pw = g->pw;
	for (int i = 0; i < nyt; i++)
		tickrow[i] = (int)lround((y1 - yt[i]) / (y1 - y0) * (ph - 1));
	for (int r = 0; r < ph; r++) {
		sl_cells_line *l = sl_cells_add(out);
		const char *lab = NULL;
		for (int i = 0; i < nyt; i++)
			if (tickrow[i] == r && !lab)
				lab = ylab[i];
		int n = lab ? (int)strlen(lab) : 0;
		sl_cells_fill(l, ' ', yw - n, SL_COLOR_DEFAULT, SL_COLOR_DEFAULT);
		if (lab)
			sl_cells_puts(l, lab, -1, SL_COLOR_DEFAULT, SL_COLOR_DEFAULT);
		sl_cells_putc(l, lab ? '+' : '|', SL_COLOR_DEFAULT, SL_COLOR_DEFAULT);
		for (int c = 0; c < pw; c++) {
			const sl_cell *cell = &g->c[(size_t)r * (size_t)pw + (size_t)c];
			sl_cells_putc(l, cell->ch, cell->fg, cell->bg);
		}
	}
}

/* The x axis and its labels, each centred under its tick unless it would
 * overlap the last; then the x label. */
static void text_xaxis(sl_cells *out, const double *xt, int nxt, const sl_plot_layout *L, int W, const char *xlabel)
{
	int px = L->px, pw = L->pw, yw = px - 1;
	double x0 = L->xmin, x1 = L->xmax;
	sl_cells_line *l = sl_cells_add(out);
	sl_cells_fill(l, ' ', yw, SL_COLOR_DEFAULT, SL_COLOR_DEFAULT);
	sl_cells_putc(l, '+', SL_COLOR_DEFAULT, SL_COLOR_DEFAULT);
	sl_cells_fill(l, '-', pw, SL_COLOR_DEFAULT, SL_COLOR_DEFAULT);
	sl_cells_line *tl = sl_cells_add(out);
	int last = -1;
	for (int i = 0; i < nxt; i++) {
		int c = px + (int)lround((xt[i] - x0) / (x1 - x0) * (pw - 1));
		if (c >= px && c < W)
			sl_cells_set(l, c, '+', SL_COLOR_DEFAULT, SL_COLOR_DEFAULT);
		char lab[24];
		fmt_tick(lab, sizeof lab, xt[i], 0);
		int n = (int)strlen(lab), at = c - (n - 1) / 2;
		at = SL_MIN(at, W - n);
		if (at <= last + 1 || at < 0)
			continue;
		sl_cells_fill(tl, ' ', at - tl->n, SL_COLOR_DEFAULT, SL_COLOR_DEFAULT);
		sl_cells_puts(tl, lab, -1, SL_COLOR_DEFAULT, SL_COLOR_DEFAULT);
		last = tl->n - 1;
	}
	if (xlabel && *xlabel) {
		l = sl_cells_add(out);
		sl_cells_fill(l, ' ', px, SL_COLOR_DEFAULT, SL_COLOR_DEFAULT);
		put_centered(l, xlabel, pw);
	}
}

/* The text plot's data ranges over what will be drawn (the raw series when
 * raw, the smoothed copies sm[k] where set), y in log10 when logy, widened
 * when flat, fixed where the options fix them. Returns 1 when nothing finite
 * is drawn (the ranges are then [0, 1]). */
static int text_ranges(const sl_series *s, int ns, const sl_plot_opts *o, double *const *sm, int raw, double *px0,
		       double *px1, double *py0, double *py1)
{
	const int logy = o->logy;
	double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
	for (int k = 0; k < ns; k++) {
		for (int pass = 0; pass < 2; pass++) {
			const double *y = pass == 0 ? (raw ? s[k].y : NULL) : sm[k];
			for (int i = 0; y && i < s[k].n; i++) {
				double xv = s[k].x ? s[k].x[i] : i, yv = yval(y[i], logy);
				if (!isfinite(xv) || isnan(yv))
					continue;
				x0 = fmin(x0, xv);
				x1 = fmax(x1, xv);
				y0 = fmin(y0, yv);
				y1 = fmax(y1, yv);
			}
		}
	}
	const int nodata = !(x0 <= x1);
	if (nodata) {
		x0 = 0;
		x1 = 1;
		y0 = logy ? 0 : 0;
		y1 = 1;
	}
	if (x0 == x1) {
		x0 -= 1;
		x1 += 1;
	}
	if (y0 == y1) {
		double d = logy ? 0.5 : fmax(fabs(y0) * 0.1, 1e-3);
		y0 -= d;
		y1 += d;
	}
	if (o->fix_x) {
		x0 = o->xmin;
		x1 = o->xmax;
	}
	if (o->fix_y) {
		y0 = logy ? log10(o->ymin) : o->ymin;
		y1 = logy ? log10(o->ymax) : o->ymax;
	}
	*px0 = x0;
	*px1 = x1;
	*py0 = y0;
	*py1 = y1;
	return nodata;
}

int sl_plot_render(sl_cells *out, const sl_series *s, int ns, const sl_plot_opts *o,
                   sl_plot_layout *lay)
{
	static const sl_plot_opts none = {0};
	if (!o)
		o = &none;
	const int W = o->width > 0 ? o->width : 80, H = o->height > 0 ? o->height : 24;
	const int logy = o->logy, smooth = o->smooth > 0, raw = !smooth || !o->no_raw;
	const int title = o->title && *o->title, xlab = o->xlabel && *o->xlabel;
	const int ph = H - title - 1 - 2 - xlab; /* title, legend, axis, ticks, x label */
	if (sl_plot_check(s, ns, o))
		return SL_ERR;

	/* smoothed copies */
	double **sm = sl_xcalloc((size_t)SL_MAX(ns, 1), sizeof *sm);
	for (int k = 0; k < ns && smooth; k++) {
		if (s[k].n <= 0)
			continue;
		sm[k] = sl_xmalloc((size_t)s[k].n * sizeof **sm);
		sl_plot_ema(sm[k], s[k].y, s[k].n, o->smooth);
	}

	/* data ranges, over what will be drawn */
	double x0, x1, y0, y1;
	const int nodata = text_ranges(s, ns, o, sm, raw, &x0, &x1, &y0, &y1);

	/* ticks; free axes widen to whole steps (whole decades on log y) */
	double yt[MAX_TICKS], xt[MAX_TICKS];
	int nyt, nxt, ytarget = SL_MAX(2, ph / 3);
	if (logy) {
		if (!o->fix_y) {
			y0 = floor(y0 + 1e-9);
			y1 = ceil(y1 - 1e-9);
			if (y1 <= y0)
				y1 = y0 + 1;
		}
		/* decades, thinned to what the height holds */
		int every = (int)ceil((floor(y1) - ceil(y0) + 1) / ytarget);
		every = SL_MAX(every, 1);
		nyt = 0;
		for (double d = ceil(y0 - 1e-9); d <= y1 + 1e-9 && nyt < MAX_TICKS; d += every)
			yt[nyt++] = d;
		if (nyt < 2) /* less than a decade: linear ticks in log space */
			nyt = sl_plot_ticks(y0, y1, ytarget, yt, MAX_TICKS);
	} else {
		if (!o->fix_y) {
			double st = nice_step(y1 - y0, ytarget);
			y0 = floor(y0 / st + 1e-9) * st;
			y1 = ceil(y1 / st - 1e-9) * st;
		}
		nyt = sl_plot_ticks(y0, y1, ytarget, yt, MAX_TICKS);
	}

	/* the y tick labels decide the left margin */
	char ylab[MAX_TICKS][24];
	int yw = 1;
	for (int i = 0; i < nyt; i++) {
		fmt_tick(ylab[i], sizeof ylab[i], yt[i], logy);
		yw = SL_MAX(yw, (int)strlen(ylab[i]));
	}
	const int px = yw + 1, pw = W - px;
	if (pw < 4) {
		free(sm);
		sl_errorf("plot: %d columns are too narrow", W);
		return SL_ERR;
	}
	int xtarget = SL_MAX(2, pw / 10);
	if (!o->fix_x) {
		double st = nice_step(x1 - x0, xtarget);
		x0 = floor(x0 / st + 1e-9) * st;
		x1 = ceil(x1 / st - 1e-9) * st;
	}
	nxt = sl_plot_ticks(x0, x1, xtarget, xt, MAX_TICKS);

	sl_plot_layout L = {px, title + 1, pw, ph, x0, x1, y0, y1};

	/* the data */
	grid g = {sl_xmalloc((size_t)pw * (size_t)ph * sizeof(sl_cell)), pw, ph};
	for (int i = 0; i < pw * ph; i++)
		g.c[i] = (sl_cell){' ', SL_COLOR_DEFAULT, SL_COLOR_DEFAULT};
	/* the marks: a dotted column under the data */
	for (int m = 0; m < SL_MIN(o->nmarks, 4); m++) {
		if (!isfinite(o->mark_x[m]) || o->mark_x[m] < x0 || o->mark_x[m] > x1)
			continue;
		int c = x1 > x0 ? (int)lround((o->mark_x[m] - x0) / (x1 - x0) * (pw - 1)) : 0;
		for (int r = 0; r < ph; r += 2)
			plot_cell(&g, c, r, ':', o->color ? 244 : SL_COLOR_DEFAULT);
	}
	for (int k = 0; k < ns; k++) {
		int fg = o->color ? sl_plot_color(k) : SL_COLOR_DEFAULT;
		if (raw && s[k].n > 0)
			plot_series(&g, &L, s[k].x, s[k].y, s[k].n, logy, smooth ? RAW_GLYPH : sl_plot_glyph(k), fg);
	}
	for (int k = 0; k < ns && smooth; k++) {
		int fg = o->color ? sl_plot_color(k) : SL_COLOR_DEFAULT;
		if (sm[k])
			plot_series(&g, &L, s[k].x, sm[k], s[k].n, logy, sl_plot_glyph(k), fg);
	}
	if (nodata) {
		const char *msg = "(no data)";
		int c = (pw - (int)strlen(msg)) / 2, r = ph / 2;
		for (int i = 0; msg[i] && c + i < pw; i++)
			plot_cell(&g, SL_MAX(0, c) + i, r, (unsigned char)msg[i], SL_COLOR_DEFAULT);
	}

	text_header(out, s, ns, o, W, smooth && raw);
	text_rows(out, &g, yt, ylab, nyt, yw, y0, y1);
	text_xaxis(out, xt, nxt, &L, W, o->xlabel);

	if (lay)
		*lay = L;
	free(g.c);
	for (int k = 0; k < ns; k++)
		free(sm[k]);
	free(sm);
	return SL_OK;
}

/* ---- braille ------------------------------------------------------------------ */

/* A range [lo, hi] for the values of the series on axis `axis` (0 left, 1
 * right) with headroom; returns 0 when none has a drawable value. */
static int axis_range(const sl_series *s, int ns, int axis, int logy, double *lo, double *hi)
{
	double a = INFINITY, b = -INFINITY;
	for (int k = 0; k < ns; k++) {
		if (!!s[k].y2 != axis)
			continue;
		for (int i = 0; i < s[k].n; i++) {
			double v = yval(s[k].y[i], logy);
			if (isnan(v) || (s[k].x && !isfinite(s[k].x[i])))
				continue;
			a = fmin(a, v);
			b = fmax(b, v);
		}
	}
	if (!(a <= b))
		return 0;
	if (axis == 1 && a >= 0 && b <= 1) { /* accuracy, error rates, scaled rates */
		*lo = 0;
		*hi = 1.05;
		return 1;
	}
	double span = b - a, pad = span > 0 ? 0.05 * span : fabs(a) > 0 ? 0.05 * fabs(a) : 0.5;
	*lo = a - pad;
	*hi = b + pad;
	if (a >= 0 && *lo < 0 && !logy)
		*lo = 0;
	return 1;
}

/* The braille plot's legend: "▬ name" entries, wrapped, at most two lines,
 * "(right)" after the series of the second axis when there is a first. */
static sl_cells *braille_legend(const sl_series *s, int ns, const sl_plot_opts *o, int W, int has_left)
{
	sl_cells *leg = sl_cells_new();
	sl_cells_line *ll = sl_cells_add(leg);
	int shown = 0;
	for (int k = 0; k < ns; k++) {
		char e[128];
		snprintf(e, sizeof e, " %s%s", s[k].name ? s[k].name : "", s[k].y2 && has_left ? " (right)" : "");
		int w = sl_cells_strwidth(e) + 2;
		if (ll->n && ll->n + w > W) {
			if (leg->n == 2)
				break;
			ll = sl_cells_add(leg);
		}
		int fg = o->color ? sl_plot_color(k) : SL_COLOR_DEFAULT;
		sl_cells_putc(ll, ' ', SL_COLOR_DEFAULT, SL_COLOR_DEFAULT);
		sl_cells_putc(ll, 0x25AC, fg, SL_COLOR_DEFAULT); /* ▬ */
		sl_cells_puts(ll, e, -1, SL_COLOR_DEFAULT, SL_COLOR_DEFAULT);
		shown++;
	}
	if (shown < ns) {
		char more[32];
		snprintf(more, sizeof more, "  +%d more", ns - shown);
		if (ll->n + (int)strlen(more) > W)
			ll->n = SL_MAX(0, W - (int)strlen(more));
		sl_cells_puts(ll, more, -1, SL_COLOR_DEFAULT, SL_COLOR_DEFAULT);
	}

	return leg;
}

/* Braille dots: (2 pw) x (4 ph) over pw x ph cells, a mask and a colour a cell. */
typedef struct canvas {
	unsigned char *mask;
	int16_t *col;
	int pw, ph;
} canvas;

static void dot(canvas *cv, int x, int y, int c)
{
	if (x < 0 || x >= 2 * cv->pw || y < 0 || y >= 4 * cv->ph)
		return;
	int i = (y / 4) * cv->pw + x / 2, dx = x % 2, dy = y % 4;
	cv->mask[i] |= (unsigned char)(1u << (dx == 0 ? (dy < 3 ? dy : 6) : (dy < 3 ? dy + 3 : 7)));
	cv->col[i] = (int16_t)c;
}

/* The marks (dotted columns the series draw over), then each series as
 * lines between its points (Bresenham), gaps where a value is missing. */
static void braille_draw(canvas *cv, const sl_series *s, int ns, const sl_plot_opts *o, double x0, double x1,
			 double ya[2][2])
{
	const int PW = 2 * cv->pw, PH = 4 * cv->ph, logy = o->logy;
	for (int m = 0; m < SL_MIN(o->nmarks, 4); m++) {
		if (!isfinite(o->mark_x[m]) || o->mark_x[m] < x0 || o->mark_x[m] > x1)
			continue;
		int X = (int)lround((o->mark_x[m] - x0) / (x1 - x0) * (PW - 1));
		for (int Y = 0; Y < PH; Y += 2)
			dot(cv, X, Y, o->color ? 244 : SL_COLOR_DEFAULT);
	}
	for (int k = 0; k < ns; k++) {
		int a = !!s[k].y2, fg = o->color ? sl_plot_color(k) : SL_COLOR_DEFAULT, have = 0, lx = 0, ly = 0;
		double lo = ya[a][0], hi = ya[a][1];
		for (int i = 0; i < s[k].n; i++) {
			double xv = s[k].x ? s[k].x[i] : i, yv = yval(s[k].y[i], a == 0 && logy);
			if (!isfinite(xv) || isnan(yv)) {
				have = 0; /* a gap */
				continue;
			}
			int X = (int)lround((xv - x0) / (x1 - x0) * (PW - 1));
			int Y = (int)lround((hi - yv) / (hi - lo) * (PH - 1));
			if (!have) {
				dot(cv, X, Y, fg);
			} else { /* Bresenham from the last point */
				int dx = abs(X - lx), dy = -abs(Y - ly), sx = lx < X ? 1 : -1, sy = ly < Y ? 1 : -1;
				int err = dx + dy, cx = lx, cy = ly;
				for (int guard = 0; guard < 4 * (PW + PH); guard++) {
					dot(cv, cx, cy, fg);
					if (cx == X && cy == Y)
						break;
					int e2 = 2 * err;
					if (e2 >= dy) {
						err += dy;
						cx += sx;
					}
					if (e2 <= dx) {
						err += dx;
						cy += sy;
					}
				}
			}
			have = 1;
			lx = X;
			ly = Y;
		}
	}
}

/* The braille plot's x axis below a plot pw cells wide starting at column
 * yl + 1: a rule with ticks, then their labels, none touching the one before. */
static void braille_xaxis(sl_cells *out, double x0, double x1, int yl, int pw, int W, int right)
{
	const int PW = 2 * pw;
	double xt[MAX_TICKS];
	int nxt = sl_plot_ticks(x0, x1, SL_MAX(2, pw / 10), xt, MAX_TICKS);
	sl_cells_line *ax = sl_cells_add(out), *xl = sl_cells_add(out);
	sl_cells_fill(ax, ' ', yl, SL_COLOR_DEFAULT, SL_COLOR_DEFAULT);
	sl_cells_putc(ax, 0x2514, SL_COLOR_DEFAULT, SL_COLOR_DEFAULT); /* └ */
	int base = ax->n;
	sl_cells_fill(ax, 0x2500, pw, SL_COLOR_DEFAULT, SL_COLOR_DEFAULT);
	if (right)
		sl_cells_putc(ax, 0x2518, SL_COLOR_DEFAULT, SL_COLOR_DEFAULT); /* ┘ */
	sl_cells_fill(xl, ' ', W, SL_COLOR_DEFAULT, SL_COLOR_DEFAULT);
	int last_end = -1;
	for (int i = 0; i < nxt; i++) {
		int c = (int)lround((xt[i] - x0) / (x1 - x0) * (PW - 1)) / 2;
		if (c < 0 || c >= pw)
			continue;
		ax->cell[base + c].ch = 0x252C; /* ┬ */
		char t[24];
		fmt_tick(t, sizeof t, xt[i], 0);
		int n = (int)strlen(t), start = SL_MAX(0, SL_MIN(base + c - n / 2, W - n));
		if (start <= last_end)
			continue; /* would touch the label before */
		for (int j = 0; j < n; j++)
			xl->cell[start + j].ch = (unsigned char)t[j];
		last_end = start + n;
	}
}

int sl_plot_render_braille(sl_cells *out, const sl_series *s, int ns, const sl_plot_opts *o)
{
	static const sl_plot_opts none = {0};
	if (!o)
		o = &none;
	if (sl_plot_check(s, ns, o))
		return SL_ERR;
	const int W = o->width > 0 ? o->width : 80, H = o->height > 0 ? o->height : 24;
	const int logy = o->logy, title = o->title && *o->title, xlab = o->xlabel && *o->xlabel;

	/* the x range and the two y ranges */
	double x0 = INFINITY, x1 = -INFINITY;
	for (int k = 0; k < ns; k++)
		for (int i = 0; i < s[k].n; i++) {
			double xv = s[k].x ? s[k].x[i] : i;
			if (isfinite(xv) && !isnan(yval(s[k].y[i], logy && !s[k].y2))) {
				x0 = fmin(x0, xv);
				x1 = fmax(x1, xv);
			}
		}
	if (o->fix_x) {
		x0 = o->xmin;
		x1 = o->xmax;
	}
	int nodata = !(x0 <= x1);
	if (nodata) {
		x0 = 0;
		x1 = 1;
	}
	if (x1 == x0) {
		x0 -= 0.5;
		x1 += 0.5;
	}
	double ya[2][2] = { { 0, 1 }, { 0, 1 } };
	int has[2];
	for (int a = 0; a < 2; a++)
		has[a] = axis_range(s, ns, a, a == 0 && logy, &ya[a][0], &ya[a][1]);
	if (o->fix_y) {
		ya[0][0] = logy ? log10(o->ymin) : o->ymin;
		ya[0][1] = logy ? log10(o->ymax) : o->ymax;
		has[0] = 1;
	}
	for (int a = 0; a < 2; a++)
		if (!(ya[a][1] > ya[a][0])) {
			ya[a][0] -= 0.5;
			ya[a][1] += 0.5;
		}

	sl_cells *leg = braille_legend(s, ns, o, W, has[0]);

	/* ticks and their widths */
	double yt[2][MAX_TICKS];
	int nyt[2] = { 0, 0 }, yw[2] = { 0, 0 };
	char lab[2][MAX_TICKS][24];
	const int ph = H - title - leg->n - 2 - xlab;
	if (ph < 2) {
		sl_cells_free(leg);
		sl_errorf("plot: %dx%d is too small for the braille plot", W, H);
		return SL_ERR;
	}
	for (int a = 0; a < 2; a++) {
		if (a == 1 && !has[1])
			continue;
		nyt[a] = sl_plot_ticks(ya[a][0], ya[a][1], SL_MAX(2, ph / 3), yt[a], MAX_TICKS);
		for (int i = 0; i < nyt[a]; i++) {
			fmt_tick(lab[a][i], sizeof lab[a][i], yt[a][i], a == 0 && logy);
			yw[a] = SL_MAX(yw[a], (int)strlen(lab[a][i]));
		}
	}
	const int px = yw[0] + 1, rw = has[1] ? yw[1] + 1 : 0, pw = W - px - rw;
	if (pw < 4) {
		sl_cells_free(leg);
		sl_errorf("plot: %dx%d is too small for the braille plot", W, H);
		return SL_ERR;
	}

	/* the dots: (2 pw) x (4 ph), a mask and a colour per cell */
	canvas cv = { sl_xcalloc((size_t)pw * ph, 1), sl_xmalloc((size_t)pw * ph * sizeof(int16_t)), pw, ph };
	for (int i = 0; i < pw * ph; i++)
		cv.col[i] = SL_COLOR_DEFAULT;
	braille_draw(&cv, s, ns, o, x0, x1, ya);
	unsigned char *mask = cv.mask;
	int16_t *col = cv.col;
	const int PH = 4 * ph;

	/* the picture: title, legend, rows with their tick labels, the x axis */
	if (title)
		put_centered(sl_cells_add(out), o->title, W);
	for (int i = 0; i < leg->n; i++) {
		sl_cells_line *l = sl_cells_add(out);
		for (int j = 0; j < SL_MIN(leg->line[i].n, W); j++)
			sl_cells_putc(l, leg->line[i].cell[j].ch, leg->line[i].cell[j].fg, leg->line[i].cell[j].bg);
	}
	sl_cells_free(leg);
	int row_of[2][MAX_TICKS];
	for (int a = 0; a < 2; a++)
		for (int i = 0; i < nyt[a]; i++)
			row_of[a][i] = (int)lround((ya[a][1] - yt[a][i]) / (ya[a][1] - ya[a][0]) * (PH - 1)) / 4;
	for (int r = 0; r < ph; r++) {
		sl_cells_line *l = sl_cells_add(out);
		const char *left = "", *right = "";
		for (int i = 0; i < nyt[0]; i++)
			if (row_of[0][i] == r)
				left = lab[0][i];
		for (int i = 0; i < nyt[1]; i++)
			if (row_of[1][i] == r)
				right = lab[1][i];
		sl_cells_fill(l, ' ', yw[0] - (int)strlen(left), SL_COLOR_DEFAULT, SL_COLOR_DEFAULT);
		sl_cells_puts(l, left, -1, SL_COLOR_DEFAULT, SL_COLOR_DEFAULT);
		sl_cells_putc(l, *left ? 0x2524 : 0x2502, SL_COLOR_DEFAULT, SL_COLOR_DEFAULT); /* ┤ │ */
		for (int c = 0; c < pw; c++) {
			int i = r * pw + c;
			sl_cells_putc(l, mask[i] ? 0x2800u + mask[i] : ' ', mask[i] ? col[i] : SL_COLOR_DEFAULT,
				      SL_COLOR_DEFAULT);
		}
		if (has[1]) {
			sl_cells_putc(l, *right ? 0x251C : 0x2502, SL_COLOR_DEFAULT, SL_COLOR_DEFAULT); /* ├ │ */
			sl_cells_puts(l, right, -1, SL_COLOR_DEFAULT, SL_COLOR_DEFAULT);
		}
	}
	free(mask);
	free(col);
	braille_xaxis(out, x0, x1, yw[0], pw, W, has[1]);
	if (xlab)
		put_centered(sl_cells_add(out), o->xlabel, W);
	if (nodata) {
		const char *msg = "(no data)";
		int r = out->n - 2 - xlab - ph / 2 - 1;
		sl_cells_line *l = &out->line[SL_MAX(0, r)];
		int c0 = px + (pw - (int)strlen(msg)) / 2;
		for (int j = 0; msg[j] && c0 + j < l->n; j++)
			l->cell[c0 + j].ch = (unsigned char)msg[j];
	}
	return SL_OK;
}
