/* test_heatmap.c - labelled heatmaps, grids, dumps, and the cells they are drawn in. */
#include "seqlab/cells.h"
#include "seqlab/common.h"
#include "seqlab/heatmap.h"
#include "tap.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The text of line i of c (no colours), in a static buffer. */
static const char *line(const sl_cells *c, int i)
{
	static char buf[1024];
	char *s = sl_cells_line_string(c, i);
	snprintf(buf, sizeof buf, "%s", s);
	free(s);
	return buf;
}

/* The first line of c containing needle, or -1. */
static int find_line(const sl_cells *c, const char *needle)
{
	for (int i = 0; i < c->n; i++)
		if (strstr(line(c, i), needle))
			return i;
	return -1;
}

static int ramp_index(uint32_t ch)
{
	const char *p = strchr(SL_HEATMAP_RAMP, (int)ch);
	return ch && p ? (int)(p - SL_HEATMAP_RAMP) : -1;
}

static void test_labels(void)
{
	const float v[2 * 3] = {0, 0.5f, 1, 1, 0.5f, 0};
	const char *rows[] = {"s", "h"}, *cols[] = {"o", "p", "<EOS>"};
	sl_heatmap hm = {.v = v, .rows = 2, .cols = 3, .row_labels = rows, .col_labels = cols,
	                 .title = "L0 H3"};
	sl_heatmap_opts o = {.style = SL_HEATMAP_MONO, .width = 40, .height = 20};
	sl_cells *c = sl_cells_new();
	sl_heatmap_layout lay;
	TAP_OK(sl_heatmap_render(c, &hm, &o, &lay) == SL_OK, "render");
	TAP_OK(!strcmp(line(c, 0), "L0 H3"), "title on the first line: '%s'", line(c, 0));
	TAP_OK(lay.cell_width == 3, "cell width 3 when it fits (got %d)", lay.cell_width);
	TAP_OK(lay.nrows == 2 && lay.ncols == 3 && lay.row0 == 0 && lay.col0 == 0, "all shown");
	/* "<EOS>" is wider than a cell: vertical labels, bottom-aligned */
	TAP_OK(lay.y == 1 + 5, "5 lines of vertical labels (matrix at line %d)", lay.y);
	int mid = lay.x + 1; /* labels sit in the middle column of a 3-wide cell */
	const sl_cells_line *lab = &c->line[lay.y - 1];
	TAP_OK(lab->n > mid + 6 && lab->cell[mid].ch == 'o' && lab->cell[mid + 3].ch == 'p' &&
	       lab->cell[mid + 6].ch == '>',
	       "column labels above their columns: '%s'", line(c, lay.y - 1));
	TAP_OK(c->line[lay.y - 5].cell[mid + 6].ch == '<', "vertical label reads top to bottom");
	for (int r = 0; r < 2; r++) {
		const sl_cells_line *l = &c->line[lay.y + r];
		TAP_OK(l->cell[lay.x - 2].ch == (uint32_t)rows[r][0] && l->cell[lay.x - 1].ch == ' ',
		       "row label %s left of row %d: '%s'", rows[r], r, line(c, lay.y + r));
	}
	/* value cells at the layout's place */
	const sl_cells_line *r0 = &c->line[lay.y];
	TAP_OK(r0->cell[lay.x].ch == ' ' && r0->cell[lay.x + 2 * 3].ch == '@',
	       "lowest blank, highest '@': '%s'", line(c, lay.y));
	TAP_OK(find_line(c, "[" SL_HEATMAP_RAMP "]") == c->n - 1 && strstr(line(c, c->n - 1), "0 ") &&
	       strstr(line(c, c->n - 1), " 1"),
	       "legend with range and ramp: '%s'", line(c, c->n - 1));

	/* horizontal labels when they fit the cell */
	const char *cols1[] = {"a", "b", "c"};
	hm.col_labels = cols1;
	sl_cells_clear(c);
	sl_heatmap_render(c, &hm, &o, &lay);
	TAP_OK(lay.y == 2 && c->line[1].cell[lay.x + 1].ch == 'a' && c->line[1].cell[lay.x + 4].ch == 'b',
	       "single-character labels across: '%s'", line(c, 1));

	/* no labels: indices */
	hm.row_labels = hm.col_labels = NULL;
	hm.title = NULL;
	sl_cells_clear(c);
	sl_heatmap_render(c, &hm, &o, &lay);
	TAP_OK(lay.y == 1 && c->line[lay.y + 1].cell[0].ch == '1', "index labels without names");
	sl_cells_free(c);
}

