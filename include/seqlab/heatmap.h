/* heatmap.h - a labelled matrix as shaded text: one heatmap, a grid of them (layers x heads,
 * bertviz's "model view"), or a key=value dump for scripts.
 *
 * Renderers take plain data (a float matrix and label strings) and append lines of cells (see
 * cells.h); the plain front-end prints them, the screen paints them. */
#ifndef SEQLAB_HEATMAP_H
#define SEQLAB_HEATMAP_H

#include "seqlab/cells.h"

/* The ASCII shade ramp of the mono style, lowest value first. */
#define SL_HEATMAP_RAMP " .:-=+*#%@"
/* Glyphs of cells whose value is NaN or infinite (never part of a ramp). */
#define SL_HEATMAP_NAN '?'
#define SL_HEATMAP_INF '!'

typedef enum sl_heatmap_style {
	SL_HEATMAP_MONO,     /* shade characters from SL_HEATMAP_RAMP; output is pure ASCII */
	SL_HEATMAP_COLOR256, /* blank cells on a viridis-like background ramp (xterm-256 cube) */
	SL_HEATMAP_GREY256,  /* blank cells on the 24 greys 232..255 */
} sl_heatmap_style;

/* The data: borrowed, never freed by the renderer. */
typedef struct sl_heatmap {
	const float *v;                /* (rows, cols), row-major */
	int rows, cols;
	const char *const *row_labels; /* rows UTF-8 strings, or NULL: 0, 1, 2, ... */
	const char *const *col_labels; /* cols strings, or NULL */
	const char *title;             /* or NULL */
	int fixed;                     /* shade over [lo, hi], clamping; else the data's min..max */
	float lo, hi;
} sl_heatmap;

typedef struct sl_heatmap_opts {
	sl_heatmap_style style;
	int width, height; /* the budget in columns and lines; 0 = unlimited */
	int cell_width;    /* 1..3 columns per cell; 0 = the widest that fits (up to 3, 2 in a grid) */
	int row0, col0;    /* the first row and column shown (scrolling a large matrix) */
	int no_legend;     /* leave out the range/ramp line */
	int grid_cols;     /* grid: heatmaps per tile row; 0 = as many as fit */
} sl_heatmap_opts;

/* Where the matrix landed, so a screen can map a cursor to a value: cell (row0 + i, col0 + j)
 * occupies line y + i, columns x + j*cell_width .. x + (j+1)*cell_width - 1. */
typedef struct sl_heatmap_layout {
	int x, y, cell_width;
	int row0, col0, nrows, ncols; /* the part shown */
	float lo, hi;                 /* the range shaded */
} sl_heatmap_layout;

/* Appends one heatmap to out: title, column labels (across, or vertical when wider than a
 * cell), rows with their labels on the left, a "... N more columns, M more rows" line when the
 * budget cuts the matrix, and a legend with the range and the ramp. lay may be NULL.
 * Returns SL_OK, or SL_ERR (sl_error set) when the budget cannot hold a single cell. */
int sl_heatmap_render(sl_cells *out, const sl_heatmap *hm, const sl_heatmap_opts *o,
                      sl_heatmap_layout *lay);

/* Appends n heatmaps tiled left to right, top to bottom, each under its title ("L0 H3"), row
 * labels on the first tile of each tile row, one legend for all. Heatmaps without a fixed
 * range share the range of all of their data. Tiles that do not fit the height are left out
 * with a "... N more heatmaps" line. Returns SL_OK, or SL_ERR (sl_error set) when not even one
 * tile fits the width. */
int sl_heatmap_grid(sl_cells *out, const sl_heatmap *hm, int n, const sl_heatmap_opts *o);

/* The heatmap as plain text (no colours, whatever the style); NULL with sl_error set on error.
 * The caller frees it. */
char *sl_heatmap_string(const sl_heatmap *hm, const sl_heatmap_opts *o);

/* A key=value dump for scripts: a header line
 *     title=T rows=R cols=C lo=L hi=H columns=a,b,c
 * then one line per row
 *     row=s values=0.12,0.8,nan,...
 * Values use %.6g; tokens with blanks, quotes, '=' or ',' are double-quoted with \ escapes.
 * The caller frees the string. */
char *sl_heatmap_dump(const sl_heatmap *hm);

/* The data range a heatmap is shaded over: [lo, hi] when fixed, else the min and max of its
 * finite values (0, 0 when there are none). */
void sl_heatmap_range(const sl_heatmap *hm, float *lo, float *hi);

/* The ramp step (0 .. nlevels-1) of value v over [lo, hi], clamped; the middle step when the
 * range is empty. v must be finite. */
int sl_heatmap_level(float v, float lo, float hi, int nlevels);

#endif
