#include "runtime/sync.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "util/cleanup.h"
#include "util/banned.h"

int
pier_sync_send (int fd, int type, int64_t value, const char *text, pier_error **err)
{
  pier_sync_msg m;
  size_t len = 0;
  m.type = type;
  m.value = value;
  m.text[0] = '\0';
  if (text)
    {
      len = strlen (text);
      if (len >= sizeof m.text)
        len = sizeof m.text - 1;
      memcpy (m.text, text, len);
      m.text[len] = '\0';
    }
  size_t size = offsetof (pier_sync_msg, text) + len + 1;
  if (TEMP_FAILURE_RETRY_INT (send (fd, &m, size, MSG_NOSIGNAL)) < 0)
    return pier_error_make (err, errno, "cannot talk to the container process");
  return 0;
}

int
pier_sync_expect (int fd, int type, pier_sync_msg *m, pier_error **err)
{
  ssize_t n = TEMP_FAILURE_RETRY_INT (recv (fd, m, sizeof *m, 0));
  if (n < 0)
    return pier_error_make (err, errno, "cannot talk to the container process");
  if (n == 0 || (size_t) n < offsetof (pier_sync_msg, text) + 1)
    return pier_error_makex (err, EIO, "the container process exited unexpectedly");
  m->text[sizeof m->text - 1] = '\0';
  if (m->type == PIER_SYNC_ERROR)
    return pier_error_set (err, (int) m->value, m->text);
  if (m->type != type)
    return pier_error_makex (err, EPROTO, "unexpected message %d from the container process (wanted %d)",
                             m->type, type);
  return 0;
}