static void test_monotone(void)
{
	float v[64];
	for (int j = 0; j < 64; j++)
		v[j] = -3.0f + 0.1f * (float)j;
	sl_heatmap hm = {.v = v, .rows = 1, .cols = 64};
	sl_heatmap_opts o = {.style = SL_HEATMAP_MONO, .cell_width = 1};
	sl_cells *c = sl_cells_new();
	sl_heatmap_layout lay;
	sl_heatmap_render(c, &hm, &o, &lay);
	const sl_cells_line *l = &c->line[lay.y];
	int ok = 1, prev = -1, distinct = 0;
	for (int j = 0; j < 64; j++) {
		int k = ramp_index(l->cell[lay.x + j].ch);
		if (k < prev || k < 0)
			ok = 0;
		distinct += k != prev;
		prev = k;
	}
	TAP_OK(ok, "mono shade is monotone in the value");
	TAP_OK(distinct == (int)strlen(SL_HEATMAP_RAMP), "every ramp step used (%d)", distinct);
	TAP_OK(ramp_index(l->cell[lay.x].ch) == 0 && ramp_index(l->cell[lay.x + 63].ch) == 9,
	       "min and max get the ends of the ramp");

	/* the colour ramps too: background indices in ramp order, no repeats out of order */
	for (int style = SL_HEATMAP_COLOR256; style <= SL_HEATMAP_GREY256; style++) {
		o.style = (sl_heatmap_style)style;
		sl_cells_clear(c);
		sl_heatmap_render(c, &hm, &o, &lay);
		l = &c->line[lay.y];
		int seen[256] = {0}, last = -2, mono = 1, nlev = 0;
		for (int j = 0; j < 64; j++) {
			int bg = l->cell[lay.x + j].bg;
			if (bg < 16 || bg > 255)
				mono = 0;
			else if (bg != last) {
				if (seen[bg])
					mono = 0;
				seen[bg] = 1;
				nlev++;
			}
			last = bg;
		}
		if (style == SL_HEATMAP_GREY256) {
			int inc = 1;
			for (int j = 1; j < 64; j++)
				inc &= l->cell[lay.x + j].bg >= l->cell[lay.x + j - 1].bg;
			TAP_OK(inc, "grey ramp increases with the value");
		}
		TAP_OK(mono && nlev >= 12, "style %d: colour cells in ramp order (%d steps)", style, nlev);
	}

	/* levels */
	TAP_OK(sl_heatmap_level(0, 0, 1, 10) == 0 && sl_heatmap_level(1, 0, 1, 10) == 9 &&
	       sl_heatmap_level(0.55f, 0, 1, 10) == 5 && sl_heatmap_level(-5, 0, 1, 10) == 0 &&
	       sl_heatmap_level(5, 0, 1, 10) == 9,
	       "levels clamp and bin evenly");
	sl_cells_free(c);
}

static void test_fixed_range(void)
{
	const float v[3] = {0.2f, 0.3f, 0.4f};
	sl_heatmap hm = {.v = v, .rows = 1, .cols = 3, .fixed = 1, .lo = 0, .hi = 1};
	sl_heatmap_opts o = {.style = SL_HEATMAP_MONO, .cell_width = 1};
	sl_cells *c = sl_cells_new();
	sl_heatmap_layout lay;
	sl_heatmap_render(c, &hm, &o, &lay);
	const sl_cells_line *l = &c->line[lay.y];
	TAP_OK(ramp_index(l->cell[lay.x].ch) == 2 && ramp_index(l->cell[lay.x + 2].ch) == 4,
	       "fixed [0,1]: 0.2 and 0.4 get steps 2 and 4 ('%s')", line(c, lay.y));
	TAP_OK(lay.lo == 0 && lay.hi == 1, "layout reports the fixed range");
	TAP_OK(strstr(line(c, c->n - 1), "0 [") && strstr(line(c, c->n - 1), "] 1"),
	       "legend shows the fixed range: '%s'", line(c, c->n - 1));
	hm.fixed = 0;
	sl_cells_clear(c);
	sl_heatmap_render(c, &hm, &o, &lay);
	l = &c->line[lay.y];
	TAP_OK(ramp_index(l->cell[lay.x].ch) == 0 && ramp_index(l->cell[lay.x + 2].ch) == 9,
	       "free range: min..max of the data");
	/* values outside a fixed range clamp */
	const float w[2] = {-7, 9};
	hm = (sl_heatmap){.v = w, .rows = 1, .cols = 2, .fixed = 1, .lo = 0, .hi = 1};
	sl_cells_clear(c);
	sl_heatmap_render(c, &hm, &o, &lay);
	l = &c->line[lay.y];
	TAP_OK(ramp_index(l->cell[lay.x].ch) == 0 && ramp_index(l->cell[lay.x + 1].ch) == 9,
	       "out-of-range values clamp");
	sl_cells_free(c);
}

