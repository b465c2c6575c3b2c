/* screen_draw.c - the screen's panes: layout, the log, the curves (gnuplot
 * or the text plotter), the heatmap, the status line, the prompt line and
 * the help box, painted from plain data (cells.h) into curses windows. */
#include "screen_int.h"

#include "seqlab/heatmap.h"
#include "seqlab/plot.h"
#include "seqlab/sweep.h"
#include "seqlab/workbench.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include <readline/readline.h>

const char *scr_question;

static const char *const pane_names[PANE_COUNT] = { "log", "curves", "heatmap" };

/* ---- layout ---------------------------------------------------------------- */

void scr_layout_compute(scr_layout *l, int cols, int lines, int zoom, int focus, int tab)
{
	memset(l, 0, sizeof *l);
	l->prompt = (scr_rect){ SL_MAX(lines - 1, 0), 0, lines > 0 ? 1 : 0, cols };
	if (cols < SCR_MIN_COLS || lines < SCR_MIN_LINES) {
		l->too_small = 1;
		return;
	}
	l->status = (scr_rect){ lines - 2, 0, 1, cols };
	int H = lines - 2;
	if (zoom && focus >= 0 && focus < PANE_COUNT) {
		l->pane[focus] = (scr_rect){ 0, 0, H, cols };
		return;
	}
	if (cols < SCR_WIDE_COLS || lines < SCR_TABS_LINES) {
		/* too small for three panes that can be read: one, with tabs */
		l->tabbed = 1;
		int shown = focus >= 0 && focus < PANE_COUNT ? focus : tab >= 0 && tab < PANE_COUNT ? tab : PANE_LOG;
		l->pane[shown] = (scr_rect){ 0, 0, H, cols };
		return;
	}
	if (cols >= SCR_WIDE_COLS) {
		/* log | curves over heatmap */
		l->wide = 1;
		int lw = cols * 42 / 100, rw = cols - lw - 1, ch = H / 2;
		l->pane[PANE_LOG] = (scr_rect){ 0, 0, H, lw };
		l->sep = (scr_rect){ 0, lw, H, 1 };
		l->pane[PANE_CURVES] = (scr_rect){ 0, lw + 1, ch, rw };
		l->pane[PANE_HEAT] = (scr_rect){ ch, lw + 1, H - ch, rw };
	} else {
		/* curves | heatmap above the log */
		int th = H / 2, cw = cols / 2;
		l->pane[PANE_CURVES] = (scr_rect){ 0, 0, th, cw };
		l->sep = (scr_rect){ 0, cw, th, 1 };
		l->pane[PANE_HEAT] = (scr_rect){ 0, cw + 1, th, cols - cw - 1 };
		l->pane[PANE_LOG] = (scr_rect){ th, 0, H - th, cols };
	}
}

static WINDOW *mkwin(const scr_rect *r)
{
	if (r->h <= 0 || r->w <= 0)
		return NULL;
	WINDOW *w = newwin(r->h, r->w, r->y, r->x);
	if (w)
		leaveok(w, TRUE);
	return w;
}

void scr_windows_free(scr *sc)
{
	for (int i = 0; i < PANE_COUNT; i++) {
		if (sc->win[i])
			delwin(sc->win[i]);
		sc->win[i] = NULL;
	}
	WINDOW **others[] = { &sc->sep_w, &sc->status_w, &sc->prompt_w, &sc->msg_w };
	for (size_t i = 0; i < SL_COUNT(others); i++) {
		if (*others[i])
			delwin(*others[i]);
		*others[i] = NULL;
	}
}

void scr_windows(scr *sc)
{
	scr_windows_free(sc);
	scr_layout_compute(&sc->lay, sc->cols, sc->lines, sc->zoom, sc->focus, sc->tab);
	pthread_mutex_lock(&sc->dmu);
	sc->log_w = sc->lay.pane[PANE_LOG].w;
	sc->log_h = SL_MAX(sc->lay.pane[PANE_LOG].h - 1, 0);
	if (sc->log_w > 0) /* help wrapped once, to the log pane (the caller holds the session lock) */
		sl_session_set_text_width(sc->s, sc->log_w - 1);
	sc->pub_status_w = sc->lay.status.w;
	sc->pub_curve_w = sc->lay.pane[PANE_CURVES].w;
	sc->pub_curve_h = SL_MAX(sc->lay.pane[PANE_CURVES].h - 1, 0);
	pthread_mutex_unlock(&sc->dmu);
	atomic_store(&sc->publish, 1);
	for (int i = 0; i < PANE_COUNT; i++)
		sc->win[i] = mkwin(&sc->lay.pane[i]);
	sc->sep_w = mkwin(&sc->lay.sep);
	sc->status_w = mkwin(&sc->lay.status);
	sc->prompt_w = mkwin(&sc->lay.prompt);
	if (sc->prompt_w)
		leaveok(sc->prompt_w, FALSE);
	sc->heat_w = 0;
	sc->dirty_all = 1;
}

static void draw_help(scr *sc);

/* ---- colours and painting -------------------------------------------------- */

void scr_colors_init(scr *sc)
{
	sc->color = 0;
	if (getenv("NO_COLOR") || !has_colors())
		return;
	if (start_color() == ERR)
		return;
	use_default_colors();
	sc->color = COLORS >= 256;
}

static int pair_of(const scr *sc, int fg, int bg)
{
	if (!sc->color || (fg < 0 && bg < 0))
		return 0;
	int p = alloc_pair(fg, bg);
	return p < 0 ? 0 : p;
}

static void put_cell(const scr *sc, WINDOW *w, int y, int x, uint32_t ch, int fg, int bg, attr_t attr)
{
	cchar_t cc;
	wchar_t wc[2] = { (wchar_t)ch, 0 };
	int pair = pair_of(sc, fg, bg);
	if (ch < ' ' || (ch >= 0x7f && ch < 0xa0))
		wc[0] = '?';
	setcchar(&cc, wc, attr, 0, &pair);
	mvwadd_wch(w, y, x, &cc);
}

void scr_paint(scr *sc, WINDOW *win, const sl_cells *c, int first, int y, int x, int h, int w)
{
	for (int i = 0; i < h && first + i < c->n; i++) {
		if (first + i < 0)
			continue;
		const sl_cells_line *l = &c->line[first + i];
		for (int j = 0; j < l->n && j < w; j++)
			put_cell(sc, win, y + i, x + j, l->cell[j].ch, l->cell[j].fg, l->cell[j].bg, A_NORMAL);
	}
}

/* UTF-8 text at (y, x), at most w cells; returns the cells written. */
static int put_text(const scr *sc, WINDOW *win, int y, int x, const char *text, int w, int fg, attr_t attr)
{
	sl_cells *c = sl_cells_new();
	sl_cells_line *l = sl_cells_add(c);
	sl_cells_puts(l, text, w, fg, SL_COLOR_DEFAULT);
	for (int j = 0; j < l->n; j++)
		put_cell(sc, win, y, x + j, l->cell[j].ch, l->cell[j].fg, l->cell[j].bg, attr);
	int n = l->n;
	sl_cells_free(c);
	return n;
}

/* Rules: box-drawing characters in a UTF-8 locale, else ASCII (the
 * terminal's alternate character set is not used: it does not survive every
 * multiplexer and capture). */
static uint32_t hrule(void)
{
	return MB_CUR_MAX > 1 ? 0x2500 : '-';
}

