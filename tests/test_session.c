/* test_session.c - the interpreter from C: output kinds, failures,
 * keep-going, quit, the streaming form, the journal hook and its quoting,
 * and the typed getters (including the ones no command uses yet). */
#include "seqlab/args.h"
#include "seqlab/commands.h"
#include "seqlab/session.h"
#include "tap.h"

#include <math.h>
#include <string.h>

/* Everything the session emitted, as "R:line", "I:line", "E:line" lines. */
static char got[8192];

static void capture(void *ud, int kind, const char *line)
{
	const char *tag = kind == SL_OUT_RESULT ? "R:" : kind == SL_OUT_INFO ? "I:" : "E:";
	size_t n = strlen(got);
	snprintf(got + n, sizeof got - n, "%s%s\n", tag, line);
}

static char accepted[4096];

static void on_accept(void *ud, const char *text)
{
	size_t n = strlen(accepted);
	snprintf(accepted + n, sizeof accepted - n, "%s\n", text);
}

static sl_session *fresh(void)
{
	sl_session *s = sl_session_new();
	SL_ASSERT(s);
	sl_session_set_output(s, capture, NULL);
	sl_session_set_accept(s, on_accept, NULL);
	got[0] = 0;
	accepted[0] = 0;
	return s;
}

static void expect(const char *want, const char *what)
{
	if (!TAP_OK(strcmp(got, want) == 0, "%s", what)) {
		tap_diag("got:\n%s", got);
		tap_diag("want:\n%s", want);
	}
	got[0] = 0;
}

static void test_exec(void)
{
	sl_session *s = fresh();
	int st = sl_session_exec(s, "set threads=1 seed=3; show settings; echo hi", NULL);
	TAP_OK(st == SL_OK && sl_session_failures(s) == 0, "exec: commands run");
	expect("R:seed=3\nR:threads=1\nI:hi\n", "exec: results and text have their kinds");
	TAP_OK(sl_session_seed(s) == 3 && sl_session_threads(s) == 1 &&
		       sl_pool_size(sl_session_pool(s)) == 1,
	       "exec: the settings and the pool follow set");

	st = sl_session_exec(s, "echo a; nosuch; echo b", NULL);
	TAP_OK(st == SL_ERR && sl_session_failures(s) == 1, "exec: a failure stops, and is counted");
	expect("I:a\nE:unknown command 'nosuch'; type 'help' for the list\n", "exec: nothing after the failure");

	sl_session_set_keep_going(s, 1);
	st = sl_session_exec(s, "echo a\nset threads=0\necho b\n", "x.sl");
	TAP_OK(st == SL_ERR && sl_session_failures(s) == 2, "keep-going: still SL_ERR");
	expect("I:a\nE:x.sl:2: set: threads=0 is out of range (1..64); usage: set [seed=N] [threads=N]\nI:b\n",
	       "keep-going: the rest runs; the error is located");

	st = sl_session_exec(s, "echo a; quit; echo b", NULL);
	TAP_OK(st == SL_OK && sl_session_quitting(s), "quit: sets the flag");
	expect("I:a\n", "quit: nothing after it runs");
	st = sl_session_exec(s, "echo c", NULL);
	expect("", "quit: a quitting session runs nothing more");

	TAP_OK(strcmp(accepted, "set threads=1 seed=3\n") == 0, "journal: only successful state changes");
	sl_session_free(s);
}

static void test_feed(void)
{
	sl_session *s = fresh();
	sl_session_feed(s, "set threads=1 \\\n", "in");
	TAP_OK(sl_session_feed_pending(s), "feed: a continuation is pending");
	expect("", "feed: nothing runs while pending");
	sl_session_feed(s, "  seed=4\n", "in");
	TAP_OK(!sl_session_feed_pending(s) && sl_session_seed(s) == 4 && sl_session_threads(s) == 1,
	       "feed: the joined command runs");
	sl_session_feed(s, "echo '# not a comment' \\", "in");
	sl_session_feed(s, "\"x\\", "in");
	TAP_OK(sl_session_feed_pending(s), "feed: a continuation inside double quotes is pending");
	sl_session_feed(s, "y\"", "in");
	expect("I:# not a comment xy\n", "feed: quotes and continuations across lines");
	sl_session_feed(s, "# a comment \\", "in");
	TAP_OK(!sl_session_feed_pending(s), "feed: a comment's backslash does not continue");
	sl_session_feed(s, "bogus", "in");
	expect("E:in:7: unknown command 'bogus'; type 'help' for the list\n", "feed: lines counted across calls");
	sl_session_feed(s, "echo end \\", "in");
	TAP_OK(sl_session_feed_end(s, "in") == SL_OK, "feed_end: runs what is pending");
	expect("I:end\n", "feed_end: output");
	sl_session_feed(s, "bogus", "in");
	expect("E:in:1: unknown command 'bogus'; type 'help' for the list\n", "feed_end: line numbers restart");
	sl_session_free(s);
}

