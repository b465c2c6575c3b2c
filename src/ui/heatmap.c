/* heatmap.c - labelled matrices as shaded cells: single, tiled (layers x heads), dumped. */
#include "seqlab/heatmap.h"
#include "seqlab/common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LABEL_MAX 12  /* row labels are cut to this many columns */
#define VLABEL_MAX 6  /* vertical column labels use at most this many lines */
#define GRID_GAP 2    /* blank columns between tiles */

/* A viridis-like ramp through the 6x6x6 cube: dark purple, blue, teal, green, yellow, each
 * step brighter (relative luminance 0.03 .. 0.93). */
static const int viridis[] = {53, 89, 60, 66, 67, 36, 37, 72, 42, 78, 79, 83, 119, 155, 190, 226};

#define NAN_FG 196 /* NaN/inf glyphs in the colour styles: red on the default background */

static int ramp_levels(sl_heatmap_style s)
{
	switch (s) {
	case SL_HEATMAP_COLOR256:
		return (int)SL_COUNT(viridis);
	case SL_HEATMAP_GREY256:
		return 24;
	default:
		return (int)sizeof SL_HEATMAP_RAMP - 1;
	}
}

static int ramp_color(sl_heatmap_style s, int level)
{
	return s == SL_HEATMAP_COLOR256 ? viridis[level] : 232 + level;
}

static const char *ellipsis(sl_heatmap_style s)
{
	return s == SL_HEATMAP_MONO ? "..." : "\u2026";
}

int sl_heatmap_level(float v, float lo, float hi, int nlevels)
{
	if (!(hi > lo))
		return nlevels / 2;
	double t = ((double)v - lo) / ((double)hi - lo);
	int k = (int)floor(t * nlevels);
	return k < 0 ? 0 : k >= nlevels ? nlevels - 1 : k;
}

void sl_heatmap_range(const sl_heatmap *hm, float *lo, float *hi)
{
	if (hm->fixed) {
		*lo = hm->lo;
		*hi = hm->hi;
		return;
	}
	float a = INFINITY, b = -INFINITY;
	size_t n = (size_t)SL_MAX(hm->rows, 0) * (size_t)SL_MAX(hm->cols, 0);
	for (size_t i = 0; i < n; i++) {
		float v = hm->v[i];
		if (isfinite(v)) {
			a = v < a ? v : a;
			b = v > b ? v : b;
		}
	}
	if (a > b)
		a = b = 0;
	*lo = a;
	*hi = b;
}

/* One cell of cw columns for value v. */
static void put_value(sl_cells_line *l, sl_heatmap_style s, float v, float lo, float hi, int cw)
{
	if (!isfinite(v)) {
		int g = isnan(v) ? SL_HEATMAP_NAN : SL_HEATMAP_INF;
		int fg = s == SL_HEATMAP_MONO ? SL_COLOR_DEFAULT : NAN_FG;
		for (int k = 0; k < cw; k++)
			sl_cells_putc(l, k == (cw - 1) / 2 ? (uint32_t)g : ' ', fg, SL_COLOR_DEFAULT);
		return;
	}
	int lev = sl_heatmap_level(v, lo, hi, ramp_levels(s));
	if (s == SL_HEATMAP_MONO)
		sl_cells_fill(l, (unsigned char)SL_HEATMAP_RAMP[lev], cw, SL_COLOR_DEFAULT, SL_COLOR_DEFAULT);
	else
		sl_cells_fill(l, ' ', cw, SL_COLOR_DEFAULT, ramp_color(s, lev));
}

/* Label i of a list, or its index when there is no list. */
static const char *label(const char *const *labels, int i, char *buf, size_t n)
{
	if (labels && labels[i])
		return labels[i];
	snprintf(buf, n, "%d", i);
	return buf;
}

