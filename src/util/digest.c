#include "util/digest.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/crypto_dl.h"
#include "util/banned.h"

struct pier_sha256
{
  EVP_MD_CTX *ctx;
};

static void
to_hex (const unsigned char *md, char *hex)
{
  static const char digits[] = "0123456789abcdef";
  for (int i = 0; i < 32; i++)
    {
      hex[2 * i] = digits[md[i] >> 4];
      hex[2 * i + 1] = digits[md[i] & 0xf];
    }
  hex[64] = '\0';
}

pier_sha256 *
pier_sha256_new (void)
{
  pier_error *err = NULL;
  if (pier_crypto_dl_open (&err) < 0)
    {
      /* As running out of memory: nothing can be digested without it. */
      fprintf (stderr, "pier: %s\n", err->msg);
      abort ();
    }
  pier_sha256 *h = malloc (sizeof *h);
  if (h == NULL)
    abort ();
  h->ctx = EVP_MD_CTX_new ();
  if (h->ctx == NULL || EVP_DigestInit_ex (h->ctx, EVP_sha256 (), NULL) != 1)
    abort ();
  return h;
}

void
pier_sha256_update (pier_sha256 *h, const void *data, size_t len)
{
  EVP_DigestUpdate (h->ctx, data, len);
}

void
pier_sha256_final (pier_sha256 *h, char *hex)
{
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  EVP_DigestFinal_ex (h->ctx, md, &mdlen);
  to_hex (md, hex);
  EVP_MD_CTX_free (h->ctx);
  free (h);
}

void
pier_sha256_hex (const void *data, size_t len, char *hex)
{
  pier_sha256 *h = pier_sha256_new ();
  pier_sha256_update (h, data, len);
  pier_sha256_final (h, hex);
}

int
pier_sha256_fd (int fd, char *hex, pier_error **err)
{
  char buf[65536];
  pier_sha256 *h = pier_sha256_new ();
  for (;;)
    {
      ssize_t n = read (fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int e = errno;
          pier_sha256_final (h, hex);
          return pier_error_make (err, e, "cannot read data to digest");
        }
      if (n == 0)
        break;
      pier_sha256_update (h, buf, (size_t) n);
    }
  pier_sha256_final (h, hex);
  return 0;
}

int
pier_digest_valid (const char *s)
{
  if (s == NULL || strncmp (s, "sha256:", 7) != 0)
    return 0;
  s += 7;
  size_t i;
  for (i = 0; s[i]; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
      return 0;
  return i == 64;
}
