/* test_piglatin.c - the rule, the loaders, the split, the batches. */
#include "seqlab/common.h"
#include "seqlab/optspec.h"
#include "seqlab/piglatin.h"
#include "tap.h"

#include <string.h>
#include <unistd.h>

static void rule_is(const char *in, const char *want)
{
	char out[128];
	int st = sl_piglatin_rule(in, out, sizeof out);
	TAP_OK(st == SL_OK && strcmp(out, want) == 0, "rule: %s -> %s (got %s)", in, want,
	       st == SL_OK ? out : sl_error());
}

static void test_rule(void)
{
	rule_is("team", "eamtay");
	rule_is("shopping", "oppingshay");
	rule_is("brown", "ownbray");
	rule_is("strengthening", "engtheningstray");
	rule_is("pleasure-grounds", "easureplay-oundsgray");
	rule_is("good-humoured", "oodgay-umouredhay");
	rule_is("impress", "impressway");
	rule_is("i", "iway");
	rule_is("yellow", "yelloway");
	rule_is("fly", "yflay");
	rule_is("rhythm", "ythmrhay");
	rule_is("quit", "itquay");
	rule_is("square", "aresquay");
	rule_is("qat", "atqay");
	rule_is("md", "mday");
	rule_is("conditioning", "onditioningcay");
	rule_is("is", "isway");
	rule_is("don't", "onday'tay");
	rule_is("won't", "onway'tay");
	rule_is("o'clock", "oway'ockclay");
	rule_is("rock'n'roll", "ockray'nay'ollray");
	rule_is("'tis", "'istay");
	rule_is("a-", "away-");
	rule_is("-", "-");
	rule_is("x--y", "xay--yay");
	char out[8];
	TAP_OK(sl_piglatin_rule("Sh0p!", out, sizeof out) == SL_ERR && strstr(sl_error(), "Sh0p!"),
	       "rule rejects other characters: %s", sl_error());
	TAP_OK(sl_piglatin_rule("", out, sizeof out) == SL_ERR, "rule rejects the empty word");
	TAP_OK(sl_piglatin_rule("strengthening", out, sizeof out) == SL_ERR && strstr(sl_error(), "longer"),
	       "rule reports overflow: %s", sl_error());
}

