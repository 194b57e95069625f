/* fuzz.h - what pier's libFuzzer targets share.
 *
 * Each target defines LLVMFuzzerTestOneInput.  Built with clang and
 * -fsanitize=fuzzer it is a libFuzzer binary (scripts/fuzz.sh); built
 * with replay.c it is a program that runs every file of a corpus
 * directory through the target, so the unit suite replays the committed
 * corpus (fuzz/corpus/<target>/) without libFuzzer. */
#ifndef PIER_FUZZ_H
#define PIER_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);
int LLVMFuzzerInitialize (int *argc, char ***argv);

/* A property of the code under test does not hold: crash loudly (the
 * fuzzer saves the input; the replay fails). */
#define FUZZ_ASSERT(cond)                                                                                    \
  do                                                                                                         \
    {                                                                                                        \
      if (!(cond))                                                                                           \
        {                                                                                                    \
          fprintf (stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__, #cond);                       \
          abort ();                                                                                          \
        }                                                                                                    \
    }                                                                                                        \
  while (0)

#endif
