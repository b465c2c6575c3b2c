/* safetensors.c - the safetensors writer (atomic) and the strict reader.
 *
 * The reader runs in three passes over an untrusted buffer:
 *   1. the header length against the file size and the 100 MB limit;
 *   2. a strict JSON validator over the header (recursive, depth <= 8, no
 *      allocation): grammar, string escapes, UTF-8, number syntax, nothing but
 *      whitespace after the object — so a syntax error is always reported as
 *      one, whatever the content;
 *   3. a schema pass that decodes the (now well-formed) header into tensors
 *      and metadata and checks every field, then the data layout: sizes,
 *      bounds, overlaps and gaps.
 * Every index into the input is checked against its length; sizes are
 * computed in uint64_t with explicit overflow checks. */
#include "seqlab/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
	       "safetensors data is little-endian; seqlab uses it in place");

#define JSON_MAX_DEPTH 8

/* ---- dtypes ---- */

static const struct {
	const char *name;
	size_t size;
} dtypes[] = {
	[SL_ST_BOOL] = { "BOOL", 1 },       [SL_ST_U8] = { "U8", 1 },
	[SL_ST_I8] = { "I8", 1 },           [SL_ST_F8_E5M2] = { "F8_E5M2", 1 },
	[SL_ST_F8_E4M3] = { "F8_E4M3", 1 }, [SL_ST_I16] = { "I16", 2 },
	[SL_ST_U16] = { "U16", 2 },         [SL_ST_F16] = { "F16", 2 },
	[SL_ST_BF16] = { "BF16", 2 },       [SL_ST_I32] = { "I32", 4 },
	[SL_ST_U32] = { "U32", 4 },         [SL_ST_F32] = { "F32", 4 },
	[SL_ST_F64] = { "F64", 8 },         [SL_ST_I64] = { "I64", 8 },
	[SL_ST_U64] = { "U64", 8 },
};
_Static_assert(SL_COUNT(dtypes) == SL_ST_NDTYPE, "one name per dtype");

const char *sl_st_dtype_name(int dtype)
{
	return dtype >= 0 && dtype < SL_ST_NDTYPE ? dtypes[dtype].name : NULL;
}

size_t sl_st_dtype_size(int dtype)
{
	return dtype >= 0 && dtype < SL_ST_NDTYPE ? dtypes[dtype].size : 0;
}

int sl_st_dtype_find(const char *name)
{
	for (int i = 0; i < SL_ST_NDTYPE; i++)
		if (strcmp(dtypes[i].name, name) == 0)
			return i;
	return -1;
}

/* ---- small helpers ---- */

/* Length (1-4) of the valid UTF-8 sequence at s, n bytes available; 0 if it
 * is not one (overlong forms, surrogates and code points > U+10FFFF are not). */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	size_t len;
	uint32_t cp, min;
	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF) {
		len = 2, cp = c & 0x1F, min = 0x80;
	} else if ((c & 0xF0) == 0xE0) {
		len = 3, cp = c & 0x0F, min = 0x800;
	} else if (c >= 0xF0 && c <= 0xF4) {
		len = 4, cp = c & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t k = 1; k < len; k++) {
		if ((s[k] & 0xC0) != 0x80)
			return 0;
		cp = cp << 6 | (s[k] & 0x3F);
	}
	if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return len;
}

static int utf8_valid(const char *s)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t n = strlen(s);
	for (size_t i = 0; i < n;) {
		size_t k = utf8_seq(u + i, n - i);
		if (!k)
			return 0;
		i += k;
	}
	return 1;
}

/* s quoted for an error message: "name", with control characters and bytes
 * that are not UTF-8 escaped as \xNN, cut after about 60 bytes (at a
 * character boundary). cap >= 16. */
static const char *quote(char *buf, size_t cap, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *u = (const unsigned char *)s;
	size_t o = 0, i = 0;
	SL_ASSERT(cap >= 16);
	buf[o++] = '"';
	while (u[i] && i < 60 && o + 12 < cap) {
		size_t k = utf8_seq(u + i, strnlen(s + i, 4));
		if (k == 0 || u[i] < 0x20 || u[i] == 0x7F) {
			buf[o++] = '\\', buf[o++] = 'x', buf[o++] = hex[u[i] >> 4], buf[o++] = hex[u[i] & 15];
			i++;
			continue;
		}
		if (u[i] == '"' || u[i] == '\\')
			buf[o++] = '\\';
		memcpy(buf + o, u + i, k);
		o += k;
		i += k;
	}
	if (u[i])
		buf[o++] = '.', buf[o++] = '.', buf[o++] = '.';
	buf[o++] = '"';
	buf[o] = 0;
	return buf;
}

/* "(3, 4)" for a shape; "()" for a scalar. */
static const char *shape_str(char *buf, size_t cap, int ndim, const int64_t *shape)
{
	size_t o = (size_t)snprintf(buf, cap, "(");
	for (int i = 0; i < ndim && o < cap; i++)
		o += (size_t)snprintf(buf + o, cap - o, "%s%" PRId64, i ? ", " : "", shape[i]);
	if (o < cap)
		snprintf(buf + o, cap - o, ")");
	return buf;
}

/* a × b into *r; 0 on overflow. */
static int mul_ok(uint64_t a, uint64_t b, uint64_t *r)
{
	return !__builtin_mul_overflow(a, b, r);
}

/* Replaces the current error by "prefix: error". */
static void error_prefix(const char *prefix)
{
	char msg[512];
	snprintf(msg, sizeof msg, "%s", sl_error());
	sl_errorf("%s: %s", prefix, msg);
}

/* A growing byte buffer. */
typedef struct sb {
	char *s;
	size_t n, cap;
} sb;

static void sb_put(sb *b, const char *s, size_t n)
{
	if (b->n + n + 1 > b->cap) {
		b->cap = SL_MAX(2 * b->cap, b->n + n + 64);
		b->s = sl_xrealloc(b->s, b->cap);
	}
	memcpy(b->s + b->n, s, n);
	b->n += n;
	b->s[b->n] = 0;
}

