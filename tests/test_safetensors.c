/* test_safetensors.c - safetensors files: round trips, the byte layout, the
 * strict reader against corrupted files, the atomic writer against failing
 * writes, parameter stores, and a cross-check with a pure-numpy reader and
 * writer (tests/safetensors_numpy.py) when python3 + numpy are there. */
#include "seqlab/safetensors.h"
#include "tap.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];

/* name inside the test directory, in one of 8 rotating buffers: hold a
 * path longer with PATH(). */
static char *path_in(const char *name)
{
	static char buf[8][512];
	static int k;
	char *p = buf[k++ % 8];
	snprintf(p, sizeof buf[0], "%s/%s", dir, name);
	return p;
}

#define PATH(var, name)   \
	char var[256];    \
	snprintf(var, sizeof var, "%s/%s", dir, name)

static unsigned char *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	*len = 0;
	if (!f)
		return NULL;
	unsigned char *buf = NULL;
	size_t cap = 0;
	for (;;) {
		if (*len == cap) {
			cap = cap ? 2 * cap : 4096;
			buf = realloc(buf, cap);
		}
		size_t k = fread(buf + *len, 1, cap - *len, f);
		if (k == 0)
			break;
		*len += k;
	}
	fclose(f);
	return buf;
}

static void write_raw(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	SL_ASSERT(f && fwrite(p, 1, n, f) == n);
	fclose(f);
}

/* Files in dir other than the given ones (temporary leftovers). */
static int stray_files(const char *keep1, const char *keep2)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if ((keep1 && strcmp(e->d_name, keep1) == 0) || (keep2 && strcmp(e->d_name, keep2) == 0))
			continue;
		tap_diag("stray file %s", e->d_name);
		n++;
	}
	closedir(d);
	return n;
}

static void remove_dir(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			if (unlink(path_in(e->d_name)) < 0)
				rmdir(path_in(e->d_name));
	closedir(d);
	rmdir(dir);
}

/* ---- a reference set of tensors (also what safetensors_numpy.py expects) ---- */

static float w[12], bias[5] = { 0.5f, -1, 1e-30f, 3.25f, -0.0f }, pair[2] = { 1.5f, -2.5f }, r4[8];
static int32_t ids[6];
static int64_t step = 1234567890123LL;
static uint8_t mask[8];
static uint64_t rng_state[4] = { 1, 0xFFFFFFFFFFFFFFFFull, 0x0123456789ABCDEFull, 42 };

static sl_safetensors_tensor T(const char *name, int dtype, int ndim, const int64_t *shape, const void *data)
{
	sl_safetensors_tensor t = { .name = name, .dtype = dtype, .ndim = ndim, .data = data };
	for (int i = 0; i < ndim; i++)
		t.shape[i] = shape[i];
	return t;
}

static int reference(sl_safetensors_tensor *t, sl_safetensors_meta *m, int *nmeta)
{
	for (int i = 0; i < 12; i++)
		w[i] = (float)i * 0.25f - 1;
	for (int i = 0; i < 6; i++)
		ids[i] = i * i * 1000 - 7;
	for (int i = 0; i < 8; i++) {
		mask[i] = (uint8_t)(i * 37);
		r4[i] = (float)i / 3;
	}
	int n = 0;
	t[n++] = T("w", SL_ST_F32, 2, (int64_t[]){ 3, 4 }, w);
	t[n++] = T("mask", SL_ST_U8, 3, (int64_t[]){ 2, 2, 2 }, mask);
	t[n++] = T("bias", SL_ST_F32, 1, (int64_t[]){ 5 }, bias);
	t[n++] = T("ids", SL_ST_I32, 2, (int64_t[]){ 2, 3 }, ids);
	t[n++] = T("step", SL_ST_I64, 0, NULL, &step);
	t[n++] = T("empty", SL_ST_F32, 2, (int64_t[]){ 0, 3 }, NULL);
	t[n++] = T("x.\"q\"/\xc3\xa9", SL_ST_F32, 1, (int64_t[]){ 2 }, pair);
	t[n++] = T("rng", SL_ST_U64, 1, (int64_t[]){ 4 }, rng_state);
	t[n++] = T("r4", SL_ST_F32, 4, (int64_t[]){ 2, 1, 2, 2 }, r4);
	*nmeta = 0;
	m[(*nmeta)++] = (sl_safetensors_meta){ "model", "gpt \"layers\"=2 back\\slash" };
	m[(*nmeta)++] = (sl_safetensors_meta){ "unicode", "\xcf\x80\xe2\x89\x88" "3.14 \xf0\x9f\x99\x82" };
	m[(*nmeta)++] = (sl_safetensors_meta){ "tab", "a\tb\nc\x01" };
	return n;
}

/* 1 if the loaded file holds exactly the tensors and metadata given. */
static int same_content(const sl_safetensors *st, const sl_safetensors_tensor *t, int n,
			const sl_safetensors_meta *m, int nmeta)
{
	if (sl_safetensors_count(st) != n || sl_safetensors_meta_count(st) != nmeta)
		return 0;
	for (int i = 0; i < n; i++) {
		const sl_safetensors_tensor *e = sl_safetensors_find(st, t[i].name);
		if (!e || e->dtype != t[i].dtype || e->ndim != t[i].ndim)
			return 0;
		size_t bytes = sl_st_dtype_size(e->dtype);
		for (int d = 0; d < e->ndim; d++) {
			if (e->shape[d] != t[i].shape[d])
				return 0;
			bytes *= (size_t)e->shape[d];
		}
		if (e->nbytes != bytes || (bytes && memcmp(e->data, t[i].data, bytes)))
			return 0;
		/* seqlab's layout: every tensor aligned to its element size */
		if ((uintptr_t)e->data % sl_st_dtype_size(e->dtype))
			return 0;
	}
	for (int i = 0; i < nmeta; i++) {
		const char *v = sl_safetensors_meta_get(st, m[i].key);
		if (!v || strcmp(v, m[i].value))
			return 0;
	}
	return 1;
}

