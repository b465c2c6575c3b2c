/* common.c - errors, allocation, assertions, clock. */
#include "seqlab/common.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static _Thread_local char err_buf[512];

void sl_errorf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err_buf, sizeof err_buf, fmt, ap);
	va_end(ap);
	/* one line: fold any newline a caller let through */
	for (char *p = err_buf; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
}

const char *sl_error(void)
{
	return err_buf[0] ? err_buf : "unknown error";
}

void sl_error_clear(void)
{
	err_buf[0] = 0;
}

static _Noreturn void oom(size_t n)
{
	fprintf(stderr, "seqlab: out of memory (%zu bytes)\n", n);
	abort();
}

void *sl_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		oom(n);
	return p;
}

void *sl_xcalloc(size_t count, size_t size)
{
	void *p = calloc(count ? count : 1, size ? size : 1);
	if (!p)
		oom(count * size);
	return p;
}

void *sl_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		oom(n);
	return q;
}

char *sl_xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;
	return memcpy(sl_xmalloc(n), s, n);
}

int sl_split(char *line, char sep, char **f, int max)
{
	int nf = 0;
	for (char *p = line; nf < max;) {
		f[nf++] = p;
		char *c = strchr(p, sep);
		if (!c)
			break;
		*c = 0;
		p = c + 1;
	}
	return nf;
}

void *sl_xaligned(size_t n)
{
	void *p = NULL;
	n = (n + 63) & ~(size_t)63;
	if (posix_memalign(&p, 64, n ? n : 64))
		oom(n);
	return p;
}

_Noreturn void sl_assert_fail(const char *expr, const char *file, int line)
{
	fprintf(stderr, "seqlab: %s:%d: assertion failed: %s\n", file, line, expr);
	abort();
}

double sl_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int sl_open_regular(const char *path)
{
	struct stat sb;
	/* O_NONBLOCK: a FIFO must not block the open; it is refused below */
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &sb) != 0) {
		sl_errorf("cannot open '%s': %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (!S_ISREG(sb.st_mode)) {
		sl_errorf("cannot read '%s': not a regular file (%s)", path,
			  S_ISDIR(sb.st_mode) ? "a directory" : S_ISCHR(sb.st_mode) ? "a device" :
			  S_ISFIFO(sb.st_mode) ? "a pipe" : "a special file");
		close(fd);
		return -1;
	}
	return fd;
}

/* Writes n bytes to a new file at path (it must not exist), fsync'ed. */
int sl_write_new_file(const char *path, const void *data, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
	if (fd < 0) {
		sl_errorf("%s: %s", path, strerror(errno));
		return SL_ERR;
	}
	const char *p = data;
	size_t left = n;
	while (left > 0) {
		ssize_t k = write(fd, p, left);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			sl_errorf("%s: %s", path, k < 0 ? strerror(errno) : "short write");
			close(fd);
			unlink(path);
			return SL_ERR;
		}
		p += k;
		left -= (size_t)k;
	}
	if (fsync(fd) != 0 || close(fd) != 0) {
		sl_errorf("%s: %s", path, strerror(errno));
		unlink(path);
		return SL_ERR;
	}
	return SL_OK;
}