/* The first max code points of s (as cells, so control characters already read '?'). */
static int decode(const char *s, sl_cells_line *tmp, int max)
{
	tmp->n = 0;
	sl_cells_puts(tmp, s, max, SL_COLOR_DEFAULT, SL_COLOR_DEFAULT);
	return tmp->n;
}

/* Appends text cut to the budget w (0 = no budget). */
static void put_text(sl_cells_line *l, const char *s, int w)
{
	sl_cells_puts(l, s, w > 0 ? SL_MAX(0, w - l->n) : -1, SL_COLOR_DEFAULT, SL_COLOR_DEFAULT);
}

static void legend(sl_cells *out, sl_heatmap_style s, float lo, float hi, int w, int nan, int inf)
{
	char a[32], b[32];
	snprintf(a, sizeof a, "%.3g ", (double)lo);
	snprintf(b, sizeof b, " %.3g", (double)hi);
	sl_cells_line *l = sl_cells_add(out);
	put_text(l, a, w);
	if (s == SL_HEATMAP_MONO) {
		put_text(l, "[" SL_HEATMAP_RAMP "]", w);
	} else {
		int n = ramp_levels(s);
		for (int k = 0; k < n && (w <= 0 || l->n < w); k++)
			sl_cells_putc(l, ' ', SL_COLOR_DEFAULT, ramp_color(s, k));
	}
	put_text(l, b, w);
	if (nan)
		put_text(l, "  ?=nan", w);
	if (inf)
		put_text(l, "  !=inf", w);
}

/* What a tile renderer is asked to do. */
typedef struct tile_opts {
	sl_heatmap_style style;
	int width, height; /* 0 = unlimited */
	int cw, cw_max;    /* a fixed cell width, or 0 and the widest allowed */
	int row_labels, legend;
	int row0, col0;
} tile_opts;

/* The row label column width (0 without labels). */
static int label_width(const sl_heatmap *hm, const tile_opts *t)
{
	if (!t->row_labels)
		return 0;
	char buf[16];
	int lw = 1;
	for (int i = 0; i < hm->rows; i++)
		lw = SL_MAX(lw, sl_cells_strwidth(label(hm->row_labels, i, buf, sizeof buf)));
	return SL_MIN(lw, LABEL_MAX);
}

