"""sagepipe: the shared library of the retraining pipeline's Lambdas."""
