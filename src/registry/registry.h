/* registry.h - the OCI distribution client: pull, push, login, logout.
 *
 * Speaks the OCI distribution spec 1.1 / Docker registry v2 API over
 * libcurl: the /v2/ ping, WWW-Authenticate Basic and Bearer (token server,
 * anonymous tokens, a new token once on 401), OCI and Docker schema 2
 * manifests, indexes and manifest lists (platform selection), blobs
 * verified against their digest while they stream in (nothing kept on a
 * mismatch), resumed with Range after a cut connection, several at a time;
 * layers unpacked while the next ones download.
 *
 * Transport, as docker does it: https with the system CAs plus
 * <certs.d>/<host:port>/ (CAs in .crt files, client pairs name.cert with name.key; certs.d is
 * /etc/docker/certs.d unless cert_dir names the directory itself, podman's
 * --cert-dir); a loopback registry (localhost, 127.0.0.0/8, ::1) that does
 * not speak TLS is spoken to in plain http; tls_verify false (podman's
 * --tls-verify=false) skips verification and allows plain http anywhere.
 *
 * pier's registries file ($PIER_REGISTRIES_CONF, else
 * /etc/pier/registries.json; absent is fine), JSON:
 *   { "insecure-registries": ["host:port", ...],   as docker's daemon.json
 *     "registry-mirrors": ["https://mirror", ...],  docker's: mirrors of docker.io
 *     "mirrors": { "host:port": ["http://mirror:5000", ...] } }  any registry's
 * An insecure registry is used as with tls_verify false.  A pull tries the
 * mirrors of the reference's registry in order, then the registry itself;
 * what a mirror serves is verified against the same digests, and the
 * image is named as the registry names it.  Pushes go to the registry.
 *
 * Credentials: docker's config.json ($DOCKER_CONFIG/config.json, else
 * ~/.docker/config.json), "auths": {"<host>": {"auth": base64(user:pass)}},
 * written mode 0600, so docker's file works for pier and back.
 *
 * Errors carry docker's messages ("manifest for x:y not found: manifest
 * unknown: manifest unknown", "unauthorized: ...", `Get "url": dial tcp
 * host: connect: connection refused`).  Library code: nothing printed;
 * progress goes to the caller's callback.  One thread per call.
 */
#ifndef PIER_REGISTRY_REGISTRY_H
#define PIER_REGISTRY_REGISTRY_H

#include <stdbool.h>
#include <stdint.h>

#include "store/store.h"
#include "util/error.h"

/* A progress event: id is a layer's short id (12 hex digits) or NULL for
 * the whole operation; status is docker's word for it ("Pulling fs layer",
 * "Waiting", "Downloading", "Verifying Checksum", "Download complete",
 * "Extracting", "Pull complete", "Already exists", "Preparing", "Pushing",
 * "Pushed", "Layer already exists", "Mounted from x"); current/total are
 * bytes for Downloading and Pushing (total 0 when unknown). */
typedef void (*pier_registry_progress) (void *data, const char *id, const char *status, uint64_t current,
                                        uint64_t total);

typedef struct pier_registry_opts
{
  const char *cert_dir;            /* the directory of CAs and client certs, or NULL for certs.d */
  const char *certs_d;             /* NULL: /etc/docker/certs.d */
  int tls_verify;                  /* -1 default, 0 no (plain http allowed), 1 yes */
  const char *platform;            /* "os/arch[/variant]", NULL: this machine's */
  int max_concurrent;              /* parallel layer transfers; 0: 3 */
  const char *config_dir;          /* NULL: $DOCKER_CONFIG, else ~/.docker */
  const char *registries_conf;     /* NULL: $PIER_REGISTRIES_CONF, else /etc/pier/registries.json */
  pier_registry_progress progress; /* may be NULL */
  void *progress_data;
} pier_registry_opts;

typedef struct pier_pull_result
{
  char *id;        /* the image id (config digest) */
  char *digest;    /* what the reference resolved to on the registry */
  char *reference; /* full normalized reference pulled */
  bool updated;    /* false: the image was here already ("Image is up to date") */
} pier_pull_result;

void pier_pull_result_clear (pier_pull_result *r);

/* docker pull ref.  On failure nothing of it stays in the store. */
int pier_registry_pull (pier_store *st, const char *ref, const pier_registry_opts *o, pier_pull_result *res,
                        pier_error **err);

/* The tags of ref's repository on its registry (NULL-terminated, caller
 * frees), for pull -a. */
int pier_registry_list_tags (const char *ref, const pier_registry_opts *o, char ***tags, pier_error **err);

typedef struct pier_push_result
{
  char *reference; /* full normalized reference pushed */
  char *tag;
  char *digest; /* of the manifest on the registry */
  int64_t size; /* of the manifest */
} pier_push_result;

void pier_push_result_clear (pier_push_result *r);

/* docker push ref: the local image tagged ref (ENOENT "An image does not
 * exist locally with the tag: x" otherwise).  Blobs the registry has are
 * not sent; a blob another repository of the same registry has (as this
 * image's RepoDigests know) is mounted; then the manifest, byte for byte
 * as stored.  The image gains the RepoDigest name@digest. */
int pier_registry_push (pier_store *st, const char *ref, const pier_registry_opts *o, pier_push_result *res,
                        pier_error **err);

/* The config.json key of a login server as docker writes it: docker.io
 * (or none) is "https://index.docker.io/v1/", others host[:port] with any
 * scheme and path dropped.  Caller frees. */
char *pier_registry_auth_key (const char *server);

/* docker login: verify user/password against the registry (the /v2/ ping
 * with Basic credentials or through its token server), then store them.
 * EACCES "unauthorized: ..." on refused credentials; nothing stored. */
int pier_registry_login (const char *server, const char *user, const char *password,
                         const pier_registry_opts *o, pier_error **err);

/* docker logout: remove the server's credentials; ENOENT when there were
 * none ("Not logged in to x"). */
int pier_registry_logout (const char *server, const pier_registry_opts *o, pier_error **err);

#endif