static void test_round_trip(void)
{
	sl_safetensors_tensor t[16];
	sl_safetensors_meta m[8];
	int nmeta, n = reference(t, m, &nmeta);
	unsigned char *buf;
	size_t len;
	TAP_OK(sl_safetensors_encode(t, n, m, nmeta, &buf, &len) == SL_OK, "encode %d tensors, %d metadata", n, nmeta);
	sl_safetensors *st = sl_safetensors_parse(buf, len);
	TAP_OK(st != NULL, "parse what encode wrote%s%s", st ? "" : ": ", st ? "" : sl_error());
	TAP_OK(st && same_content(st, t, n, m, nmeta), "round trip in memory: names, dtypes, shapes, bytes, metadata");
	if (st) {
		int order = 1;
		for (int i = 0; i < n; i++)
			order &= strcmp(sl_safetensors_at(st, i)->name, t[i].name) == 0;
		TAP_OK(order, "tensors listed in the order given");
		TAP_OK(sl_safetensors_find(st, "nope") == NULL && sl_safetensors_meta_get(st, "nope") == NULL,
		       "lookup of absent names gives NULL");
		const sl_safetensors_tensor *s = sl_safetensors_find(st, "step");
		TAP_OK(s && s->ndim == 0 && s->nbytes == 8, "a scalar has rank 0 and one element");
		const sl_safetensors_tensor *e = sl_safetensors_find(st, "empty");
		TAP_OK(e && e->nbytes == 0 && e->ndim == 2 && e->shape[0] == 0 && e->shape[1] == 3,
		       "a tensor with no elements keeps its shape (0, 3)");
	}
	sl_safetensors_free(st);

	PATH(p, "rt.safetensors");
	TAP_OK(sl_safetensors_write(p, t, n, m, nmeta) == SL_OK, "write to a file");
	size_t flen;
	unsigned char *fbytes = read_all(p, &flen);
	TAP_OK(fbytes && flen == len && memcmp(fbytes, buf, len) == 0, "the file holds exactly the encoded bytes");
	free(fbytes);
	st = sl_safetensors_load(p);
	TAP_OK(st && same_content(st, t, n, m, nmeta), "round trip through a file%s%s", st ? "" : ": ",
	       st ? "" : sl_error());
	sl_safetensors_free(st);
	struct stat sb;
	mode_t mask = umask(022);
	umask(mask);
	TAP_OK(stat(p, &sb) == 0 && (sb.st_mode & 0777) == (0666 & ~mask),
	       "the file has mode %o: 0666 less the umask, as fopen would give", (unsigned)(sb.st_mode & 0777));
	TAP_OK(stray_files("rt.safetensors", NULL) == 0, "no temporary file left behind");
	free(buf);
	unlink(p);

	/* invalid writer input */
	sl_safetensors_tensor bad[2] = { T("a", SL_ST_F32, 1, (int64_t[]){ 2 }, pair),
					 T("a", SL_ST_F32, 1, (int64_t[]){ 2 }, pair) };
	TAP_OK(sl_safetensors_encode(bad, 2, NULL, 0, &buf, &len) == SL_ERR && strstr(sl_error(), "duplicate tensor name \"a\""),
	       "writer: duplicate name: %s", sl_error());
	bad[1].name = "__metadata__";
	TAP_OK(sl_safetensors_encode(bad, 2, NULL, 0, &buf, &len) == SL_ERR && strstr(sl_error(), "reserved"),
	       "writer: reserved name: %s", sl_error());
	bad[1] = T("b", SL_ST_NDTYPE, 1, (int64_t[]){ 2 }, pair);
	TAP_OK(sl_safetensors_encode(bad, 2, NULL, 0, &buf, &len) == SL_ERR && strstr(sl_error(), "unknown dtype"),
	       "writer: unknown dtype: %s", sl_error());
	bad[1] = T("b", SL_ST_F32, 1, (int64_t[]){ -2 }, pair);
	TAP_OK(sl_safetensors_encode(bad, 2, NULL, 0, &buf, &len) == SL_ERR && strstr(sl_error(), "bad shape (-2)"),
	       "writer: negative shape: %s", sl_error());
	bad[1] = T("b\xff", SL_ST_F32, 1, (int64_t[]){ 2 }, pair);
	TAP_OK(sl_safetensors_encode(bad, 2, NULL, 0, &buf, &len) == SL_ERR && strstr(sl_error(), "tensor \"b\\xff\": name is not valid UTF-8"),
	       "writer: name not UTF-8: %s", sl_error());
	bad[1] = T("b", SL_ST_F32, 1, (int64_t[]){ 2 }, NULL);
	TAP_OK(sl_safetensors_encode(bad, 2, NULL, 0, &buf, &len) == SL_ERR && strstr(sl_error(), "no data"),
	       "writer: no data: %s", sl_error());
	sl_safetensors_meta dm[2] = { { "k", "1" }, { "k", "2" } };
	TAP_OK(sl_safetensors_encode(bad, 1, dm, 2, &buf, &len) == SL_ERR && strstr(sl_error(), "duplicate metadata key"),
	       "writer: duplicate metadata key: %s", sl_error());
	TAP_OK(sl_safetensors_write(path_in("never.st"), bad, 1, dm, 2) == SL_ERR &&
		       strncmp(sl_error(), path_in("never.st"), strlen(path_in("never.st"))) == 0 &&
		       access(path_in("never.st"), F_OK) != 0,
	       "writer: invalid input creates no file, error names it: %s", sl_error());
}

