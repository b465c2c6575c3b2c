/* fuzz_safetensors.c - fuzzing the safetensors reader, two builds of one file.
 *
 * - `make fuzz` compiles it with clang -DSL_FUZZ_LIBFUZZER
 *   -fsanitize=fuzzer,address,undefined into tests/fuzz_safetensors, a
 *   libFuzzer target, and runs it for a bounded time on the seed corpus that
 *   the second build writes (see the fuzz target in Makefile.am).
 * - Otherwise it is tests/test_fuzz_safetensors, a TAP program of `make
 *   check`: it replays the built-in seed corpus and a fixed number of
 *   deterministic mutations of it (a small mutator driven by sl_rng), so the
 *   normal and the sanitizer builds exercise the reader on bad input too.
 *     test_fuzz_safetensors                    seeds + 3000 mutations (TAP)
 *     test_fuzz_safetensors -n N -s SEED       N mutations from seed SEED
 *     test_fuzz_safetensors FILE...            replay files (e.g. a crash)
 *     test_fuzz_safetensors --write-corpus DIR write the seeds as files
 *
 * For every input: sl_safetensors_parse() either rejects it with a one-line
 * error, or accepts it and then every tensor must be in bounds (each byte is
 * read, for ASan), sizes must add up, lookups must find every name, and
 * encoding what was read must give a file that parses to the same content. */
#include "seqlab/rng.h"
#include "seqlab/safetensors.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char broken[512]; /* the invariant that failed */

static int fail(const char *what)
{
	snprintf(broken, sizeof broken, "%s", what);
	return -1;
}

static int same_file(const sl_safetensors *a, const sl_safetensors *b)
{
	if (sl_safetensors_count(a) != sl_safetensors_count(b) || sl_safetensors_meta_count(a) != sl_safetensors_meta_count(b))
		return 0;
	for (int i = 0; i < sl_safetensors_count(a); i++) {
		const sl_safetensors_tensor *x = sl_safetensors_at(a, i), *y = sl_safetensors_find(b, x->name);
		if (!y || x->dtype != y->dtype || x->ndim != y->ndim || x->nbytes != y->nbytes ||
		    memcmp(x->shape, y->shape, (size_t)x->ndim * sizeof x->shape[0]) ||
		    (x->nbytes && memcmp(x->data, y->data, x->nbytes)))
			return 0;
	}
	for (int i = 0; i < sl_safetensors_meta_count(a); i++) {
		const sl_safetensors_meta *m = sl_safetensors_meta_at(a, i);
		const char *v = sl_safetensors_meta_get(b, m->key);
		if (!v || strcmp(v, m->value))
			return 0;
	}
	return 1;
}

/* 1 accepted, 0 rejected, -1 an invariant broken (see `broken`). */
static int check_one(const unsigned char *data, size_t size)
{
	sl_error_clear();
	sl_safetensors *st = sl_safetensors_parse(data, size);
	if (!st) {
		const char *e = sl_error();
		if (!e[0] || strcmp(e, "unknown error") == 0)
			return fail("rejected without an error message");
		if (strchr(e, '\n') || strchr(e, '\r'))
			return fail("error message of several lines");
		return 0;
	}
	int r = 1, n = sl_safetensors_count(st);
	size_t total = 0;
	unsigned sum = 0;
	sl_safetensors_tensor *t = calloc((size_t)n + 1, sizeof *t);
	for (int i = 0; i < n && r > 0; i++) {
		const sl_safetensors_tensor *e = sl_safetensors_at(st, i);
		size_t bytes = sl_st_dtype_size(e->dtype);
		if (!bytes || e->ndim < 0 || e->ndim > SL_ST_MAXDIM || !e->name || !e->name[0])
			r = fail("bad dtype, rank or name accepted");
		for (int d = 0; r > 0 && d < e->ndim; d++) {
			if (e->shape[d] < 0)
				r = fail("negative dimension accepted");
			bytes *= (size_t)e->shape[d];
		}
		if (r > 0 && bytes != e->nbytes)
			r = fail("nbytes is not product(shape) x dtype size");
		for (size_t k = 0; r > 0 && k < e->nbytes; k++)
			sum += ((const unsigned char *)e->data)[k]; /* out of bounds: ASan */
		if (r > 0 && sl_safetensors_find(st, e->name) != e)
			r = fail("find() does not give the tensor back");
		total += e->nbytes;
		t[i] = *e;
	}
	if (r > 0 && (total != sl_safetensors_data_size(st) || total > size))
		r = fail("tensor sizes do not add up to the data buffer");
	int nm = sl_safetensors_meta_count(st);
	sl_safetensors_meta *m = calloc((size_t)nm + 1, sizeof *m);
	for (int i = 0; i < nm && r > 0; i++) {
		m[i] = *sl_safetensors_meta_at(st, i);
		if (sl_safetensors_meta_get(st, m[i].key) != m[i].value)
			r = fail("meta_get() does not give the value back");
	}
	if (r > 0) {
		unsigned char *out;
		size_t len;
		if (sl_safetensors_encode(t, n, m, nm, &out, &len) != SL_OK) {
			r = fail("what the reader accepts, the writer refuses");
		} else {
			sl_safetensors *again = sl_safetensors_parse(out, len);
			if (!again)
				r = fail("what the writer writes, the reader refuses");
			else if (!same_file(st, again))
				r = fail("re-encoding changed the content");
			sl_safetensors_free(again);
			free(out);
		}
	}
	free(t);
	free(m);
	sl_safetensors_free(st);
	(void)sum;
	return r;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	if (check_one(data, size) < 0) {
		fprintf(stderr, "fuzz_safetensors: invariant broken: %s\n", broken);
		abort();
	}
	return 0;
}

