"""Curating the labels: age bins and corrections (`relabel`, `corrections`), person folds (`folds`),
out-of-fold probabilities (`probe`), label noise (`noise`, `age`, `mixture`), issues beyond wrong
labels (`issues`), the action on them (`rebalance`) and their quality against truth (`metrics`)."""
