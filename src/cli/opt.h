/* opt.h - a small flag parser with the conventions of runc's and
 * docker's command lines: "-f", "--flag", "-flag", "--flag=value",
 * "--flag value"; boolean flags take an optional "=true|false"; parsing
 * stops at the first positional argument or at "--". */
#ifndef PIER_CLI_OPT_H
#define PIER_CLI_OPT_H

#include <stdbool.h>

enum pier_opt_kind
{
  OPT_BOOL,
  OPT_STRING,
  OPT_INT,
  OPT_LIST, /* repeatable string */
};

typedef struct pier_opt
{
  const char *names; /* "d|detach" */
  enum pier_opt_kind kind;
  void *out; /* bool*, const char**, long*, char*** */
  const char *help;
  const char *arg; /* value name for help */
} pier_opt;

/* Parse argv[*i..argc); on return *i is the first positional argument.
 * Returns 0, or -1 with a message in *msg (static or heap; caller prints). */
int pier_opt_parse (const pier_opt *opts, int argc, char **argv, int *i, char **msg);
void pier_opt_usage (const char *usage, const pier_opt *opts);

#endif
