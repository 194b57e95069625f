/* forkguard.h - threads that fork, under AddressSanitizer.
 *
 * glibc's fork is safe in a threaded program: it takes malloc's locks, so
 * the child never inherits one another thread held.  The allocator of
 * GCC 12's AddressSanitizer is not: a fork while another thread is inside
 * malloc leaves the child's allocator locked forever.  So in sanitizer
 * builds, the threads of a parallel build run their own code one at a
 * time: each holds the guard while it runs and lets go only while it
 * blocks (poll, a condition variable), and it forks while holding it.  In
 * other builds these calls do nothing and the threads run at once.
 *
 * A thread that never joined (the CLI's main thread outside a build) is
 * not affected by block/unblock.
 */
#ifndef PIER_UTIL_FORKGUARD_H
#define PIER_UTIL_FORKGUARD_H

/* This thread runs under the guard from now on (takes it). */
void pier_fork_guard_join (void);
/* This thread is done (lets go of it). */
void pier_fork_guard_quit (void);
/* Around a blocking call of a thread that joined. */
void pier_fork_guard_block (void);
void pier_fork_guard_unblock (void);

#endif
