/* copy.h - COPY and ADD: which files a source list names, their
 * checksum (for the cache key), and the copy itself into a mounted root.
 *
 * Sources are relative to a source root (the context, or another stage's
 * or image's root): a path, or a pattern with Go's filepath.Match
 * wildcards (* ? [...]) in any component; they never leave that root
 * (".." stops at it, symlinks resolve inside it).  A source that is a
 * directory stands for its contents.  In the context, files the
 * .dockerignore excludes are not there.
 */
#ifndef PIER_BUILD_COPY_H
#define PIER_BUILD_COPY_H

#include <stdbool.h>
#include <stdint.h>

#include "build/dockerfile.h"
#include "build/ignore.h"
#include "util/error.h"

typedef struct pier_copy
{
  int srcfd;                       /* the source root */
  const pier_ignore *ig;           /* the context's exclusions, or NULL */
  char *const *sources;            /* expanded source words */
  const pier_df_heredoc *heredocs; /* for "<<NAME" sources */
  size_t n_heredocs;
  const char *dest;    /* absolute, in the container ("/" + workdir applied) */
  bool dest_is_dir;    /* written with a trailing '/' (or several sources) */
  const char *chown;   /* "user[:group]", or NULL: 0:0 */
  const char *chmod;   /* octal, or NULL */
  bool add;            /* ADD: local tar archives are unpacked */
  bool link;           /* --link: parents come from nowhere (same result here) */
  int64_t clamp_mtime; /* -1, or SOURCE_DATE_EPOCH */
  bool keep_owner;     /* the sources' owners, not chown's (docker cp -a) */
  bool top_nofollow;   /* a source that is a symlink is copied as one */
  /* Owners go through these maps (container ids to host ids) before they
   * are given: a running container in a user namespace is written through
   * its idmapped root.  An id they do not hold stays as created (the
   * container's root).  n 0: owners are given as they are. */
  const struct pier_idmap *uid_map, *gid_map;
  size_t n_uid_map, n_gid_map;
} pier_copy;

/* The relative paths the sources match (each exists), in order.  An
 * error names a source that matches nothing. */
int pier_copy_expand (const pier_copy *c, char ***paths, pier_error **err);

/* A checksum of what the sources name: paths, types, modes, sizes,
 * link targets and file contents (not owners or times: COPY sets them). */
int pier_copy_checksum (const pier_copy *c, char hex[65], pier_error **err);

/* Copy into the root at rootfd.  Called in a build step's child: it
 * chroots into rootfd. */
int pier_copy_apply (int rootfd, const pier_copy *c, pier_error **err);

#endif
