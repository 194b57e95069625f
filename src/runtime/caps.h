/* caps.h - capability sets, user and groups for a container process. */
#ifndef PIER_RUNTIME_CAPS_H
#define PIER_RUNTIME_CAPS_H

#include <stdbool.h>

#include "runtime/spec.h"
#include "util/error.h"

/* Drop the bounding set to p's (when p has capabilities). Needs
 * CAP_SETPCAP, so it runs before the user switch. */
int pier_caps_drop_bounding (const pier_process *p, pier_error **err);

/* Switch to p's uid/gid/additional gids keeping capabilities, then set the
 * effective, permitted, inheritable and ambient sets.  When
 * setgroups_allowed is false (a user namespace with setgroups "deny")
 * supplementary groups are not touched. */
int pier_caps_switch_user (const pier_process *p, bool setgroups_allowed, pier_error **err);

/* Remove from every set the capabilities our own bounding set lacks (the
 * host may withhold some, e.g. CAP_SYS_RESOURCE here): the kernel could
 * never grant them.  Each one removed is logged as a warning. */
void pier_caps_clamp_to_host (pier_process *p);

#endif