static int render_one(sl_cells *out, const sl_heatmap *hm, const tile_opts *t, float lo, float hi,
                      sl_heatmap_layout *lay)
{
	const int W = t->width, H = t->height, R = SL_MAX(hm->rows, 0), C = SL_MAX(hm->cols, 0);
	const int row0 = SL_MAX(0, SL_MIN(t->row0, R - 1)), col0 = SL_MAX(0, SL_MIN(t->col0, C - 1));
	const int lw = label_width(hm, t), x0 = t->row_labels ? lw + 1 : 0;
	const int title = hm->title ? 1 : 0, leg = t->legend ? 1 : 0;
	sl_cells_line tmp = {0};
	char buf[16];

	if (R == 0 || C == 0) {
		if (H > 0 && H < title + 1) {
			sl_errorf("heatmap: %dx%d is too small", W, H);
			return SL_ERR;
		}
		if (title)
			put_text(sl_cells_add(out), hm->title, W);
		put_text(sl_cells_add(out), "(empty)", W);
		if (lay)
			*lay = (sl_heatmap_layout){x0, title, 1, 0, 0, 0, 0, lo, hi};
		return SL_OK;
	}

	/* columns: the widest cell that shows them all, else as many as fit at the narrowest */
	int left = C - col0, cw = t->cw;
	if (cw <= 0)
		for (cw = SL_MAX(1, t->cw_max); cw > 1; cw--)
			if (W <= 0 || x0 + left * cw <= W)
				break;
	int ncols = W > 0 ? SL_MIN(left, (W - x0) / cw) : left;
	if (ncols < 1) {
		sl_errorf("heatmap: %d columns are too narrow for a %d-column label and one cell", W, lw);
		return SL_ERR;
	}

	/* column labels: across when each fits its cell, else vertical */
	int maxcl = 1;
	for (int j = col0; j < col0 + ncols; j++)
		maxcl = SL_MAX(maxcl, sl_cells_strwidth(label(hm->col_labels, j, buf, sizeof buf)));
	const int across = maxcl <= cw;
	int vh = across ? 1 : SL_MIN(maxcl, VLABEL_MAX);

	/* rows: all that are left, or what the height allows beside one note line */
	int rleft = R - row0, nrows = rleft;
	if (H > 0) {
		int fixed = title + vh + leg, cut = ncols < left;
		if (fixed + rleft + cut > H)
			nrows = H - fixed - 1;
		while (nrows < 1 && vh > 1) {
			vh--;
			nrows++;
		}
		if (nrows < 1) {
			sl_errorf("heatmap: %d lines are too few for a title, labels, a row and a legend", H);
			return SL_ERR;
		}
	}

	if (title)
		put_text(sl_cells_add(out), hm->title, W);
	for (int k = 0; k < vh; k++) {
		sl_cells_line *l = sl_cells_add(out);
		sl_cells_fill(l, ' ', x0, SL_COLOR_DEFAULT, SL_COLOR_DEFAULT);
		for (int j = col0; j < col0 + ncols; j++) {
			int n = decode(label(hm->col_labels, j, buf, sizeof buf), &tmp, across ? cw : vh);
			if (across) {
				int pad = (cw - n) / 2;
				sl_cells_fill(l, ' ', pad, SL_COLOR_DEFAULT, SL_COLOR_DEFAULT);
				for (int i = 0; i < n; i++)
					sl_cells_putc(l, tmp.cell[i].ch, SL_COLOR_DEFAULT, SL_COLOR_DEFAULT);
				sl_cells_fill(l, ' ', cw - pad - n, SL_COLOR_DEFAULT, SL_COLOR_DEFAULT);
			} else {
				/* bottom-aligned: a short label sits right above its column */
				int i = k - (vh - n), at = (cw - 1) / 2;
				for (int c = 0; c < cw; c++)
					sl_cells_putc(l, c == at && i >= 0 ? tmp.cell[i].ch : ' ',
					              SL_COLOR_DEFAULT, SL_COLOR_DEFAULT);
			}
		}
	}
	int nan = 0, inf = 0;
	for (int r = row0; r < row0 + nrows; r++) {
		sl_cells_line *l = sl_cells_add(out);
		if (t->row_labels) {
			int n = decode(label(hm->row_labels, r, buf, sizeof buf), &tmp, lw);
			sl_cells_fill(l, ' ', lw - n, SL_COLOR_DEFAULT, SL_COLOR_DEFAULT);
			for (int i = 0; i < n; i++)
				sl_cells_putc(l, tmp.cell[i].ch, SL_COLOR_DEFAULT, SL_COLOR_DEFAULT);
			sl_cells_putc(l, ' ', SL_COLOR_DEFAULT, SL_COLOR_DEFAULT);
		}
		for (int j = col0; j < col0 + ncols; j++) {
			float v = hm->v[(size_t)r * (size_t)C + (size_t)j];
			nan |= isnan(v);
			inf |= isinf(v);
			put_value(l, t->style, v, lo, hi, cw);
		}
	}
	if (ncols < left || nrows < rleft) {
		/* "... 12 more columns, 3 more rows", or "cols" when that does not fit */
		char note[96];
		for (int brief = 0; brief < 2; brief++) {
			int k = snprintf(note, sizeof note, "%s", ellipsis(t->style));
			if (ncols < left)
				k += snprintf(note + k, sizeof note - (size_t)k, " %d more %s%s", left - ncols,
				              brief ? "col" : "column", left - ncols == 1 ? "" : "s");
			if (nrows < rleft)
				snprintf(note + k, sizeof note - (size_t)k, "%s %d more row%s",
				         ncols < left ? "," : "", rleft - nrows, rleft - nrows == 1 ? "" : "s");
			if (W <= 0 || sl_cells_strwidth(note) <= W)
				break;
		}
		put_text(sl_cells_add(out), note, W);
	}
	if (leg)
		legend(out, t->style, lo, hi, W, nan, inf);
	if (lay)
		*lay = (sl_heatmap_layout){x0, title + vh, cw, row0, col0, nrows, ncols, lo, hi};
	free(tmp.cell);
	return SL_OK;
}

