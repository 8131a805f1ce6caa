"""The compliance officers' console (``hub console``): sign-in, search, a hand-off's custody,
the 台账 and the weekly report as workbooks; every look written to the audit log."""
