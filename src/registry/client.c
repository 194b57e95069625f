/* client.c - one registry: transport, authentication, requests. */
#include "registry/client.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <jansson.h>

#include "util/cleanup.h"
#include "util/json.h"
#include "util/xalloc.h"
#include "util/banned.h"

#ifndef PIER_VERSION
#define PIER_VERSION "0.1.0"
#endif

struct reg_client
{
  char *domain; /* as the reference names it */
  char *host;   /* where to connect: docker.io is registry-1.docker.io */
  char *base;   /* scheme://host, once pinged */
  int tls_verify;
  bool loopback;
  char *scheme_only; /* a mirror's URL scheme, or NULL */
  /* Connections, DNS answers and TLS sessions kept for the next request
   * (a client is used by one thread: no locks). */
  CURLSH *share;
  char *cert_dir; /* CAs and client certificates, or NULL */
  char *user, *password;
  /* Authentication the registry asked for: "basic", "bearer" or NULL. */
  char *scheme, *realm, *service;
  char **scopes;
  char *token;
};

void
reg_resp_clear (reg_resp *r)
{
  free (r->body);
  free (r->content_type);
  free (r->location);
  free (r->digest);
  free (r->www_auth);
  free (r->range);
  size_t max = r->max_body;
  memset (r, 0, sizeof *r);
  r->max_body = max;
}

static void
global_init (void)
{
  static bool done;
  if (!done)
    {
      curl_global_init (CURL_GLOBAL_DEFAULT);
      done = true;
    }
}

static bool
is_loopback (const char *host)
{
  cleanup_free char *h = NULL;
  /* Strip the port and IPv6 brackets. */
  if (host[0] == '[')
    {
      const char *end = strchr (host, ']');
      h = xstrndup (host + 1, end ? (size_t) (end - host - 1) : strlen (host + 1));
    }
  else
    {
      const char *colon = strrchr (host, ':');
      h = colon ? xstrndup (host, (size_t) (colon - host)) : xstrdup (host);
    }
  if (strcmp (h, "localhost") == 0)
    return true;
  struct in_addr a4;
  struct in6_addr a6;
  if (inet_pton (AF_INET, h, &a4) == 1)
    return (ntohl (a4.s_addr) >> 24) == 127;
  if (inet_pton (AF_INET6, h, &a6) == 1)
    return IN6_IS_ADDR_LOOPBACK (&a6);
  return false;
}

