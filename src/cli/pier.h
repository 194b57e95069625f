/* pier.h - what the `pier` verbs share: global options, the store, errors
 * printed docker's way. */
#ifndef PIER_CLI_PIER_H
#define PIER_CLI_PIER_H

#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include <stdbool.h>
#include <stddef.h>

#include "cli/opt.h"
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
/* An engine over a store opened for it (NULL after printing the error),
 * and its closing with the store; NULL is allowed. */
struct pier_engine;
struct pier_engine *pier_cli_engine (struct pier_globals *g);
void pier_cli_engine_close (struct pier_engine *e);

/* --format: Go's text/template (util/template.h) as docker applies it:
 * "\t" and "\n" typed in the flag are a tab and a newline.  pier_format
 * runs tmpl over obj (borrowed): a new string, or NULL with *err ("template
 * parsing error: ..." or Go's execution error). */
char *pier_format (const char *tmpl, json_t *obj, pier_error **err);
/* Print obj through tmpl and a newline, taking the reference; 0, or 125
 * after printing the template's error. */
int pier_format_print (const char *tmpl, json_t *obj);
/* 0 when tmpl (may be NULL) parses; else 125 after printing the error, so
 * that inspect refuses a bad template before looking anything up. */
int pier_format_check (const char *tmpl);

/* inspect's output, object by object: with a template obj is printed at
 * once, else kept in arr (both take the reference); nonzero (125) when the
 * template failed, and the caller stops.  pier_inspect_done prints arr as
 * docker's indented JSON array when there is no template. */
int pier_inspect_add (const char *tmpl, json_t *arr, json_t *obj);
void pier_inspect_done (const char *tmpl, json_t *arr);

/* Listings (ps, images, ...) as docker's formatter: NULL, "" and "table"
 * are the command's own table (pier_format_is_default); "json" is one
 * {{json .}} per row; "table TMPL" prints a header row (TMPL over the
 * docker header names of cols, ending at {NULL}) and the rows aligned by
 * pier_tabwrite; anything else is TMPL per row.  Rows are kept until
 * pier_lister_print, so a failing row leaves nothing printed. */
struct pier_format_column
{
  const char *field, *header;
};
typedef struct pier_lister pier_lister;
bool pier_format_is_default (const char *format);
/* NULL with *err ("template parsing error: ...") for a bad template. */
pier_lister *pier_lister_new (const char *format, const struct pier_format_column *cols, pier_error **err);
/* Run the template over row (the reference is taken); -1 with *err. */
int pier_lister_add (pier_lister *l, json_t *row, pier_error **err);
void pier_lister_print (pier_lister *l);
void pier_lister_free (pier_lister *l);
/* Go's text/tabwriter as docker's tables use it (minwidth 10, padding 3):
 * text's lines, cells split at tabs. */
void pier_tabwrite (FILE *f, const char *text);
/* docker's units.HumanDuration + " ago", and HumanSizeWithPrecision (3). */
char *pier_human_since (int64_t unix_seconds);
char *pier_human_duration (double seconds);
char *pier_human_size (double bytes);
/* Go's time.Time String() in local time: "2006-01-02 15:04:05 -0700 MST". */
char *pier_format_time (int64_t unix_seconds);

/* Flag parsing for a verb: usage errors and --help are printed here; on
 * -1, *rc is the exit code.  min/max bound the positional arguments
 * (max -1: no bound). */
extern bool pier_cli_want_help;
#define HELP_OPT                                                                                             \
  {                                                                                                          \
    "help", OPT_BOOL, &pier_cli_want_help, "print usage", NULL                                               \
  }
int pier_cli_parse (const char *verb, const char *usage, const pier_opt *opts, int argc, char **argv, int *i,
                    int min, int max, int *rc);

/* docker's stringutils.Ellipsis: at most n characters, the last "…". */
char *pier_ellipsis (const char *s, size_t n);

