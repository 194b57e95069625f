/* dockerfile.h - the Dockerfile front end: text in, stages out.
 *
 * pier_dockerfile_parse() reads a Dockerfile the way docker's buildkit
 * front end does and returns its build stages, each a list of
 * instructions with flags and arguments split but NOT expanded: variable
 * substitution depends on build args and on the stage's ENV, so the
 * builder applies it later with pier_build_expand() (build/expand.h).
 *
 * What is read:
 *   - parser directives at the very top (# syntax=, # escape=, # check=),
 *     each at most once; the first line that is not one ends them (a
 *     blank line, an instruction, any other comment, "# other=value" too);
 *   - comments (a line whose first non-blank is '#', also between the
 *     continued lines of one instruction), blank lines, a UTF-8 BOM;
 *   - line continuation: the escape character, then only blanks, at the
 *     end of a line;
 *   - keywords in any case; flags "--name[=value]" before the arguments
 *     (quotes and backslashes in flag words are removed), checked against
 *     each instruction's own list;
 *   - exec form (a JSON array of strings) or shell form for RUN, CMD,
 *     ENTRYPOINT, SHELL (exec only) and HEALTHCHECK CMD; for ADD, COPY and
 *     VOLUME a JSON array or blank-separated words.  Text that is not valid
 *     JSON is shell form; a valid JSON array holding a non-string is an
 *     error (as in docker);
 *   - heredocs for RUN, COPY and ADD in shell form: "<<EOF", "<<-EOF" (tabs
 *     stripped from the start of each body line and of the terminator),
 *     "<<'EOF'" / "<<\"EOF\"" (quoted: the body is not to be expanded),
 *     "3<<EOF" (an fd), several per line, bodies in order after the line.
 *
 * Errors are "<file>:<line>:<column>: <what>" with code EINVAL, where line
 * and column (1-based, in bytes) point at the offending text in the
 * original file, through continuation lines.
 *
 * Thread-safe; no global state; no I/O (the caller hands in the bytes).
 */
#ifndef PIER_BUILD_DOCKERFILE_H
#define PIER_BUILD_DOCKERFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

typedef enum pier_df_kind
{
  PIER_DF_ADD,
  PIER_DF_ARG,
  PIER_DF_CMD,
  PIER_DF_COPY,
  PIER_DF_ENTRYPOINT,
  PIER_DF_ENV,
  PIER_DF_EXPOSE,
  PIER_DF_FROM,
  PIER_DF_HEALTHCHECK,
  PIER_DF_LABEL,
  PIER_DF_MAINTAINER,
  PIER_DF_ONBUILD,
  PIER_DF_RUN,
  PIER_DF_SHELL,
  PIER_DF_STOPSIGNAL,
  PIER_DF_USER,
  PIER_DF_VOLUME,
  PIER_DF_WORKDIR,
} pier_df_kind;

/* "--name=value" as written (quotes removed).  value is NULL for a bare
 * boolean flag ("--link").  Repeatable flags (--mount, --exclude) appear
 * once per use, in order. */
typedef struct pier_df_flag
{
  char *name; /* without the dashes */
  char *value;
  int line, column;
} pier_df_flag;

/* ENV, LABEL and ARG entries, raw: quotes and escapes are still in key and
 * value (expansion removes them).  value is NULL only for "ARG name". */
typedef struct pier_df_pair
{
  char *key;
  char *value;
} pier_df_pair;

typedef struct pier_df_heredoc
{
  char *name;    /* the terminator word, unquoted: "EOF" */
  char *content; /* body lines, each ending in "\n" (tabs already stripped for <<-) */
  bool expand;   /* false when the word was quoted: leave $ in the body alone */
  bool chomp;    /* written as <<- */
  int fd;        /* "3<<EOF" gives 3; -1 when no number was written */
} pier_df_heredoc;

