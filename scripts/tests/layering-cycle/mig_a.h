/* Fixture for check-layering.py: mig_a and mig_b call each other (must be reported). */
void mig_a_fn(int x);
