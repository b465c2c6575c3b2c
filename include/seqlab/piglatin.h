/* piglatin.h - the English -> Pig-Latin task (DESIGN.md section 3): the rule,
 * pair files, word lists, the seeded split, and length-grouped batches. */
#ifndef SEQLAB_PIGLATIN_H
#define SEQLAB_PIGLATIN_H

#include "seqlab/rng.h"
#include "seqlab/task.h"

#include <stddef.h>
#include <stdint.h>

/* Vocabulary: '-' = 0, 'a'..'z' = 1..26, SOS = 27, EOS = 28; with
 * apostrophes (a data set's `apostrophes` flag) '\'' = 29 as a 30th token. */
#define SL_PL_DASH 0
#define SL_PL_SOS 27
#define SL_PL_EOS 28
#define SL_PL_VOCAB 29
#define SL_PL_APOS 29
#define SL_PL_VOCAB_APOS 30
/* Longest word accepted (characters). */
#define SL_PL_MAXLEN 64

/* Presets: the homework's small and large data sets. */
#define SL_PL_SMALL 3198
#define SL_PL_LARGE 22402

/* Token of character c ('\'' is SL_PL_APOS), or -1 if c is in neither
 * vocabulary. */
int sl_pl_token(int c);
/* Character of token t ('-', 'a'..'z', '\''), '^' for SOS, '$' for EOS, '?'
 * otherwise. */
int sl_pl_char(int t);

/* Translates one word by the rule: pieces split on '-' and '\'' (kept), a piece
 * starting with a vowel gets "way", otherwise everything before the first
 * vowel (a e i o u y; a 'u' right after a moved 'q' moves too) goes to the end
 * followed by "ay". Writes into out (size n). Returns SL_ERR (error set) for
 * characters other than a-z, '-' and '\'', an empty word or overflow. */
int sl_piglatin_rule(const char *word, char *out, size_t n);

typedef struct sl_pl_data {
	int n;              /* pairs */
	char **src, **tgt;  /* n strings each */
	int *split;         /* 0 train, 1 val, per pair */
	int ntrain, nval;
	/* what loading found */
	int bad_lines;      /* lines not of the form "a-z word" "a-z word" */
	int duplicates;     /* identical pairs dropped */
	int conflicts;      /* sources seen with a second, different target (kept once) */
	char conflict_example[128];
	int rule_mismatches; /* pairs whose target differs from the rule's */
	/* those pairs and conflicts, in file order, as result lines:
	 * "rule_mismatch word=W file=T rule=R", "conflict word=W kept=T other=U" */
	int nissues;
	char **issues;
	int list;           /* list=on asked for them: the task command prints them */
	int apostrophes;    /* words with '\'' kept, and '\'' a token (SL_PL_VOCAB_APOS) */
	uint64_t seed;
} sl_pl_data;

/* The number of tokens of d's vocabulary: 29, or 30 with apostrophes. */
int sl_pl_vocab(const sl_pl_data *d);

void sl_pl_data_free(sl_pl_data *d);

/* Loads a pair file in the homework format ("english piglatin" a line), with
 * the homework's filter: both sides made of a-z and '-' (and '\'' when
 * apostrophes is set), duplicates dropped, a source with two targets kept once
 * (first) and counted. Splits 80/20 by a hash of (seed, word). Returns NULL
 * with the error set (missing file, no usable pair). */
sl_pl_data *sl_pl_load_pairs(const char *path, uint64_t seed, int apostrophes);

/* Builds pairs with the rule from a word list (one word a line: words made of
 * lowercase a-z are taken) or, when corpus is set, from any text (lowercased
 * runs of letters, hyphenated compounds kept). With apostrophes, a '\'' inside
 * a word is kept too (won't, o'clock). Takes a deterministic sample of
 * n words (0: all), choosing by hash of (seed, word), so the sample does not
 * depend on the file's order; about 1 in 100 sampled entries is a hyphenated
 * compound of two sampled words when the source has none. Returns NULL with
 * the error set. */
sl_pl_data *sl_pl_from_words(const char *path, int corpus, int n, uint64_t seed, int apostrophes);

/* Builds pairs from an in-memory list of words (tests, `words=` lists). */
sl_pl_data *sl_pl_from_list(const char *const *words, int n, uint64_t seed, int apostrophes);

/* One batch: B pairs whose sources all have length S and targets length T.
 *   src  (B, S)      source tokens
 *   dec  (B, T + 1)  SOS, target tokens         (teacher-forced decoder input)
 *   out  (B, T + 1)  target tokens, EOS         (what the decoder must produce) */
typedef struct sl_pl_batch {
	int B, S, T;
	const int *idx;     /* pair indices, B */
	int32_t *src, *dec, *out;
} sl_pl_batch;

/* An epoch plan: the training (or validation) pairs grouped by (S, T), cut
 * into batches of at most bsz, batch order (and order within groups) shuffled
 * from (seed, epoch) unless shuffle is 0. Every pair appears exactly once. */
typedef struct sl_pl_plan {
	int nbatches;
	int *start, *count; /* into order[] */
	int *order;         /* pair indices, grouped */
	int total;
} sl_pl_plan;

/* Returns the plan for `which` (0 train, 1 val). Free with sl_pl_plan_free. */
sl_pl_plan *sl_pl_plan_new(const sl_pl_data *d, int which, int bsz, uint64_t seed, long epoch, int shuffle);
void sl_pl_plan_free(sl_pl_plan *p);
/* Fills batch b of the plan; arrays are malloc'd into *out (free with
 * sl_pl_batch_free). */
void sl_pl_batch_fill(const sl_pl_data *d, const sl_pl_plan *p, int b, sl_pl_batch *out);
void sl_pl_batch_free(sl_pl_batch *b);

/* Encodes word into tokens of d's vocabulary (d NULL: without apostrophes);
 * returns its length, or -1 if a character is outside the vocabulary or the
 * word is longer than max. */
int sl_pl_encode(const sl_pl_data *d, const char *word, int32_t *tok, int max);

/* The Pig-Latin task over d (ownership passes to the task). Models with a
 * seq2seq function are trained on (source, target); language models as a
 * prefix LM over `source EOS SOS target`, scored on target and EOS. */
sl_task *sl_pl_task_new(sl_pl_data *d, const char *desc);
/* The task's data (NULL if t is not a Pig-Latin task). */
const sl_pl_data *sl_pl_task_data(const sl_task *t);
/* Translates one word (lowercase a-z, '-', and '\'' with apostrophes) with m: greedy (beam <= 1) or
 * beam search when the model has it. SL_ERR for a word outside the
 * vocabulary. */
int sl_pl_translate(sl_task *t, sl_model *m, sl_tape *tp, const char *word, int beam, char *out, size_t n);
/* The longest output allowed for a source of S characters: at most three
 * more per piece, plus EOS. */
int sl_pl_max_target(const char *src, int S);

#endif
