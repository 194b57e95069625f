/* reference.c - docker image references (see reference.h for the grammar).
 *
 * Written against distribution/reference's regular expressions, by hand,
 * so that each way a reference can be wrong gets its own message. */
#include "image/reference.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/cleanup.h"
#include "util/digest.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define LEGACY_DEFAULT_DOMAIN "index.docker.io"
#define OFFICIAL_REPO_PREFIX "library/"

static bool
is_lower_alnum (char c)
{
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool
is_alnum (char c)
{
  return is_lower_alnum (c) || (c >= 'A' && c <= 'Z');
}

static bool
is_word (char c)
{
  return is_alnum (c) || c == '_';
}

static bool
is_hex (char c)
{
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* [A-Za-z0-9_][A-Za-z0-9_.-]{0,127} */
static bool
tag_valid (const char *t)
{
  size_t n = strlen (t);
  if (n == 0 || n > PIER_REF_TAG_MAX || !is_word (t[0]))
    return false;
  for (size_t i = 1; i < n; i++)
    if (!is_word (t[i]) && t[i] != '.' && t[i] != '-')
      return false;
  return true;
}

/* [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*, over s[0..n). */
static bool
path_component_valid (const char *s, size_t n)
{
  size_t i = 0;
  while (i < n)
    {
      if (!is_lower_alnum (s[i]))
        return false;
      while (i < n && is_lower_alnum (s[i]))
        i++;
      if (i == n)
        return true;
      size_t sep = i;
      if (s[i] == '.')
        i++;
      else if (s[i] == '_')
        i += i + 1 < n && s[i + 1] == '_' ? 2 : 1;
      else if (s[i] == '-')
        while (i < n && s[i] == '-')
          i++;
      else
        return false;
      if (i == n || i == sep)
        return false; /* a separator must sit between two alphanumerics */
    }
  return n > 0;
}

/* One dns label: [A-Za-z0-9] | [A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9] */
static bool
domain_label_valid (const char *s, size_t n)
{
  if (n == 0 || !is_alnum (s[0]) || !is_alnum (s[n - 1]))
    return false;
  for (size_t i = 1; i + 1 < n; i++)
    if (!is_alnum (s[i]) && s[i] != '-')
      return false;
  return true;
}

/* host [ ":" port ], host a dns name or a bracketed IPv6 address. */
static bool
domain_valid (const char *d)
{
  const char *port;
  if (d[0] == '[')
    {
      const char *close = strchr (d, ']');
      if (close == NULL || close == d + 1)
        return false;
      for (const char *p = d + 1; p < close; p++)
        if (!is_hex (*p) && *p != ':')
          return false;
      port = close + 1;
      if (*port != '\0' && *port != ':')
        return false;
    }
  else
    {
      const char *end = strchr (d, ':');
      if (end == NULL)
        end = d + strlen (d);
      const char *label = d;
      for (;;)
        {
          const char *dot = memchr (label, '.', (size_t) (end - label));
          const char *stop = dot ? dot : end;
          if (!domain_label_valid (label, (size_t) (stop - label)))
            return false;
          if (dot == NULL)
            break;
          label = dot + 1;
        }
      port = end;
    }
  if (*port == ':')
    {
      port++;
      if (*port == '\0')
        return false;
      for (; *port; port++)
        if (!(*port >= '0' && *port <= '9'))
          return false;
    }
  return true;
}

/* The first path component names a registry when it could not be a
 * repository: it holds "." or ":", is "localhost", or has uppercase. */
static bool
looks_like_domain (const char *s, size_t n)
{
  if (n == 9 && memcmp (s, "localhost", 9) == 0)
    return true;
  for (size_t i = 0; i < n; i++)
    if (s[i] == '.' || s[i] == ':' || (s[i] >= 'A' && s[i] <= 'Z'))
      return true;
  return false;
}

static bool
is_full_hex_id (const char *s)
{
  size_t i;
  for (i = 0; s[i]; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
      return false;
  return i == PIER_SHA256_HEX_LEN;
}

void
pier_ref_free (pier_ref *r)
{
  if (r == NULL)
    return;
  free (r->domain);
  free (r->path);
  free (r->tag);
  free (r->digest);
  free (r);
}

pier_ref *
pier_ref_dup (const pier_ref *r)
{
  if (r == NULL)
    return NULL;
  pier_ref *c = xzalloc (sizeof *c);
  c->domain = xstrdup (r->domain);
  c->path = xstrdup (r->path);
  c->tag = r->tag ? xstrdup (r->tag) : NULL;
  c->digest = r->digest ? xstrdup (r->digest) : NULL;
  return c;
}

static int
bad (pier_error **err, const char *s, const char *why)
{
  return pier_error_makex (err, EINVAL, "invalid reference format `%s`: %s", s, why);
}

int
pier_ref_parse (const char *s, pier_ref **out, pier_error **err)
{
  cleanup_free char *name = NULL;
  cleanup_free char *tag = NULL;
  cleanup_free char *digest = NULL;
  cleanup_free char *domain = NULL;
  cleanup_free char *path = NULL;

  if (s == NULL || *s == '\0')
    return pier_error_makex (err, EINVAL,
                             "invalid reference format: repository name must have at least one component");
  if (is_full_hex_id (s))
    return bad (err, s,
                "a repository name cannot be a 64-character hexadecimal string (that is an image id)");

  const char *at = strchr (s, '@');
  if (at)
    {
      digest = xstrdup (at + 1);
      if (!pier_digest_valid (digest))
        return pier_error_makex (err, EINVAL,
                                 "invalid reference format `%s`: invalid digest `%s` (expected sha256: and "
                                 "64 lowercase hex digits)",
                                 s, digest);
      name = xstrndup (s, (size_t) (at - s));
    }
  else
    name = xstrdup (s);

  char *colon = strrchr (name, ':');
  char *slash = strrchr (name, '/');
  if (colon && (slash == NULL || colon > slash))
    {
      tag = xstrdup (colon + 1);
      *colon = '\0';
      if (!tag_valid (tag))
        return pier_error_makex (err, EINVAL,
                                 "invalid reference format `%s`: invalid tag `%s` (1 to 128 letters, digits, "
                                 "`_`, `.` or `-`, not starting with `.` or `-`)",
                                 s, tag);
    }
  if (*name == '\0')
    return bad (err, s, "repository name must have at least one component");

  const char *first_slash = strchr (name, '/');
  if (first_slash && looks_like_domain (name, (size_t) (first_slash - name)))
    {
      domain = xstrndup (name, (size_t) (first_slash - name));
      path = xstrdup (first_slash + 1);
    }
  else
    {
      domain = xstrdup (PIER_REF_DEFAULT_DOMAIN);
      path = xstrdup (name);
    }
  if (strcmp (domain, LEGACY_DEFAULT_DOMAIN) == 0)
    {
      free (domain);
      domain = xstrdup (PIER_REF_DEFAULT_DOMAIN);
    }
  if (strcmp (domain, PIER_REF_DEFAULT_DOMAIN) == 0 && strchr (path, '/') == NULL)
    {
      char *p = xasprintf (OFFICIAL_REPO_PREFIX "%s", path);
      free (path);
      path = p;
    }

  for (const char *p = path; *p; p++)
    if (*p >= 'A' && *p <= 'Z')
      return pier_error_makex (
          err, EINVAL, "invalid reference format `%s`: repository name (%s) must be lowercase", s, path);
  if (!domain_valid (domain))
    return pier_error_makex (err, EINVAL, "invalid reference format `%s`: invalid registry `%s`", s, domain);

  for (const char *c = path;;)
    {
      const char *end = strchr (c, '/');
      size_t n = end ? (size_t) (end - c) : strlen (c);
      if (n == 0)
        return bad (err, s, "empty path component (`//`, or `/` at an end)");
      if (!path_component_valid (c, n))
        return pier_error_makex (err, EINVAL,
                                 "invalid reference format `%s`: invalid repository name component `%.*s` "
                                 "(lowercase letters and digits, separated by `.`, `_`, `__` or dashes)",
                                 s, (int) n, c);
      if (end == NULL)
        break;
      c = end + 1;
    }

  if (strlen (domain) + 1 + strlen (path) > PIER_REF_NAME_MAX)
    return pier_error_makex (
        err, EINVAL, "invalid reference format `%s`: repository name must not be more than %d characters", s,
        PIER_REF_NAME_MAX);

  if (tag == NULL && digest == NULL)
    tag = xstrdup (PIER_REF_DEFAULT_TAG);

  pier_ref *r = xzalloc (sizeof *r);
  r->domain = steal_pointer (&domain);
  r->path = steal_pointer (&path);
  r->tag = steal_pointer (&tag);
  r->digest = steal_pointer (&digest);
  *out = r;
  return 0;
}

static char *
with_suffix (const char *name, const pier_ref *r)
{
  return xasprintf ("%s%s%s%s%s", name, r->tag ? ":" : "", r->tag ? r->tag : "", r->digest ? "@" : "",
                    r->digest ? r->digest : "");
}

char *
pier_ref_name (const pier_ref *r)
{
  return xasprintf ("%s/%s", r->domain, r->path);
}

char *
pier_ref_string (const pier_ref *r)
{
  cleanup_free char *name = pier_ref_name (r);
  return with_suffix (name, r);
}

char *
pier_ref_familiar_name (const pier_ref *r)
{
  if (strcmp (r->domain, PIER_REF_DEFAULT_DOMAIN) == 0)
    {
      const char *p = r->path;
      size_t plen = strlen (OFFICIAL_REPO_PREFIX);
      if (strncmp (p, OFFICIAL_REPO_PREFIX, plen) == 0 && strchr (p + plen, '/') == NULL)
        p += plen;
      return xstrdup (p);
    }
  return pier_ref_name (r);
}

char *
pier_ref_familiar (const pier_ref *r)
{
  cleanup_free char *name = pier_ref_familiar_name (r);
  return with_suffix (name, r);
}

bool
pier_ref_is_id_prefix (const char *s)
{
  if (s == NULL)
    return false;
  if (strncmp (s, "sha256:", 7) == 0)
    s += 7;
  size_t i;
  for (i = 0; s[i]; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
      return false;
  return i >= 1 && i <= PIER_SHA256_HEX_LEN;
}