/* Formats words, runs them back through echo, and checks the words survive. */
static void roundtrip(const char *word)
{
	sl_session *s = fresh();
	sl_word w[2] = {{.text = "echo"}, {.text = word}};
	char *line = sl_session_format_words(w, 2);
	sl_session_exec(s, line, NULL);
	/* echo prints a newline inside a word as a line break */
	char want[512] = "I:";
	size_t k = 2;
	for (const char *p = word; *p; p++) {
		want[k++] = *p;
		if (*p == '\n') {
			want[k++] = 'I';
			want[k++] = ':';
		}
	}
	want[k++] = '\n';
	want[k] = 0;
	TAP_OK(strcmp(got, want) == 0, "format_words: a word round-trips as %s", line);
	free(line);
	sl_session_free(s);
}

static void test_format(void)
{
	const char *words[] = {"plain", "a b", "it's", "say \"hi\"", "back\\slash", "semi;colon", "#hash",
			       "a#b", "", "tab\there", "new\nline", "=", "-1.5e3", "$x", "a'b\"c"};
	for (size_t i = 0; i < SL_COUNT(words); i++)
		roundtrip(words[i]);

	sl_word w[4] = {{.text = "set"},
			{.text = "seed=x y", .key = "seed", .value = "x y"},
			{.text = "seed=1"},
			{.text = "="}};
	char *line = sl_session_format_words(w, 4);
	TAP_OK(strcmp(line, "set seed='x y' 'seed=1' =") == 0, "format_words: options stay options, plain words plain (%s)",
	       line);
	free(line);
}

static const sl_cmd fake = {.name = "fake", .usage = "fake [k=...]"};

static sl_args args_of(sl_session *s, sl_word *w, int n)
{
	return (sl_args){.s = s, .cmd = &fake, .w = w, .n = n};
}

#define W(k, v) {.text = k "=" v, .key = k, .value = v}

static void test_getters(void)
{
	sl_session *s = fresh();
	sl_word w[] = {W("i", "42"), W("f", "2.5"), W("e", "post"), W("b", "Off"), W("str", ""), {.text = "pos"},
		       W("u", "18446744073709551615")};
	sl_args a = args_of(s, w, (int)SL_COUNT(w));
	long long i = 0;
	double f = 0;
	int e = -1, b = -1;
	const char *str = NULL;
	uint64_t u = 0;
	static const char *const norms[] = {"pre", "post", NULL};
	TAP_OK(sl_args_int(&a, "i", 0, 100, &i) == 1 && i == 42, "int");
	TAP_OK(sl_args_float(&a, "f", 0, 10, &f) == 1 && f == 2.5, "float");
	TAP_OK(sl_args_enum(&a, "e", norms, &e) == 1 && e == 1, "enum");
	TAP_OK(sl_args_bool(&a, "b", &b) == 1 && b == 0, "bool");
	TAP_OK(sl_args_str(&a, "str", &str) == 1 && str && !*str, "str (empty allowed)");
	TAP_OK(sl_args_u64(&a, "u", &u) == 1 && u == UINT64_MAX, "u64 max");
	TAP_OK(sl_args_int(&a, "absent", 0, 1, &i) == 0 && i == 42, "absent: 0, out unchanged");
	TAP_OK(sl_args_words_left(&a) == 1 && strcmp(sl_args_word(&a), "pos") == 0 && !sl_args_word(&a),
	       "plain words");
	TAP_OK(sl_args_end(&a) == SL_OK && !a.err[0], "end: all taken");

	struct {
		sl_word w;
		const char *err;
	} bad[] = {
		{W("f", "nan"), "f=nan is not a number; usage: fake [k=...]"},
		{W("f", "inf"), "f=inf is not a number; usage: fake [k=...]"},
		{W("f", "1e999"), "f=1e999 is not a finite number; usage: fake [k=...]"},
		{W("f", "0x10"), "f=0x10 is not a number; usage: fake [k=...]"},
		{W("f", "11"), "f=11 is out of range (0..10); usage: fake [k=...]"},
		{W("f", "1.5x"), "f=1.5x is not a number; usage: fake [k=...]"},
		{W("e", "psot"), "e=psot is not one of pre, post; did you mean 'post'?; usage: fake [k=...]"},
		{W("e", "mid"), "e=mid is not one of pre, post; usage: fake [k=...]"},
		{W("b", "maybe"), "b=maybe is not on or off (on/off, true/false, yes/no, 1/0); usage: fake [k=...]"},
		{W("i", "-5"), "i=-5 is out of range (0..100); usage: fake [k=...]"},
		{W("i", "99999999999999999999"), "i=99999999999999999999 is out of range (0..100); usage: fake [k=...]"},
		{W("i", "4 2"), "i='4 2' is not an integer; usage: fake [k=...]"},
		{W("i", ""), "i= needs a value; usage: fake [k=...]"},
	};
	for (size_t k = 0; k < SL_COUNT(bad); k++) {
		sl_args b1 = args_of(s, &bad[k].w, 1);
		bad[k].w.used = 0;
		switch (bad[k].w.key[0]) {
		case 'f': sl_args_float(&b1, "f", 0, 10, &f); break;
		case 'e': sl_args_enum(&b1, "e", norms, &e); break;
		case 'b': sl_args_bool(&b1, "b", &b); break;
		default: sl_args_int(&b1, "i", 0, 100, &i); break;
		}
		if (!TAP_OK(strcmp(b1.err, bad[k].err) == 0, "error: %s", bad[k].w.text))
			tap_diag("got: %s", b1.err);
	}
	TAP_OK(i == 42 && f == 2.5 && e == 1 && b == 0, "bad values leave the outputs alone");

	sl_word two[] = {W("i", "1"), W("i", "2")};
	sl_args t = args_of(s, two, 2);
	TAP_OK(sl_args_int(&t, "i", 0, 9, &i) == 0 && strstr(t.err, "i= is given twice"), "a repeated option");

	sl_word opts[] = {W("a", "1"), {.text = "x"}, W("b", "2")};
	sl_args o = args_of(s, opts, 3);
	const char *k, *v;
	int ok1 = sl_args_next_option(&o, &k, &v) && !strcmp(k, "a") && !strcmp(v, "1");
	int ok2 = sl_args_next_option(&o, &k, &v) && !strcmp(k, "b") && !strcmp(v, "2");
	TAP_OK(ok1 && ok2 && !sl_args_next_option(&o, &k, &v), "next_option walks the options in order");
	sl_session_free(s);
}

