/* pier.h - what the `pier` verbs share: global options, the store, errors
 * printed docker's way. */
#ifndef PIER_CLI_PIER_H
#define PIER_CLI_PIER_H

#include <stdint.h>

#include <jansson.h>

#include "store/store.h"
#include "util/error.h"

struct pier_globals
{
  const char *root;    /* persistent state, --root */
  const char *runroot; /* runtime state, --runroot */
};

/* docker's exit codes */
#define PIER_EXIT_ERROR 1   /* the operation failed */
#define PIER_EXIT_USAGE 125 /* bad flags, or pier itself failed */

/* Print "Error: <msg>" and return code. */
int pier_cli_fail (pier_error *err, int code);
/* Print a usage error for verb ("pier <verb>: msg / See 'pier <verb> --help'."), return 125. */
int pier_cli_usage (const char *verb, const char *msg);
/* Open the store under --root; prints the error. */
pier_store *pier_cli_store (struct pier_globals *g);

/* A Go-template subset for --format: literal text with {{.Field.Sub}} and
 * {{json .Field}} (and {{.}}), looked up in obj.  Returns a new string, or
 * NULL with *err for anything else. */
char *pier_format (const char *tmpl, json_t *obj, pier_error **err);
/* Print obj through tmpl and a newline, taking the reference; 0, or 125
 * after printing the template's error. */
int pier_format_print (const char *tmpl, json_t *obj);
/* docker's units.HumanDuration + " ago", and HumanSizeWithPrecision (3). */
char *pier_human_since (int64_t unix_seconds);
char *pier_human_size (double bytes);

int pier_cmd_images (struct pier_globals *g, int argc, char **argv);
int pier_cmd_image (struct pier_globals *g, int argc, char **argv);
int pier_cmd_import (struct pier_globals *g, int argc, char **argv);
int pier_cmd_tag (struct pier_globals *g, int argc, char **argv);
int pier_cmd_rmi (struct pier_globals *g, int argc, char **argv);
int pier_cmd_image_inspect (struct pier_globals *g, int argc, char **argv);
int pier_cmd_history (struct pier_globals *g, int argc, char **argv);
int pier_cmd_image_prune (struct pier_globals *g, int argc, char **argv);
int pier_cmd_system (struct pier_globals *g, int argc, char **argv);
int pier_cmd_save (struct pier_globals *g, int argc, char **argv);
int pier_cmd_load (struct pier_globals *g, int argc, char **argv);

#endif