static uint32_t vrule(void)
{
	return MB_CUR_MAX > 1 ? 0x2502 : '|';
}

/* A pane's first row: its name (highlighted when focused), then info. */
static void header(scr *sc, int pane, const char *info)
{
	WINDOW *w = sc->win[pane];
	int width = sc->lay.pane[pane].w;
	for (int x = 0; x < width; x++)
		put_cell(sc, w, 0, x, hrule(), -1, -1, A_NORMAL);
	int focused = sc->focus == pane;
	attr_t a = focused ? A_REVERSE | A_BOLD : A_BOLD;
	int x = 1;
	if (sc->lay.tabbed) {
		/* the tabs: the pane shown, then the others dim */
		for (int i = 0; i < PANE_COUNT && x < width - 2; i++) {
			attr_t t = i == pane ? a | A_UNDERLINE : A_DIM;
			x += put_text(sc, w, 0, x, i == pane ? "[" : " ", 1, -1, t);
			x += put_text(sc, w, 0, x, pane_names[i], width - x - 1, -1, t);
			x += put_text(sc, w, 0, x, i == pane ? "]" : " ", 1, -1, t);
		}
		if (x + 8 < width)
			x += put_text(sc, w, 0, x, " F6 ", 4, -1, A_DIM);
	} else {
		x += put_text(sc, w, 0, x, " ", 1, -1, a);
		x += put_text(sc, w, 0, x, pane_names[pane], width - x - 1, -1, a);
		x += put_text(sc, w, 0, x, " ", 1, -1, a);
	}
	if (info && *info && x + 3 < width) {
		x += put_text(sc, w, 0, x + 1, " ", 1, -1, A_NORMAL) + 1;
		x += put_text(sc, w, 0, x, info, width - x - 2, -1, A_NORMAL);
		put_text(sc, w, 0, x, " ", 1, -1, A_NORMAL);
	}
}

/* ---- the log --------------------------------------------------------------- */

/* Wraps a line of cells at w columns, after the last blank that fits (else
 * at w). Returns the number of rows; start (may be NULL, else max entries)
 * receives the first cell of each row. */
static int wrap(const sl_cells_line *l, int w, int *start, int max)
{
	int rows = 0, i = 0;
	w = SL_MAX(w, 1);
	do {
		if (start && rows < max)
			start[rows] = i;
		rows++;
		if (l->n - i <= w)
			break;
		int end = i + w, b = end;
		while (b > i && l->cell[b].ch != ' ')
			b--;
		i = b > i ? b + 1 : end;
	} while (i < l->n);
	return rows;
}

/* The rows a log line takes at width w (cached). */
static int rows_of(scr_logline *l, int w)
{
	if (l->rows_w != w) {
		if (l->width <= w) {
			l->rows = 1;
		} else {
			sl_cells *c = sl_cells_new();
			sl_cells_line *cl = sl_cells_add(c);
			sl_cells_puts(cl, l->text, -1, -1, -1);
			l->rows = wrap(cl, w, NULL, 0);
			sl_cells_free(c);
		}
		l->rows_w = w;
	}
	return l->rows;
}

void scr_log_add(scr *sc, int kind, const char *text)
{
	pthread_mutex_lock(&sc->dmu);
	if (sc->nlog == SCR_LOG_MAX) {
		free(sc->log[0].text);
		memmove(sc->log, sc->log + 1, (size_t)(sc->nlog - 1) * sizeof *sc->log);
		sc->nlog--;
		if (sc->search_hit >= 0)
			sc->search_hit--;
	}
	if (sc->nlog == sc->caplog) {
		sc->caplog = sc->caplog ? 2 * sc->caplog : 256;
		sc->log = sl_xrealloc(sc->log, (size_t)sc->caplog * sizeof *sc->log);
	}
	scr_logline *l = &sc->log[sc->nlog++];
	l->text = sl_xstrdup(text);
	l->kind = kind;
	l->width = sl_cells_strwidth(text);
	l->rows_w = 0;
	/* a log scrolled back stays where it is */
	if (sc->log_scroll > 0 && sc->log_w > 0)
		sc->log_scroll += rows_of(l, sc->log_w);
	pthread_mutex_unlock(&sc->dmu);
	atomic_store(&sc->dirty_log, 1);
}

void scr_log_free(scr *sc)
{
	for (int i = 0; i < sc->nlog; i++)
		free(sc->log[i].text);
	free(sc->log);
	sc->log = NULL;
	sc->nlog = sc->caplog = 0;
}


/* The log's rows at the pane's width (dmu held). */
static int log_rows(scr *sc)
{
	int w = sc->log_w, n = 0;
	if (w <= 0)
		return 0;
	for (int i = 0; i < sc->nlog; i++)
		n += rows_of(&sc->log[i], w);
	return n;
}

int scr_page(const scr *sc, int pane)
{
	return SL_MAX(sc->lay.pane[pane].h - 2, 1);
}

/* dmu held */
static void clamp_log(scr *sc)
{
	int max = SL_MAX(log_rows(sc) - sc->log_h, 0);
	sc->log_scroll = SL_MAX(0, SL_MIN(sc->log_scroll, max));
}

void scr_log_scroll(scr *sc, int rows)
{
	pthread_mutex_lock(&sc->dmu);
	if (rows == INT_MAX)
		sc->log_scroll = INT_MAX / 2;
	else if (rows == -INT_MAX)
		sc->log_scroll = 0;
	else
		sc->log_scroll += rows;
	clamp_log(sc);
	pthread_mutex_unlock(&sc->dmu);
	atomic_store(&sc->dirty_log, 1);
}

/* Shows log line i: scrolls so that it is on the screen, near the middle
 * (dmu held). */
static void show_line(scr *sc, int i)
{
	int w = sc->log_w, h = sc->log_h;
	if (w <= 0)
		return;
	int below = 0;
	for (int k = i + 1; k < sc->nlog; k++)
		below += rows_of(&sc->log[k], w);
	sc->log_scroll = SL_MAX(below - h / 2, 0);
	clamp_log(sc);
	atomic_store(&sc->dirty_log, 1);
}

/* dmu held */
static int search(scr *sc, const char *pattern, int dir)
{
	int start = sc->search_hit >= 0 ? sc->search_hit : sc->nlog;
	if (sc->search_hit < 0 && dir < 0)
		start = -1;
	for (int k = 1; k <= sc->nlog; k++) {
		int i = dir > 0 ? start - k : start + k;
		i = ((i % sc->nlog) + sc->nlog) % sc->nlog;
		if (strcasestr(sc->log[i].text, pattern)) {
			sc->search_hit = i;
			show_line(sc, i);
			return 1;
		}
	}
	return 0;
}

int scr_log_search(scr *sc, const char *pattern, int dir, int restart)
{
	pthread_mutex_lock(&sc->dmu);
	int found = 0;
	if (restart)
		sc->search_hit = -1;
	if (pattern && *pattern && sc->nlog)
		found = search(sc, pattern, dir);
	pthread_mutex_unlock(&sc->dmu);
	return found;
}

/* Text in the terminal's own colours; the few colours used read on a dark
 * and on a light background alike (no pale greys or yellows). */