static uint64_t get_u64le(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static void test_layout(void)
{
	float ab[2] = { 1, 2 };
	sl_safetensors_tensor t = T("a", SL_ST_F32, 1, (int64_t[]){ 2 }, ab);
	unsigned char *buf;
	size_t len;
	SL_ASSERT(sl_safetensors_encode(&t, 1, NULL, 0, &buf, &len) == SL_OK);
	const char *json = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
	uint64_t n = get_u64le(buf);
	TAP_OK(n % 8 == 0 && n >= strlen(json) && n < strlen(json) + 8, "header length %llu: little-endian, padded to 8",
	       (unsigned long long)n);
	TAP_OK(len == 8 + n + 8, "file = 8 + header + 8 data bytes (%zu)", len);
	int spaces = 1;
	for (size_t i = strlen(json); i < n; i++)
		spaces &= buf[8 + i] == ' ';
	TAP_OK(memcmp(buf + 8, json, strlen(json)) == 0 && spaces, "header is %s then spaces", json);
	TAP_OK(memcmp(buf + 8 + n, ab, 8) == 0 && buf[8 + n + 7] == 0x40, "data is little-endian float32 (2.0f ends in 0x40)");
	free(buf);

	/* layout by element size: I64 first, then F32, then U8 */
	uint8_t u[3] = { 1, 2, 3 };
	int64_t big = -5;
	float f = 7;
	sl_safetensors_tensor three[3] = { T("u", SL_ST_U8, 1, (int64_t[]){ 3 }, u), T("f", SL_ST_F32, 0, NULL, &f),
					   T("i", SL_ST_I64, 1, (int64_t[]){ 1 }, &big) };
	sl_safetensors_meta m = { "k\"", "v\xc3\xa9" };
	SL_ASSERT(sl_safetensors_encode(three, 3, &m, 1, &buf, &len) == SL_OK);
	n = get_u64le(buf);
	const char *want = "{\"__metadata__\":{\"k\\\"\":\"v\xc3\xa9\"},"
			   "\"u\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[12,15]},"
			   "\"f\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[8,12]},"
			   "\"i\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}";
	TAP_OK(n % 8 == 0 && memcmp(buf + 8, want, strlen(want)) == 0,
	       "metadata first, data by decreasing element size: I64 [0,8], F32 [8,12], U8 [12,15]");
	TAP_OK(len == 8 + n + 15 && buf[8 + n + 12] == 1 && buf[8 + n + 14] == 3, "U8 data last, the buffer covered exactly");
	free(buf);

	/* escapes: the writer's \u00XX for control characters, the reader's \u and surrogate pairs */
	sl_safetensors_meta ctl = { "c", "\x01\x1f" };
	SL_ASSERT(sl_safetensors_encode(NULL, 0, &ctl, 1, &buf, &len) == SL_OK);
	TAP_OK(strstr((char *)buf + 8, "\"\\u0001\\u001f\"") != NULL, "control characters written as \\u0001 \\u001f");
	free(buf);
	const char *hdr = "{\"__metadata__\": {\"\\u00e9t\\u00E9\": \"\\ud83d\\ude42 \\\"\\\\\\/\\b\\f\\n\\r\\t\"}}";
	size_t hl = strlen(hdr);
	unsigned char *f2 = calloc(1, 8 + hl);
	f2[0] = (unsigned char)hl;
	memcpy(f2 + 8, hdr, hl);
	sl_safetensors *st = sl_safetensors_parse(f2, 8 + hl);
	const char *v = st ? sl_safetensors_meta_get(st, "\xc3\xa9t\xc3\xa9") : NULL;
	TAP_OK(v && strcmp(v, "\xf0\x9f\x99\x82 \"\\/\b\f\n\r\t") == 0,
	       "reader decodes \\u00e9, \\u00E9, a surrogate pair and every short escape (unpadded header accepted)%s%s",
	       st ? "" : ": ", st ? "" : sl_error());
	TAP_OK(st && sl_safetensors_count(st) == 0 && sl_safetensors_data_size(st) == 0, "a file with no tensors is valid");
	sl_safetensors_free(st);
	free(f2);
}

/* ---- corrupted files ---- */

/* A file from a header given as text and data bytes. */
static unsigned char *mk(const char *hdr, size_t dlen, size_t *len)
{
	size_t hl = strlen(hdr);
	unsigned char *b = calloc(1, 8 + hl + dlen + 1);
	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)((uint64_t)hl >> (8 * i));
	memcpy(b + 8, hdr, hl);
	for (size_t i = 0; i < dlen; i++)
		b[8 + hl + i] = (unsigned char)i;
	*len = 8 + hl + dlen;
	return b;
}