static void test_nonfinite(void)
{
	const float v[4] = {0, NAN, INFINITY, 1};
	sl_heatmap hm = {.v = v, .rows = 1, .cols = 4};
	sl_heatmap_opts o = {.style = SL_HEATMAP_MONO, .cell_width = 1};
	sl_cells *c = sl_cells_new();
	sl_heatmap_layout lay;
	TAP_OK(sl_heatmap_render(c, &hm, &o, &lay) == SL_OK, "NaN/inf render");
	const sl_cells_line *l = &c->line[lay.y];
	TAP_OK(l->cell[lay.x + 1].ch == SL_HEATMAP_NAN && l->cell[lay.x + 2].ch == SL_HEATMAP_INF,
	       "NaN and inf get their own glyphs: '%s'", line(c, lay.y));
	TAP_OK(ramp_index(SL_HEATMAP_NAN) < 0 && ramp_index(SL_HEATMAP_INF) < 0, "glyphs not in the ramp");
	TAP_OK(lay.lo == 0 && lay.hi == 1, "range ignores non-finite values");
	TAP_OK(strstr(line(c, c->n - 1), "?=nan") && strstr(line(c, c->n - 1), "!=inf"),
	       "legend explains them: '%s'", line(c, c->n - 1));
	o.style = SL_HEATMAP_COLOR256;
	sl_cells_clear(c);
	sl_heatmap_render(c, &hm, &o, &lay);
	l = &c->line[lay.y];
	TAP_OK(l->cell[lay.x + 1].ch == SL_HEATMAP_NAN && l->cell[lay.x + 1].bg == SL_COLOR_DEFAULT,
	       "colour style: NaN glyph on the default background");
	const float all_nan[2] = {NAN, NAN};
	hm = (sl_heatmap){.v = all_nan, .rows = 1, .cols = 2};
	sl_cells_clear(c);
	TAP_OK(sl_heatmap_render(c, &hm, &o, &lay) == SL_OK, "all-NaN matrix renders");
	sl_cells_free(c);
}

static void test_budget(void)
{
	float v[5 * 40];
	for (int i = 0; i < 5 * 40; i++)
		v[i] = (float)(i % 7);
	const char *rows[] = {"a", "b", "c", "d", "e"};
	sl_heatmap hm = {.v = v, .rows = 5, .cols = 40, .row_labels = rows, .title = "t"};
	sl_heatmap_opts o = {.style = SL_HEATMAP_MONO, .width = 30};
	sl_cells *c = sl_cells_new();
	sl_heatmap_layout lay;
	TAP_OK(sl_heatmap_render(c, &hm, &o, &lay) == SL_OK, "too wide: still renders");
	TAP_OK(lay.cell_width == 1 && lay.ncols == 28, "narrowest cells, 28 columns shown (%d, %d)",
	       lay.cell_width, lay.ncols);
	TAP_OK(sl_cells_width(c) <= 30, "fits the width (%d)", sl_cells_width(c));
	TAP_OK(find_line(c, "... 12 more columns") >= 0, "says '... 12 more columns'");
	TAP_OK(lay.nrows == 5 && find_line(c, "more rows") < 0, "all rows shown");

	/* too few lines: rows cut with a note */
	o.height = 7; /* title, 2 lines of vertical labels ("0" .. "39"), 2 rows, note, legend */
	sl_cells_clear(c);
	TAP_OK(sl_heatmap_render(c, &hm, &o, &lay) == SL_OK && c->n <= 7, "fits 7 lines (%d)", c->n);
	TAP_OK(lay.nrows == 2 && find_line(c, "... 12 more cols, 3 more rows") >= 0,
	       "one note for both cuts, shortened to fit (%d rows)", lay.nrows);

	/* scrolling */
	o = (sl_heatmap_opts){.style = SL_HEATMAP_MONO, .width = 30, .row0 = 3, .col0 = 35};
	sl_cells_clear(c);
	sl_heatmap_render(c, &hm, &o, &lay);
	TAP_OK(lay.row0 == 3 && lay.col0 == 35 && lay.nrows == 2 && lay.ncols == 5,
	       "scrolled to row 3, column 35");
	TAP_OK(c->line[lay.y].cell[0].ch == 'd', "first row shown is d");

	/* hopeless budgets fail with a message, leaving out alone */
	o = (sl_heatmap_opts){.style = SL_HEATMAP_MONO, .width = 2};
	sl_cells_clear(c);
	TAP_OK(sl_heatmap_render(c, &hm, &o, NULL) == SL_ERR && c->n == 0 && strstr(sl_error(), "narrow"),
	       "2 columns: error '%s'", sl_error());
	o = (sl_heatmap_opts){.style = SL_HEATMAP_MONO, .height = 2};
	TAP_OK(sl_heatmap_render(c, &hm, &o, NULL) == SL_ERR && c->n == 0, "2 lines: error");
	sl_cells_free(c);
}

