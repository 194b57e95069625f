/* template.h - Go's text/template, as docker's --format uses it, over
 * jansson values.
 *
 * The language: {{.A.B}}, {{.}}, {{$}}, variables ({{$x := .A}},
 * {{$x = ...}}), {{if}}/{{else if}}/{{else}}/{{end}}, {{range}} over
 * arrays, objects (sorted keys, as Go ranges maps) and integers, with
 * {{else}}, {{break}} and {{continue}}, {{with}}/{{else with}}, pipelines,
 * parentheses, comments, the trim markers {{- and -}}, string, raw string,
 * character, number, bool and nil literals.  Functions: Go's builtins
 * (and, or, not, len, index, slice, eq, ne, lt, le, gt, ge, print, printf,
 * println, html, urlquery) and docker's (json, join, split, title, lower,
 * upper, pad, truncate).  Values print the way Go's fmt %v prints the
 * decoded JSON: objects as map[k:v ...] (sorted keys), arrays as [a b], a
 * JSON null as <nil>, a missing key as <no value>.
 *
 * Errors read like Go's ("template: :1: unclosed action", "template: :1:2:
 * executing \"\" at <.A.B>: nil pointer evaluating interface {}.B"), with
 * code EINVAL.  A parsed template is immutable: executing it from several
 * threads at once is safe. */
#ifndef PIER_UTIL_TEMPLATE_H
#define PIER_UTIL_TEMPLATE_H

#include <jansson.h>

#include "util/error.h"

typedef struct pier_template pier_template;

/* Parse text; 0 and *out (free with pier_template_free), or -1 and *err. */
int pier_template_parse (const char *text, pier_template **out, pier_error **err);

/* Docker's header functions: json, join, split, title, lower, upper, pad
 * and truncate give their first argument back unchanged, so a table's
 * header row is the template run over {Field: "HEADER"}. */
#define PIER_TEMPLATE_HEADER 1u

/* Run t over dot (borrowed; NULL is "no value"); 0 and *out (a new
 * string), or -1 and *err. */
int pier_template_execute (const pier_template *t, json_t *dot, unsigned flags, char **out, pier_error **err);

void pier_template_free (pier_template *t);

/* Parse and run at once. */
int pier_template_render (const char *text, json_t *dot, char **out, pier_error **err);

#endif