reg_client *
reg_client_new (const char *domain, const pier_registry_opts *o, const char *user, const char *password,
                const char *scope)
{
  global_init ();
  reg_client *c = xzalloc (sizeof *c);
  c->domain = xstrdup (domain);
  c->host = xstrdup (strcmp (domain, "docker.io") == 0 ? "registry-1.docker.io" : domain);
  c->tls_verify = o ? o->tls_verify : -1;
  c->loopback = is_loopback (c->host);
  c->share = curl_share_init ();
  if (c->share)
    {
      curl_share_setopt (c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
      curl_share_setopt (c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
      curl_share_setopt (c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    }
  if (o && o->cert_dir)
    c->cert_dir = xstrdup (o->cert_dir);
  else
    {
      const char *d = o && o->certs_d ? o->certs_d : "/etc/docker/certs.d";
      cleanup_free char *dir = xasprintf ("%s/%s", d, domain);
      if (access (dir, F_OK) == 0)
        c->cert_dir = steal_pointer (&dir);
    }
  if (user)
    {
      c->user = xstrdup (user);
      c->password = xstrdup (password ? password : "");
    }
  else
    {
      cleanup_free char *key = pier_registry_auth_key (domain);
      reg_auth_lookup (o, key, &c->user, &c->password, NULL);
    }
  if (scope)
    strv_push (&c->scopes, scope);
  return c;
}

void
reg_client_free (reg_client *c)
{
  if (c == NULL)
    return;
  free (c->domain);
  free (c->host);
  free (c->base);
  free (c->scheme_only);
  if (c->share)
    curl_share_cleanup (c->share);
  free (c->cert_dir);
  free (c->user);
  if (c->password)
    explicit_bzero (c->password, strlen (c->password));
  free (c->password);
  free (c->scheme);
  free (c->realm);
  free (c->service);
  strv_free (c->scopes);
  free (c->token);
  free (c);
}

void
reg_client_add_scope (reg_client *c, const char *scope)
{
  for (size_t k = 0; c->scopes && c->scopes[k]; k++)
    if (strcmp (c->scopes[k], scope) == 0)
      return;
  strv_push (&c->scopes, scope);
}

void
reg_client_force_scheme (reg_client *c, const char *scheme)
{
  free (c->scheme_only);
  c->scheme_only = xstrdup (scheme);
}

void
reg_client_set_insecure (reg_client *c)
{
  if (c->tls_verify < 0)
    c->tls_verify = 0;
}

const char *
reg_client_base (const reg_client *c)
{
  return c->base;
}

/* ---- curl plumbing --------------------------------------------------- */

/* Add the CAs of cert_dir (*.crt) to the ones curl loaded (the system's). */
static CURLcode
ssl_ctx_cb (CURL *h, void *sslctx, void *data)
{
  (void) h;
  const char *dir = data;
  cleanup_dir DIR *d = opendir (dir);
  if (d == NULL)
    return CURLE_OK;
  struct dirent *e;
  while ((e = readdir (d)))
    {
      size_t l = strlen (e->d_name);
      if (l > 4 && strcmp (e->d_name + l - 4, ".crt") == 0)
        {
          cleanup_free char *p = xasprintf ("%s/%s", dir, e->d_name);
          if (SSL_CTX_load_verify_locations (sslctx, p, NULL) != 1)
            return CURLE_SSL_CACERT_BADFILE;
        }
    }
  return CURLE_OK;
}

/* docker's client certificate pair: <name>.cert with <name>.key. */
static void
client_cert (CURL *h, const char *dir)
{
  cleanup_dir DIR *d = opendir (dir);
  if (d == NULL)
    return;
  struct dirent *e;
  while ((e = readdir (d)))
    {
      size_t l = strlen (e->d_name);
      if (l > 5 && strcmp (e->d_name + l - 5, ".cert") == 0)
        {
          cleanup_free char *cert = xasprintf ("%s/%s", dir, e->d_name);
          cleanup_free char *key = xasprintf ("%s/%.*s.key", dir, (int) (l - 5), e->d_name);
          if (access (key, R_OK) == 0)
            {
              curl_easy_setopt (h, CURLOPT_SSLCERT, cert);
              curl_easy_setopt (h, CURLOPT_SSLKEY, key);
              return;
            }
        }
    }
}

static char *
b64 (const char *s)
{
  size_t n = strlen (s);
  char *out = xmalloc (4 * ((n + 2) / 3) + 1);
  EVP_EncodeBlock ((unsigned char *) out, (const unsigned char *) s, (int) n);
  return out;
}

static char *
auth_header (reg_client *c)
{
  if (c->token)
    return xasprintf ("Authorization: Bearer %s", c->token);
  if (c->user && c->scheme && strcmp (c->scheme, "basic") == 0)
    {
      cleanup_free char *up = xasprintf ("%s:%s", c->user, c->password);
      cleanup_free char *enc = b64 (up);
      explicit_bzero (up, strlen (up));
      return xasprintf ("Authorization: Basic %s", enc);
    }
  return NULL;
}

static CURL *
easy_for (reg_client *c, const char *url, bool https_verify)
{
  CURL *h = curl_easy_init ();
  if (h == NULL)
    abort ();
  curl_easy_setopt (h, CURLOPT_URL, url);
  curl_easy_setopt (h, CURLOPT_USERAGENT, "pier/" PIER_VERSION);
  curl_easy_setopt (h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt (h, CURLOPT_CONNECTTIMEOUT, 30L);
  /* A transfer that stalls for a minute is cut (then retried or failed). */
  curl_easy_setopt (h, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt (h, CURLOPT_LOW_SPEED_TIME, 60L);
  /* Blob storage may redirect (S3 and the like); curl drops our
   * Authorization header when the host changes. */
  curl_easy_setopt (h, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt (h, CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt (h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt (h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  if (c->share)
    curl_easy_setopt (h, CURLOPT_SHARE, c->share);
  curl_easy_setopt (h, CURLOPT_SSL_VERIFYPEER, https_verify ? 1L : 0L);
  curl_easy_setopt (h, CURLOPT_SSL_VERIFYHOST, https_verify ? 2L : 0L);
  if (c->cert_dir)
    {
      curl_easy_setopt (h, CURLOPT_SSL_CTX_FUNCTION, ssl_ctx_cb);
      curl_easy_setopt (h, CURLOPT_SSL_CTX_DATA, c->cert_dir);
      client_cert (h, c->cert_dir);
    }
  return h;
}

CURL *
reg_client_easy (reg_client *c, const char *url, struct curl_slist **headers)
{
  CURL *h = easy_for (c, url, c->tls_verify != 0);
  cleanup_free char *a = auth_header (c);
  if (a)
    *headers = curl_slist_append (*headers, a);
  return h;
}

static size_t
body_cb (char *p, size_t size, size_t n, void *data)
{
  reg_resp *r = data;
  size_t len = size * n;
  size_t max = r->max_body ? r->max_body : (1u << 20);
  if (r->len + len > max)
    return 0; /* too large: the transfer fails */
  if (r->len + len + 1 > r->cap)
    {
      r->cap = (r->len + len + 1) * 2;
      r->body = xrealloc (r->body, r->cap);
    }
  memcpy (r->body + r->len, p, len);
  r->len += len;
  r->body[r->len] = '\0';
  return len;
}

static size_t
header_cb (char *p, size_t size, size_t n, void *data)
{
  reg_resp *r = data;
  size_t len = size * n;
  /* A new status line (after a redirect or a 100): forget the last. */
  if (len > 5 && strncmp (p, "HTTP/", 5) == 0)
    {
      free (r->content_type);
      free (r->location);
      free (r->digest);
      free (r->www_auth);
      free (r->range);
      r->content_type = r->location = r->digest = r->www_auth = r->range = NULL;
      return len;
    }
  const char *colon = memchr (p, ':', len);
  if (colon == NULL)
    return len;
  size_t nl = (size_t) (colon - p);
  const char *v = colon + 1;
  const char *end = p + len;
  while (v < end && (*v == ' ' || *v == '\t'))
    v++;
  while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
    end--;
  char **slot = NULL;
  if (nl == 12 && strncasecmp (p, "Content-Type", nl) == 0)
    slot = &r->content_type;
  else if (nl == 8 && strncasecmp (p, "Location", nl) == 0)
    slot = &r->location;
  else if (nl == 21 && strncasecmp (p, "Docker-Content-Digest", nl) == 0)
    slot = &r->digest;
  else if (nl == 16 && strncasecmp (p, "WWW-Authenticate", nl) == 0)
    slot = &r->www_auth;
  else if (nl == 5 && strncasecmp (p, "Range", nl) == 0)
    slot = &r->range;
  if (slot)
    {
      free (*slot);
      *slot = xstrndup (v, (size_t) (end - v));
    }
  return len;
}

struct upload
{
  const reg_body *b;
  uint64_t off;
};

static size_t
read_cb (char *p, size_t size, size_t n, void *data)
{
  struct upload *u = data;
  size_t want = size * n;
  if (u->off >= u->b->size)
    return 0;
  if (want > u->b->size - u->off)
    want = (size_t) (u->b->size - u->off);
  if (u->b->buf)
    {
      memcpy (p, u->b->buf + u->off, want);
      u->off += want;
      return want;
    }
  ssize_t got = TEMP_FAILURE_RETRY_INT (pread (u->b->fd, p, want, (off_t) (u->b->offset + u->off)));
  if (got <= 0)
    return CURL_READFUNC_ABORT;
  u->off += (uint64_t) got;
  return (size_t) got;
}

static int
xfer_cb (void *data, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
  (void) dltotal;
  (void) dlnow;
  struct upload *u = data;
  (void) ultotal;
  if (u->b->progress && ulnow > 0)
    u->b->progress (u->b->progress_data, u->b->offset + (uint64_t) ulnow, 0);
  return 0;
}

static const char *
go_method (const char *m)
{
  return strcmp (m, "GET") == 0     ? "Get"
         : strcmp (m, "HEAD") == 0  ? "Head"
         : strcmp (m, "PUT") == 0   ? "Put"
         : strcmp (m, "POST") == 0  ? "Post"
         : strcmp (m, "PATCH") == 0 ? "Patch"
                                    : "Delete";
}

int
reg_transfer_error (pier_error **err, const char *method, const char *url, CURLcode cc, long os_errno,
                    const char *detail)
{
  const char *hp = strstr (url, "://");
  hp = hp ? hp + 3 : url;
  size_t hl = strcspn (hp, "/");
  cleanup_free char *hostport = xstrndup (hp, hl);
  if (strchr (hostport, ':') == NULL)
    {
      char *x = xasprintf ("%s:%s", hostport, strncmp (url, "https", 5) == 0 ? "443" : "80");
      free (hostport);
      hostport = x;
    }
  if (cc == CURLE_COULDNT_CONNECT)
    return pier_error_makex (err, os_errno ? (int) os_errno : ECONNREFUSED,
                             "%s \"%s\": dial tcp %s: connect: %s", method, url, hostport,
                             os_errno == ECONNREFUSED || os_errno == 0 ? "connection refused"
                                                                       : strerror ((int) os_errno));
  if (cc == CURLE_COULDNT_RESOLVE_HOST)
    return pier_error_makex (err, EHOSTUNREACH, "%s \"%s\": dial tcp: lookup %.*s: no such host", method, url,
                             (int) strcspn (hostport, ":"), hostport);
  if (cc == CURLE_PEER_FAILED_VERIFICATION)
    return pier_error_makex (err, EACCES, "%s \"%s\": x509: %s", method, url,
                             detail
                                     && (strstr (detail, "self-signed") || strstr (detail, "self signed")
                                         || strstr (detail, "local issuer"))
                                 ? "certificate signed by unknown authority"
                                 : (detail && *detail ? detail : curl_easy_strerror (cc)));
  return pier_error_makex (err, EIO, "%s \"%s\": %s", method, url,
                           detail && *detail ? detail : curl_easy_strerror (cc));
}

char *
reg_error_text (const reg_resp *r)
{
  cleanup_json json_t *j = NULL;
  if (r->body && r->len)
    j = json_loadb (r->body, r->len, 0, NULL);
  json_t *errs = json_object_get (j, "errors");
  if (json_is_array (errs) && json_array_size (errs) > 0)
    {
      json_t *e = json_array_get (errs, 0);
      const char *code = json_string_value (json_object_get (e, "code"));
      const char *msg = json_string_value (json_object_get (e, "message"));
      cleanup_free char *words = xstrdup (code ? code : "unknown");
      for (char *p = words; *p; p++)
        *p = *p == '_' ? ' ' : (char) (*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
      return xasprintf ("%s: %s", words, msg ? msg : "");
    }
  /* Token servers answer {"details": "..."} or {"error": "..."}. */
  const char *d = json_string_value (json_object_get (j, "details"));
  if (d == NULL)
    d = json_string_value (json_object_get (j, "error"));
  if (d)
    return xasprintf ("%s", d);
  /* HEAD answers have no body: docker's words for the status. */
  if (r->status == 401)
    return xstrdup ("unauthorized: authentication required");
  if (r->status == 403)
    return xstrdup ("denied: requested access to the resource is denied");
  return xasprintf ("unexpected status %ld", r->status);
}

/* One HTTP exchange, no authentication retry. */
static int
perform (reg_client *c, const char *method, const char *url, struct curl_slist *extra, const reg_body *body,
         bool verify, reg_resp *resp, CURLcode *cc_out, long *os_errno, pier_error **err)
{
  char errbuf[CURL_ERROR_SIZE] = "";
  struct curl_slist *h = NULL;
  for (struct curl_slist *s = extra; s; s = s->next)
    h = curl_slist_append (h, s->data);
  cleanup_free char *a = auth_header (c);
  if (a)
    h = curl_slist_append (h, a);
  CURL *e = easy_for (c, url, verify);
  struct upload up = { body, 0 };
  reg_resp_clear (resp);
  curl_easy_setopt (e, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt (e, CURLOPT_WRITEFUNCTION, body_cb);
  curl_easy_setopt (e, CURLOPT_WRITEDATA, resp);
  curl_easy_setopt (e, CURLOPT_HEADERFUNCTION, header_cb);
  curl_easy_setopt (e, CURLOPT_HEADERDATA, resp);
  if (strcmp (method, "HEAD") == 0)
    curl_easy_setopt (e, CURLOPT_NOBODY, 1L);
  else if (body)
    {
      curl_easy_setopt (e, CURLOPT_UPLOAD, 1L);
      curl_easy_setopt (e, CURLOPT_READFUNCTION, read_cb);
      curl_easy_setopt (e, CURLOPT_READDATA, &up);
      curl_easy_setopt (e, CURLOPT_INFILESIZE_LARGE, (curl_off_t) body->size);
      if (strcmp (method, "PUT") != 0)
        curl_easy_setopt (e, CURLOPT_CUSTOMREQUEST, method);
      cleanup_free char *ct = xasprintf ("Content-Type: %s", body->content_type ? body->content_type
                                                                                : "application/octet-stream");
      h = curl_slist_append (h, ct);
      /* No 100-continue round trip. */
      h = curl_slist_append (h, "Expect:");
      if (body->progress)
        {
          curl_easy_setopt (e, CURLOPT_NOPROGRESS, 0L);
          curl_easy_setopt (e, CURLOPT_XFERINFOFUNCTION, xfer_cb);
          curl_easy_setopt (e, CURLOPT_XFERINFODATA, &up);
        }
    }
  else if (strcmp (method, "POST") == 0)
    {
      curl_easy_setopt (e, CURLOPT_POST, 1L);
      curl_easy_setopt (e, CURLOPT_POSTFIELDSIZE, 0L);
      curl_easy_setopt (e, CURLOPT_POSTFIELDS, "");
    }
  else if (strcmp (method, "GET") != 0)
    curl_easy_setopt (e, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt (e, CURLOPT_HTTPHEADER, h);
  CURLcode cc = curl_easy_perform (e);
  long oserr = 0;
  curl_easy_getinfo (e, CURLINFO_RESPONSE_CODE, &resp->status);
  curl_easy_getinfo (e, CURLINFO_OS_ERRNO, &oserr);
  curl_easy_cleanup (e);
  curl_slist_free_all (h);
  if (cc_out)
    *cc_out = cc;
  if (os_errno)
    *os_errno = oserr;
  if (cc != CURLE_OK)
    return reg_transfer_error (err, go_method (method), url, cc, oserr, errbuf);
  return 0;
}

/* key="value" (or key=value) from a WWW-Authenticate challenge. */
static char *
challenge_param (const char *ch, const char *key)
{
  size_t kl = strlen (key);
  const char *p = ch;
  while ((p = strcasestr (p, key)))
    {
      bool start = p == ch || p[-1] == ' ' || p[-1] == ',';
      if (start && p[kl] == '=')
        {
          const char *v = p + kl + 1;
          if (*v == '"')
            {
              v++;
              const char *end = strchr (v, '"');
              return end ? xstrndup (v, (size_t) (end - v)) : NULL;
            }
          return xstrndup (v, strcspn (v, ", "));
        }
      p += kl;
    }
  return NULL;
}

static void
take_challenge (reg_client *c, const char *ch)
{
  if (ch == NULL)
    return;
  free (c->scheme);
  c->scheme = NULL;
  if (strncasecmp (ch, "bearer ", 7) == 0)
    {
      c->scheme = xstrdup ("bearer");
      free (c->realm);
      free (c->service);
      c->realm = challenge_param (ch + 7, "realm");
      c->service = challenge_param (ch + 7, "service");
      cleanup_free char *scope = challenge_param (ch + 7, "scope");
      if (scope)
        {
          /* Several scopes are separated by spaces. */
          char *save = NULL;
          for (char *s = strtok_r (scope, " ", &save); s; s = strtok_r (NULL, " ", &save))
            reg_client_add_scope (c, s);
        }
    }
  else if (strncasecmp (ch, "basic", 5) == 0)
    c->scheme = xstrdup ("basic");
}

static void
url_escape_append (char **s, const char *key, const char *v)
{
  char *e = curl_easy_escape (NULL, v, 0);
  char *n = xasprintf ("%s%s%s=%s", *s, strchr (*s, '?') ? "&" : "?", key, e);
  curl_free (e);
  free (*s);
  *s = n;
}

/* The Bearer token flow: GET realm?service=..&scope=.. with the Basic
 * credentials when there are any (anonymous otherwise). */
static int
fetch_token (reg_client *c, pier_error **err)
{
  if (c->realm == NULL)
    return pier_error_makex (err, EPROTO, "the registry %s asked for a token without saying where (no realm)",
                             c->domain);
  char *url = xstrdup (c->realm);
  if (c->service)
    url_escape_append (&url, "service", c->service);
  for (size_t k = 0; c->scopes && c->scopes[k]; k++)
    url_escape_append (&url, "scope", c->scopes[k]);
  if (c->user)
    url_escape_append (&url, "account", c->user);
  cleanup_free char *u = url;
  struct curl_slist *h = NULL;
  if (c->user)
    {
      cleanup_free char *up = xasprintf ("%s:%s", c->user, c->password);
      cleanup_free char *enc = b64 (up);
      cleanup_free char *hdr = xasprintf ("Authorization: Basic %s", enc);
      explicit_bzero (up, strlen (up));
      h = curl_slist_append (h, hdr);
    }
  /* The token request itself carries no token. */
  cleanup_free char *saved = steal_pointer (&c->token);
  cleanup_free char *saved_scheme = steal_pointer (&c->scheme);
  reg_resp r = { .max_body = 1 << 20 };
  int rc = perform (c, "GET", u, h, NULL, c->tls_verify != 0, &r, NULL, NULL, err);
  c->scheme = steal_pointer (&saved_scheme);
  curl_slist_free_all (h);
  if (rc < 0)
    {
      reg_resp_clear (&r);
      return -1;
    }
  if (r.status == 401 || r.status == 403)
    {
      cleanup_free char *t = reg_error_text (&r);
      reg_resp_clear (&r);
      if (strcmp (t, "unauthorized: authentication required") == 0)
        return pier_error_makex (err, EACCES, "unauthorized: incorrect username or password");
      return pier_error_makex (err, EACCES, "%s%s",
                               strncmp (t, "unauthorized", 12) == 0 ? "" : "unauthorized: ", t);
    }
  if (r.status != 200)
    {
      cleanup_free char *t = reg_error_text (&r);
      reg_resp_clear (&r);
      return pier_error_makex (err, EPROTO, "Get \"%s\": the token server answered %s", c->realm, t);
    }
  cleanup_json json_t *j = json_loadb (r.body ? r.body : "", r.len, 0, NULL);
  reg_resp_clear (&r);
  const char *tok = json_string_value (json_object_get (j, "token"));
  if (tok == NULL || *tok == '\0')
    tok = json_string_value (json_object_get (j, "access_token"));
  if (tok == NULL || *tok == '\0')
    return pier_error_makex (err, EPROTO, "the token server %s answered no token", c->realm);
  c->token = xstrdup (tok);
  return 0;
}

/* After a 401: the credentials or a new token the challenge asks for. */
static int
authenticate (reg_client *c, const reg_resp *r, pier_error **err)
{
  take_challenge (c, r->www_auth);
  free (c->token);
  c->token = NULL;
  if (c->scheme && strcmp (c->scheme, "bearer") == 0)
    return fetch_token (c, err);
  if (c->scheme && strcmp (c->scheme, "basic") == 0 && c->user)
    return 0;
  cleanup_free char *t = reg_error_text (r);
  return pier_error_makex (err, EACCES, "%s", t);
}

int
reg_client_reauth (reg_client *c, const reg_resp *r, pier_error **err)
{
  return authenticate (c, r, err);
}

int
reg_client_ping (reg_client *c, bool verify_login, pier_error **err)
{
  /* https first; plain http where docker allows it (a loopback registry,
   * or told --tls-verify=false), when https got no answer. */
  bool http_ok = c->loopback || c->tls_verify == 0 || c->scheme_only;
  reg_resp r = { .max_body = 1 << 16 };
  pier_error *e = NULL;
  CURLcode cc = CURLE_OK;
  long oserr = 0;
  for (int pass = 0; pass < 2; pass++)
    {
      const char *scheme = pass == 0 ? "https" : "http";
      if (c->scheme_only && strcmp (scheme, c->scheme_only) != 0)
        continue;
      cleanup_free char *url = xasprintf ("%s://%s/v2/", scheme, c->host);
      pier_error_free (&e);
      if (perform (c, "GET", url, NULL, NULL, c->tls_verify != 0, &r, &cc, &oserr, &e) == 0)
        {
          free (c->base);
          c->base = xasprintf ("%s://%s", scheme, c->host);
          break;
        }
      /* A certificate that does not verify is an answer: no fallback. */
      if (!http_ok || cc == CURLE_PEER_FAILED_VERIFICATION || c->scheme_only)
        break;
    }
  if (c->base == NULL)
    {
      reg_resp_clear (&r);
      *err = e;
      return -1;
    }
  pier_error_free (&e);
  if (r.status == 401)
    {
      take_challenge (c, r.www_auth);
      if (c->scheme && strcmp (c->scheme, "bearer") == 0)
        {
          int rc = fetch_token (c, verify_login ? err : &e);
          /* Pulling needs no login: a refused token is the request's error. */
          if (rc < 0 && verify_login)
            {
              reg_resp_clear (&r);
              return -1;
            }
          pier_error_free (&e);
        }
      else if (c->scheme && strcmp (c->scheme, "basic") == 0)
        {
          if (verify_login)
            {
              cleanup_free char *url = xasprintf ("%s/v2/", c->base);
              if (perform (c, "GET", url, NULL, NULL, c->tls_verify != 0, &r, NULL, NULL, err) < 0)
                {
                  reg_resp_clear (&r);
                  return -1;
                }
              if (r.status != 200)
                {
                  cleanup_free char *t = reg_error_text (&r);
                  reg_resp_clear (&r);
                  return pier_error_makex (err, EACCES, "%s%s",
                                           strncmp (t, "unauthorized", 12) == 0 ? "" : "unauthorized: ", t);
                }
            }
        }
      else if (verify_login)
        {
          reg_resp_clear (&r);
          return pier_error_makex (err, EPROTO,
                                   "the registry %s asks for an authentication pier does not know: %s",
                                   c->domain, r.www_auth ? r.www_auth : "(none)");
        }
    }
  else if (r.status != 200 && verify_login)
    {
      cleanup_free char *t = reg_error_text (&r);
      reg_resp_clear (&r);
      return pier_error_makex (err, EPROTO, "%s/v2/: %s", c->base, t);
    }
  reg_resp_clear (&r);
  return 0;
}

int
reg_client_do (reg_client *c, const char *method, const char *path, struct curl_slist *headers,
               const reg_body *body, reg_resp *resp, pier_error **err)
{
  if (c->base == NULL && reg_client_ping (c, false, err) < 0)
    return -1;
  cleanup_free char *url = path[0] == '/' ? xasprintf ("%s%s", c->base, path) : xstrdup (path);
  for (int attempt = 0;; attempt++)
    {
      if (perform (c, method, url, headers, body, c->tls_verify != 0, resp, NULL, NULL, err) < 0)
        return -1;
      if (resp->status != 401 || attempt > 0)
        return 0;
      pier_error *e = NULL;
      if (authenticate (c, resp, &e) < 0)
        {
          /* The 401 stands; the caller reports it. */
          pier_error_free (&e);
          return 0;
        }
    }
}

/* ---- config.json --------------------------------------------------- */

char *
pier_registry_auth_key (const char *server)
{
  if (server == NULL || *server == '\0')
    return xstrdup ("https://index.docker.io/v1/");
  const char *s = server;
  if (strncmp (s, "https://", 8) == 0)
    s += 8;
  else if (strncmp (s, "http://", 7) == 0)
    s += 7;
  cleanup_free char *host = xstrndup (s, strcspn (s, "/"));
  if (strcmp (host, "docker.io") == 0 || strcmp (host, "index.docker.io") == 0
      || strcmp (host, "registry-1.docker.io") == 0)
    return xstrdup ("https://index.docker.io/v1/");
  return steal_pointer (&host);
}

int
reg_auth_lookup (const pier_registry_opts *o, const char *key, char **user, char **password, pier_error **err)
{
  *user = *password = NULL;
  const char *dir = o && o->config_dir ? o->config_dir : getenv ("DOCKER_CONFIG");
  cleanup_free char *path = NULL;
  if (dir && *dir)
    path = xasprintf ("%s/config.json", dir);
  else
    {
      const char *home = getenv ("HOME");
      path = xasprintf ("%s/.docker/config.json", home && *home ? home : "/root");
    }
  if (access (path, F_OK) < 0)
    return 0;
  cleanup_json json_t *j = NULL;
  if (pier_json_load_file (path, &j, err) < 0)
    return -1;
  json_t *auths = json_object_get (j, "auths");
  json_t *entry = json_object_get (auths, key);
  if (entry == NULL)
    {
      /* docker also finds "https://host" and "http://host/v2/" spellings. */
      const char *k;
      json_t *v;
      json_object_foreach (auths, k, v)
      {
        cleanup_free char *norm = pier_registry_auth_key (k);
        if (strcmp (norm, key) == 0)
          entry = v;
      }
    }
  const char *auth = json_string_value (json_object_get (entry, "auth"));
  if (auth == NULL || *auth == '\0')
    return 0;
  if (pier_crypto_dl_open (err) < 0)
    return -1;
  size_t n = strlen (auth);
  cleanup_free unsigned char *dec = xmalloc (n + 1);
  int dl = EVP_DecodeBlock (dec, (const unsigned char *) auth, (int) n);
  if (dl < 0)
    return pier_error_makex (err, EINVAL, "%s: the auth of %s is not base64", path, key);
  /* EVP_DecodeBlock counts the padding as zero bytes. */
  while (n > 0 && auth[n - 1] == '=' && dl > 0)
    {
      n--;
      dl--;
    }
  dec[dl] = '\0';
  char *colon = strchr ((char *) dec, ':');
  if (colon == NULL)
    return pier_error_makex (err, EINVAL, "%s: the auth of %s is not user:password", path, key);
  *user = xstrndup ((char *) dec, (size_t) (colon - (char *) dec));
  *password = xstrdup (colon + 1);
  explicit_bzero (dec, (size_t) dl);
  return 0;
}