static void test_equal_and_ascii(void)
{
	float v[3 * 3];
	for (int i = 0; i < 9; i++)
		v[i] = 0.25f;
	const char *labels[] = {"x", "y", "z"};
	sl_heatmap hm = {.v = v, .rows = 3, .cols = 3, .row_labels = labels, .col_labels = labels,
	                 .title = "equal"};
	sl_heatmap_opts o = {.style = SL_HEATMAP_MONO};
	sl_cells *c = sl_cells_new();
	sl_heatmap_layout lay;
	TAP_OK(sl_heatmap_render(c, &hm, &o, &lay) == SL_OK, "all-equal matrix renders");
	int k = ramp_index(c->line[lay.y].cell[lay.x].ch);
	TAP_OK(k == (int)strlen(SL_HEATMAP_RAMP) / 2, "range 0: the middle shade (%d)", k);
	/* a fixed empty range too */
	hm.fixed = 1;
	hm.lo = hm.hi = 0.25f;
	sl_cells_clear(c);
	TAP_OK(sl_heatmap_render(c, &hm, &o, &lay) == SL_OK, "fixed lo == hi renders");
	hm.fixed = 0;

	/* mono output is pure ASCII, cut notes included */
	float w[2 * 50];
	for (int i = 0; i < 100; i++)
		w[i] = (float)i;
	sl_heatmap wide = {.v = w, .rows = 2, .cols = 50, .title = "wide"};
	o.width = 20;
	o.height = 5;
	char *s = sl_heatmap_string(&wide, &o);
	int ascii = s != NULL;
	for (const unsigned char *p = (const unsigned char *)s; s && *p; p++)
		if (*p > 126 || (*p < 32 && *p != '\n'))
			ascii = 0;
	TAP_OK(ascii, "mono string is pure printable ASCII");
	TAP_OK(s && strstr(s, "..."), "cut note in ASCII");
	free(s);
	o.style = SL_HEATMAP_COLOR256;
	sl_cells_clear(c);
	sl_heatmap_render(c, &wide, &o, NULL);
	s = sl_cells_string(c, 1);
	TAP_OK(strstr(s, "\033[0;48;5;") && strstr(s, "\033[0m"), "colour string carries SGR backgrounds");
	TAP_OK(strstr(s, "\u2026"), "colour style's note uses an ellipsis");
	free(s);
	sl_cells_free(c);
}

