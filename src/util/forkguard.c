/* forkguard.c - threads that fork, under AddressSanitizer (forkguard.h). */
#include "util/forkguard.h"

#include <pthread.h>
#include <stdbool.h>

#include "util/banned.h"

#if defined(__SANITIZE_ADDRESS__)
#define GUARD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GUARD 1
#endif
#endif

#ifdef GUARD
static pthread_mutex_t guard = PTHREAD_MUTEX_INITIALIZER;
static __thread bool joined;

void
pier_fork_guard_join (void)
{
  pthread_mutex_lock (&guard);
  joined = true;
}

void
pier_fork_guard_quit (void)
{
  if (joined)
    {
      joined = false;
      pthread_mutex_unlock (&guard);
    }
}

void
pier_fork_guard_block (void)
{
  if (joined)
    pthread_mutex_unlock (&guard);
}

void
pier_fork_guard_unblock (void)
{
  if (joined)
    pthread_mutex_lock (&guard);
}
#else
void
pier_fork_guard_join (void)
{
}

void
pier_fork_guard_quit (void)
{
}

void
pier_fork_guard_block (void)
{
}

void
pier_fork_guard_unblock (void)
{
}
#endif