#ifndef SL_FUZZ_LIBFUZZER
#include "tap.h"

/* ---- the seed corpus ---- */

typedef struct blob {
	unsigned char *p;
	size_t n;
	int valid; /* 1 if the reader must accept it */
} blob;

static blob seeds[32];
static int nseeds;

static void add_seed(unsigned char *p, size_t n, int valid)
{
	SL_ASSERT(nseeds < (int)SL_COUNT(seeds));
	seeds[nseeds++] = (blob){ p, n, valid };
}

static void add_encoded(const sl_safetensors_tensor *t, int n, const sl_safetensors_meta *m, int nm)
{
	unsigned char *p;
	size_t len;
	SL_ASSERT(sl_safetensors_encode(t, n, m, nm, &p, &len) == SL_OK);
	add_seed(p, len, 1);
}

/* A file from header text and dlen data bytes. */
static void add_raw(const char *hdr, size_t dlen, int valid)
{
	size_t hl = strlen(hdr);
	unsigned char *p = calloc(1, 8 + hl + dlen + 1);
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)((uint64_t)hl >> (8 * i));
	memcpy(p + 8, hdr, hl);
	for (size_t i = 0; i < dlen; i++)
		p[8 + hl + i] = (unsigned char)(i * 7);
	add_seed(p, 8 + hl + dlen, valid);
}

static void make_seeds(void)
{
	static float f[12] = { 1, -2, 0.5f, 3, 4, 5, 6, 7, 8, 9, 10, 11 };
	static int32_t i32[3] = { -1, 0, 1 };
	static int64_t i64 = 42;
	static uint8_t u8[5] = { 1, 2, 3, 4, 5 };
	static uint64_t u64[4] = { 1, 2, 3, 4 };
	sl_safetensors_tensor t[6] = {
		{ .name = "w", .dtype = SL_ST_F32, .ndim = 2, .shape = { 3, 4 }, .data = f },
		{ .name = "ids", .dtype = SL_ST_I32, .ndim = 1, .shape = { 3 }, .data = i32 },
		{ .name = "step", .dtype = SL_ST_I64, .ndim = 0, .data = &i64 },
		{ .name = "mask", .dtype = SL_ST_U8, .ndim = 3, .shape = { 1, 5, 1 }, .data = u8 },
		{ .name = "rng", .dtype = SL_ST_U64, .ndim = 1, .shape = { 4 }, .data = u64 },
		{ .name = "none", .dtype = SL_ST_F32, .ndim = 2, .shape = { 0, 7 }, .data = NULL },
	};
	sl_safetensors_meta m[3] = { { "model", "gpt \"q\" \\ \xc3\xa9" }, { "ctl", "\x01\t\n" }, { "e", "" } };
	add_encoded(NULL, 0, NULL, 0);
	add_encoded(t, 1, NULL, 0);
	add_encoded(t, 6, m, 3);
	add_encoded(t + 2, 2, m, 1);
	add_encoded(t + 5, 1, m + 2, 1);
	add_raw("{\"__metadata__\": {\"\\u00e9\": \"\\ud83d\\ude42\\n\"}, \"a\": {\"dtype\": \"F64\", \"shape\": [1], "
		"\"data_offsets\": [0, 8]}, \"b\": {\"dtype\": \"BF16\", \"shape\": [], \"data_offsets\": [8, 10]}}",
		10, 1);
	add_raw("{\"x\":{\"data_offsets\":[0,2],\"shape\":[2,1],\"dtype\":\"BOOL\"}}\t\r\n ", 2, 1);
	/* some invalid ones, to start from the error paths */
	add_raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
		"\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[2,6]}}",
		6, 0);
	add_raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"a\":{}}", 4, 0);
	add_raw("{\"__metadata__\":{\"k\":[[[[[[[[1]]]]]]]]}}", 0, 0);
	add_raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}}", 4, 0);
}