static int check(const sl_heatmap *hm)
{
	if (hm->rows < 0 || hm->cols < 0 || (hm->rows && hm->cols && !hm->v)) {
		sl_errorf("heatmap: bad matrix (%d x %d)", hm->rows, hm->cols);
		return SL_ERR;
	}
	return SL_OK;
}

int sl_heatmap_render(sl_cells *out, const sl_heatmap *hm, const sl_heatmap_opts *o,
                      sl_heatmap_layout *lay)
{
	static const sl_heatmap_opts none = {0};
	if (!o)
		o = &none;
	if (check(hm))
		return SL_ERR;
	tile_opts t = {
		.style = o->style, .width = SL_MAX(0, o->width), .height = SL_MAX(0, o->height),
		.cw = SL_MIN(o->cell_width, 3), .cw_max = 3, .row_labels = 1, .legend = !o->no_legend,
		.row0 = o->row0, .col0 = o->col0,
	};
	float lo, hi;
	sl_heatmap_range(hm, &lo, &hi);
	/* render into a scratch block so a failure leaves out untouched */
	sl_cells *tmp = sl_cells_new();
	int rc = render_one(tmp, hm, &t, lo, hi, lay);
	if (rc == SL_OK)
		sl_cells_append(out, tmp);
	sl_cells_free(tmp);
	return rc;
}

char *sl_heatmap_string(const sl_heatmap *hm, const sl_heatmap_opts *o)
{
	sl_cells *c = sl_cells_new();
	char *s = NULL;
	if (sl_heatmap_render(c, hm, o, NULL) == SL_OK)
		s = sl_cells_string(c, 0);
	sl_cells_free(c);
	return s;
}

/* ---- grid ---- */

/* The width of a tile: its matrix (with labels when first in its row) or its title. */
static int tile_width(const sl_heatmap *hm, int first, int cw, int W)
{
	tile_opts t = {.row_labels = first};
	int lw = label_width(hm, &t), w = (first ? lw + 1 : 0) + SL_MAX(hm->cols, 1) * cw;
	if (hm->title)
		w = SL_MAX(w, sl_cells_strwidth(hm->title));
	return W > 0 ? SL_MIN(w, W) : w;
}

/* How many tiles from i on fit in one tile row of width W (0 = unlimited) at cell width cw. */
static int row_fit(const sl_heatmap *hm, int i, int n, int cw, int W, int max)
{
	int k = 0, x = 0;
	while (i + k < n && k < max) {
		int w = tile_width(&hm[i + k], k == 0, cw, 0);
		if (k > 0 && W > 0 && x + GRID_GAP + w > W)
			break;
		x += (k ? GRID_GAP : 0) + w;
		k++;
	}
	return k;
}

/* Pads line l with blanks to column x, then appends src. */
static void blit(sl_cells_line *l, int x, const sl_cells_line *src)
{
	if (l->n < x)
		sl_cells_fill(l, ' ', x - l->n, SL_COLOR_DEFAULT, SL_COLOR_DEFAULT);
	for (int i = 0; i < src->n; i++)
		sl_cells_putc(l, src->cell[i].ch, src->cell[i].fg, src->cell[i].bg);
}

