#include "util/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"

static int
error_vmake (pier_error **err, int code, int with_errno, const char *fmt, va_list ap)
{
  char *msg = NULL;
  if (err == NULL)
    return -1;
  if (vasprintf (&msg, fmt, ap) < 0)
    abort ();
  if (code != 0 && with_errno)
    {
      char *full = xasprintf ("%s: %s", msg, strerror (code));
      free (msg);
      msg = full;
    }
  if (*err != NULL)
    pier_error_free (err);
  *err = xmalloc (sizeof (**err));
  (*err)->code = code;
  (*err)->msg = msg;
  return -1;
}

int
pier_error_make (pier_error **err, int code, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  error_vmake (err, code, 1, fmt, ap);
  va_end (ap);
  return -1;
}

int
pier_error_makex (pier_error **err, int code, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  error_vmake (err, code, 0, fmt, ap);
  va_end (ap);
  return -1;
}

int
pier_error_set (pier_error **err, int code, const char *msg)
{
  return pier_error_makex (err, code, "%s", msg);
}

int
pier_error_wrap (pier_error **err, const char *fmt, ...)
{
  va_list ap;
  char *ctx = NULL;
  if (err == NULL || *err == NULL)
    return -1;
  va_start (ap, fmt);
  if (vasprintf (&ctx, fmt, ap) < 0)
    abort ();
  va_end (ap);
  char *full = xasprintf ("%s: %s", ctx, (*err)->msg);
  free (ctx);
  free ((*err)->msg);
  (*err)->msg = full;
  return -1;
}

void
pier_error_free (pier_error **err)
{
  if (err == NULL || *err == NULL)
    return;
  free ((*err)->msg);
  free (*err);
  *err = NULL;
}
