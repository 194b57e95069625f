/* sync.h - messages between the runtime and the processes it forks
 * (SOCK_SEQPACKET: one message per send, EOF when the peer dies). */
#ifndef PIER_RUNTIME_SYNC_H
#define PIER_RUNTIME_SYNC_H

#include <stdint.h>

#include "util/error.h"

enum pier_sync_type
{
  PIER_SYNC_USERNS = 1, /* stage 1 made/joined the user ns; value: maps needed */
  PIER_SYNC_GO,         /* carry on (text: state JSON when useful) */
  PIER_SYNC_PID,        /* value: the pid of the init */
  PIER_SYNC_HOOKS,      /* ready for prestart/createRuntime hooks */
  PIER_SYNC_READY,      /* the container is created */
  PIER_SYNC_ERROR,      /* value: errno; text: message */
  PIER_SYNC_CGROUP,     /* the init is in its cgroup */
};

#define PIER_SYNC_TEXT_MAX 16384

typedef struct pier_sync_msg
{
  int32_t type;
  int64_t value;
  char text[PIER_SYNC_TEXT_MAX];
} pier_sync_msg;

int pier_sync_send (int fd, int type, int64_t value, const char *text, pier_error **err);
/* Receive the next message; an ERROR message or EOF becomes *err. */
int pier_sync_expect (int fd, int type, pier_sync_msg *m, pier_error **err);

#endif
