#include "archive/dstream.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <isa-l/igzip_lib.h>
#include <zstd.h>

#include "util/cleanup.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define IN_BUF_SIZE (128 * 1024)

/* One decompressor.  step() consumes from *in / *in_len and produces into
 * *out / *out_len, advancing both; it sets *frame_end when the input
 * consumed so far ends a complete member/frame (so that an end of input
 * right there is a clean end and anywhere else a truncation). */
typedef struct codec
{
  pier_compression id;
  const char *name;
  const unsigned char *magic;
  size_t magic_len;
  void *(*init) (void);
  int (*step) (void *st, const unsigned char **in, size_t *in_len, unsigned char **out, size_t *out_len,
               bool *frame_end, pier_error **err);
  void (*end) (void *st);
} codec;

struct pier_dstream
{
  int fd;
  const codec *c;
  void *st;
  unsigned char *in;
  const unsigned char *in_pos;
  size_t in_len;
  bool eof;
  bool frame_end;
  pier_sha256 *hc, *hu;
  uint64_t csize, usize;
  bool finished;
  char diff_id[PIER_DIGEST_STR_LEN + 1];
  char blob_digest[PIER_DIGEST_STR_LEN + 1];
};

/* plain */

static void *
plain_init (void)
{
  return NULL;
}

static int
plain_step (void *st, const unsigned char **in, size_t *in_len, unsigned char **out, size_t *out_len,
            bool *frame_end, pier_error **err)
{
  (void) st;
  (void) err;
  size_t n = *in_len < *out_len ? *in_len : *out_len;
  memcpy (*out, *in, n);
  *in += n;
  *in_len -= n;
  *out += n;
  *out_len -= n;
  *frame_end = true;
  return 0;
}

static void
plain_end (void *st)
{
  (void) st;
}

/* gzip, with ISA-L's inflate (several times zlib's speed on x86-64).
 * Several members back to back are one stream (pigz and some registries
 * write them); each member's CRC-32 and length are checked. */

typedef struct gz_state
{
  struct inflate_state s;
  bool member_done;
} gz_state;

static void *
gz_init (void)
{
  gz_state *g = xzalloc (sizeof *g);
  isal_inflate_init (&g->s);
  g->s.crc_flag = ISAL_GZIP;
  return g;
}

static const char *
gz_error (int r)
{
  switch (r)
    {
    case ISAL_INVALID_BLOCK: return "invalid block";
    case ISAL_INVALID_SYMBOL: return "invalid symbol";
    case ISAL_INVALID_LOOKBACK: return "invalid distance too far back";
    case ISAL_INVALID_WRAPPER: return "incorrect header";
    case ISAL_UNSUPPORTED_METHOD: return "unknown compression method";
    case ISAL_INCORRECT_CHECKSUM: return "incorrect data check";
    default: return "invalid data";
    }
}

static int
gz_step (void *st, const unsigned char **in, size_t *in_len, unsigned char **out, size_t *out_len,
         bool *frame_end, pier_error **err)
{
  gz_state *g = st;
  if (g->member_done)
    {
      /* More input after a complete member: it must be another member. */
      if ((*in_len >= 1 && (*in)[0] != 0x1f) || (*in_len >= 2 && (*in)[1] != 0x8b))
        return pier_error_makex (err, EINVAL, "gzip stream: trailing data after the end of the stream");
      isal_inflate_reset (&g->s);
      g->s.crc_flag = ISAL_GZIP;
      g->member_done = false;
    }
  g->s.next_in = (uint8_t *) *in;
  g->s.avail_in = (uint32_t) (*in_len > UINT32_MAX ? UINT32_MAX : *in_len);
  g->s.next_out = *out;
  g->s.avail_out = (uint32_t) (*out_len > UINT32_MAX ? UINT32_MAX : *out_len);
  size_t in_before = g->s.avail_in, out_before = g->s.avail_out;
  int r = isal_inflate (&g->s);
  size_t used = in_before - g->s.avail_in, made = out_before - g->s.avail_out;
  *in += used;
  *in_len -= used;
  *out += made;
  *out_len -= made;
  if (r < 0)
    return pier_error_makex (err, EINVAL, "gzip stream is corrupt: %s", gz_error (r));
  if (g->s.block_state == ISAL_BLOCK_FINISH)
    g->member_done = true;
  *frame_end = g->member_done;
  return 0;
}

static void
gz_end (void *st)
{
  free (st);
}

/* zstd.  Concatenated frames decode as one stream by design. */

typedef struct zs_state
{
  ZSTD_DCtx *d;
} zs_state;

static void *
zs_init (void)
{
  zs_state *z = xzalloc (sizeof *z);
  z->d = ZSTD_createDCtx ();
  if (z->d == NULL)
    abort ();
  return z;
}

static int
zs_step (void *st, const unsigned char **in, size_t *in_len, unsigned char **out, size_t *out_len,
         bool *frame_end, pier_error **err)
{
  zs_state *z = st;
  ZSTD_inBuffer ib = { *in, *in_len, 0 };
  ZSTD_outBuffer ob = { *out, *out_len, 0 };
  size_t r = ZSTD_decompressStream (z->d, &ob, &ib);
  if (ZSTD_isError (r))
    return pier_error_makex (err, EINVAL, "zstd stream is corrupt: %s", ZSTD_getErrorName (r));
  *in += ib.pos;
  *in_len -= ib.pos;
  *out += ob.pos;
  *out_len -= ob.pos;
  *frame_end = r == 0;
  return 0;
}

static void
zs_end (void *st)
{
  zs_state *z = st;
  ZSTD_freeDCtx (z->d);
  free (z);
}

