/* reference.h - docker image references, parsed and normalized as
 * docker's distribution/reference package does (ParseNormalizedNamed).
 *
 *   reference := name [ ":" tag ] [ "@" digest ]
 *   name      := [ domain "/" ] path-component [ "/" path-component ]*
 *   domain    := host [ ":" port ]   host: dns name or "[" ipv6 "]"
 *   path-component := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
 *   tag       := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
 *   digest    := "sha256:" 64 lowercase hex digits (pier stores only sha256)
 *
 * Normalization: the first component is the domain when it holds a "." or
 * a ":", is "localhost", or holds an uppercase letter; otherwise the domain
 * is docker.io.  "index.docker.io" is docker.io.  A single-component path
 * on docker.io gets "library/".  The whole normalized name (domain/path)
 * is at most 255 characters.  The repository path must be lowercase.
 *
 * Thread-safe; no global state.
 */
#ifndef PIER_IMAGE_REFERENCE_H
#define PIER_IMAGE_REFERENCE_H

#include <stdbool.h>
#include <stddef.h>

#include "util/error.h"

#define PIER_REF_DEFAULT_DOMAIN "docker.io"
#define PIER_REF_DEFAULT_TAG "latest"
#define PIER_REF_NAME_MAX 255
#define PIER_REF_TAG_MAX 128

typedef struct pier_ref
{
  char *domain; /* never NULL: "docker.io", "localhost:5000", "[::1]:5000" */
  char *path;   /* never NULL: "library/busybox", "foo/bar" */
  char *tag;    /* NULL when only a digest was given */
  char *digest; /* NULL unless given: "sha256:<64 hex>" */
} pier_ref;

/* Parse and normalize s.  A reference with neither tag nor digest gets the
 * tag "latest"; one with both keeps both.  On failure *out is untouched and
 * *err names the reference and the reason. */
int pier_ref_parse (const char *s, pier_ref **out, pier_error **err);

/* Full normalized form: "docker.io/library/busybox:latest",
 * "localhost:5000/x@sha256:...".  Caller frees. */
char *pier_ref_string (const pier_ref *r);

/* docker's short display form (FamiliarString): docker.io and a lone
 * "library/" are dropped: "busybox:latest", "foo/bar:1",
 * "localhost:5000/x:y".  Caller frees. */
char *pier_ref_familiar (const pier_ref *r);

/* FamiliarName: the familiar form without tag or digest ("busybox",
 * "foo/bar", "localhost:5000/x").  Caller frees. */
char *pier_ref_familiar_name (const pier_ref *r);

/* "domain/path" without tag or digest.  Caller frees. */
char *pier_ref_name (const pier_ref *r);

/* A copy of r (NULL for NULL). */
pier_ref *pier_ref_dup (const pier_ref *r);

void pier_ref_free (pier_ref *r);

static inline void
cleanup_refp (pier_ref **r)
{
  pier_ref_free (*r);
  *r = NULL;
}
#define cleanup_ref __attribute__ ((cleanup (cleanup_refp)))

/* True when s could name an image by id as docker accepts it: 1 to 64
 * lowercase hex digits, optionally after "sha256:".  Such a string may
 * also be a valid name ("abc"); docker tries the name first. */
bool pier_ref_is_id_prefix (const char *s);

#endif
