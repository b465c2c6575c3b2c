/* fuzz_journal.c - fuzzing the journal reader (sealed scripts), two builds
 * of one file, like fuzz_safetensors.c:
 *
 * - `make fuzz` compiles it with clang -DSL_FUZZ_LIBFUZZER
 *   -fsanitize=fuzzer,address,undefined into tests/fuzz_journal and runs it
 *   for FUZZ_TIME seconds on the seeds the second build writes.
 * - Otherwise it is tests/test_fuzz_journal, a TAP program of `make check`:
 *     test_fuzz_journal                     seeds + 4000 mutations (TAP)
 *     test_fuzz_journal FILE...             replay files (e.g. a crash)
 *     test_fuzz_journal --write-corpus DIR  write the seeds as files
 *
 * For every input: sl_sealed_check() and sl_journal_parse() either reject it
 * with a one-line error, or accept it, and then the journal's text must seal
 * and parse again to the same commands. Half of the mutations are re-sealed
 * (a correct end line and hash over the mutated body), so the checks behind
 * the hash are reached too. */
#include "seqlab/journal.h"
#include "seqlab/rng.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char broken[512];

/* 1 accepted, 0 rejected, -1 an invariant broken. */
static int check_one(const unsigned char *data, size_t size)
{
	const char *text = (const char *)data;
	sl_error_clear();
	int sealed = sl_sealed_check(text, size, "journal") == SL_OK;
	if (!sealed) {
		const char *e = sl_error();
		if (!e[0] || strchr(e, '\n')) {
			snprintf(broken, sizeof broken, "a rejection without a one-line error: '%s'", e);
			return -1;
		}
	}
	sl_journal *j = sl_journal_parse(text, size);
	if (!j) {
		const char *e = sl_error();
		if (!e[0] || strchr(e, '\n')) {
			snprintf(broken, sizeof broken, "parse: a rejection without a one-line error");
			return -1;
		}
		return 0;
	}
	if (!sealed) {
		snprintf(broken, sizeof broken, "parse accepted what the check rejected");
		sl_journal_free(j);
		return -1;
	}
	char *again = sl_journal_text(j, NULL);
	sl_journal *k = sl_journal_parse(again, strlen(again));
	int same = k && sl_journal_count(k) == sl_journal_count(j);
	for (int i = 0; same && i < sl_journal_count(j); i++)
		same = !strcmp(sl_journal_line(j, i), sl_journal_line(k, i));
	if (!same)
		snprintf(broken, sizeof broken, "the journal's text does not parse back to it");
	sl_journal_free(k);
	sl_journal_free(j);
	free(again);
	return same ? 1 : -1;
}

#ifdef SL_FUZZ_LIBFUZZER
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	if (check_one(data, size) < 0) {
		fprintf(stderr, "fuzz_journal: %s\n", broken);
		abort();
	}
	return 0;
}
#else

/* ---- seeds ---- */

static char *seed_text(int k)
{
	sl_journal *j = sl_journal_new((uint64_t)k * 977, 1 + k % 4);
	const char *lines[] = {
		"task piglatin words=/usr/share/dict/words size=200 seed=3",
		"model t = transformer hidden=16 heads=2 enc=1 dec=1",
		"optim t adam lr=1e-2 batch=16 sched=constant",
		"train t 5 steps eval=2",
		"echo 'a # not a comment' \"x\\ty\"",
		"train t 3 steps final=off",
		"eval t",
	};
	for (int i = 0; i < k % 8; i++)
		sl_journal_append(j, lines[i % 7]);
	char *t = sl_journal_text(j, k % 3 == 0 ? "train t 1 steps final=off" : NULL);
	sl_journal_free(j);
	return t;
}

/* ---- a small deterministic mutator ---- */

/* Replaces the end line of t[0..*n) by a correct one for the body. */
static void reseal(char *t, size_t *n, size_t cap)
{
	size_t ls = *n;
	if (ls && t[ls - 1] == '\n')
		ls--;
	while (ls > 0 && t[ls - 1] != '\n')
		ls--;
	int count = 0;
	for (size_t p = 0; p < ls;) {
		const char *e = memchr(t + p, '\n', ls - p);
		size_t q = e ? (size_t)(e - t) : ls;
		size_t k = p;
		while (k < q && (t[k] == ' ' || t[k] == '\t'))
			k++;
		int blank = 1;
		for (size_t i = p; i < q; i++)
			blank &= t[i] == ' ' || t[i] == '\t' || t[i] == '\r';
		count += !blank && t[k] != '#';
		p = q + 1;
	}
	uint64_t h = sl_fnv1a64(SL_FNV_INIT, t, ls);
	int w = snprintf(t + ls, cap - ls, "# end of journal: %d commands, fnv1a64 %016" PRIx64 "\n", count, h);
	*n = ls + (size_t)w;
}

