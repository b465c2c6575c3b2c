/* cells.c - lines of coloured cells: building, printing, and parsing SGR-coloured text. */
#include "seqlab/cells.h"
#include "seqlab/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

sl_cells *sl_cells_new(void)
{
	return sl_xcalloc(1, sizeof(sl_cells));
}

void sl_cells_free(sl_cells *c)
{
	if (!c)
		return;
	for (int i = 0; i < c->cap; i++)
		free(c->line[i].cell);
	free(c->line);
	free(c);
}

void sl_cells_clear(sl_cells *c)
{
	for (int i = 0; i < c->n; i++)
		c->line[i].n = 0;
	c->n = 0;
}

sl_cells_line *sl_cells_add(sl_cells *c)
{
	if (c->n == c->cap) {
		int cap = c->cap ? 2 * c->cap : 16;
		c->line = sl_xrealloc(c->line, (size_t)cap * sizeof *c->line);
		memset(c->line + c->cap, 0, (size_t)(cap - c->cap) * sizeof *c->line);
		c->cap = cap;
	}
	sl_cells_line *l = &c->line[c->n++];
	l->n = 0;
	return l;
}

static void reserve(sl_cells_line *l, int n)
{
	if (n <= l->cap)
		return;
	int cap = l->cap ? l->cap : 32;
	while (cap < n)
		cap *= 2;
	l->cell = sl_xrealloc(l->cell, (size_t)cap * sizeof *l->cell);
	l->cap = cap;
}

/* A cell: control characters and non-characters read '?'. */
static sl_cell cell(uint32_t ch, int fg, int bg)
{
	if (ch < 0x20 || ch == 0x7f || (ch >= 0x80 && ch < 0xa0) || ch > 0x10ffff)
		ch = '?';
	return (sl_cell){ch, (int16_t)fg, (int16_t)bg};
}

void sl_cells_putc(sl_cells_line *l, uint32_t ch, int fg, int bg)
{
	reserve(l, l->n + 1);
	l->cell[l->n++] = cell(ch, fg, bg);
}

void sl_cells_fill(sl_cells_line *l, uint32_t ch, int n, int fg, int bg)
{
	for (int i = 0; i < n; i++)
		sl_cells_putc(l, ch, fg, bg);
}

void sl_cells_set(sl_cells_line *l, int x, uint32_t ch, int fg, int bg)
{
	if (x < 0)
		return;
	if (x >= l->n)
		sl_cells_fill(l, ' ', x + 1 - l->n, SL_COLOR_DEFAULT, SL_COLOR_DEFAULT);
	l->cell[x] = cell(ch, fg, bg);
}

/* Decodes one UTF-8 code point at *s, advancing it; malformed input yields '?' for a byte. */
static uint32_t utf8_next(const unsigned char **s)
{
	const unsigned char *p = *s;
	uint32_t c = p[0];
	int len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
	if (len == 0) {
		*s = p + 1;
		return '?';
	}
	if (len == 1) {
		*s = p + 1;
		return c;
	}
	c &= 0x3f >> (len - 1);
	for (int i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80) {
			*s = p + 1;
			return '?';
		}
		c = c << 6 | (p[i] & 0x3f);
	}
	*s = p + len;
	return c;
}

int sl_cells_puts(sl_cells_line *l, const char *s, int max, int fg, int bg)
{
	const unsigned char *p = (const unsigned char *)s;
	int n = 0;
	while (*p && (max < 0 || n < max)) {
		sl_cells_putc(l, utf8_next(&p), fg, bg);
		n++;
	}
	return n;
}

void sl_cells_append(sl_cells *dst, const sl_cells *src)
{
	for (int i = 0; i < src->n; i++) {
		const sl_cells_line *s = &src->line[i];
		sl_cells_line *d = sl_cells_add(dst);
		reserve(d, s->n);
		memcpy(d->cell, s->cell, (size_t)s->n * sizeof *s->cell);
		d->n = s->n;
	}
}