int sl_heatmap_grid(sl_cells *out, const sl_heatmap *hm, int n, const sl_heatmap_opts *o)
{
	static const sl_heatmap_opts none = {0};
	if (!o)
		o = &none;
	const int W = SL_MAX(0, o->width), H = SL_MAX(0, o->height), leg = !o->no_legend;
	for (int i = 0; i < n; i++)
		if (check(&hm[i]))
			return SL_ERR;

	/* one shared range for every heatmap without its own */
	float lo = INFINITY, hi = -INFINITY;
	for (int i = 0; i < n; i++) {
		float a, b;
		sl_heatmap_range(&hm[i], &a, &b);
		if (!hm[i].fixed && (hm[i].rows * hm[i].cols == 0 || a == b) && a == 0)
			continue; /* empty: no data to widen the range with */
		lo = SL_MIN(lo, a);
		hi = SL_MAX(hi, b);
	}
	if (lo > hi)
		lo = hi = 0;

	/* the cell width: the widest (up to 2, or as asked) that fits grid_cols per row */
	int per_row = o->grid_cols > 0 ? SL_MIN(o->grid_cols, n) : n;
	int cw = o->cell_width > 0 ? SL_MIN(o->cell_width, 3) : 0;
	if (!cw) {
		for (cw = 2; cw > 1; cw--)
			if (o->grid_cols <= 0 || row_fit(hm, 0, n, cw, W, per_row) >= per_row)
				break;
	}

	sl_cells *tmp = sl_cells_new(), *res = sl_cells_new();
	sl_cells **tile = sl_xcalloc((size_t)SL_MAX(n, 1), sizeof *tile);
	int rc = SL_OK, used = 0, i = 0, nan = 0, inf = 0;
	while (i < n) {
		int k = row_fit(hm, i, n, cw, W, per_row);
		/* the lines this tile row may use: all but the legend and, unless it is the
		 * last, a "more heatmaps" note */
		int room = H > 0 ? H - used - leg - (i + k < n) : 0;
		if (H > 0 && room < 2) {
			if (i == 0) {
				sl_errorf("heatmap: %d lines are too few for a grid", H);
				rc = SL_ERR;
			}
			break;
		}
		int top = 0, done = 0, cut = 0, xs[k + 1];
		sl_heatmap_layout lays[k];
		for (; done < k; done++) {
			sl_heatmap h = hm[i + done];
			if (!h.fixed) {
				h.fixed = 1;
				h.lo = lo;
				h.hi = hi;
			}
			tile_opts to = {
				.style = o->style, .width = W > 0 && k == 1 ? W : 0, .height = room,
				.cw = cw, .row_labels = done == 0, .legend = 0,
			};
			tile[done] = sl_cells_new();
			if (render_one(tile[done], &h, &to, h.lo, h.hi, &lays[done]))
				break;
			top = SL_MAX(top, lays[done].y);
			cut |= lays[done].nrows < SL_MAX(h.rows, 0) || lays[done].ncols < SL_MAX(h.cols, 0);
		}
		int height = 0;
		xs[0] = 0;
		for (int t = 0; t < done; t++) {
			xs[t + 1] = xs[t] + GRID_GAP + SL_MAX(sl_cells_width(tile[t]),
			                                      tile_width(&hm[i + t], t == 0, cw, W));
			height = SL_MAX(height, top - lays[t].y + tile[t]->n);
		}
		/* a tile row that does not fit whole is left for the note, unless it is the first */
		int drop = done < k || (i > 0 && (cut || (H > 0 && used + height > H - leg - (i + k < n))));
		if (drop && i == 0 && done < k)
			rc = SL_ERR;
		if (!drop) {
			sl_cells_clear(tmp);
			for (int y = 0; y < height; y++)
				sl_cells_add(tmp);
			for (int t = 0; t < done; t++) {
				/* the title stays on the first line; the rest moves down to align the
				 * matrices whatever each tile's column label height */
				int dy = top - lays[t].y, titled = hm[i + t].title != NULL;
				for (int y = 0; y < tile[t]->n; y++)
					blit(&tmp->line[titled && y == 0 ? 0 : y + dy], xs[t], &tile[t]->line[y]);
			}
			for (int t = 0; t < done; t++) {
				size_t m = (size_t)SL_MAX(hm[i + t].rows, 0) * (size_t)SL_MAX(hm[i + t].cols, 0);
				for (size_t q = 0; q < m; q++) {
					nan |= isnan(hm[i + t].v[q]);
					inf |= isinf(hm[i + t].v[q]);
				}
			}
			sl_cells_append(res, tmp);
			used += height;
		}
		for (int t = 0; t <= done && t < k; t++) {
			sl_cells_free(tile[t]);
			tile[t] = NULL;
		}
		if (drop)
			break;
		i += k;
	}
	if (rc == SL_OK) {
		if (i < n) {
			char note[64];
			snprintf(note, sizeof note, "%s %d more heatmap%s", ellipsis(o->style), n - i,
			         n - i == 1 ? "" : "s");
			put_text(sl_cells_add(res), note, W);
		}
		if (leg)
			legend(res, o->style, lo, hi, W, nan, inf);
		sl_cells_append(out, res);
	}
	free(tile);
	sl_cells_free(tmp);
	sl_cells_free(res);
	return rc;
}