static size_t mutate(sl_rng *r, char *t, size_t n, size_t cap)
{
	int times = 1 + (int)(sl_rng_u64(r) % 4);
	for (int m = 0; m < times; m++) {
		size_t pos = n ? sl_rng_u64(r) % n : 0;
		switch (sl_rng_u64(r) % 7) {
		case 0: /* flip a bit */
			if (n)
				t[pos] ^= (char)(1u << (sl_rng_u64(r) % 8));
			break;
		case 1: /* a random byte, often a structural one */
			if (n) {
				static const char special[] = "\n#;\\'\" \t\0=";
				t[pos] = sl_rng_u64(r) % 2 ? special[sl_rng_u64(r) % (sizeof special - 1)]
							   : (char)sl_rng_u64(r);
			}
			break;
		case 2: /* truncate */
			n = pos;
			break;
		case 3: /* delete a run */
			if (n) {
				size_t want = 1 + sl_rng_u64(r) % 16, k = SL_MIN(n - pos, want);
				memmove(t + pos, t + pos + k, n - pos - k);
				n -= k;
			}
			break;
		case 4: /* duplicate a run */
			if (n && n + 32 < cap) {
				size_t want = 1 + sl_rng_u64(r) % 32, k = SL_MIN(n - pos, want);
				memmove(t + pos + k, t + pos, n - pos);
				n += k;
			}
			break;
		case 5: /* insert a line */
			if (n + 64 < cap) {
				static const char *const ins[] = { "\n", "# c\n", "set x\n", "\n\n  \t\n", "train t 1 steps\n" };
				const char *s = ins[sl_rng_u64(r) % SL_COUNT(ins)];
				size_t k = strlen(s);
				memmove(t + pos + k, t + pos, n - pos);
				memcpy(t + pos, s, k);
				n += k;
			}
			break;
		default: /* swap two bytes */
			if (n) {
				size_t q = sl_rng_u64(r) % n;
				char c = t[pos];
				t[pos] = t[q];
				t[q] = c;
			}
			break;
		}
	}
	if (sl_rng_u64(r) % 2 && n + 128 < cap)
		reseal(t, &n, cap);
	return n;
}

static int tap_n, tap_bad;

static void point(int ok, const char *fmt, int a, int b)
{
	tap_n++;
	printf("%s %d - ", ok ? "ok" : "not ok", tap_n);
	printf(fmt, a, b);
	printf("\n");
	tap_bad += !ok;
}

static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		perror(path);
		return 1;
	}
	static unsigned char buf[1 << 20];
	size_t n = fread(buf, 1, sizeof buf, f);
	fclose(f);
	int r = check_one(buf, n);
	printf("%s: %s%s\n", path, r > 0 ? "accepted" : r == 0 ? "rejected: " : "BROKEN: ",
	       r > 0 ? "" : r == 0 ? sl_error() : broken);
	return r < 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 3 && !strcmp(argv[1], "--write-corpus")) {
		for (int k = 0; k < 12; k++) {
			char path[1024];
			snprintf(path, sizeof path, "%s/seed-%02d.sl", argv[2], k);
			char *t = seed_text(k);
			FILE *f = fopen(path, "wb");
			if (!f) {
				perror(path);
				return 1;
			}
			fwrite(t, 1, strlen(t), f);
			fclose(f);
			free(t);
		}
		return 0;
	}
	if (argc > 1) {
		int bad = 0;
		for (int i = 1; i < argc; i++)
			bad |= replay_file(argv[i]);
		return bad;
	}
	int accepted = 0, broken_n = 0;
	for (int k = 0; k < 12; k++) {
		char *t = seed_text(k);
		accepted += check_one((const unsigned char *)t, strlen(t)) == 1;
		free(t);
	}
	point(accepted == 12, "the %d seeds are accepted (%d)", 12, accepted);
	sl_rng r;
	sl_rng_seed(&r, 20250131);
	int n = 4000, acc = 0, rej = 0;
	static char buf[8192];
	for (int i = 0; i < n; i++) {
		char *t = seed_text(i % 12);
		size_t len = strlen(t);
		memcpy(buf, t, len);
		free(t);
		len = mutate(&r, buf, len, sizeof buf - 256);
		int c = check_one((const unsigned char *)buf, len);
		if (c < 0 && broken_n++ < 5)
			printf("# mutation %d: %s\n", i, broken);
		acc += c == 1;
		rej += c == 0;
	}
	point(broken_n == 0, "%d mutations: no invariant broken (%d broken)", n, broken_n);
	point(acc > 100 && rej > 100, "both outcomes are exercised (%d accepted, %d rejected)", acc, rej);
	printf("1..%d\n", tap_n);
	return tap_bad != 0;
}
#endif