int sl_cells_width(const sl_cells *c)
{
	int w = 0;
	for (int i = 0; i < c->n; i++)
		w = SL_MAX(w, c->line[i].n);
	return w;
}

int sl_cells_strwidth(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	int n = 0;
	while (*p) {
		utf8_next(&p);
		n++;
	}
	return n;
}

/* A growing string. */
typedef struct buf {
	char *s;
	size_t n, cap;
} buf;

static void buf_add(buf *b, const char *s, size_t n)
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

static void buf_utf8(buf *b, uint32_t c)
{
	char u[4];
	size_t n;
	if (c < 0x80) {
		u[0] = (char)c;
		n = 1;
	} else if (c < 0x800) {
		u[0] = (char)(0xc0 | c >> 6);
		u[1] = (char)(0x80 | (c & 0x3f));
		n = 2;
	} else if (c < 0x10000) {
		u[0] = (char)(0xe0 | c >> 12);
		u[1] = (char)(0x80 | (c >> 6 & 0x3f));
		u[2] = (char)(0x80 | (c & 0x3f));
		n = 3;
	} else {
		u[0] = (char)(0xf0 | c >> 18);
		u[1] = (char)(0x80 | (c >> 12 & 0x3f));
		u[2] = (char)(0x80 | (c >> 6 & 0x3f));
		u[3] = (char)(0x80 | (c & 0x3f));
		n = 4;
	}
	buf_add(b, u, n);
}

static void line_text(buf *b, const sl_cells_line *l, int color)
{
	int end = l->n;
	while (end > 0 && l->cell[end - 1].ch == ' ' && (!color || l->cell[end - 1].bg < 0))
		end--;
	int fg = SL_COLOR_DEFAULT, bg = SL_COLOR_DEFAULT;
	for (int i = 0; i < end; i++) {
		const sl_cell *c = &l->cell[i];
		if (color && (c->fg != fg || c->bg != bg)) {
			char esc[40];
			int k = snprintf(esc, sizeof esc, "\033[0");
			if (c->fg >= 0)
				k += snprintf(esc + k, sizeof esc - (size_t)k, ";38;5;%d", c->fg);
			if (c->bg >= 0)
				k += snprintf(esc + k, sizeof esc - (size_t)k, ";48;5;%d", c->bg);
			k += snprintf(esc + k, sizeof esc - (size_t)k, "m");
			buf_add(b, esc, (size_t)k);
			fg = c->fg;
			bg = c->bg;
		}
		buf_utf8(b, c->ch);
	}
	if (fg >= 0 || bg >= 0)
		buf_add(b, "\033[0m", 4);
}

char *sl_cells_string(const sl_cells *c, int color)
{
	buf b = {0};
	buf_add(&b, "", 0);
	for (int i = 0; i < c->n; i++) {
		line_text(&b, &c->line[i], color);
		buf_add(&b, "\n", 1);
	}
	return b.s;
}

char *sl_cells_line_string(const sl_cells *c, int i)
{
	buf b = {0};
	buf_add(&b, "", 0);
	if (i >= 0 && i < c->n)
		line_text(&b, &c->line[i], 0);
	return b.s;
}

/* ---- SGR parsing ---- */

int sl_cells_rgb256(int r, int g, int b)
{
	static const int level[6] = {0, 95, 135, 175, 215, 255};
	int q[3], v[3] = {r, g, b};
	for (int k = 0; k < 3; k++) {
		int best = 0;
		for (int i = 1; i < 6; i++)
			if (abs(level[i] - v[k]) < abs(level[best] - v[k]))
				best = i;
		q[k] = best;
	}
	int dr = level[q[0]] - r, dg = level[q[1]] - g, db = level[q[2]] - b;
	int dcube = dr * dr + dg * dg + db * db;
	/* greys 232..255 are 8, 18, ..., 238 */
	int mean = (r + g + b) / 3;
	int gi = SL_MIN(23, SL_MAX(0, (mean - 3) / 10));
	int gv = 8 + 10 * gi;
	int dgrey = (gv - r) * (gv - r) + (gv - g) * (gv - g) + (gv - b) * (gv - b);
	if (dgrey < dcube)
		return 232 + gi;
	return 16 + 36 * q[0] + 6 * q[1] + q[2];
}