static const unsigned char gz_magic[] = { 0x1f, 0x8b };
static const unsigned char zs_magic[] = { 0x28, 0xb5, 0x2f, 0xfd };

static const codec codecs[] = {
  { PIER_COMPRESSION_GZIP, "gzip", gz_magic, sizeof gz_magic, gz_init, gz_step, gz_end },
  { PIER_COMPRESSION_ZSTD, "zstd", zs_magic, sizeof zs_magic, zs_init, zs_step, zs_end },
};
static const codec plain_codec
    = { PIER_COMPRESSION_NONE, "none", NULL, 0, plain_init, plain_step, plain_end };

const char *
pier_compression_name (pier_compression c)
{
  for (size_t i = 0; i < sizeof codecs / sizeof codecs[0]; i++)
    if (codecs[i].id == c)
      return codecs[i].name;
  return plain_codec.name;
}

/* Refill the input buffer (only when it is empty). */
static int
fill (pier_dstream *s, pier_error **err)
{
  if (s->in_len > 0 || s->eof)
    return 0;
  ssize_t n;
  do
    n = read (s->fd, s->in, IN_BUF_SIZE);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    return pier_error_make (err, errno, "cannot read the layer");
  if (n == 0)
    s->eof = true;
  /* Uncompressed, the input is the output: one hash (hu) does. */
  if (s->c != &plain_codec)
    pier_sha256_update (s->hc, s->in, (size_t) n);
  s->csize += (uint64_t) n;
  s->in_pos = s->in;
  s->in_len = (size_t) n;
  return 0;
}

int
pier_dstream_open (int fd, pier_dstream **out, pier_error **err)
{
  pier_dstream *s = xzalloc (sizeof *s);
  s->fd = fd;
  s->in = xmalloc (IN_BUF_SIZE);
  s->in_pos = s->in;
  s->hc = pier_sha256_new ();
  s->hu = pier_sha256_new ();

  /* Read until the longest magic is there (a pipe may give less). */
  size_t have = 0;
  while (have < 4)
    {
      ssize_t n = read (fd, s->in + have, IN_BUF_SIZE - have);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int e = errno;
          pier_dstream_free (s);
          return pier_error_make (err, e, "cannot read the layer");
        }
      if (n == 0)
        {
          s->eof = true;
          break;
        }
      have += (size_t) n;
    }
  if (have == 0)
    {
      pier_dstream_free (s);
      return pier_error_makex (err, EINVAL, "the layer is empty (0 bytes)");
    }
  pier_sha256_update (s->hc, s->in, have);
  s->csize = have;
  s->in_len = have;
  s->c = &plain_codec;
  for (size_t i = 0; i < sizeof codecs / sizeof codecs[0]; i++)
    if (have >= codecs[i].magic_len && memcmp (s->in, codecs[i].magic, codecs[i].magic_len) == 0)
      s->c = &codecs[i];
  s->st = s->c->init ();
  *out = s;
  return 0;
}

pier_compression
pier_dstream_compression (const pier_dstream *s)
{
  return s->c->id;
}

ssize_t
pier_dstream_read (pier_dstream *s, void *buf, size_t len, pier_error **err)
{
  unsigned char *o = buf;
  size_t room = len;

  if (len > SSIZE_MAX)
    room = len = SSIZE_MAX;
  while (room == len)
    {
      if (fill (s, err) < 0)
        return -1;
      if (s->in_len == 0 && s->eof)
        {
          if (!s->frame_end)
            return pier_error_makex (err, EINVAL, "%s stream is truncated", s->c->name);
          break;
        }
      size_t in_before = s->in_len;
      if (s->c->step (s->st, &s->in_pos, &s->in_len, &o, &room, &s->frame_end, err) < 0)
        return -1;
      /* A decoder that neither consumed nor produced with input and room
       * left would spin forever. */
      if (room == len && s->in_len == in_before && s->in_len > 0)
        return pier_error_makex (err, EINVAL, "%s stream is corrupt: the decoder is stuck", s->c->name);
    }
  size_t made = len - room;
  pier_sha256_update (s->hu, buf, made);
  s->usize += made;
  return (ssize_t) made;
}

void
pier_dstream_digests (pier_dstream *s, char *diff_id, char *blob_digest, uint64_t *uncompressed_size,
                      uint64_t *compressed_size)
{
  if (!s->finished)
    {
      char hex[PIER_SHA256_HEX_LEN + 1];
      pier_sha256_final (s->hu, hex);
      snprintf (s->diff_id, sizeof s->diff_id, "sha256:%s", hex);
      if (s->c == &plain_codec)
        {
          /* hc saw only the magic bytes; the blob is the tar itself. */
          pier_sha256_final (s->hc, hex);
          memcpy (s->blob_digest, s->diff_id, sizeof s->blob_digest);
        }
      else
        {
          pier_sha256_final (s->hc, hex);
          snprintf (s->blob_digest, sizeof s->blob_digest, "sha256:%s", hex);
        }
      s->hu = s->hc = NULL;
      s->finished = true;
    }
  if (diff_id)
    memcpy (diff_id, s->diff_id, sizeof s->diff_id);
  if (blob_digest)
    memcpy (blob_digest, s->blob_digest, sizeof s->blob_digest);
  if (uncompressed_size)
    *uncompressed_size = s->usize;
  if (compressed_size)
    *compressed_size = s->csize;
}

void
pier_dstream_free (pier_dstream *s)
{
  if (s == NULL)
    return;
  pier_dstream_digests (s, NULL, NULL, NULL, NULL);
  if (s->c)
    s->c->end (s->st);
  free (s->in);
  free (s);
}