static void log_style(const scr *sc, int kind, int *fg, attr_t *a)
{
	*fg = -1;
	*a = A_NORMAL;
	switch (kind) {
	case SL_OUT_ERROR:
		*fg = sc->color ? 160 : -1;
		*a = sc->color ? A_NORMAL : A_BOLD;
		break;
	case LOG_ECHO:
		*fg = sc->color ? 33 : -1;
		*a = A_BOLD;
		break;
	case LOG_NOTE:
		*fg = sc->color ? 130 : -1;
		break;
	default: /* results and text: the terminal's default colour */
		break;
	}
}

static void draw_log(scr *sc)
{
	WINDOW *win = sc->win[PANE_LOG];
	const scr_rect *r = &sc->lay.pane[PANE_LOG];
	if (!win)
		return;
	pthread_mutex_lock(&sc->dmu);
	clamp_log(sc);
	werase(win);
	char info[64] = "";
	if (sc->log_scroll > 0)
		snprintf(info, sizeof info, "scrolled back %d (End: follow)", sc->log_scroll);
	header(sc, PANE_LOG, info);
	int w = r->w, h = r->h - 1;
	if (w <= 0 || h <= 0)
		return;
	/* bottom: the row of the last line's last part; a log shorter than the
	 * pane starts at its top */
	int total = log_rows(sc);
	int bottom = total < h ? total - 1 : h - 1 + sc->log_scroll;
	sl_cells *c = sl_cells_new();
	int *start = sl_xmalloc((size_t)(h + 1) * sizeof *start);
	for (int i = sc->nlog - 1; i >= 0 && bottom >= 0; i--) {
		scr_logline *l = &sc->log[i];
		int n = rows_of(l, w), top = bottom - n + 1;
		if (top < h) {
			sl_cells_clear(c);
			sl_cells_line *cl = sl_cells_add(c);
			int fg;
			attr_t a;
			log_style(sc, l->kind, &fg, &a);
			if (i == sc->search_hit)
				a |= A_REVERSE;
			sl_cells_puts(cl, l->text, -1, fg, SL_COLOR_DEFAULT);
			/* rows above the pane are skipped: only the last h starts matter */
			int k0 = SL_MAX(0, -top);
			int *st = n <= h + 1 ? start : sl_xmalloc((size_t)n * sizeof *st);
			wrap(cl, w, st, n);
			for (int k = k0; k < n; k++) {
				int row = top + k;
				if (row >= h)
					break;
				int end = k + 1 < n ? st[k + 1] : cl->n;
				for (int j = st[k], x = 0; j < end && x < w; j++, x++)
					put_cell(sc, win, 1 + row, x, cl->cell[j].ch, cl->cell[j].fg, -1, a);
			}
			if (st != start)
				free(st);
		}
		bottom = top - 1;
	}
	free(start);
	sl_cells_free(c);
	pthread_mutex_unlock(&sc->dmu);
}

/* ---- curves ---------------------------------------------------------------- */

static uint64_t mix(uint64_t h, uint64_t v)
{
	return (h ^ v) * 1099511628211u; /* FNV-1a's prime */
}

/* Everything the curve pane's picture depends on (under the session lock). */
static uint64_t curve_signature(scr *sc, int w, int h)
{
	sl_workbench *wb = sl_session_workbench(sc->s);
	const sl_plot_spec *p = sl_display_spec(sc->s);
	uint64_t sig = 14695981039346656037u;
	const unsigned char *b = (const unsigned char *)p;
	for (size_t i = 0; i < sizeof *p; i++)
		sig = mix(sig, b[i]);
	sig = mix(sig, (uint64_t)w);
	sig = mix(sig, (uint64_t)h);
	sig = mix(sig, (uint64_t)sc->color);
	int n = sl_workbench_nruns(wb);
	sig = mix(sig, (uint64_t)n);
	for (int i = 0; i < n; i++) {
		const sl_run *r = sl_workbench_run_at(wb, i);
		sig = mix(sig, (uintptr_t)r);
		sig = mix(sig, (uint64_t)r->nsteps);
		sig = mix(sig, (uint64_t)r->nevals);
		sig = mix(sig, (uint64_t)r->nlen);
		sig = mix(sig, (uintptr_t)r->len); /* a new table */
	}
	sl_sweep_progress sp;
	if (p->sweep[0] && sl_workbench_sweep_progress(sc->s, &sp)) /* a point's curves came */
		sig = mix(sig, (uint64_t)sp.done);
	return sig | 1;
}

/* At most max points: means over equal runs of points. */
static int downsample(const double *x, const double *y, int n, int max, double *ox, double *oy)
{
	if (n <= max) {
		memcpy(ox, x, (size_t)n * sizeof *ox);
		memcpy(oy, y, (size_t)n * sizeof *oy);
		return n;
	}
	int m = 0;
	for (int b = 0; b < max; b++) {
		int i0 = (int)((long long)n * b / max), i1 = (int)((long long)n * (b + 1) / max);
		double sx = 0, sy = 0;
		int k = 0;
		for (int i = i0; i < i1; i++)
			if (isfinite(y[i])) {
				sx += x[i];
				sy += y[i];
				k++;
			}
		if (k) {
			ox[m] = sx / k;
			oy[m++] = sy / k;
		}
	}
	return m;
}

static void hint(sl_cells *c, const char *const *lines)
{
	for (int i = 0; lines[i]; i++)
		sl_cells_puts(sl_cells_add(c), lines[i], -1, SL_COLOR_DEFAULT, SL_COLOR_DEFAULT);
}

void scr_curve_axes(const sl_curves *cv, sl_series *ser, double **ys, char (*names)[128])
{
	int losses = 0, rates = 0, lr = 0;
	for (int i = 0; i < cv->n; i++) {
		int k = cv->c[i].series;
		losses |= k == SL_SERIES_LOSS || k == SL_SERIES_VAL_LOSS;
		rates |= k == SL_SERIES_VAL_ACC || k == SL_SERIES_CER;
		lr |= k == SL_SERIES_LR;
	}
	for (int i = 0; i < cv->n; i++) {
		int k = cv->c[i].series;
		snprintf(names[i], sizeof names[0], "%s", cv->c[i].name);
		ser[i].name = names[i];
		ser[i].y2 = (losses && (k == SL_SERIES_VAL_ACC || k == SL_SERIES_CER)) ||
			    (k == SL_SERIES_LR && (losses || rates));
		if (k == SL_SERIES_LR && rates) {
			/* beside accuracy on the right: as a fraction of its peak */
			double peak = 0;
			for (int j = 0; j < ser[i].n; j++)
				if (isfinite(ys[i][j]))
					peak = fmax(peak, ys[i][j]);
			for (int j = 0; peak > 0 && j < ser[i].n; j++)
				ys[i][j] /= peak;
			snprintf(names[i], sizeof names[0], "%.90s / %.2g", cv->c[i].name, peak);
		}
	}
}

void scr_curve_marks(const sl_curves *cv, sl_plot_opts *o)
{
	if (cv->yfixed) {
		o->fix_y = 1;
		o->ymin = cv->ylo;
		o->ymax = cv->yhi;
	}
	o->nmarks = SL_MIN(cv->nmarks, 4);
	for (int i = 0; i < o->nmarks; i++) {
		o->mark_x[i] = cv->mark[i];
		o->mark_label[i] = cv->mark_label[i];
	}
}

/* A plot came (or was drawn at once): it replaces the picture shown. st is
 * sl_gnuplot_send's or sl_gnuplot_collect's result; info its header. */