static void sb_puts(sb *b, const char *s)
{
	sb_put(b, s, strlen(s));
}

static void sb_printf(sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sb *b, const char *fmt, ...)
{
	char tmp[64];
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	SL_ASSERT(k >= 0 && (size_t)k < sizeof tmp);
	sb_put(b, tmp, (size_t)k);
}

/* s as a JSON string: quotes, backslashes and control characters escaped,
 * everything else (valid UTF-8) as it is. */
static void sb_json_str(sb *b, const char *s)
{
	sb_put(b, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		switch (c) {
		case '"': sb_puts(b, "\\\""); break;
		case '\\': sb_puts(b, "\\\\"); break;
		case '\n': sb_puts(b, "\\n"); break;
		case '\t': sb_puts(b, "\\t"); break;
		case '\r': sb_puts(b, "\\r"); break;
		default:
			if (c < 0x20)
				sb_printf(b, "\\u%04x", c);
			else
				sb_put(b, s, 1);
		}
	}
	sb_put(b, "\"", 1);
}

/* ---- writing ---- */

sl_safetensors_tensor sl_safetensors_tensor_of(const sl_tensor *t, const char *name)
{
	sl_safetensors_tensor e = { .name = name ? name : t->name, .dtype = SL_ST_F32, .ndim = t->ndim,
				    .data = t->data };
	for (int i = 0; i < t->ndim; i++)
		e.shape[i] = t->shape[i];
	e.nbytes = sl_tensor_numel(t) * sizeof(float);
	return e;
}

/* The layout of a file to write: the header bytes (padded), the order in
 * which the tensors' data follows it and each tensor's size. */
typedef struct layout {
	sb hdr;
	int *order;      /* data order: tensors by decreasing element size */
	uint64_t *bytes; /* bytes of tensor i */
	uint64_t total;  /* bytes of the data buffer */
} layout;

