/* expand.h - the builder's variable substitution on Dockerfile words.
 *
 * docker's builder (not a shell) expands the arguments of some
 * instructions with a small shell-like lexer; RUN, CMD and ENTRYPOINT are
 * left to the container's shell.  The rules, as buildkit applies them:
 *
 *   $name ${name}      the value, or "" when unset.  A name is letters,
 *                      digits and '_' not starting with a digit; a run of
 *                      digits ($1) or one of @*#?-$!0 is also a name.  A
 *                      '$' not followed by a name is kept as is.
 *   ${name:-word}      word when name is unset or empty, else the value
 *   ${name-word}       word when name is unset
 *   ${name:+word}      word when name is set and not empty, else ""
 *   ${name+word}       word when name is set, else ""
 *   ${name:?msg}       an error when name is unset or empty
 *   ${name?msg}        an error when name is unset
 *   ${name/pat/word} ${name//pat/word}
 *                      the first (every) leftmost longest match of the
 *                      glob pat replaced by word
 *   ${name#pat} ${name##pat} ${name%pat} ${name%%pat}
 *                      the value without its shortest/longest prefix or
 *                      suffix matching the glob pat
 *   'text'             literal, no expansion, no escapes
 *   "text"             expansion; the escape character escapes only
 *                      " $ and itself, and is otherwise kept
 *   <esc>c             c taken literally (escape is '\' or the one the
 *                      Dockerfile's escape directive chose); a trailing
 *                      escape is dropped
 *
 * The word inside ${...} is itself expanded and unquoted.
 *
 * Thread-safe; no global state.  Nothing here does I/O.
 */
#ifndef PIER_BUILD_EXPAND_H
#define PIER_BUILD_EXPAND_H

#include <stdbool.h>

#include "build/dockerfile.h"
#include "util/error.h"

/* Value of name, or NULL when it is unset.  The string must stay valid
 * until the expansion call returns. */
typedef const char *(*pier_build_lookup_fn) (const char *name, void *data);

/* Where variables come from.  lookup (when not NULL) is asked first; then
 * env, a NULL-terminated "K=V" array where the last entry for a name wins.
 * A NULL pier_build_vars pointer means no variables at all. */
typedef struct pier_build_vars
{
  pier_build_lookup_fn lookup;
  void *data;
  char *const *env;
  char escape; /* '\\' or '`'; 0 means '\\' */
} pier_build_vars;

/* Expand word into one string (docker's ProcessWord: no splitting, quotes
 * removed).  On failure *out is untouched and *err says why, naming word. */
int pier_build_expand (const char *word, const pier_build_vars *vars, char **out, pier_error **err);

/* Expand and split into words (docker's ProcessWords): unquoted
 * whitespace, including whitespace that came out of an unquoted variable,
 * separates words; quoted or escaped whitespace does not; empty words are
 * dropped.  *out is a NULL-terminated vector (maybe of no words). */
int pier_build_expand_words (const char *word, const pier_build_vars *vars, char ***out, pier_error **err);

/* Whether the builder expands variables in this instruction's arguments:
 * ADD ARG COPY ENV EXPOSE FROM LABEL STOPSIGNAL USER VOLUME WORKDIR.
 * Not RUN/CMD/ENTRYPOINT/SHELL/HEALTHCHECK (the shell does that at run
 * time) nor ONBUILD (its trigger is expanded when it fires) nor
 * MAINTAINER. */
bool pier_build_instr_expands (pier_df_kind kind);

#endif
