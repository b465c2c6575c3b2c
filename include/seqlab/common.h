/* common.h - status codes, errors, allocation and assertions shared by every layer. */
#ifndef SEQLAB_COMMON_H
#define SEQLAB_COMMON_H

#include <stddef.h>
#include <stdint.h>

#define SL_OK 0
#define SL_ERR (-1)

/* The last error of this thread, as one line without a trailing newline.
 * Library functions that fail return SL_ERR (or NULL) and set it; the caller
 * (ultimately a front-end) decides whether and how to show it. */
void sl_errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *sl_error(void);
void sl_error_clear(void);

/* Allocation that cannot fail: out of memory aborts with a message. */
void *sl_xmalloc(size_t n);
void *sl_xcalloc(size_t count, size_t size);
void *sl_xrealloc(void *p, size_t n);
char *sl_xstrdup(const char *s);

/* Opens path read-only if it is a regular file (a FIFO does not block the
 * open): the descriptor, or -1 with the error "cannot open 'P': REASON" or
 * "cannot read 'P': not a regular file (a device)" (a directory, a pipe...).
 * A device or a pipe would be read for ever. */
int sl_open_regular(const char *path);
/* Writes n bytes to a new file at path (which must not exist), fsync'ed;
 * SL_ERR with "PATH: reason" (the file removed) on failure. */
int sl_write_new_file(const char *path, const void *data, size_t n);
/* Splits line in place at each sep into at most max fields (the text after
 * the max-th field's separator is dropped); returns the count. */
int sl_split(char *line, char sep, char **f, int max);
/* Memory aligned to 64 bytes; release with free(). */
void *sl_xaligned(size_t n);

/* A broken invariant is a bug: report file:line on stderr and abort. */
_Noreturn void sl_assert_fail(const char *expr, const char *file, int line);
#define SL_ASSERT(c) ((c) ? (void)0 : sl_assert_fail(#c, __FILE__, __LINE__))

#define SL_MIN(a, b) ((a) < (b) ? (a) : (b))
#define SL_MAX(a, b) ((a) > (b) ? (a) : (b))
#define SL_COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Monotonic wall clock in seconds. */
double sl_now(void);

#endif
