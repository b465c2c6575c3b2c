/* tap.h - a tiny TAP producer for seqlab's C tests.
 *
 *   TAP_OK(cond, "name %d", i);   one test point
 *   return tap_done();            prints the plan; exit status 1 if any failed
 *
 * stdout is line-buffered so the plan is flushed even if a sanitizer ends the
 * process early. */
#ifndef SEQLAB_TAP_H
#define SEQLAB_TAP_H

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static int tap_n, tap_failed;

static void tap_init(void) __attribute__((constructor));
static void tap_init(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
}

static int tap_ok(int cond, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int tap_ok(int cond, const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	tap_n++;
	printf("%s %d - ", cond ? "ok" : "not ok", tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!cond) {
		tap_failed++;
		printf("#   failed at %s:%d\n", file, line);
	}
	return cond;
}

/* cond is evaluated before the message's arguments (so a message may show
 * sl_error() set by the call in cond) */
#define TAP_OK(cond, ...)                                            \
	__extension__({                                              \
		int tap_c_ = !!(cond);                               \
		tap_ok(tap_c_, __FILE__, __LINE__, __VA_ARGS__);     \
	})
/* |a - b| <= tol, with both values shown on failure */
#define TAP_NEAR(a, b, tol, ...)                                                          \
	do {                                                                              \
		double tap_a_ = (a), tap_b_ = (b);                                        \
		if (!TAP_OK(fabs(tap_a_ - tap_b_) <= (tol), __VA_ARGS__))                 \
			printf("#   got %.9g, expected %.9g (tol %g)\n", tap_a_, tap_b_, \
			       (double)(tol));                                            \
	} while (0)

static void tap_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2), unused));
static void tap_diag(const char *fmt, ...)
{
	va_list ap;
	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

__attribute__((unused)) static int tap_done(void)
{
	printf("1..%d\n", tap_n);
	if (tap_n == 0) {
		printf("# no test points ran\n");
		return 1;
	}
	return tap_failed ? 1 : 0;
}

#endif