static void reject(const char *what, const unsigned char *b, size_t len, const char *expect)
{
	sl_error_clear();
	sl_safetensors *st = sl_safetensors_parse(b, len);
	int ok = !st && strstr(sl_error(), expect) && !strchr(sl_error(), '\n');
	TAP_OK(ok, "rejects %s: %s", what, st ? "(accepted!)" : sl_error());
	if (!ok)
		tap_diag("expected a message with: %s", expect);
	sl_safetensors_free(st);
}

static void reject_hdr(const char *what, const char *hdr, size_t dlen, const char *expect)
{
	size_t len;
	unsigned char *b = mk(hdr, dlen, &len);
	reject(what, b, len, expect);
	free(b);
}

#define TA "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}"

static void test_corrupt(void)
{
	sl_safetensors_tensor t[16];
	sl_safetensors_meta m[8];
	int nmeta, n = reference(t, m, &nmeta);
	unsigned char *good, *b;
	size_t len;
	SL_ASSERT(sl_safetensors_encode(t, n, m, nmeta, &good, &len) == SL_OK);
	uint64_t hl = get_u64le(good);
	b = malloc(len);

	/* truncations */
	reject("an empty file", good, 0, "file is 0 bytes, shorter than the 8-byte header length");
	reject("a 5-byte file", good, 5, "file is 5 bytes, shorter than the 8-byte header length");
	reject("a file cut after the header length", good, 8, "runs past the end of the file");
	reject("a file cut in the header", good, 8 + hl / 2, "runs past the end of the file");
	reject("a file cut in the data", good, len - 3, "run past the data buffer");
	reject("a file one byte short", good, len - 1, "run past the data buffer");
	{
		unsigned char *longer = malloc(len + 1);
		memcpy(longer, good, len);
		longer[len] = 0;
		reject("a file with a trailing byte", longer, len + 1, "belong to no tensor");
		free(longer);
	}

	/* the header length */
	memcpy(b, good, len);
	b[7] ^= 0x80;
	reject("a flipped top bit of the header length", b, len, "is absurd");
	memcpy(b, good, len);
	b[3] = 0x06, b[2] = 0, b[1] = 0, b[0] = 1; /* 100663297 */
	reject("a header length over 100 MB", b, len, "header length 100663297 is absurd");
	memcpy(b, good, len);
	b[0] = (unsigned char)(hl + 16), b[1] = (unsigned char)((hl + 16) >> 8);
	reject("a header length past the data start", b, len, "bad header JSON");
	memcpy(b, good, len);
	b[0] = 10, b[1] = 0;
	reject("a header length cutting the JSON", b, len, "bad header JSON at byte 10: unterminated string");
	memcpy(b, good, len);
	b[0] = (unsigned char)(len - 8), b[1] = (unsigned char)((len - 8) >> 8);
	reject("a header length of the whole file", b, len, "bad header JSON");
	memset(b, 0, 8);
	reject("a zero header length", b, 8, "the header is empty");

	/* JSON syntax */
	reject_hdr("a header that is an array", "[1]", 0, "not a JSON object");
	reject_hdr("a missing colon", "{\"a\" {\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
		   "bad header JSON at byte 5: expected ':' after a key");
	reject_hdr("a missing comma", "{" TA " \"b\":1}", 8, "expected ',' or '}'");
	reject_hdr("a trailing comma", "{" TA ",}", 8, "expected a string key");
	reject_hdr("trailing garbage", "{" TA "}  x", 8, "trailing bytes after the JSON object");
	{
		size_t l;
		unsigned char *x = mk("{" TA "} ", 8, &l);
		x[8 + strlen("{" TA "}")] = 0; /* a NUL in place of the padding space */
		reject("a NUL byte after the object", x, l, "trailing bytes after the JSON object");
		free(x);
	}
	reject_hdr("an unterminated string", "{\"a", 0, "unterminated string");
	reject_hdr("an invalid escape", "{\"__metadata__\":{\"k\":\"\\q\"}}", 0, "invalid escape");
	reject_hdr("a short \\u escape", "{\"__metadata__\":{\"k\":\"\\u12\"}}", 0, "four hex digits");
	reject_hdr("a lone high surrogate", "{\"__metadata__\":{\"k\":\"\\ud800x\"}}", 0, "unpaired surrogate");
	reject_hdr("a lone low surrogate", "{\"__metadata__\":{\"k\":\"\\udc00\"}}", 0, "unpaired surrogate");
	reject_hdr("\\u0000 in a name", "{\"__metadata__\":{\"k\\u0000\":\"v\"}}", 0, "\\u0000 in a string");
	reject_hdr("invalid UTF-8", "{\"__metadata__\":{\"k\":\"\xc3\x28\"}}", 0, "invalid UTF-8");
	reject_hdr("an overlong UTF-8 form", "{\"__metadata__\":{\"k\":\"\xc0\xaf\"}}", 0, "invalid UTF-8");
	reject_hdr("an encoded surrogate", "{\"__metadata__\":{\"k\":\"\xed\xa0\x80\"}}", 0, "invalid UTF-8");
	reject_hdr("a raw control character", "{\"__metadata__\":{\"k\":\"a\tb\"}}", 0, "control character");
	reject_hdr("a leading zero", "{\"a\":{\"dtype\":\"F32\",\"shape\":[02],\"data_offsets\":[0,8]}}", 8,
		   "leading zero");
	reject_hdr("a bare minus", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-],\"data_offsets\":[0,8]}}", 8,
		   "invalid number");
	reject_hdr("a bad literal", "{\"__metadata__\":{\"k\":nul}}", 0, "unexpected character");
	reject_hdr("single quotes", "{'a':1}", 0, "expected a string key");
	reject_hdr("nesting deeper than 8", "{\"__metadata__\":{\"k\":[[[[[[[1]]]]]]]}}", 0, "nesting deeper than 8");
	/* depth exactly 8 is JSON-valid; the schema then rejects the array */
	reject_hdr("nesting of exactly 8", "{\"__metadata__\":{\"k\":[[[[[[1]]]]]]}}", 0, "the value is not a string");

	/* the schema */
	reject_hdr("an unknown dtype", "{\"a\":{\"dtype\":\"F33\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
		   "tensor \"a\": unknown dtype \"F33\"");
	reject_hdr("a dtype that is not a string", "{\"a\":{\"dtype\":4,\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
		   "dtype is not a string");
	reject_hdr("a negative shape entry", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8,
		   "shape entry -2 is negative");
	reject_hdr("a fractional shape entry", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]}}", 8,
		   "shape entry 2.0 is not an integer");
	reject_hdr("an exponent shape entry", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2e0],\"data_offsets\":[0,8]}}", 8,
		   "shape entry 2e0 is not an integer");
	reject_hdr("a 20-digit shape entry",
		   "{\"a\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999],\"data_offsets\":[0,8]}}", 8,
		   "shape entry 99999999999999999999 is too large");
	reject_hdr("a shape whose product overflows",
		   "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,16],\"data_offsets\":[0,8]}}", 8,
		   "shape (4294967296, 4294967296, 16) is too large");
	reject_hdr("a shape whose byte size overflows",
		   "{\"a\":{\"dtype\":\"F64\",\"shape\":[2305843009213693952],\"data_offsets\":[0,8]}}", 8,
		   "is too large");
	reject_hdr("a shape entry that is a string", "{\"a\":{\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]}}",
		   8, "shape entries must be integers");
	reject_hdr("a shape that is not an array", "{\"a\":{\"dtype\":\"F32\",\"shape\":2,\"data_offsets\":[0,8]}}", 8,
		   "shape is not an array");
	reject_hdr("9 dimensions",
		   "{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,2],\"data_offsets\":[0,8]}}", 8,
		   "more than 8 dimensions");
	reject_hdr("a shape/offsets mismatch", "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8,
		   "tensor \"a\": shape (3) of F32 needs 12 bytes, data_offsets [0, 8] hold 8");
	reject_hdr("offsets out of the buffer", "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]}}", 8,
		   "data_offsets [0, 12] run past the data buffer (8 bytes)");
	reject_hdr("offsets far out of the buffer",
		   "{\"a\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[9223372036854775800,9223372036854775808]}}", 8,
		   "data_offsets entry 9223372036854775808 is too large");
	reject_hdr("offsets far out of the buffer (in int64)",
		   "{\"a\":{\"dtype\":\"U8\",\"shape\":[7],\"data_offsets\":[9223372036854775800,9223372036854775807]}}", 8,
		   "run past the data buffer");
	reject_hdr("reversed offsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,0]}}", 8,
		   "end before they begin");
	reject_hdr("3 offsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8,8]}}", 8,
		   "data_offsets has more than 2 entries");
	reject_hdr("1 offset", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", 8,
		   "data_offsets needs 2 entries, not 1");
	reject_hdr("overlapping tensors",
		   "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
		   "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
		   12, "tensors \"a\" and \"b\" overlap in the data buffer");
	reject_hdr("the same range twice",
		   "{\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
		   "\"a\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
		   8, "overlap in the data buffer");
	reject_hdr("a gap between tensors",
		   "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
		   "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
		   12, "bytes [4, 8) of the data buffer belong to no tensor");
	reject_hdr("a gap at the start", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8,
		   "bytes [0, 4) of the data buffer belong to no tensor");
	reject_hdr("uncovered bytes at the end", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8,
		   "bytes [4, 8) of the data buffer belong to no tensor");
	reject_hdr("data but no tensors", "{}", 8, "bytes [0, 8) of the data buffer belong to no tensor");
	reject_hdr("a metadata value that is a number", "{\"__metadata__\":{\"epoch\":3}}", 0,
		   "metadata \"epoch\": the value is not a string");
	reject_hdr("a metadata value that is null", "{\"__metadata__\":{\"k\":null}}", 0, "the value is not a string");
	reject_hdr("a metadata value that is an object", "{\"__metadata__\":{\"k\":{}}}", 0, "the value is not a string");
	reject_hdr("metadata that is not an object", "{\"__metadata__\":[\"k\",\"v\"]}", 0, "__metadata__ is not an object");
	reject_hdr("an empty metadata key", "{\"__metadata__\":{\"\":\"v\"}}", 0, "empty metadata key");
	reject_hdr("a duplicate tensor", "{" TA "," TA "}", 8, "duplicate key \"a\" in the header");
	reject_hdr("a duplicate tensor spelt with an escape",
		   "{" TA ",\"\\u0061\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,8]}}", 8,
		   "duplicate key \"a\" in the header");
	reject_hdr("a duplicate __metadata__", "{\"__metadata__\":{},\"__metadata__\":{}}", 0,
		   "duplicate key \"__metadata__\"");
	reject_hdr("a duplicate metadata key", "{\"__metadata__\":{\"k\":\"1\",\"j\":\"2\",\"k\":\"3\"}}", 0,
		   "duplicate metadata key \"k\"");
	reject_hdr("a duplicate field",
		   "{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
		   "tensor \"a\": duplicate key \"dtype\"");
	reject_hdr("an unknown field",
		   "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"strides\":[1]}}", 8,
		   "tensor \"a\": unknown field \"strides\"");
	reject_hdr("a missing field", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, "tensor \"a\": no data_offsets");
	reject_hdr("a tensor that is not an object", "{\"a\":[1,2]}", 8, "tensor \"a\": not an object");
	reject_hdr("an empty tensor name", "{\"\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
		   "empty name");
	reject_hdr("a control character in a name (shown escaped)",
		   "{\"a\\u001b[2J\":{\"dtype\":\"X\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
		   "tensor \"a\\x1b[2J\": unknown dtype \"X\"");
	free(b);
	free(good);

	/* errors of a file on disk carry its path */
	size_t l;
	unsigned char *x = mk("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, &l);
	PATH(p, "bad.safetensors");
	write_raw(p, x, l);
	free(x);
	sl_safetensors *st = sl_safetensors_load(p);
	char want[512];
	snprintf(want, sizeof want, "%s: tensor \"a\": shape (3) of F32 needs 12 bytes", p);
	TAP_OK(!st && strncmp(sl_error(), want, strlen(want)) == 0, "load: %s", sl_error());
	unlink(p);
	st = sl_safetensors_load(path_in("missing.safetensors"));
	TAP_OK(!st && strstr(sl_error(), "missing.safetensors: No such file or directory"), "load: %s", sl_error());
	st = sl_safetensors_load(dir);
	TAP_OK(!st && strstr(sl_error(), "not a regular file"), "load of a directory: %s", sl_error());
}

