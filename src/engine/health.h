/* health.h - docker's HEALTHCHECK, probed by the container's monitor.
 *
 * The monitor owns one pier_health per container with a check to run.
 * A probe is a child of the monitor (a fork that execs the check in the
 * container through the runtime, as `pier exec` does, and waits for it),
 * so the monitor's poll loop never blocks on it: the monitor polls the
 * probe's output pipe, hands over the pids it reaps and asks, through
 * pier_health_poll_timeout and pier_health_tick, when the next probe is
 * due and when a running one passed its timeout.
 *
 * State.Health ({Status, FailingStreak, Log: the last 5 results}) is kept
 * in memory and, after each probe, in <runroot>/monitors/<id>.health
 * (tmpfs, no fsync: docker keeps it in memory too); the database gets it
 * with the writes the monitor makes anyway, at each start and exit.
 * pier_health_live reads the file for inspect and ps.
 *
 * Not thread-safe; monitor-only, except pier_health_live and
 * pier_health_forget.
 */
#ifndef PIER_ENGINE_HEALTH_H
#define PIER_ENGINE_HEALTH_H

#include <stdbool.h>
#include <sys/types.h>

#include <jansson.h>

typedef struct pier_health pier_health;

/* The probe for a container's Config (its Healthcheck and Shell), or
 * NULL when it has none to run (no Healthcheck, an empty Test, ["NONE"],
 * or a type docker does not know).  dir: the container's directory (its
 * config.json); rtroot: the runtime's state root; state_dirfd: an open
 * <runroot>/monitors, not owned. */
pier_health *pier_health_new (json_t *config, const char *dir, const char *rtroot, const char *runroot,
                              const char *id, int state_dirfd);
void pier_health_free (pier_health *h);

/* The container started (init_pid its init): state's Health becomes
 * {starting, streak 0}, the log kept as docker keeps it over restarts;
 * the first probe is due after the interval (or start interval). */
void pier_health_started (pier_health *h, json_t *state, pid_t init_pid);

/* The container stopped: a probe under way is abandoned, state's Health
 * is unhealthy (docker's rule once its checks stop) and the live file
 * goes. */
void pier_health_stopped (pier_health *h, json_t *state);

/* Milliseconds until pier_health_tick has something to do; -1: nothing
 * (no probe is due while the container is not running). */
int pier_health_poll_timeout (const pier_health *h);

/* The running probe's output pipe, -1 when none; on POLLIN call
 * pier_health_on_output. */
int pier_health_fd (const pier_health *h);
void pier_health_on_output (pier_health *h);

/* Start a probe that is due; kill one that passed its timeout. */
void pier_health_tick (pier_health *h);

/* The monitor reaped pid: true when it was the probe (its result is
 * recorded then). */
bool pier_health_reaped (pier_health *h, pid_t pid, int status);

/* The live Health of a running container (its monitor's file), or NULL.
 * New reference. */
json_t *pier_health_live (const char *runroot, const char *id);

/* Remove what a monitor that died left. */
void pier_health_forget (const char *runroot, const char *id);

#endif