int pier_cmd_create (struct pier_globals *g, int argc, char **argv);
int pier_cmd_run (struct pier_globals *g, int argc, char **argv);
int pier_cmd_start (struct pier_globals *g, int argc, char **argv);
int pier_cmd_attach (struct pier_globals *g, int argc, char **argv);
int pier_cmd_ps (struct pier_globals *g, int argc, char **argv);
int pier_cmd_stop (struct pier_globals *g, int argc, char **argv);
int pier_cmd_restart (struct pier_globals *g, int argc, char **argv);
int pier_cmd_kill (struct pier_globals *g, int argc, char **argv);
int pier_cmd_rm (struct pier_globals *g, int argc, char **argv);
int pier_cmd_wait (struct pier_globals *g, int argc, char **argv);
int pier_cmd_logs (struct pier_globals *g, int argc, char **argv);
int pier_cmd_inspect (struct pier_globals *g, int argc, char **argv);
int pier_cmd_container_inspect (struct pier_globals *g, int argc, char **argv);
int pier_cmd_pause (struct pier_globals *g, int argc, char **argv);
int pier_cmd_unpause (struct pier_globals *g, int argc, char **argv);
int pier_cmd_rename (struct pier_globals *g, int argc, char **argv);
int pier_cmd_top (struct pier_globals *g, int argc, char **argv);
int pier_cmd_exec (struct pier_globals *g, int argc, char **argv);
int pier_cmd_port (struct pier_globals *g, int argc, char **argv);
int pier_cmd_network (struct pier_globals *g, int argc, char **argv);
int pier_cmd_container (struct pier_globals *g, int argc, char **argv);
int pier_cmd_container_prune (struct pier_globals *g, int argc, char **argv);

/* --restart "no|always|unless-stopped|on-failure[:N]" as docker's
 * RestartPolicy object (the engine checks the name); NULL for a bad
 * format. */
json_t *pier_cli_restart_policy (const char *s);

/* -e values: "K=V" as is, a bare "K" from our environment (dropped when
 * unset); --env-file lines the same, # comments skipped. */
void pier_cli_env_push (json_t *env, const char *kv);
int pier_cli_env_file (const char *verb, const char *path, json_t *env);

/* run/create's -v, --mount and --volumes-from into docker's HostConfig
 * Binds, Mounts and VolumesFrom and Config.Volumes; 0, or the exit code
 * after printing the usage error. */
int pier_cli_mount_flags (const char *verb, char **volumes, char **mounts, char **volumes_from, json_t *body,
                          json_t *hc);
int pier_cmd_volume (struct pier_globals *g, int argc, char **argv);
/* The anonymous volumes no container uses, removed with docker's report
 * (system prune --volumes); *reclaimed grows by their size. */
int pier_cli_prune_volumes (struct pier_globals *g, char **filters, int64_t *reclaimed);

/* docker's tabwriter (minwidth 20, padding 3, blanks): rows of cells,
 * printed (and freed) at once. */
struct pier_table
{
  char ***rows;
  size_t n;
};
void pier_table_row (struct pier_table *t, const char *const *cells);
void pier_table_print (struct pier_table *t);

/* docker's Labels column: "k=v,k2=v2" (labels may be NULL). */
char *pier_cli_labels_text (json_t *labels);

/* Bytes of the files under path (a container's writable layer). */
int64_t pier_cli_dir_size (const char *path);

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
int pier_cmd_build (struct pier_globals *g, int argc, char **argv);
int pier_cmd_diff (struct pier_globals *g, int argc, char **argv);
int pier_cmd_cp (struct pier_globals *g, int argc, char **argv);
int pier_cmd_update (struct pier_globals *g, int argc, char **argv);
int pier_cmd_stats (struct pier_globals *g, int argc, char **argv);
int pier_cmd_commit (struct pier_globals *g, int argc, char **argv);
int pier_cmd_export (struct pier_globals *g, int argc, char **argv);
int pier_cmd_builder (struct pier_globals *g, int argc, char **argv);
int pier_cmd_builder_prune (struct pier_globals *g, int argc, char **argv);
int pier_cmd_pull (struct pier_globals *g, int argc, char **argv);
int pier_cmd_push (struct pier_globals *g, int argc, char **argv);
int pier_cmd_login (struct pier_globals *g, int argc, char **argv);
int pier_cmd_logout (struct pier_globals *g, int argc, char **argv);
/* run/create --pull missing|always|never (NULL: missing): pull image when
 * the policy says so, progress on stderr.  0, or the exit code to return. */
int pier_cli_pull_for_run (pier_store *st, const char *image, const char *policy, const char *platform);
/* pier_build_fetch_fn over the store data: pull ref (progress on stderr)
 * and give its id. */
int pier_cli_build_fetch (void *data, const char *ref, char **id, pier_error **err);

#endif