static void test_suggest(void)
{
	static const char *const keys[] = {"threads", "seed", "hidden", "heads", NULL};
	TAP_OK(sl_args_distance("thread", "threads") == 1, "distance: a deletion");
	TAP_OK(sl_args_distance("hlep", "help") == 1, "distance: a transposition");
	TAP_OK(sl_args_distance("", "abc") == 3 && sl_args_distance("abc", "abc") == 0, "distance: edges");
	TAP_OK(!strcmp(sl_args_suggest("thread", keys), "threads"), "suggest: threads");
	TAP_OK(!strcmp(sl_args_suggest("hiden", keys), "hidden"), "suggest: hidden");
	TAP_OK(sl_args_suggest("xyz", keys) == NULL, "suggest: nothing near");
	TAP_OK(!strcmp(sl_command_suggest("sow"), "show") && !sl_command_suggest("frobnicate"),
	       "suggest: commands");
}

static char comps[1024];

static void add_comp(void *ctx, const char *c)
{
	strcat(comps, c);
	strcat(comps, " ");
}

static void completes(sl_session *s, const char *text, const char *want)
{
	comps[0] = 0;
	sl_command_complete(s, text, add_comp, NULL);
	TAP_OK(strcmp(comps, want) == 0, "complete [%s] -> [%s] (got [%s])", text, want, comps);
}

static void test_complete(void)
{
	sl_session *s = fresh();
	completes(s, "s", "set show source stop sample ssm save sweep ");
	completes(s, "se", "set ");
	completes(s, "set ", "seed= threads= ");
	completes(s, "set seed=1 th", "threads= ");
	completes(s, "echo x; sh", "show ");
	completes(s, "show s", "settings ");
	completes(s, "help q", "quit quit! ");
	completes(s, "nosuch ", "");
	completes(s, "echo 'a ", "");
	/* model: the kinds from the registry, then the kind's own options */
	completes(s, "model m = ", "transformer rnn gpt mamba hybrid s4d lru hawk griffin elman gru lstm esn ");
	completes(s, "model m = h", "hybrid hawk ");
	completes(s, "model m = mamba di", "disc= ");
	completes(s, "model m = mamba hidden=8 s", "state= scan= seed= ");
	completes(s, "model m = gpt p", "pe= ");
	completes(s, "model m = hybrid pat", "pattern= ");
	completes(s, "model m = nosuch h", "");
	/* task: the kinds, then the kind's options */
	completes(s, "task ", "piglatin recall mqar copy charlm pixels series ");
	completes(s, "task re", "recall ");
	completes(s, "task recall t", "tau= test= ");
	completes(s, "task copy L=8 ", "L= N= A= batches= test= maxlen= seed= ");
	completes(s, "task nosuch K", "");
	sl_session_free(s);
}

static void test_table(void)
{
	int good = 1;
	for (int i = 0; i < sl_command_count(); i++) {
		const sl_cmd *c = sl_command_at(i);
		good &= c->name && c->usage && c->summary && c->help && c->run;
		good &= strncmp(c->usage, c->name, strlen(c->name)) == 0;
		good &= sl_command_find(c->name) == c;
	}
	TAP_OK(good, "table: every row is complete, its usage starts with its name, names are unique");
}

int main(void)
{
	test_exec();
	test_feed();
	test_format();
	test_getters();
	test_suggest();
	test_complete();
	test_table();
	return tap_done();
}
