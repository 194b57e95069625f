/* mountopts.h - mount(8)-style option strings to mount(2) flags. */
#ifndef PIER_RUNTIME_MOUNTOPTS_H
#define PIER_RUNTIME_MOUNTOPTS_H

#include "runtime/spec.h"

/* "rslave" -> MS_SLAVE|MS_REC; 0 when not a propagation name. */
unsigned long pier_propagation_from_name (const char *name);

/* Names of every option the parser knows (for `features`). */
extern const char *const pier_mount_option_names[];

#endif