static void curves_show(scr *sc, int st, const char *info)
{
	sl_cells *c = sc->curve_next;
	if (st == SL_ERR) {
		sl_cells_clear(c);
		sl_cells_puts(sl_cells_add(c), "", -1, -1, -1);
		char msg[512];
		snprintf(msg, sizeof msg, " (%s)", sl_error());
		sl_cells_puts(sl_cells_add(c), msg, -1, -1, -1);
	}
	sc->curve_next = sc->curve_cells;
	sc->curve_cells = c;
	sl_cells_clear(sc->curve_next);
	sc->curve_text = st == SL_GNUPLOT_TEXT;
	snprintf(sc->curve_info, sizeof sc->curve_info, "%s", info);
	sc->curve_fresh = 1;
	const char *note = sl_gnuplot_notice(sc->gp);
	if (note)
		scr_log_add(sc, LOG_NOTE, note);
}

/* Sends sc->curve_data to gnuplot (main thread, no lock: the data is its
 * own copy), or shows it at once when gnuplot has nothing to do: a hint
 * when there are no curves, the text plotter's when gnuplot is not usable. */
static void curves_send(scr *sc, int w, int h)
{
	if (!sc->curve_cells)
		sc->curve_cells = sl_cells_new();
	if (!sc->curve_next)
		sc->curve_next = sl_cells_new();
	sc->curve_want = 0;
	sl_cells *out = sc->curve_next;
	sl_cells_clear(out);
	const sl_curves *cv = &sc->curve_data;
	if (cv->n == 0) {
		static const char *const msg[] = {
			"", " No curves yet: train a run (task, model, train).",
			" 'plot' chooses what is drawn here.", NULL };
		hint(out, msg);
		curves_show(sc, SL_OK, sc->data_info);
		return;
	}
	sl_series *ser = sl_xcalloc((size_t)cv->n, sizeof *ser);
	char (*names)[128] = sl_xcalloc((size_t)cv->n, sizeof *names);
	double **bx = sl_xcalloc((size_t)cv->n, sizeof *bx), **by = sl_xcalloc((size_t)cv->n, sizeof *by);
	int max = SL_MAX(sc->braille ? 4 * w : 2 * w, 16);
	for (int i = 0; i < cv->n; i++) {
		int n = SL_MIN(cv->c[i].n, max);
		bx[i] = sl_xmalloc((size_t)(n ? n : 1) * sizeof **bx);
		by[i] = sl_xmalloc((size_t)(n ? n : 1) * sizeof **by);
		ser[i].name = cv->c[i].name;
		ser[i].n = downsample(cv->c[i].x, cv->c[i].y, cv->c[i].n, max, bx[i], by[i]);
		ser[i].x = bx[i];
		ser[i].y = by[i];
	}
	scr_curve_axes(cv, ser, by, names);
	sl_plot_opts o = { .width = w, .height = h, .logy = sc->curve_logy, .color = sc->color };
	scr_curve_marks(cv, &o);
	if (strcmp(cv->xlabel, "step")) /* the pane's header names the series; x is the odd one */
		o.xlabel = cv->xlabel;
	if (sc->braille) {
		/* drawn here at once: 2 x 4 dots a cell, no round trip */
		int st = sl_plot_render_braille(out, ser, cv->n, &o);
		curves_show(sc, st == SL_OK ? SL_OK : SL_ERR, sc->data_info);
	} else {
		int st = sl_gnuplot_send(sc->gp, out, ser, cv->n, &o);
		if (st == SL_OK)
			snprintf(sc->sent_info, sizeof sc->sent_info, "%s", sc->data_info);
		else
			curves_show(sc, st, sc->data_info);
	}
	free(names);
	for (int i = 0; i < cv->n; i++) {
		free(bx[i]);
		free(by[i]);
	}
	free(bx);
	free(by);
	free(ser);
}

int scr_curves_collect(scr *sc)
{
	if (!sl_gnuplot_pending(sc->gp))
		return 0;
	int st = sl_gnuplot_collect(sc->gp, sc->curve_next);
	if (st == SL_GNUPLOT_PENDING)
		return 0;
	curves_show(sc, st, sc->sent_info);
	return sc->win[PANE_CURVES] != NULL;
}

/* Takes newly published curves and has them plotted, one plot at a time:
 * the newest data goes to gnuplot once the answer in flight is in, and the
 * pane shows the last picture until then. Paints the pane when a new
 * picture came or when all is set. Returns 1 if it painted. */
static int draw_curves(scr *sc, int all)
{
	WINDOW *win = sc->win[PANE_CURVES];
	const scr_rect *r = &sc->lay.pane[PANE_CURVES];
	if (!win)
		return 0;
	pthread_mutex_lock(&sc->dmu);
	if (sc->snap_gen != sc->snap_drawn) {
		/* take the data: the publisher keeps only its signature */
		sl_curves_free(&sc->curve_data);
		sc->curve_data = sc->snap;
		sc->snap.c = NULL;
		sc->snap.n = 0;
		sc->curve_logy = sc->snap_logy;
		snprintf(sc->data_info, sizeof sc->data_info, "%s", sc->snap_info);
		sc->snap_drawn = sc->snap_gen;
		sc->curve_want = 1;
	}
	pthread_mutex_unlock(&sc->dmu);
	int w = r->w, h = r->h - 1;
	scr_curves_collect(sc);
	if ((sc->curve_want || !sc->curve_cells) && !sl_gnuplot_pending(sc->gp))
		curves_send(sc, w, h);
	if (!sc->curve_fresh && !all)
		return 0;
	sc->curve_fresh = 0;
	werase(win);
	char info[200];
	snprintf(info, sizeof info, "%s%s", sc->curve_info, sc->curve_text ? " (text plotter)" : "");
	header(sc, PANE_CURVES, info);
	if (sc->curve_cells) {
		int maxs = SL_MAX(sc->curve_cells->n - h, 0);
		sc->curve_scroll = SL_MAX(0, SL_MIN(sc->curve_scroll, maxs));
		scr_paint(sc, win, sc->curve_cells, sc->curve_scroll, 1, 0, h, w);
	}
	wnoutrefresh(win);
	return 1;
}

/* ---- the heatmap ----------------------------------------------------------- */

void scr_view_free(scr_view *v)
{
	free(v->caption);
	for (int i = 0; i < v->nstrings; i++)
		free(v->strings[i]);
	free(v->strings);
	for (int i = 0; i < v->n; i++)
		free(v->data[i]);
	free(v->data);
	free(v->m);
	memset(v, 0, sizeof *v);
}

static const char *keep_str(scr_view *v, const char *s)
{
	if (!s)
		return NULL;
	v->strings = sl_xrealloc(v->strings, (size_t)(v->nstrings + 1) * sizeof *v->strings);
	return v->strings[v->nstrings++] = sl_xstrdup(s);
}

static const char *const *keep_labels(scr_view *v, const char *const *labels, int n)
{
	if (!labels)
		return NULL;
	/* an array of n pointers, kept as one more string-sized allocation */
	const char **a = sl_xcalloc((size_t)n + 1, sizeof *a);
	for (int i = 0; i < n; i++)
		a[i] = keep_str(v, labels[i]);
	v->strings = sl_xrealloc(v->strings, (size_t)(v->nstrings + 1) * sizeof *v->strings);
	v->strings[v->nstrings++] = (char *)a;
	return a;
}

