/* Fixture for check-layering.py: see mig_a.h. */
void mig_b_fn(int x);