/* ---- the atomic writer ---- */

static void test_atomic(void)
{
	sl_safetensors_tensor t[16];
	sl_safetensors_meta m[8];
	int nmeta, n = reference(t, m, &nmeta);
	PATH(p, "ckpt.safetensors");
	SL_ASSERT(sl_safetensors_write(p, t, n, m, nmeta) == SL_OK);
	size_t len0;
	unsigned char *before = read_all(p, &len0);

	/* a bigger file, written under a 1 KB file size limit: write(2) stops
	 * short then fails with EFBIG (SIGXFSZ ignored) */
	static float bigdata[4096];
	sl_safetensors_tensor big = T("big", SL_ST_F32, 1, (int64_t[]){ 4096 }, bigdata);
	struct rlimit old, lim;
	getrlimit(RLIMIT_FSIZE, &old);
	lim = old;
	lim.rlim_cur = 1024;
	void (*oldsig)(int) = signal(SIGXFSZ, SIG_IGN);
	int limited = setrlimit(RLIMIT_FSIZE, &lim) == 0;
	int r = sl_safetensors_write(p, &big, 1, NULL, 0);
	setrlimit(RLIMIT_FSIZE, &old);
	signal(SIGXFSZ, oldsig);
	char want[512];
	snprintf(want, sizeof want, "%s: %s", p, strerror(EFBIG));
	TAP_OK(limited && r == SL_ERR && strcmp(sl_error(), want) == 0, "a write that fails midway: %s", sl_error());
	size_t len1;
	unsigned char *after = read_all(p, &len1);
	TAP_OK(after && len1 == len0 && memcmp(before, after, len0) == 0, "the previous file is byte-identical");
	free(after);
	TAP_OK(stray_files("ckpt.safetensors", NULL) == 0, "the temporary file was removed");

	/* the rename fails: the target is a (non-empty) directory */
	PATH(d, "adir");
	mkdir(d, 0755);
	write_raw(path_in("adir/keep"), "x", 1);
	r = sl_safetensors_write(d, t, n, m, nmeta);
	TAP_OK(r == SL_ERR && strstr(sl_error(), "adir: ") != NULL, "a rename that fails: %s", sl_error());
	struct stat sb;
	TAP_OK(stat(d, &sb) == 0 && S_ISDIR(sb.st_mode) && access(path_in("adir/keep"), F_OK) == 0,
	       "the directory in the way is untouched");
	TAP_OK(stray_files("ckpt.safetensors", "adir") == 0, "no temporary file left after a failed rename");
	unlink(path_in("adir/keep"));
	rmdir(d);

	/* the directory does not exist */
	r = sl_safetensors_write(path_in("no/such/dir.st"), t, n, m, nmeta);
	TAP_OK(r == SL_ERR && strstr(sl_error(), "no/such/dir.st: No such file or directory"), "no directory: %s",
	       sl_error());

	/* a successful overwrite replaces the file whole */
	SL_ASSERT(sl_safetensors_write(p, &big, 1, NULL, 0) == SL_OK);
	sl_safetensors *st = sl_safetensors_load(p);
	TAP_OK(st && sl_safetensors_count(st) == 1 && sl_safetensors_find(st, "big"), "overwrite replaces the file");
	sl_safetensors_free(st);
	TAP_OK(stray_files("ckpt.safetensors", NULL) == 0, "nothing else in the directory");
	unlink(p);
	free(before);
}