void scr_view_set(scr *sc, const sl_view *in, int keep_place)
{
	pthread_mutex_lock(&sc->dmu);
	scr_view *v = &sc->view;
	scr_view_free(v);
	v->caption = in->caption ? sl_xstrdup(in->caption) : NULL;
	v->n = in->n;
	v->m = sl_xcalloc((size_t)(in->n ? in->n : 1), sizeof *v->m);
	v->data = sl_xcalloc((size_t)(in->n ? in->n : 1), sizeof *v->data);
	for (int i = 0; i < in->n; i++) {
		const sl_view_matrix *m = &in->m[i];
		sl_view_matrix *o = &v->m[i];
		*o = *m;
		size_t nv = (size_t)m->rows * (size_t)m->cols;
		v->data[i] = sl_xmalloc((nv ? nv : 1) * sizeof(float));
		memcpy(v->data[i], m->v, nv * sizeof(float));
		o->v = v->data[i];
		o->title = keep_str(v, m->title);
		o->row_labels = keep_labels(v, m->row_labels, m->rows);
		o->col_labels = keep_labels(v, m->col_labels, m->cols);
	}
	sc->have_view = 1;
	sc->view_gen++;
	sc->view_keep = keep_place;
	pthread_mutex_unlock(&sc->dmu);
}

static void render_heat(scr *sc, int w)
{
	if (!sc->heat_cells)
		sc->heat_cells = sl_cells_new();
	sl_cells *out = sc->heat_cells;
	sl_cells_clear(out);
	if (!sc->have_view) {
		static const char *const msg[] = {
			"", " 'attn RUN WORD' shows attention weights here;",
			" 'watch attn RUN WORD' redraws them as the run trains.", NULL };
		hint(out, msg);
		return;
	}
	scr_view *v = &sc->view;
	if (v->caption) {
		/* the caption, wrapped */
		sl_cells *tmp = sl_cells_new();
		sl_cells_line *l = sl_cells_add(tmp);
		sl_cells_puts(l, v->caption, -1, -1, -1);
		int n = wrap(l, w, NULL, 0);
		int *start = sl_xmalloc((size_t)n * sizeof *start);
		wrap(l, w, start, n);
		for (int r = 0; r < n; r++) {
			sl_cells_line *o = sl_cells_add(out);
			int end = r + 1 < n ? start[r + 1] : l->n;
			for (int j = start[r]; j < end && j - start[r] < w; j++)
				sl_cells_putc(o, l->cell[j].ch, -1, -1);
		}
		free(start);
		sl_cells_free(tmp);
	}
	sl_heatmap *hm = sl_xcalloc((size_t)(v->n ? v->n : 1), sizeof *hm);
	for (int i = 0; i < v->n; i++) {
		const sl_view_matrix *m = &v->m[i];
		hm[i] = (sl_heatmap){ .v = m->v, .rows = m->rows, .cols = m->cols, .row_labels = m->row_labels,
				      .col_labels = m->col_labels, .title = m->title, .fixed = m->fixed,
				      .lo = m->lo, .hi = m->hi };
	}
	sl_heatmap_opts o = { .style = sc->color ? SL_HEATMAP_COLOR256 : SL_HEATMAP_MONO, .width = w };
	sc->heat_single = 0;
	sc->heat_y0 = out->n;
	int st = v->n == 1 ? sl_heatmap_render(out, &hm[0], &o, &sc->heat_lay) : sl_heatmap_grid(out, hm, v->n, &o);
	if (st == SL_OK && v->n == 1 && sc->heat_lay.nrows > 0 && sc->heat_lay.ncols > 0) {
		const sl_heatmap_layout *L = &sc->heat_lay;
		sc->heat_single = 1;
		sc->cur_i = SL_MAX(L->row0, SL_MIN(sc->cur_i, L->row0 + L->nrows - 1));
		sc->cur_j = SL_MAX(L->col0, SL_MIN(sc->cur_j, L->col0 + L->ncols - 1));
	}
	if (st != SL_OK) {
		char msg[512];
		snprintf(msg, sizeof msg, "(%s)", sl_error());
		sl_cells_puts(sl_cells_add(out), msg, -1, -1, -1);
	}
	free(hm);
}

/* Renders the heatmap when a view came or the width changed; paints it
 * then, or when all is set. Returns 1 if it painted. */
static int draw_heat(scr *sc, int all)
{
	WINDOW *win = sc->win[PANE_HEAT];
	const scr_rect *r = &sc->lay.pane[PANE_HEAT];
	if (!win)
		return 0;
	int w = r->w, h = r->h - 1;
	pthread_mutex_lock(&sc->dmu);
	int fresh = sc->view_gen != sc->view_drawn || sc->heat_w != w || !sc->heat_cells;
	if (fresh) {
		if (sc->view_gen != sc->view_drawn && !sc->view_keep)
			sc->heat_scroll = 0;
		render_heat(sc, w);
		sc->heat_w = w;
		sc->view_drawn = sc->view_gen;
	}
	if (!fresh && !all) {
		pthread_mutex_unlock(&sc->dmu);
		return 0;
	}
	char info[200];
	int cursor = sc->focus == PANE_HEAT && sc->heat_single && sc->have_view;
	if (cursor) {
		/* the value under the cursor */
		const sl_view_matrix *m = &sc->view.m[0];
		char rl[16], cl[16];
		snprintf(rl, sizeof rl, "%d", sc->cur_i);
		snprintf(cl, sizeof cl, "%d", sc->cur_j);
		snprintf(info, sizeof info, "row %s, column %s: %.4g (arrows move)",
			 m->row_labels && m->row_labels[sc->cur_i] ? m->row_labels[sc->cur_i] : rl,
			 m->col_labels && m->col_labels[sc->cur_j] ? m->col_labels[sc->cur_j] : cl,
			 m->v[(size_t)sc->cur_i * (size_t)m->cols + (size_t)sc->cur_j]);
	} else {
		snprintf(info, sizeof info, "%s", sc->heat_info);
	}
	pthread_mutex_unlock(&sc->dmu);
	werase(win);
	header(sc, PANE_HEAT, info);
	int maxs = SL_MAX(sc->heat_cells->n - h, 0);
	sc->heat_scroll = SL_MAX(0, SL_MIN(sc->heat_scroll, maxs));
	scr_paint(sc, win, sc->heat_cells, sc->heat_scroll, 1, 0, h, w);
	if (cursor) {
		const sl_heatmap_layout *L = &sc->heat_lay;
		int at = sc->heat_y0 + L->y + sc->cur_i - L->row0, line = at - sc->heat_scroll;
		int x = L->x + (sc->cur_j - L->col0) * L->cell_width;
		if (line >= 0 && line < h && at < sc->heat_cells->n) {
			const sl_cells_line *cl = &sc->heat_cells->line[at];
			for (int k = 0; k < L->cell_width && x + k < w; k++) {
				uint32_t ch = x + k < cl->n ? cl->cell[x + k].ch : ' ';
				if (k == L->cell_width / 2)
					ch = '+';
				put_cell(sc, win, 1 + line, x + k, ch, -1, -1, A_REVERSE | A_BOLD);
			}
		}
	}
	if (maxs > 0 && sc->heat_scroll < maxs)
		put_text(sc, win, r->h - 1, SL_MAX(w - 12, 0), " more below ", 12, -1, A_REVERSE);
	wnoutrefresh(win);
	return 1;
}

