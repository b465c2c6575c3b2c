/* cells.h - rendered text as lines of coloured cells, the common output of the heatmap and
 * curve renderers.
 *
 * A renderer draws into an sl_cells; the plain front-end turns it into a string (with SGR
 * colour escapes or without), the screen paints each cell into a curses window. Nothing here
 * touches a terminal, so what a pane will show can be tested from the cells alone. */
#ifndef SEQLAB_CELLS_H
#define SEQLAB_CELLS_H

#include <stdint.h>

#define SL_COLOR_DEFAULT (-1) /* the terminal's own foreground/background */

/* One terminal column: a Unicode code point (never a control character) and xterm-256
 * colour indices 0..255 for foreground and background, or SL_COLOR_DEFAULT. */
typedef struct sl_cell {
	uint32_t ch;
	int16_t fg, bg;
} sl_cell;

typedef struct sl_cells_line {
	sl_cell *cell; /* (n) */
	int n, cap;
} sl_cells_line;

/* A block of lines, each as long as it needs to be (no trailing padding is implied). */
typedef struct sl_cells {
	sl_cells_line *line; /* (n) */
	int n, cap;
} sl_cells;

/* An empty block; free with sl_cells_free (NULL is fine). */
sl_cells *sl_cells_new(void);
void sl_cells_free(sl_cells *c);
/* Drop every line, keep the allocations. */
void sl_cells_clear(sl_cells *c);

/* Appends an empty line and returns it (valid until the next line is added). */
sl_cells_line *sl_cells_add(sl_cells *c);
/* Appends one cell; control characters become '?'. */
void sl_cells_putc(sl_cells_line *l, uint32_t ch, int fg, int bg);
/* Appends the UTF-8 text s (invalid bytes become '?'), at most max cells when max >= 0;
 * returns the number of cells appended. */
int sl_cells_puts(sl_cells_line *l, const char *s, int max, int fg, int bg);
/* Appends n copies of ch. */
void sl_cells_fill(sl_cells_line *l, uint32_t ch, int n, int fg, int bg);
/* Sets the cell at column x, padding the line with blanks up to it. */
void sl_cells_set(sl_cells_line *l, int x, uint32_t ch, int fg, int bg);
/* Appends every line of src to dst. */
void sl_cells_append(sl_cells *dst, const sl_cells *src);

/* The widest line, in cells. */
int sl_cells_width(const sl_cells *c);
/* The number of UTF-8 code points in s: its width in cells. */
int sl_cells_strwidth(const char *s);

/* The block as UTF-8 text, one '\n' after each line, trailing blanks dropped. With color,
 * colours become SGR escapes (38;5;N / 48;5;N, reset at the end of each coloured run).
 * The caller frees the string. */
char *sl_cells_string(const sl_cells *c, int color);
/* The text of line i without colours (trailing blanks dropped); caller frees. */
char *sl_cells_line_string(const sl_cells *c, int i);

/* Appends the lines of text, which may carry SGR escapes (as gnuplot's ansi/ansi256/ansirgb
 * terminals emit), turning them into cell colours: 30-37/90-97/38;5;N/38;2;R;G;B and their
 * background forms, 39/49/0 resets. Other escapes, form feeds and '\r' are dropped; tabs expand
 * to the next multiple of 8. A final line without '\n' is kept. */
void sl_cells_parse_ansi(sl_cells *c, const char *text, int len);

/* The xterm-256 index nearest to 24-bit (r, g, b): the 6x6x6 cube or the 24 greys. */
int sl_cells_rgb256(int r, int g, int b);

#endif
