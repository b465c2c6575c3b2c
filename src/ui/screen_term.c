/* screen_term.c - terminfo lookups, apart from the rest of the screen:
 * <term.h> defines a macro for every capability name (lines, columns,
 * key_help, ...), which would clash with ordinary identifiers. */
#include "screen_int.h"

#include <string.h>
#include <term.h>

size_t scr_restore_sequence(char *buf, size_t n)
{
	const char *caps[] = { "sgr0", "cnorm", "rmcup" };
	size_t len = 0;
	for (size_t i = 0; i < SL_COUNT(caps); i++) {
		char *v = tigetstr(caps[i]);
		if (!v || v == (char *)-1)
			continue;
		size_t k = strlen(v);
		if (len + k + 2 < n) {
			memcpy(buf + len, v, k);
			len += k;
		}
	}
	if (len + 2 <= n) {
		buf[len++] = '\r';
		buf[len++] = '\n';
	}
	return len;
}

int scr_term_usable(void)
{
	char *cup = tigetstr("cup");
	return cup && cup != (char *)-1;
}