static void layout_free(layout *l)
{
	free(l->hdr.s);
	free(l->order);
	free(l->bytes);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* 1 if two of the n strings are equal (then *dup is one of them). */
static int has_dup(const char **s, int n, const char **dup)
{
	if (n < 2)
		return 0;
	const char **v = sl_xmalloc((size_t)n * sizeof *v);
	memcpy(v, s, (size_t)n * sizeof *v);
	qsort(v, (size_t)n, sizeof *v, cmp_str);
	int found = 0;
	for (int i = 1; i < n && !found; i++)
		if (strcmp(v[i - 1], v[i]) == 0) {
			*dup = v[i];
			found = 1;
		}
	free(v);
	return found;
}

/* Checks the input and builds the layout; SL_ERR with the error set. */
static int layout_build(layout *l, const sl_safetensors_tensor *t, int n, const sl_safetensors_meta *meta,
			int nmeta)
{
	char q[160], sh[256];
	const char *dup = NULL;
	memset(l, 0, sizeof *l);
	if (n < 0 || nmeta < 0 || (n > 0 && !t) || (nmeta > 0 && !meta)) {
		sl_errorf("invalid tensor or metadata list");
		return SL_ERR;
	}
	const char **names = sl_xmalloc((size_t)(n > nmeta ? n : nmeta) * sizeof *names + 1);
	int st = SL_ERR;
	for (int i = 0; i < nmeta; i++) {
		if (!meta[i].key || !meta[i].value || !meta[i].key[0]) {
			sl_errorf("metadata entry %d: missing or empty key or value", i);
			goto out;
		}
		if (!utf8_valid(meta[i].key) || !utf8_valid(meta[i].value)) {
			sl_errorf("metadata %s: not valid UTF-8", quote(q, sizeof q, meta[i].key));
			goto out;
		}
		names[i] = meta[i].key;
	}
	if (has_dup(names, nmeta, &dup)) {
		sl_errorf("duplicate metadata key %s", quote(q, sizeof q, dup));
		goto out;
	}
	l->bytes = sl_xcalloc((size_t)n + 1, sizeof *l->bytes);
	for (int i = 0; i < n; i++) {
		const sl_safetensors_tensor *e = &t[i];
		if (!e->name || !e->name[0]) {
			sl_errorf("tensor %d has no name", i);
			goto out;
		}
		quote(q, sizeof q, e->name);
		if (!utf8_valid(e->name)) {
			sl_errorf("tensor %s: name is not valid UTF-8", q);
			goto out;
		}
		if (strcmp(e->name, "__metadata__") == 0) {
			sl_errorf("tensor %s: the name is reserved", q);
			goto out;
		}
		if (!sl_st_dtype_name(e->dtype)) {
			sl_errorf("tensor %s: unknown dtype %d", q, e->dtype);
			goto out;
		}
		if (e->ndim < 0 || e->ndim > SL_ST_MAXDIM) {
			sl_errorf("tensor %s: %d dimensions (0 to %d)", q, e->ndim, SL_ST_MAXDIM);
			goto out;
		}
		uint64_t b = sl_st_dtype_size(e->dtype);
		for (int d = 0; d < e->ndim; d++) {
			if (e->shape[d] < 0 || !mul_ok(b, (uint64_t)e->shape[d], &b)) {
				sl_errorf("tensor %s: bad shape %s", q, shape_str(sh, sizeof sh, e->ndim, e->shape));
				goto out;
			}
		}
		if (b > 0 && !e->data) {
			sl_errorf("tensor %s: no data", q);
			goto out;
		}
		if (__builtin_add_overflow(l->total, b, &l->total) || l->total > SIZE_MAX / 2) {
			sl_errorf("tensor %s: the file would be too large", q);
			goto out;
		}
		l->bytes[i] = b;
		names[i] = e->name;
	}
	if (has_dup(names, n, &dup)) {
		sl_errorf("duplicate tensor name %s", quote(q, sizeof q, dup));
		goto out;
	}

	/* data order: decreasing element size, stable, so every tensor starts at
	 * a multiple of its element size (the buffer itself starts at 8k) */
	l->order = sl_xmalloc(((size_t)n + 1) * sizeof *l->order);
	int k = 0;
	for (size_t size = 8; size >= 1; size /= 2)
		for (int i = 0; i < n; i++)
			if (sl_st_dtype_size(t[i].dtype) == size)
				l->order[k++] = i;
	SL_ASSERT(k == n);
	uint64_t *begin = sl_xcalloc((size_t)n + 1, sizeof *begin);
	uint64_t off = 0;
	for (int j = 0; j < n; j++) {
		begin[l->order[j]] = off;
		off += l->bytes[l->order[j]];
	}

	sb *h = &l->hdr;
	sb_puts(h, "{");
	if (nmeta > 0) {
		sb_puts(h, "\"__metadata__\":{");
		for (int i = 0; i < nmeta; i++) {
			if (i)
				sb_puts(h, ",");
			sb_json_str(h, meta[i].key);
			sb_puts(h, ":");
			sb_json_str(h, meta[i].value);
		}
		sb_puts(h, "}");
	}
	for (int i = 0; i < n; i++) {
		if (i || nmeta > 0)
			sb_puts(h, ",");
		sb_json_str(h, t[i].name);
		sb_printf(h, ":{\"dtype\":\"%s\",\"shape\":[", sl_st_dtype_name(t[i].dtype));
		for (int d = 0; d < t[i].ndim; d++)
			sb_printf(h, "%s%" PRId64, d ? "," : "", t[i].shape[d]);
		sb_printf(h, "],\"data_offsets\":[%" PRIu64 ",%" PRIu64 "]}", begin[i], begin[i] + l->bytes[i]);
	}
	sb_puts(h, "}");
	while (h->n % 8)
		sb_puts(h, " ");
	free(begin);
	st = SL_OK;
out:
	free(names);
	if (st != SL_OK) {
		layout_free(l);
		memset(l, 0, sizeof *l);
	}
	return st;
}

static void put_u64le(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

int sl_safetensors_encode(const sl_safetensors_tensor *t, int n, const sl_safetensors_meta *meta, int nmeta,
			  unsigned char **out, size_t *len)
{
	layout l;
	*out = NULL;
	*len = 0;
	if (layout_build(&l, t, n, meta, nmeta) != SL_OK)
		return SL_ERR;
	size_t total = 8 + l.hdr.n + (size_t)l.total;
	unsigned char *buf = sl_xmalloc(total), *p = buf;
	put_u64le(p, l.hdr.n);
	memcpy(p + 8, l.hdr.s, l.hdr.n);
	p += 8 + l.hdr.n;
	for (int j = 0; j < n; j++) {
		int i = l.order[j];
		if (l.bytes[i])
			memcpy(p, t[i].data, (size_t)l.bytes[i]);
		p += l.bytes[i];
	}
	layout_free(&l);
	*out = buf;
	*len = total;
	return SL_OK;
}

/* write(2) until done; -1 with errno set (EIO for a write that makes no
 * progress). */
static int write_all(int fd, const void *data, size_t n)
{
	const char *p = data;
	while (n > 0) {
		ssize_t k = write(fd, p, n > ((size_t)1 << 30) ? (size_t)1 << 30 : n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -1;
		if (k == 0) {
			errno = EIO;
			return -1;
		}
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

/* fsync of the directory holding path, so the rename is durable; file
 * systems that cannot sync a directory (EINVAL) are let be. */
static int sync_dir(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir = slash ? sl_xstrdup(path) : sl_xstrdup(".");
	if (slash)
		dir[slash == path ? 1 : slash - path] = 0;
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(dir);
	if (fd < 0)
		return -1;
	int r = fsync(fd);
	int e = errno;
	close(fd);
	if (r < 0 && e != EINVAL) {
		errno = e;
		return -1;
	}
	return 0;
}

int sl_safetensors_write(const char *path, const sl_safetensors_tensor *t, int n, const sl_safetensors_meta *meta,
			 int nmeta)
{
	layout l;
	if (layout_build(&l, t, n, meta, nmeta) != SL_OK) {
		error_prefix(path);
		return SL_ERR;
	}
	size_t tlen = strlen(path) + 64;
	char *tmp = sl_xmalloc(tlen);
	int fd = -1, err = 0;
	static _Atomic unsigned counter;
	for (int tries = 0; fd < 0 && tries < 100; tries++) {
		snprintf(tmp, tlen, "%s.tmp.%ld.%u", path, (long)getpid(), counter++);
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
		if (fd < 0 && errno != EEXIST)
			break;
	}
	if (fd < 0) {
		err = errno;
		goto fail_noclean;
	}
	unsigned char len8[8];
	put_u64le(len8, l.hdr.n);
	if (write_all(fd, len8, 8) < 0 || write_all(fd, l.hdr.s, l.hdr.n) < 0)
		goto fail;
	for (int j = 0; j < n; j++) {
		int i = l.order[j];
		if (l.bytes[i] && write_all(fd, t[i].data, (size_t)l.bytes[i]) < 0)
			goto fail;
	}
	if (fsync(fd) < 0)
		goto fail;
	int r = close(fd);
	fd = -1;
	if (r < 0)
		goto fail;
	if (rename(tmp, path) < 0)
		goto fail;
	if (sync_dir(path) < 0) {
		err = errno;
		goto fail_noclean;
	}
	free(tmp);
	layout_free(&l);
	return SL_OK;

fail:
	err = errno;
	if (fd >= 0)
		close(fd);
	unlink(tmp);
fail_noclean:
	sl_errorf("%s: %s", path, strerror(err));
	free(tmp);
	layout_free(&l);
	return SL_ERR;
}

int sl_safetensors_save_params(const char *path, const sl_params *ps, const sl_safetensors_meta *meta, int nmeta)
{
	SL_ASSERT(ps->allocated);
	sl_safetensors_tensor *t = sl_xcalloc((size_t)ps->n + 1, sizeof *t);
	for (int i = 0; i < ps->n; i++)
		t[i] = sl_safetensors_tensor_of(ps->t[i], NULL);
	int r = sl_safetensors_write(path, t, ps->n, meta, nmeta);
	free(t);
	return r;
}

/* ---- the JSON validator (pass 2) ---- */

typedef struct jp {
	const unsigned char *s;
	size_t n, i;
} jp;

static int jfail(const jp *p, const char *what)
{
	sl_errorf("bad header JSON at byte %zu: %s", p->i, what);
	return SL_ERR;
}

static void jws(jp *p)
{
	while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n' || p->s[p->i] == '\r'))
		p->i++;
}

static int jpeek(const jp *p)
{
	return p->i < p->n ? p->s[p->i] : -1;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The 4 hex digits of a \u escape starting at s[i] ("\uXXXX"); -1 if absent. */
static long hex4(const jp *p, size_t i)
{
	if (i + 6 > p->n || p->s[i] != '\\' || p->s[i + 1] != 'u')
		return -1;
	long v = 0;
	for (size_t k = i + 2; k < i + 6; k++) {
		int h = hexval(p->s[k]);
		if (h < 0)
			return -1;
		v = v << 4 | h;
	}
	return v;
}

/* A string at p->i (which is '"'). Decodes it into out (NUL-terminated; the
 * decoded form is never longer than the quoted one) unless out is NULL, and
 * its length into *outlen. */
static int jstr(jp *p, char *out, size_t *outlen)
{
	size_t o = 0;
	SL_ASSERT(jpeek(p) == '"');
	p->i++;
	for (;;) {
		if (p->i >= p->n)
			return jfail(p, "unterminated string");
		unsigned c = p->s[p->i];
		if (c == '"') {
			p->i++;
			break;
		}
		if (c < 0x20)
			return jfail(p, "control character in a string");
		if (c != '\\') {
			size_t k = utf8_seq(p->s + p->i, p->n - p->i);
			if (!k)
				return jfail(p, "invalid UTF-8 in a string");
			if (out)
				memcpy(out + o, p->s + p->i, k);
			o += k;
			p->i += k;
			continue;
		}
		if (p->i + 1 >= p->n)
			return jfail(p, "unterminated string");
		unsigned e = p->s[p->i + 1];
		const char *from = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t", *m = e ? strchr(from, (int)e) : NULL;
		if (m) {
			if (out)
				out[o] = to[m - from];
			o++;
			p->i += 2;
			continue;
		}
		if (e != 'u')
			return jfail(p, "invalid escape in a string");
		long cp = hex4(p, p->i);
		if (cp < 0)
			return jfail(p, "\\u needs four hex digits");
		if (cp >= 0xDC00 && cp <= 0xDFFF)
			return jfail(p, "unpaired surrogate in a \\u escape");
		if (cp >= 0xD800 && cp <= 0xDBFF) {
			long lo = hex4(p, p->i + 6);
			if (lo < 0xDC00 || lo > 0xDFFF)
				return jfail(p, "unpaired surrogate in a \\u escape");
			cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
			p->i += 6;
		}
		if (cp == 0)
			return jfail(p, "\\u0000 in a string");
		p->i += 6;
		/* UTF-8 encoding of cp */
		unsigned char u[4];
		size_t k;
		if (cp < 0x80) {
			u[0] = (unsigned char)cp, k = 1;
		} else if (cp < 0x800) {
			u[0] = (unsigned char)(0xC0 | cp >> 6), u[1] = (unsigned char)(0x80 | (cp & 0x3F)), k = 2;
		} else if (cp < 0x10000) {
			u[0] = (unsigned char)(0xE0 | cp >> 12), u[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
			u[2] = (unsigned char)(0x80 | (cp & 0x3F)), k = 3;
		} else {
			u[0] = (unsigned char)(0xF0 | cp >> 18), u[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
			u[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F)), u[3] = (unsigned char)(0x80 | (cp & 0x3F));
			k = 4;
		}
		if (out)
			memcpy(out + o, u, k);
		o += k;
	}
	if (out)
		out[o] = 0;
	if (outlen)
		*outlen = o;
	return SL_OK;
}

/* What a number is. */
enum { NUM_INT, NUM_BIG, NUM_FRAC };

/* A number at p->i: RFC 8259 syntax. *kind says whether it is an integer
 * that fits in int64 (*val), a larger integer, or has a fraction/exponent. */
static int jnum(jp *p, int *kind, int64_t *val)
{
	int neg = 0, big = 0, frac = 0;
	uint64_t mag = 0;
	if (jpeek(p) == '-') {
		neg = 1;
		p->i++;
	}
	int c = jpeek(p);
	if (c < '0' || c > '9')
		return jfail(p, "invalid number");
	if (c == '0') {
		p->i++;
		c = jpeek(p);
		if (c >= '0' && c <= '9')
			return jfail(p, "leading zero in a number");
	} else {
		while ((c = jpeek(p)) >= '0' && c <= '9') {
			if (mag > (UINT64_MAX - 9) / 10)
				big = 1;
			else
				mag = mag * 10 + (uint64_t)(c - '0');
			p->i++;
		}
	}
	if (jpeek(p) == '.') {
		frac = 1;
		p->i++;
		if ((c = jpeek(p)) < '0' || c > '9')
			return jfail(p, "digits expected after '.'");
		while ((c = jpeek(p)) >= '0' && c <= '9')
			p->i++;
	}
	if (jpeek(p) == 'e' || jpeek(p) == 'E') {
		frac = 1;
		p->i++;
		if (jpeek(p) == '+' || jpeek(p) == '-')
			p->i++;
		if ((c = jpeek(p)) < '0' || c > '9')
			return jfail(p, "digits expected in an exponent");
		while ((c = jpeek(p)) >= '0' && c <= '9')
			p->i++;
	}
	if (!big && (neg ? mag > (uint64_t)INT64_MAX + 1 : mag > (uint64_t)INT64_MAX))
		big = 1;
	*kind = frac ? NUM_FRAC : big ? NUM_BIG : NUM_INT;
	*val = 0;
	if (*kind == NUM_INT)
		*val = neg ? (mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag) : (int64_t)mag;
	return SL_OK;
}

/* Any JSON value at p->i, inside depth containers. */
static int jvalue(jp *p, int depth)
{
	jws(p);
	int c = jpeek(p);
	if (c == '{' || c == '[') {
		int close = c == '{' ? '}' : ']';
		if (depth >= JSON_MAX_DEPTH)
			return jfail(p, "nesting deeper than 8");
		p->i++;
		jws(p);
		if (jpeek(p) == close) {
			p->i++;
			return SL_OK;
		}
		for (;;) {
			if (close == '}') {
				jws(p);
				if (jpeek(p) != '"')
					return jfail(p, "expected a string key");
				if (jstr(p, NULL, NULL))
					return SL_ERR;
				jws(p);
				if (jpeek(p) != ':')
					return jfail(p, "expected ':' after a key");
				p->i++;
			}
			if (jvalue(p, depth + 1))
				return SL_ERR;
			jws(p);
			c = jpeek(p);
			p->i++;
			if (c == close)
				return SL_OK;
			if (c != ',') {
				p->i--;
				return jfail(p, close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
			}
		}
	}
	if (c == '"')
		return jstr(p, NULL, NULL);
	if (c == '-' || (c >= '0' && c <= '9')) {
		int kind;
		int64_t v;
		return jnum(p, &kind, &v);
	}
	static const char *const lit[] = { "true", "false", "null" };
	for (size_t k = 0; k < SL_COUNT(lit); k++) {
		size_t len = strlen(lit[k]);
		if (p->n - p->i >= len && memcmp(p->s + p->i, lit[k], len) == 0) {
			p->i += len;
			return SL_OK;
		}
	}
	return jfail(p, c < 0 ? "unexpected end of the header" : "unexpected character");
}

/* ---- reading (pass 3: the schema) ---- */

struct sl_safetensors {
	unsigned char *buf; /* the whole file */
	size_t len;
	size_t data_size;
	int n, cap;
	sl_safetensors_tensor *t;
	uint64_t (*off)[2]; /* data_offsets of each tensor */
	int *by_name;       /* tensor indices sorted by name */
	int nmeta, metacap;
	sl_safetensors_meta *meta;
	int *meta_by_key;
	char *pool; /* every decoded string */
	size_t used;
};

void sl_safetensors_free(sl_safetensors *st)
{
	if (!st)
		return;
	free(st->buf);
	free(st->t);
	free(st->off);
	free(st->by_name);
	free(st->meta);
	free(st->meta_by_key);
	free(st->pool);
	free(st);
}

/* A string of the (valid) header, decoded into the pool. */
static const char *rstr(sl_safetensors *st, jp *p)
{
	size_t len = 0;
	char *out = st->pool + st->used;
	jws(p);
	if (jpeek(p) != '"' || jstr(p, out, &len)) {
		jfail(p, "expected a string");
		return NULL;
	}
	st->used += len + 1;
	return out;
}

/* The ':' after a key, or the ',' / closing bracket after a member: returns
 * the character (the header is valid JSON, so it is one of those). */
static int rpunct(jp *p)
{
	jws(p);
	int c = jpeek(p);
	p->i++;
	return c;
}

/* A non-negative integer of a shape or of data_offsets. */
static int rentry(jp *p, const char *tensor, const char *field, int64_t *v)
{
	char q[160];
	jws(p);
	size_t at = p->i;
	int c = jpeek(p), kind;
	if (c != '-' && (c < '0' || c > '9')) {
		sl_errorf("tensor %s: %s entries must be integers", quote(q, sizeof q, tensor), field);
		return SL_ERR;
	}
	if (jnum(p, &kind, v))
		return SL_ERR;
	int shown = (int)SL_MIN(p->i - at, 40);
	if (kind == NUM_FRAC) {
		sl_errorf("tensor %s: %s entry %.*s is not an integer", quote(q, sizeof q, tensor), field, shown,
			  (const char *)p->s + at);
		return SL_ERR;
	}
	if (kind == NUM_BIG) {
		sl_errorf("tensor %s: %s entry %.*s is too large", quote(q, sizeof q, tensor), field, shown,
			  (const char *)p->s + at);
		return SL_ERR;
	}
	if (*v < 0) {
		sl_errorf("tensor %s: %s entry %" PRId64 " is negative", quote(q, sizeof q, tensor), field, *v);
		return SL_ERR;
	}
	return SL_OK;
}

/* "[int, int, ...]" into v[0..max); *count set. */
static int rints(jp *p, const char *tensor, const char *field, int64_t *v, int max, int *count)
{
	char q[160];
	jws(p);
	*count = 0;
	if (jpeek(p) != '[') {
		sl_errorf("tensor %s: %s is not an array", quote(q, sizeof q, tensor), field);
		return SL_ERR;
	}
	p->i++;
	jws(p);
	if (jpeek(p) == ']') {
		p->i++;
		return SL_OK;
	}
	for (;;) {
		int64_t x;
		if (rentry(p, tensor, field, &x))
			return SL_ERR;
		if (*count == max) {
			if (max == 2)
				sl_errorf("tensor %s: data_offsets has more than 2 entries", quote(q, sizeof q, tensor));
			else
				sl_errorf("tensor %s: more than %d dimensions", quote(q, sizeof q, tensor), max);
			return SL_ERR;
		}
		v[(*count)++] = x;
		if (rpunct(p) == ']')
			return SL_OK;
	}
}

static int rtensor(sl_safetensors *st, jp *p, const char *name)
{
	char q[160], sh[256];
	quote(q, sizeof q, name);
	if (!name[0]) {
		sl_errorf("a tensor has an empty name");
		return SL_ERR;
	}
	jws(p);
	if (jpeek(p) != '{') {
		sl_errorf("tensor %s: not an object", q);
		return SL_ERR;
	}
	p->i++;
	if (st->n == st->cap) {
		st->cap = st->cap ? 2 * st->cap : 16;
		st->t = sl_xrealloc(st->t, (size_t)st->cap * sizeof *st->t);
		st->off = sl_xrealloc(st->off, (size_t)st->cap * sizeof *st->off);
	}
	sl_safetensors_tensor *e = &st->t[st->n];
	uint64_t *off = st->off[st->n];
	memset(e, 0, sizeof *e);
	e->name = name;
	int have_dtype = 0, have_shape = 0, have_off = 0;
	jws(p);
	if (jpeek(p) == '}') {
		p->i++;
	} else {
		for (;;) {
			const char *field = rstr(st, p);
			if (!field)
				return SL_ERR;
			rpunct(p); /* ':' */
			char fq[160];
			int *seen = strcmp(field, "dtype") == 0 ? &have_dtype
				    : strcmp(field, "shape") == 0 ? &have_shape
				    : strcmp(field, "data_offsets") == 0 ? &have_off
									  : NULL;
			if (!seen) {
				sl_errorf("tensor %s: unknown field %s", q, quote(fq, sizeof fq, field));
				return SL_ERR;
			}
			if (*seen) {
				sl_errorf("tensor %s: duplicate key %s", q, quote(fq, sizeof fq, field));
				return SL_ERR;
			}
			*seen = 1;
			if (seen == &have_dtype) {
				jws(p);
				if (jpeek(p) != '"') {
					sl_errorf("tensor %s: dtype is not a string", q);
					return SL_ERR;
				}
				const char *d = rstr(st, p);
				if (!d)
					return SL_ERR;
				e->dtype = sl_st_dtype_find(d);
				if (e->dtype < 0) {
					sl_errorf("tensor %s: unknown dtype %s", q, quote(fq, sizeof fq, d));
					return SL_ERR;
				}
			} else if (seen == &have_shape) {
				if (rints(p, name, "shape", e->shape, SL_ST_MAXDIM, &e->ndim))
					return SL_ERR;
			} else {
				int64_t o[2];
				int k;
				if (rints(p, name, "data_offsets", o, 2, &k))
					return SL_ERR;
				if (k != 2) {
					sl_errorf("tensor %s: data_offsets needs 2 entries, not %d", q, k);
					return SL_ERR;
				}
				off[0] = (uint64_t)o[0];
				off[1] = (uint64_t)o[1];
			}
			if (rpunct(p) == '}')
				break;
		}
	}
	if (!have_dtype || !have_shape || !have_off) {
		sl_errorf("tensor %s: no %s", q, !have_dtype ? "dtype" : !have_shape ? "shape" : "data_offsets");
		return SL_ERR;
	}
	uint64_t bytes = sl_st_dtype_size(e->dtype);
	for (int d = 0; d < e->ndim; d++)
		if (!mul_ok(bytes, (uint64_t)e->shape[d], &bytes) || bytes > SIZE_MAX) {
			sl_errorf("tensor %s: shape %s is too large", q, shape_str(sh, sizeof sh, e->ndim, e->shape));
			return SL_ERR;
		}
	if (off[1] < off[0]) {
		sl_errorf("tensor %s: data_offsets [%" PRIu64 ", %" PRIu64 "] end before they begin", q, off[0],
			  off[1]);
		return SL_ERR;
	}
	if (off[1] - off[0] != bytes) {
		sl_errorf("tensor %s: shape %s of %s needs %" PRIu64 " bytes, data_offsets [%" PRIu64 ", %" PRIu64
			  "] hold %" PRIu64,
			  q, shape_str(sh, sizeof sh, e->ndim, e->shape), sl_st_dtype_name(e->dtype), bytes, off[0],
			  off[1], off[1] - off[0]);
		return SL_ERR;
	}
	e->nbytes = (size_t)bytes;
	st->n++;
	return SL_OK;
}

static int rmeta(sl_safetensors *st, jp *p)
{
	char q[160];
	jws(p);
	if (jpeek(p) != '{') {
		sl_errorf("__metadata__ is not an object");
		return SL_ERR;
	}
	p->i++;
	jws(p);
	if (jpeek(p) == '}') {
		p->i++;
		return SL_OK;
	}
	for (;;) {
		const char *key = rstr(st, p);
		if (!key)
			return SL_ERR;
		rpunct(p); /* ':' */
		if (!key[0]) {
			sl_errorf("an empty metadata key");
			return SL_ERR;
		}
		jws(p);
		if (jpeek(p) != '"') {
			sl_errorf("metadata %s: the value is not a string", quote(q, sizeof q, key));
			return SL_ERR;
		}
		const char *value = rstr(st, p);
		if (!value)
			return SL_ERR;
		if (st->nmeta == st->metacap) {
			st->metacap = st->metacap ? 2 * st->metacap : 8;
			st->meta = sl_xrealloc(st->meta, (size_t)st->metacap * sizeof *st->meta);
		}
		st->meta[st->nmeta++] = (sl_safetensors_meta){ key, value };
		if (rpunct(p) == '}')
			return SL_OK;
	}
}

/* qsort context is not portable: sort (name, index) pairs instead. */
typedef struct named {
	const char *name;
	int i;
} named;

static int cmp_named(const void *a, const void *b)
{
	return strcmp(((const named *)a)->name, ((const named *)b)->name);
}

/* Sorts n names into *index; returns the first duplicate name, or NULL. */
static const char *sort_names(int n, const char *(*get)(const sl_safetensors *, int), const sl_safetensors *st,
			      int **index)
{
	named *v = sl_xmalloc(((size_t)n + 1) * sizeof *v);
	for (int i = 0; i < n; i++)
		v[i] = (named){ get(st, i), i };
	qsort(v, (size_t)n, sizeof *v, cmp_named);
	const char *dup = NULL;
	*index = sl_xmalloc(((size_t)n + 1) * sizeof **index);
	for (int i = 0; i < n; i++) {
		(*index)[i] = v[i].i;
		if (i && !dup && strcmp(v[i - 1].name, v[i].name) == 0)
			dup = v[i].name;
	}
	free(v);
	return dup;
}

static const char *tensor_name(const sl_safetensors *st, int i)
{
	return st->t[i].name;
}

static const char *meta_key(const sl_safetensors *st, int i)
{
	return st->meta[i].key;
}

static int cmp_range(const void *a, const void *b)
{
	const uint64_t *x = a, *y = b;
	if (x[0] != y[0])
		return x[0] < y[0] ? -1 : 1;
	if (x[1] != y[1])
		return x[1] < y[1] ? -1 : 1;
	return x[2] < y[2] ? -1 : x[2] > y[2];
}

/* The data layout: offsets in the buffer, no overlap, no gap. */
static int check_layout(sl_safetensors *st, size_t data_size)
{
	char q[160], q2[160];
	int st_ok = SL_ERR;
	for (int i = 0; i < st->n; i++)
		if (st->off[i][1] > data_size) {
			sl_errorf("tensor %s: data_offsets [%" PRIu64 ", %" PRIu64 "] run past the data buffer (%zu bytes)",
				  quote(q, sizeof q, st->t[i].name), st->off[i][0], st->off[i][1], data_size);
			return SL_ERR;
		}
	/* (begin, end, index) sorted */
	uint64_t (*r)[3] = sl_xmalloc(((size_t)st->n + 1) * sizeof *r);
	for (int i = 0; i < st->n; i++) {
		r[i][0] = st->off[i][0];
		r[i][1] = st->off[i][1];
		r[i][2] = (uint64_t)i;
	}
	qsort(r, (size_t)st->n, sizeof *r, cmp_range);
	uint64_t cursor = 0;
	int last = -1; /* the tensor that ends at cursor */
	for (int k = 0; k < st->n; k++) {
		int i = (int)r[k][2];
		if (r[k][0] > cursor) {
			sl_errorf("bytes [%" PRIu64 ", %" PRIu64 ") of the data buffer belong to no tensor", cursor,
				  r[k][0]);
			goto out;
		}
		if (r[k][0] < cursor) {
			sl_errorf("tensors %s and %s overlap in the data buffer", quote(q, sizeof q, st->t[last].name),
				  quote(q2, sizeof q2, st->t[i].name));
			goto out;
		}
		if (r[k][1] > cursor || last < 0) {
			cursor = r[k][1];
			last = i;
		}
	}
	if (cursor < data_size) {
		sl_errorf("bytes [%" PRIu64 ", %zu) of the data buffer belong to no tensor", cursor, data_size);
		goto out;
	}
	for (int i = 0; i < st->n; i++)
		st->t[i].data = st->buf + (st->len - data_size) + st->off[i][0];
	st->data_size = data_size;
	st_ok = SL_OK;
out:
	free(r);
	return st_ok;
}

/* Parses buf[0..len), which it owns from now on (freed on failure). */
static sl_safetensors *parse_owned(unsigned char *buf, size_t len)
{
	char q[160];
	if (len < 8) {
		sl_errorf("file is %zu bytes, shorter than the 8-byte header length", len);
		free(buf);
		return NULL;
	}
	uint64_t hlen = 0;
	for (int i = 0; i < 8; i++)
		hlen |= (uint64_t)buf[i] << (8 * i);
	if (hlen > SL_ST_MAX_HEADER) {
		sl_errorf("header length %" PRIu64 " is absurd (over %u bytes)", hlen, SL_ST_MAX_HEADER);
		free(buf);
		return NULL;
	}
	if (hlen > len - 8) {
		sl_errorf("header length %" PRIu64 " runs past the end of the file (%zu bytes)", hlen, len);
		free(buf);
		return NULL;
	}
	jp p = { buf + 8, (size_t)hlen, 0 };
	jws(&p);
	if (jpeek(&p) != '{') {
		if (jpeek(&p) < 0)
			jfail(&p, "the header is empty");
		else
			jfail(&p, "the header is not a JSON object");
		free(buf);
		return NULL;
	}
	if (jvalue(&p, 0)) {
		free(buf);
		return NULL;
	}
	jws(&p);
	if (p.i < p.n) {
		jfail(&p, "trailing bytes after the JSON object");
		free(buf);
		return NULL;
	}

	sl_safetensors *st = sl_xcalloc(1, sizeof *st);
	st->buf = buf;
	st->len = len;
	st->pool = sl_xmalloc((size_t)hlen + 1);
	p.i = 0;
	jws(&p);
	p.i++; /* '{' */
	jws(&p);
	int have_meta = 0;
	const char *dup;
	if (jpeek(&p) == '}')
		goto parsed;
	for (;;) {
		const char *key = rstr(st, &p);
		if (!key)
			goto fail;
		rpunct(&p); /* ':' */
		if (strcmp(key, "__metadata__") == 0) {
			if (have_meta++) {
				sl_errorf("duplicate key \"__metadata__\" in the header");
				goto fail;
			}
			if (rmeta(st, &p))
				goto fail;
		} else if (rtensor(st, &p, key)) {
			goto fail;
		}
		if (rpunct(&p) == '}')
			break;
	}
parsed:
	if ((dup = sort_names(st->n, tensor_name, st, &st->by_name))) {
		sl_errorf("duplicate key %s in the header", quote(q, sizeof q, dup));
		goto fail;
	}
	if ((dup = sort_names(st->nmeta, meta_key, st, &st->meta_by_key))) {
		sl_errorf("duplicate metadata key %s", quote(q, sizeof q, dup));
		goto fail;
	}
	if (check_layout(st, len - 8 - (size_t)hlen))
		goto fail;
	return st;
fail:
	sl_safetensors_free(st);
	return NULL;
}

sl_safetensors *sl_safetensors_parse(const void *bytes, size_t len)
{
	unsigned char *buf = malloc(len ? len : 1); /* not sl_xmalloc: a size is no reason to abort */
	if (!buf) {
		sl_errorf("out of memory for %zu bytes", len);
		return NULL;
	}
	if (len)
		memcpy(buf, bytes, len);
	return parse_owned(buf, len);
}

sl_safetensors *sl_safetensors_load(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat sb;
	if (fd < 0 || fstat(fd, &sb) < 0) {
		sl_errorf("%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	if (!S_ISREG(sb.st_mode)) {
		sl_errorf("%s: not a regular file", path);
		close(fd);
		return NULL;
	}
	size_t cap = (size_t)sb.st_size, len = 0;
	unsigned char *buf = malloc(cap ? cap : 1); /* a huge file is an error, not an abort */
	if (!buf) {
		sl_errorf("%s: out of memory for %zu bytes", path, cap);
		close(fd);
		return NULL;
	}
	while (len < cap) {
		ssize_t k = read(fd, buf + len, cap - len);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			sl_errorf("%s: %s", path, strerror(errno));
			close(fd);
			free(buf);
			return NULL;
		}
		if (k == 0)
			break; /* the file shrank: parse what is there */
		len += (size_t)k;
	}
	close(fd);
	sl_safetensors *st = parse_owned(buf, len);
	if (!st)
		error_prefix(path);
	return st;
}

int sl_safetensors_count(const sl_safetensors *st)
{
	return st->n;
}

const sl_safetensors_tensor *sl_safetensors_at(const sl_safetensors *st, int i)
{
	SL_ASSERT(i >= 0 && i < st->n);
	return &st->t[i];
}

size_t sl_safetensors_data_size(const sl_safetensors *st)
{
	return st->data_size;
}

/* Binary search of key among n entries sorted by index[]; -1 if absent. */
static int bsearch_name(const sl_safetensors *st, int n, const int *index,
			const char *(*get)(const sl_safetensors *, int), const char *key)
{
	int lo = 0, hi = n;
	while (lo < hi) {
		int mid = lo + (hi - lo) / 2, c = strcmp(get(st, index[mid]), key);
		if (c == 0)
			return index[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

const sl_safetensors_tensor *sl_safetensors_find(const sl_safetensors *st, const char *name)
{
	int i = bsearch_name(st, st->n, st->by_name, tensor_name, name);
	return i < 0 ? NULL : &st->t[i];
}

int sl_safetensors_meta_count(const sl_safetensors *st)
{
	return st->nmeta;
}

const sl_safetensors_meta *sl_safetensors_meta_at(const sl_safetensors *st, int i)
{
	SL_ASSERT(i >= 0 && i < st->nmeta);
	return &st->meta[i];
}

const char *sl_safetensors_meta_get(const sl_safetensors *st, const char *key)
{
	int i = bsearch_name(st, st->nmeta, st->meta_by_key, meta_key, key);
	return i < 0 ? NULL : st->meta[i].value;
}

/* ---- parameter stores ---- */

int sl_safetensors_get_params(const sl_safetensors *st, const char *prefix, sl_params *ps)
{
	char q[160], a[256], b[256];
	SL_ASSERT(ps->allocated);
	if (!prefix)
		prefix = "";
	size_t plen = strlen(prefix);
	const sl_safetensors_tensor **src = sl_xcalloc((size_t)ps->n + 1, sizeof *src);
	int st_ok = SL_ERR;
	for (int i = 0; i < ps->n; i++) {
		const sl_tensor *t = ps->t[i];
		size_t nlen = strlen(t->name);
		char *full = sl_xmalloc(plen + nlen + 1);
		memcpy(full, prefix, plen);
		memcpy(full + plen, t->name, nlen + 1);
		const sl_safetensors_tensor *e = sl_safetensors_find(st, full);
		quote(q, sizeof q, full);
		free(full);
		if (!e) {
			sl_errorf("tensor %s is missing from the file", q);
			goto out;
		}
		if (e->dtype != SL_ST_F32) {
			sl_errorf("tensor %s is %s in the file, F32 in the model", q, sl_st_dtype_name(e->dtype));
			goto out;
		}
		int64_t shape[SL_ST_MAXDIM];
		int same = e->ndim == t->ndim;
		for (int d = 0; d < t->ndim; d++) {
			shape[d] = t->shape[d];
			same = same && e->shape[d] == shape[d];
		}
		if (!same) {
			sl_errorf("tensor %s has shape %s in the file, %s in the model", q,
				  shape_str(a, sizeof a, e->ndim, e->shape), shape_str(b, sizeof b, t->ndim, shape));
			goto out;
		}
		src[i] = e;
	}
	for (int i = 0; i < st->n; i++) {
		const char *name = st->t[i].name;
		if (strncmp(name, prefix, plen) == 0 && sl_params_index(ps, name + plen) < 0) {
			sl_errorf("tensor %s in the file is not a parameter of the model", quote(q, sizeof q, name));
			goto out;
		}
	}
	for (int i = 0; i < ps->n; i++)
		if (src[i]->nbytes)
			memcpy(ps->t[i]->data, src[i]->data, src[i]->nbytes);
	st_ok = SL_OK;
out:
	free(src);
	return st_ok;
}

int sl_safetensors_load_params(const char *path, sl_params *ps)
{
	sl_safetensors *st = sl_safetensors_load(path);
	if (!st)
		return SL_ERR;
	int r = sl_safetensors_get_params(st, NULL, ps);
	if (r != SL_OK)
		error_prefix(path);
	sl_safetensors_free(st);
	return r;
}
