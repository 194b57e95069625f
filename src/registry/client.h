/* client.h - registry/'s own HTTP client over libcurl: one registry host,
 * its transport (https, certs.d, plain http where allowed), its
 * credentials and tokens, requests with the one retry a 401 earns.
 * Internal to src/registry/. */
#ifndef PIER_REGISTRY_CLIENT_H
#define PIER_REGISTRY_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "registry/curl_dl.h"
#include <jansson.h>

#include "registry/registry.h"
#include "util/error.h"

typedef struct reg_client reg_client;

typedef struct reg_resp
{
  long status;
  char *body; /* NUL-terminated; at most max_body bytes are kept */
  size_t len, cap, max_body;
  char *content_type, *location, *digest, *www_auth;
  char *range; /* an upload's "Range: 0-<last byte>" */
} reg_resp;

void reg_resp_clear (reg_resp *r);

/* A client of the registry at domain (a reference's domain: "docker.io",
 * "127.0.0.1:5000").  user/password NULL: the ones config.json holds for
 * it, if any.  scope ("repository:x:pull", may be NULL) is asked for when a
 * token server wants one.  Nothing is sent yet. */
reg_client *reg_client_new (const char *domain, const pier_registry_opts *o, const char *user,
                            const char *password, const char *scope);
void reg_client_free (reg_client *c);

/* Another scope to ask the token server for (push: the repositories a blob
 * may be mounted from). */
void reg_client_add_scope (reg_client *c, const char *scope);

/* The /v2/ ping: picks the transport, learns the authentication scheme
 * and, when the registry wants a token, gets one.  With verify_login,
 * credentials the registry refuses are an error (EACCES "unauthorized:
 * ..."). */
int reg_client_ping (reg_client *c, bool verify_login, pier_error **err);

/* "scheme://host" once pinged. */
const char *reg_client_base (const reg_client *c);

/* A curl handle set up for url on this registry (TLS, certificates, user
 * agent, timeouts, the Authorization header in *headers, which the caller
 * frees after the transfer).  For transfers the caller drives itself. */
CURL *reg_client_easy (reg_client *c, const char *url, struct curl_slist **headers);

/* Where a request body comes from: a buffer, or size bytes of fd from
 * offset.  NULL for none. */
typedef struct reg_body
{
  const char *buf;
  int fd;
  uint64_t size;
  uint64_t offset;
  const char *content_type;
  /* Pushing progress, may be NULL. */
  void (*progress) (void *data, uint64_t now, uint64_t total);
  void *progress_data;
} reg_body;

/* method ("GET", "HEAD", "PUT", "POST", "PATCH", "DELETE") on path ("/v2/..."
 * on this registry, or a full URL a Location gave), with extra headers (may
 * be NULL), body (may be NULL).  A 401 gets a new token (or the Basic
 * credentials) and one retry.  0 whatever the status; -1 when no HTTP
 * answer came (docker's message for it). */
int reg_client_do (reg_client *c, const char *method, const char *path, struct curl_slist *headers,
                   const reg_body *body, reg_resp *resp, pier_error **err);

/* After a 401 with r's challenge: a new token (or the Basic credentials);
 * EACCES when there is none to be had. */
int reg_client_reauth (reg_client *c, const reg_resp *r, pier_error **err);

/* A registry's error body as docker shows it: "<code in words>: <message>"
 * ("manifest unknown: manifest unknown"), or the HTTP status when the body
 * holds none.  Caller frees. */
char *reg_error_text (const reg_resp *r);

/* docker's message for a transfer curl could not complete (method
 * "Get", "Head", ...). */
int reg_transfer_error (pier_error **err, const char *method, const char *url, CURLcode cc, long os_errno,
                        const char *detail);

/* pier's registries file (see registry.h), or an empty object when there
 * is none; *out is the caller's. */
int reg_conf_load (const pier_registry_opts *o, json_t **out, pier_error **err);
/* Parallel transfers: o->max_concurrent when set, else the registries
 * file's key ("max-concurrent-downloads" / "-uploads", as docker's
 * daemon.json), else 3. */
int reg_conf_concurrency (const pier_registry_opts *o, const char *key);

/* Whether the file lists domain under "insecure-registries". */
bool reg_conf_insecure (json_t *conf, const char *domain);

/* The mirror URLs of domain ("registry-mirrors" for docker.io, "mirrors"
 * for any), NULL-terminated (NULL for none); caller frees. */
char **reg_conf_mirrors (json_t *conf, const char *domain);

/* reg_client_new, insecure when conf says so. */
reg_client *reg_client_for (const char *domain, const pier_registry_opts *o, json_t *conf, const char *user,
                            const char *password, const char *scope);

/* A client of the mirror at url ("http://host:port"), its credentials
 * those config.json holds for host. */
reg_client *reg_client_for_mirror (const char *url, const pier_registry_opts *o, const char *scope);

/* Speak only this scheme ("http" or "https") to the host: a mirror's URL
 * says which.  Plain http is then allowed. */
void reg_client_force_scheme (reg_client *c, const char *scheme);

/* Treat the registry as docker treats an insecure one: certificates not
 * verified, plain http allowed. */
void reg_client_set_insecure (reg_client *c);

/* Credentials config.json holds for key (pier_registry_auth_key), each
 * NULL when none; caller frees. */
int reg_auth_lookup (const pier_registry_opts *o, const char *key, char **user, char **password,
                     pier_error **err);

#endif