static void free_seeds(void)
{
	for (int i = 0; i < nseeds; i++)
		free(seeds[i].p);
	nseeds = 0;
}

/* ---- the mutator ---- */

static const char *const tokens[] = {
	"{", "}", "[", "]", ",", ":", "\"", "\\", "\\u", "\\ud800", "\\udc00", "\\u0000", "\\\"", "0", "-1",
	"1e5", "2.5", "01", "99999999999999999999", "18446744073709551616", "4294967296", "null", "true",
	"\"__metadata__\"", "\"dtype\"", "\"shape\"", "\"data_offsets\"", "\"F32\"", "\"I64\"", "\"U8\"",
	"\"F8_E4M3\"", "[]", "{}", "\xc3", "\xe2\x82", "\xf0\x9f\x99\x82", "\xed\xa0\x80", " ", "\t", "\n",
};

static uint64_t get_u64le(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static void put_u64le(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

/* Replaces b[at, at + del) by ins[0, nins); b has room for cap bytes. */
static void splice(unsigned char *b, size_t *n, size_t cap, size_t at, size_t del, const void *ins, size_t nins)
{
	if (at > *n)
		at = *n;
	if (del > *n - at)
		del = *n - at;
	if (*n - del + nins > cap)
		nins = cap - (*n - del);
	memmove(b + at + nins, b + at + del, *n - at - del);
	memcpy(b + at, ins, nins);
	*n = *n - del + nins;
}

/* One random edit of b (n bytes, capacity cap); header-length aware. */
static void mutate_once(sl_rng *r, unsigned char *b, size_t *n, size_t cap)
{
	/* mostly edit inside the header (where the parser is) and keep the
	 * header length in step with the edit half of the time */
	uint64_t hl = *n >= 8 ? get_u64le(b) : 0;
	size_t lo = 8, hi = *n;
	if (*n >= 8 && hl <= *n - 8 && sl_rng_below(r, 4))
		hi = 8 + (size_t)hl;
	if (hi <= lo) {
		lo = 0;
		hi = *n;
	}
	size_t at = hi > lo ? lo + sl_rng_below(r, (uint32_t)(hi - lo + 1)) : 0;
	size_t before = *n;
	switch (sl_rng_below(r, 11)) {
	case 0: /* flip a bit */
		if (at < *n)
			b[at] ^= (unsigned char)(1u << sl_rng_below(r, 8));
		break;
	case 1: { /* an interesting byte */
		static const unsigned char v[] = { 0, 0xFF, 0x7F, 0x80, 0xC3, '"', '\\', '{', '}', '[', ']',
						   ',', ':', '-', '0', '9', 'u', 'e', '.', ' ' };
		if (at < *n)
			b[at] = v[sl_rng_below(r, sizeof v)];
		break;
	}
	case 2: /* delete a range */
		splice(b, n, cap, at, 1 + sl_rng_below(r, 8), "", 0);
		break;
	case 3:
	case 4: { /* insert a token */
		const char *tk = tokens[sl_rng_below(r, SL_COUNT(tokens))];
		splice(b, n, cap, at, sl_rng_below(r, 3), tk, strlen(tk));
		break;
	}
	case 5: { /* copy a chunk of the file elsewhere */
		size_t from = *n ? sl_rng_below(r, (uint32_t)*n) : 0, len = 1 + sl_rng_below(r, 32);
		unsigned char tmp[32];
		if (len > *n - from)
			len = *n - from;
		memcpy(tmp, b + from, len);
		splice(b, n, cap, at, 0, tmp, len);
		break;
	}
	case 6: /* truncate */
		*n = *n ? sl_rng_below(r, (uint32_t)*n + 1) : 0;
		return;
	case 7: /* a new header length */
		if (*n >= 8) {
			uint64_t choices[] = { hl + 1, hl - 1, hl + 8, hl ? hl - 8 : 0, *n - 8, 0, sl_rng_u64(r),
					       SL_ST_MAX_HEADER, (uint64_t)SL_ST_MAX_HEADER + 1, (uint64_t)1 << 63 };
			put_u64le(b, choices[sl_rng_below(r, SL_COUNT(choices))]);
		}
		return;
	case 8: { /* a digit run changed to another number */
		char num[24];
		int k = snprintf(num, sizeof num, "%u", sl_rng_below(r, 3) ? sl_rng_below(r, 64) : sl_rng_u32(r));
		size_t end = at;
		while (end < *n && b[end] >= '0' && b[end] <= '9')
			end++;
		splice(b, n, cap, at, end - at, num, (size_t)k);
		break;
	}
	default: /* a letter changed (in a name or a value, the file often stays valid) */
		for (size_t k = at; k < *n && k < at + 64; k++)
			if (b[k] >= 'a' && b[k] <= 'z') {
				b[k] = (unsigned char)('a' + sl_rng_below(r, 26));
				break;
			}
		break;
	}
	/* keep the header length in step with an edit inside the header */
	if (before >= 8 && *n >= 8 && hl <= before - 8 && at >= 8 && at < 8 + hl && sl_rng_below(r, 2))
		put_u64le(b, hl + *n - before);
}

static int run_mutations(uint64_t seed, int count, int *accepted, int *rejected)
{
	sl_rng r;
	sl_rng_seed(&r, seed);
	size_t cap = 8192;
	unsigned char *b = malloc(cap);
	int bad = 0;
	for (int k = 0; k < count; k++) {
		const blob *s = &seeds[sl_rng_below(&r, (uint32_t)nseeds)];
		size_t n = SL_MIN(s->n, cap);
		memcpy(b, s->p, n);
		int edits = sl_rng_below(&r, 2) ? 1 : 2 + (int)sl_rng_below(&r, 3);
		for (int e = 0; e < edits; e++)
			mutate_once(&r, b, &n, cap);
		/* an exact-size copy, so ASan sees any read past the end */
		unsigned char *in = malloc(n ? n : 1);
		memcpy(in, b, n);
		int res = check_one(in, n);
		free(in);
		if (res < 0) {
			if (bad++ < 5)
				tap_diag("mutation %d (seed %llu): %s", k, (unsigned long long)seed, broken);
		} else {
			*(res ? accepted : rejected) += 1;
		}
	}
	free(b);
	return bad;
}

static unsigned char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 4096;
	unsigned char *buf = malloc(cap);
	*len = 0;
	size_t k;
	while ((k = fread(buf + *len, 1, cap - *len, f)) > 0) {
		*len += k;
		if (*len == cap)
			buf = realloc(buf, cap *= 2);
	}
	fclose(f);
	return buf;
}

int main(int argc, char **argv)
{
	int count = 3000;
	uint64_t seed = 1;
	int files = 0;
	make_seeds();
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--write-corpus") == 0 && i + 1 < argc) {
			const char *dir = argv[++i];
			for (int k = 0; k < nseeds; k++) {
				char path[4096];
				snprintf(path, sizeof path, "%s/seed-%02d.safetensors", dir, k);
				FILE *f = fopen(path, "wb");
				if (!f || fwrite(seeds[k].p, 1, seeds[k].n, f) != seeds[k].n || fclose(f)) {
					fprintf(stderr, "%s: %s\n", path, strerror(errno));
					return 1;
				}
			}
			printf("wrote %d seeds to %s\n", nseeds, dir);
			free_seeds();
			return 0;
		} else if (strcmp(argv[i], "-n") == 0 && i + 1 < argc) {
			count = atoi(argv[++i]);
		} else if (strcmp(argv[i], "-s") == 0 && i + 1 < argc) {
			seed = strtoull(argv[++i], NULL, 10);
		} else {
			size_t len = 0;
			unsigned char *p = read_file(argv[i], &len);
			files++;
			if (!TAP_OK(p != NULL, "read %s", argv[i]))
				continue;
			int res = check_one(p, len);
			TAP_OK(res >= 0, "%s: %s", argv[i], res < 0 ? broken : res ? "accepted" : sl_error());
			free(p);
		}
	}
	if (files) {
		free_seeds();
		return tap_done();
	}

	for (int k = 0; k < nseeds; k++) {
		int res = check_one(seeds[k].p, seeds[k].n);
		TAP_OK(res == seeds[k].valid, "seed %d (%zu bytes) %s%s%s", k, seeds[k].n,
		       seeds[k].valid ? "accepted" : "rejected", res < 0 ? ": " : "", res < 0 ? broken : "");
		if (res == 0 && seeds[k].valid)
			tap_diag("%s", sl_error());
	}
	int accepted = 0, rejected = 0;
	int bad = run_mutations(seed, count, &accepted, &rejected);
	TAP_OK(bad == 0, "%d mutations (seed %llu): every invariant held (%d accepted, %d rejected)", count,
	       (unsigned long long)seed, accepted, rejected);
	TAP_OK(accepted > count / 100 && rejected > count / 10,
	       "the mutations reach both outcomes (%d accepted, %d rejected)", accepted, rejected);
	free_seeds();
	return tap_done();
}
#endif