/* ---- scrolling ------------------------------------------------------------- */

int scr_heat_cursor(scr *sc, int di, int dj)
{
	pthread_mutex_lock(&sc->dmu);
	int have = sc->have_view;
	pthread_mutex_unlock(&sc->dmu);
	if (!sc->heat_single || !have)
		return 0;
	const sl_heatmap_layout *L = &sc->heat_lay;
	sc->cur_i = SL_MAX(L->row0, SL_MIN(sc->cur_i + di, L->row0 + L->nrows - 1));
	sc->cur_j = SL_MAX(L->col0, SL_MIN(sc->cur_j + dj, L->col0 + L->ncols - 1));
	/* keep the cursor's line on the pane */
	int line = sc->heat_y0 + L->y + sc->cur_i - L->row0, h = sc->lay.pane[PANE_HEAT].h - 1;
	if (line < sc->heat_scroll)
		sc->heat_scroll = line;
	else if (h > 0 && line >= sc->heat_scroll + h)
		sc->heat_scroll = line - h + 1;
	sc->dirty_all = 1;
	return 1;
}

void scr_scroll(scr *sc, int pane, int rows)
{
	/* rows > 0: back (up) */
	if (pane == PANE_LOG) {
		scr_log_scroll(sc, rows);
		return;
	}
	int *off = pane == PANE_CURVES ? &sc->curve_scroll : &sc->heat_scroll;
	if (rows == INT_MAX)
		*off = 0;
	else if (rows == -INT_MAX)
		*off = INT_MAX / 2; /* clamped when drawn */
	else
		*off = SL_MAX(0, *off - rows);
	sc->dirty_all = 1;
}

/* ---- the status line ------------------------------------------------------- */

static void fmt_time(char *buf, size_t n, double s)
{
	if (!isfinite(s) || s < 0)
		snprintf(buf, n, "?");
	else if (s < 3600)
		snprintf(buf, n, "%d:%02d", (int)s / 60, (int)s % 60);
	else
		snprintf(buf, n, "%d:%02d:%02d", (int)s / 3600, (int)s / 60 % 60, (int)s % 60);
}

/* Smoothed recent loss: EMA (w = 0.9) over the last 100 steps, debiased. */
static double recent_loss(const sl_run *r)
{
	int i0 = SL_MAX(r->nsteps - 100, 0);
	double m = 0, wk = 1;
	for (int i = i0; i < r->nsteps; i++) {
		if (!isfinite(r->loss[i]))
			continue;
		m = 0.9 * m + 0.1 * r->loss[i];
		wk *= 0.9;
	}
	return wk < 1 ? m / (1 - wk) : NAN;
}

/* The status line, W columns wide, into line (under the session lock). */
static void format_status(scr *sc, int W, char *line, size_t size)
{
	sl_train_progress p;
	sl_workbench_progress(sc->s, &p);
	sl_workbench *wb = sl_session_workbench(sc->s);
	const sl_run *r = p.run;
	if (r)
		snprintf(sc->last_run, sizeof sc->last_run, "%s", r->name);
	else if (sc->last_run[0])
		r = sl_workbench_run(wb, sc->last_run);
	if (!r && sl_workbench_nruns(wb))
		r = sl_workbench_run_at(wb, sl_workbench_nruns(wb) - 1);
	/* fields in order of importance; each shown if it fits */
	char f[10][96];
	int nf = 0;
	const char *state = p.run ? "training" : sc->state;
	sl_sweep_progress sp;
	int sweeping = sl_workbench_sweep_progress(sc->s, &sp);
	if (sweeping) {
		/* a sweep: its points, not a run's steps */
		snprintf(f[nf++], sizeof f[0], "sweep %s running", sp.name);
		snprintf(f[nf++], sizeof f[0], "points %d/%d", sp.done, sp.points);
		snprintf(f[nf++], sizeof f[0], "%d worker%s", sp.running, sp.running == 1 ? "" : "s");
		if (sp.failed)
			snprintf(f[nf++], sizeof f[0], "%d failed", sp.failed);
		char t[32];
		if (sp.eta >= 0) {
			fmt_time(t, sizeof t, sp.eta);
			snprintf(f[nf++], sizeof f[0], "ETA %s", t);
		} else {
			fmt_time(t, sizeof t, sp.elapsed);
			snprintf(f[nf++], sizeof f[0], "%s (ETA after the first point)", t);
		}
		p.fraction = sp.todo ? (double)sp.finished / sp.todo : -1;
	} else if (r) {
		snprintf(f[nf++], sizeof f[0], "%s %s", r->name, state);
		snprintf(f[nf++], sizeof f[0], "step %lld", (long long)r->step);
		snprintf(f[nf++], sizeof f[0], "epoch %lld", (long long)r->epoch);
		double l = recent_loss(r);
		/* not the evaluation lines' loss= (a mean since the last one): named apart */
		if (isfinite(l))
			snprintf(f[nf++], sizeof f[0], "ema loss %.4f", l);
		if (r->nevals && !p.run)
			snprintf(f[nf++], sizeof f[0], "val_acc %.4f", r->evals[r->nevals - 1].val_acc);
		if (r->nsteps)
			snprintf(f[nf++], sizeof f[0], "lr %.2e", r->lr[r->nsteps - 1]);
		if (p.run && p.words_per_s > 0)
			snprintf(f[nf++], sizeof f[0], "%.0f words/s", p.words_per_s);
		if (p.run && p.fraction > 0.01) {
			char t[32];
			fmt_time(t, sizeof t, p.elapsed * (1 - p.fraction) / p.fraction);
			snprintf(f[nf++], sizeof f[0], "ETA %s", t);
		} else if (p.run) {
			char t[32];
			fmt_time(t, sizeof t, p.elapsed);
			snprintf(f[nf++], sizeof f[0], "%s", t);
		}
	} else {
		snprintf(f[nf++], sizeof f[0], "no runs yet: task piglatin; model t = transformer; train t 10 epochs");
	}
	size_t k = 0;
	line[0] = 0;
	int bar = (p.run || sweeping) && p.fraction >= 0;
	/* "[" bar "] 100%": shorter below 100 columns, so that the time left fits at 80 */
	int barw = bar ? SL_MIN(20, W < 100 ? W / 10 : W / 6) + 7 : 0;
	for (int i = 0; i < nf; i++) {
		size_t need = strlen(f[i]) + 3;
		if ((int)(k + need) + barw + 1 > W && i > 0)
			continue; /* a field too long for what is left: the later, shorter ones may fit */
		if (k && k + 2 < size)
			k += (size_t)snprintf(line + k, size - k, "|");
		k += (size_t)snprintf(line + k, size - k, " %s ", f[i]);
	}
	if (bar && (int)k + barw + 1 <= W) {
		int n = barw - 7, full = (int)(p.fraction * n + 0.5);
		char b[64];
		int j = 0;
		b[j++] = '[';
		for (int i = 0; i < n; i++)
			b[j++] = i < full ? '=' : ' ';
		b[j] = 0;
		snprintf(line + k, size - k, "%*s%s] %3d%%", (int)(W - k - barw), "", b, (int)(p.fraction * 100 + 0.5));
	}
}

