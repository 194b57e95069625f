/* dl.c - shared libraries opened on first use (see dl.h). */
#include "util/dl.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>

#include "util/banned.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

/* A child forked while another thread holds the lock (pier build forks
 * its steps from several threads) would wait for it forever: fork takes
 * it first. */
static void
fork_prepare (void)
{
  pthread_mutex_lock (&lock);
}

static void
fork_done (void)
{
  pthread_mutex_unlock (&lock);
}

static void __attribute__ ((constructor)) register_fork (void)
{
  pthread_atfork (fork_prepare, fork_done, fork_done);
}

/* *state: 0 not tried, 1 loaded. */
int
pier_dl_open (const pier_dl_lib *lib, int *state, pier_error **err)
{
  /* Loaded: the pointers were set before the state said so. */
  if (__atomic_load_n (state, __ATOMIC_ACQUIRE) == 1)
    return 0;
  int rc = 0;
  pthread_mutex_lock (&lock);
  if (*state == 1)
    goto out;
  void *h = dlopen (lib->soname, RTLD_NOW | RTLD_LOCAL);
  if (h == NULL)
    {
      const char *why = dlerror ();
      rc = pier_error_makex (err, ENOENT, "cannot load %s (install %s): %s", lib->soname, lib->package,
                             why ? why : "unknown error");
      goto out;
    }
  for (size_t i = 0; i < lib->n; i++)
    {
      void *f = dlsym (h, lib->names[i]);
      if (f == NULL)
        {
          rc = pier_error_makex (err, ENOENT, "%s has no function %s", lib->soname, lib->names[i]);
          dlclose (h);
          goto out;
        }
      *lib->slots[i] = f;
    }
  __atomic_store_n (state, 1, __ATOMIC_RELEASE);
out:
  pthread_mutex_unlock (&lock);
  return rc;
}