/* ---- key=value dump ---- */

typedef struct buf {
	char *s;
	size_t n, cap;
} buf;

static void put(buf *b, const char *s, size_t n)
{
	if (b->n + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
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

/* s as one key=value token: bare when safe, else double-quoted with \ escapes. */
static void token(buf *b, const char *s)
{
	int bare = *s != 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p <= ' ' || *p == '"' || *p == '\\' || *p == '=' || *p == ',' || *p == 0x7f)
			bare = 0;
	if (bare) {
		puts_(b, s);
		return;
	}
	put(b, "\"", 1);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		char e[8];
		if (*p == '"' || *p == '\\') {
			e[0] = '\\';
			e[1] = (char)*p;
			put(b, e, 2);
		} else if (*p == '\n') {
			put(b, "\\n", 2);
		} else if (*p == '\t') {
			put(b, "\\t", 2);
		} else if (*p < ' ' || *p == 0x7f) {
			snprintf(e, sizeof e, "\\x%02x", *p);
			puts_(b, e);
		} else {
			put(b, (const char *)p, 1);
		}
	}
	put(b, "\"", 1);
}

static void number(buf *b, double v)
{
	char s[32];
	if (isnan(v))
		snprintf(s, sizeof s, "nan");
	else if (isinf(v))
		snprintf(s, sizeof s, v > 0 ? "inf" : "-inf");
	else
		snprintf(s, sizeof s, "%.6g", v);
	puts_(b, s);
}

char *sl_heatmap_dump(const sl_heatmap *hm)
{
	buf b = {0};
	char tmp[16];
	float lo, hi;
	sl_heatmap_range(hm, &lo, &hi);
	put(&b, "", 0);
	puts_(&b, "title=");
	token(&b, hm->title ? hm->title : "");
	snprintf(tmp, sizeof tmp, " rows=%d", hm->rows);
	puts_(&b, tmp);
	snprintf(tmp, sizeof tmp, " cols=%d", hm->cols);
	puts_(&b, tmp);
	puts_(&b, " lo=");
	number(&b, lo);
	puts_(&b, " hi=");
	number(&b, hi);
	puts_(&b, " columns=");
	for (int j = 0; j < hm->cols; j++) {
		if (j)
			put(&b, ",", 1);
		token(&b, label(hm->col_labels, j, tmp, sizeof tmp));
	}
	put(&b, "\n", 1);
	for (int i = 0; i < hm->rows; i++) {
		puts_(&b, "row=");
		token(&b, label(hm->row_labels, i, tmp, sizeof tmp));
		puts_(&b, " values=");
		for (int j = 0; j < hm->cols; j++) {
			if (j)
				put(&b, ",", 1);
			number(&b, hm->v[(size_t)i * (size_t)hm->cols + (size_t)j]);
		}
		put(&b, "\n", 1);
	}
	return b.s;
}
