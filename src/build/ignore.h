/* ignore.h - .dockerignore: which files of the build context the builder
 * leaves out, with docker's rules (moby/patternmatcher and its
 * ignorefile reader).
 *
 * Reading a .dockerignore:
 *   - one pattern per line; a line starting with '#' is a comment; blanks
 *     around a pattern are dropped; blank lines are skipped; a UTF-8 BOM
 *     is skipped;
 *   - "!pattern" is an exception: it takes matching paths back in;
 *   - each pattern is cleaned like a path (Go's filepath.Clean: "//" and
 *     "." components go, ".." is resolved, a trailing "/" goes), then one
 *     leading "/" is dropped, so "/a", "./a" and "a/" all mean "a".
 *
 * Matching a path (relative to the context root, '/'-separated):
 *   - '*' is any run of characters but '/'; '?' one character but '/';
 *     "[a-z]" / "[^a-z]" a class; '\' makes the next character literal;
 *   - a double star followed by a slash matches any number of leading
 *     directories, even none: "a/", the double star, "/b" takes a/b,
 *     a/x/b and a/x/y/b; a trailing double star matches everything below;
 *   - a pattern that matches a directory also matches all beneath it;
 *   - patterns apply in order and the last one that matches decides:
 *     "a" then "!a/keep" leaves a/keep in.
 *
 * Thread-safe for concurrent readers of one pier_ignore; no I/O.
 */
#ifndef PIER_BUILD_IGNORE_H
#define PIER_BUILD_IGNORE_H

#include <stdbool.h>
#include <stddef.h>

#include "util/error.h"

typedef struct pier_ignore pier_ignore;

/* Read the text of a .dockerignore (len bytes of buf; need not be
 * NUL-terminated).  filename names it in messages.  A malformed pattern
 * ("[a", a trailing '\', a lone "!") is an error naming file and line. */
int pier_ignore_parse (const char *buf, size_t len, const char *filename, pier_ignore **out,
                       pier_error **err);

/* Patterns already split into lines (as "--exclude" or the API's list
 * give them): the same cleaning and checks, messages name the pattern. */
int pier_ignore_new (const char *const *patterns, size_t n, pier_ignore **out, pier_error **err);

/* True when path (relative to the context root; "./" or "/" in front and
 * "//" inside are tolerated) is left out of the context. */
bool pier_ignore_excluded (const pier_ignore *ig, const char *path);

/* For a walker that met an excluded directory: true when some exception
 * pattern could take back a path beneath dir, so the walker must descend
 * into it instead of skipping it whole.  Conservative (may say true for a
 * directory that turns out to hold nothing re-included), never wrong the
 * other way. */
bool pier_ignore_may_reinclude (const pier_ignore *ig, const char *dir);

/* Whether any pattern is an exception ("!..."). */
bool pier_ignore_has_exceptions (const pier_ignore *ig);

/* The patterns after cleaning, in order ("!" kept in front of
 * exceptions); NULL past the end.  Valid while ig lives. */
const char *pier_ignore_pattern (const pier_ignore *ig, size_t i);
size_t pier_ignore_count (const pier_ignore *ig);

void pier_ignore_free (pier_ignore *ig);

static inline void
cleanup_ignorep (pier_ignore **ig)
{
  pier_ignore_free (*ig);
  *ig = NULL;
}
#define cleanup_ignore __attribute__ ((cleanup (cleanup_ignorep)))

/* Go's filepath.Clean for '/'-separated paths: "" becomes ".", "a//b/./c/.."
 * becomes "a/b", "/../a" becomes "/a".  Caller frees. */
char *pier_ignore_clean_path (const char *path);

#endif
