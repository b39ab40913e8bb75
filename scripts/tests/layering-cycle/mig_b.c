/* Fixture for check-layering.py: see mig_a.h. */
#include "mig_b.h"

void mig_a_fn(int x);

void mig_b_fn(int x)
{
    if (x > 0)
        mig_a_fn(x - 1); /* the call back up: a cycle */
}