static void test_grid(void)
{
	enum { L = 2, NH = 3, T = 4 };
	float v[L * NH][T * T];
	char titles[L * NH][16];
	const char *tok[] = {"s", "h", "o", "p"};
	sl_heatmap hm[L * NH];
	for (int l = 0; l < L; l++)
		for (int h = 0; h < NH; h++) {
			int k = l * NH + h;
			for (int i = 0; i < T * T; i++)
				v[k][i] = (float)((i + k) % 5) / 4;
			snprintf(titles[k], sizeof titles[k], "L%d H%d", l, h);
			hm[k] = (sl_heatmap){.v = v[k], .rows = T, .cols = T, .row_labels = tok,
			                     .col_labels = tok, .title = titles[k]};
		}
	sl_heatmap_opts o = {.style = SL_HEATMAP_MONO, .width = 80, .grid_cols = NH};
	sl_cells *c = sl_cells_new();
	TAP_OK(sl_heatmap_grid(c, hm, L * NH, &o) == SL_OK, "grid renders");
	int t0 = find_line(c, "L0 H0"), t1 = find_line(c, "L1 H0");
	TAP_OK(t0 == 0 && t1 > t0, "tile rows: layer 0 first (%d), then layer 1 (%d)", t0, t1);
	const char *l0 = line(c, t0);
	const char *a = strstr(l0, "L0 H0"), *b = strstr(l0, "L0 H1"), *d = strstr(l0, "L0 H2");
	TAP_OK(a && b && d && a < b && b < d, "heads side by side: '%s'", l0);
	TAP_OK(strstr(line(c, t1), "L1 H2") != NULL, "layer 1 has its three heads");
	TAP_OK(sl_cells_width(c) <= 80, "grid fits 80 columns (%d)", sl_cells_width(c));
	TAP_OK(find_line(c, "[" SL_HEATMAP_RAMP "]") == c->n - 1, "one legend at the bottom");
	/* row labels only on the first tile of each row: "s " starts the first matrix row */
	TAP_OK(line(c, t0 + 2)[0] == 's', "row labels on the left tile: '%s'", line(c, t0 + 2));

	/* narrow: fewer per row, still titled; short: a note */
	o.width = 30;
	sl_cells_clear(c);
	TAP_OK(sl_heatmap_grid(c, hm, L * NH, &o) == SL_OK && sl_cells_width(c) <= 30,
	       "narrow grid wraps within 30 columns (%d)", sl_cells_width(c));
	TAP_OK(find_line(c, "L1 H2") >= 0, "all tiles present after wrapping");
	o.height = 10;
	sl_cells_clear(c);
	TAP_OK(sl_heatmap_grid(c, hm, L * NH, &o) == SL_OK && c->n <= 10, "short grid fits 10 lines (%d)",
	       c->n);
	TAP_OK(find_line(c, "more heatmaps") >= 0, "says how many heatmaps were left out");
	sl_cells_free(c);
}

static void test_dump(void)
{
	const float v[2 * 2] = {0.125f, 0.8f, NAN, -1};
	const char *rows[] = {"s", "a b"}, *cols[] = {"<EOS>", ","};
	sl_heatmap hm = {.v = v, .rows = 2, .cols = 2, .row_labels = rows, .col_labels = cols,
	                 .title = "L0 H3"};
	char *s = sl_heatmap_dump(&hm);
	const char *want = "title=\"L0 H3\" rows=2 cols=2 lo=-1 hi=0.8 columns=<EOS>,\",\"\n"
	                   "row=s values=0.125,0.8\n"
	                   "row=\"a b\" values=nan,-1\n";
	TAP_OK(!strcmp(s, want), "key=value dump");
	if (strcmp(s, want))
		tap_diag("got:\n%s", s);
	free(s);
}

static void test_cells(void)
{
	sl_cells *c = sl_cells_new();
	sl_cells_line *l = sl_cells_add(c);
	TAP_OK(sl_cells_puts(l, "a\xc3\xa9\t\xff", -1, 1, -1) == 4 && l->cell[1].ch == 0xe9 &&
	       l->cell[2].ch == '?' && l->cell[3].ch == '?',
	       "puts decodes UTF-8, controls and bad bytes become '?'");
	TAP_OK(sl_cells_strwidth("\xe2\x80\xa6x") == 2, "strwidth counts code points");
	char *s = sl_cells_string(c, 1);
	TAP_OK(!strcmp(s, "\033[0;38;5;1ma\xc3\xa9??\033[0m\n"), "SGR string");
	free(s);
	sl_cells_free(c);
}

int main(void)
{
	test_labels();
	test_monotone();
	test_fixed_range();
	test_nonfinite();
	test_budget();
	test_equal_and_ascii();
	test_grid();
	test_dump();
	test_cells();
	return tap_done();
}