/* Paints the published status line when it changed, or when all is set. */
static int draw_status(scr *sc, int all)
{
	WINDOW *win = sc->status_w;
	if (!win)
		return 0;
	pthread_mutex_lock(&sc->dmu);
	int fresh = sc->status_gen != sc->status_drawn;
	if (fresh) {
		snprintf(sc->status_line, sizeof sc->status_line, "%s", sc->status);
		sc->status_drawn = sc->status_gen;
	}
	pthread_mutex_unlock(&sc->dmu);
	if (!fresh && !all)
		return 0;
	int W = sc->lay.status.w;
	werase(win);
	wbkgdset(win, ' ' | A_REVERSE);
	wmove(win, 0, 0);
	wclrtoeol(win);
	put_text(sc, win, 0, 0, sc->status_line, W, -1, A_REVERSE);
	wbkgdset(win, ' ');
	wnoutrefresh(win);
	return 1;
}

/* ---- publishing (under the session lock) ------------------------------------ */

void scr_publish(scr *sc, double now)
{
	sl_workbench *wb = sl_session_workbench(sc->s);
	int training = sl_workbench_training(wb);
	pthread_mutex_lock(&sc->dmu);
	int W = sc->pub_status_w, cw = sc->pub_curve_w, ch = sc->pub_curve_h;
	uint64_t had = sc->snap_sig;
	double last = sc->snap_t;
	pthread_mutex_unlock(&sc->dmu);
	atomic_store(&sc->publish, 0);

	char status[1024];
	format_status(sc, W, status, sizeof status);
	char heat_info[200] = "";
	int every;
	const char *watch = sl_display_watch(sc->s, &every);
	if (watch)
		snprintf(heat_info, sizeof heat_info, "watch every %d steps: %s", every, watch);
	/* the curves: when they changed, at most once a second while training
	 * (each publication is a copy here and a plot by gnuplot) */
	uint64_t sig = curve_signature(sc, cw, ch);
	int curves = sig != had && (!training || now - last >= SCR_CURVE_PERIOD);
	sl_curves cv = { 0 };
	char info[160] = "";
	const sl_plot_spec *p = sl_display_spec(sc->s);
	if (curves) {
		sl_display_curves(sc->s, p, &cv);
		size_t k = 0;
		for (int i = 0; i < SL_SERIES_COUNT; i++)
			if (p->series & 1u << i)
				k += (size_t)snprintf(info + k, sizeof info - k, "%s%s", k ? " " : "", sl_series_names[i]);
		if (p->sweep[0] && k < sizeof info)
			k += (size_t)snprintf(info + k, sizeof info - k, " of sweep %s", p->sweep);
		else if (p->nruns == 0 && k < sizeof info)
			k += (size_t)snprintf(info + k, sizeof info - k, " of the task's runs");
		if (p->logy && k < sizeof info)
			k += (size_t)snprintf(info + k, sizeof info - k, ", log y");
		for (int i = 0; i < cv.nmarks && k < sizeof info; i++)
			k += (size_t)snprintf(info + k, sizeof info - k, "%s%s", i ? ", " : "; dotted: ", cv.mark_label[i]);
	}

	pthread_mutex_lock(&sc->dmu);
	if (strcmp(status, sc->status)) {
		snprintf(sc->status, sizeof sc->status, "%s", status);
		sc->status_gen++;
	}
	if (strcmp(heat_info, sc->heat_info)) {
		snprintf(sc->heat_info, sizeof sc->heat_info, "%s", heat_info);
		sc->view_gen++; /* the header changed: repaint the pane */
		sc->view_keep = 1;
	}
	if (curves) {
		sl_curves_free(&sc->snap);
		sc->snap = cv;
		sc->snap_logy = p->logy;
		snprintf(sc->snap_info, sizeof sc->snap_info, "%s", info);
		sc->snap_sig = sig;
		sc->snap_t = now;
		sc->snap_gen++;
	}
	pthread_mutex_unlock(&sc->dmu);
}

/* ---- the prompt line ------------------------------------------------------- */

void scr_draw_prompt(scr *sc, int flush)
{
	WINDOW *win = sc->prompt_w;
	if (!win)
		return;
	int W = sc->lay.prompt.w;
	const char *pr = scr_question ? scr_question : rl_display_prompt ? rl_display_prompt : "";
	const char *buf = scr_question ? "" : rl_line_buffer ? rl_line_buffer : "";
	int point = scr_question ? 0 : rl_point;
	/* the characters with their columns; the cursor's column */
	size_t np = strlen(pr), nb = strlen(buf);
	wchar_t *wc = sl_xmalloc((np + nb + 1) * sizeof *wc);
	int *col = sl_xmalloc((np + nb + 2) * sizeof *col);
	int n = 0, x = 0, cursor = -1;
	mbstate_t st;
	for (int part = 0; part < 2; part++) {
		const char *s = part ? buf : pr;
		size_t len = part ? nb : np, i = 0;
		memset(&st, 0, sizeof st);
		while (i < len) {
			if (part && cursor < 0 && (int)i >= point)
				cursor = x;
			wchar_t c;
			size_t k = mbrtowc(&c, s + i, len - i, &st);
			if (k == (size_t)-1 || k == (size_t)-2 || k == 0) {
				c = '?';
				k = 1;
				memset(&st, 0, sizeof st);
			}
			int cw = c < ' ' || c == 0x7f ? 2 : wcwidth(c);
			if (cw < 0)
				cw = 1;
			wc[n] = c;
			col[n++] = x;
			x += cw;
			i += k;
		}
	}
	if (cursor < 0)
		cursor = x;
	int start = cursor >= W - 1 ? cursor - (W - 1) + 1 : 0;
	werase(win);
	for (int i = 0; i < n; i++) {
		int cx = col[i] - start;
		if (cx < 0 || cx >= W)
			continue;
		wchar_t c = wc[i];
		if (c < ' ' || c == 0x7f) {
			/* control characters as ^X */
			if (cx + 1 < W) {
				mvwaddch(win, 0, cx, '^');
				mvwaddch(win, 0, cx + 1, c == 0x7f ? '?' : (chtype)(c + '@'));
			}
			continue;
		}
		cchar_t cc;
		wchar_t s[2] = { c, 0 };
		setcchar(&cc, s, scr_question ? A_BOLD : A_NORMAL, 0, NULL);
		mvwadd_wch(win, 0, cx, &cc);
	}
	wmove(win, 0, SL_MIN(cursor - start, W - 1));
	free(wc);
	free(col);
	wnoutrefresh(win);
	if (flush)
		doupdate();
}

/* ---- help ------------------------------------------------------------------ */

static const char *const help_text[] = {
	"seqlab screen keys",
	"",
	"At the prompt (readline: history, Ctrl-R, Tab completes)",
	"  Enter          run the line          F1             this help",
	"  PgUp/PgDn      scroll the log        Shift-Up/Down  scroll the log by a line",
	"  Shift-Tab, F6  focus the next pane   Ctrl-L         redraw",
	"  (below 100x32 one pane shows at a time: its header has the tabs)",
	"  Ctrl-C         pause training (or clear the line)",
	"  Ctrl-R         search the history    Ctrl-\\         says how to quit",
	"  Ctrl-D         on an empty line: quit (asks if runs are not saved)",
	"",
	"With a pane focused",
	"  Up/Down, j/k   scroll a line         PgUp/PgDn, b/Space  scroll a page",
	"  Home/End, g/G  top / bottom          z              zoom the pane",
	"  Tab/Shift-Tab  next / previous pane  q, Esc, Enter  back to the prompt",
	"  / n N          search the log, next, previous match  ?  this help",
	"  heatmap: arrows or h/j/k/l move a cursor over one head's cells",
	"",
	"Commands: 'help' lists them; 'plot' picks curves; 'watch attn RUN WORD'.",
	"Press any key to close.",
	NULL,
};

