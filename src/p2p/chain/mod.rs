//! Chain specs: genesis, chain id, fork schedule and fork ids of the chains histd knows.