/* ---- parameter stores ---- */

static sl_params *store(int variant)
{
	sl_params *ps = sl_params_new();
	SL_ASSERT(sl_params_add(ps, "emb", 2, (int[]){ 10, 4 }, 0));
	SL_ASSERT(sl_params_add(ps, "l0.w", 2, (int[]){ 4, variant == 1 ? 5 : 4 }, 0));
	if (variant != 2)
		SL_ASSERT(sl_params_add(ps, "l0.b", 1, (int[]){ 4 }, SL_PARAM_NO_DECAY));
	if (variant == 3)
		SL_ASSERT(sl_params_add(ps, "l1.w", 2, (int[]){ 4, 4 }, 0));
	sl_params_alloc(ps);
	return ps;
}

static int all_equal(const sl_params *ps, float v)
{
	for (size_t i = 0; i < ps->total; i++)
		if (ps->data[i] != v)
			return 0;
	return 1;
}

static void fill(sl_params *ps, float v)
{
	for (size_t i = 0; i < ps->total; i++)
		ps->data[i] = v;
}

static void test_params(void)
{
	sl_params *a = store(0);
	for (int i = 0; i < a->n; i++)
		sl_params_set_init(a, a->t[i], SL_INIT_NORMAL, 0, 1);
	sl_rng rng;
	sl_rng_seed(&rng, 7);
	sl_params_init(a, &rng);
	PATH(p, "params.safetensors");
	sl_safetensors_meta m[2] = { { "model", "gpt layers=2" }, { "step", "100" } };
	TAP_OK(sl_safetensors_save_params(p, a, m, 2) == SL_OK, "save a parameter store");

	sl_params *b = store(0);
	int r = sl_safetensors_load_params(p, b);
	TAP_OK(r == SL_OK, "load it into a store of the same model%s%s", r ? ": " : "", r ? sl_error() : "");
	int same = 1;
	for (int i = 0; i < a->n; i++)
		same &= memcmp(a->t[i]->data, b->t[i]->data, sl_tensor_numel(a->t[i]) * sizeof(float)) == 0;
	TAP_OK(same, "every parameter bit-identical after the round trip");
	sl_safetensors *st = sl_safetensors_load(p);
	TAP_OK(st && sl_safetensors_count(st) == 3 && strcmp(sl_safetensors_at(st, 0)->name, "emb") == 0 &&
		       sl_safetensors_meta_get(st, "model") &&
		       strcmp(sl_safetensors_meta_get(st, "model"), "gpt layers=2") == 0,
	       "the file lists the parameters in declaration order, with the metadata");

	/* mismatches leave the store unchanged */
	sl_params *c = store(1);
	fill(c, 7);
	TAP_OK(sl_safetensors_load_params(p, c) == SL_ERR &&
		       strstr(sl_error(), "params.safetensors: tensor \"l0.w\" has shape (4, 4) in the file, (4, 5) in the model"),
	       "shape mismatch: %s", sl_error());
	TAP_OK(all_equal(c, 7), "the store is unchanged after a shape mismatch");
	sl_params_free(c);
	c = store(3);
	fill(c, 7);
	TAP_OK(sl_safetensors_load_params(p, c) == SL_ERR &&
		       strstr(sl_error(), "tensor \"l1.w\" is missing from the file"),
	       "missing tensor: %s", sl_error());
	TAP_OK(all_equal(c, 7), "the store is unchanged after a missing tensor");
	sl_params_free(c);
	c = store(2);
	fill(c, 7);
	TAP_OK(sl_safetensors_load_params(p, c) == SL_ERR &&
		       strstr(sl_error(), "tensor \"l0.b\" in the file is not a parameter of the model"),
	       "extra tensor: %s", sl_error());
	TAP_OK(all_equal(c, 7), "the store is unchanged after an extra tensor");
	sl_params_free(c);

	/* a dtype mismatch, and several stores in one file under prefixes */
	int32_t ints[40] = { 0 };
	sl_safetensors_tensor t[7];
	int n = 0;
	t[n++] = T("emb", SL_ST_I32, 2, (int64_t[]){ 10, 4 }, ints);
	t[n++] = sl_safetensors_tensor_of(a->t[1], NULL);
	t[n++] = sl_safetensors_tensor_of(a->t[2], NULL);
	SL_ASSERT(sl_safetensors_write(p, t, n, NULL, 0) == SL_OK);
	c = store(0);
	fill(c, 7);
	TAP_OK(sl_safetensors_load_params(p, c) == SL_ERR && strstr(sl_error(), "tensor \"emb\" is I32 in the file, F32 in the model"),
	       "dtype mismatch: %s", sl_error());
	TAP_OK(all_equal(c, 7), "the store is unchanged after a dtype mismatch");
	n = 0;
	const char *pn[3] = { "param.emb", "param.l0.w", "param.l0.b" }, *mn[3] = { "m.emb", "m.l0.w", "m.l0.b" };
	for (int i = 0; i < 3; i++) {
		t[n++] = sl_safetensors_tensor_of(a->t[i], pn[i]);
		t[n++] = sl_safetensors_tensor_of(b->t[i], mn[i]);
	}
	t[n++] = T("step", SL_ST_I64, 0, NULL, &step);
	SL_ASSERT(sl_safetensors_write(p, t, n, NULL, 0) == SL_OK);
	sl_safetensors_free(st);
	st = sl_safetensors_load(p);
	fill(c, 7);
	TAP_OK(st && sl_safetensors_get_params(st, "param.", c) == SL_OK, "get a store from a prefix%s%s", st ? "" : ": ",
	       st ? "" : sl_error());
	same = 1;
	for (int i = 0; i < a->n; i++)
		same &= memcmp(a->t[i]->data, c->t[i]->data, sl_tensor_numel(a->t[i]) * sizeof(float)) == 0;
	TAP_OK(same, "the prefixed store has the right values");
	TAP_OK(st && sl_safetensors_get_params(st, NULL, c) == SL_ERR &&
		       strstr(sl_error(), "tensor \"emb\" is missing from the file"),
	       "without the prefix: %s", sl_error());
	sl_safetensors_free(st);
	sl_params_free(a);
	sl_params_free(b);
	sl_params_free(c);
	unlink(p);
}