/* Applies the parameters of one "ESC [ ... m" sequence. */
static void sgr_apply(const int *p, int np, int *fg, int *bg)
{
	if (np == 0) {
		*fg = *bg = SL_COLOR_DEFAULT;
		return;
	}
	for (int i = 0; i < np; i++) {
		int v = p[i];
		if (v == 0) {
			*fg = *bg = SL_COLOR_DEFAULT;
		} else if (v >= 30 && v <= 37) {
			*fg = v - 30;
		} else if (v >= 90 && v <= 97) {
			*fg = v - 90 + 8;
		} else if (v >= 40 && v <= 47) {
			*bg = v - 40;
		} else if (v >= 100 && v <= 107) {
			*bg = v - 100 + 8;
		} else if (v == 39) {
			*fg = SL_COLOR_DEFAULT;
		} else if (v == 49) {
			*bg = SL_COLOR_DEFAULT;
		} else if (v == 38 || v == 48) {
			int *dst = v == 38 ? fg : bg;
			if (i + 2 < np && p[i + 1] == 5) {
				*dst = (p[i + 2] >= 0 && p[i + 2] <= 255) ? p[i + 2] : SL_COLOR_DEFAULT;
				i += 2;
			} else if (i + 4 < np && p[i + 1] == 2) {
				*dst = sl_cells_rgb256(p[i + 2], p[i + 3], p[i + 4]);
				i += 4;
			} else {
				i = np; /* malformed: ignore the rest */
			}
		}
		/* bold, underline and the like are ignored */
	}
}

void sl_cells_parse_ansi(sl_cells *c, const char *text, int len)
{
	const unsigned char *p = (const unsigned char *)text, *end = p + len;
	int fg = SL_COLOR_DEFAULT, bg = SL_COLOR_DEFAULT;
	sl_cells_line *l = NULL;
	while (p < end) {
		if (!l)
			l = sl_cells_add(c);
		if (*p == '\n') {
			l = NULL;
			p++;
		} else if (*p == 033) {
			p++;
			if (p < end && *p == '[') {
				int par[16], np = 0, cur = -1;
				p++;
				while (p < end && ((*p >= '0' && *p <= '9') || *p == ';' || *p == ':')) {
					if (*p == ';' || *p == ':') {
						if (np < 16)
							par[np++] = cur < 0 ? 0 : cur;
						cur = -1;
					} else {
						cur = (cur < 0 ? 0 : cur) * 10 + (*p - '0');
						if (cur > 100000)
							cur = 100000;
					}
					p++;
				}
				if (cur >= 0 && np < 16)
					par[np++] = cur;
				if (p < end) {
					if (*p == 'm')
						sgr_apply(par, np, &fg, &bg);
					p++; /* the final byte of any CSI sequence */
				}
			} else if (p < end) {
				p++; /* a two-byte escape */
			}
		} else if (*p == '\t') {
			int to = (l->n / 8 + 1) * 8;
			sl_cells_fill(l, ' ', to - l->n, fg, bg);
			p++;
		} else if (*p < 0x20 || *p == 0x7f) {
			p++; /* \r, \f and other controls */
		} else {
			/* one code point, not reading past end */
			unsigned char tmp[5] = {0};
			int k = 0;
			while (k < 4 && p + k < end) {
				tmp[k] = p[k];
				k++;
			}
			const unsigned char *q = tmp;
			uint32_t ch = utf8_next(&q);
			p += q - tmp;
			sl_cells_putc(l, ch, fg, bg);
		}
	}
}
