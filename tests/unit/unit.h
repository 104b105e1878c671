/* A minimal test runner: CHECK records a failure and goes on. */
#ifndef UNIT_H
#define UNIT_H

#include <stdio.h>
#include <string.h>

extern int unit_passed, unit_failed;

#define CHECK(cond)                                                         \
	do                                                                      \
	{                                                                       \
		if (cond)                                                           \
			unit_passed++;                                                  \
		else                                                                \
		{                                                                   \
			unit_failed++;                                                  \
			fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); \
		}                                                                   \
	} while (0)

#define CHECK_STR(a, b)                                                 \
	do                                                                  \
	{                                                                   \
		const char *a_ = (a), *b_ = (b);                                \
		if (a_ && b_ && strcmp(a_, b_) == 0)                            \
			unit_passed++;                                              \
		else                                                            \
		{                                                               \
			unit_failed++;                                              \
			fprintf(stderr, "FAIL %s:%d: \"%s\" != \"%s\"\n", __FILE__, \
					__LINE__, a_ ? a_ : "(null)", b_ ? b_ : "(null)");  \
		}                                                               \
	} while (0)

void test_routes(void);
void test_httpcheck(void);
void test_client(void);
void test_config(void);
void test_pool(void);

#endif
