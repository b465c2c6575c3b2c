/* journal.c - the session's journal and sealed scripts (journal.h). */
#include "config.h"

#include "seqlab/journal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

uint64_t sl_fnv1a64(uint64_t h, const void *data, size_t n)
{
	const unsigned char *p = data;
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

struct sl_journal {
	char **comments; /* header comment lines, without "# " */
	int ncomments;
	char **lines;
	int n, cap;
};

static void add_comment(sl_journal *j, const char *c)
{
	j->comments = sl_xrealloc(j->comments, (size_t)(j->ncomments + 1) * sizeof *j->comments);
	j->comments[j->ncomments++] = sl_xstrdup(c);
}

sl_journal *sl_journal_new(uint64_t seed, int threads)
{
	sl_journal *j = sl_xcalloc(1, sizeof *j);
	char date[64] = "unknown date";
	time_t now = time(NULL);
	struct tm tm;
	if (gmtime_r(&now, &tm))
		strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S UTC", &tm);
	char c[256], set[128];
	snprintf(c, sizeof c, "%s %s, seed %" PRIu64 ", threads %d, started %s", PACKAGE_NAME, PACKAGE_VERSION, seed,
		 threads, date);
	add_comment(j, c);
	snprintf(set, sizeof set, "set seed=%" PRIu64 " threads=%d", seed, threads);
	sl_journal_append(j, set);
	return j;
}

void sl_journal_free(sl_journal *j)
{
	if (!j)
		return;
	for (int i = 0; i < j->ncomments; i++)
		free(j->comments[i]);
	for (int i = 0; i < j->n; i++)
		free(j->lines[i]);
	free(j->comments);
	free(j->lines);
	free(j);
}

void sl_journal_append(sl_journal *j, const char *line)
{
	SL_ASSERT(!strchr(line, '\n'));
	if (j->n == j->cap) {
		j->cap = j->cap ? 2 * j->cap : 64;
		j->lines = sl_xrealloc(j->lines, (size_t)j->cap * sizeof *j->lines);
	}
	j->lines[j->n++] = sl_xstrdup(line);
}

int sl_journal_count(const sl_journal *j)
{
	return j->n;
}

const char *sl_journal_line(const sl_journal *j, int i)
{
	SL_ASSERT(i >= 0 && i < j->n);
	return j->lines[i];
}

char *sl_journal_text(const sl_journal *j, const char *extra)
{
	const char **lines = sl_xmalloc((size_t)(j->n + 1) * sizeof *lines);
	for (int i = 0; i < j->n; i++)
		lines[i] = j->lines[i];
	int n = j->n;
	if (extra)
		lines[n++] = extra;
	char *t = sl_sealed_text("journal", (const char *const *)j->comments, j->ncomments, lines, n);
	free(lines);
	return t;
}

/* ---- sealed scripts ---- */

struct buf {
	char *p;
	size_t len, cap;
};

static void put(struct buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = 2 * (b->len + n + 1);
		b->p = sl_xrealloc(b->p, b->cap);
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = 0;
}

static void puts_(struct buf *b, const char *s)
{
	put(b, s, strlen(s));
}

char *sl_sealed_text(const char *kind, const char *const *comments, int ncomments, const char *const *lines, int n)
{
	struct buf b = {0};
	char line[128];
	snprintf(line, sizeof line, "# seqlab %s %d\n", kind, SL_JOURNAL_VERSION);
	puts_(&b, line);
	for (int i = 0; i < ncomments; i++) {
		puts_(&b, "# ");
		puts_(&b, comments[i]);
		puts_(&b, "\n");
	}
	for (int i = 0; i < n; i++) {
		SL_ASSERT(!strchr(lines[i], '\n') && lines[i][0] && lines[i][0] != '#');
		puts_(&b, lines[i]);
		puts_(&b, "\n");
	}
	uint64_t h = sl_fnv1a64(SL_FNV_INIT, b.p, b.len);
	snprintf(line, sizeof line, "# end of %s: %d commands, fnv1a64 %016" PRIx64 "\n", kind, n, h);
	puts_(&b, line);
	return b.p;
}

/* Blank: only spaces and tabs (and a CR) before the end of the line. */
static int blank_line(const char *p, const char *end)
{
	for (; p < end; p++)
		if (*p != ' ' && *p != '\t' && *p != '\r')
			return 0;
	return 1;
}

int sl_sealed_check(const char *text, size_t len, const char *kind)
{
	char first[128];
	int fl = snprintf(first, sizeof first, "# seqlab %s %d\n", kind, SL_JOURNAL_VERSION);
	if (len < (size_t)fl || memcmp(text, first, (size_t)fl) != 0) {
		char prefix[128];
		int pl = snprintf(prefix, sizeof prefix, "# seqlab %s ", kind);
		if (len >= (size_t)pl && memcmp(text, prefix, (size_t)pl) == 0) {
			sl_errorf("a seqlab %s of another format version (this seqlab reads version %d)", kind,
				  SL_JOURNAL_VERSION);
			return SL_ERR;
		}
		sl_errorf("not a seqlab %s (it does not begin with '# seqlab %s %d')", kind, kind, SL_JOURNAL_VERSION);
		return SL_ERR;
	}
	if (memchr(text, 0, len)) {
		sl_errorf("damaged (it contains a NUL byte)");
		return SL_ERR;
	}
	if (text[len - 1] != '\n') {
		sl_errorf("truncated (it does not end with its end line)");
		return SL_ERR;
	}
	/* the last line */
	size_t ls = len - 1;
	while (ls > 0 && text[ls - 1] != '\n')
		ls--;
	char endp[128];
	int el = snprintf(endp, sizeof endp, "# end of %s: ", kind);
	if (len - ls < (size_t)el || memcmp(text + ls, endp, (size_t)el) != 0) {
		sl_errorf("truncated (it does not end with its end line)");
		return SL_ERR;
	}
	char tail[96];
	size_t tl = len - 1 - ls - (size_t)el;
	if (tl >= sizeof tail) {
		sl_errorf("damaged (a bad end line)");
		return SL_ERR;
	}
	memcpy(tail, text + ls + el, tl);
	tail[tl] = 0;
	int count;
	uint64_t want;
	char c1, extra;
	/* "N commands, fnv1a64 HEX" exactly */
	if (sscanf(tail, "%d command%c, fnv1a64 %" SCNx64 "%c", &count, &c1, &want, &extra) != 3 || c1 != 's' ||
	    count < 0 || strlen(tail) != (size_t)snprintf(NULL, 0, "%d commands, fnv1a64 %016" PRIx64, count, want)) {
		sl_errorf("damaged (a bad end line)");
		return SL_ERR;
	}
	uint64_t h = sl_fnv1a64(SL_FNV_INIT, text, ls);
	if (h != want) {
		sl_errorf("damaged (its hash does not match: the file was changed or corrupted)");
		return SL_ERR;
	}
	int n = 0;
	for (size_t p = 0; p < ls;) {
		const char *e = memchr(text + p, '\n', ls - p);
		size_t q = (size_t)(e - text);
		size_t k = p;
		while (k < q && (text[k] == ' ' || text[k] == '\t'))
			k++;
		if (!blank_line(text + p, e) && text[k] != '#')
			n++;
		p = q + 1;
	}
	if (n != count) {
		sl_errorf("damaged (%d commands, but its end line says %d)", n, count);
		return SL_ERR;
	}
	return SL_OK;
}

sl_journal *sl_journal_parse(const char *text, size_t len)
{
	if (sl_sealed_check(text, len, "journal") != SL_OK)
		return NULL;
	sl_journal *j = sl_xcalloc(1, sizeof *j);
	size_t p = 0;
	int first = 1;
	while (p < len) {
		const char *e = memchr(text + p, '\n', len - p);
		size_t q = (size_t)(e - text);
		char *line = sl_xmalloc(q - p + 1);
		memcpy(line, text + p, q - p);
		line[q - p] = 0;
		size_t k = strspn(line, " \t");
		int last = q + 1 == len;
		if (!first && !last && line[k] == '#' && j->n == 0)
			add_comment(j, line[k + 1] == ' ' ? line + k + 2 : line + k + 1);
		else if (line[k] != '#' && !blank_line(line, line + strlen(line)))
			sl_journal_append(j, line);
		free(line);
		first = 0;
		p = q + 1;
	}
	if (j->n == 0 || strncmp(j->lines[0], "set ", 4) != 0) {
		sl_journal_free(j);
		sl_errorf("damaged (its first command is not 'set seed=N threads=N')");
		return NULL;
	}
	return j;
}