/* ---- numpy ---- */

static int file_tensor_is(const sl_safetensors *st, const char *name, int dtype, int ndim, const int64_t *shape,
			  const void *want, size_t bytes)
{
	const sl_safetensors_tensor *e = sl_safetensors_find(st, name);
	if (!e || e->dtype != dtype || e->ndim != ndim || e->nbytes != bytes)
		return 0;
	for (int i = 0; i < ndim; i++)
		if (e->shape[i] != shape[i])
			return 0;
	unsigned char *copy = malloc(bytes + 1); /* possibly unaligned in a foreign file */
	memcpy(copy, e->data, bytes);
	int same = memcmp(copy, want, bytes) == 0;
	free(copy);
	return same;
}

static void test_numpy(void)
{
	const char *py = getenv("PYTHON3"), *src = getenv("SRCDIR");
	char cmd[2048];
	if (!py || !*py || !src) {
		printf("ok %d - numpy cross-check # SKIP PYTHON3/SRCDIR not set\n", ++tap_n);
		return;
	}
	snprintf(cmd, sizeof cmd, "'%s' -c 'import numpy' >/dev/null 2>&1", py);
	if (system(cmd) != 0) {
		printf("ok %d - numpy cross-check # SKIP python3-numpy not available\n", ++tap_n);
		return;
	}
	sl_safetensors_tensor t[16];
	sl_safetensors_meta m[8];
	int nmeta, n = reference(t, m, &nmeta);
	PATH(in, "seqlab.safetensors");
	PATH(out, "numpy.safetensors");
	SL_ASSERT(sl_safetensors_write(in, t, n, m, nmeta) == SL_OK);
	snprintf(cmd, sizeof cmd, "'%s' '%s/tests/safetensors_numpy.py' '%s' '%s' 2>&1", py, src, in, out);
	FILE *f = popen(cmd, "r");
	char line[1024];
	int lines = 0;
	while (f && fgets(line, sizeof line, f)) {
		line[strcspn(line, "\n")] = 0;
		if (strncmp(line, "ok: ", 4) == 0) {
			TAP_OK(1, "numpy: %s", line + 4);
		} else {
			TAP_OK(0, "numpy: %s", line);
		}
		lines++;
	}
	int status = f ? pclose(f) : -1;
	TAP_OK(status == 0 && lines > 0, "safetensors_numpy.py ran (exit status %d, %d checks)", status, lines);

	sl_safetensors *st = sl_safetensors_load(out);
	TAP_OK(st != NULL, "seqlab reads the file numpy wrote%s%s", st ? "" : ": ", st ? "" : sl_error());
	if (!st)
		return;
	float a[6] = { 0, 0.25f, 0.5f, 0.75f, 1, 1.25f }, e3 = 3.5f;
	int64_t b[3] = { -1, 1LL << 40, 7 };
	uint8_t c[3] = { 0, 128, 255 };
	double d = 0.1;
	TAP_OK(file_tensor_is(st, "a", SL_ST_F32, 2, (int64_t[]){ 2, 3 }, a, sizeof a), "numpy float32 (2, 3)");
	TAP_OK(file_tensor_is(st, "b", SL_ST_I64, 1, (int64_t[]){ 3 }, b, sizeof b), "numpy int64 (3,)");
	TAP_OK(file_tensor_is(st, "c", SL_ST_U8, 1, (int64_t[]){ 3 }, c, sizeof c), "numpy uint8 (3,)");
	TAP_OK(file_tensor_is(st, "d", SL_ST_F64, 2, (int64_t[]){ 1, 1 }, &d, sizeof d), "numpy float64 (1, 1), unaligned");
	TAP_OK(file_tensor_is(st, "\xc3\xa9/\xc3\xbc", SL_ST_F32, 0, NULL, &e3, sizeof e3),
	       "numpy float32 scalar under a non-ASCII name (\\u escapes)");
	const char *by = sl_safetensors_meta_get(st, "by"), *snow = sl_safetensors_meta_get(st, "snow"),
		   *emoji = sl_safetensors_meta_get(st, "emoji");
	TAP_OK(by && strcmp(by, "numpy") == 0 && snow && strcmp(snow, "\xe2\x98\x83 \"quoted\"") == 0 && emoji &&
		       strcmp(emoji, "\xf0\x9f\x99\x82") == 0,
	       "numpy's metadata, with \\u2603 and a surrogate pair");
	sl_safetensors_free(st);
}

int main(void)
{
	snprintf(dir, sizeof dir, "%s", "/tmp/sl_safetensors_XXXXXX");
	SL_ASSERT(mkdtemp(dir) != NULL);
	test_round_trip();
	test_layout();
	test_corrupt();
	test_atomic();
	test_params();
	test_numpy();
	remove_dir();
	return tap_done();
}