/* HEALTHCHECK; durations in nanoseconds, 0 when not given. */
typedef struct pier_df_health
{
  bool none; /* HEALTHCHECK NONE */
  int64_t interval, timeout, start_period, start_interval;
  int retries; /* 0 when not given */
} pier_df_health;

typedef struct pier_df_instr
{
  pier_df_kind kind;
  int line, column; /* where the keyword is */
  int end_line;     /* last line, continuations and heredoc bodies included */
  /* The instruction as one line: continuations joined (escape and newline
   * removed), leading and trailing blanks trimmed, heredoc bodies not
   * included.  docker's "Original", for display and cache keys. */
  char *original;

  pier_df_flag *flags;
  size_t n_flags;

  /* Arguments, unexpanded; args[n_args] is NULL.
   *   RUN CMD ENTRYPOINT SHELL HEALTHCHECK-CMD: exec form: the JSON
   *     elements; shell form: one element, the command text.
   *   ADD COPY: sources then destination (n_args >= 2); a source written
   *     "<<EOF" names one of heredocs[].
   *   VOLUME EXPOSE: the paths / ports.   FROM: the words (image [AS name]).
   *   USER WORKDIR STOPSIGNAL MAINTAINER: one element, the whole text.
   *   ONBUILD: one element, the trigger's text (also in trigger).
   *   ENV LABEL ARG: none; see pairs. */
  char **args;
  size_t n_args;
  bool exec_form; /* args came from a JSON array */

  pier_df_pair *pairs; /* ENV LABEL ARG */
  size_t n_pairs;

  pier_df_heredoc *heredocs;
  size_t n_heredocs;

  pier_df_health health;         /* HEALTHCHECK */
  struct pier_df_instr *trigger; /* ONBUILD: the wrapped instruction */
} pier_df_instr;

typedef struct pier_df_stage
{
  char *name;     /* "FROM x AS name", lowercased; NULL without AS */
  char *base;     /* the image as written (may hold $vars) */
  char *platform; /* FROM --platform, or NULL */
  /* instrs[0] is the stage's FROM. */
  pier_df_instr *instrs;
  size_t n_instrs;
} pier_df_stage;

typedef struct pier_dockerfile
{
  char *syntax; /* "# syntax=" value, or NULL */
  char *check;  /* "# check=" value, or NULL (pier does not act on it) */
  char escape;  /* '\\' or '`' */
  /* ARG instructions before the first FROM (docker's meta args: usable in
   * FROM lines, and in a stage after a bare "ARG name"). */
  pier_df_instr *global_args;
  size_t n_global_args;
  pier_df_stage *stages; /* at least one */
  size_t n_stages;
} pier_dockerfile;

/* Parse len bytes of buf (need not be NUL-terminated; a NUL byte is an
 * error).  filename is only used in messages ("Dockerfile").  On success
 * *out owns everything; on failure *out is untouched. */
int pier_dockerfile_parse (const char *buf, size_t len, const char *filename, pier_dockerfile **out,
                           pier_error **err);

void pier_dockerfile_free (pier_dockerfile *df);

static inline void
cleanup_dockerfilep (pier_dockerfile **df)
{
  pier_dockerfile_free (*df);
  *df = NULL;
}
#define cleanup_dockerfile __attribute__ ((cleanup (cleanup_dockerfilep)))

/* "RUN", "HEALTHCHECK", ... */
const char *pier_df_kind_name (pier_df_kind kind);

/* The last value given for --name: "" for a bare boolean flag, NULL when
 * the flag is absent. */
const char *pier_df_flag_get (const pier_df_instr *in, const char *name);

/* A boolean flag: false when absent, true for "--name" or "--name=true". */
bool pier_df_flag_bool (const pier_df_instr *in, const char *name);

/* The stage a "--from" or "FROM <stage>" word names: by AS name (any
 * case) or by index.  -1 when no stage of df matches. */
long pier_df_stage_find (const pier_dockerfile *df, const char *name);

#endif