static void draw_help(scr *sc)
{
	int h = 0, w = 0;
	for (; help_text[h]; h++)
		w = SL_MAX(w, sl_cells_strwidth(help_text[h]));
	h += 2;
	w += 4;
	h = SL_MIN(h, sc->lines - 1);
	w = SL_MIN(w, sc->cols);
	if (sc->msg_w)
		delwin(sc->msg_w);
	sc->msg_w = newwin(h, w, SL_MAX((sc->lines - 1 - h) / 2, 0), SL_MAX((sc->cols - w) / 2, 0));
	if (!sc->msg_w)
		return;
	werase(sc->msg_w);
	for (int x = 0; x < w; x++) {
		put_cell(sc, sc->msg_w, 0, x, hrule(), -1, -1, A_NORMAL);
		put_cell(sc, sc->msg_w, h - 1, x, hrule(), -1, -1, A_NORMAL);
	}
	for (int y = 0; y < h; y++) {
		put_cell(sc, sc->msg_w, y, 0, vrule(), -1, -1, A_NORMAL);
		put_cell(sc, sc->msg_w, y, w - 1, vrule(), -1, -1, A_NORMAL);
	}
	for (int i = 0; help_text[i] && i + 1 < h - 1; i++)
		put_text(sc, sc->msg_w, i + 1, 2, help_text[i], w - 4, -1, i == 0 ? A_BOLD : A_NORMAL);
	wnoutrefresh(sc->msg_w);
}

/* ---- the whole screen ------------------------------------------------------ */

static void draw_too_small(scr *sc)
{
	werase(stdscr);
	char m1[64], m2[64];
	snprintf(m1, sizeof m1, "Terminal too small: %dx%d", sc->cols, sc->lines);
	snprintf(m2, sizeof m2, "seqlab needs %dx%d", SCR_MIN_COLS, SCR_MIN_LINES);
	const char *msg[] = { m1, m2, "(commands still work)" };
	int y = SL_MAX(sc->lines / 2 - 2, 0);
	for (int i = 0; i < 3 && y + i < sc->lines - 1; i++)
		put_text(sc, stdscr, y + i, SL_MAX((sc->cols - (int)strlen(msg[i])) / 2, 0), msg[i], sc->cols, -1,
			 i == 0 ? A_BOLD : A_NORMAL);
	wnoutrefresh(stdscr);
}

void scr_draw(scr *sc, double now, int force)
{
	int all = force || sc->dirty_all;
	int any = 0;
	if (all) {
		any = 1;
		if (sc->lay.too_small) {
			draw_too_small(sc);
		} else {
			werase(stdscr);
			wnoutrefresh(stdscr);
			if (sc->sep_w) {
				werase(sc->sep_w);
				for (int y = 0; y < sc->lay.sep.h; y++)
					put_cell(sc, sc->sep_w, y, 0, vrule(), -1, -1, A_NORMAL);
				wnoutrefresh(sc->sep_w);
			}
		}
	}
	if (!sc->lay.too_small) {
		/* the log at most 20 times a second */
		if (all || (atomic_load(&sc->dirty_log) && now - sc->log_t >= 0.05)) {
			atomic_store(&sc->dirty_log, 0);
			draw_log(sc);
			if (sc->win[PANE_LOG])
				wnoutrefresh(sc->win[PANE_LOG]);
			sc->log_t = now;
			any = 1;
		}
		any |= draw_curves(sc, all);
		any |= draw_heat(sc, all);
		any |= draw_status(sc, all);
		if (sc->help && any)
			draw_help(sc);
	}
	if (sc->lay.too_small || !sc->win[PANE_LOG])
		atomic_store(&sc->dirty_log, 0); /* nowhere to show it now */
	sc->dirty_all = 0;
	if (any) {
		/* the cursor ends where the prompt puts it */
		scr_draw_prompt(sc, 0);
		doupdate();
	}
}

/* ---- plot save ------------------------------------------------------------- */

int scr_view_save(void *ud, sl_session *s, const char *file, const sl_view *v)
{
	scr *sc = ud;
	(void)s;
	sl_gnuplot *gp = sc && sc->gp ? sc->gp : sl_gnuplot_new(NULL);
	int st = sl_gnuplot_save_view(gp, file, v);
	if (!(sc && sc->gp))
		sl_gnuplot_free(gp);
	return st;
}

int scr_plot_save(void *ud, sl_session *s, const char *file, const sl_plot_spec *spec)
{
	scr *sc = ud;
	sl_curves cv;
	sl_display_curves(s, spec, &cv);
	if (cv.n == 0) {
		sl_curves_free(&cv);
		if (spec->series == 1u << SL_SERIES_ACC_LEN)
			sl_errorf("nothing to plot yet: no run has an accuracy-vs-length table ('eval RUN lengths=A..B')");
		else
			sl_errorf("nothing to plot yet: no run has points for these series");
		return SL_ERR;
	}
	sl_series *ser = sl_xcalloc((size_t)cv.n, sizeof *ser);
	char (*names)[128] = sl_xcalloc((size_t)cv.n, sizeof *names);
	double **ys = sl_xcalloc((size_t)cv.n, sizeof *ys);
	for (int i = 0; i < cv.n; i++) {
		ser[i] = (sl_series){ .name = cv.c[i].name, .x = cv.c[i].x, .y = cv.c[i].y, .n = cv.c[i].n };
		ys[i] = cv.c[i].y; /* ours to scale */
	}
	scr_curve_axes(&cv, ser, ys, names);
	sl_plot_opts o = { .logy = spec->logy, .title = cv.title, .xlabel = cv.xlabel, .ylabel = cv.ylabel };
	int y2 = 0, losses = 0, rates = 0, lr = 0;
	for (int i = 0; i < cv.n; i++) {
		int k = cv.c[i].series;
		y2 |= ser[i].y2;
		losses |= k == SL_SERIES_LOSS || k == SL_SERIES_VAL_LOSS;
		rates |= k == SL_SERIES_VAL_ACC || k == SL_SERIES_CER;
		lr |= k == SL_SERIES_LR;
	}
	if (y2) { /* losses on the left, rates and lr on the right */
		o.ylabel = losses ? "cross-entropy per token (nats)" : "accuracy / error rate";
		o.y2label = !lr ? "accuracy / error rate"
			    : rates ? (losses ? "accuracy / error rate; lr as a fraction of its peak"
					      : "learning rate (fraction of its peak)")
				    : "learning rate";
	}
	scr_curve_marks(&cv, &o);
	sl_gnuplot *gp = sc && sc->gp ? sc->gp : sl_gnuplot_new(NULL);
	int st = sl_gnuplot_save(gp, file, ser, cv.n, &o);
	if (!(sc && sc->gp))
		sl_gnuplot_free(gp);
	free(ser);
	free(names);
	free(ys);
	sl_curves_free(&cv);
	return st;
}