static char *write_tmp(const char *text)
{
	static char path[64];
	strcpy(path, "/tmp/sl_plXXXXXX");
	int fd = mkstemp(path);
	SL_ASSERT(fd >= 0);
	SL_ASSERT(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
	return path;
}

static void test_load_pairs(void)
{
	char *p = write_tmp("team eamtay\n"
			    "brown ownbray\n"
			    "team eamtay\n"             /* duplicate */
			    "brown rownbay\n"           /* second target: conflict */
			    "Team Eamtay\n"             /* uppercase: filtered */
			    "ab3 ab3way\n"              /* digit: filtered */
			    "one two three\n"           /* three fields */
			    "lonely\n"                  /* one field */
			    "\n"
			    "good-humoured oodgay-umouredhay\n"
			    "fly yflay\n"
			    "odd oddxx\n");             /* kept, but not the rule */
	sl_pl_data *d = sl_pl_load_pairs(p, 1, 0);
	TAP_OK(d != NULL, "pair file loads");
	if (d) {
		TAP_OK(d->n == 5, "5 pairs kept (got %d)", d->n);
		TAP_OK(d->duplicates == 1 && d->conflicts == 1 && d->bad_lines == 4,
		       "1 duplicate, 1 conflict, 4 bad lines (got %d %d %d)", d->duplicates, d->conflicts,
		       d->bad_lines);
		TAP_OK(strstr(d->conflict_example, "brown") != NULL, "conflict reported: %s", d->conflict_example);
		TAP_OK(d->rule_mismatches == 1, "one pair differs from the rule (got %d)", d->rule_mismatches);
		TAP_OK(d->ntrain + d->nval == d->n, "split covers every pair");
		sl_pl_data_free(d);
	}
	unlink(p);
	p = write_tmp("Only Capitals\n\n");
	d = sl_pl_load_pairs(p, 1, 0);
	TAP_OK(!d && strstr(sl_error(), "no usable"), "a file with no pair is rejected: %s", sl_error());
	unlink(p);
	d = sl_pl_load_pairs("/nonexistent/pairs.txt", 1, 0);
	TAP_OK(!d && strstr(sl_error(), "No such file"), "a missing file is rejected: %s", sl_error());
}

static int count_in(const sl_pl_data *d, const char *w)
{
	int c = 0;
	for (int i = 0; i < d->n; i++)
		c += strcmp(d->src[i], w) == 0;
	return c;
}

static void test_words(void)
{
	char *p = write_tmp("Aaron\naardvark\nabout\naaron's\nbrown\nfly\nquit\nteam\nzebra\nyes\n");
	sl_pl_data *d = sl_pl_from_words(p, 0, 0, 3, 0);
	TAP_OK(d && d->n == 8, "word list: 8 lowercase a-z words kept (got %d)", d ? d->n : -1);
	TAP_OK(d && count_in(d, "aaron's") == 0 && count_in(d, "Aaron") == 0 && count_in(d, "quit") == 1,
	       "capitalised and apostrophe words skipped");
	TAP_OK(d && d->rule_mismatches == 0, "targets follow the rule");
	sl_pl_data_free(d);
	/* the sample depends on the words, not on their order in the file */
	char *q = write_tmp("zebra\nyes\nteam\nquit\nfly\nbrown\nabout\naardvark\n");
	sl_pl_data *a = sl_pl_from_words(p, 0, 4, 9, 0), *b = sl_pl_from_words(q, 0, 4, 9, 0);
	int same = a && b && a->n == 4 && b->n == 4;
	for (int i = 0; same && i < a->n; i++)
		same &= count_in(b, a->src[i]) == 1;
	TAP_OK(same, "a sample of 4 is the same whatever the file order");
	sl_pl_data_free(a);
	sl_pl_data_free(b);
	d = sl_pl_from_words(p, 0, 100, 9, 0);
	TAP_OK(!d && strstr(sl_error(), "fewer"), "asking for more words than there are: %s", sl_error());
	unlink(q);
	unlink(p);
	p = write_tmp("It was a good-humoured day. The day -- it was GOOD!\n");
	d = sl_pl_from_words(p, 1, 0, 1, 0);
	TAP_OK(d && count_in(d, "good-humoured") == 1 && count_in(d, "it") == 1 && count_in(d, "good") == 1 &&
		       count_in(d, "day") == 1 && d->n == 7,
	       "corpus: lowercased words and compounds, unique (got %d)", d ? d->n : -1);
	sl_pl_data_free(d);
	unlink(p);
}

static void test_split_and_batches(void)
{
	/* synthetic words: every pair of letters + suffixes, so lengths vary */
	static char buf[3000][8];
	const char *list[3000];
	int n = 0;
	for (int i = 0; i < 26 && n < 3000; i++)
		for (int j = 0; j < 26 && n < 3000; j++)
			for (int k = 0; k < 4 && n < 3000; k++) {
				snprintf(buf[n], sizeof buf[n], "%c%c%.*s", 'a' + i, 'a' + j, k, "eio");
				list[n] = buf[n];
				n++;
			}
	sl_pl_data *d = sl_pl_from_list(list, n, 5, 0);
	TAP_OK(d && d->n == n, "from_list keeps all %d words", n);
	double frac = (double)d->nval / d->n;
	TAP_OK(frac > 0.18 && frac < 0.22, "validation share %.3f ~ 0.2", frac);
	sl_pl_data *d2 = sl_pl_from_list(list + 100, 500, 5, 0);
	int stable = 1;
	for (int i = 0; i < d2->n; i++)
		for (int j = 0; j < d->n; j++)
			if (strcmp(d2->src[i], d->src[j]) == 0)
				stable &= d2->split[i] == d->split[j];
	TAP_OK(stable, "a word's split does not depend on the other words");
	sl_pl_data_free(d2);

	int *seen = calloc((size_t)d->n, sizeof *seen);
	int ok_once = 1, homog = 1, sized = 1, filled = 1;
	sl_pl_plan *p0 = NULL;
	for (long epoch = 0; epoch < 3; epoch++) {
		sl_pl_plan *p = sl_pl_plan_new(d, 0, 64, 11, epoch, 1);
		memset(seen, 0, (size_t)d->n * sizeof *seen);
		for (int b = 0; b < p->nbatches; b++) {
			sl_pl_batch bt;
			sl_pl_batch_fill(d, p, b, &bt);
			sized &= bt.B >= 1 && bt.B <= 64;
			for (int i = 0; i < bt.B; i++) {
				int id = bt.idx[i];
				seen[id]++;
				homog &= (int)strlen(d->src[id]) == bt.S && (int)strlen(d->tgt[id]) == bt.T &&
					 d->split[id] == 0;
				const int32_t *dec = bt.dec + (size_t)i * (bt.T + 1), *out = bt.out + (size_t)i * (bt.T + 1);
				filled &= dec[0] == SL_PL_SOS && out[bt.T] == SL_PL_EOS &&
					  memcmp(dec + 1, out, (size_t)bt.T * sizeof(int32_t)) == 0 &&
					  bt.src[(size_t)i * bt.S] == sl_pl_token(d->src[id][0]);
			}
			sl_pl_batch_free(&bt);
		}
		for (int i = 0; i < d->n; i++)
			ok_once &= seen[i] == (d->split[i] == 0 ? 1 : 0);
		if (epoch == 0) {
			p0 = p;
		} else {
			if (epoch == 1)
				TAP_OK(p->nbatches == p0->nbatches &&
					       memcmp(p->order, p0->order, (size_t)p->total * sizeof(int)) != 0,
				       "epochs are shuffled differently");
			sl_pl_plan_free(p);
		}
	}
	TAP_OK(ok_once, "each epoch visits every training pair exactly once");
	TAP_OK(homog, "a batch holds one (source, target) length, training pairs only");
	TAP_OK(sized, "batches hold 1..64 pairs");
	TAP_OK(filled, "decoder input is SOS+target, output is target+EOS");
	sl_pl_plan *again = sl_pl_plan_new(d, 0, 64, 11, 0, 1);
	TAP_OK(memcmp(again->order, p0->order, (size_t)p0->total * sizeof(int)) == 0 &&
		       memcmp(again->start, p0->start, (size_t)p0->nbatches * sizeof(int)) == 0,
	       "the same (seed, epoch) gives the same plan");
	sl_pl_plan_free(again);
	sl_pl_plan_free(p0);
	sl_pl_plan *f0 = sl_pl_plan_new(d, 0, 64, 11, 0, 0), *f1 = sl_pl_plan_new(d, 0, 64, 11, 5, 0);
	TAP_OK(memcmp(f0->order, f1->order, (size_t)f0->total * sizeof(int)) == 0, "shuffle=off: a fixed order");
	sl_pl_plan *v = sl_pl_plan_new(d, 1, 64, 11, 0, 0);
	TAP_OK(v->total == d->nval, "the validation plan holds every validation pair");
	sl_pl_plan_free(v);
	sl_pl_plan_free(f0);
	sl_pl_plan_free(f1);
	free(seen);
	sl_pl_data_free(d);
}

static void test_presets(void)
{
	const char *dict = "/usr/share/dict/words";
	if (access(dict, R_OK) != 0) {
		printf("ok %d - presets # SKIP no %s (Debian package wamerican)\n", ++tap_n, dict);
		return;
	}
	int sizes[2] = { SL_PL_SMALL, SL_PL_LARGE };
	for (int k = 0; k < 2; k++) {
		sl_pl_data *d = sl_pl_from_words(dict, 0, sizes[k], 0, 0);
		int comp = 0;
		for (int i = 0; d && i < d->n; i++)
			comp += strchr(d->src[i], '-') != NULL;
		TAP_OK(d && d->n == sizes[k] && d->rule_mismatches == 0, "preset of %d words from %s (got %d)",
		       sizes[k], dict, d ? d->n : -1);
		TAP_OK(comp > sizes[k] / 200 && comp <= sizes[k] / 100, "preset %d has %d hyphenated compounds",
		       sizes[k], comp);
		sl_pl_data_free(d);
	}
}

/* apostrophes=on: words with ' kept by every loader, ' a 30th token; off:
 * the same words left out and ' outside the vocabulary */
static void test_apostrophes(void)
{
	int32_t tok[16];
	sl_pl_data off = { 0 }, on = { .apostrophes = 1 };
	TAP_OK(sl_pl_vocab(&off) == 29 && sl_pl_vocab(NULL) == 29 && sl_pl_vocab(&on) == 30,
	       "vocabulary: 29 tokens, 30 with apostrophes");
	TAP_OK(sl_pl_encode(&off, "won't", tok, 16) == -1 && sl_pl_encode(NULL, "won't", tok, 16) == -1,
	       "without apostrophes ' is not encoded");
	TAP_OK(sl_pl_encode(&on, "won't", tok, 16) == 5 && tok[3] == SL_PL_APOS && sl_pl_char(SL_PL_APOS) == '\'' &&
		       tok[0] == sl_pl_token('w'),
	       "with apostrophes ' is token 29");
	TAP_OK(sl_pl_encode(&on, "won't!", tok, 16) == -1, "other characters stay outside");

	const char *list[] = { "won't", "team", "o'clock", "ma'am", "quit" };
	sl_pl_data *d0 = sl_pl_from_list(list, 5, 1, 0), *d1 = sl_pl_from_list(list, 5, 1, 1);
	TAP_OK(d0 && d0->n == 2 && !d0->apostrophes && count_in(d0, "won't") == 0, "list, off: 2 words (got %d)",
	       d0 ? d0->n : -1);
	TAP_OK(d1 && d1->n == 5 && d1->apostrophes && count_in(d1, "won't") == 1 && d1->rule_mismatches == 0,
	       "list, on: 5 words, targets by the rule (got %d)", d1 ? d1->n : -1);
	for (int i = 0; d1 && i < d1->n; i++)
		if (!strcmp(d1->src[i], "won't"))
			TAP_OK(!strcmp(d1->tgt[i], "onway'tay"), "won't -> %s", d1->tgt[i]);
	/* the batches encode ' with the data's vocabulary */
	sl_pl_plan *pl = sl_pl_plan_new(d1, 0, 8, 1, 0, 0);
	int apos = 0;
	for (int b = 0; b < pl->nbatches; b++) {
		sl_pl_batch bt;
		sl_pl_batch_fill(d1, pl, b, &bt);
		for (int i = 0; i < bt.B * bt.S; i++)
			apos += bt.src[i] == SL_PL_APOS;
		sl_pl_batch_free(&bt);
	}
	TAP_OK(apos > 0 || d1->ntrain < 3, "training batches carry token 29 (%d)", apos);
	sl_pl_plan_free(pl);
	sl_pl_data_free(d0);
	sl_pl_data_free(d1);

	char *p = write_tmp("won't onway'tay\nteam eamtay\ndon't dontay\n");
	d0 = sl_pl_load_pairs(p, 1, 0);
	d1 = sl_pl_load_pairs(p, 1, 1);
	TAP_OK(d0 && d0->n == 1 && d0->bad_lines == 2, "pair file, off: the ' pairs are bad lines");
	TAP_OK(d1 && d1->n == 3 && d1->bad_lines == 0 && d1->rule_mismatches == 1 && d1->nissues == 1 &&
		       !strcmp(d1->issues[0], "rule_mismatch word=don't file=dontay rule=onday'tay"),
	       "pair file, on: 3 pairs, don't's target differs from the rule: %s", d1 && d1->nissues ? d1->issues[0] : "");
	sl_pl_data_free(d0);
	sl_pl_data_free(d1);
	unlink(p);

	p = write_tmp("'Tis o'clock; the sisters' rock'n'roll -- won't it? -'x' a''b\n");
	d0 = sl_pl_from_words(p, 1, 0, 1, 0);
	d1 = sl_pl_from_words(p, 1, 0, 1, 1);
	TAP_OK(d0 && count_in(d0, "won") == 1 && count_in(d0, "t") == 1 && count_in(d0, "won't") == 0,
	       "corpus, off: ' splits words");
	TAP_OK(d1 && count_in(d1, "won't") == 1 && count_in(d1, "o'clock") == 1 && count_in(d1, "rock'n'roll") == 1 &&
		       count_in(d1, "tis") == 1 && count_in(d1, "sisters") == 1 && count_in(d1, "x") == 1 &&
		       count_in(d1, "a") == 1 && count_in(d1, "b") == 1 && count_in(d1, "won") == 0,
	       "corpus, on: ' inside a word kept, quotes around words and doubled ones not (%d words)",
	       d1 ? d1->n : -1);
	sl_pl_data_free(d0);
	sl_pl_data_free(d1);
	unlink(p);
	p = write_tmp("won't\nteam\nAaron's\nstudents'\n");
	d0 = sl_pl_from_words(p, 0, 0, 1, 0);
	d1 = sl_pl_from_words(p, 0, 0, 1, 1);
	TAP_OK(d0 && d0->n == 1 && d1 && d1->n == 3 && count_in(d1, "won't") == 1 && count_in(d1, "students") == 1,
	       "word list: ' words taken only with apostrophes (%d, %d)", d0 ? d0->n : -1, d1 ? d1->n : -1);
	sl_pl_data_free(d0);
	sl_pl_data_free(d1);
	unlink(p);
}

int main(void)
{
	TAP_OK(sl_pl_token('-') == 0 && sl_pl_token('a') == 1 && sl_pl_token('z') == 26 && sl_pl_token('A') == -1,
	       "vocabulary: '-'=0, a..z=1..26");
	TAP_OK(sl_pl_char(SL_PL_SOS) == '^' && sl_pl_char(SL_PL_EOS) == '$' && SL_PL_VOCAB == 29, "SOS, EOS, 29 tokens");
	TAP_OK(sl_edit_distance("kitten", "sitting") == 3 && sl_edit_distance("", "abc") == 3 &&
		       sl_edit_distance("same", "same") == 0,
	       "edit distance");
	test_rule();
	test_load_pairs();
	test_words();
	test_split_and_batches();
	test_presets();
	test_apostrophes();
	return tap_done();
}
